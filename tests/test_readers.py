"""The readers on real images: real handwriting, English beside German, the model files."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image, ImageDraw, ImageFont

from flipchart_ocr.cli import cli
from flipchart_ocr.document import Line, Word
from flipchart_ocr.errors import ModelError
from flipchart_ocr.evaluate import edit_distance
from flipchart_ocr.pipeline import ProcessOptions, read_fields
from flipchart_ocr.readers import Region, ctc, ppocr
from flipchart_ocr.templates import FREEFORM_ID, load_templates

from .conftest import ROOT, SAMPLES

DHSD = ROOT / "tests" / "fixtures" / "dhsd"
HUMOR = "/usr/share/fonts/truetype/humor-sans/Humor-Sans.ttf"  # fonts-humor-sans (setup --dev)
BWLEARN = "/usr/share/fonts/opentype/bwht/BecauseWeLearn-Regular.otf"  # fonts-bwht (setup --dev)


def _dhsd_words() -> list[tuple[np.ndarray, str]]:
    with (DHSD / "labels.tsv").open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    return [
        (
            cv2.cvtColor(
                cv2.imread(str(DHSD / r["file"]), cv2.IMREAD_GRAYSCALE), cv2.COLOR_GRAY2BGR
            ),
            r["text"],
        )
        for r in rows
    ]


def test_real_german_handwriting_is_read_with_its_umlauts_and_eszett() -> None:
    words = _dhsd_words()
    models = ppocr.models(1)
    rows = models.recognise([image for image, _ in words])
    read = [
        " ".join(w.text for w in ctc.read_words(p, models.charset, ctc.lexicon("deu")))
        for p in rows
    ]
    edits = sum(edit_distance(r, truth) for r, (_, truth) in zip(read, words, strict=True))
    chars = sum(len(truth) for _, truth in words)
    # The fine-tuned recogniser reads these twenty words of unseen writers at a CER of
    # 0.06, 13 of them exactly (version 26; the CNN it replaced: DHSD CER 0.36; Tesseract
    # 0.33).
    assert edits / chars < 0.25, list(zip(read, [t for _, t in words], strict=True))
    assert sum(r == truth for r, (_, truth) in zip(read, words, strict=True)) >= 6
    text = " ".join(read)
    assert "ß" in text and any(ch in text for ch in "äöü")


def _english_sheet() -> np.ndarray:
    image = Image.new("RGB", (1400, 1000), (246, 245, 240))
    draw = ImageDraw.Draw(image)
    font = ImageFont.truetype(HUMOR, 64)
    for i, line in enumerate(["payments, takes LN node credentials", "Lightning wallet backup"]):
        draw.text((80, 150 + i * 140), line, font=font, fill=(20, 40, 160))
    return cv2.cvtColor(np.array(image), cv2.COLOR_RGB2BGR)


def test_english_words_are_never_turned_into_german_ones() -> None:
    freeform = load_templates()[FREEFORM_ID]
    for lang in ("deu+eng", "deu"):
        (field,) = read_fields(_english_sheet(), freeform, ProcessOptions(lang=lang))
        # Humor Sans writes capitals; the test is of words, not of their punctuation
        # (at the size freeform sheets are detected at, "payments," reads "PAYMENTS.").
        words = [word.strip(".,;:!?") for word in field.text.lower().split()]
        for word in ("payments", "takes", "node", "credentials", "wallet", "backup"):
            assert word in words, (lang, field.text)


def test_a_damaged_model_file_stops_process_before_any_work(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    models = tmp_path / "models"
    shutil.copytree(ppocr.model_dir(), models)
    (models / ppocr.DETECTOR.name).write_bytes(b"not a model")
    monkeypatch.setattr(ppocr, "model_dir", lambda: models)
    with pytest.raises(ModelError, match="checksum"):
        ppocr.check_models()
    out = tmp_path / "out"
    result = CliRunner().invoke(
        cli, ["process", str(SAMPLES / "austausch-01-dkg-blue.jpg"), "-o", str(out)]
    )
    assert result.exit_code == 2
    assert "PP-OCRv6_det_small.onnx" in result.stderr and "pip install 'rapidocr" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not out.exists()


def test_a_missing_model_file_names_the_package_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ppocr, "model_dir", lambda: tmp_path / "nowhere")
    with pytest.raises(
        ModelError, match=r"model file missing; reinstall it: pip install 'rapidocr"
    ):
        ppocr.check_models()


def test_our_own_recogniser_is_checked_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    own = tmp_path / "models"
    shutil.copytree(ppocr.OWN_MODELS, own)
    with (own / ppocr.RECOGNISER_DE.name).open("ab") as f:
        f.write(b"\0")  # one byte more: a damaged copy
    monkeypatch.setattr(ppocr, "OWN_MODELS", own)
    with pytest.raises(ModelError, match="ppocr_rec_de.onnx: model file differs"):
        ppocr.check_models("de")
    ppocr.check_models("base")  # the wheel's recogniser is untouched


def _field_of_packed_heavy_capitals() -> tuple[np.ndarray, tuple[int, int, int, int], list[str]]:
    """A sheet whose one field holds five rows of thick marker capitals, packed close."""
    rows = ["GUTE MISCHUNG", "DER", "BEVÖLKERUNG", "KOMPETENTER", "BÜRGERMEISTER"]
    image = Image.new("RGB", (1700, 1270), (236, 228, 232))
    draw = ImageDraw.Draw(image)
    left, top, right, bottom = 1130, 150, 1645, 755
    draw.rectangle((left, top, right, bottom), outline=(40, 40, 40), width=3)
    font = ImageFont.truetype(BWLEARN, 48)
    for i, text in enumerate(rows):
        ink = (25, 25, 30)
        draw.text((1150, 175 + 45 * i), text, font=font, fill=ink, stroke_width=3, stroke_fill=ink)
    sheet = cv2.cvtColor(np.array(image), cv2.COLOR_RGB2BGR)
    return sheet, (left, top, right - left, bottom - top), rows


def test_writing_the_detector_missed_at_the_sheets_size_is_found_by_a_second_look() -> None:
    """Thick rows packed close run together for the detector at a coarse size: one row of
    five is found at 736 px. The field's ink lies mostly outside it, so the field is
    detected again on its own, larger, and every row is read."""
    image, box, rows = _field_of_packed_heavy_capitals()
    found = ppocr.models()
    (coarse,) = ppocr.assign_to_regions(found.detect(image, (736,)), [box])
    assert len(coarse) <= 2  # the premise: the sheet's size misses most rows

    (again,) = ppocr.with_missed_writing(image, [coarse], [Region(box, "f")], found, (736,))
    assert len(again) == 5
    (lines,) = ppocr.PPOCRReader(sides=(736,)).read(image, [Region(box, "f")]).lines
    read = "\n".join(line.text for line in lines)
    assert edit_distance(read, "\n".join(rows)) <= 6, read


def test_a_field_whose_rows_were_found_is_not_looked_at_again() -> None:
    image, box, _ = _field_of_packed_heavy_capitals()
    found = ppocr.models()
    (fine,) = ppocr.assign_to_regions(found.detect(image, (1600,)), [box])
    assert len(fine) == 5
    kept = ppocr.with_missed_writing(image, [fine], [Region(box, "f")], found, (1600,))
    assert kept == [fine]


def test_rows_the_detector_missed_are_cut_from_the_inks_profile_and_read() -> None:
    """At 736 px the detector finds at most two of the five packed rows; the rest are cut
    from the profile of the ink left over, one box a row, and read."""
    image, box, rows = _field_of_packed_heavy_capitals()
    found = ppocr.models()
    (coarse,) = ppocr.assign_to_regions(found.detect(image, (736,)), [box])
    assert len(coarse) <= 2
    small, scale = ppocr._measuring_copy(image)

    missed = ppocr.rows_of_missed_ink(small, box, scale, coarse)
    assert len(coarse) + len(missed) == 5
    every = sorted(coarse + missed, key=lambda b: b.bbox[1])
    read = [line.text for line in ppocr.read_boxes(image, every, None, found) if line]
    assert edit_distance("\n".join(read), "\n".join(rows)) <= 6, read


def test_no_row_is_cut_where_the_detector_found_every_row() -> None:
    image, box, _ = _field_of_packed_heavy_capitals()
    found = ppocr.models()
    (fine,) = ppocr.assign_to_regions(found.detect(image, (1600,)), [box])
    assert len(fine) == 5
    small, scale = ppocr._measuring_copy(image)
    assert ppocr.rows_of_missed_ink(small, box, scale, fine) == []


def _row(text: str, bbox: tuple[int, int, int, int]) -> Line:
    words = tuple(Word(w, 90.0) for w in text.split())
    return Line(text, 90.0, bbox, words, reader="ppocr")


def test_rows_on_one_line_of_writing_are_read_as_one_line_left_to_right() -> None:
    # "ruhiger" has descenders: its box reaches lower, so its middle lies below that of
    # "Bezirk", written a little higher on the same line.
    ruhiger, bezirk = _row("ruhiger", (10, 100, 200, 60)), _row("Bezirk", (230, 88, 180, 50))
    below = _row("Runder Tisch", (12, 190, 300, 55))
    far = _row("Notiz", (1200, 100, 120, 50))  # on the line's height, but far off: its own
    lines = ppocr.in_reading_order([below, bezirk, None, ruhiger, far])
    assert [line.text for line in lines] == ["ruhiger Bezirk", "Notiz", "Runder Tisch"]
    joined = lines[0]
    assert joined.bbox == (10, 88, 400, 72)
    assert [w.text for w in joined.words] == ["ruhiger", "Bezirk"]
    # Two rows one above the other, overlapping across, stay two lines.
    upper, lower = _row("Mehr", (10, 100, 200, 60)), _row("Kitas", (40, 135, 200, 60))
    assert [line.text for line in ppocr.in_reading_order([lower, upper])] == ["Mehr", "Kitas"]
    # A wide gap between words on a wide field (under two heights) is still one line, and
    # its words keep their order though the second's middle lies higher.
    first, second = (
        _row("Buschhäuser", (10, 124, 177, 53)),
        _row("Mühlenbecker", (310, 114, 569, 66)),
    )
    assert [line.text for line in ppocr.in_reading_order([second, first])] == [
        "Buschhäuser Mühlenbecker"
    ]
    # A freeform sheet's rows stay apart: the layout makes blocks of them.
    apart = ppocr.in_reading_order([bezirk, ruhiger], join=False)
    assert [line.text for line in apart] == ["Bezirk", "ruhiger"]
