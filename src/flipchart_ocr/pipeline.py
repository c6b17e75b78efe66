"""One photo through every stage: read, find the sheet, identify, align, segment, OCR.

``process_photo`` raises; the batch runner in ``batch.py`` turns failures into
named messages and keeps going.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from . import DEFAULT_ENGINE, PIPELINE_VERSION, fields, identify, layout, rectify, segment
from .document import LOW_CONFIDENCE, Block, Field, Sheet, Step
from .errors import OcrError, UnknownTemplate
from .io import MAX_PIXELS, WORK_SIDE, read_photo
from .readers import Reader, Region, field_confidence, tesseract
from .readers.ppocr import PPOCRReader, models
from .readers.tesseract import TesseractOptions, TesseractReader
from .templates import FREEFORM_ID, Template

# The top band of the sheet where titles are printed, read to identify the template.
HEADER_BAND = 0.14


@dataclass(frozen=True)
class ProcessOptions:
    lang: str = "deu"  # Tesseract's languages and the word lists (wordlists.py)
    template: str | None = None  # force this template, skip identification
    timeout: float = tesseract.DEFAULT_TIMEOUT
    max_pixels: int = MAX_PIXELS
    # A large photo is read reduced by a power of two, its longer side kept at least this
    # long (io.WORK_SIDE); None reads every pixel.
    work_side: int | None = WORK_SIDE
    engine: str = DEFAULT_ENGINE  # see ENGINES
    # The event's own words (names, places), known to the reader beside the word lists.
    words: frozenset[str] = frozenset()
    # PP-OCR: unknown words may be steered towards the word lists (readers.ctc).
    decode_words: bool = True
    # PP-OCR: the text detector sees the sheet at these sizes (pixels on its longer side),
    # merged (ppocr.merge_scales); empty: sizes chosen per sheet from how tall its writing
    # is (ppocr.sides_for). Field CER with the fine-tuned recogniser, samples / seed 1000
    # / real-hand posters / user templates: 960 px 0.104 / 0.135 / 0.117 / 0.209; 1280 px
    # 0.119 / 0.160 / 0.121 / 0.181; 736 and 1280 px 0.105 / 0.140 / 0.118 / 0.174; per
    # sheet 0.099 / 0.132 / 0.117 / 0.183 (version 15; 1152 px at most), most sheets in one
    # pass.
    detect_sides: tuple[int, ...] = ()
    # onnxruntime threads per worker; None: the cores shared out among the workers a batch
    # starts (batch.run_batch), and one outside a batch.
    threads: int | None = None
    # PP-OCR: the recogniser, "de" (fine-tuned on real German handwriting) or "base"
    recogniser: str = "de"
    # A field's printed label is found by its text (fields.without_label); off: the
    # template's label strip is assumed to hold it, as before (for measuring).
    find_labels: bool = True
    # Tesseract: all fields of a sheet in one call, and the preprocessing switches.
    batch: bool = True
    tesseract: TesseractOptions = field(default_factory=TesseractOptions)

    def tesseract_options(self, psm: int = 6) -> TesseractOptions:
        return replace(self.tesseract, lang=self.lang, psm=psm, timeout=self.timeout)

    def fingerprint(self) -> dict[str, object]:
        """What the output depends on besides the photo and templates: recorded in the
        sheet JSON and compared by the cache (a new model or word list redoes a photo)."""
        return {
            "version": PIPELINE_VERSION,
            "lang": self.lang,
            "template": self.template,
            "engine": self.engine,
            "words": _digest(sorted(self.words)) if self.words else None,
            "work_side": self.work_side,
            "reader": reader_settings(self),
        }


@dataclass
class ProcessResult:
    sheet: Sheet
    image: np.ndarray  # the rectified sheet, in the pixels the JSON's boxes refer to


class _Timer:
    def __init__(self) -> None:
        self.steps: list[Step] = []

    @contextmanager
    def step(self, name: str, settings: dict[str, Any] | None = None) -> Iterator[None]:
        start = time.perf_counter()
        yield
        self.steps.append(
            Step(name, round(time.perf_counter() - start, 3), settings=settings or {})
        )


def process_photo(
    path: Path,
    templates: dict[str, Template],
    options: ProcessOptions,
    sheet_id: str | None = None,
) -> ProcessResult:
    """One photo through every stage: read, place the sheet, warp, read its fields."""
    timer = _Timer()
    with timer.step("read"):
        photo, source = read_photo(path, options.max_pixels, options.work_side)
    with timer.step("place"):
        placement = place_sheet(photo, templates, options)
    with timer.step("rectify"):
        image = rectify.warp(photo, placement.corners, placement.size)
    reduction = source.width / photo.shape[1]  # corners are kept in the photo's own pixels
    del photo  # the full photo is the largest object: free it before reading
    release_freed_memory()
    warnings = list(placement.warnings)
    with timer.step("ocr", reader_settings(options)):
        fields = read_fields(image, placement.template, options, warnings)
    sheet = Sheet(
        id=sheet_id or path.stem,
        source=source,
        template=placement.template.id,
        template_score=placement.score,
        corners=tuple((float(x) * reduction, float(y) * reduction) for x, y in placement.corners),
        size=placement.size,
        fields=tuple(fields),
        warnings=tuple(warnings),
        steps=tuple(timer.steps),
        pipeline=options.fingerprint(),
    )
    return ProcessResult(sheet, image)


def release_freed_memory() -> None:
    """Give the memory a photo freed back to the system (glibc keeps it otherwise).

    A 12 MP photo's arrays, freed by several threads, stayed in glibc's per-thread
    arenas: a worker's resident size grew by 100-200 MB after its first photo and
    stayed there, so the next photo's peak started higher (measured with /proc/self/statm).
    Called again before the reading, whose text detector needs most memory of all: what
    decoding the photo and placing the sheet freed (about 50 MB at 12 MP) went back first,
    and a worker's peak over the 12 MP samples fell 397 -> 381 MB (benchmarks/throughput.py).
    """
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


@dataclass(frozen=True)
class Placement:
    """Where the sheet lies in the photo and what it is: the one input of the warp."""

    corners: np.ndarray  # 4 x 2, clockwise from top-left, photo pixels
    size: tuple[int, int]  # the rectified sheet's width and height
    template: Template
    score: float
    warnings: tuple[str, ...] = ()


def place_sheet(
    photo: np.ndarray, templates: dict[str, Template], options: ProcessOptions
) -> Placement:
    """The sheet placed once: its outline, its template, the corners the template's box
    lines correct the outline to, and the size to warp to."""
    warnings: list[str] = []
    outline = rectify.find_sheet(photo)
    if outline.alternatives:
        outline = choose_outline(photo, outline, templates, options)
    if not outline.found:
        warnings.append("no sheet outline found: the whole photo is read as the sheet")
        outline = _deskewed_whole_photo(photo, outline)
    candidate = choose_template(photo, outline, templates, options, warnings)
    template = candidate.template
    if options.template is None and template.id == FREEFORM_ID:
        warnings.append(
            f"no template fits (best score {candidate.score:.2f} < {identify.MIN_TEMPLATE_SCORE}):"
            " read as freeform"
        )
    if (
        template.id == FREEFORM_ID
        and outline.found
        and frames_part_of_more(photo, outline, options)
    ):
        warnings.append(
            "the sheet outline found cuts through writing, and more lies outside it:"
            " the whole photo is read as the sheet"
        )
        outline = _deskewed_whole_photo(photo, rectify.whole_photo(photo))
    corners = refined_corners(outline, template, candidate.alignment)
    size = rectify.sheet_size(replace(outline, corners=corners), template.aspect)
    return Placement(corners, size, template, candidate.score, tuple(warnings))


# A freeform sheet's outline is checked against the writing the text detector finds on
# the whole photo, seen this large (pixels on its longer side; about 0.1 s).
WRITING_CHECK_SIDE = 736


def frames_part_of_more(
    photo: np.ndarray, outline: rectify.SheetOutline, options: ProcessOptions
) -> bool:
    """The outline cuts through a line of writing, and more lines lie outside it than
    inside: it frames a few cards of a wall of them, not a sheet.

    A sheet's edge never cuts a line written on it. On a wall of sticky notes the notes'
    edges line up into a quad around four of sixteen notes, and only those four were read
    (generated boards, seed 7000: notes-005-dkg). Writing beside a real sheet (a
    chalkboard behind the flipchart, a frame's print) is not cut, and stays unread.
    Checked with the default reader only: ``--engine tesseract`` is Tesseract alone.
    """
    if options.engine != "ppocr":
        return False
    detector = models(options.threads or 1, options.recogniser)  # the reader's own sessions
    boxes = detector.detect_at(photo, WRITING_CHECK_SIDE)
    quad = outline.corners.reshape(-1, 1, 2).astype(np.float32)
    inside = outside = cut = 0
    for box in boxes:
        points = [*box.corners, box.corners.mean(axis=0)]
        within = sum(
            cv2.pointPolygonTest(quad, (float(x), float(y)), False) >= 0 for x, y in points
        )
        if within == len(points):
            inside += 1
        elif within == 0:
            outside += 1
        else:
            cut += 1
    return cut > 0 and outside > inside


def rectified_as(
    photo: np.ndarray, template_id: str, templates: dict[str, Template]
) -> tuple[np.ndarray, Template]:
    """The photo's sheet placed with a known template and warped: for benchmarks and
    training data, where the true template is given."""
    placement = place_sheet(photo, templates, ProcessOptions(template=template_id))
    return rectify.warp(photo, placement.corners, placement.size), placement.template


def choose_template(
    photo: np.ndarray,
    outline: rectify.SheetOutline,
    templates: dict[str, Template],
    options: ProcessOptions,
    warnings: list[str] | None = None,
) -> identify.Candidate:
    """The forced template, or the best-scoring one, or freeform.

    When Tesseract times out on the title band, the lines alone decide (and
    ``warnings`` says so).
    """
    if options.template is not None:
        if options.template not in templates:
            raise UnknownTemplate(
                f"unknown template {options.template!r}; known: {', '.join(templates)}"
            )
        forced = templates[options.template]
        if forced.id == FREEFORM_ID:
            return identify.Candidate(forced, 1.0, None)
        return identify.score_template(
            forced, _observed(forced, photo, outline), outline.measured_aspect
        )
    boxed = _boxed(templates)
    observed = {t.id: _observed(t, photo, outline) for t in boxed}
    rough = {t.id: segment.rough_line_score(t, observed[t.id]) for t in boxed}
    best_rough = max(rough.values(), default=0.0)
    candidates = [
        identify.score_template(
            t,
            observed[t.id],
            outline.measured_aspect,
            aligned=rough[t.id] >= best_rough - identify.ALIGN_MARGIN,
        )
        for t in boxed
    ]
    if not identify.is_clear_winner(candidates):
        header = _header_or_none(photo, outline, options, warnings)
        if header is not None:
            candidates = [identify.with_text(c, header) for c in candidates]
    best = identify.best_candidate(candidates)
    if best is not None:
        return best
    top = max((c.score for c in candidates), default=0.0)
    return identify.Candidate(templates[FREEFORM_ID], top, None)


# The rough line score a quad must reach for a template's box lines to choose it over the
# sheet's blob. Quads chosen on generated photos scored 0.75-0.94; on a real page with a
# box drawn by hand, and no template, every quad scored 0.24-0.25.
MIN_OUTLINE_FIT = 0.4


def choose_outline(
    photo: np.ndarray,
    outline: rectify.SheetOutline,
    templates: dict[str, Template],
    options: ProcessOptions,
) -> rectify.SheetOutline:
    """Of a last-resort outline and its alternatives, the one whose lines fit a template best.

    Edge lines alone cannot tell the sheet from the sheet plus a strip of floor, or
    from its own box frame; a template's box lines land on the sheet only when the
    outline is right (to the few percent the alignment then corrects).
    """
    if options.template is not None:
        templates = {k: t for k, t in templates.items() if k == options.template}
    boxed = _boxed(templates)
    if not boxed:
        return outline
    # Each quad is warped once per aspect, from a reduced copy: the rough line score
    # needs no more than the alignment size.
    scale = min(1.0, 2 * segment.ALIGN_HEIGHT / min(photo.shape[:2]))
    small = cv2.resize(photo, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)

    def fit(corners: np.ndarray) -> float:
        quad = replace(outline, corners=corners * scale, alternatives=())
        observed = {t.aspect: _observed(t, small, quad) for t in boxed}
        return max(
            identify.score_template(
                t, observed[t.aspect], quad.measured_aspect, aligned=False
            ).score
            for t in boxed
        )

    fits = [(fit(corners), corners) for corners in (outline.corners, *outline.alternatives)]
    best_fit, best = max(fits, key=lambda pair: pair[0])
    if best_fit < MIN_OUTLINE_FIT:
        # No template's lines fit any quad, so their score cannot tell the quads apart:
        # the sheet's own blob is the best guess (a hand-drawn box on plain paper had
        # pulled the outline onto itself and cut off the rest of the page).
        best = outline.corners
    return replace(outline, corners=best, alternatives=())


def _boxed(templates: dict[str, Template]) -> list[Template]:
    """The templates whose printed box lines can be matched: all but freeform and line-less ones."""
    return [t for t in templates.values() if t.id != FREEFORM_ID and segment.has_box_lines(t)]


def _observed(template: Template, photo: np.ndarray, outline: rectify.SheetOutline) -> np.ndarray:
    """The sheet's line mask, warped to the template's aspect at alignment size."""
    small = rectify.warp(photo, outline.corners, segment.align_size(template.aspect or 1.0))
    return segment.observed_lines(small)


def read_header(photo: np.ndarray, outline: rectify.SheetOutline, options: ProcessOptions) -> str:
    """OCR the top band of the sheet, where every template prints its title."""
    # Printed headings are large and clean: a plain grey band of modest size reads well.
    width = 1200
    height = int(width / max(outline.measured_aspect, 0.2))
    band_corners = _top_band(outline.corners, HEADER_BAND)
    band = rectify.warp(photo, band_corners, (width, int(height * HEADER_BAND)))
    gray = cv2.cvtColor(band, cv2.COLOR_BGR2GRAY)
    lines = tesseract.recognise(gray, options.tesseract_options(psm=6))
    return " ".join(line.text for line in lines)


def _header_or_none(
    photo: np.ndarray,
    outline: rectify.SheetOutline,
    options: ProcessOptions,
    warnings: list[str] | None,
) -> str | None:
    try:
        return read_header(photo, outline, options)
    except OcrError as e:  # a timeout or a crash on the title costs only the title
        if warnings is not None:
            warnings.append(f"title band: {e}; the template was chosen by its box lines alone")
        return None


def _top_band(corners: np.ndarray, share: float) -> np.ndarray:
    """The quad of the sheet's top ``share`` of its height, in photo pixels."""
    top_left, top_right, bottom_right, bottom_left = corners
    return np.array(
        [
            top_left,
            top_right,
            top_right + (bottom_right - top_right) * share,
            top_left + (bottom_left - top_left) * share,
        ],
        np.float32,
    )


def refined_corners(
    outline: rectify.SheetOutline, template: Template, alignment: segment.Alignment | None
) -> np.ndarray:
    """The photo corners of the template's sheet, corrected by the box-line alignment."""
    if alignment is None or not alignment.converged:
        return outline.corners
    size = segment.align_size(template.aspect or 1.0)
    width, height = size
    target = np.array(
        [[0, 0], [width - 1, 0], [width - 1, height - 1], [0, height - 1]], np.float32
    )
    to_small = cv2.getPerspectiveTransform(outline.corners.astype(np.float32), target)
    in_small = cv2.perspectiveTransform(
        target.reshape(-1, 1, 2), alignment.homography.astype(np.float32)
    )
    in_photo = cv2.perspectiveTransform(in_small, np.linalg.inv(to_small).astype(np.float32))
    return in_photo.reshape(4, 2)


def _deskewed_whole_photo(photo: np.ndarray, outline: rectify.SheetOutline) -> rectify.SheetOutline:
    """Without an outline, at least straighten the photo by its dominant lines."""
    angle = rectify.deskew_angle(photo)
    if abs(angle) < 0.3:
        return outline
    center = outline.corners.mean(axis=0)
    theta = np.radians(angle)
    rotation = np.array(
        [[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]], np.float32
    )
    corners = (outline.corners - center) @ rotation.T + center
    return replace(outline, corners=corners.astype(np.float32))


def read_fields(
    image: np.ndarray,
    template: Template,
    options: ProcessOptions,
    warnings: list[str] | None = None,
) -> list[Field]:
    """Every field of the sheet read, its printed label taken out (a freeform sheet's
    lines put in reading order and grouped into blocks); what could not be read is
    said in ``warnings``."""
    size = (image.shape[1], image.shape[0])
    freeform = template.id == FREEFORM_ID
    regions = [
        Region(
            segment.field_pixel_box(f, size, content=False),
            f.id,
            sparse=freeform,
            writing_top=segment.field_pixel_box(f, size, content=True)[1],
            label=f.label if options.find_labels and not freeform else "",
        )
        for f in template.fields
    ]
    reading = make_reader(options).read(image, regions)
    if warnings is not None:
        warnings.extend(reading.warnings)
    found = []
    for template_field, region, lines in zip(template.fields, regions, reading.lines, strict=True):
        blocks: tuple[Block, ...] = ()
        if freeform:
            lines, arranged = layout.arrange(lines, image)
            blocks = tuple(arranged)
        elif options.find_labels:
            lines = fields.without_label(lines, template_field.label, region.box)
        else:
            strip = segment.field_pixel_box(template_field, size, content=True)
            lines = fields.below(lines, strip[1])
        found.append(
            Field(
                id=template_field.id,
                label=template_field.label,
                text="\n".join(line.text for line in lines),
                confidence=field_confidence(lines),
                lines=tuple(lines),
                box=region.box,
                blocks=blocks,
            )
        )
    return found


def make_reader(options: ProcessOptions) -> Reader:
    """The reader ``options.engine`` names, set up as the options say (models load on
    first use)."""
    if options.engine == "tesseract":
        return TesseractReader(options.tesseract_options(), options.batch)
    return PPOCRReader(
        options.lang,
        options.words,
        options.decode_words,
        options.detect_sides,
        options.threads or 1,
        options.recogniser,
    )


def reader_settings(options: ProcessOptions) -> dict[str, object]:
    return make_reader(options).settings()


def _digest(items: list[str]) -> str:
    return hashlib.sha256("\n".join(items).encode("utf-8")).hexdigest()[:12]


def draw_debug(image: np.ndarray, sheet: Sheet) -> np.ndarray:
    """The rectified sheet with field boxes and read lines drawn: segmentation at a glance."""
    canvas = image.copy()
    thickness = max(2, image.shape[0] // 400)
    for sheet_field in sheet.fields:
        if sheet_field.box:
            x, y, w, h = sheet_field.box
            cv2.rectangle(canvas, (x, y), (x + w, y + h), (0, 0, 255), thickness)
            cv2.putText(
                canvas,
                sheet_field.id,
                (x + 6, y + h - 8),
                cv2.FONT_HERSHEY_SIMPLEX,
                image.shape[0] / 1600,
                (0, 0, 255),
                thickness,
            )
        for line in sheet_field.lines:
            x, y, w, h = line.bbox
            colour = (0, 160, 0) if line.confidence >= LOW_CONFIDENCE else (0, 140, 255)
            cv2.rectangle(canvas, (x, y), (x + w, y + h), colour, max(1, thickness // 2))
    return canvas
