"""Read a field's handwriting with Tesseract: crop in, lines with confidences out.

Tesseract is made for print: dark, upright text of a moderate size on a clean
background. A marker on a photographed flipchart is coloured, thick, unevenly
lit and of any size, so each crop is first turned into print-like input:
flat background, ink of every colour as black, text at Tesseract's favourite size.
"""

from __future__ import annotations

import difflib
import os
import signal
import unicodedata
from collections import deque
from dataclasses import dataclass, replace

import cv2
import numpy as np
import pytesseract
from PIL import Image

from .document import LOW_CONFIDENCE, Line, Word  # noqa: F401 (LOW_CONFIDENCE: ocr's name for it)
from .errors import OcrError, OcrTimeout

# Tesseract reads best when capitals are about 30-40 px tall. Scaling by the
# median letter height (components) targets this; scaling by the text-row height
# (OcrOptions.line_height, 50 px) works better on joined-up handwriting, whose
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
class OcrOptions:
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
    # Our recogniser decodes unknown words towards the word list (ctc.decode).
    decode_words: bool = True
    extra_config: str = ""  # further Tesseract options, e.g. "-c thresholding_method=2"


def ink_image(crop: np.ndarray) -> np.ndarray:
    """Flatten the paper to white and every marker colour to dark grey."""
    if crop.ndim == 2:
        crop = cv2.cvtColor(crop, cv2.COLOR_GRAY2BGR)
    height, width = crop.shape[:2]
    # The paper's brightness, estimated by closing (removing dark strokes) with a
    # kernel wider than any stroke, then smoothing.
    kernel_side = max(15, (min(height, width) // 12) | 1)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (kernel_side, kernel_side))
    flattened = []
    for channel in cv2.split(crop):
        background = cv2.morphologyEx(channel, cv2.MORPH_CLOSE, kernel)
        background = cv2.GaussianBlur(background, (0, 0), kernel_side / 3)
        flattened.append(cv2.divide(channel, np.maximum(background, 1), scale=255))
    # Blue, red and green markers are each dark in some channel: the darkest
    # channel turns all of them into dark strokes on white.
    return np.min(np.stack(flattened), axis=0)


def remove_box_lines(
    gray: np.ndarray, spare_letters: bool = False, edges_only: bool = True
) -> np.ndarray:
    """Whiten long straight strokes (box edges that leaked into the crop)."""
    height, width = gray.shape
    ink = (gray < 160).astype(np.uint8) * 255
    horizontal = cv2.morphologyEx(ink, cv2.MORPH_OPEN, np.ones((1, max(width // 3, 25)), np.uint8))
    tall = max(height // 2, 25)
    if spare_letters:
        row = line_height(gray)
        if row is not None:
            tall = max(tall, min(int(1.3 * row), int(0.9 * height)))
    vertical = cv2.morphologyEx(ink, cv2.MORPH_OPEN, np.ones((tall, 1), np.uint8))
    if edges_only:
        vertical = box_edges_only(vertical)
    lines = cv2.dilate(cv2.bitwise_or(horizontal, vertical), np.ones((3, 3), np.uint8))
    cleaned = gray.copy()
    cleaned[lines > 0] = 255
    return cleaned


# A box's side leaks into a field crop only near the crop's left or right edge. A tall
# upright stroke further in is a letter (the f of "aufbauen" in a one-row field), and
# whitening it cut the word in two. Field CER with the hybrid reader, samples / seed
# 5000 / seed 1000: 0.295 / 0.426 / 0.347 -> 0.280 / 0.426 / 0.333.
BOX_EDGE_BAND = 0.06  # share of the crop's width, each side
FULL_HEIGHT = 0.85  # a stroke this tall is a line wherever it stands


def box_edges_only(vertical: np.ndarray) -> np.ndarray:
    """Of the upright strokes found, those near a side of the crop or as tall as the crop."""
    height, width = vertical.shape
    count, labels, stats, _ = cv2.connectedComponentsWithStats(vertical, connectivity=8)
    centres = stats[:, cv2.CC_STAT_LEFT] + stats[:, cv2.CC_STAT_WIDTH] / 2
    keep = (
        (centres < BOX_EDGE_BAND * width)
        | (centres > (1 - BOX_EDGE_BAND) * width)
        | (stats[:, cv2.CC_STAT_HEIGHT] >= FULL_HEIGHT * height)
    )
    keep[0] = False  # the background
    return np.where(keep[labels], 255, 0).astype(np.uint8)


def ink_height(gray: np.ndarray) -> float | None:
    """Median height of the ink's connected components (letters or letter groups)."""
    _, binary = cv2.threshold(gray, 0, 255, cv2.THRESH_BINARY_INV + cv2.THRESH_OTSU)
    count, _, stats, _ = cv2.connectedComponentsWithStats(binary, connectivity=8)
    heights = stats[1:, cv2.CC_STAT_HEIGHT]
    areas = stats[1:, cv2.CC_STAT_AREA]
    # Specks and dots tell nothing about the letter size.
    keep = (areas >= 20) & (heights >= 6) & (heights < gray.shape[0] * 0.9)
    if keep.sum() < 2:
        return None
    return float(np.median(heights[keep]))


def line_height(gray: np.ndarray) -> float | None:
    """Median height of the text rows: bands of the horizontal ink profile.

    Unlike letter components, rows measure joined-up handwriting and print
    alike: a cursive word is one component as tall as its whole row.
    """
    heights = [bottom - top for top, bottom in row_bands(gray)]
    return float(np.median(heights)) if heights else None


def ink_mask(gray: np.ndarray) -> np.ndarray:
    """Ink as 255 (Otsu), without specks, which would bridge the gaps between rows."""
    _, binary = cv2.threshold(gray, 0, 255, cv2.THRESH_BINARY_INV + cv2.THRESH_OTSU)
    return cv2.morphologyEx(binary, cv2.MORPH_OPEN, np.ones((2, 2), np.uint8))


def row_bands(gray: np.ndarray) -> list[tuple[int, int]]:
    """Text rows as (top, bottom) bands of the horizontal ink profile."""
    profile = (ink_mask(gray) > 0).mean(axis=1)
    if profile.max() == 0:
        return []
    inked = profile > max(0.01, profile.max() * 0.08)
    bands, start = [], None
    for y, row_has_ink in enumerate(inked):
        if row_has_ink and start is None:
            start = y
        elif not row_has_ink and start is not None:
            bands.append((start, y))
            start = None
    if start is not None:
        bands.append((start, len(inked)))
    return [b for b in bands if b[1] - b[0] >= 6]


def split_rows(gray: np.ndarray) -> np.ndarray:
    """Open a white gap between text rows at the emptiest pixel row between them.

    A descender that reaches into the next row joins both rows into one huge
    component, and Tesseract then often drops the whole field as a picture.
    """
    return split_rows_mapped(gray)[0]


def split_rows_mapped(gray: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``split_rows``, and for each row of the result the row of ``gray`` it came from.

    The map keeps the boxes Tesseract reports true to the sheet: rows below a
    gap moved down by it.
    """
    identity = np.arange(gray.shape[0])
    bands = text_rows(row_bands(gray))
    if len(bands) < 2:
        return gray, identity
    profile = (ink_mask(gray) > 0).sum(axis=1)
    gap = max(8, int(np.median([b - t for t, b in bands]) * 0.4))
    cuts = []
    for (_, bottom), (top, _) in zip(bands[:-1], bands[1:], strict=True):
        between = profile[bottom:top]
        cuts.append(bottom + int(np.argmin(between)))
    parts, rows, last = [], [], 0
    white = np.full((gap, gray.shape[1]), 255, np.uint8)
    for cut in cuts:
        parts += [gray[last:cut], white]
        rows += [identity[last:cut], np.full(gap, cut)]
        last = cut + 1  # the cut pixel row itself goes: strokes through it are parted
    parts.append(gray[last:])
    rows.append(identity[last:])
    return np.vstack(parts), np.concatenate(rows)


def text_rows(bands: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Bands joined into text rows: a thin band (descenders, accents) joins its nearer neighbour."""
    rows = list(bands)
    while len(rows) > 1:
        heights = [b - t for t, b in rows]
        thin = int(np.argmin(heights))
        if heights[thin] >= 0.3 * np.median(heights):
            break
        above = rows[thin][0] - rows[thin - 1][1] if thin > 0 else None
        below = rows[thin + 1][0] - rows[thin][1] if thin + 1 < len(rows) else None
        into = thin - 1 if below is None or (above is not None and above <= below) else thin + 1
        first, second = sorted((thin, into))
        rows[first : second + 1] = [(rows[first][0], rows[second][1])]
    return rows


def stroke_width(gray: np.ndarray) -> float | None:
    """Median stroke width in pixels: twice the ink's distance to paper along stroke ridges."""
    binary = ink_mask(gray)
    if not binary.any():
        return None
    distance = cv2.distanceTransform(binary, cv2.DIST_L2, 3)
    ridge = (distance >= cv2.dilate(distance, np.ones((3, 3), np.uint8))) & (distance > 0.5)
    return 2 * float(np.median(distance[ridge])) if ridge.any() else None


def darken(gray: np.ndarray, gamma: float) -> np.ndarray:
    """Darken the grey ramp (white stays white): stroke edges and faint ink count as ink."""
    table = (255 * (np.arange(256) / 255) ** gamma).round().astype(np.uint8)
    return cv2.LUT(gray, table)


def has_ink(gray: np.ndarray) -> bool:
    """Whether the crop holds any writing at all (an empty box costs no Tesseract call)."""
    dark = gray < 128
    return bool(dark.mean() > 0.002)


@dataclass(frozen=True)
class Prepared:
    """A crop made ready for Tesseract, and how to map its pixels back to the crop."""

    image: np.ndarray
    scale: float
    rows: np.ndarray  # for each row of image (margin excluded), the scaled crop's row


def prepare(crop: np.ndarray, options: OcrOptions | None = None) -> tuple[np.ndarray, float]:
    """Crop to Tesseract-ready greyscale, and the scale applied to it."""
    prepared = prepare_mapped(crop, options)
    return prepared.image, prepared.scale


def prepare_mapped(
    crop: np.ndarray,
    options: OcrOptions | None = None,
    ink: tuple[np.ndarray, float] | None = None,
) -> Prepared:
    """``prepare`` with the row map that undoes the gaps opened between text rows.

    ``ink``: the crop's ``scaled_ink``, if already computed.
    """
    options = options or OcrOptions()
    gray, scale = ink if ink is not None else scaled_ink(crop, options)
    rows = np.arange(gray.shape[0])
    if options.split_rows:
        gray, rows = split_rows_mapped(gray)
    if options.gamma != 1:
        gray = darken(gray, options.gamma)
    # A white margin: Tesseract misses text that touches the image edge.
    gray = cv2.copyMakeBorder(gray, PAD, PAD, PAD, PAD, cv2.BORDER_CONSTANT, value=255)
    return Prepared(gray, scale, rows)


def scaled_ink(crop: np.ndarray, options: OcrOptions) -> tuple[np.ndarray, float]:
    """The crop's ink as dark on white, box lines removed, scaled to the reading size.

    Both readers (Tesseract here, our recogniser in ``handwriting``) start from it.
    """
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


def plausible_row_height(gray: np.ndarray) -> float | None:
    """The text-row height, unless one "row" fills most of the crop while its letters are small.

    A pinned card's grey edges or a shadow join all rows into one band; scaling by
    that band shrinks the text to nothing. Then the letters' height tells the row's
    (field CER 0.534 -> 0.499 on 75 unseen sheets, seed 2000; 0.431 -> 0.435 on
    seed 7 and 0.312 on the samples, within noise).
    """
    height = line_height(gray)
    if height is not None and height > 0.6 * gray.shape[0]:
        letters = ink_height(gray)
        if letters is not None and letters < 0.5 * height:
            return letters * 1.4
    return height


def text_scale(gray: np.ndarray, options: OcrOptions) -> float:
    """How much to scale a crop so that its text has the size Tesseract reads best."""
    if options.scale_by == "rows":
        height, target = plausible_row_height(gray), options.line_height
    elif options.scale_by == "letters":
        height, target = ink_height(gray), TARGET_INK_HEIGHT
    else:
        height, target = None, 0
    return 1.0 if height is None else float(np.clip(target / height, 0.25, 4.0))


def recognise(image: np.ndarray, options: OcrOptions) -> list[Line]:
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
        lines.append(Line(" ".join(w.text for w in words), line_confidence(words), bbox, words))
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
    return [_join(sorted(row, key=lambda line: line.bbox[0])) for row in rows]


def _center(row: list[Line]) -> float:
    return sum(line.bbox[1] + line.bbox[3] / 2 for line in row) / len(row)


def _join(row: list[Line]) -> Line:
    if len(row) == 1:
        return row[0]
    words = tuple(w for line in row for w in line.words)
    left = min(line.bbox[0] for line in row)
    top = min(line.bbox[1] for line in row)
    right = max(line.bbox[0] + line.bbox[2] for line in row)
    bottom = max(line.bbox[1] + line.bbox[3] for line in row)
    text = " ".join(line.text for line in row)
    return Line(text, line_confidence(words), (left, top, right - left, bottom - top), words)


def line_confidence(words: tuple[Word, ...]) -> float:
    """Mean word confidence, weighted by word length: a doubtful long word weighs more."""
    total = sum(len(w.text) for w in words)
    if total == 0:
        return 0.0
    return sum(w.confidence * len(w.text) for w in words) / total


def is_noise(line: Line) -> bool:
    """Specks, shadows and stray strokes that Tesseract reads as a letter or two."""
    letters = sum(ch.isalnum() for ch in line.text)
    if letters == 0:
        return True
    return letters <= 2 and line.confidence < 50


def is_label_echo(line: Line, label: str) -> bool:
    """A line that is the field's printed label, read back despite the crop."""
    if not label:
        return False
    ratio = difflib.SequenceMatcher(None, line.text.lower(), label.lower()).ratio()
    return ratio > 0.75


@dataclass(frozen=True)
class FieldCrop:
    """A field's writing area, where it lies on the sheet, and the label to keep out."""

    image: np.ndarray
    offset: tuple[int, int]  # top-left of the crop on the rectified sheet
    label: str = ""
    # ``scaled_ink`` of the image, when computed once for both readers (see ``with_ink``)
    ink: tuple[np.ndarray, float] | None = None

    @property
    def too_small(self) -> bool:
        """A crop with (almost) no pixels: a field outside the sheet, nothing to read."""
        return self.image.size == 0 or min(self.image.shape[:2]) < 8


def with_ink(crop: FieldCrop, options: OcrOptions) -> FieldCrop:
    """``crop`` carrying its prepared ink: the two readers share it (0.05 s a sheet)."""
    if crop.too_small:
        return crop
    return replace(crop, ink=scaled_ink(crop.image, options))


def ink_of(crop: FieldCrop, options: OcrOptions) -> tuple[np.ndarray, float]:
    """The crop's ink, dark on white and scaled, and the scale: shared or computed now."""
    return crop.ink if crop.ink is not None else scaled_ink(crop.image, options)


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
        return Line(line.text, line.confidence, bbox, line.words)

    def _crop_row(self, row: int) -> int:
        rows = self.prepared.rows
        return int(rows[int(np.clip(row, 0, len(rows) - 1))]) if len(rows) else row


def read_fields(
    crops: list[FieldCrop],
    options: OcrOptions,
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
            lines = [
                line
                for line in per_field[slot]
                if not is_noise(line) and not is_label_echo(line, crops[index].label)
            ]
            results[index] = (lines, field_confidence(lines))
    return results


def _read_stack(
    group: list[int], prepared: list[Prepared], crops: list[FieldCrop], options: OcrOptions
) -> list[list[Line]]:
    """One Tesseract call on the group's fields stacked: each field's lines, in sheet pixels."""
    image, placements = _stack([prepared[i] for i in group], [crops[i] for i in group])
    per_field: list[list[Line]] = [[] for _ in group]
    for line in recognise(image, options):
        slot = _placement_of(line, placements)
        if slot is not None:
            per_field[slot].append(placements[slot].to_sheet(line))
    return per_field


def _prepare_crop(crop: FieldCrop, options: OcrOptions) -> Prepared | None:
    if crop.too_small:
        return None
    prepared = prepare_mapped(crop.image, options, crop.ink)
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
    crop: np.ndarray, options: OcrOptions, offset: tuple[int, int] = (0, 0), label: str = ""
) -> tuple[list[Line], float]:
    """OCR one field's crop on its own."""
    return read_fields([FieldCrop(crop, offset, label)], options)[0]


def field_confidence(lines: list[Line]) -> float:
    total = sum(len(line.text) for line in lines)
    if total == 0:
        return 0.0
    return sum(line.confidence * len(line.text) for line in lines) / total
