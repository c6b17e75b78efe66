"""Template identification and alignment on sheets whose template we know."""

from __future__ import annotations

import numpy as np
import pytest

from flipchart_ocr.pipeline import ProcessOptions, choose_template
from flipchart_ocr.rectify import find_sheet
from flipchart_ocr.segment import align, align_size, expected_lines, observed_lines
from flipchart_ocr.templates import Template

from .conftest import place_in_photo, render_sheet


@pytest.mark.parametrize("template_id", ["austausch", "themensammlung", "themenarbeit"])
def test_each_template_identifies_itself(templates: dict[str, Template], template_id: str) -> None:
    sheet = render_sheet(templates[template_id], {})
    corners = [[400, 200], [1700, 260], [1750, 1500], [350, 1450]]
    if templates[template_id].aspect > 1:
        corners = [[200, 300], [2000, 260], [2050, 1600], [150, 1550]]
    photo = place_in_photo(sheet, corners, (2200, 1800))
    candidate = choose_template(photo, find_sheet(photo), templates, ProcessOptions())
    assert candidate.template.id == template_id
    assert candidate.score > 0.6


def test_alignment_recovers_a_few_percent_of_offset(templates: dict[str, Template]) -> None:
    template = templates["austausch"]
    size = align_size(template.aspect)
    drawn = expected_lines(template, size)
    # The sheet as if the outline had been found 3% too far left and 2% too high.
    shift = np.float32([[1, 0, 0.03 * size[0]], [0, 1, 0.02 * size[1]]])
    import cv2

    shifted = cv2.warpAffine(drawn, shift, size)
    alignment = align(template, shifted)
    assert alignment.converged
    assert alignment.score > 0.9
    assert abs(alignment.homography[0, 2] - 0.03 * size[0]) < 2
    assert abs(alignment.homography[1, 2] - 0.02 * size[1]) < 2


def test_a_blank_sheet_fits_no_boxed_template(templates: dict[str, Template]) -> None:
    blank = np.full((1400, 1000, 3), 245, np.uint8)
    photo = place_in_photo(
        blank, [[400, 200], [1400, 200], [1400, 1600], [400, 1600]], (1800, 1800)
    )
    candidate = choose_template(photo, find_sheet(photo), templates, ProcessOptions())
    assert candidate.template.id == "freeform"


def test_observed_lines_ignore_short_strokes() -> None:
    sheet = np.full((480, 336), 250, np.uint8)
    sheet[100:104, 20:320] = 20  # a box edge
    sheet[200:230, 50:80] = 20  # a blob of ink
    lines = observed_lines(sheet)
    assert lines[100:104, 50:300].mean() > 200
    assert lines[205:225, 55:75].max() == 0
