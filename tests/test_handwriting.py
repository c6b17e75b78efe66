"""Our line recogniser: the shipped model reads rows of a field, and the word list picks per row."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from flipchart_ocr import handwriting, ocr
from flipchart_ocr.document import Line, Word
from flipchart_ocr.evaluate import Tally

# A font of the sample generator: the model never saw it in training (training/recogniser).
HUMOR = "/usr/share/fonts/truetype/humor-sans/Humor-Sans.ttf"
ROWS = ["OFFENHEIT UND TOLERANZ", "BEGEGNUNG IM QUARTIER"]


def field_crop(rows: list[str], ink: tuple[int, int, int] = (165, 50, 25)) -> ocr.FieldCrop:
    """Marker rows (blue, BGR) on white paper, as a field crop at sheet offset (100, 200)."""
    image = Image.new("RGB", (1100, 120 * len(rows) + 60), (246, 244, 240))
    draw = ImageDraw.Draw(image)
    font = ImageFont.truetype(HUMOR, 64)
    for index, row in enumerate(rows):
        draw.text((40, 30 + 120 * index), row, font=font, fill=ink[::-1])
    return ocr.FieldCrop(np.array(image)[:, :, ::-1].copy(), (100, 200), "Thema")


def test_the_shipped_model_reads_each_row_of_a_field_in_sheet_pixels() -> None:
    lines = handwriting.read_rows(field_crop(ROWS), ocr.OcrOptions())
    assert len(lines) == 2
    tally = Tally()
    tally.add_text("\n".join(line.text for line in lines), "\n".join(ROWS))
    assert tally.cer < 0.15, [line.text for line in lines]
    first, second = lines
    assert first.bbox[1] < second.bbox[1]
    assert 100 <= first.bbox[0] < 200 and 200 <= first.bbox[1] < 280  # offset applied
    assert all(0 < w.confidence <= 100 for line in lines for w in line.words)


def test_an_empty_field_has_no_rows() -> None:
    assert handwriting.read_rows(field_crop([]), ocr.OcrOptions()) == []


def line(text: str, y: int, confidence: float = 50.0) -> Line:
    return Line(text, confidence, (0, y, 400, 40))


def test_per_row_the_reading_with_more_german_words_wins_and_ties_go_to_tesseract() -> None:
    ours = [line("Begegnung im Quartier", 0), line("Kitaplatze", 60), line("Offenheit", 120)]
    tesseract = [
        line("Beeeerentg in (rarkter", 5, 90.0),  # fewer German words: ours wins
        line("Kitaplätze", 62),  # more: Tesseract's wins
        line("Offenheit", 118),  # a tie: Tesseract's
        line("Nachbarschaft", 300),  # overlaps no row of ours: kept
    ]
    chosen = handwriting.combine(ours, tesseract)
    assert [c.text for c in chosen] == [
        "Begegnung im Quartier",
        "Kitaplätze",
        "Offenheit",
        "Nachbarschaft",
    ]
    assert chosen[2] is tesseract[2]


def test_the_word_list_is_installed() -> None:
    # scripts/setup.sh installs Debian's wngerman; without it every row is Tesseract's.
    assert len(handwriting.german_words()) > 100_000
    assert handwriting.lexicon_fit("Begegnung im Quartier") == 1.0
    assert handwriting.lexicon_fit("Beeeerentg in rarkter") < 0.5


def test_our_words_unknown_to_the_word_list_are_flagged_for_review() -> None:
    read = Line(
        "Begegnung im Qunrtier",
        88.0,
        (0, 0, 400, 40),
        (Word("Begegnung", 90.0), Word("im", 85.0), Word("Qunrtier", 80.0)),
    )
    flagged = handwriting.with_unknown_words_flagged(read)
    assert [w.confidence for w in flagged.words] == [90.0, 85.0, 40.0]
    assert flagged.confidence < read.confidence
    assert (flagged.text, flagged.bbox) == (read.text, read.bbox)
    # chosen by combine: the row comes back flagged
    chosen = handwriting.combine([read], [line("Beeeerentg in rarkter", 0, 90.0)])
    assert chosen[0].words[2].confidence < ocr.LOW_CONFIDENCE


def test_hybrid_reading_is_for_german_only() -> None:
    from flipchart_ocr.pipeline import ProcessOptions, uses_recogniser

    assert uses_recogniser(ProcessOptions())
    assert uses_recogniser(ProcessOptions(lang="deu+eng"))
    assert not uses_recogniser(ProcessOptions(lang="eng"))
    assert not uses_recogniser(ProcessOptions(engine="tesseract"))


def test_on_a_freeform_sheet_each_tesseract_line_is_read_again_from_its_own_crop() -> None:
    crop = field_crop(ROWS)  # the "sheet": two rows at y = 30 and 150
    garbled = Line("OFFEHEIT UMD TOIERAMZ", 30.0, (30, 25, 900, 85), ())
    kept = Line("BEGEGNUNG IM QUARTIER", 90.0, (30, 145, 900, 85), ())
    chosen = handwriting.reread_lines(
        crop.image, [garbled, kept], ocr.OcrOptions(), handwriting.lexicon()
    )
    assert len(chosen) == 2
    # ours has more known words than the garbled line: it replaces it, in sheet pixels
    assert handwriting.lexicon_fit(chosen[0].text) > handwriting.lexicon_fit(garbled.text)
    assert 0 <= chosen[0].bbox[1] < 60 and chosen[0].bbox[0] < 100
    assert chosen[1] is kept  # all known already: Tesseract's line stays


def test_names_from_the_event_words_are_read_as_written_in_capitals() -> None:
    names = ["DANA WILLIMZIK", "HR. LOSNER"]
    assert "Willimzik" not in handwriting.lexicon()  # no German word: the list brings it
    known = handwriting.lexicon(frozenset({"Dana", "Willimzik", "Losner"}))
    lines = handwriting.read_rows(field_crop(names), ocr.OcrOptions(), known)
    assert [line.text for line in lines] == names
