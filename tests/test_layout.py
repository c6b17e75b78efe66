"""layout.arrange: a freeform sheet's lines grouped into blocks and put in reading order.

End to end, boards drawn here (cards pinned on felt, a flipchart with a heading, bullets,
voting dots and an arrow, show-through from the next page) are read through
``pipeline.process_photo`` with PP-OCR; then the grouping and the order on hand-made
lines over drawn images.
"""

from __future__ import annotations

import difflib
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from flipchart_ocr import layout, rectify
from flipchart_ocr.document import Field, Line
from flipchart_ocr.pipeline import ProcessOptions, frames_part_of_more, process_photo
from flipchart_ocr.templates import FREEFORM_ID, Template

BOLD = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"
HAND = "/usr/share/fonts/truetype/fifthhorseman/dkg.ttf"
PPOCR = ProcessOptions(engine="ppocr", lang="deu")

FELT = (110, 130, 150)
PAPER = (246, 245, 240)
INK = (25, 30, 90)


def _similar(read: str, written: str) -> bool:
    ratio = difflib.SequenceMatcher(None, read.casefold(), written.casefold()).ratio()
    return ratio >= 0.8


def _card(draw: ImageDraw.ImageDraw, box: tuple[int, int, int, int], colour, lines, font) -> None:
    x0, y0, x1, y1 = box
    draw.rectangle([x0 + 8, y0 + 10, x1 + 8, y1 + 10], fill=(80, 95, 110))  # its shadow
    draw.rectangle(box, fill=colour)
    top = y0 + (y1 - y0 - len(lines) * font.size * 1.3) / 2
    for text in lines:
        width = draw.textlength(text, font=font)
        draw.text(((x0 + x1 - width) / 2, top), text, font=font, fill=INK)
        top += font.size * 1.3


def _read(tmp_path: Path, image: Image.Image, templates: dict[str, Template]):
    path = tmp_path / "board.jpg"
    image.save(path, quality=92)
    sheet = process_photo(path, templates, PPOCR).sheet
    assert sheet.template == FREEFORM_ID
    (text_field,) = sheet.fields
    return text_field


def _assert_blocks_read(field: Field, written: list[str]) -> None:
    """One block per written card or bullet, in order, each read close to what was written."""
    texts = [" ".join(field.lines[i].text for i in block.lines) for block in field.blocks]
    assert len(texts) == len(written), texts
    for read, truth in zip(texts, written, strict=True):
        assert _similar(read, truth), (read, truth)


# -- end to end: a pinboard of cards -----------------------------------------------------------

HEADING = "Ideen für den Stadtteil"
COLUMNS = [
    [["Spielplatz", "sanieren"], ["Café für alle"]],
    [["mehr Grün"], ["Sprachkurse"], ["Repair-Café"]],
    [["Fahrradwege"], ["Bänke am", "Markt"]],
]


def pinboard() -> Image.Image:
    """Cards pinned in three columns under a title card, columns far apart and staggered."""
    image = Image.new("RGB", (2000, 1500), FELT)
    draw = ImageDraw.Draw(image)
    font = ImageFont.truetype(BOLD, 46)
    _card(draw, (560, 80, 1440, 230), (252, 236, 120), [HEADING], ImageFont.truetype(BOLD, 56))
    colours = [(250, 250, 247), (160, 215, 150), (150, 195, 235)]
    for column, cards in enumerate(COLUMNS):
        left = 130 + column * 630
        top = 360 + column * 70
        for lines in cards:
            _card(draw, (left, top, left + 480, top + 220), colours[column], lines, font)
            top += 290
    return image


def test_a_pinboard_reads_card_by_card_title_first_columns_kept_together(
    tmp_path: Path, templates: dict[str, Template]
) -> None:
    field = _read(tmp_path, pinboard(), templates)
    _assert_blocks_read(
        field, [HEADING] + [" ".join(card) for column in COLUMNS for card in column]
    )
    assert field.blocks[0].kind == "heading"
    assert {block.kind for block in field.blocks[1:]} == {"card"}
    # the blocks index the field's lines in order, every line once
    assert [i for block in field.blocks for i in block.lines] == list(range(len(field.lines)))


SMALL_CARDS = [["Spielplatz sanieren"], ["mehr Grün"], ["Bänke am Markt"], ["Fahrradwege"]]


def pinboard_from_afar() -> Image.Image:
    """A title card and four cards with small writing far apart: a whole pinboard taken
    from a distance. The cards' writing is a tenth of the title's height."""
    image = Image.new("RGB", (2000, 1500), FELT)
    draw = ImageDraw.Draw(image)
    _card(draw, (560, 80, 1440, 230), (252, 236, 120), [HEADING], ImageFont.truetype(BOLD, 56))
    small = ImageFont.truetype(HAND, 17)
    for k, lines in enumerate(SMALL_CARDS):
        left, top = 130 + (k % 2) * 1000, 500 + (k // 2) * 450
        _card(draw, (left, top, left + 420, top + 160), PAPER, lines, small)
    return image


def test_small_writing_on_cards_far_apart_is_found(
    tmp_path: Path, templates: dict[str, Template]
) -> None:
    """A freeform sheet's rows cannot be measured from its ink (cards side by side run into
    one band); detected at the size for measured rows, three of these cards were lost."""
    field = _read(tmp_path, pinboard_from_afar(), templates)
    _assert_blocks_read(field, [HEADING] + [" ".join(card) for card in SMALL_CARDS])


# -- end to end: a flipchart with bullets, voting dots and an arrow -------------------------

BULLETS = [["Treffpunkte für", "Jugendliche"], ["Nachbarschaftsfest"], ["Sprachkurse", "am Abend"]]


def flipchart(show_through: bool = False) -> Image.Image:
    """A flipchart sheet on a grey wall: a heading, three bullets (two of two lines), a
    row of voting dots beside the first bullet, an arrow and a drawn circle; with
    ``show_through``, the next page's writing shows faintly, mirrored."""
    image = Image.new("RGB", (1500, 2000), (120, 120, 118))
    draw = ImageDraw.Draw(image)
    draw.rectangle([150, 100, 1350, 1900], fill=PAPER)
    hand = ImageFont.truetype(HAND, 64)
    if show_through:
        ghost = Image.new("RGB", (1000, 200), PAPER)
        ImageDraw.Draw(ghost).text(
            (10, 40), "Protokoll Seite zwei", font=hand, fill=(225, 224, 219)
        )
        image.paste(ghost.transpose(Image.Transpose.FLIP_LEFT_RIGHT), (250, 1550))
    draw.text(
        (300, 180), "Was brauchen wir?", font=ImageFont.truetype(HAND, 96), fill=(170, 30, 30)
    )
    top = 420
    for lines in BULLETS:
        draw.ellipse([250, top + 28, 274, top + 52], fill=INK)
        for text in lines:
            draw.text((310, top), text, font=hand, fill=INK)
            top += 85
        top += 90
    for k in range(4):  # voting dots beside the first bullet
        draw.ellipse([1000 + k * 60, 430, 1040 + k * 60, 470], fill=(40, 160, 60))
    draw.line([(1050, 700), (1050, 1100)], fill=(170, 30, 30), width=8)  # an arrow down
    draw.line([(1020, 1060), (1050, 1100), (1080, 1060)], fill=(170, 30, 30), width=8)
    draw.ellipse([950, 1250, 1150, 1450], outline=(170, 30, 30), width=8)  # a drawing
    return image


def test_a_flipchart_reads_heading_then_each_bullet_and_nothing_from_marks(
    tmp_path: Path, templates: dict[str, Template]
) -> None:
    field = _read(tmp_path, flipchart(), templates)
    _assert_blocks_read(field, ["Was brauchen wir?"] + [" ".join(lines) for lines in BULLETS])
    assert [block.kind for block in field.blocks] == ["heading", "bullet", "bullet", "bullet"]


def test_show_through_from_the_next_page_yields_no_line(
    tmp_path: Path, templates: dict[str, Template]
) -> None:
    field = _read(tmp_path, flipchart(show_through=True), templates)
    assert not any(_similar(line.text, "Protokoll Seite zwei") for line in field.lines)
    assert not any("Seite" in line.text or "Protokoll" in line.text for line in field.lines)
    assert len(field.blocks) == 4


# -- an outline around a few cards of a wall of them ---------------------------------------

NOTES = ["Café für alle", "Tauschbörse", "Fahrradwege", "Lesepaten", "Repair-Café",
         "Sprachkurse", "Bürgerbüro", "Homepage", "Newsletter", "Workshop", "Mehr Grün",
         "Open Space"]  # fmt: skip


def wall_of_notes() -> Image.Image:
    """Twelve notes in three rows of four on a pale wall, their writing wide on them."""
    image = Image.new("RGB", (2000, 1500), (214, 212, 196))
    draw = ImageDraw.Draw(image)
    font = ImageFont.truetype(HAND, 44)
    colours = [(250, 236, 120), (170, 210, 240), (245, 180, 190), (190, 225, 150)]
    for k, text in enumerate(NOTES):
        x, y = 90 + (k % 4) * 470, 120 + (k // 4) * 450
        _card(draw, (x, y, x + 380, y + 340), colours[k % 4], [text], font)
    return image


def _outline(corners: list[tuple[float, float]]) -> rectify.SheetOutline:
    return rectify.SheetOutline(np.array(corners, np.float32), found=True)


def test_an_outline_cutting_through_writing_with_more_outside_is_no_sheet() -> None:
    photo = cv2.cvtColor(np.array(wall_of_notes()), cv2.COLOR_RGB2BGR)
    # Around the first two notes of the first two rows, its right side through the
    # writing of the third: the quad a wall of notes' lined-up edges make.
    part = _outline([(60, 90), (1250, 90), (1250, 1000), (60, 1000)])
    assert frames_part_of_more(photo, part, PPOCR)
    # The whole wall, or a quad that cuts no writing, frames what it holds.
    assert not frames_part_of_more(
        photo, _outline([(40, 60), (1960, 60), (1960, 1440), (40, 1440)]), PPOCR
    )
    assert not frames_part_of_more(
        photo, _outline([(60, 90), (1010, 90), (1010, 1000), (60, 1000)]), PPOCR
    )
    # Tesseract alone is not asked to look.
    assert not frames_part_of_more(photo, part, ProcessOptions(engine="tesseract"))


def test_a_flipchart_with_print_beside_it_keeps_its_outline(tmp_path: Path) -> None:
    """Writing beside a sheet (a frame's print, a board behind it) is not cut by its edge."""
    image = Image.new("RGB", (2000, 1500), (70, 70, 80))
    draw = ImageDraw.Draw(image)
    draw.rectangle([500, 150, 1500, 1400], fill=PAPER)
    font = ImageFont.truetype(HAND, 60)
    for k, text in enumerate(["Architektur", "Protokoll", "Ideen"]):
        draw.text((600, 300 + 250 * k), text, font=font, fill=INK)
    print_font = ImageFont.truetype(BOLD, 40)
    for k, text in enumerate(["GIMP", "32", "32A", "GIMP", "33"]):
        draw.text(
            (60 if k % 2 else 1600, 150 + 260 * k), text, font=print_font, fill=(240, 150, 40)
        )
    photo = cv2.cvtColor(np.array(image), cv2.COLOR_RGB2BGR)
    assert not frames_part_of_more(
        photo, _outline([(500, 150), (1500, 150), (1500, 1400), (500, 1400)]), PPOCR
    )


# -- the rules on hand-made lines ------------------------------------------------------------


def _line(text: str, x: int, y: int, w: int, h: int = 60) -> Line:
    return Line(text, 90.0, (x, y, w, h), reader="ppocr")


def _blank(width: int = 1600, height: int = 1200, colour=PAPER) -> np.ndarray:
    return np.full((height, width, 3), colour[::-1], np.uint8)


def test_two_columns_of_paragraphs_are_read_column_by_column() -> None:
    image = _blank()
    lines = [
        _line("left one", 100, 100, 500),
        _line("left one more", 100, 150, 450),
        _line("right one", 900, 120, 500),
        _line("left two", 100, 300, 500),
        _line("right two", 900, 330, 400),
        _line("right two more", 900, 380, 400),
    ]
    ordered, blocks = layout.arrange(lines, image)
    texts = [[ordered[i].text for i in block.lines] for block in blocks]
    assert texts == [
        ["left one", "left one more"],
        ["left two"],
        ["right one"],
        ["right two", "right two more"],
    ]


def test_rows_of_notes_are_read_row_by_row() -> None:
    image = _blank(colour=(225, 222, 215))
    lines = []
    for row, top in enumerate((150, 650)):
        for k in range(4):
            x = 120 + k * 360 + row * 90  # the second row is shifted: no columns
            cv2.rectangle(image, (x, top), (x + 280, top + 280), (120, 230, 250), -1)
            lines.append(_line(f"note {row}{k}", x + 40, top + 110 + (k % 2) * 12, 200))
    ordered, blocks = layout.arrange(lines[::-1], image)
    assert [ordered[b.lines[0]].text for b in blocks] == [
        f"note {r}{k}" for r in (0, 1) for k in range(4)
    ]
    assert {b.kind for b in blocks} == {"card"}


def test_lines_on_one_card_form_one_block_even_when_far_apart() -> None:
    image = _blank(colour=(150, 130, 100))
    cv2.rectangle(image, (200, 200), (700, 700), (247, 250, 250), -1)
    cv2.rectangle(image, (900, 200), (1400, 700), (150, 235, 250), -1)
    lines = [
        _line("top of card one", 250, 250, 400),
        _line("bottom of card one", 250, 600, 400),
        _line("card two", 950, 420, 400),
    ]
    ordered, blocks = layout.arrange(lines, image)
    texts = [[ordered[i].text for i in block.lines] for block in blocks]
    assert texts == [["top of card one", "bottom of card one"], ["card two"]]
    assert [b.kind for b in blocks] == ["card", "card"]


def test_a_bullet_mark_in_the_text_starts_a_new_block() -> None:
    lines = [
        _line("• Kitaplätze", 100, 100, 500),
        _line("fehlen", 140, 150, 300),
        _line("• Lärm", 100, 200, 300),
    ]
    ordered, blocks = layout.arrange(lines, _blank())
    assert [[ordered[i].text for i in b.lines] for b in blocks] == [
        ["• Kitaplätze", "fehlen"],
        ["• Lärm"],
    ]
    assert [b.kind for b in blocks] == ["bullet", "bullet"]


def test_a_heading_comes_first_even_when_columns_follow() -> None:
    lines = [
        _line("right column", 900, 300, 400),
        _line("left column", 100, 320, 400),
        _line("Heading", 500, 80, 500, h=110),
    ]
    ordered, blocks = layout.arrange(lines, _blank())
    assert [ordered[b.lines[0]].text for b in blocks] == ["Heading", "left column", "right column"]
    assert blocks[0].kind == "heading"


def _dots(image: np.ndarray, x: int, y: int, count: int, radius: int, solid: bool) -> None:
    for k in range(count):
        centre = (x + radius + k * int(radius * 2.2), y + radius)
        cv2.circle(image, centre, radius, (60, 160, 40), -1 if solid else max(radius // 4, 2))


@pytest.mark.parametrize(("solid", "kept"), [(True, False), (False, True)])
def test_voting_dots_read_as_letters_go_a_written_ooo_stays(solid: bool, kept: bool) -> None:
    image = _blank()
    _dots(image, 300, 300, 4, 22, solid)
    dots = _line("oo0o", 290, 290, 220, 64)
    words = _line("Spielplatz", 300, 600, 400)
    ordered, _ = layout.arrange([dots, words], image)
    assert (dots in ordered) is kept
    assert words in ordered


def test_no_lines_no_blocks() -> None:
    assert layout.arrange([], _blank()) == ([], [])
