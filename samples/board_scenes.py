"""Freeform boards for generated photos: flipcharts, pinboards of cards, rows of notes.

Each scene is drawn on a flat canvas and comes with its truth in reading order: the
text lines, grouped into blocks (a heading, a bullet with its continuation line, a
card, a sticky note), blocks in the order a person reads the board (heading first,
then top to bottom and left to right, a column of cards kept together). What must
yield no text (arrows, drawings, voting dots, pins, a struck-through item) is listed
as marks, so that a benchmark can count the lines read from them.

The handwriting comes from the caller's pens (a font or a real hand), see ``Pen``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import cv2
import numpy as np
from PIL import Image, ImageDraw

Point = tuple[float, float]
Quad = list[Point]  # four corners, clockwise from top-left, in canvas pixels
RGB = tuple[int, int, int]
Box = tuple[float, float, float, float]  # x0, y0, x1, y1

HEADINGS = [
    "Ideen für den Stadtteil",
    "Was nehmen wir mit?",
    "Nächste Schritte",
    "Themenspeicher",
    "Erwartungen",
    "Unsere Ziele",
    "Offene Fragen",
    "Was brauchen wir?",
    "Stärken und Schwächen",
    "Feedback",
    "Brainstorming",
    "Zukunftswerkstatt",
    "Parkplatz",
    "Wünsche für 2027",
    "Kick-off Quartiersrat",
]
# Short card texts, German with the English terms workshops use (never to be Germanised).
CARD_TEXTS = [
    "mehr Grün",
    "Spielplatz sanieren",
    "Nachbarschaftsfest",
    "Café für alle",
    "Sprachkurse",
    "Team-Building",
    "Workshop im Mai",
    "Follow-up Termin",
    "Open Space",
    "Best Practice sammeln",
    "Networking",
    "Deadline klären",
    "Feedback einholen",
    "Homepage",
    "Newsletter",
    "Know-how teilen",
    "Bürgerbüro",
    "Fahrradwege",
    "Bänke am Markt",
    "Lesepaten",
    "Repair-Café",
    "Tauschbörse",
    "Jugendtreff öffnen",
    "Müll vermeiden",
    "Straßenfest",
    "Seniorentreff",
    "Hausaufgabenhilfe",
    "Begegnungsort",
    "Meeting planen",
    "Timeline",
]
CARD_COLOURS: list[RGB] = [
    (250, 250, 247),  # white
    (252, 236, 120),  # yellow
    (160, 215, 150),  # green
    (150, 195, 235),  # blue
    (245, 170, 190),  # pink
    (250, 190, 110),  # orange
    (205, 235, 120),  # light green
]
BOARD_SURFACES: list[RGB] = [
    (185, 150, 105),  # brown wrapping paper
    (150, 155, 160),  # grey felt
    (95, 130, 165),  # blue felt
    (175, 140, 95),  # cork
    (225, 222, 212),  # white paper on the board
]
WALLS: list[RGB] = [(230, 226, 215), (215, 212, 205), (238, 238, 236), (200, 205, 210)]
DOT_COLOURS: list[RGB] = [(220, 40, 40), (40, 160, 60), (40, 90, 200), (240, 200, 30)]
PIN_COLOURS: list[RGB] = [
    (200, 30, 30),
    (30, 60, 180),
    (30, 140, 50),
    (230, 190, 20),
    (240, 240, 240),
]


class Pen(Protocol):
    """Handwriting that can write lines of its own choosing (a font, a real hand)."""

    @property
    def line_height(self) -> float: ...

    def width(self, text: str) -> float: ...

    def phrases(
        self, rng: np.random.Generator, pool: list[str], count: int, max_width: float
    ) -> list[str]: ...

    def write_line(self, image: Image.Image, x: float, top: float, text: str, ink: RGB) -> Box: ...


# A new pen whose lower-case letters are this many pixels tall.
PenMaker = Callable[[float, np.random.Generator], Pen]


@dataclass
class TruthLine:
    text: str
    quad: Quad


@dataclass
class TruthBlock:
    kind: str  # "heading", "bullet", "card", "note"
    lines: list[TruthLine] = field(default_factory=list)


@dataclass
class Mark:
    """Ink that is not text: a benchmark counts the lines read from it as garbage."""

    kind: str  # "arrow", "drawing", "dots", "pin", "strike"
    quad: Quad
    text: str = ""  # the struck-through words, for reference


@dataclass
class Board:
    kind: str  # "flipchart", "pinboard", "notes"
    image: Image.Image
    blocks: list[TruthBlock]
    marks: list[Mark]
    content: Box  # where the blocks and marks lie, for framing a board bigger than the frame
    oversize: bool  # the photo shows only part of the board: no outline to find

    def to_truth(self, to_photo: Callable[[Quad], Quad]) -> dict:
        """Blocks and marks with their quads mapped into the photo by ``to_photo``."""

        def quad(q: Quad) -> list[list[float]]:
            return [[round(float(x), 1), round(float(y), 1)] for x, y in to_photo(q)]

        return {
            "blocks": [
                {
                    "kind": block.kind,
                    "lines": [{"text": ln.text, "quad": quad(ln.quad)} for ln in block.lines],
                }
                for block in self.blocks
            ],
            "marks": [
                {"kind": m.kind, "quad": quad(m.quad), **({"text": m.text} if m.text else {})}
                for m in self.marks
            ],
        }

    def text(self) -> str:
        """All lines in reading order, one per line."""
        return "\n".join(line.text for block in self.blocks for line in block.lines)


def box_quad(box: Box) -> Quad:
    x0, y0, x1, y1 = box
    return [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]


def quad_box(quads: list[Quad]) -> Box:
    xs = [x for q in quads for x, _ in q]
    ys = [y for q in quads for _, y in q]
    return (min(xs), min(ys), max(xs), max(ys))


def pick(rng: np.random.Generator, items: list):  # noqa: ANN201 - any list's element
    return items[int(rng.integers(len(items)))]


# -- marks: ink that is not text -------------------------------------------------------------


def draw_arrow(
    draw: ImageDraw.ImageDraw, start: Point, end: Point, ink: RGB, width: int, bend: float
) -> Quad:
    """A hand-drawn arrow, bowed by ``bend`` (share of its length); returns its box."""
    (x0, y0), (x1, y1) = start, end
    length = math.hypot(x1 - x0, y1 - y0)
    normal = ((y0 - y1) / length, (x1 - x0) / length)
    mid = ((x0 + x1) / 2 + normal[0] * bend * length, (y0 + y1) / 2 + normal[1] * bend * length)
    points = [
        (
            (1 - t) ** 2 * x0 + 2 * (1 - t) * t * mid[0] + t**2 * x1,
            (1 - t) ** 2 * y0 + 2 * (1 - t) * t * mid[1] + t**2 * y1,
        )
        for t in np.linspace(0, 1, 24)
    ]
    draw.line(points, fill=ink, width=width, joint="curve")
    tail = points[-4]
    angle = math.atan2(y1 - tail[1], x1 - tail[0])
    head = max(length * 0.12, width * 4)
    for turn in (2.6, -2.6):
        tip = (x1 + head * math.cos(angle + turn), y1 + head * math.sin(angle + turn))
        draw.line([(x1, y1), tip], fill=ink, width=width)
    xs = [p[0] for p in points]
    ys = [p[1] for p in points]
    pad = head * 0.6
    return box_quad((min(xs) - pad, min(ys) - pad, max(xs) + pad, max(ys) + pad))


def draw_dots(
    draw: ImageDraw.ImageDraw,
    x: float,
    y: float,
    count: int,
    radius: float,
    rng: np.random.Generator,
) -> Quad:
    """Sticky voting dots in a loose row starting at (x, y); returns their box."""
    colour = pick(rng, DOT_COLOURS)
    cx = x + radius
    lowest, highest = y, y
    for _ in range(count):
        cy = y + radius + rng.normal(0, radius * 0.3)
        draw.ellipse([cx - radius, cy - radius, cx + radius, cy + radius], fill=colour)
        lowest, highest = min(lowest, cy - radius), max(highest, cy + radius)
        cx += radius * rng.uniform(2.1, 2.6)
    return box_quad((x, lowest, cx - radius * 1.1, highest))


def draw_picture(
    draw: ImageDraw.ImageDraw, box: Box, ink: RGB, width: int, rng: np.random.Generator
) -> Quad:
    """A small marker drawing in ``box``: smiley, sun, light bulb, house, heart or cloud."""
    x0, y0, x1, y1 = box
    cx, cy, r = (x0 + x1) / 2, (y0 + y1) / 2, min(x1 - x0, y1 - y0) / 2
    kind = pick(rng, ["smiley", "sun", "bulb", "house", "heart", "cloud"])
    if kind == "smiley":
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], outline=ink, width=width)
        for dx in (-0.35, 0.35):
            draw.ellipse(
                [cx + dx * r - r * 0.08, cy - r * 0.35, cx + dx * r + r * 0.08, cy - r * 0.15],
                fill=ink,
            )
        draw.arc(
            [cx - r * 0.55, cy - r * 0.45, cx + r * 0.55, cy + r * 0.6],
            20,
            160,
            fill=ink,
            width=width,
        )
    elif kind == "sun":
        draw.ellipse(
            [cx - r * 0.5, cy - r * 0.5, cx + r * 0.5, cy + r * 0.5], outline=ink, width=width
        )
        for k in range(8):
            a = k * math.pi / 4
            draw.line(
                [
                    (cx + r * 0.65 * math.cos(a), cy + r * 0.65 * math.sin(a)),
                    (cx + r * math.cos(a), cy + r * math.sin(a)),
                ],
                fill=ink,
                width=width,
            )
    elif kind == "bulb":
        draw.ellipse([cx - r * 0.55, cy - r, cx + r * 0.55, cy + r * 0.2], outline=ink, width=width)
        draw.rectangle(
            [cx - r * 0.25, cy + r * 0.2, cx + r * 0.25, cy + r * 0.6], outline=ink, width=width
        )
        for a in (-2.4, -1.57, -0.7):
            draw.line(
                [
                    (cx + r * 0.7 * math.cos(a), cy - r * 0.4 + r * 0.7 * math.sin(a)),
                    (cx + r * math.cos(a), cy - r * 0.4 + r * math.sin(a)),
                ],
                fill=ink,
                width=width,
            )
    elif kind == "house":
        draw.rectangle(
            [cx - r * 0.6, cy - r * 0.1, cx + r * 0.6, cy + r * 0.9], outline=ink, width=width
        )
        draw.line(
            [(cx - r * 0.8, cy), (cx, cy - r * 0.9), (cx + r * 0.8, cy)], fill=ink, width=width
        )
        draw.rectangle(
            [cx - r * 0.15, cy + r * 0.4, cx + r * 0.15, cy + r * 0.9], outline=ink, width=width
        )
    elif kind == "heart":
        draw.ellipse([cx - r * 0.9, cy - r * 0.7, cx, cy + r * 0.1], outline=ink, width=width)
        draw.ellipse([cx, cy - r * 0.7, cx + r * 0.9, cy + r * 0.1], outline=ink, width=width)
        draw.line(
            [(cx - r * 0.85, cy - r * 0.1), (cx, cy + r * 0.9), (cx + r * 0.85, cy - r * 0.1)],
            fill=ink,
            width=width,
        )
    else:  # cloud
        for dx, dy, s in ((-0.5, 0.1, 0.45), (0.0, -0.2, 0.55), (0.5, 0.1, 0.45)):
            draw.ellipse(
                [cx + (dx - s) * r, cy + (dy - s) * r, cx + (dx + s) * r, cy + (dy + s) * r],
                outline=ink,
                width=width,
            )
    return box_quad((x0 - width, y0 - width, x1 + width, y1 + width))


def strike_through(
    draw: ImageDraw.ImageDraw, box: Box, ink: RGB, width: int, rng: np.random.Generator
) -> None:
    """Cross out the writing in ``box``: one or two strokes, or a zigzag."""
    x0, y0, x1, y1 = box
    middle = (y0 + y1) / 2
    style = pick(rng, ["line", "double", "zigzag"])
    if style == "zigzag":
        steps = max(int((x1 - x0) / ((y1 - y0) * 0.5)), 3)
        points = [
            (x0 + (x1 - x0) * k / steps, middle + (y1 - y0) * (0.25 if k % 2 else -0.25))
            for k in range(steps + 1)
        ]
        draw.line(points, fill=ink, width=width, joint="curve")
        return
    for offset in (-0.08, 0.12) if style == "double" else (0.0,):
        slope = rng.normal(0, 0.04) * (x1 - x0)
        y = middle + offset * (y1 - y0)
        draw.line([(x0 - width, y - slope / 2), (x1 + width, y + slope / 2)], fill=ink, width=width)


# -- flipchart: heading, bullets, two colours ------------------------------------------------


@dataclass
class Flipchart:
    """Layout state while bullets are written down a flipchart's columns."""

    image: Image.Image
    draw: ImageDraw.ImageDraw
    blocks: list[TruthBlock] = field(default_factory=list)
    marks: list[Mark] = field(default_factory=list)


def flipchart(
    rng: np.random.Generator, new_pen: PenMaker, inks: dict[str, RGB], statements: list[str]
) -> Board:
    """A flipchart in two colours: a heading (often underlined), bullets in one or two
    columns, voting dots after some items, an arrow, a drawing, sometimes an item
    crossed out."""
    width, height = 1400, int(1400 / rng.uniform(0.68, 0.8))
    tint = int(rng.integers(238, 252))
    paper = (tint, tint - int(rng.integers(0, 5)), tint - int(rng.integers(0, 9)))
    image = Image.new("RGB", (width, height), paper)
    chart = Flipchart(image, ImageDraw.Draw(image))
    names = list(inks)
    first, second = names[0], names[-1]  # heading and glyphs in one, items in the other
    x_height = height * rng.uniform(0.02, 0.03)
    marker = max(int(x_height * 0.18), 2)
    heading_pen = new_pen(x_height * rng.uniform(1.3, 1.7), rng)
    top = write_heading(chart, rng, heading_pen, inks[first], marker)
    columns = 2 if rng.random() < 0.3 else 1
    margin = width * 0.06
    column_width = (width - 2 * margin) / columns
    # one column leaves a strip on the right for the dots, the arrow and the drawing
    text_width = column_width * (0.94 if columns == 2 else rng.uniform(0.62, 0.72))
    pen = new_pen(x_height, rng)
    deck = [statements[i] for i in rng.permutation(len(statements))]
    struck = int(rng.integers(1, 5)) if rng.random() < 0.6 else -1
    for column in range(columns):
        area = (margin + column * column_width, top, text_width, height * 0.95)
        write_bullets(chart, rng, pen, area, (inks[second], inks[first]), marker, deck, struck)
        struck = -1  # one crossed-out item is enough
    if columns == 1:
        strip = (margin + text_width, top, width - margin, height * 0.95)
    else:
        lowest = max(quad_box([ln.quad for ln in b.lines])[3] for b in chart.blocks)
        strip = (width * 0.55, lowest + x_height * 2, width - margin, height * 0.95)
    add_side_marks(chart, rng, strip, inks[first], marker)
    everything = [ln.quad for b in chart.blocks for ln in b.lines] + [m.quad for m in chart.marks]
    return Board("flipchart", image, chart.blocks, chart.marks, quad_box(everything), False)


def write_heading(
    chart: Flipchart, rng: np.random.Generator, pen: Pen, ink: RGB, marker: int
) -> float:
    """The heading at the top, centred or left; returns where the bullets may start."""
    width = chart.image.width
    top = chart.image.height * rng.uniform(0.03, 0.06)
    block = TruthBlock("heading")
    for text in pen.phrases(rng, [pick(rng, HEADINGS)], 1, width * 0.86):
        left = (width - pen.width(text)) / 2 if rng.random() < 0.5 else width * 0.06
        box = pen.write_line(chart.image, left, top, text, ink)
        block.lines.append(TruthLine(text, box_quad(box)))
        if rng.random() < 0.6:  # underlined, as headings on flipcharts often are
            y = box[3] + marker * 2
            end = (box[2], y + rng.normal(0, marker))
            chart.draw.line([(box[0], y), end], fill=ink, width=marker + 1)
        top = box[3] + pen.line_height * 0.3
    if block.lines:
        chart.blocks.append(block)
    return top + pen.line_height * 0.6


def write_bullets(
    chart: Flipchart,
    rng: np.random.Generator,
    pen: Pen,
    area: Box,
    inks: tuple[RGB, RGB],
    marker: int,
    deck: list[str],
    struck: int,
) -> None:
    """Bullets down one column (``area``: left, top, text width, floor) until it is full,
    texts from ``deck``; item number ``struck`` is crossed out (a mark, not text)."""
    left, top, text_width, floor = area
    ink, glyph_ink = inks
    glyph = pick(rng, ["dot", "dash", "arrow", "star"])
    indent = pen.line_height * 0.9
    for item in range(7):
        if top + pen.line_height * 2.5 > floor or not deck:
            break
        pool = [deck.pop() for _ in range(min(1 + int(rng.random() < 0.35), len(deck)))]
        lines = pen.phrases(rng, pool, len(pool), text_width - indent)
        if not lines:
            break
        middle = top + pen.line_height * 0.45
        bullet_glyph(chart.draw, glyph, left, middle, pen.line_height * 0.35, glyph_ink, marker)
        block = TruthBlock("bullet")
        for text in lines:
            box = pen.write_line(chart.image, left + indent, top, text, ink)
            block.lines.append(TruthLine(text, box_quad(box)))
            top = box[3] + pen.line_height * 0.15
        if item == struck:
            written = quad_box([ln.quad for ln in block.lines])
            strike_through(chart.draw, written, ink, marker + 1, rng)
            words = " ".join(ln.text for ln in block.lines)
            chart.marks.append(Mark("strike", box_quad(written), words))
        else:
            chart.blocks.append(block)
        top += pen.line_height * rng.uniform(0.35, 0.9)


def bullet_glyph(
    draw: ImageDraw.ImageDraw, glyph: str, x: float, y: float, size: float, ink: RGB, marker: int
) -> None:
    if glyph == "dot":
        r = size * 0.3
        draw.ellipse([x - r + size / 2, y - r, x + r + size / 2, y + r], fill=ink)
    elif glyph == "dash":
        draw.line([(x, y), (x + size, y)], fill=ink, width=marker + 1)
    elif glyph == "arrow":
        draw.line([(x, y), (x + size, y)], fill=ink, width=marker)
        draw.line(
            [(x + size * 0.6, y - size * 0.35), (x + size, y), (x + size * 0.6, y + size * 0.35)],
            fill=ink,
            width=marker,
        )
    else:  # star: three crossing strokes
        for a in (0, math.pi / 3, 2 * math.pi / 3):
            dx, dy = math.cos(a) * size / 2, math.sin(a) * size / 2
            draw.line(
                [(x + size / 2 - dx, y - dy), (x + size / 2 + dx, y + dy)], fill=ink, width=marker
            )


def add_side_marks(
    chart: Flipchart, rng: np.random.Generator, strip: Box, ink: RGB, marker: int
) -> None:
    """In the free ``strip`` beside or below the bullets: voting dots at some items (beside
    the strip's items only), an arrow, a drawing."""
    x0, y0, x1, y1 = strip
    beside = [b for b in chart.blocks if b.kind == "bullet" and quad_box([b.lines[0].quad])[2] < x0]
    for block in beside:
        if rng.random() < 0.4:
            box = quad_box([block.lines[0].quad])
            radius = (box[3] - box[1]) * 0.22
            dots = draw_dots(
                chart.draw, x0 + (x1 - x0) * 0.05, box[1], int(rng.integers(1, 5)), radius, rng
            )
            chart.marks.append(Mark("dots", dots))
    if len(beside) >= 2 and rng.random() < 0.7:  # an arrow linking two items
        a, b = (quad_box([blk.lines[0].quad]) for blk in (beside[0], beside[-1]))
        start = (x0 + (x1 - x0) * 0.6, (a[1] + a[3]) / 2)
        end = (x0 + (x1 - x0) * 0.6, (b[1] + b[3]) / 2)
        if abs(end[1] - start[1]) > marker * 10:
            bend = rng.uniform(-0.25, -0.1)
            chart.marks.append(Mark("arrow", draw_arrow(chart.draw, start, end, ink, marker, bend)))
    lowest = max((quad_box([m.quad])[3] for m in chart.marks), default=y0)
    size = min((x1 - x0) * 0.6, (y1 - lowest) * 0.8)
    if size > marker * 15 and rng.random() < 0.8:
        top = rng.uniform(lowest, y1 - size)
        left = rng.uniform(x0, x1 - size)
        picture = draw_picture(chart.draw, (left, top, left + size, top + size), ink, marker, rng)
        chart.marks.append(Mark("drawing", picture))


# -- cards: pinboards and rows of sticky notes -----------------------------------------------


@dataclass
class Card:
    """A card or note before it is pinned: its picture and its lines' boxes on it."""

    tile: Image.Image
    shape: Image.Image  # "L" mask of the card's outline
    lines: list[tuple[str, Box]]


def write_card(
    rng: np.random.Generator,
    new_pen: PenMaker,
    size: tuple[int, int],
    colour: RGB,
    ink: RGB,
    deck: list[str],
    oval: bool = False,
) -> Card:
    """A card of ``size`` in ``colour`` with one to three lines written large across it,
    the texts taken from ``deck`` (so that no two cards say the same)."""
    width, height = size
    tile = Image.new("RGB", size, colour)
    shape = Image.new("L", size, 0)
    outline = ImageDraw.Draw(shape)
    if oval:
        outline.ellipse([0, 0, width - 1, height - 1], fill=255)
    else:
        outline.rectangle([0, 0, width - 1, height - 1], fill=255)
    room = width * (0.7 if oval else 0.86)
    pool = [deck.pop() for _ in range(min(int(rng.choice([1, 1, 2])), len(deck)))]
    words = [word for text in pool for word in text.split()]
    lines = min(max(len(words), 1), 3)  # at worst a word a line
    # letters as large as the card allows: a card is written to be read from afar
    x_height = min(height * 0.8 / (lines * 2.65 * 1.1), height * 0.2) * rng.uniform(0.8, 1.0)
    for _ in range(10):  # smaller until every line fits on the card
        pen = new_pen(x_height, rng)
        texts = pen.phrases(rng, pool, lines, room) if pool else []
        fits = all(pen.width(text) <= room for text in texts)
        if texts and fits and len(texts) * pen.line_height * 1.1 <= height * 0.92:
            break
        x_height *= 0.87
    top = (height - len(texts) * pen.line_height * 1.1) / 2
    lines = []
    for text in texts:
        left = max((width - pen.width(text)) / 2 + rng.normal(0, width * 0.02), width * 0.04)
        box = pen.write_line(tile, left, top, text, ink)
        lines.append((text, box))
        top += pen.line_height * 1.1
    return Card(tile, shape, lines)


def pin_card(board: Image.Image, card: Card, centre: Point, angle: float) -> Callable[[Quad], Quad]:
    """Paste ``card`` onto ``board`` turned by ``angle`` degrees around ``centre``, with a
    soft shadow; returns the map from card pixels to board pixels."""
    w, h = card.tile.size
    reach = int(math.hypot(w, h) / 2 + h * 0.2)  # the turned card and its shadow
    x0, y0 = max(int(centre[0]) - reach, 0), max(int(centre[1]) - reach, 0)
    x1, y1 = min(int(centre[0]) + reach, board.width), min(int(centre[1]) + reach, board.height)
    rotation = cv2.getRotationMatrix2D((w / 2, h / 2), -angle, 1.0)
    rotation[:, 2] += (centre[0] - w / 2 - x0, centre[1] - h / 2 - y0)  # into the patch

    def warp(picture: np.ndarray) -> np.ndarray:
        return cv2.warpAffine(picture, rotation, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR)

    shape = warp(np.asarray(card.shape)).astype(np.float32) / 255.0
    lifted = np.roll(shape, (int(h * 0.04), int(h * 0.03)), axis=(0, 1))
    shadow = cv2.GaussianBlur(lifted, (0, 0), h * 0.03)
    patch = np.asarray(board.crop((x0, y0, x1, y1)), np.float32)
    patch *= 1.0 - 0.35 * shadow[:, :, None]
    tile = warp(np.asarray(card.tile)).astype(np.float32)
    patch = patch * (1.0 - shape[:, :, None]) + tile * shape[:, :, None]
    board.paste(Image.fromarray(np.clip(patch, 0, 255).astype(np.uint8)), (x0, y0))
    rotation[:, 2] += (x0, y0)  # from now on: card pixels to board pixels

    def to_board(quad: Quad) -> Quad:
        points = np.array(quad, np.float32).reshape(-1, 1, 2)
        return [tuple(p) for p in cv2.transform(points, rotation).reshape(-1, 2).tolist()]

    return to_board


def draw_pin(
    draw: ImageDraw.ImageDraw, x: float, y: float, radius: float, rng: np.random.Generator
) -> Quad:
    colour = pick(rng, PIN_COLOURS)
    draw.ellipse(
        [x - radius + radius * 0.4, y - radius + radius * 0.5, x + radius * 1.4, y + radius * 1.5],
        fill=(60, 55, 50),
    )
    draw.ellipse(
        [x - radius, y - radius, x + radius, y + radius], fill=colour, outline=(40, 40, 40)
    )
    draw.ellipse(
        [x - radius * 0.45, y - radius * 0.55, x - radius * 0.05, y - radius * 0.15],
        fill=(255, 255, 255),
    )
    return box_quad((x - radius, y - radius, x + radius * 1.4, y + radius * 1.5))


def surface(
    size: tuple[int, int], colour: RGB, rng: np.random.Generator, grain: float
) -> Image.Image:
    """A board or wall: a colour with a fine grain and a faint large-scale unevenness."""
    width, height = size
    base = np.array(colour, np.float32)
    fine = rng.standard_normal((height, width, 1), dtype=np.float32) * grain
    coarse = cv2.resize(
        rng.normal(0, 1, (height // 120 + 2, width // 120 + 2)).astype(np.float32), (width, height)
    )
    canvas = base[None, None, :] + fine + coarse[:, :, None] * grain * 1.5
    return Image.fromarray(np.clip(canvas, 0, 255).astype(np.uint8))


def place_card(
    board: Image.Image,
    marks: list[Mark],
    rng: np.random.Generator,
    card: Card,
    centre: Point,
    kind: str,
    pins: int,
) -> TruthBlock:
    """Pin ``card`` at ``centre`` (slightly turned) and return its block of lines."""
    to_board = pin_card(board, card, centre, rng.normal(0, 2.0))
    w, h = card.tile.size
    draw = ImageDraw.Draw(board)
    radius = h * 0.045
    spots = [(w / 2, h * 0.07)] if pins == 1 else [(w * 0.07, h * 0.1), (w * 0.93, h * 0.1)]
    for spot in spots[:pins]:
        (x, y), *_ = to_board([spot])
        marks.append(Mark("pin", draw_pin(draw, x, y, radius, rng)))
    return TruthBlock(kind, [TruthLine(text, to_board(box_quad(box))) for text, box in card.lines])


def pinboard(
    rng: np.random.Generator, new_pen: PenMaker, inks: dict[str, RGB], statements: list[str]
) -> Board:
    """Moderationskarten pinned in columns under a title card: the title first, then each
    column top to bottom, columns left to right (far apart, cards staggered, so that they
    never read as rows). Sometimes only part of the board is in the photo."""
    del statements  # cards hold short texts
    width, height = 2600, int(2600 / rng.uniform(1.25, 1.55))
    board = surface((width, height), pick(rng, BOARD_SURFACES), rng, 6.0)
    marks: list[Mark] = []
    blocks: list[TruthBlock] = []
    names = list(inks)
    deck = [CARD_TEXTS[i] for i in rng.permutation(len(CARD_TEXTS))]
    # A board bigger than the frame: the cards keep to its middle, the photo shows them
    # and not the board's edges.
    oversize = bool(rng.random() < 0.4)
    x0, x1, y1 = (0.2, 0.8, 0.8) if oversize else (0.05, 0.95, 0.96)
    card_w = int(width * (x1 - x0) * rng.uniform(0.15, 0.19))
    card_h = int(card_w * rng.uniform(0.45, 0.55))
    size = (int(card_w * 2.2), int(card_h * 1.1))
    colour, ink = pick(rng, CARD_COLOURS), inks[pick(rng, names)]
    title = write_card(rng, new_pen, size, colour, ink, [pick(rng, HEADINGS)], rng.random() < 0.5)
    top = height * (rng.uniform(0.06, 0.1) + (0.12 if oversize else 0.0))
    centre = (width * (x0 + (x1 - x0) * rng.uniform(0.25, 0.45)), top + card_h * 0.55)
    add_block(blocks, place_card(board, marks, rng, title, centre, "heading", 1))
    columns = int(rng.integers(2, 6))
    gap = (width * (x1 - x0) - columns * card_w) / max(columns - 1, 1)
    column_colour = pick(rng, CARD_COLOURS)
    for column in range(columns):
        x = width * x0 + column * (card_w + gap) + card_w / 2
        y = top + card_h * 1.6 + rng.uniform(0, card_h * 0.5)  # columns start unevenly
        for _ in range(int(rng.integers(1, 5))):
            if y + card_h > height * y1 or not deck:
                break
            colour = column_colour if rng.random() < 0.7 else pick(rng, CARD_COLOURS)
            ink = inks[pick(rng, names)]
            card = write_card(rng, new_pen, (card_w, card_h), colour, ink, deck)  # its writer
            centre = (x + rng.normal(0, card_w * 0.04), y + card_h / 2)
            pins = int(rng.integers(1, 3))
            add_block(blocks, place_card(board, marks, rng, card, centre, "card", pins))
            if rng.random() < 0.25:  # voting dots stuck beside the card
                draw = ImageDraw.Draw(board)
                spot = (centre[0] + card_w * 0.52, centre[1] - card_h * 0.3)
                count = int(rng.integers(1, 4))
                marks.append(Mark("dots", draw_dots(draw, *spot, count, card_h * 0.08, rng)))
            y += card_h * rng.uniform(1.12, 1.35)
        if column + 1 < columns and gap > card_w * 0.5 and rng.random() < 0.25:
            draw = ImageDraw.Draw(board)  # an arrow drawn on the board towards the next column
            y = top + card_h * rng.uniform(2.5, 3.5)
            start, end = (x + card_w * 0.6, y), (x + card_w * 0.4 + gap, y + card_h * 0.3)
            width_px = max(int(card_h * 0.04), 3)
            marks.append(Mark("arrow", draw_arrow(draw, start, end, ink, width_px, 0.15)))
    everything = [ln.quad for b in blocks for ln in b.lines] + [m.quad for m in marks]
    return Board("pinboard", board, blocks, marks, quad_box(everything), oversize)


def add_block(blocks: list[TruthBlock], block: TruthBlock) -> None:
    """A card left blank (a hand out of words) holds no text and is no block."""
    if block.lines:
        blocks.append(block)


def sticky_notes(
    rng: np.random.Generator, new_pen: PenMaker, inks: dict[str, RGB], statements: list[str]
) -> Board:
    """Rows of sticky notes on a wall, read row by row, left to right; rows far apart and
    staggered so that they never form columns. The wall fills the frame."""
    del statements
    width, height = 3400, 2500  # the notes keep to the middle: the wall fills the frame
    wall = surface((width, height), pick(rng, WALLS), rng, 3.0)
    marks: list[Mark] = []
    blocks: list[TruthBlock] = []
    names = list(inks)
    deck = [CARD_TEXTS[i] for i in rng.permutation(len(CARD_TEXTS))]
    note = int(width * rng.uniform(0.06, 0.075))
    rows = int(rng.integers(1, 4))
    pitch = note * rng.uniform(1.6, 2.0)
    y = (height - (rows - 1) * pitch - note) / 2
    for _ in range(rows):
        x = width * 0.27 + rng.uniform(0, note * 0.6)
        for _ in range(int(rng.integers(3, 7))):
            if not deck:
                break
            colour, ink = pick(rng, CARD_COLOURS[1:]), inks[pick(rng, names)]
            card = write_card(rng, new_pen, (note, note), colour, ink, deck)
            centre = (x + note / 2, y + note / 2 + rng.normal(0, note * 0.05))
            add_block(blocks, place_card(wall, marks, rng, card, centre, "note", 0))
            x += note * rng.uniform(1.1, 1.3)
            if x + note > width * 0.72:
                break
        if rng.random() < 0.3:  # a note-sized doodle at the row's end
            draw = ImageDraw.Draw(wall)
            box = (x + note * 0.2, y + note * 0.1, x + note, y + note * 0.9)
            stroke = max(int(note * 0.025), 2)
            picture = draw_picture(draw, box, inks[pick(rng, names)], stroke, rng)
            marks.append(Mark("drawing", picture))
        y += pitch
    everything = [ln.quad for b in blocks for ln in b.lines] + [m.quad for m in marks]
    return Board("notes", wall, blocks, marks, quad_box(everything), True)


SCENES: dict[str, Callable[..., Board]] = {
    "flipchart": flipchart,
    "pinboard": pinboard,
    "notes": sticky_notes,
}
