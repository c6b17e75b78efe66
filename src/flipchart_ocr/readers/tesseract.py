"""Tesseract as a reader: field crops made print-like, stacked, read in one call.

Tesseract is made for print: dark, upright text of a moderate size on a clean
background. Each field crop is first turned into print-like input (``ink``: flat
background, ink of every colour as black, box lines out), scaled so that its text rows
have Tesseract's favourite height, and all fields of a sheet are stacked into one image
for one Tesseract call. Tesseract also reads the printed title for identification
(``pipeline.read_header``).
"""

from __future__ import annotations

import os
import signal
import unicodedata
from collections import deque
from dataclasses import dataclass, replace
from functools import lru_cache

import cv2
import numpy as np
import pytesseract
from PIL import Image

from ..document import Line, Word
from ..errors import OcrError, OcrTimeout
from . import Reading, Region, field_confidence, is_noise, joined, line_confidence
from .ink import (
    darken,
    has_ink,
    ink_height,
    ink_image,
    plausible_row_height,
    remove_box_lines,
    split_rows_mapped,
)

# Tesseract reads best when capitals are about 30-40 px tall. Scaling by the
# median letter height (components) targets this; scaling by the text-row height
# (TesseractOptions.line_height, 50 px) works better on joined-up handwriting, whose
# components are whole words (field CER 0.48 against 0.51 on 30 unseen photos).
TARGET_INK_HEIGHT = 36
MAX_PREPARED_PIXELS = 4_000_000
PAD = 20  # white margin around each prepared crop, in pixels
DEFAULT_TIMEOUT = 60  # seconds per Tesseract call; a hang must not stop a batch


# Tesseract's OpenMP threads cost more than they give on small images: a field
# stack reads about three times faster on one thread (0.25 s against 0.73 s on a
# sample photo here), and parallel workers use the other cores anyway.
os.environ.setdefault("OMP_THREAD_LIMIT", "1")


@dataclass(frozen=True)
class TesseractOptions:
    lang: str = "deu"
    psm: int = 6
    timeout: float = DEFAULT_TIMEOUT
    # Preprocessing: each can be switched off to measure what it buys (benchmarks).
    ink: str = "darkest"  # "darkest": flatten paper, darkest channel; "gray": plain greyscale
    remove_lines: bool = True  # whiten box lines that leaked into the crop
    scale_by: str = "rows"  # "rows": text-row height; "letters": letter height; "none"
    line_height: int = 50  # target text-row height in pixels (scale_by="rows")
    # Measured by benchmarks/ocr_experiments.py on 72 + 75 unseen photos (seeds 7 and
    # 2000, true template forced) and the 12 templated samples; pooled field CER with
    # all defaults 0.431 / 0.534 / 0.312 (before: 0.474 / 0.538 / 0.332).
    # A white gap between text rows, cutting descenders that join two rows into one
    # component Tesseract drops as a picture; without it 0.470 / 0.542 / 0.337.
    split_rows: bool = True
    # Grey ramp darkened (v ** gamma), so faint stroke edges count as ink; without
    # it (1.0) 0.453 / 0.542 / 0.325.
    gamma: float = 1.5
    # Box-line removal spares strokes no taller than 1.3 text rows (a capital I):
    # 0.424 / 0.538 / 0.303, worse on seed 2000, so off.
    spare_letters: bool = False
    # Upright strokes are whitened only near the crop's sides (box_edges_only).
    edges_only: bool = True
    extra_config: str = ""  # further Tesseract options, e.g. "-c thresholding_method=2"


@dataclass(frozen=True)
class Prepared:
    """A crop made ready for Tesseract, and how to map its pixels back to the crop."""

    image: np.ndarray
    scale: float
    rows: np.ndarray  # for each row of image (margin excluded), the scaled crop's row


def prepare(crop: np.ndarray, options: TesseractOptions | None = None) -> tuple[np.ndarray, float]:
    """Crop to Tesseract-ready greyscale, and the scale applied to it."""
    prepared = prepare_mapped(crop, options)
    return prepared.image, prepared.scale


def prepare_mapped(
    crop: np.ndarray,
    options: TesseractOptions | None = None,
) -> Prepared:
    """``prepare`` with the row map that undoes the gaps opened between text rows."""
    options = options or TesseractOptions()
    gray, scale = scaled_ink(crop, options)
    rows = np.arange(gray.shape[0])
    if options.split_rows:
        gray, rows = split_rows_mapped(gray)
    if options.gamma != 1:
        gray = darken(gray, options.gamma)
    # A white margin: Tesseract misses text that touches the image edge.
    gray = cv2.copyMakeBorder(gray, PAD, PAD, PAD, PAD, cv2.BORDER_CONSTANT, value=255)
    return Prepared(gray, scale, rows)


def scaled_ink(crop: np.ndarray, options: TesseractOptions) -> tuple[np.ndarray, float]:
    """The crop's ink as dark on white, box lines removed, scaled to the reading size."""
    if options.ink == "darkest":
        gray = ink_image(crop)
    else:
        gray = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY) if crop.ndim == 3 else crop
    if options.remove_lines:
        gray = remove_box_lines(gray, options.spare_letters, options.edges_only)
    scale = text_scale(gray, options)
    # Noise or a wrong size estimate must not blow a crop up to a Tesseract job of
    # minutes: the prepared image stays within a few megapixels.
    area = gray.shape[0] * gray.shape[1]
    scale = min(scale, (MAX_PREPARED_PIXELS / max(area, 1)) ** 0.5)
    if abs(scale - 1.0) <= 0.1:
        return gray, 1.0
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    return cv2.resize(gray, None, fx=scale, fy=scale, interpolation=interpolation), scale


def text_scale(gray: np.ndarray, options: TesseractOptions) -> float:
    """How much to scale a crop so that its text has the size Tesseract reads best."""
    if options.scale_by == "rows":
        height, target = plausible_row_height(gray), options.line_height
    elif options.scale_by == "letters":
        height, target = ink_height(gray), TARGET_INK_HEIGHT
    else:
        height, target = None, 0
    return 1.0 if height is None else float(np.clip(target / height, 0.25, 4.0))


def recognise(image: np.ndarray, options: TesseractOptions) -> list[Line]:
    """Run Tesseract on a prepared image: lines with word confidences, in its pixels."""
    config = f"--psm {options.psm} {options.extra_config}".strip()
    # pytesseract hands the image over as a file; uncompressed BMP costs a
    # fraction of the PNG it would write by default.
    picture = Image.fromarray(image)
    picture.format = "BMP"
    try:
        data = pytesseract.image_to_data(
            picture,
            lang=options.lang,
            config=config,
            output_type=pytesseract.Output.DICT,
            timeout=options.timeout,
        )
    except pytesseract.TesseractNotFoundError as e:
        raise OcrError(
            "tesseract not found: install it (apt-get install tesseract-ocr tesseract-ocr-deu)"
        ) from e
    except pytesseract.TesseractError as e:
        if e.status == -signal.SIGINT:  # Ctrl-C reached Tesseract first: not the photo's fault
            raise KeyboardInterrupt from e
        raise OcrError(f"tesseract failed: {e.message.strip() or e.status}") from e
    except RuntimeError as e:  # pytesseract's timeout
        raise OcrTimeout(f"tesseract timed out after {options.timeout:g} s") from e
    lines = _lines_from_data(data)
    # Sparse-text mode (11) splits a row into pieces; block mode (6) reads whole rows.
    return merge_rows(lines) if options.psm == 11 else lines


def _lines_from_data(data: dict[str, list]) -> list[Line]:
    grouped: dict[tuple[int, int, int], list[int]] = {}
    for i, text in enumerate(data["text"]):
        if float(data["conf"][i]) < 0 or not str(text).strip():
            continue
        key = (data["block_num"][i], data["par_num"][i], data["line_num"][i])
        grouped.setdefault(key, []).append(i)
    lines = []
    for indices in grouped.values():
        words = tuple(
            Word(unicodedata.normalize("NFC", str(data["text"][i]).strip()), float(data["conf"][i]))
            for i in indices
        )
        left = min(data["left"][i] for i in indices)
        top = min(data["top"][i] for i in indices)
        right = max(data["left"][i] + data["width"][i] for i in indices)
        bottom = max(data["top"][i] + data["height"][i] for i in indices)
        bbox = (left, top, right - left, bottom - top)
        text = " ".join(w.text for w in words)
        lines.append(Line(text, line_confidence(words), bbox, words, reader="tesseract"))
    lines.sort(key=lambda line: (line.bbox[1], line.bbox[0]))
    return lines


def merge_rows(lines: list[Line]) -> list[Line]:
    """Join pieces of one text row (sparse-text mode reads a row as several) in reading order."""
    rows: list[list[Line]] = []
    for line in sorted(lines, key=lambda line: line.bbox[1] + line.bbox[3] / 2):
        center = line.bbox[1] + line.bbox[3] / 2
        row = rows[-1] if rows else None
        if row and abs(center - _center(row)) < 0.5 * max(line.bbox[3], row[0].bbox[3]):
            row.append(line)
        else:
            rows.append([line])
    return [joined(sorted(row, key=lambda line: line.bbox[0])) for row in rows]


def _center(row: list[Line]) -> float:
    return sum(line.bbox[1] + line.bbox[3] / 2 for line in row) / len(row)


@dataclass(frozen=True)
class FieldCrop:
    """A field's writing area and where it lies on the sheet."""

    image: np.ndarray
    offset: tuple[int, int]  # top-left of the crop on the rectified sheet

    @property
    def too_small(self) -> bool:
        """A crop with (almost) no pixels: a field outside the sheet, nothing to read."""
        return self.image.size == 0 or min(self.image.shape[:2]) < 8


@dataclass(frozen=True)
class _Placed:
    """Where a prepared crop sits inside the image sent to Tesseract."""

    crop: FieldCrop
    top: int
    height: int
    prepared: Prepared

    def to_sheet(self, line: Line) -> Line:
        x, y, w, h = line.bbox
        scale = self.prepared.scale
        top = self._crop_row(y - self.top - PAD)
        bottom = self._crop_row(y + h - self.top - PAD)
        bbox = (
            int(round((x - PAD) / scale + self.crop.offset[0])),
            int(round(top / scale + self.crop.offset[1])),
            int(round(w / scale)),
            int(round(max(bottom - top, 1) / scale)),
        )
        return replace(line, bbox=bbox)

    def _crop_row(self, row: int) -> int:
        rows = self.prepared.rows
        return int(rows[int(np.clip(row, 0, len(rows) - 1))]) if len(rows) else row


def read_fields(
    crops: list[FieldCrop],
    options: TesseractOptions,
    batch: bool = True,
    timed_out: list[int] | None = None,
) -> list[tuple[list[Line], float]]:
    """OCR every field of a sheet: per field, its lines (in sheet pixels) and confidence.

    With ``batch``, all fields with ink go to Tesseract as one image, stacked with
    white gaps: one process start and one model load per sheet instead of one per
    field, which is most of Tesseract's cost on small crops.

    A Tesseract call that times out costs only its own fields: a stack that times
    out is read again field by field, and a field whose own call times out is left
    empty and its index added to ``timed_out`` (without that list, ``OcrTimeout``
    is raised).
    """
    prepared = [_prepare_crop(crop, options) for crop in crops]
    results: list[tuple[list[Line], float]] = [([], 0.0) for _ in crops]
    inked = [i for i, p in enumerate(prepared) if p is not None]
    groups = deque([inked] if batch else [[i] for i in inked])
    while groups:
        group = groups.popleft()
        if not group:
            continue
        try:
            per_field = _read_stack(group, prepared, crops, options)  # type: ignore[arg-type]
        except OcrTimeout:
            if len(group) > 1:
                groups.extend([i] for i in group)  # find the slow field; keep the others
                continue
            if timed_out is None:
                raise
            timed_out.append(group[0])
            continue
        for slot, index in enumerate(group):
            lines = [line for line in per_field[slot] if not is_noise(line)]
            results[index] = (lines, field_confidence(lines))
    return results


def _read_stack(
    group: list[int], prepared: list[Prepared], crops: list[FieldCrop], options: TesseractOptions
) -> list[list[Line]]:
    """One Tesseract call on the group's fields stacked: each field's lines, in sheet pixels."""
    image, placements = _stack([prepared[i] for i in group], [crops[i] for i in group])
    per_field: list[list[Line]] = [[] for _ in group]
    for line in recognise(image, options):
        slot = _placement_of(line, placements)
        if slot is not None:
            per_field[slot].append(placements[slot].to_sheet(line))
    return per_field


def _prepare_crop(crop: FieldCrop, options: TesseractOptions) -> Prepared | None:
    if crop.too_small:
        return None
    prepared = prepare_mapped(crop.image, options)
    return prepared if has_ink(prepared.image) else None


# White between stacked fields: far more than any line spacing, so Tesseract
# never joins lines of two fields.
GAP = 60


def _stack(prepared: list[Prepared], crops: list[FieldCrop]) -> tuple[np.ndarray, list[_Placed]]:
    width = max(p.image.shape[1] for p in prepared)
    parts, placements, top = [], [], 0
    for one, crop in zip(prepared, crops, strict=True):
        image = one.image
        padded = cv2.copyMakeBorder(
            image, 0, GAP, 0, width - image.shape[1], cv2.BORDER_CONSTANT, value=255
        )
        parts.append(padded)
        placements.append(_Placed(crop, top, image.shape[0], one))
        top += padded.shape[0]
    return np.vstack(parts), placements


def _placement_of(line: Line, placements: list[_Placed]) -> int | None:
    center = line.bbox[1] + line.bbox[3] / 2
    for slot, placed in enumerate(placements):
        if placed.top <= center < placed.top + placed.height:
            return slot
    return None


def read_field(
    crop: np.ndarray, options: TesseractOptions, offset: tuple[int, int] = (0, 0)
) -> tuple[list[Line], float]:
    """OCR one field's crop on its own."""
    return read_fields([FieldCrop(crop, offset)], options)[0]


def crop_inside(image: np.ndarray, box: tuple[int, int, int, int]) -> FieldCrop:
    """The inside of a box on the sheet, inset a little so that its drawn lines stay out."""
    height, width = image.shape[:2]
    x, y, w, h = box
    inset = max(2, int(0.006 * min(height, width)))
    left, top = max(x + inset, 0), max(y + inset, 0)
    right, bottom = min(x + w - inset, width), min(y + h - inset, height)
    return FieldCrop(image[top : max(bottom, top), left : max(right, left)], (left, top))


def below_label(crop: FieldCrop, writing_top: int | None) -> FieldCrop:
    """The crop from where the template says the writing starts, below the label strip.

    Tesseract reads a block of one text size: a printed label above large handwriting
    makes it drop the handwriting (two of a sample's three fields came out empty when it
    read the whole box; samples field CER 0.31 -> 0.63). Moving the cut up to the
    nearest gap between rows of ink, so as never to cut a row, brought the label back
    in most fields, garbled (0.58). So Tesseract keeps the template's strip, as it
    always has; the default reader reads the whole box and finds the label by its text.
    """
    if writing_top is None or crop.too_small:
        return crop
    cut = writing_top - crop.offset[1]
    if cut <= 0:
        return crop
    x, y = crop.offset
    return FieldCrop(crop.image[cut:], (x, y + cut))


class TesseractReader:
    """Tesseract on every region's crop, all regions of a sheet stacked into one call."""

    name = "tesseract"

    def __init__(self, options: TesseractOptions, batch: bool = True) -> None:
        self.options = options
        self.batch = batch

    def read(self, image: np.ndarray, regions: list[Region]) -> Reading:
        crops = [
            below_label(crop_inside(image, region.box), region.writing_top) for region in regions
        ]
        # A freeform sheet has text anywhere, in scattered groups: sparse-text mode
        # finds them all (the automatic page layout, mode 3, drops marker text that it
        # takes for drawings), and the rows are put together in reading order.
        psm = 11 if any(region.sparse for region in regions) else 6
        timed_out: list[int] = []
        results = read_fields(crops, replace(self.options, psm=psm), self.batch, timed_out)
        warnings = [
            f"field {regions[i].name!r}: Tesseract timed out after {self.options.timeout:g} s"
            " (--timeout); left empty"
            for i in timed_out
        ]
        return Reading([lines for lines, _ in results], warnings)

    def settings(self) -> dict[str, object]:
        return {
            "engine": self.name,
            "tesseract": tesseract_version(),
            "lang": self.options.lang,
        }


@lru_cache(maxsize=1)
def tesseract_version() -> str:
    try:
        return str(pytesseract.get_tesseract_version())
    except (pytesseract.TesseractNotFoundError, OSError):
        return ""
