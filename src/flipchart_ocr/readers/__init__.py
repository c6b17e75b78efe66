"""The readers: each turns a rectified sheet's regions into lines of text with confidences.

One small interface, ``Reader``: a sheet image and the regions to read (a template's
field boxes, or the whole sheet for a freeform one) in; per region its ``Line``s (text,
confidence, box in sheet pixels, words, the reader's name) out, with warnings for what
could not be read. Each engine lives in its own module:

- ``ppocr``: PP-OCRv6 small, text detector and line recogniser (the default);
- ``tesseract``: Tesseract on field crops made print-like (``ink``).

What happens to the lines next (labels taken out, freeform reading order) is the
pipeline's, not the reader's; a reader may only leave out a row that is plainly its
region's printed label, to save reading it in full (``ppocr`` glances at such rows).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from ..document import BBox, Line, Word, enclosing


@dataclass(frozen=True)
class Region:
    """A part of the sheet to read: a field's box, or the whole sheet."""

    box: BBox  # x, y, w, h in sheet pixels
    name: str = ""  # the field id, for warnings
    sparse: bool = False  # text anywhere (a freeform sheet), not rows in a box
    # Where the template expects writing to start (below its printed label), in sheet
    # pixels; a reader that must not see the label (Tesseract) starts there.
    writing_top: int | None = None
    label: str = ""  # the printed label at the top of the field's box, if any


@dataclass
class Reading:
    lines: list[list[Line]]  # per region, top to bottom
    warnings: list[str] = field(default_factory=list)


class Reader(Protocol):
    name: str

    def read(self, image: np.ndarray, regions: list[Region]) -> Reading:
        """Every region's lines, in sheet pixels."""
        ...

    def settings(self) -> dict[str, object]:
        """What shapes the output (models and checksums, word lists, decoder): recorded
        in the sheet JSON's steps and in the cache key."""
        ...


def line_confidence(words: tuple[Word, ...]) -> float:
    """Mean word confidence, weighted by word length: a doubtful long word weighs more."""
    total = sum(len(w.text) for w in words)
    if total == 0:
        return 0.0
    return sum(w.confidence * len(w.text) for w in words) / total


def joined(lines: list[Line]) -> Line:
    """Lines of one row of writing, in the order given (left to right), as one line."""
    if len(lines) == 1:
        return lines[0]
    words = tuple(word for line in lines for word in line.words)
    text = " ".join(line.text for line in lines)
    bbox = enclosing(line.bbox for line in lines)
    return Line(text, line_confidence(words), bbox, words, reader=lines[0].reader)


def field_confidence(lines: list[Line]) -> float:
    """Mean line confidence, weighted by line length."""
    total = sum(len(line.text) for line in lines)
    if total == 0:
        return 0.0
    return sum(line.confidence * len(line.text) for line in lines) / total


def is_noise(line: Line) -> bool:
    """Specks, shadows and stray strokes read as a letter or two."""
    letters = sum(ch.isalnum() for ch in line.text)
    if letters == 0:
        return True
    return letters <= 2 and line.confidence < 50
