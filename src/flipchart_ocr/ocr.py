"""Read a field's handwriting with Tesseract: crop in, lines with confidences out.

Tesseract is made for print: dark, upright text of a moderate size on a clean
background. A marker on a photographed flipchart is coloured, thick, unevenly
lit and of any size, so each crop is first turned into print-like input:
flat background, ink of every colour as black, text at Tesseract's favourite size.
"""

from __future__ import annotations

import difflib
import unicodedata
from dataclasses import dataclass

import cv2
import numpy as np
import pytesseract

from .document import Line, Word
from .errors import OcrError

# Tesseract reads best when capitals are about 30-40 px tall; handwriting
# components (letters, joined letter groups) are scaled to this median height.
TARGET_INK_HEIGHT = 36
# A word Tesseract itself doubts this much is flagged for review, not trusted.
LOW_CONFIDENCE = 60.0
DEFAULT_TIMEOUT = 60  # seconds per Tesseract call; a hang must not stop a batch


@dataclass(frozen=True)
class OcrOptions:
    lang: str = "deu"
    psm: int = 6
    timeout: float = DEFAULT_TIMEOUT


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


def remove_box_lines(gray: np.ndarray) -> np.ndarray:
    """Whiten long straight strokes (box edges that leaked into the crop)."""
    height, width = gray.shape
    ink = (gray < 160).astype(np.uint8) * 255
    horizontal = cv2.morphologyEx(ink, cv2.MORPH_OPEN, np.ones((1, max(width // 3, 25)), np.uint8))
    vertical = cv2.morphologyEx(ink, cv2.MORPH_OPEN, np.ones((max(height // 2, 25), 1), np.uint8))
    lines = cv2.dilate(cv2.bitwise_or(horizontal, vertical), np.ones((3, 3), np.uint8))
    cleaned = gray.copy()
    cleaned[lines > 0] = 255
    return cleaned


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


def has_ink(gray: np.ndarray) -> bool:
    """Whether the crop holds any writing at all (an empty box costs no Tesseract call)."""
    dark = gray < 128
    return bool(dark.mean() > 0.002)


def prepare(crop: np.ndarray) -> tuple[np.ndarray, float]:
    """Crop to Tesseract-ready greyscale, and the scale applied to it."""
    gray = remove_box_lines(ink_image(crop))
    height = ink_height(gray)
    scale = 1.0 if height is None else float(np.clip(TARGET_INK_HEIGHT / height, 0.25, 4.0))
    if abs(scale - 1.0) > 0.1:
        interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
        gray = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=interpolation)
    else:
        scale = 1.0
    # A white margin: Tesseract misses text that touches the image edge.
    gray = cv2.copyMakeBorder(gray, 20, 20, 20, 20, cv2.BORDER_CONSTANT, value=255)
    return gray, scale


def recognise(
    image: np.ndarray, options: OcrOptions, offset: tuple[int, int] = (0, 0), scale: float = 1.0
) -> list[Line]:
    """Run Tesseract on a prepared image; lines with word confidences, boxes mapped back."""
    config = f"--psm {options.psm}"
    try:
        data = pytesseract.image_to_data(
            image,
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
        raise OcrError(f"tesseract failed: {e.message.strip() or e.status}") from e
    except RuntimeError as e:  # pytesseract's timeout
        raise OcrError(f"tesseract timed out after {options.timeout:.0f} s") from e
    return _lines_from_data(data, offset, scale)


def _lines_from_data(data: dict[str, list], offset: tuple[int, int], scale: float) -> list[Line]:
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
        bbox = (
            int(round((left - 20) / scale + offset[0])),
            int(round((top - 20) / scale + offset[1])),
            int(round((right - left) / scale)),
            int(round((bottom - top) / scale)),
        )
        lines.append(Line(" ".join(w.text for w in words), line_confidence(words), bbox, words))
    lines.sort(key=lambda line: (line.bbox[1], line.bbox[0]))
    return lines


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


def read_field(
    crop: np.ndarray, options: OcrOptions, offset: tuple[int, int] = (0, 0), label: str = ""
) -> tuple[list[Line], float]:
    """OCR one field's crop: its lines (in sheet pixels) and the field's confidence."""
    if crop.size == 0:
        return [], 0.0
    image, scale = prepare(crop)
    if not has_ink(image):
        return [], 0.0
    lines = [
        line
        for line in recognise(image, options, offset, scale)
        if not is_noise(line) and not is_label_echo(line, label)
    ]
    return lines, field_confidence(lines)


def field_confidence(lines: list[Line]) -> float:
    total = sum(len(line.text) for line in lines)
    if total == 0:
        return 0.0
    return sum(line.confidence * len(line.text) for line in lines) / total
