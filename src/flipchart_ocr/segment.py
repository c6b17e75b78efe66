"""Align a template to the rectified sheet by its box lines, and cut out the fields.

The sheet outline is rarely exact: a curled corner, a shadow on the edge or a
clip on the easel shifts it by a few percent. The printed box lines are far more
reliable, so we register the template's drawn boxes onto the lines seen on the
sheet (OpenCV's ECC, homography model) before cutting fields.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .templates import Template, TemplateField

# Alignment and template scoring work on a copy this tall: box lines are long,
# so little resolution is needed, and the ECC search stays fast.
ALIGN_HEIGHT = 480


@dataclass(frozen=True)
class Alignment:
    homography: (
        np.ndarray
    )  # template pixels at ALIGN_HEIGHT -> observed sheet pixels at ALIGN_HEIGHT
    score: float  # how well the template's lines match the sheet's, 0..1
    converged: bool


def align_size(aspect: float) -> tuple[int, int]:
    return max(int(round(ALIGN_HEIGHT * aspect)), 16), ALIGN_HEIGHT


def observed_lines(sheet: np.ndarray) -> np.ndarray:
    """Long straight dark strokes (the printed box lines) of a small sheet image, as 0/255."""
    gray = cv2.cvtColor(sheet, cv2.COLOR_BGR2GRAY) if sheet.ndim == 3 else sheet
    height, width = gray.shape
    # Normalise uneven light: divide by a blurred background estimate.
    background = cv2.medianBlur(gray, 31)
    flat = cv2.divide(gray, np.maximum(background, 1), scale=255)
    ink = cv2.adaptiveThreshold(
        flat, 255, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY_INV, 15, 12
    )
    horizontal = cv2.morphologyEx(ink, cv2.MORPH_OPEN, np.ones((1, max(width // 14, 5)), np.uint8))
    vertical = cv2.morphologyEx(ink, cv2.MORPH_OPEN, np.ones((max(height // 14, 5), 1), np.uint8))
    return cv2.bitwise_or(horizontal, vertical)


def expected_lines(template: Template, size: tuple[int, int], thickness: int = 2) -> np.ndarray:
    """The template's box outlines drawn at ``size`` (width, height), as 0/255."""
    width, height = size
    canvas = np.zeros((height, width), np.uint8)
    for field in template.fields:
        x, y, w, h = field.box
        top_left = (int(round(x * (width - 1))), int(round(y * (height - 1))))
        bottom_right = (int(round((x + w) * (width - 1))), int(round((y + h) * (height - 1))))
        cv2.rectangle(canvas, top_left, bottom_right, 255, thickness)
    return canvas


def has_box_lines(template: Template) -> bool:
    """A template whose only field is the whole sheet has no lines to align to."""
    return any(f.box != (0.0, 0.0, 1.0, 1.0) for f in template.fields)


def align(template: Template, observed: np.ndarray) -> Alignment:
    """Register the template's boxes onto the observed line mask (same size)."""
    size = (observed.shape[1], observed.shape[0])
    expected = expected_lines(template, size)
    homography = np.eye(3, dtype=np.float32)
    converged = True
    # Coarse to fine: a wide blur lets ECC pull in a few percent of offset, the narrow
    # one then lands it on the line. The coarse level runs at half size (a quarter of
    # the pixels: its blur leaves no detail to lose), the fine one at full size.
    # ECC stops when a step changes the correlation by less than eps; at 1e-4 it
    # stopped 3 % short in x on the current OpenCV wheels (4.11 to 5.0), score 0.83.
    for sigma, shrink in ((7.0, 2), (2.5, 1)):
        ref = _blurred(expected, sigma, shrink)
        moving = _blurred(observed, sigma, shrink)
        criteria = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 60, 1e-5)
        scaling = np.diag([1 / shrink, 1 / shrink, 1]).astype(np.float32)
        start = scaling @ homography @ np.linalg.inv(scaling)
        try:
            _, found = cv2.findTransformECC(
                ref, moving, start.astype(np.float32), cv2.MOTION_HOMOGRAPHY, criteria, None, 1
            )
        except cv2.error:
            converged = False
            break
        candidate = (np.linalg.inv(scaling) @ found @ scaling).astype(np.float32)
        if not _is_small_correction(candidate, size):
            converged = False
            break
        homography = candidate
    score = line_match_score(expected, observed, homography)
    return Alignment(homography, score, converged)


def _blurred(mask: np.ndarray, sigma: float, shrink: int = 1) -> np.ndarray:
    blurred = cv2.GaussianBlur(mask.astype(np.float32) / 255.0, (0, 0), sigma)
    if shrink == 1:
        return blurred
    size = (mask.shape[1] // shrink, mask.shape[0] // shrink)
    return cv2.resize(blurred, size, interpolation=cv2.INTER_AREA)


def _is_small_correction(homography: np.ndarray, size: tuple[int, int]) -> bool:
    """Refinement fixes a few percent; a larger jump means ECC locked onto something else."""
    width, height = size
    corners = np.array([[[0, 0]], [[width, 0]], [[width, height]], [[0, height]]], np.float32)
    moved = cv2.perspectiveTransform(corners, homography.astype(np.float32))
    shift = np.abs(moved - corners).reshape(-1, 2) / np.array([width, height])
    return bool(shift.max() < 0.12)


def rough_line_score(template: Template, observed: np.ndarray) -> float:
    """How well the template's lines match before alignment, tolerating a few percent offset.

    Cheap: it decides which templates are worth the costlier ECC alignment.
    """
    size = (observed.shape[1], observed.shape[0])
    tolerance = max(7, int(0.04 * observed.shape[0])) | 1
    return line_match_score(expected_lines(template, size), observed, np.eye(3), tolerance)


def line_match_score(
    expected: np.ndarray, observed: np.ndarray, homography: np.ndarray, tolerance_px: int = 7
) -> float:
    """F1 of template lines against observed lines, with a few pixels' tolerance."""
    size = (observed.shape[1], observed.shape[0])
    placed = cv2.warpPerspective(
        expected, homography.astype(np.float32), size, flags=cv2.INTER_NEAREST
    )
    tolerance = np.ones((tolerance_px, tolerance_px), np.uint8)
    near_observed = cv2.dilate(observed, tolerance) > 0
    near_expected = cv2.dilate(placed, tolerance) > 0
    expected_pixels = placed > 0
    observed_pixels = observed > 0
    if not expected_pixels.any() or not observed_pixels.any():
        return 0.0
    recall = float((expected_pixels & near_observed).sum() / expected_pixels.sum())
    precision = float((observed_pixels & near_expected).sum() / observed_pixels.sum())
    if recall + precision == 0:
        return 0.0
    return 2 * recall * precision / (recall + precision)


def field_pixel_box(
    field: TemplateField, size: tuple[int, int], content: bool
) -> tuple[int, int, int, int]:
    """A field's box (or its writing area below the label) in pixels of a sheet of ``size``."""
    width, height = size
    x, y, w, h = field.content_box if content else field.box
    left, top = int(round(x * width)), int(round(y * height))
    right, bottom = int(round((x + w) * width)), int(round((y + h) * height))
    return left, top, max(right - left, 1), max(bottom - top, 1)


def _crop_rect(field: TemplateField, size: tuple[int, int]) -> tuple[int, int, int, int]:
    """The writing area inset a little, so that the box lines stay outside: l, t, r, b."""
    left, top, w, h = field_pixel_box(field, size, content=True)
    inset = max(2, int(0.006 * min(size)))
    top_inset = inset if field.label_height == 0 else max(inset // 2, 1)
    return left + inset, top + top_inset, left + w - inset, top + h - inset


def crop_field(sheet: np.ndarray, field: TemplateField) -> np.ndarray:
    """The writing area of a field, cut from the rectified sheet."""
    left, top, right, bottom = _crop_rect(field, (sheet.shape[1], sheet.shape[0]))
    return sheet[top:bottom, left:right]


def crop_offset(field: TemplateField, size: tuple[int, int]) -> tuple[int, int]:
    """Where ``crop_field``'s crop starts on the sheet."""
    left, top, _, _ = _crop_rect(field, size)
    return left, top
