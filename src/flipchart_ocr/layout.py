"""A freeform sheet's lines put in reading order and grouped into blocks.

A flipchart, a pinboard of cards or a row of sticky notes has no template: its text is
wherever people wrote it. ``arrange`` takes every line the reader found on the sheet and
returns them in the order a person reads the board, grouped into blocks (a card, a note,
a bullet with its continuation lines, a heading, a paragraph). Five steps, each from what
the photo shows:

1. garbage out (``drop_garbage``): voting dots read as "ooo" (round letters, filled ink),
   and show-through from the next page (ink far fainter than the sheet's other lines);
2. lines the detector ran across a column gutter cut apart at the bullet mark between
   them (``split_at_inner_bullets``);
3. cards (``find_cards``): the paper under each line, by its colour; a card or note is a
   patch of one colour, smaller than the sheet, with a sharp edge all round;
4. blocks (``group_lines``): the lines on one card; elsewhere lines stacked closely,
   aligned and of one size, or side by side on one level; a bullet mark (read, or seen
   as a small blot at the line's start) begins a new block;
5. reading order (``reading_order``): a heading first, then the blocks cut recursively
   along the whitespace between them into rows or columns, whichever they line up in.

Every threshold says what measured it: the generated boards (``samples/generate.py
--boards``, seeds 7000 and 7100, checked on the unseen seeds 7300 and 7400) and the real
photos in ``../shared/realdata``. Pure: arrays and lines in, lines and blocks out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import cv2
import numpy as np

from .document import BBox, Block, Line, Word, enclosing

# -- ink and bullet marks ---------------------------------------------------------------------

# Ink is what differs from the paper around it by this much (OpenCV's 8-bit Lab) and by
# this share of the strongest ink nearby.
INK_CONTRAST = 20
INK_SHARE = 0.4


# A bullet the reader did not read is a small mark at the start of a line: at least
# BULLET_MIN and at most BULLET_MAX line heights large, with a gap of BULLET_GAP line
# heights or more before the writing. Measured on the 14 generated flipcharts (seeds
# 7000 and 7100): the bullets' marks were 0.14-0.41 large with gaps of 0.21-0.65; no
# continuation line or heading started with such a mark. The mark may lie up to
# BULLET_REACH line heights left of the line's box.
BULLET_REACH = 1.6
BULLET_MIN = 0.1
BULLET_MAX = 0.45
BULLET_GAP = 0.18


def is_bullet(mark: tuple[float, float] | None) -> bool:
    """Whether a mark (its size and the gap after it, in line heights) is a bullet."""
    return mark is not None and BULLET_MIN <= mark[0] <= BULLET_MAX and mark[1] >= BULLET_GAP


def ink_mask(image: np.ndarray, box: tuple[int, ...], stroke: float) -> np.ndarray:
    """The ink in ``box`` (x0, y0, x1, y1) of ``image``: pixels that differ from the paper
    around them, in lightness or colour (a green arrow on grey paper), the paper found
    by a median over strokes up to ``stroke`` pixels wide."""
    x0, y0, x1, y1 = box
    crop = image[y0:y1, x0:x1]
    if crop.size == 0:
        return np.zeros((max(y1 - y0, 0), max(x1 - x0, 0)), np.uint8)
    if crop.ndim == 2:
        crop = cv2.cvtColor(crop, cv2.COLOR_GRAY2BGR)
    size = min(max(3, int(stroke) | 1), 255)
    paper = cv2.medianBlur(np.ascontiguousarray(crop), size)
    lab = cv2.cvtColor(crop, cv2.COLOR_BGR2LAB).astype(np.float32)
    paper_lab = cv2.cvtColor(paper, cv2.COLOR_BGR2LAB).astype(np.float32)
    distance = np.linalg.norm(lab - paper_lab, axis=2)
    threshold = max(INK_CONTRAST, INK_SHARE * float(np.percentile(distance, 99)))
    return (distance > threshold).astype(np.uint8)


def _inside(image: np.ndarray, x0: float, y0: float, x1: float, y1: float) -> tuple[int, ...]:
    height, width = image.shape[:2]
    return (
        int(np.clip(x0, 0, width)),
        int(np.clip(y0, 0, height)),
        int(np.clip(x1, 0, width)),
        int(np.clip(y1, 0, height)),
    )


def _crop(image: np.ndarray, bbox: BBox) -> np.ndarray:
    x, y, w, h = bbox
    height, width = image.shape[:2]
    crop = image[max(y, 0) : min(y + h, height), max(x, 0) : min(x + w, width)]
    if crop.ndim == 2:
        crop = cv2.cvtColor(crop, cv2.COLOR_GRAY2BGR)
    return crop


def _ink_distance(crop: np.ndarray) -> np.ndarray:
    """Each pixel's colour distance (OpenCV's 8-bit Lab) from the paper of ``crop``: the
    median colour of its lighter half."""
    lab = cv2.cvtColor(crop, cv2.COLOR_BGR2LAB).astype(np.float32)
    pixels = lab.reshape(-1, 3)
    light = pixels[pixels[:, 0] >= np.percentile(pixels[:, 0], 50)]
    return np.linalg.norm(lab - np.median(light, axis=0), axis=2)


# -- step 1: garbage ----------------------------------------------------------------------

# Voting dots read as letters: a line of nothing but round letters ("oo0o", "000") whose
# ink blobs fill at least DOT_FILL of their convex hulls (discs, touching or not, fill
# about 0.9; a written "o" is a ring, about half). On the generated boards these were
# the only lines read from marks that no other rule could tell: "oo0o", "000", "0oo".
DOTS_TEXT = re.compile(r"^[oO0°•·.\s]+$")
DOT_FILL = 0.65
# Show-through from the next page of a flipchart, or writing rubbed off a whiteboard:
# ink this faint beside the sheet's other lines (its contrast with the paper against
# the median line's). The faintest real line measured 0.37 of its sheet's median (a
# pale marker on a coloured note; pencil beside pen 0.57); show-through is fainter.
SHOW_THROUGH = 0.25
# The contrast of a line: this percentile of its pixels' colour distance from the paper.
INK_PERCENTILE = 95


def drop_garbage(lines: list[Line], image: np.ndarray) -> list[Line]:
    """The lines that are writing: voting dots and show-through dropped."""
    kept = [line for line in lines if not is_voting_dots(line, image)]
    if len(kept) < 3:
        return kept
    contrasts = [ink_contrast(image, line.bbox) for line in kept]
    typical = float(np.median(contrasts))
    return [
        line
        for line, contrast in zip(kept, contrasts, strict=True)
        if contrast >= SHOW_THROUGH * typical
    ]


def ink_contrast(image: np.ndarray, bbox: BBox) -> float:
    """How strongly the ink of the line at ``bbox`` stands out from its paper."""
    crop = _crop(image, bbox)
    if crop.size == 0:
        return 0.0
    return float(np.percentile(_ink_distance(crop), INK_PERCENTILE))


def is_voting_dots(line: Line, image: np.ndarray) -> bool:
    """A row of sticky dots (or dots drawn with a marker) read as "ooo"."""
    if not DOTS_TEXT.match(line.text):
        return False
    crop = _crop(image, line.bbox)
    if crop.size == 0:
        return False
    distance = _ink_distance(crop)
    ink = (distance > max(INK_CONTRAST, INK_SHARE * float(distance.max()))).astype(np.uint8)
    contours, _ = cv2.findContours(ink, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    smallest = (0.15 * line.bbox[3]) ** 2
    blobs = [c for c in contours if cv2.contourArea(c) >= smallest]
    return bool(blobs) and all(_solidity(ink, c) >= DOT_FILL for c in blobs)


def _solidity(ink: np.ndarray, contour: np.ndarray) -> float:
    """The share of the blob's convex hull that is ink: discs, touching or not, fill it;
    a written "o" leaves its middle empty."""
    hull = cv2.convexHull(contour)
    inside = np.zeros_like(ink)
    cv2.fillPoly(inside, [hull], 1)
    return float((ink & inside).sum()) / max(float(inside.sum()), 1.0)


# -- step 2: lines across a column gutter ------------------------------------------------

# Two lines side by side in neighbouring columns, taken by the detector for one: a
# bullet mark stands between them, with at least INNER_GAP line heights of space on
# either side and SIDE_INK line heights of writing on either side. On the generated
# flipcharts three lines ran across a gutter this way, their marks 0.34-0.62 and
# 0.36-0.43 line heights apart from the writing; inside single lines the closest
# look-alikes were an "=" (0.27 on both sides) and the "i" of "is" (0.25).
INNER_GAP = 0.3
SIDE_INK = 1.0
# The text is cut at the space nearest the mark, if it lies within this share of the
# line's length of where the mark is (letters take roughly equal room).
SPLIT_TOLERANCE = 0.12


def split_at_inner_bullets(line: Line, image: np.ndarray) -> list[Line]:
    """``line`` cut where a bullet mark stands inside it, or ``[line]``."""
    x, y, w, h = line.bbox
    box = _inside(image, x, y, x + w, y + h)
    ink = ink_mask(image, box, 0.6 * h)
    _, _, stats, _ = cv2.connectedComponentsWithStats(ink, connectivity=8)
    pieces = sorted((s for s in stats[1:] if s[4] >= 4), key=lambda s: s[0])
    for k in range(1, len(pieces) - 1):
        left, top, width, height, _ = (int(v) for v in pieces[k])
        if not BULLET_MIN <= max(width, height) / h <= BULLET_MAX:
            continue
        if top == 0 or top + height >= ink.shape[0]:
            continue
        before = max(int(s[0] + s[2]) for s in pieces[:k])
        after = min(int(s[0]) for s in pieces[k + 1 :])
        end = max(int(s[0] + s[2]) for s in pieces)
        if min(left - before, after - left - width) < INNER_GAP * h:
            continue
        if min(before - int(pieces[0][0]), end - after) < SIDE_INK * h:
            continue
        cut = _cut_words(line, (box[0] + left - x) / max(w, 1))
        if cut is None:
            continue
        first, second = cut
        left_box = (x, y, box[0] + before + int(0.2 * h) - x, h)
        right_box = (box[0] + left, y, x + w - box[0] - left, h)
        return [
            _part(first, left_box, line.reader),
            *split_at_inner_bullets(_part(second, right_box, line.reader), image),
        ]
    return [line]


def _cut_words(line: Line, where: float) -> tuple[tuple[Word, ...], tuple[Word, ...]] | None:
    """The line's words cut at the space nearest ``where`` (share of its length), a
    bullet mark read on the end of the first part ("MÜSSEN.") taken off; None if no space
    lies near."""
    words = line.words or tuple(Word(t, line.confidence) for t in line.text.split())
    starts = np.cumsum([0] + [len(word.text) + 1 for word in words[:-1]])
    length = max(len(" ".join(word.text for word in words)), 1)
    spaces = [(abs((starts[k] - 1) / length - where), k) for k in range(1, len(words))]
    if not spaces:
        return None
    distance, k = min(spaces)
    if distance > SPLIT_TOLERANCE:
        return None
    first, second = list(words[:k]), words[k:]
    last = first[-1]
    trimmed = last.text.rstrip(".,•·")
    if trimmed != last.text:
        if trimmed:
            first[-1] = Word(trimmed, last.confidence, last.read_as)
        else:
            first.pop()
    return (tuple(first), second) if first and second else None


def _part(words: tuple[Word, ...], bbox: BBox, reader: str) -> Line:
    total = sum(len(word.text) for word in words)
    confidence = sum(word.confidence * len(word.text) for word in words) / max(total, 1)
    return Line(" ".join(word.text for word in words), confidence, bbox, words, reader)


# -- step 3: cards --------------------------------------------------------------------------

# Colours are compared on a copy at most this many pixels on its longer side: a card
# is large, and the colour of its paper does not need the photo's resolution.
WORK_SIDE = 800
# Two pixels are of one paper if their colours (OpenCV's 8-bit Lab) differ by less.
PAPER_DISTANCE = 18.0
# A patch is a card if it covers at most this share of the sheet, and fills at least
# this share of its bounding box (a card is a rectangle or an oval; the open sheet
# around the cards is the rest of the sheet, full of holes).
CARD_MAX_SHARE = 0.25
CARD_MIN_FILL = 0.6
# A card's edge: the colour changes by at least this much per pixel along it (median).
CARD_EDGE = 6.0


@dataclass(frozen=True)
class Paper:
    """The colours of a sheet, reduced for comparing papers, and how sharply they change."""

    lab: np.ndarray  # float32, H x W x 3, OpenCV's 8-bit Lab
    edges: np.ndarray  # float32, H x W: the colour gradient's magnitude
    scale: float  # small pixels per sheet pixel


def paper_of(image: np.ndarray) -> Paper:
    height, width = image.shape[:2]
    scale = min(1.0, WORK_SIDE / max(height, width, 1))
    small = cv2.resize(
        image,
        (max(1, round(width * scale)), max(1, round(height * scale))),
        interpolation=cv2.INTER_AREA,
    )
    if small.ndim == 2:
        small = cv2.cvtColor(small, cv2.COLOR_GRAY2BGR)
    lab = cv2.cvtColor(small, cv2.COLOR_BGR2LAB).astype(np.float32)
    smooth = cv2.GaussianBlur(lab, (3, 3), 0)
    dx = cv2.Sobel(smooth, cv2.CV_32F, 1, 0, ksize=3)
    dy = cv2.Sobel(smooth, cv2.CV_32F, 0, 1, ksize=3)
    edges = np.sqrt((dx**2 + dy**2).sum(axis=2)) / 8  # Sobel's 3 x 3 weights sum to 8
    return Paper(lab, edges, scale)


def _small_box(paper: Paper, bbox: BBox) -> tuple[int, int, int, int]:
    """``bbox`` in the small copy's pixels, at least one pixel, inside it."""
    height, width = paper.lab.shape[:2]
    x, y, w, h = (v * paper.scale for v in bbox)
    x0 = int(np.clip(np.floor(x), 0, width - 1))
    y0 = int(np.clip(np.floor(y), 0, height - 1))
    x1 = int(np.clip(np.ceil(x + w), x0 + 1, width))
    y1 = int(np.clip(np.ceil(y + h), y0 + 1, height))
    return x0, y0, x1, y1


def background_colour(paper: Paper, bbox: BBox) -> np.ndarray:
    """The colour of the paper under a line: the lighter part of its box (ink is darker)."""
    x0, y0, x1, y1 = _small_box(paper, bbox)
    pixels = paper.lab[y0:y1, x0:x1].reshape(-1, 3)
    lightness = pixels[:, 0]
    light = pixels[lightness >= np.percentile(lightness, 50)]
    return np.median(light, axis=0)


def find_cards(paper: Paper, boxes: list[BBox]) -> list[BBox | None]:
    """For each line box, the card or note it is written on (the card's box in sheet
    pixels), or None where the line is on the open sheet.

    A card is a patch of one colour around the line (``PAPER_DISTANCE``), at most
    ``CARD_MAX_SHARE`` of the sheet, filling ``CARD_MIN_FILL`` of its bounding box, with a
    sharp edge all round (``CARD_EDGE``): the paper of a flipchart, cut into patches by
    the light falling across it, has soft borders.
    """
    found: list[BBox | None] = []
    papers: list[tuple[np.ndarray, np.ndarray]] = []  # a colour, and its patches' labels
    verdicts: dict[tuple[int, int], BBox | None] = {}
    for bbox in boxes:
        number = _paper_number(paper, background_colour(paper, bbox), papers)
        labels = papers[number][1]
        x0, y0, x1, y1 = _small_box(paper, bbox)
        under = labels[y0:y1, x0:x1]
        under = under[under > 0]
        if under.size == 0:
            found.append(None)
            continue
        label = int(np.bincount(under.ravel()).argmax())
        if (number, label) not in verdicts:
            verdicts[number, label] = _card(paper, labels == label)
        found.append(verdicts[number, label])
    return found


def _paper_number(paper: Paper, colour: np.ndarray, papers: list) -> int:
    """The index in ``papers`` of the patches of ``colour``'s paper: a colour seen before
    (lines on one card, or on one flipchart) shares them; else they are found and added."""
    for number, (seen, _) in enumerate(papers):
        if np.linalg.norm(seen - colour) < PAPER_DISTANCE / 3:
            return number
    same = np.linalg.norm(paper.lab - colour, axis=2) < PAPER_DISTANCE
    _, labels = cv2.connectedComponents(same.astype(np.uint8), connectivity=4)
    papers.append((colour, labels))
    return len(papers) - 1


def _card(paper: Paper, patch: np.ndarray) -> BBox | None:
    """The patch's box in sheet pixels if it is a card (see ``find_cards``), else None."""
    sheet_area = patch.shape[0] * patch.shape[1]
    area = int(patch.sum())
    if area > CARD_MAX_SHARE * sheet_area:
        return None
    contours, _ = cv2.findContours(patch.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    outline = max(contours, key=cv2.contourArea)
    left, top, width, height = cv2.boundingRect(outline)
    if width * height > CARD_MAX_SHARE * sheet_area or area < CARD_MIN_FILL * width * height:
        return None
    rows, columns = patch.shape
    if min(left, top) <= 1 or left + width >= columns - 1 or top + height >= rows - 1:
        return None  # cut off by the sheet's edge: a band of light, or the wall beyond
    points = outline.reshape(-1, 2)
    if float(np.median(paper.edges[points[:, 1], points[:, 0]])) < CARD_EDGE:
        return None
    return tuple(  # type: ignore[return-value]
        int(round(v / paper.scale)) for v in (left, top, width, height)
    )


# -- step 4: blocks -------------------------------------------------------------------------

# A line starts a bullet if the reader read a mark at its start: a dot, dash, star,
# arrow or plus (a dot is often read as "." or "o").
BULLET_MARK = re.compile(r"^\s*(?:[•·*+>\-–—→]|->|=>|[o.,](?=\s))\s*")
# Lines stacked one under another belong together if the gap between their boxes is at
# most STACK_GAP of their height, their heights differ by less than SIZE_RATIO, and
# their left edges or centres are at most ALIGNMENT line heights apart. Measured on the
# generated boards (seeds 7000, 7100, 7300, 7400; lines on no card): the detector's boxes
# of one bullet's lines overlap, the gap within a bullet -0.38 to -0.05 line heights (5th
# to 95th percentile), between blocks -0.11 to 0.84 (median 0.33; the bullet mark parts
# most of those); within a block the heights differed by up to 1.91 times (95th
# percentile 1.61), the left edges by up to 1.02 line heights (95th percentile).
STACK_GAP = 0.0
SIZE_RATIO = 2.0
ALIGNMENT = 1.5
# Lines side by side (one line cut in two by the detector at a wide space) belong
# together if they share ROW_OVERLAP of their height and the gap between their boxes is
# at most ROW_GAP line heights. Words cut apart on the real whiteboards: 0.2-0.6 (one
# "RENDER    OF": 1.0); a continuation line in the next column of a generated flipchart
# sat 0.99 beside a bullet, sharing 0.81 of its height.
ROW_GAP = 0.7
ROW_OVERLAP = 0.8
# The thresholds here were measured on PP-OCR's boxes, which reach beyond the writing by
# about a third of the writing's height on every side (its unclip ratio, 1.6); another
# reader's tight boxes (Tesseract's) are grown by this share of their height to match.
TIGHT_BOX_MARGIN = 0.35


@dataclass(frozen=True)
class Placed:
    """A line with what layout knows of it."""

    index: int  # into the lines given to ``arrange``
    x0: float
    y0: float
    x1: float
    y1: float
    card: BBox | None
    bulleted: bool

    @property
    def height(self) -> float:
        return max(self.y1 - self.y0, 1.0)

    @property
    def centre_x(self) -> float:
        return (self.x0 + self.x1) / 2


def placed(
    index: int, line: Line, card: BBox | None, image: np.ndarray, marked: bool = False
) -> Placed:
    """The line with its card, and whether it starts with a bullet: ``marked`` (cut off
    at one), one the reader read, or one seen at its start (``leading_mark``)."""
    x, y, w, h = line.bbox
    bulleted = (
        marked or bool(BULLET_MARK.match(line.text)) or is_bullet(leading_mark(image, line.bbox))
    )
    grow = 0.0 if line.reader == "ppocr" else TIGHT_BOX_MARGIN * h
    return Placed(index, x - grow, y - grow, x + w + grow, y + h + grow, card, bulleted)


def leading_mark(image: np.ndarray, bbox: BBox) -> tuple[float, float] | None:
    """The first ink at the start of a line, if it is a small mark standing apart: its
    size and the gap after it, in line heights (a bullet the reader did not read)."""
    x, y, w, h = bbox
    box = _inside(image, x - BULLET_REACH * h, y, x + min(w, 1.5 * h), y + h)
    if box[2] - box[0] < h or box[3] - box[1] < 0.5 * h:
        return None
    ink = ink_mask(image, box, 0.6 * h)
    count, _, stats, _ = cv2.connectedComponentsWithStats(ink, connectivity=8)
    pieces = [s for s in stats[1:] if s[4] >= 4]
    if len(pieces) < 2:
        return None
    pieces.sort(key=lambda s: s[0])
    first = pieces[0]
    left, top, width, height, _ = (int(v) for v in first)
    if left == 0 or top == 0 or top + height >= ink.shape[0]:
        return None
    following = min(int(s[0]) for s in pieces[1:] if s[0] > left)
    return max(width, height) / h, (following - left - width) / h


def _same_card(a: Placed, b: Placed) -> bool:
    if a.card is None or b.card is None:
        return a.card is None and b.card is None
    return _overlap_share(a.card, b.card) > 0.7


def _overlap_share(a: BBox, b: BBox) -> float:
    """The area two boxes share, as a share of the smaller one."""
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    w = min(ax + aw, bx + bw) - max(ax, bx)
    h = min(ay + ah, by + bh) - max(ay, by)
    return max(w, 0) * max(h, 0) / max(min(aw * ah, bw * bh), 1)


def continues(above: Placed, below: Placed) -> bool:
    """Whether ``below`` continues the block whose last line is ``above``."""
    if below.bulleted:
        return False
    height = min(above.height, below.height)
    if max(above.height, below.height) > SIZE_RATIO * height:
        return False
    gap = below.y0 - above.y1
    if gap > STACK_GAP * height or gap < -0.5 * height:
        return False
    left_aligned = abs(above.x0 - below.x0) <= ALIGNMENT * height
    centred = abs(above.centre_x - below.centre_x) <= ALIGNMENT * height
    return left_aligned or centred


def side_by_side(left: Placed, right: Placed) -> bool:
    """Whether ``right`` is the rest of ``left``'s line, cut off by a wide gap."""
    height = min(left.height, right.height)
    if max(left.height, right.height) > SIZE_RATIO * height or right.bulleted:
        return False
    overlap = min(left.y1, right.y1) - max(left.y0, right.y0)
    gap = right.x0 - left.x1
    return overlap >= ROW_OVERLAP * height and -0.5 * height <= gap <= ROW_GAP * height


class _Groups:
    """Union-find over line positions."""

    def __init__(self, size: int) -> None:
        self.parent = list(range(size))

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def join(self, i: int, j: int) -> None:
        self.parent[self.find(i)] = self.find(j)


def group_lines(items: list[Placed]) -> list[list[Placed]]:
    """The lines grouped into blocks: one block per card; elsewhere lines that continue
    one another (``continues``, ``side_by_side``)."""
    groups = _Groups(len(items))
    for i, a in enumerate(items):
        for j, b in enumerate(items):
            if i != j and a.card is not None and _same_card(a, b):
                groups.join(i, j)
    for j, below in enumerate(items):
        if below.card is not None:
            continue
        above = _nearest_above(items, j)
        if above is not None and continues(items[above], below):
            groups.join(above, j)
    for i, left in enumerate(items):
        if left.card is not None:
            continue
        for j, right in enumerate(items):
            if i != j and right.card is None and side_by_side(left, right):
                groups.join(i, j)
    found: dict[int, list[Placed]] = {}
    for i, item in enumerate(items):
        found.setdefault(groups.find(i), []).append(item)
    return list(found.values())


def _nearest_above(items: list[Placed], j: int) -> int | None:
    """The line right above line ``j`` on the same paper, overlapping it sideways."""
    below = items[j]
    best, best_gap = None, float("inf")
    for i, above in enumerate(items):
        if i == j or above.card is not None:
            continue
        if above.y0 >= below.y0 or min(above.x1, below.x1) <= max(above.x0, below.x0):
            continue
        gap = below.y0 - above.y1
        if gap < best_gap:
            best, best_gap = i, gap
    return best


def lines_in_order(items: list[Placed]) -> list[Placed]:
    """A block's lines in reading order: rows top to bottom, left to right in a row."""
    rows: list[list[Placed]] = []
    for item in sorted(items, key=lambda p: (p.y0 + p.y1) / 2):
        row = rows[-1] if rows else None
        if row and (item.y0 + item.y1) / 2 < max(p.y0 + 0.6 * p.height for p in row):
            row.append(item)
        else:
            rows.append([item])
    return [item for row in rows for item in sorted(row, key=lambda p: p.x0)]


# -- step 5: reading order ----------------------------------------------------------------

# The first block is a heading if it stands alone at the top and its letters are
# HEADING_SIZE times taller than the median block's, or it is a card HEADING_WIDTH times
# wider (a title card over columns of cards).
HEADING_SIZE = 1.2
HEADING_WIDTH = 1.5


@dataclass(frozen=True)
class Region:
    """A block's extent for the reading order: its card, or its lines' box."""

    x0: float
    y0: float
    x1: float
    y1: float
    height: float  # its card's height, or its lines' median height
    letters: float  # its lines' median height


def reading_order(regions: list[Region]) -> list[int]:
    """Indices of ``regions`` in the order a person reads them: a heading first, then
    recursively cut into rows or columns along the whitespace between them."""
    indices = list(range(len(regions)))
    first = heading_of(regions)
    if first is not None:
        indices.remove(first)
        return [first, *_cut(regions, indices)]
    return _cut(regions, indices)


def heading_of(regions: list[Region]) -> int | None:
    """The region that opens the board: the topmost, alone in its band (nothing else
    beside it), with something below."""
    if len(regions) < 2:
        return None
    top = min(range(len(regions)), key=lambda i: regions[i].y0)
    head = regions[top]
    beside = [r for i, r in enumerate(regions) if i != top and r.y0 < head.y1 - 0.25 * head.height]
    return None if beside else top


def _gaps(intervals: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Where the union of ``intervals`` has a gap: each gap's middle and width."""
    ordered = sorted(intervals)
    gaps = []
    reach = ordered[0][1]
    for start, end in ordered[1:]:
        if start > reach:
            gaps.append(((reach + start) / 2, start - reach))
        reach = max(reach, end)
    return gaps


def _split(regions: list[Region], indices: list[int], axis: str) -> tuple[list[list[int]], float]:
    """``indices`` split at every gap along ``axis`` ("y": rows, "x": columns), and the
    narrowest of those gaps."""

    def span(i: int) -> tuple[float, float]:
        r = regions[i]
        return (r.y0, r.y1) if axis == "y" else (r.x0, r.x1)

    gaps = _gaps([span(i) for i in indices])
    groups: list[list[int]] = [[] for _ in range(len(gaps) + 1)]
    for i in indices:
        start = span(i)[0]
        groups[sum(start > middle for middle, _ in gaps)].append(i)
    return [g for g in groups if g], min((width for _, width in gaps), default=0.0)


# Blocks line up in a row if their middles are within ROW_ALIGNMENT of their heights
# (cards pinned in a row, notes stuck in a row), in a column if their left edges or
# middles are within COLUMN_ALIGNMENT (bullets written down a column, cards pinned in a
# column). Two close bullets in neighbouring columns of a flipchart are often 0.7 line
# heights apart; a row of notes, 0.1.
ROW_ALIGNMENT = 0.5
COLUMN_ALIGNMENT = 1.0


def _aligned_share(regions: list[Region], groups: list[list[int]], axis: str) -> float | None:
    """Of the regions in groups of two or more, the share lined up with their group: in a
    row ("y") by their middles, in a column ("x") by their left edges or middles."""
    aligned = counted = 0
    for group in groups:
        if len(group) < 2:
            continue
        height = float(np.median([regions[i].height for i in group]))
        if axis == "y":
            middles = [(regions[i].y0 + regions[i].y1) / 2 for i in group]
            typical = float(np.median(middles))
            aligned += sum(abs(m - typical) <= ROW_ALIGNMENT * height for m in middles)
        else:
            lefts = [regions[i].x0 for i in group]
            middles = [(regions[i].x0 + regions[i].x1) / 2 for i in group]
            left, middle = float(np.median(lefts)), float(np.median(middles))
            tolerance = COLUMN_ALIGNMENT * height
            aligned += sum(
                abs(a - left) <= tolerance or abs(m - middle) <= tolerance
                for a, m in zip(lefts, middles, strict=True)
            )
        counted += len(group)
    return aligned / counted if counted else None


def _cut(regions: list[Region], indices: list[int]) -> list[int]:
    """Recursive cuts along the whitespace between regions, into rows or columns."""
    if len(indices) <= 1:
        return indices
    rows, row_gap = _split(regions, indices, "y")
    columns, column_gap = _split(regions, indices, "x")
    if len(rows) == 1 and len(columns) == 1:
        return _by_rows(regions, indices)
    if len(rows) == 1 or len(columns) == 1:
        groups = rows if len(rows) > 1 else columns
    elif _rows_first(regions, (rows, row_gap), (columns, column_gap)):
        groups = rows
    else:
        groups = columns
    return [i for group in groups for i in _cut(regions, group)]


# Of two ways to cut, one whose narrowest gap is this many times wider is the board's
# structure: columns of cards far apart with cards close together in each, rows of notes
# far apart with the notes close together in each.
WIDER_GAP = 2.0


def _rows_first(
    regions: list[Region],
    rows: tuple[list[list[int]], float],
    columns: tuple[list[list[int]], float],
) -> bool:
    """Whether to read rows first: the blocks line up better in rows than in columns; if
    as well, the gaps between rows are much wider (or narrower); if alike, the cut into
    fewer, longer groups (two columns of bullets rather than many rows of two)."""
    by_rows = round(_aligned_share(regions, rows[0], "y") or 0.0, 1)
    by_columns = round(_aligned_share(regions, columns[0], "x") or 0.0, 1)
    if by_rows != by_columns:
        return by_rows > by_columns
    if rows[1] >= WIDER_GAP * columns[1] or columns[1] >= WIDER_GAP * rows[1]:
        return rows[1] > columns[1]
    return len(rows[0]) <= len(columns[0])


def _by_rows(regions: list[Region], indices: list[int]) -> list[int]:
    """Regions that no straight cut separates: in rows of overlapping regions, top to
    bottom, left to right in a row."""
    rows: list[list[int]] = []
    for i in sorted(indices, key=lambda i: (regions[i].y0 + regions[i].y1) / 2):
        r = regions[i]
        if rows and (r.y0 + r.y1) / 2 < max(regions[j].y1 for j in rows[-1]):
            rows[-1].append(i)
        else:
            rows.append([i])
    return [i for row in rows for i in sorted(row, key=lambda i: regions[i].x0)]


# -- all steps -------------------------------------------------------------------------------


# The detector grows each line's box beyond the writing by about a third of the box's
# height on every side (PP-OCR's unclip ratio, 1.6); for the cuts between blocks the
# boxes are taken in by this share of their height, so that the margins of two close
# columns do not hide the gap between them.
DETECTOR_MARGIN = 0.2


def region_of(block: list[Placed]) -> Region:
    heights = [p.height for p in block]
    card = block[0].card
    if card is not None:
        x, y, w, h = card
        return Region(x, y, x + w, y + h, float(h), float(np.median(heights)))
    margin = DETECTOR_MARGIN * min(heights)
    return Region(
        min(p.x0 for p in block) + margin,
        min(p.y0 for p in block) + margin,
        max(p.x1 for p in block) - margin,
        max(p.y1 for p in block) - margin,
        float(np.median(heights)),
        float(np.median(heights)),
    )


def kind_of(block: list[Placed], is_heading: bool) -> str:
    if is_heading:
        return "heading"
    if block[0].card is not None:
        return "card"
    if block[0].bulleted:
        return "bullet"
    return "paragraph"


def arrange(lines: list[Line], image: np.ndarray) -> tuple[list[Line], list[Block]]:
    """``lines`` (in pixels of ``image``, the rectified sheet) in reading order, and the
    blocks they form: indices into that order, each block's box its card's or its lines'."""
    kept = drop_garbage(lines, image)
    parts = [split_at_inner_bullets(line, image) for line in kept]
    kept = [part for found in parts for part in found]
    marked = [k > 0 for found in parts for k in range(len(found))]
    if not kept:
        return [], []
    cards = find_cards(paper_of(image), [line.bbox for line in kept])
    items = [
        placed(i, line, card, image, mark)
        for i, (line, card, mark) in enumerate(zip(kept, cards, marked, strict=True))
    ]
    groups = [lines_in_order(group) for group in group_lines(items)]
    regions = [region_of(group) for group in groups]
    order = reading_order(regions)
    heading = _heading_kind(regions, order, groups)
    ordered: list[Line] = []
    blocks: list[Block] = []
    for position, g in enumerate(order):
        members = [kept[p.index] for p in groups[g]]
        first = len(ordered)
        ordered += members
        kind = kind_of(groups[g], position == 0 and heading)
        box = _card_box(groups[g][0].card, image) or enclosing(line.bbox for line in members)
        blocks.append(Block(box, tuple(range(first, len(ordered))), kind))
    return ordered, blocks


def _card_box(card: BBox | None, image: np.ndarray) -> BBox | None:
    """A card's box, inside the sheet."""
    if card is None:
        return None
    x, y, w, h = card
    height, width = image.shape[:2]
    x0, y0 = max(x, 0), max(y, 0)
    x1, y1 = min(x + w, width), min(y + h, height)
    return (x0, y0, x1 - x0, y1 - y0) if x1 > x0 and y1 > y0 else None


def _heading_kind(regions: list[Region], order: list[int], groups: list[list[Placed]]) -> bool:
    """Whether the first block is a heading: alone at the top, not a bullet, its letters
    taller than the rest's, or a card much wider than the rest (a title card)."""
    if len(order) < 2 or heading_of(regions) != order[0] or groups[order[0]][0].bulleted:
        return False
    first, rest = regions[order[0]], [regions[i] for i in order[1:]]
    if first.letters >= HEADING_SIZE * float(np.median([r.letters for r in rest])):
        return True
    width = float(np.median([r.x1 - r.x0 for r in rest]))
    return groups[order[0]][0].card is not None and first.x1 - first.x0 >= HEADING_WIDTH * width
