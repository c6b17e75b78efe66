"""Find the sheet in a photo and warp it flat: arrays in, arrays out.

A flipchart sheet is the largest bright, unsaturated, four-sided region of the
photo. We look for it on a reduced copy (geometry needs no 12 megapixels), then
warp the full-resolution photo with the corners scaled back up.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

# Geometry is found on a copy with this long side: enough for a corner within
# a fraction of a percent, and fast.
DETECT_SIDE = 900
# Corners are refined on a copy this size: finer than detection, cheaper than 12 MP.
REFINE_SIDE = 2000
# A sheet smaller than this share of the photo is more likely a poster on the
# wall behind it than the subject of the photo.
MIN_SHEET_AREA = 0.12
# Fractions of Otsu's whiteness threshold tried, for sheets partly in shadow.
SHADOW_FACTORS = (1.0, 0.85, 0.7)
# A blob of a sheet and its neighbours has a few more corners than four; its
# four-corner subsets are tried up to this many corners (495 subsets at 12).
MAX_OUTLINE_CORNERS = 12
# Long edge lines of each direction combined into quads when no blob gives a sheet.
LINE_CANDIDATES = 8
# A blob quad with every side this well supported is the sheet; one with a weaker
# side may have cut across a sheet merged with its neighbour.
CLEAR_SIDE_SUPPORT = 0.9
# Two edge segments closer than this (pixels of the detection copy, at both ends)
# are one line seen twice: HoughLinesP reports a thick edge many times over.
SAME_LINE_PX = 6
# Canny thresholds for the faint edge between a sheet and a touching neighbour
# (a step of a few grey levels), tried in the last resort only.
FAINT_EDGE_THRESHOLDS = (8, 24)
# Quads framed by edge lines kept besides the best when no blob gives a clear sheet,
# so that the template's box lines can pick among them.
MAX_ALTERNATIVES = 6
# Each side of a sheet runs along an edge in the photo for at least this share of it.
MIN_SIDE_SUPPORT = 0.5
# Whiteness by which paper just inside a side exceeds what lies just outside, and
# the share of each side where it must (less than all: a neighbouring sheet or a
# clip may touch part of a side).
SIDE_CONTRAST = 10
MIN_SIDE_CONTRAST_SHARE = 0.3
# Edge lines thinner than the detection copy's long side over this are cut off the
# filled edge outlines (a dilated edge line is about 5 px wide at 900 px).
SPUR_WIDTH_DIVISOR = 60
# A quad with three sides or four that have, on this share of it, paper as white as inside at
# FRAME_BEYOND of the photo's longer side past it (beyond any marker line) is a frame
# drawn on a board, not a sheet's edge.
FRAME_BEYOND = 0.04
DRAWN_SIDE_SHARE = 0.6
# Whiteness (0-255) by which the sheet must exceed the band just around it.
MIN_SHEET_CONTRAST = 12
# The rectified sheet is at most this tall (or wide): marker text stays well
# above Tesseract's needs, memory stays bounded for huge photos.
MAX_SHEET_SIDE = 2400


@dataclass(frozen=True)
class SheetOutline:
    corners: np.ndarray  # 4x2 float32, clockwise from top-left, photo pixels
    found: bool  # False: the whole photo stands in for the sheet
    # Other quads that may be the sheet (same form as ``corners``), given when no blob
    # gave a clear sheet and edge lines were tried: the edges alone cannot tell a
    # sheet from the sheet plus a strip of floor, or from its own box frame; the
    # template's box lines can (``pipeline.choose_outline``).
    alternatives: tuple[np.ndarray, ...] = ()

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
    quads = _sheet_quads(small)
    if not quads:
        return whole_photo(photo)
    refine = _corner_refiner(photo)
    best, *others = [order_corners(refine(quad / scale)) for quad in quads]
    return SheetOutline(best, found=True, alternatives=tuple(others))


def whole_photo(photo: np.ndarray) -> SheetOutline:
    """The whole photo standing in for a sheet that was not found."""
    height, width = photo.shape[:2]
    whole = np.array([[0, 0], [width - 1, 0], [width - 1, height - 1], [0, height - 1]], np.float32)
    return SheetOutline(whole, found=False)


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


def _sheet_quads(image: np.ndarray) -> list[np.ndarray]:
    """The best sheet quad among candidates from a few ways of seeing paper, alone;
    unless it has a weak side or there is none: then also the best few quads framed
    by edge lines, best first.

    Otsu's threshold splits paper from the rest, adapting to dim rooms and warm
    light alike; but a shadow across the sheet makes part of it darker than that,
    so lower thresholds are tried too, and the regions the edges enclose. A sheet
    touching its neighbour merges with it into one blob, so besides the blob's
    hull, quads of the blob outline's own corners are tried. The quad whose four
    sides all run along sharp edges wins: a sheet's edge is sharp; a soft
    shadow's border, a patch of wall or the middle of a neighbour sheet is not.
    """
    white = whiteness(image)
    edges = _edge_map(image)
    otsu, _ = cv2.threshold(white, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    masks = [paper_mask(white, otsu * factor) for factor in SHADOW_FACTORS]
    outlines = _filled_outlines(edges)
    masks.append(outlines)
    raw_edges = edges
    edges = _near_edges(edges)
    candidates = [quad for mask in masks for quad in _quad_candidates(mask)]
    ranked = _ranked_quads(candidates, edges, white)
    if not _is_clear(ranked, edges):
        # A floor line or wall corner meeting the sheet's outline may have cost a corner.
        candidates += _quad_candidates(_without_spurs(outlines))
        ranked = _ranked_quads(candidates, edges, white)
    if _is_clear(ranked, edges):
        return ranked[:1]
    # No blob gave a clear sheet (typically one merged with a touching neighbour):
    # quads from the photo's long straight edges are the last resort, behind the
    # blob's best quad if there is one. The edge between two touching sheets is
    # faint, so fainter edges count here too.
    faint = _faint_edge_map(image)
    lines = _edge_lines(raw_edges) + _edge_lines(faint)
    edges = _near_edges(cv2.bitwise_or(raw_edges, faint))
    framed = _ranked_quads(_line_quads(lines, image.shape), edges, white)
    return _distinct(ranked[:1] + framed, 0.01 * float(np.hypot(*image.shape[:2])))


def _is_clear(ranked: list[np.ndarray], edges: np.ndarray) -> bool:
    """The best quad has every side along an edge: a sheet on its own."""
    return bool(ranked) and min(side_support(ranked[0], edges)) >= CLEAR_SIDE_SUPPORT


def _ranked_quads(
    candidates: list[np.ndarray], edges: np.ndarray, white: np.ndarray
) -> list[np.ndarray]:
    """The candidates that may be a sheet, best first."""
    keyed = []
    for quad in candidates:
        sides = side_support(quad, edges)
        if min(sides) < MIN_SIDE_SUPPORT or not _is_plausible_quad(quad):
            continue
        if not _paper_inside(quad, white, sides) or not _stands_out(quad, white):
            continue
        if _is_drawn_frame(quad, white):
            continue
        # Equal support: the larger quad is the whole sheet. Only equal to a sample or
        # so, though: a quad with a side slightly off an edge is more often the sheet
        # plus a strip of wall down to a floor line than a fuller view of the sheet.
        keyed.append(((round(sum(sides) / 4, 2), cv2.contourArea(quad)), quad))
    keyed.sort(key=lambda pair: pair[0], reverse=True)
    return [quad for _, quad in keyed]


def _distinct(quads: list[np.ndarray], tolerance: float) -> list[np.ndarray]:
    """The first MAX_ALTERNATIVES + 1 quads with a corner further than ``tolerance``
    from its place in every earlier one."""
    kept: list[np.ndarray] = []
    for quad in map(order_corners, quads):
        if all(np.abs(quad - other).max() > tolerance for other in kept):
            kept.append(quad)
        if len(kept) > MAX_ALTERNATIVES:
            break
    return kept


Line = tuple[np.ndarray, np.ndarray]  # a point and a direction


def _edge_lines(edges: np.ndarray) -> list[tuple[float, np.ndarray]]:
    """Long straight edge segments, as (length, x1 y1 x2 y2)."""
    height, width = edges.shape
    segments = cv2.HoughLinesP(
        edges,
        1,
        np.pi / 360,
        threshold=60,
        minLineLength=int(0.2 * min(height, width)),
        maxLineGap=12,
    )
    if segments is None:
        return []
    segments = segments.reshape(-1, 4).astype(np.float32)
    return [(float(np.linalg.norm(s[2:] - s[:2])), s) for s in segments]


def _longest_distinct(segments: list[tuple[float, np.ndarray]]) -> list[Line]:
    """The LINE_CANDIDATES longest segments, each as a line, skipping repeats of a longer one."""
    kept: list[np.ndarray] = []
    for _, segment in sorted(segments, key=lambda pair: -pair[0]):
        if not any(_same_line(segment, other) for other in kept):
            kept.append(segment)
        if len(kept) == LINE_CANDIDATES:
            break
    return [(s[:2].copy(), s[2:] - s[:2]) for s in kept]


def _same_line(a: np.ndarray, b: np.ndarray) -> bool:
    """Both ends of segment ``a`` lie within SAME_LINE_PX of the line through ``b``."""
    direction = (b[2:] - b[:2]) / (np.linalg.norm(b[2:] - b[:2]) + 1e-9)
    normal = np.array([-direction[1], direction[0]], np.float32)
    return all(abs(float(np.dot(end - b[:2], normal))) < SAME_LINE_PX for end in (a[:2], a[2:]))


def _line_quads(
    segments: list[tuple[float, np.ndarray]], shape: tuple[int, ...]
) -> list[np.ndarray]:
    """Quads framed by two long near-horizontal and two long near-vertical edge lines."""
    horizontal, vertical = [], []
    for length, segment in segments:
        x1, y1, x2, y2 = segment
        angle = abs(np.degrees(np.arctan2(y2 - y1, x2 - x1))) % 180
        if angle < 30 or angle > 150:
            horizontal.append((length, segment))
        elif 60 < angle < 120:
            vertical.append((length, segment))
    horizontal = _longest_distinct(horizontal)
    vertical = _longest_distinct(vertical)
    height, width = shape[:2]
    area_total = height * width
    quads = []
    for top, bottom in itertools.combinations(horizontal, 2):
        for left, right in itertools.combinations(vertical, 2):
            corners = [
                _intersect(a, b)
                for a, b in ((top, left), (top, right), (bottom, right), (bottom, left))
            ]
            if any(c is None for c in corners):
                continue
            quad = order_corners(np.array(corners, np.float32))
            if cv2.isContourConvex(quad) and cv2.contourArea(quad) >= MIN_SHEET_AREA * area_total:
                quads.append(quad)
    return quads


def _quad_candidates(mask: np.ndarray) -> list[np.ndarray]:
    """Four-cornered shapes that may be the sheet, from the largest blobs of a mask."""
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    area_total = mask.shape[0] * mask.shape[1]
    # Writing and box lines are holes in the paper, not gaps in it.
    mask = np.zeros_like(mask)
    cv2.drawContours(mask, contours, -1, 255, thickness=cv2.FILLED)
    candidates = []
    for contour in sorted(contours, key=cv2.contourArea, reverse=True)[:2]:
        area = cv2.contourArea(contour)
        if area < MIN_SHEET_AREA * area_total:
            break
        hull = cv2.convexHull(contour)
        quad = cv2.approxPolyN(hull, 4, ensure_convex=True).reshape(-1, 2).astype(np.float32)
        if len(quad) == 4 and _fill(quad, mask) > 0.9:
            candidates.append(quad)
        outline = cv2.approxPolyDP(contour, 0.015 * cv2.arcLength(contour, True), True)
        outline = outline.reshape(-1, 2).astype(np.float32)
        if 5 <= len(outline) <= MAX_OUTLINE_CORNERS:
            for corners in itertools.combinations(range(len(outline)), 4):
                quad = outline[list(corners)]
                if (
                    cv2.isContourConvex(quad)
                    and cv2.contourArea(quad) >= MIN_SHEET_AREA * area_total
                    and _fill(quad, mask) > 0.9
                ):
                    candidates.append(quad)
    return candidates


def _fill(quad: np.ndarray, mask: np.ndarray) -> float:
    """Share of the quad covered by paper: a sheet fills its quad, a blob of wall does not."""
    inside = np.zeros(mask.shape, np.uint8)
    cv2.fillConvexPoly(inside, quad.astype(np.int32), 255)
    count = np.count_nonzero(inside)
    return np.count_nonzero(mask[inside > 0]) / count if count else 0.0


def _filled_outlines(edges: np.ndarray) -> np.ndarray:
    """Regions enclosed by closed edge contours, filled."""
    contours, _ = cv2.findContours(edges, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    filled = np.zeros(edges.shape, np.uint8)
    cv2.drawContours(filled, contours, -1, 255, thickness=cv2.FILLED)
    return filled


def _without_spurs(mask: np.ndarray) -> np.ndarray:
    """The mask with thin appendages cut off.

    A floor line or wall corner that meets the sheet's outline joins its contour as
    a thin spur; the spur inflates the outline's length (and so the tolerance of
    its polygon approximation) until a sheet corner is lost. An opening wider than
    an edge line cuts spurs off and leaves the filled sheet (its corners a little
    rounded, which the corner refinement undoes).
    """
    side = max(5, max(mask.shape) // SPUR_WIDTH_DIVISOR) | 1
    return cv2.morphologyEx(mask, cv2.MORPH_OPEN, np.ones((side, side), np.uint8))


def _edge_map(image: np.ndarray, thresholds: tuple[int, int] = (30, 90)) -> np.ndarray:
    gray = cv2.GaussianBlur(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), (5, 5), 0)
    edges = cv2.Canny(gray, *thresholds)
    return cv2.dilate(edges, np.ones((5, 5), np.uint8))


def _faint_edge_map(image: np.ndarray) -> np.ndarray:
    return _edge_map(image, FAINT_EDGE_THRESHOLDS)


def _near_edges(edges: np.ndarray) -> np.ndarray:
    """Edges widened by about 1% of the image: a quad from a ragged blob is a few pixels off."""
    side = max(3, max(edges.shape) // 90) | 1
    return cv2.dilate(edges, np.ones((side, side), np.uint8))


def side_support(quad: np.ndarray, edges: np.ndarray) -> list[float]:
    """For each side of the quad, the share of points along it that lie on an image edge."""
    ordered = order_corners(quad)
    height, width = edges.shape
    shares = []
    for i in range(4):
        start, end = ordered[i], ordered[(i + 1) % 4]
        points = start + (end - start) * np.linspace(0.05, 0.95, 40)[:, None]
        xs = np.clip(points[:, 0].astype(int), 0, width - 1)
        ys = np.clip(points[:, 1].astype(int), 0, height - 1)
        shares.append(float(np.count_nonzero(edges[ys, xs]) / len(points)))
    return shares


def side_contrast(quad: np.ndarray, white: np.ndarray) -> list[float]:
    """For each side, the share of points where it is whiter just inside than just outside.

    Edge support alone is fooled by a side cutting across the sheet's own box lines
    and writing; a real sheet edge has paper on its inner side only.
    """
    reach = _side_reach(white)
    image = white.astype(np.float32)
    shares = []
    for points, normal in _side_points(quad):
        inside = _sample(image, points - normal * reach)
        outside = _sample(image, points + normal * reach)
        shares.append(float(np.mean(inside - outside > SIDE_CONTRAST)))
    return shares


def _side_reach(white: np.ndarray) -> float:
    """How far from a side its inside and outside are sampled (past a drawn line's blur)."""
    return max(3.0, 0.012 * max(white.shape))


def _side_points(quad: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per side of the quad (clockwise from the top), 40 points along it (its ends left
    out, where the corners' neighbourhood blurs it) and its outward unit normal."""
    ordered = order_corners(quad)
    center = ordered.mean(axis=0)
    sides = []
    for i in range(4):
        start, end = ordered[i], ordered[(i + 1) % 4]
        points = start + (end - start) * np.linspace(0.05, 0.95, 40)[:, None]
        sides.append((points, _outward_normal(start, end, center)))
    return sides


def _is_drawn_frame(quad: np.ndarray, white: np.ndarray) -> bool:
    """Three sides of the quad or all four are lines drawn on a board or sheet that goes
    on past them (the fourth may run along a drawing or the photo's edge).

    A sheet's edge is a step: past it lies the wall, the table or the gap to a
    neighbour, darker than paper. A frame drawn in marker (a box around a diagram on a
    whiteboard) is a ridge: a little past its line the board is as white as inside.
    """
    reach = _side_reach(white)
    beyond = FRAME_BEYOND * max(white.shape)
    height, width = white.shape[:2]
    image = white.astype(np.float32)
    drawn = 0
    for points, normal in _side_points(quad):
        far = points + normal * beyond
        in_photo = (far[:, 0] >= 0) & (far[:, 0] < width) & (far[:, 1] >= 0) & (far[:, 1] < height)
        inside = _sample(image, points - normal * reach)
        board = in_photo & (_sample(image, far) > inside - SIDE_CONTRAST)
        drawn += bool(board.mean() >= DRAWN_SIDE_SHARE)
    return drawn >= 3


def _paper_inside(quad: np.ndarray, white: np.ndarray, support: list[float]) -> bool:
    """Paper on the inner side of the quad's sides: of three at least, and the fourth
    (where a neighbouring sheet may touch) at least runs along a clear edge."""
    contrast = side_contrast(quad, white)
    weak = [i for i, share in enumerate(contrast) if share < MIN_SIDE_CONTRAST_SHARE]
    return not weak or (len(weak) == 1 and support[weak[0]] >= 0.9)


def _sample(image: np.ndarray, points: np.ndarray) -> np.ndarray:
    xs = points[:, 0:1].astype(np.float32)
    ys = points[:, 1:2].astype(np.float32)
    return cv2.remap(image, xs, ys, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE).ravel()


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


def _corner_refiner(photo: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """``_refine_corners`` on this photo, its whiteness computed once for all quads."""
    scale = min(1.0, REFINE_SIDE / max(photo.shape[:2]))
    image = cv2.resize(photo, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    white = whiteness(image).astype(np.float32)
    return lambda corners: _refine_corners(white, scale, corners)


def _refine_corners(white: np.ndarray, scale: float, corners: np.ndarray) -> np.ndarray:
    """Sharpen the corners: fit each side to the paper's edge, then intersect the sides.

    The quad comes from a blob on a reduced copy and may be off by a percent; the
    edge itself, found along many short cuts across each side, is far more exact.
    ``white`` is the photo's whiteness at ``scale``.
    """
    quad = order_corners(corners * scale)
    reach = max(4.0, 0.015 * max(white.shape))
    lines = [
        _fit_side(white, quad[i], quad[(i + 1) % 4], quad.mean(axis=0), reach) for i in range(4)
    ]
    if any(line is None for line in lines):
        return corners
    refined = [_intersect(lines[i - 1], lines[i]) for i in range(4)]
    if any(point is None for point in refined):
        return corners
    refined_array = np.array(refined, np.float32)
    # A fit pulled away by a neighbouring edge moves a corner far: keep the blob's then.
    if np.abs(refined_array - quad).max() > 2 * reach:
        return corners
    return refined_array / scale


def _fit_side(
    white: np.ndarray, start: np.ndarray, end: np.ndarray, center: np.ndarray, reach: float
) -> tuple[np.ndarray, np.ndarray] | None:
    """The paper edge near one side, as a point and a direction."""
    normal = _outward_normal(start, end, center)
    offsets = np.arange(-reach, reach + 1, 1.0, dtype=np.float32)
    points = []
    for t in np.linspace(0.08, 0.92, 32):
        base = start + (end - start) * t
        cut = (base[None, :] + offsets[:, None] * normal[None, :]).astype(np.float32)
        values = cv2.remap(
            white, cut[:, 0:1].copy(), cut[:, 1:2].copy(), cv2.INTER_LINEAR, borderValue=0
        ).ravel()
        step = values[:-1] - values[1:]  # paper inside, darker outside: a positive step
        i = int(np.argmax(step))
        if step[i] > 8:
            points.append(base + (offsets[i] + 0.5) * normal)
    if len(points) < 8:
        return None
    vx, vy, x0, y0 = cv2.fitLine(
        np.array(points, np.float32), cv2.DIST_HUBER, 0, 0.01, 0.01
    ).ravel()
    return np.array([x0, y0], np.float32), np.array([vx, vy], np.float32)


def _outward_normal(start: np.ndarray, end: np.ndarray, center: np.ndarray) -> np.ndarray:
    """Unit normal of the side start-end, pointing away from the quad's center."""
    direction = (end - start) / (np.linalg.norm(end - start) + 1e-9)
    normal = np.array([-direction[1], direction[0]], np.float32)
    return normal if np.dot(normal, (start + end) / 2 - center) >= 0 else -normal


def _intersect(
    a: tuple[np.ndarray, np.ndarray] | None, b: tuple[np.ndarray, np.ndarray] | None
) -> np.ndarray | None:
    assert a is not None and b is not None
    (p, r), (q, s) = a, b
    cross = r[0] * s[1] - r[1] * s[0]
    if abs(cross) < 1e-6:
        return None
    t = ((q - p)[0] * s[1] - (q - p)[1] * s[0]) / cross
    return p + t * r


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
