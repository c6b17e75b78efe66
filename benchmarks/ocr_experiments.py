"""Fast loop for OCR-stage experiments: rectify once, then read field crops many ways.

    python benchmarks/ocr_experiments.py cache --samples /tmp/s7 --cache /tmp/cache7
    python benchmarks/ocr_experiments.py run --cache /tmp/cache7 [--variants a,b] [--dump]

``cache`` runs the pipeline's geometry with the true template forced and stores
each rectified sheet as PNG with its truth; ``run`` reads every field crop of the
cached sheets with each named OCR variant and prints pooled field CER, word F1
and seconds per sheet. Geometry stays out of the numbers: only the OCR stage
differs between variants.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from flipchart_ocr import handwriting, ocr, segment  # noqa: E402
from flipchart_ocr.evaluate import Tally, normalise_text, words  # noqa: E402
from flipchart_ocr.io import read_photo  # noqa: E402
from flipchart_ocr.pipeline import rectified_as  # noqa: E402
from flipchart_ocr.templates import FREEFORM_ID, load_templates  # noqa: E402


def cache(samples: Path, folder: Path) -> None:
    templates = load_templates()
    folder.mkdir(parents=True, exist_ok=True)
    for truth_path in sorted(samples.glob("*.truth.json")):
        truth = json.loads(truth_path.read_text(encoding="utf-8"))
        if not truth["template"] or truth["template"] == FREEFORM_ID:
            continue
        photo, _ = read_photo(samples / truth["photo"])
        sheet, _ = rectified_as(photo, truth["template"], templates)
        stem = Path(truth["photo"]).stem
        cv2.imwrite(str(folder / f"{stem}.png"), sheet)
        (folder / f"{stem}.json").write_text(json.dumps(truth, ensure_ascii=False), "utf-8")
        print(f"  {stem}", file=sys.stderr)


@dataclass
class Sheet:
    name: str
    crops: list[ocr.FieldCrop]
    truths: list[str]
    font: str


def load_cache(folder: Path) -> list[Sheet]:
    templates = load_templates()
    sheets = []
    for truth_path in sorted(folder.glob("*.json")):
        truth = json.loads(truth_path.read_text(encoding="utf-8"))
        image = cv2.imread(str(truth_path.with_suffix(".png")))
        height, width = image.shape[:2]
        template = templates[truth["template"]]
        crops, truths = [], []
        for f in template.fields:
            crops.append(
                ocr.FieldCrop(
                    segment.crop_field(image, f),
                    segment.crop_offset(f, (width, height)),
                    f.label,
                )
            )
            truths.append(truth["fields"].get(f.id, ""))
        sheets.append(Sheet(truth_path.stem, crops, truths, truth.get("font", "")))
    return sheets


Reader = Callable[[list[ocr.FieldCrop]], list[tuple[list, float]]]


def with_options(**change: object) -> Reader:
    options = replace(ocr.OcrOptions(), **change)
    return lambda crops: ocr.read_fields(crops, options)


OLD = {"spare_letters": False, "split_rows": False, "gamma": 1.0}


def patched(transform: Callable[[np.ndarray], np.ndarray], **change: object) -> Reader:
    """Read with ``transform`` applied to every prepared crop (ideas not in ocr.py)."""
    options = replace(ocr.OcrOptions(), **change)

    def read(crops: list[ocr.FieldCrop]) -> list[tuple[list, float]]:
        original = ocr.prepare

        def prepare(crop: np.ndarray, opts: ocr.OcrOptions | None = None):
            image, scale = original(crop, opts)
            return transform(image), scale

        ocr.prepare = prepare
        try:
            return ocr.read_fields(crops, options)
        finally:
            ocr.prepare = original

    return read


def slant_angle(gray: np.ndarray, max_degrees: float = 15, step: float = 3) -> float:
    """Slant in degrees (positive: leaning right) maximising the vertical projection's energy."""
    mask = ocr.ink_mask(gray)
    factor = min(1.0, 200 / max(mask.shape[0], 1))
    if factor < 1:
        mask = cv2.resize(mask, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA)
    height, width = mask.shape
    if not mask.any():
        return 0.0
    best, best_score, upright = 0.0, -1.0, 0.0
    for degrees in np.arange(-max_degrees, max_degrees + 0.01, step):
        shear = np.tan(np.radians(degrees))
        matrix = np.float32([[1, shear, -shear * height / 2 + height], [0, 1, 0]])
        columns = cv2.warpAffine(mask, matrix, (width + 2 * height, height)).sum(axis=0)
        score = float((columns.astype(np.float64) ** 2).sum())
        upright = score if abs(degrees) < 1e-9 else upright
        if score > best_score:
            best, best_score = float(degrees), score
    # A flat optimum is the letter shapes' noise, not a slant.
    return best if best_score > upright * 1.15 else 0.0


def deslant(gray: np.ndarray) -> np.ndarray:
    degrees = slant_angle(gray)
    if abs(degrees) < 1:
        return gray
    height, width = gray.shape
    shear = np.tan(np.radians(degrees))
    extra = int(np.ceil(abs(shear) * height))
    matrix = np.float32([[1, shear, -shear * height / 2 + extra / 2], [0, 1, 0]])
    return cv2.warpAffine(gray, matrix, (width + extra, height), borderValue=255)


def unsharp(gray: np.ndarray) -> np.ndarray:
    return cv2.addWeighted(gray, 1.7, cv2.GaussianBlur(gray, (0, 0), 1.5), -0.7, 0)


def thicken_thin_strokes(gray: np.ndarray) -> np.ndarray:
    """Strokes thinner than 7 px widened to it (eroding the grey image)."""
    width = ocr.stroke_width(gray)
    grow = 0 if width is None else int(round((7 - width) / 2))
    if grow < 1:
        return gray
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * grow + 1, 2 * grow + 1))
    return cv2.erode(gray, kernel)


def thin_thick_strokes(gray: np.ndarray) -> np.ndarray:
    """Strokes wider than 7 px thinned to it (dilating the grey image)."""
    width = ocr.stroke_width(gray)
    shrink = 0 if width is None else int(round((width - 7) / 2))
    if shrink < 1:
        return gray
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * shrink + 1, 2 * shrink + 1))
    return cv2.dilate(gray, kernel)


def hybrid(**change: object) -> Reader:
    """Tesseract and our recogniser, one reading per row (the pipeline's default engine)."""
    options = replace(ocr.OcrOptions(), **change)

    def read(crops: list[ocr.FieldCrop]) -> list[tuple[list, float]]:
        results = []
        for crop, (tesseract, _) in zip(crops, ocr.read_fields(crops, options), strict=True):
            lines = handwriting.combine(handwriting.read_rows(crop, options), tesseract)
            results.append((lines, ocr.field_confidence(lines)))
        return results

    return read


# Named variants: each a function from a sheet's crops to per-field results.
VARIANTS: dict[str, Reader] = {
    "old default (before these experiments)": with_options(**OLD),
    "default": with_options(),
    "hybrid": hybrid(),
    "hybrid + spare_letters": hybrid(spare_letters=True),
    "+ spare_letters": with_options(spare_letters=True),
    "no split_rows": with_options(split_rows=False),
    "no gamma": with_options(gamma=1.0),
    "gamma 2": with_options(gamma=2.0),
    "row height 45": with_options(line_height=45),
    "row height 55": with_options(line_height=55),
    "+ deslant (15 deg, gain > 15 %)": patched(deslant),
    "+ thicken strokes thinner than 7 px": patched(thicken_thin_strokes),
    "+ thin strokes wider than 7 px": patched(thin_thick_strokes),
    "+ unsharp mask": patched(unsharp),
    "+ Sauvola (thresholding_method=2)": with_options(extra_config="-c thresholding_method=2"),
    "+ --oem 1": with_options(extra_config="--oem 1"),
    "+ dictionaries off": with_options(extra_config="-c load_system_dawg=0 -c load_freq_dawg=0"),
    "+ blacklist odd glyphs": with_options(extra_config="-c tessedit_char_blacklist=ı€»«|©®¢£¥§"),
}


def run(sheets: list[Sheet], name: str, reader: Reader, dump: bool) -> tuple[float, float, float]:
    chars, bag = Tally(), Tally()
    start = time.perf_counter()
    for sheet in sheets:
        results = reader(sheet.crops)
        predicted_words, truth_words = [], []
        for (lines, _), truth in zip(results, sheet.truths, strict=True):
            text = "\n".join(line.text for line in lines)
            chars.add_text(text, truth)
            predicted_words += words(text)
            truth_words += words(truth)
            if dump and normalise_text(text) != normalise_text(truth):
                print(f"    [{sheet.font}] {normalise_text(truth)!r} -> {normalise_text(text)!r}")
        bag.add_words(predicted_words, truth_words)
    seconds = (time.perf_counter() - start) / max(len(sheets), 1)
    return chars.cer, bag.f1, seconds


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    make = sub.add_parser("cache", help="rectify photos once, with the true template")
    make.add_argument("--samples", type=Path, required=True)
    make.add_argument("--cache", type=Path, required=True)
    read = sub.add_parser("run", help="score OCR variants on cached sheets")
    read.add_argument("--cache", type=Path, action="append", required=True)
    read.add_argument("--variants", default="", help="comma-separated names (default: all)")
    read.add_argument("--dump", action="store_true", help="print every wrong field")
    args = parser.parse_args()
    if args.command == "cache":
        cache(args.samples, args.cache)
        return
    names = [n for n in args.variants.split(",") if n] or list(VARIANTS)
    sets = {str(folder): load_cache(folder) for folder in args.cache}
    print("| variant | " + " | ".join(f"{s} CER / F1 / s" for s in sets) + " |")
    print("| --- |" + " --- |" * len(sets))
    for name in names:
        cells = []
        for sheets in sets.values():
            cer, f1, seconds = run(sheets, name, VARIANTS[name], args.dump)
            cells.append(f"{cer:.3f} / {f1:.3f} / {seconds:.2f}")
        print(f"| {name} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
