"""Field images made ready for a reader that wants print: paper flat, ink dark, box lines out.

A marker on a photographed flipchart is coloured, thick, unevenly lit and of any size;
Tesseract is made for dark, upright print on a clean background. These functions turn a
field crop into print-like greyscale and measure its text rows, independent of any one
reader (``tesseract`` prepares its input with them).
"""

from __future__ import annotations

import cv2
import numpy as np


def ink_image(crop: np.ndarray) -> np.ndarray:
    """Flatten the paper to white and every marker colour to dark grey."""
    if crop.ndim == 2:
        crop = cv2.cvtColor(crop, cv2.COLOR_GRAY2BGR)
    background = paper_brightness(crop)
    flattened = cv2.divide(crop, np.maximum(background, 1), scale=255)
    # Blue, red and green markers are each dark in some channel: the darkest
    # channel turns all of them into dark strokes on white.
    return flattened.min(axis=2)


# The closing's kernel is at most this wide where it runs: a wider one is run on a copy
# shrunk to fit (the paper's brightness varies slowly), which on a whole freeform sheet
# took 1.7 s at full size with a 69-pixel kernel and 0.1 s shrunk.
BACKGROUND_KERNEL = 15


def paper_brightness(crop: np.ndarray) -> np.ndarray:
    """Per channel, the paper's brightness: the crop closed (dark strokes removed) with a
    kernel wider than any stroke, then smoothed."""
    height, width = crop.shape[:2]
    kernel_side = max(BACKGROUND_KERNEL, (min(height, width) // 12) | 1)
    shrink = kernel_side / BACKGROUND_KERNEL
    small = crop
    if shrink > 1.5:
        size = (max(1, round(width / shrink)), max(1, round(height / shrink)))
        small = cv2.resize(crop, size, interpolation=cv2.INTER_AREA)
    else:
        shrink = 1.0
    side = max(3, round(kernel_side / shrink)) | 1
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (side, side))
    background = cv2.morphologyEx(small, cv2.MORPH_CLOSE, kernel)
    background = cv2.GaussianBlur(background, (0, 0), side / 3)
    if small is crop:
        return background
    return cv2.resize(background, (width, height), interpolation=cv2.INTER_LINEAR)


def remove_box_lines(
    gray: np.ndarray, spare_letters: bool = False, edges_only: bool = True
) -> np.ndarray:
    """Whiten long straight strokes (box edges that leaked into the crop)."""
    height, width = gray.shape
    ink = (gray < 160).astype(np.uint8) * 255
    horizontal = cv2.morphologyEx(ink, cv2.MORPH_OPEN, np.ones((1, max(width // 3, 25)), np.uint8))
    tall = max(height // 2, 25)
    if spare_letters:
        row = line_height(gray)
        if row is not None:
            tall = max(tall, min(int(1.3 * row), int(0.9 * height)))
    vertical = cv2.morphologyEx(ink, cv2.MORPH_OPEN, np.ones((tall, 1), np.uint8))
    if edges_only:
        vertical = box_edges_only(vertical)
    lines = cv2.dilate(cv2.bitwise_or(horizontal, vertical), np.ones((3, 3), np.uint8))
    cleaned = gray.copy()
    cleaned[lines > 0] = 255
    return cleaned


# A box's side leaks into a field crop only near the crop's left or right edge. A tall
# upright stroke further in is a letter (the f of "aufbauen" in a one-row field), and
# whitening it cut the word in two. Field CER with the hybrid reader, samples / seed
# 5000 / seed 1000: 0.295 / 0.426 / 0.347 -> 0.280 / 0.426 / 0.333.
BOX_EDGE_BAND = 0.06  # share of the crop's width, each side
FULL_HEIGHT = 0.85  # a stroke this tall is a line wherever it stands


def box_edges_only(vertical: np.ndarray) -> np.ndarray:
    """Of the upright strokes found, those near a side of the crop or as tall as the crop."""
    height, width = vertical.shape
    count, labels, stats, _ = cv2.connectedComponentsWithStats(vertical, connectivity=8)
    centres = stats[:, cv2.CC_STAT_LEFT] + stats[:, cv2.CC_STAT_WIDTH] / 2
    keep = (
        (centres < BOX_EDGE_BAND * width)
        | (centres > (1 - BOX_EDGE_BAND) * width)
        | (stats[:, cv2.CC_STAT_HEIGHT] >= FULL_HEIGHT * height)
    )
    keep[0] = False  # the background
    return np.where(keep[labels], 255, 0).astype(np.uint8)


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


def line_height(gray: np.ndarray) -> float | None:
    """Median height of the text rows: bands of the horizontal ink profile.

    Unlike letter components, rows measure joined-up handwriting and print
    alike: a cursive word is one component as tall as its whole row.
    """
    heights = [bottom - top for top, bottom in row_bands(gray)]
    return float(np.median(heights)) if heights else None


def ink_mask(gray: np.ndarray) -> np.ndarray:
    """Ink as 255 (Otsu), without specks, which would bridge the gaps between rows."""
    _, binary = cv2.threshold(gray, 0, 255, cv2.THRESH_BINARY_INV + cv2.THRESH_OTSU)
    return cv2.morphologyEx(binary, cv2.MORPH_OPEN, np.ones((2, 2), np.uint8))


MIN_ROW = 6  # pixels: the least band a row of text is


def row_bands(gray: np.ndarray) -> list[tuple[int, int]]:
    """Text rows as (top, bottom) bands of the horizontal ink profile."""
    return _bands_of((ink_mask(gray) > 0).mean(axis=1))


def _bands_of(profile: np.ndarray) -> list[tuple[int, int]]:
    """The (top, bottom) bands where ``profile`` (each pixel row's share of ink) is inked."""
    if profile.max() == 0:
        return []
    inked = profile > max(0.01, profile.max() * 0.08)
    bands, start = [], None
    for y, row_has_ink in enumerate(inked):
        if row_has_ink and start is None:
            start = y
        elif not row_has_ink and start is not None:
            bands.append((start, y))
            start = None
    if start is not None:
        bands.append((start, len(inked)))
    return [b for b in bands if b[1] - b[0] >= MIN_ROW]


def split_rows(gray: np.ndarray) -> np.ndarray:
    """Open a white gap between text rows at the emptiest pixel row between them.

    A descender that reaches into the next row joins both rows into one huge
    component, and Tesseract then often drops the whole field as a picture.
    """
    return split_rows_mapped(gray)[0]


def split_rows_mapped(gray: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``split_rows``, and for each row of the result the row of ``gray`` it came from.

    The map keeps the boxes Tesseract reports true to the sheet: rows below a
    gap moved down by it.
    """
    identity = np.arange(gray.shape[0])
    bands = text_rows(row_bands(gray))
    if len(bands) < 2:
        return gray, identity
    profile = (ink_mask(gray) > 0).sum(axis=1)
    gap = max(8, int(np.median([b - t for t, b in bands]) * 0.4))
    cuts = []
    for (_, bottom), (top, _) in zip(bands[:-1], bands[1:], strict=True):
        between = profile[bottom:top]
        cuts.append(bottom + int(np.argmin(between)))
    parts, rows, last = [], [], 0
    white = np.full((gap, gray.shape[1]), 255, np.uint8)
    for cut in cuts:
        parts += [gray[last:cut], white]
        rows += [identity[last:cut], np.full(gap, cut)]
        last = cut + 1  # the cut pixel row itself goes: strokes through it are parted
    parts.append(gray[last:])
    rows.append(identity[last:])
    return np.vstack(parts), np.concatenate(rows)


def text_rows(bands: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Bands joined into text rows: a thin band (descenders, accents) joins its nearer neighbour."""
    rows = list(bands)
    while len(rows) > 1:
        heights = [b - t for t, b in rows]
        thin = int(np.argmin(heights))
        if heights[thin] >= 0.3 * np.median(heights):
            break
        above = rows[thin][0] - rows[thin - 1][1] if thin > 0 else None
        below = rows[thin + 1][0] - rows[thin][1] if thin + 1 < len(rows) else None
        into = thin - 1 if below is None or (above is not None and above <= below) else thin + 1
        first, second = sorted((thin, into))
        rows[first : second + 1] = [(rows[first][0], rows[second][1])]
    return rows


# Rows written close touch: their profile never reaches zero between them, but it dips.
# A band is cut at its deepest dip when that falls below this share of the lower of the
# peaks on either side (packed marker capitals dipped to 0.15-0.45 of them); no part is
# left thinner than MIN_ROW.
VALLEY_SHARE = 0.6


def ink_rows(gray: np.ndarray) -> list[tuple[int, int, int, int]]:
    """The text rows of a crop's ink as (x, y, w, h) boxes: bands of the horizontal
    profile (``text_rows``) cut where rows touch, each as wide as its ink."""
    mask = ink_mask(gray) > 0  # once: ``row_bands`` would threshold the crop again
    profile = cv2.blur(mask.mean(axis=1, dtype=np.float32).reshape(-1, 1), (1, 3)).ravel()
    bands = [
        part
        for band in text_rows(_bands_of(mask.mean(axis=1)))
        for part in _cut_at_dips(band, profile)
    ]
    rows = []
    for top, bottom in bands:
        columns = np.flatnonzero(mask[top:bottom].any(axis=0))
        if columns.size:
            left, right = int(columns[0]), int(columns[-1]) + 1
            rows.append((left, top, right - left, bottom - top))
    return rows


def _cut_at_dips(band: tuple[int, int], profile: np.ndarray) -> list[tuple[int, int]]:
    """``band`` cut at its deepest dip below ``VALLEY_SHARE`` of the peaks around it, and
    the parts cut again, until no such dip is left."""
    top, bottom = band
    best, depth = None, VALLEY_SHARE
    for y in range(top + MIN_ROW, bottom - MIN_ROW):
        if not profile[y - 1] >= profile[y] <= profile[y + 1]:
            continue
        peaks = min(profile[top:y].max(), profile[y:bottom].max())
        if peaks > 0 and profile[y] / peaks < depth:
            best, depth = y, profile[y] / peaks
    if best is None:
        return [band]
    return _cut_at_dips((top, best), profile) + _cut_at_dips((best, bottom), profile)


def stroke_width(gray: np.ndarray) -> float | None:
    """Median stroke width in pixels: twice the ink's distance to paper along stroke ridges."""
    binary = ink_mask(gray)
    if not binary.any():
        return None
    distance = cv2.distanceTransform(binary, cv2.DIST_L2, 3)
    ridge = (distance >= cv2.dilate(distance, np.ones((3, 3), np.uint8))) & (distance > 0.5)
    return 2 * float(np.median(distance[ridge])) if ridge.any() else None


def darken(gray: np.ndarray, gamma: float) -> np.ndarray:
    """Darken the grey ramp (white stays white): stroke edges and faint ink count as ink."""
    table = (255 * (np.arange(256) / 255) ** gamma).round().astype(np.uint8)
    return cv2.LUT(gray, table)


def has_ink(gray: np.ndarray) -> bool:
    """Whether the crop holds any writing at all (an empty box costs no Tesseract call)."""
    dark = gray < 128
    return bool(dark.mean() > 0.002)


def plausible_row_height(gray: np.ndarray) -> float | None:
    """The text-row height, unless one "row" fills most of the crop while its letters are small.

    A pinned card's grey edges or a shadow join all rows into one band; scaling by
    that band shrinks the text to nothing. Then the letters' height tells the row's
    (field CER 0.534 -> 0.499 on 75 unseen sheets, seed 2000; 0.431 -> 0.435 on
    seed 7 and 0.312 on the samples, within noise).
    """
    height = line_height(gray)
    if height is not None and height > 0.6 * gray.shape[0]:
        letters = ink_height(gray)
        if letters is not None and letters < 0.5 * height:
            return letters * 1.4
    return height
