"""Real DHSD words made to look like marker on flipchart paper (numpy and OpenCV only).

DHSD split by writer: 1-21 train, 22-24 validation (checkpoint choice), 25-29 test
(never seen in training or in any choice we make).
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "samples"))
from handwords import FIXES as LABEL_FIXES  # noqa: E402
from handwords import WordImage as Word  # noqa: E402  (a DHSD word: path, text, writer)
from handwords import dhsd_words as labelled_words  # noqa: E402


def shared_folder() -> Path:
    """The project's shared/ beside the checkout (../shared), looked for upwards."""
    for parent in Path(__file__).resolve().parents:
        if (parent / "shared" / "handwriting").is_dir():
            return parent / "shared"
    raise FileNotFoundError("no shared/handwriting above this checkout")


DHSD = shared_folder() / "handwriting" / "dhsd"
TRAIN_WRITERS = range(1, 22)
VALIDATION_WRITERS = range(22, 25)
TEST_WRITERS = range(25, 30)

# Marker and pen colours (BGR): black, blue, red, green, brown, purple, orange.
INKS = [(30, 30, 30), (150, 60, 20), (40, 40, 190), (60, 120, 30), (30, 60, 100), (110, 40, 90)]
INKS.append((20, 110, 220))


def dhsd_words(writers: range, root: Path = DHSD, fixed: bool = True) -> list[Word]:
    """The writers' words, labels fixed where DHSD's is not what the image shows
    (``samples/dhsd-fixes.tsv``, read by ``samples/handwords.py``); ``fixed`` False: the
    labels as published (the runs before session 11)."""
    fixes = LABEL_FIXES if fixed else None
    return [word for word in labelled_words(root, fixes) if word.writer in writers]


def ink_box(grey: np.ndarray, threshold: int = 170) -> tuple[int, int, int, int] | None:
    ys, xs = np.where(grey < threshold)
    if len(ys) == 0:
        return None
    return ys.min(), ys.max() + 1, xs.min(), xs.max() + 1


def crop_with_margins(grey: np.ndarray, rng: random.Random) -> np.ndarray:
    box = ink_box(grey)
    if box is None:
        return grey
    top, bottom, left, right = box
    h = bottom - top
    grey = cv2.copyMakeBorder(grey, h, h, h, h, cv2.BORDER_CONSTANT, value=255)
    mt, mb = (int(h * rng.uniform(0.03, 0.25)) for _ in range(2))
    ml, mr = (int(h * rng.uniform(0.05, 0.5)) for _ in range(2))
    return grey[top + h - mt : bottom + h + mb, left + h - ml : right + h + mr]


def unsqueeze(grey: np.ndarray, text: str, rng: random.Random) -> np.ndarray:
    """Undo DHSD's squeeze to 256 x 64: give the word about half its ink height per letter."""
    h, w = grey.shape
    natural = int(h * len(text) * rng.uniform(0.36, 0.6))
    if natural > w:
        return cv2.resize(grey, (natural, h), interpolation=cv2.INTER_CUBIC)
    return grey


def thicken(grey: np.ndarray, rng: random.Random) -> np.ndarray:
    """Marker strokes: a grey-level erosion about 4-12 % of the line height wide."""
    h = grey.shape[0]
    radius = max(1, int(round(h * rng.uniform(0.02, 0.06))))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    return cv2.erode(grey, kernel)


def small_turn(grey: np.ndarray, rng: random.Random) -> np.ndarray:
    """A little rotation and slant, as a hand on an upright flipchart writes."""
    h, w = grey.shape
    angle, shear = np.radians(rng.uniform(-2, 2)), rng.uniform(-0.2, 0.2)
    c, s = np.cos(angle), np.sin(angle)
    matrix = np.array([[c, -s + shear, 0], [s, c, 0]], np.float32)
    matrix[:, 2] = [
        w / 2 - matrix[0, 0] * w / 2 - matrix[0, 1] * h / 2,
        h / 2 - s * w / 2 - c * h / 2,
    ]
    return cv2.warpAffine(grey, matrix, (w, h), flags=cv2.INTER_LINEAR, borderValue=255)


def colourise(grey: np.ndarray, rng: random.Random) -> np.ndarray:
    """Ink in a marker colour on off-white paper with uneven light, as a phone photo shows."""
    alpha = (255.0 - grey.astype(np.float32)) / 255.0
    # Marker ink is saturated: the darkest strokes get 70-100 % of the ink's colour.
    peak = max(float(np.percentile(alpha, 99.5)), 0.2)
    alpha = np.clip(alpha / peak * rng.uniform(0.7, 1.0), 0, 1)[..., None]
    ink = np.array(rng.choice(INKS), np.float32) + rng.uniform(-20, 20)
    paper = np.array([rng.uniform(200, 255)] * 3, np.float32) + np.array(
        [rng.uniform(-12, 4) for _ in range(3)], np.float32
    )
    h, w = grey.shape
    light = np.linspace(0, rng.uniform(-40, 25), w, dtype=np.float32)[None, :, None]
    image = paper + light + (ink - paper - light) * alpha
    return np.clip(image, 0, 255).astype(np.uint8)


def photo_noise(image: np.ndarray, rng: random.Random) -> np.ndarray:
    """Blur, sensor noise and JPEG, each on some of the lines."""
    image = image.astype(np.float32)
    if rng.random() < 0.6:
        image = cv2.GaussianBlur(image, (0, 0), rng.uniform(0.3, 1.3))
    if rng.random() < 0.5:
        image = image + np.random.normal(0, rng.uniform(1, 8), image.shape)
    image = np.clip(image, 0, 255).astype(np.uint8)
    if rng.random() < 0.3:
        _, buffer = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, rng.randint(35, 90)])
        image = cv2.imdecode(buffer, cv2.IMREAD_COLOR)
    return image


def marker_word(word: Word, rng: random.Random, thin_share: float = 0.3) -> np.ndarray:
    """A DHSD word as a BGR line crop: natural aspect, marker-thick (or pen-thin), in colour."""
    grey = cv2.imread(str(word.path), cv2.IMREAD_GRAYSCALE)
    grey = crop_with_margins(grey, rng)
    grey = unsqueeze(grey, word.text, rng)
    grey = cv2.resize(grey, None, fx=64 / grey.shape[0], fy=64 / grey.shape[0])
    if rng.random() > thin_share:
        grey = thicken(grey, rng)
    if rng.random() < 0.5:
        grey = small_turn(grey, rng)
    return photo_noise(colourise(grey, rng), rng)


def in_charset(text: str, charset: str) -> bool:
    return bool(text) and set(text) <= set(charset)
