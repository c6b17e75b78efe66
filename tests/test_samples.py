"""The sample generator: deterministic, and its ground truth matches the templates."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from PIL import Image

from flipchart_ocr.templates import load_templates

from .conftest import ROOT, sample_truths


def _generate(out: Path, seed: int) -> list[dict]:
    subprocess.run(
        [
            sys.executable,
            str(ROOT / "samples" / "generate.py"),
            "--out",
            str(out),
            "--seed",
            str(seed),
            "--count",
            "3",
            "--long-side",
            "900",
        ],
        check=True,
        capture_output=True,
    )
    return [json.loads(p.read_text(encoding="utf-8")) for p in sorted(out.glob("*.truth.json"))]


def test_same_seed_same_photos_other_seed_other_photos(tmp_path: Path) -> None:
    first = _generate(tmp_path / "a", 5)
    again = _generate(tmp_path / "b", 5)
    other = _generate(tmp_path / "c", 6)
    assert first == again
    assert first != other
    for truth in first:
        photo = tmp_path / "a" / truth["photo"]
        with Image.open(photo) as image:
            width, height = image.size
        upright = (height, width) if truth["exif_orientation"] in (6, 8) else (width, height)
        assert list(upright) == truth["size"]


def test_committed_truth_names_every_field_of_its_template() -> None:
    templates = load_templates()
    for photo, truth in sample_truths():
        assert photo.is_file(), photo
        if truth["template"] is None:
            assert truth["corners"] is None and truth["fields"] == {}
            continue
        assert list(truth["fields"]) == templates[truth["template"]].field_ids()
        for corner in truth["corners"]:
            assert 0 <= corner[0] <= truth["size"][0] and 0 <= corner[1] <= truth["size"][1]
