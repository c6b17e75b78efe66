"""Shared fixtures: the committed samples with their ground truth, and small made-up photos."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from flipchart_ocr.templates import Template, load_templates

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples"
DEJAVU = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"


def sample_truths() -> list[tuple[Path, dict]]:
    pairs = []
    for truth_path in sorted(SAMPLES.glob("*.truth.json")):
        truth = json.loads(truth_path.read_text(encoding="utf-8"))
        pairs.append((SAMPLES / truth["photo"], truth))
    return pairs


@pytest.fixture(scope="session")
def templates() -> dict[str, Template]:
    return load_templates()


def render_sheet(template: Template, texts: dict[str, list[str]], height: int = 1400) -> np.ndarray:
    """A clean printed template with typed 'handwriting': a sheet whose content we know."""
    width = int(height * (template.aspect or 0.7))
    image = Image.new("RGB", (width, height), (246, 245, 240))
    draw = ImageDraw.Draw(image)
    small = ImageFont.truetype(DEJAVU, max(12, height // 50))
    big = ImageFont.truetype(DEJAVU, max(16, height // 28))
    for printed in template.printed:
        x, y, _, _ = printed.box
        draw.text((x * width, y * height), printed.text, font=small, fill=(0, 0, 0))
    for field in template.fields:
        x, y, w, h = field.box
        draw.rectangle(
            [x * width, y * height, (x + w) * width, (y + h) * height],
            outline=(25, 25, 25),
            width=3,
        )
        draw.text((x * width + 8, y * height + 6), field.label, font=small, fill=(0, 0, 0))
        for i, line in enumerate(texts.get(field.id, [])):
            top = (y + field.label_height) * height + 15 + i * big.size * 1.6
            draw.text((x * width + 25, top), line, font=big, fill=(20, 40, 160))
    return cv2.cvtColor(np.array(image), cv2.COLOR_RGB2BGR)


def place_in_photo(
    sheet: np.ndarray, corners: list[list[float]], size: tuple[int, int]
) -> np.ndarray:
    """Warp a sheet onto a plain dark background at the given corners (clockwise from top-left)."""
    height, width = sheet.shape[:2]
    photo = np.full((size[1], size[0], 3), (85, 100, 120), np.uint8)
    source = np.float32([[0, 0], [width, 0], [width, height], [0, height]])
    matrix = cv2.getPerspectiveTransform(source, np.float32(corners))
    return cv2.warpPerspective(sheet, matrix, size, dst=photo, borderMode=cv2.BORDER_TRANSPARENT)
