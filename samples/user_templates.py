"""Poster templates as users write them: invented layouts, labels printed at many sizes.

A user who writes a template measures the boxes but rarely the printed label's
height, so the YAML written here has no ``label_height``; the labels on the poster are
printed in several fonts, colours and sizes (some wrap onto two or three lines), and
the photo's truth says where each label really ends.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml
from PIL import ImageDraw, ImageFont

from flipchart_ocr.templates import Template, parse_template

DEJAVU_DIR = "/usr/share/fonts/truetype/dejavu/"
LABEL_FONTS = [
    DEJAVU_DIR + name
    for name in ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSerif.ttf", "DejaVuSerif-Bold.ttf")
]
LABEL_INKS = [(20, 20, 20), (70, 70, 70), (25, 45, 120), (130, 25, 30)]
PROMPTS = [
    ("ziele", "Unsere Ziele"),
    ("ideen", "Ideen und Vorschläge"),
    ("naechste_schritte", "Nächste Schritte"),
    ("offene_fragen", "Offene Fragen"),
    ("ressourcen", "Was brauchen wir dafür?"),
    ("beteiligte", "Wer macht mit?"),
    ("stolpersteine", "Stolpersteine und Risiken"),
    ("gut", "Was läuft schon gut?"),
    ("termine", "Termine"),
    ("ansprechpartner", "Ansprechpartner*innen"),
    ("wuensche", "Wünsche an die Verwaltung"),
    ("mitnehmen", "Was nehmen wir heute mit?"),
    ("partner", "Kooperationspartner vor Ort"),
    ("betroffene", "Wen betrifft das?"),
    ("staerken", "Stärken unseres Quartiers"),
    ("massnahmen", "Konkrete Maßnahmen und wer sie im nächsten Jahr umsetzt"),
    ("orte", "Orte, an denen wir uns treffen können"),
    ("fragen", "Fragen an die Stadtverwaltung und die Politik"),
]
TITLES = [
    "Zukunftswerkstatt Quartier Nord",
    "Workshop Nachbarschaft",
    "Bürgerforum 2027",
    "Runder Tisch Integration",
    "Open Space: Unser Stadtteil",
    "Planungswerkstatt Marktplatz",
]
# Box arrangements, none of them a built-in's: (x, y, w, h) as fractions of the sheet.
Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class LabelStyle:
    font: str
    size: float  # font size as a fraction of the sheet's height
    colour: tuple[int, int, int]
    centred: bool


@dataclass(frozen=True)
class Layout:
    template: Template
    labels: dict[str, LabelStyle]


def stacked(rng: np.random.Generator) -> tuple[float, list[Box]]:
    """Two or four prompts stacked over the whole width (the built-in has three)."""
    count = int(rng.choice([2, 4]))
    gap = rng.uniform(0.012, 0.03)
    height = (0.97 - 0.12 - gap * (count - 1)) / count
    return float(rng.uniform(0.66, 0.78)), [
        (0.04, 0.12 + i * (height + gap), 0.92, height) for i in range(count)
    ]


def grid(rng: np.random.Generator) -> tuple[float, list[Box]]:
    """Two by two prompts on a landscape sheet."""
    gap = rng.uniform(0.015, 0.03)
    w, h = (0.94 - gap) / 2, (0.84 - gap) / 2
    return float(rng.uniform(1.3, 1.5)), [
        (0.03 + c * (w + gap), 0.13 + r * (h + gap), w, h) for r in range(2) for c in range(2)
    ]


def columns(rng: np.random.Generator) -> tuple[float, list[Box]]:
    """Three columns side by side and one wide box below, landscape."""
    gap = rng.uniform(0.012, 0.025)
    w = (0.94 - 2 * gap) / 3
    top_h = rng.uniform(0.45, 0.55)
    boxes = [(0.03 + c * (w + gap), 0.12, w, top_h) for c in range(3)]
    boxes.append((0.03, 0.12 + top_h + gap, 0.94, 0.85 - top_h - gap))
    return float(rng.uniform(1.25, 1.45)), boxes


def rows(rng: np.random.Generator) -> tuple[float, list[Box]]:
    """Three rows, each a wide box on the left and a narrow one on the right."""
    gap = rng.uniform(0.012, 0.025)
    h = (0.85 - 2 * gap) / 3
    left = rng.uniform(0.5, 0.62)
    boxes = []
    for r in range(3):
        y = 0.12 + r * (h + gap)
        boxes += [(0.04, y, left, h), (0.04 + left + 0.01, y, 0.91 - left, h)]
    return float(rng.uniform(0.66, 0.76)), boxes


ARRANGEMENTS = [stacked, grid, columns, rows]


def invent_layouts(count: int, seed: int, rng: np.random.Generator) -> list[Layout]:
    """``count`` templates, each a different arrangement in turn, labels of many sizes."""
    layouts = []
    for index in range(count):
        aspect, boxes = ARRANGEMENTS[index % len(ARRANGEMENTS)](rng)
        prompts = [PROMPTS[i] for i in rng.choice(len(PROMPTS), size=len(boxes), replace=False)]
        document = {
            "id": f"workshop-{seed}-{index + 1}",
            "name": str(rng.choice(TITLES)),
            "aspect": round(aspect, 3),
            "printed": [{"text": "", "box": [0.04, 0.025, 0.92, 0.06]}],
            "fields": [
                {"id": field_id, "label": label, "box": [round(v, 4) for v in box]}
                for (field_id, label), box in zip(prompts, boxes, strict=True)
            ],
        }
        document["printed"][0]["text"] = document["name"]
        template = parse_template(document, f"<invented layout {index + 1}>")
        styles = {field_id: label_style(rng) for field_id, _ in prompts}
        layouts.append(Layout(template, styles))
    return layouts


def label_style(rng: np.random.Generator) -> LabelStyle:
    return LabelStyle(
        font=str(rng.choice(LABEL_FONTS)),
        size=float(rng.uniform(0.011, 0.036)),
        colour=tuple(int(v) for v in LABEL_INKS[int(rng.integers(len(LABEL_INKS)))]),
        centred=bool(rng.random() < 0.25),
    )


def write_yaml(layout: Layout, folder: Path) -> Path:
    """The template as its user would write it: boxes measured, no ``label_height``."""
    template = layout.template
    document = {
        "id": template.id,
        "name": template.name,
        "aspect": template.aspect,
        "printed": [{"text": p.text, "box": list(p.box)} for p in template.printed],
        "fields": [{"id": f.id, "label": f.label, "box": list(f.box)} for f in template.fields],
    }
    path = folder / f"{template.id}.yaml"
    path.write_text(
        yaml.safe_dump(document, allow_unicode=True, sort_keys=False, default_flow_style=None),
        encoding="utf-8",
    )
    return path


def wrap(text: str, font: ImageFont.FreeTypeFont, width: float) -> list[str]:
    lines: list[str] = []
    for word in text.split():
        if lines and font.getlength(f"{lines[-1]} {word}") <= width:
            lines[-1] += f" {word}"
        else:
            lines.append(word)
    return lines


def draw_label(
    draw: ImageDraw.ImageDraw, style: LabelStyle, text: str, box: Box, sheet: tuple[int, int]
) -> tuple[float, float, float, float]:
    """Print ``text`` at the top of ``box`` (sheet fractions) in ``style``, wrapped to the
    box's width; returns the ink's box in pixels (x0, y0, x1, y1)."""
    width, height = sheet
    x, y, w, _ = box
    room = w * width - 2 * 0.012 * width
    font = ImageFont.truetype(style.font, max(int(style.size * height), 9))
    lines = wrap(text, font, room)
    while len(lines) > 3 and font.size > 9:  # a long prompt in a narrow box: smaller
        font = ImageFont.truetype(style.font, font.size - 2)
        lines = wrap(text, font, room)
    top = y * height + max(style.size * height * 0.35, 4)
    ink = [float("inf"), float("inf"), 0.0, 0.0]
    for line in lines:
        left = x * width + 0.012 * width
        if style.centred:
            left = x * width + (w * width - font.getlength(line)) / 2
        draw.text((left, top), line, font=font, fill=style.colour)
        x0, y0, x1, y1 = draw.textbbox((left, top), line, font=font)
        ink = [min(ink[0], x0), min(ink[1], y0), max(ink[2], x1), max(ink[3], y1)]
        top += font.size * 1.2
    return (ink[0], ink[1], ink[2], ink[3])
