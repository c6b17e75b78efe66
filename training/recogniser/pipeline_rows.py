"""Training rows as the pipeline sees them: generated photos in the *training* fonts.

Synthetic lines (synth.py) are clean renderings; the pipeline's rows have been through a
simulated phone photo, perspective correction, ink extraction and row splitting. This
script closes that gap without leaking the test set: it drives the sample generator
(samples/generate.py) with the training fonts of synth.py instead of the generator's
own, and with random word-list text instead of its phrases and names. Each photo is
rectified with its true template, every field is cut into text rows exactly as
``handwriting.read_rows`` does, and a row is kept when the field's row count matches its
ground truth lines.

    .venv/bin/python training/recogniser/pipeline_rows.py --out /tmp/rec/rows --count 300
    .venv/bin/python training/recogniser/pipeline_rows.py --out /tmp/rec/rows_val --count 30 --seed 77
    .venv/bin/python training/recogniser/pipeline_rows.py --out /tmp/rec/rows_test --count 30 --seed 77 --test-fonts

Writes OUT/NNNNNN.png (the row, grey ink on white, as read_rows crops it) and
OUT/labels.tsv (file name, text).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT / "samples"))
sys.path.insert(0, str(ROOT / "src"))

import synth  # noqa: E402

import generate  # noqa: E402
from flipchart_ocr import handwriting, ocr, segment  # noqa: E402
from flipchart_ocr.evaluate import normalise_text  # noqa: E402
from flipchart_ocr.io import read_photo  # noqa: E402
from flipchart_ocr.pipeline import rectified_as  # noqa: E402
from flipchart_ocr.templates import FREEFORM_ID, load_templates  # noqa: E402


def use_training_fonts_and_text(seed: int, test_fonts: bool = False) -> None:
    """Point the generator at synth.py's fonts (or keep its own) and at random text."""
    if not test_fonts:
        fonts = {Path(p).stem: p for p in synth.HAND_FONTS}
        generate.FONTS.clear()
        generate.FONTS.update(fonts)
        generate.CAPITALS_ONLY.clear()
        generate.CAPITALS_ONLY.update(Path(p).name for p in synth.CAPS_ONLY_FONTS)
    source = synth.TextSource(random.Random(seed))
    generate.CORPUS[:] = [source.line() for _ in range(4000)]
    titles = ["Fr.", "Hr.", "Dr.", ""]
    generate.NAMES[:] = [
        " ".join(
            part
            for part in (
                random.Random(seed + i).choice(titles),
                source.word().capitalize(),
                source.word().capitalize(),
            )
            if part
        )
        for i in range(2000)
    ]


def rows_of_photo(photo: Path, truth: dict, templates: dict) -> list[tuple[np.ndarray, str]]:
    image, _ = read_photo(photo)
    sheet, template = rectified_as(image, truth["template"], templates)
    found = []
    preparation = ocr.OcrOptions()
    for field in template.fields:
        lines = normalise_text(truth["fields"].get(field.id, "")).splitlines()
        crop = segment.crop_field(sheet, field)
        if not lines or crop.size == 0:
            continue
        gray, _ = ocr.scaled_ink(crop, preparation)
        if not ocr.has_ink(gray):
            continue
        mask = ocr.ink_mask(gray)
        boxes = [
            handwriting._row_box(mask, top, bottom)
            for top, bottom in ocr.text_rows(ocr.row_bands(gray))
        ]
        boxes = [b for b in boxes if b is not None]
        if len(boxes) != len(lines):
            continue  # rows and truth lines cannot be paired
        for (left, top, right, bottom), text in zip(boxes, lines, strict=True):
            found.append((gray[top:bottom, left:right], text))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--count", type=int, default=300)
    parser.add_argument("--seed", type=int, default=50)
    parser.add_argument(
        "--test-fonts",
        action="store_true",
        help="keep the generator's own fonts: rows to measure on, never to train on",
    )
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    use_training_fonts_and_text(args.seed, args.test_fonts)
    templates = load_templates()
    rng = np.random.default_rng(args.seed)
    labels = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        made = 0
        while made < args.count:
            spec = generate.random_spec(made, rng)
            if spec.template in (None, FREEFORM_ID):
                continue
            generate.make(spec, folder, args.seed * 100_000 + made, 2000, templates)
            truth_path = folder / f"{spec.name}.truth.json"
            truth = json.loads(truth_path.read_text(encoding="utf-8"))
            for row, text in rows_of_photo(folder / truth["photo"], truth, templates):
                name = f"{len(labels):06d}.png"
                cv2.imwrite(str(args.out / name), row)
                labels.append(f"{name}\t{text}")
            (folder / truth["photo"]).unlink()
            truth_path.unlink()
            made += 1
            if made % 10 == 0:
                print(f"{made} photos, {len(labels)} rows", file=sys.stderr, flush=True)
    (args.out / "labels.tsv").write_text("\n".join(labels) + "\n", encoding="utf-8")
    print(f"{len(labels)} rows from {args.count} photos -> {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
