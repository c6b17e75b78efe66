"""Input preparation and greedy decoding, as rapidocr does them (numpy and OpenCV only).

rapidocr (ch_ppocr_rec/main.py, resize_norm_img): a BGR line image resized to height 48
keeping its aspect (width ceil(48 * w / h), squeezed to the batch width if wider), scaled
to [-1, 1] by (x / 255 - 0.5) / 0.5, channels first, padded on the right with 0 (mid grey
after scaling) to the batch width: 48 * the widest aspect in the batch, at least 320.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

HEIGHT = 48
MIN_WIDTH = 320
MAX_WIDTH = 1600  # wider lines are squeezed (about 60 letters at height 48)


def as_bgr(image: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR) if image.ndim == 2 else image


def resized_width(image: np.ndarray) -> int:
    h, w = image.shape[:2]
    return min(MAX_WIDTH, max(1, math.ceil(HEIGHT * w / h)))


def batch_width(images: list[np.ndarray]) -> int:
    return max([MIN_WIDTH, *(resized_width(im) for im in images)])


def normalise(image: np.ndarray, width: int) -> np.ndarray:
    """One line image (grey or BGR uint8) as a 3 x 48 x width float32 array."""
    image = as_bgr(image)
    w = min(width, resized_width(image))
    resized = cv2.resize(image, (w, HEIGHT)).astype(np.float32)
    out = np.zeros((3, HEIGHT, width), np.float32)
    out[:, :, :w] = (resized.transpose(2, 0, 1) / 255.0 - 0.5) / 0.5
    return out


def batch(images: list[np.ndarray], width: int | None = None) -> np.ndarray:
    """N x 3 x 48 x W, W the batch width unless given."""
    width = width or batch_width(images)
    return np.stack([normalise(im, width) for im in images])


def greedy_decode(scores: np.ndarray, charset: str) -> str:
    """Best class per frame, repeats collapsed, blanks (class 0) dropped; scores T x C."""
    best = scores.argmax(axis=1)
    keep = np.ones(len(best), bool)
    keep[1:] = best[1:] != best[:-1]
    return "".join(charset[k - 1] for k in best[keep] if k > 0)
