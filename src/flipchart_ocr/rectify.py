"""Find the sheet in a photo and warp it flat: arrays in, arrays out.

A flipchart sheet is the largest bright, unsaturated, four-sided region of the
photo. We look for it on a reduced copy (geometry needs no 12 megapixels), then
warp the full-resolution photo with the corners scaled back up.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

# Geometry is found on a copy with this long side: enough for a corner within
# a fraction of a percent, and fast.
DETECT_SIDE = 900
# A sheet smaller than this share of the photo is more likely a poster on the
# wall behind it than the subject of the photo.
MIN_SHEET_AREA = 0.12
# Fractions of Otsu's whiteness threshold tried, for sheets partly in shadow.
SHADOW_FACTORS = (1.0, 0.85, 0.7)
# Whiteness (0-255) by which the sheet must exceed the band just around it.
MIN_SHEET_CONTRAST = 25
# The rectified sheet is at most this tall (or wide): marker text stays well
# above Tesseract's needs, memory stays bounded for huge photos.
MAX_SHEET_SIDE = 2400


@dataclass(frozen=True)
class SheetOutline:
    corners: np.ndarray  # 4x2 float32, clockwise from top-left, photo pixels
    found: bool  # False: the whole photo stands in for the sheet

    @property
    def measured_aspect(self) -> float:
        """Width / height of the quad, averaged over opposite sides (perspective blurs it)."""
        tl, tr, br, bl = self.corners
        width = (np.linalg.norm(tr - tl) + np.linalg.norm(br - bl)) / 2
        height = (np.linalg.norm(bl - tl) + np.linalg.norm(br - tr)) / 2
        return float(width / max(height, 1.0))

    @property
    def pixel_height(self) -> float:
        tl, tr, br, bl = self.corners
        return float(max(np.linalg.norm(bl - tl), np.linalg.norm(br - tr)))

    @property
    def pixel_width(self) -> float:
        tl, tr, br, bl = self.corners
        return float(max(np.linalg.norm(tr - tl), np.linalg.norm(br - bl)))


def find_sheet(photo: np.ndarray) -> SheetOutline:
    """Locate the sheet's four corners; fall back to the whole photo when none is found."""
    height, width = photo.shape[:2]
    scale = min(1.0, DETECT_SIDE / max(height, width))
    small = cv2.resize(photo, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    quad = _largest_paper_quad(small)
    if quad is None:
        whole = np.array(
            [[0, 0], [width - 1, 0], [width - 1, height - 1], [0, height - 1]], np.float32
        )
        return SheetOutline(whole, found=False)
    corners = quad / scale
    corners = _refine_corners(photo, corners)
    return SheetOutline(order_corners(corners), found=True)


def whiteness(image: np.ndarray) -> np.ndarray:
    """Bright and unsaturated: what paper looks like under any light."""
    hsv = cv2.cvtColor(image, cv2.COLOR_BGR2HSV)
    saturation = hsv[:, :, 1].astype(np.float32)
    value = hsv[:, :, 2].astype(np.float32)
    white = np.clip(value - 0.8 * saturation, 0, 255).astype(np.uint8)
    return cv2.GaussianBlur(white, (5, 5), 0)


def paper_mask(white: np.ndarray, threshold: float) -> np.ndarray:
    """Pixels white enough to be paper at this threshold, cleaned up."""
    mask = (white > threshold).astype(np.uint8) * 255
    # Strokes inside the sheet leave holes, which the outer contour ignores; only
    # strokes at the edge need closing, so the closing stays small and a narrow
    # gap to a neighbouring sheet survives. The opening then cuts thin bridges.
    side = max(white.shape[:2])
    close = max(3, side // 200) | 1
    mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, np.ones((close, close), np.uint8))
    opening = max(5, side // 120) | 1
    return cv2.morphologyEx(mask, cv2.MORPH_OPEN, np.ones((opening, opening), np.uint8))


def _largest_paper_quad(image: np.ndarray) -> np.ndarray | None:
    """The largest plausible sheet quad over a few whiteness thresholds.

    Otsu's threshold splits paper from the rest, adapting to dim rooms and warm
    light alike; but a shadow across the sheet makes part of it darker than that.
    Lower thresholds take the shadowed part in, but also bits of a bright wall.
    The quad whose outline runs along the most sharp edges wins: a sheet's edge
    is sharp, a soft shadow's border or a patch of wall is not.
    """
    white = whiteness(image)
    edges = _edge_map(image)
    otsu, _ = cv2.threshold(white, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    masks = [paper_mask(white, otsu * factor) for factor in SHADOW_FACTORS]
    # A shadow edge across the sheet can be as bright a step as the sheet's own
    # edge; the outline traced by the edges themselves is then the better guess.
    masks.append(_filled_outlines(edges))
    quads = [_paper_quad(mask, white) for mask in masks]
    found = [q for q in quads if q is not None]
    if not found:
        return None
    return max(found, key=lambda q: (round(edge_support(q, edges), 2), cv2.contourArea(q)))


def _filled_outlines(edges: np.ndarray) -> np.ndarray:
    """Regions enclosed by closed edge contours, filled."""
    contours, _ = cv2.findContours(edges, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    filled = np.zeros(edges.shape, np.uint8)
    cv2.drawContours(filled, contours, -1, 255, thickness=cv2.FILLED)
    return filled


def _edge_map(image: np.ndarray) -> np.ndarray:
    gray = cv2.GaussianBlur(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), (5, 5), 0)
    edges = cv2.Canny(gray, 30, 90)
    return cv2.dilate(edges, np.ones((5, 5), np.uint8))


def edge_support(quad: np.ndarray, edges: np.ndarray) -> float:
    """Share of points along the quad's outline that lie on an image edge."""
    ordered = order_corners(quad)
    height, width = edges.shape
    hits, total = 0, 0
    for i in range(4):
        start, end = ordered[i], ordered[(i + 1) % 4]
        for t in np.linspace(0.05, 0.95, 40):
            x, y = start + (end - start) * t
            total += 1
            if 0 <= int(y) < height and 0 <= int(x) < width and edges[int(y), int(x)]:
                hits += 1
    return hits / total


def _paper_quad(mask: np.ndarray, white: np.ndarray) -> np.ndarray | None:
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    area_total = mask.shape[0] * mask.shape[1]
    for contour in sorted(contours, key=cv2.contourArea, reverse=True)[:3]:
        area = cv2.contourArea(contour)
        if area < MIN_SHEET_AREA * area_total:
            return None
        hull = cv2.convexHull(contour)
        quad = cv2.approxPolyN(hull, 4, ensure_convex=True).reshape(-1, 2).astype(np.float32)
        if len(quad) != 4:
            continue
        # A sheet fills most of its quad; a blob of wall and paper does not.
        fill = area / max(cv2.contourArea(quad), 1.0)
        if fill > 0.9 and _is_plausible_quad(quad) and _stands_out(quad, white):
            return quad
    return None


def _stands_out(quad: np.ndarray, white: np.ndarray) -> bool:
    """The sheet is clearly whiter than what surrounds it, and something surrounds it.

    Otsu always splits an image in two, even a dim room with no sheet in it; a
    real sheet differs from its surroundings by far more than noise does.
    """
    inside = np.zeros(white.shape, np.uint8)
    cv2.fillConvexPoly(inside, quad.astype(np.int32), 255)
    if (inside > 0).mean() > 0.97:  # the frame is all sheet: there is no outline to see
        return False
    margin = cv2.dilate(inside, np.ones((25, 25), np.uint8)) - inside
    if not margin.any():
        return False
    contrast = float(np.median(white[inside > 0])) - float(np.median(white[margin > 0]))
    return contrast > MIN_SHEET_CONTRAST


def _is_plausible_quad(quad: np.ndarray) -> bool:
    ordered = order_corners(quad)
    angles = []
    for i in range(4):
        a, b, c = ordered[i - 1], ordered[i], ordered[(i + 1) % 4]
        v1, v2 = a - b, c - b
        cos = np.dot(v1, v2) / (np.linalg.norm(v1) * np.linalg.norm(v2) + 1e-9)
        angles.append(np.degrees(np.arccos(np.clip(cos, -1, 1))))
    # A phone photo keystones a rectangle, but no corner turns beyond these.
    return all(45 < angle < 135 for angle in angles)


def _refine_corners(photo: np.ndarray, corners: np.ndarray) -> np.ndarray:
    """Sharpen corners found on the reduced copy to sub-pixel precision near full size."""
    gray = cv2.cvtColor(photo, cv2.COLOR_BGR2GRAY)
    window = max(3, int(max(photo.shape[:2]) / DETECT_SIDE * 3))
    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 20, 0.1)
    refined = corners.reshape(-1, 1, 2).astype(np.float32).copy()
    try:
        cv2.cornerSubPix(gray, refined, (window, window), (-1, -1), criteria)
    except cv2.error:
        return corners
    refined = refined.reshape(-1, 2)
    # cornerSubPix may wander off to a strong marker corner nearby: keep small moves only.
    moved = np.linalg.norm(refined - corners, axis=1)
    return np.where((moved < window * 1.5)[:, None], refined, corners)


def order_corners(points: np.ndarray) -> np.ndarray:
    """Clockwise from top-left: the order of the contract's ``corners``."""
    points = np.asarray(points, np.float32).reshape(4, 2)
    center = points.mean(axis=0)
    angles = np.arctan2(points[:, 1] - center[1], points[:, 0] - center[0])
    points = points[np.argsort(angles)]  # clockwise in image coordinates, from ~-180°
    # start at the corner nearest the top-left (smallest x + y)
    start = int(np.argmin(points.sum(axis=1)))
    return np.roll(points, -start, axis=0)


def sheet_size(outline: SheetOutline, aspect: float | None) -> tuple[int, int]:
    """Pixel size of the rectified sheet: as tall as the sheet appears, at the template's aspect."""
    if aspect is None:
        aspect = outline.measured_aspect
    height = outline.pixel_height
    if aspect > 1:
        height = max(height, outline.pixel_width / aspect)
    height = min(height, MAX_SHEET_SIDE, MAX_SHEET_SIDE / aspect)
    return max(int(round(height * aspect)), 16), max(int(round(height)), 16)


def warp(photo: np.ndarray, corners: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Map the quad onto an upright rectangle of ``size`` (width, height)."""
    width, height = size
    target = np.array(
        [[0, 0], [width - 1, 0], [width - 1, height - 1], [0, height - 1]], np.float32
    )
    matrix = cv2.getPerspectiveTransform(corners.astype(np.float32), target)
    return cv2.warpPerspective(
        photo, matrix, (width, height), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REPLICATE
    )


def deskew_angle(sheet: np.ndarray) -> float:
    """Residual rotation in degrees, from the long straight lines (box edges, text rows)."""
    gray = cv2.cvtColor(sheet, cv2.COLOR_BGR2GRAY) if sheet.ndim == 3 else sheet
    scale = min(1.0, 1000 / max(gray.shape))
    gray = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    edges = cv2.Canny(gray, 50, 150)
    min_length = int(0.3 * gray.shape[1])
    lines = cv2.HoughLinesP(
        edges, 1, np.pi / 720, threshold=80, minLineLength=min_length, maxLineGap=10
    )
    if lines is None:
        return 0.0
    angles = []
    for x1, y1, x2, y2 in lines.reshape(-1, 4):
        angle = np.degrees(np.arctan2(y2 - y1, x2 - x1))
        if abs(angle) < 15:
            angles.append(angle)
    return float(np.median(angles)) if len(angles) >= 2 else 0.0


def rotate(sheet: np.ndarray, angle: float) -> np.ndarray:
    height, width = sheet.shape[:2]
    matrix = cv2.getRotationMatrix2D((width / 2, height / 2), angle, 1.0)
    return cv2.warpAffine(sheet, matrix, (width, height), borderMode=cv2.BORDER_REPLICATE)
