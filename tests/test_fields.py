"""Printed labels found by their text and taken out; handwriting under or beside them kept."""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from flipchart_ocr import segment
from flipchart_ocr.document import Line, Word
from flipchart_ocr.fields import after_label, without_label
from flipchart_ocr.pipeline import ProcessOptions, read_fields
from flipchart_ocr.readers import Region, ppocr
from flipchart_ocr.templates.loader import parse_template

from .conftest import DEJAVU

BOX = (0, 0, 1000, 400)
LABEL = "Was läuft gut bei uns im Stadtbezirk..."


def _line(text: str, y: int, x: int = 20, width: int = 600) -> Line:
    words = tuple(Word(w, 90.0) for w in text.split())
    return Line(text, 90.0, (x, y, width, 40), words)


def test_a_label_line_is_dropped_and_the_writing_under_it_kept() -> None:
    lines = [_line("Was läuft gut bei uns im Stadtbezirk...", 10), _line("viele Vereine", 60)]
    assert [line.text for line in without_label(lines, LABEL, BOX)] == ["viele Vereine"]


def test_a_label_read_with_mistakes_or_split_over_two_lines_is_still_found() -> None:
    lines = [
        _line("Was lauft gut bei uns", 10),
        _line("im Stadtbezirk", 50),
        _line("Spielplätze", 100),
    ]
    assert [line.text for line in without_label(lines, LABEL, BOX)] == ["Spielplätze"]


def test_writing_on_the_label_row_is_cut_after_the_label() -> None:
    merged = _line("Was läuft gut bei uns im Stadtbezirk... viele engagierte Vereine", 10, 20, 900)
    rest = after_label(merged, "was läuft gut bei uns im stadtbezirk")
    assert rest is not None
    assert rest.text == "viele engagierte Vereine"
    assert rest.bbox[0] > merged.bbox[0] + 400  # the box starts where the writing does
    assert [w.text for w in rest.words] == ["viele", "engagierte", "Vereine"]


def test_a_short_word_that_happens_to_be_in_the_label_is_writing() -> None:
    # "gut" appears in the label, but a line that short is not taken for a piece of it
    lines = [_line(LABEL, 10), _line("gut", 60)]
    assert [line.text for line in without_label(lines, LABEL, BOX)] == ["gut"]


def test_lines_low_in_the_box_are_never_taken_for_the_label() -> None:
    lines = [_line("Was läuft gut bei uns im Stadtbezirk", 300)]
    assert without_label(lines, LABEL, BOX) == lines


def _sheet_with_a_tall_label() -> tuple[np.ndarray, dict]:
    """A one-field poster whose label is printed on two lines, taller than the strip a
    template without ``label_height`` assumes, with handwriting right under it."""
    width, height = 1000, 1400
    image = Image.new("RGB", (width, height), (246, 245, 240))
    draw = ImageDraw.Draw(image)
    draw.rectangle([30, 100, 970, 700], outline=(25, 25, 25), width=4)
    label_font = ImageFont.truetype(DEJAVU, 44)
    draw.text((50, 112), "Was läuft gut", font=label_font, fill=(0, 0, 0))
    draw.text((50, 162), "bei uns im Bezirk?", font=label_font, fill=(0, 0, 0))
    hand = ImageFont.truetype(DEJAVU, 52)
    draw.text((60, 222), "viele engagierte Vereine", font=hand, fill=(20, 40, 160))
    draw.text((60, 300), "ruhige Straßen", font=hand, fill=(20, 40, 160))
    template = {
        "id": "tall-label",
        "name": "Eine Frage",
        "aspect": width / height,
        # no label_height: the default strip (5 % of the sheet, 70 px) ends inside the
        # label's second line
        "fields": [
            {
                "id": "gut",
                "label": "Was läuft gut bei uns im Bezirk?",
                "box": [0.03, 0.0714, 0.94, 0.4286],
            }
        ],
    }
    return cv2.cvtColor(np.array(image), cv2.COLOR_RGB2BGR), template


def test_handwriting_right_under_a_tall_label_is_read_whole() -> None:
    image, data = _sheet_with_a_tall_label()
    template = parse_template(data, "tall-label.yaml")
    (field,) = read_fields(image, template, ProcessOptions())
    assert field.text.splitlines() == ["viele engagierte Vereine", "ruhige Straßen"]
    assert all(line.reader == "ppocr" for line in field.lines)
    # the assumed strip is too short: its second line would pass for handwriting
    (assumed,) = read_fields(image, template, ProcessOptions(find_labels=False))
    assert assumed.text.splitlines()[0] == "bei uns im Bezirk?"


def test_the_reader_glances_at_rows_near_a_label_and_reads_only_the_writing_again() -> None:
    """The rows in the top half of a field with a label are first read squeezed: the two
    printed label rows go, the handwriting rows just under them (in the same top half)
    stay to be read in full. Without a label nothing is left out."""
    image, data = _sheet_with_a_tall_label()
    (field,) = parse_template(data, "tall-label.yaml").fields
    size = (image.shape[1], image.shape[0])
    region = Region(segment.field_pixel_box(field, size, content=False), "gut", label=field.label)
    found = ppocr.models()
    boxes = found.detect(image, ppocr.sides_for(image, [region]))
    (rows,) = ppocr.assign_to_regions(boxes, [region.box])
    assert sorted(row.bbox[1] // 10 for row in rows) == [11, 16, 22, 30]  # 2 printed, 2 written

    (kept,) = ppocr.without_label_rows(image, [rows], [region], found)
    assert sorted(row.bbox[1] // 10 for row in kept) == [22, 30]
    unlabelled = replace(region, label="")
    assert ppocr.without_label_rows(image, [rows], [unlabelled], found) == [rows]
