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
from flipchart_ocr.errors import ModelError
from flipchart_ocr.evaluate import edit_distance
from flipchart_ocr.pipeline import ProcessOptions, read_fields
from flipchart_ocr.readers import ctc, ppocr
from flipchart_ocr.templates import FREEFORM_ID, load_templates

from .conftest import ROOT, SAMPLES

DHSD = ROOT / "tests" / "fixtures" / "dhsd"
HUMOR = "/usr/share/fonts/truetype/humor-sans/Humor-Sans.ttf"  # fonts-humor-sans (setup --dev)


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
    # PP-OCRv6 small reads these twenty words of unseen writers at a CER of 0.13, seven
    # of them exactly (the CNN it replaced: DHSD CER 0.36; Tesseract 0.33).
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
        words = field.text.lower().replace(",", " ").split()  # Humor Sans writes capitals
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
