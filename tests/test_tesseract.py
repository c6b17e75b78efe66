"""OCR-stage preprocessing: row splitting, darkening, box-line removal, and a real Tesseract read."""

from __future__ import annotations

import csv

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from flipchart_ocr.readers import ink, tesseract

from .conftest import DEJAVU, ROOT

DHSD = ROOT / "tests" / "fixtures" / "dhsd"

DEJAVU_BOLD = DEJAVU.replace("DejaVuSans.ttf", "DejaVuSans-Bold.ttf")


def two_rows_joined() -> np.ndarray:
    """Two rows of bars, and one stroke from row one down into row two (a long descender)."""
    gray = np.full((160, 400), 255, np.uint8)
    for x in range(20, 380, 30):
        cv2.rectangle(gray, (x, 20), (x + 8, 70), 0, -1)
        cv2.rectangle(gray, (x, 90), (x + 8, 140), 0, -1)
    cv2.line(gray, (200, 70), (204, 100), 0, 4)  # the joining descender
    return gray


def components(gray: np.ndarray) -> list[tuple[int, int]]:
    """(top, bottom) of every ink component."""
    count, _, stats, _ = cv2.connectedComponentsWithStats((gray < 128).astype(np.uint8), 8)
    return [
        (int(s[cv2.CC_STAT_TOP]), int(s[cv2.CC_STAT_TOP] + s[cv2.CC_STAT_HEIGHT]))
        for s in stats[1:]
    ]


def test_split_rows_parts_a_stroke_joining_two_rows() -> None:
    gray = two_rows_joined()
    assert max(bottom - top for top, bottom in components(gray)) > 100  # joined: both rows
    split = ink.split_rows(gray)
    assert split.shape[0] >= gray.shape[0] + 8  # a white gap was opened
    assert split.shape[1] == gray.shape[1]
    # No component reaches from the first row's bars (ending at 70) to the second's (from 90).
    gap = split.shape[0] - gray.shape[0]
    assert not [c for c in components(split) if c[0] <= 70 and c[1] >= 90 + gap]
    assert len(ink.row_bands(split)) == 2


def test_split_rows_leaves_a_single_row_alone() -> None:
    gray = two_rows_joined()[:80]
    assert np.array_equal(ink.split_rows(gray), gray)


def test_darken_keeps_white_and_black_and_darkens_grey() -> None:
    ramp = np.arange(256, dtype=np.uint8).reshape(1, -1)
    dark = ink.darken(ramp, 1.5)
    assert dark[0, 255] == 255 and dark[0, 0] == 0
    assert dark[0, 200] < 180  # a pale stroke edge becomes ink-dark
    assert np.all(np.diff(dark[0].astype(int)) >= 0)


def test_box_line_removal_keeps_a_tall_letter_inside_the_crop() -> None:
    gray = np.full((70, 600), 255, np.uint8)
    for x in range(40, 500, 40):  # letters of a text row, 40 px tall
        cv2.rectangle(gray, (x, 15), (x + 20, 55), 0, 3)
    cv2.rectangle(gray, (300, 15), (306, 55), 0, -1)  # a capital I, as tall as the row
    cv2.rectangle(gray, (590, 0), (595, 69), 0, -1)  # a box edge at the crop's side
    cv2.rectangle(gray, (150, 0), (153, 69), 0, -1)  # a line across the whole crop
    cleaned = ink.remove_box_lines(gray)
    assert cleaned[35, 303] == 0  # the I stays
    assert cleaned[35, 592] == 255  # the box edge goes
    assert cleaned[35, 151] == 255  # so does a line as tall as the crop, wherever it is
    assert cleaned[17, 52] == 0  # and the other letters stay


def test_spare_letters_keeps_a_capital_i_at_the_side_but_not_a_box_line() -> None:
    gray = np.full((70, 600), 255, np.uint8)
    cv2.rectangle(gray, (575, 15), (581, 55), 0, -1)  # a capital I near the right side
    cv2.rectangle(gray, (590, 0), (595, 69), 0, -1)  # a box edge across the whole crop
    spared = ink.remove_box_lines(gray, spare_letters=True)
    assert spared[35, 578] == 0  # the I stays
    assert spared[35, 592] == 255  # the box edge goes
    assert ink.remove_box_lines(gray)[35, 578] == 255  # without sparing, the I goes too


def rendered_field(rows: list[str], size: int = 64, spacing: float = 1.15) -> np.ndarray:
    """Blue bold writing on off-white paper, rows close together."""
    font = ImageFont.truetype(DEJAVU_BOLD, size)
    image = Image.new("RGB", (900, int(size * (len(rows) * spacing + 1.2))), (240, 238, 230))
    draw = ImageDraw.Draw(image)
    for i, row in enumerate(rows):
        draw.text((30, 20 + i * size * spacing), row, font=font, fill=(30, 50, 170))
    return cv2.cvtColor(np.array(image), cv2.COLOR_RGB2BGR)


def test_two_rows_with_descenders_and_umlauts_read_back_after_preprocessing() -> None:
    crop = rendered_field(["Größere Säle", "für Jugendliche"])
    lines, _ = tesseract.read_field(crop, tesseract.TesseractOptions())
    text = "\n".join(line.text for line in lines)
    assert len(lines) == 2, text
    assert text == "Größere Säle\nfür Jugendliche", text


def test_line_boxes_stay_true_to_the_sheet_when_rows_are_split() -> None:
    """Gaps opened between rows must not push the boxes of lower rows down the sheet."""
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.truetype("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", 40)
    image = Image.new("RGB", (900, 400), (250, 250, 250))
    draw = ImageDraw.Draw(image)
    rows = {"Gute Nachbarschaft": 40, "Mehr Kontakte": 150, "Vertrauen aufbauen": 260}
    for text, top in rows.items():
        draw.text((30, top), text, font=font, fill=(20, 40, 160))
    crop = cv2.cvtColor(np.array(image), cv2.COLOR_RGB2BGR)
    lines, _ = tesseract.read_fields(
        [tesseract.FieldCrop(crop, (100, 1000))], tesseract.TesseractOptions()
    )[0]
    assert len(lines) == 3, [line.text for line in lines]
    for line, top in zip(lines, rows.values(), strict=True):
        # DejaVu's capitals start about 8 px below the drawing origin at 40 px
        assert abs(line.bbox[1] - (1000 + top + 8)) < 12, (line.text, line.bbox)
        assert abs(line.bbox[0] - 130) < 12


def test_a_card_edge_does_not_pass_for_one_huge_text_row() -> None:
    """A card's shadowed edge down the crop joins all rows into one band; the letters still tell."""
    gray = np.full((300, 600), 255, np.uint8)
    cv2.rectangle(gray, (0, 0), (40, 299), 60, -1)  # the dark edge of a pinned card
    for top in (60, 140, 220):
        for left in range(40, 520, 40):
            cv2.rectangle(gray, (left, top), (left + 20, top + 30), 0, -1)  # letters 30 px tall
    assert ink.line_height(gray) > 200  # the card makes one band of the whole crop
    assert 30 <= ink.plausible_row_height(gray) <= 60


def _dhsd_ink() -> list[np.ndarray]:
    """The real handwritten words of the fixtures, cropped to their ink, at a natural
    width (the dataset squeezes every word to 256 x 64)."""
    with (DHSD / "labels.tsv").open(encoding="utf-8") as f:
        files = [row["file"] for row in csv.DictReader(f, delimiter="\t")]
    words = []
    for name in files:
        gray = cv2.resize(cv2.imread(str(DHSD / name), cv2.IMREAD_GRAYSCALE), None, fx=1.6, fy=1)
        ys, xs = np.nonzero(gray < 128)
        words.append(gray[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1])
    return words


def _on_paper(*words: np.ndarray, overlap: int = 0) -> np.ndarray:
    """The words one under the other, each reaching ``overlap`` pixels into the one above."""
    height = sum(w.shape[0] for w in words) - overlap * (len(words) - 1) + 40
    page = np.full((height, max(w.shape[1] for w in words) + 40), 255, np.uint8)
    top = 20
    for word in words:
        area = page[top : top + word.shape[0], 20 : 20 + word.shape[1]]
        np.minimum(area, word, out=area)
        top += word.shape[0] - overlap
    return page


def test_ink_rows_cuts_real_handwritten_rows_that_touch_and_keeps_a_word_whole() -> None:
    """Rows written close run into one band of the ink's profile; a cut at the profile's
    dip parts them. A word's ascenders, descenders and umlaut dots stay in its row."""
    words = _dhsd_ink()
    assert [len(ink.ink_rows(_on_paper(word))) for word in words] == [1] * len(words)
    pairs = [_on_paper(a, b, overlap=6) for a, b in zip(words[0::2], words[1::2], strict=True)]
    touching = [page for page in pairs if len(ink.row_bands(page)) == 1]
    assert len(touching) >= 6  # the premise: most pairs run into one band
    assert sum(len(ink.ink_rows(page)) == 2 for page in touching) >= len(touching) - 1
