"""A field's printed label taken out of the lines read in its box.

Readers read a field's whole box, printed label included. The label is found by its
known text, not assumed to fill a strip of fixed height: a template without
``label_height``, a label printed larger than measured, or handwriting that starts
right under the label (or on its row) must never lose a handwritten line.
"""

from __future__ import annotations

import unicodedata
from dataclasses import replace

from rapidfuzz import fuzz

from .document import BBox, Line, Word

# A line is (part of) the label if it matches a stretch of the label this well (0-100).
LABEL_MATCH = 80
# A line that starts with the label and goes on is cut after it if the label matches
# its start this well.
LABEL_PREFIX_MATCH = 85
# Labels are printed at the top of their box: only lines whose middle lies in this top
# share of the box are looked at as label lines.
LABEL_ZONE = 0.5


def without_label(lines: list[Line], label: str, box: BBox) -> list[Line]:
    """``lines`` of a field without its printed label: label lines dropped, a line that
    begins with the label cut after it."""
    target = _normal(label)
    if not target:
        return lines
    kept = []
    for line in lines:
        if not in_label_zone(line.bbox, box):
            kept.append(line)
            continue
        rest = after_label(line, target)
        if rest is not None:
            kept.append(rest)
    return kept


def in_label_zone(bbox: BBox, box: BBox) -> bool:
    """A line's box whose middle lies in the top of the field's ``box``, where labels are."""
    return bbox[1] + bbox[3] / 2 <= box[1] + LABEL_ZONE * box[3]


def is_label(text: str, label: str) -> bool:
    """``text`` (a line as read) is all label: the printed ``label``, or a stretch of it."""
    return _is_normal_label(_normal(text), _normal(label))


def _is_normal_label(text: str, label: str) -> bool:
    return (
        3 <= len(text) <= len(label) + 2
        and len(text) >= min(5, len(label))
        and fuzz.partial_ratio(text, label) >= LABEL_MATCH
    )


def after_label(line: Line, label: str) -> Line | None:
    """What is left of ``line`` once the (normalised) ``label`` is taken out: the line
    itself, its part after the label, or None where it is all label."""
    text = _normal(line.text)
    if len(text) < 3:
        return line
    if len(text) <= len(label) + 2:
        return None if _is_normal_label(text, label) else line
    found = fuzz.partial_ratio_alignment(label, text)
    if found is None or found.score < LABEL_PREFIX_MATCH or found.dest_start > 2:
        return line
    return _cut_before(line, found.dest_end / len(text))


def _cut_before(line: Line, share: float) -> Line | None:
    """The words of ``line`` that start after ``share`` of its text; the box cut to match."""
    total = len(line.text) or 1
    position, kept = 0, []
    for word in line.words or tuple(Word(w, line.confidence) for w in line.text.split()):
        start = line.text.find(word.text, position)
        position = start + len(word.text) if start >= 0 else position
        if start >= 0 and start / total >= share - 0.02:
            kept.append(word)
    if not kept:
        return None
    first = line.text.find(kept[0].text)
    x, y, w, h = line.bbox
    left = x + round(w * first / total)
    text = " ".join(word.text for word in kept)
    confidence = sum(word.confidence * len(word.text) for word in kept) / max(len(text), 1)
    return replace(
        line, text=text, confidence=confidence, bbox=(left, y, x + w - left, h), words=tuple(kept)
    )


def _normal(text: str) -> str:
    """Case-folded, NFC, spaces collapsed, trailing dots and colons dropped."""
    text = unicodedata.normalize("NFC", text).casefold()
    return " ".join(text.split()).rstrip(".:…* ")


def below(lines: list[Line], top: int) -> list[Line]:
    """The lines whose middle lies below ``top``: the label assumed to fill the strip above."""
    return [line for line in lines if line.bbox[1] + line.bbox[3] / 2 >= top]
