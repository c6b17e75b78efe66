"""Accuracy and speed of flipchart-ocr against plain Tesseract, on photos with ground truth.

    python benchmarks/accuracy.py                     # the committed samples/
    python benchmarks/accuracy.py --heldout 20        # plus 20 fresh photos never seen (seed 1000)
    python benchmarks/accuracy.py --realdata ../shared/realdata
    python benchmarks/accuracy.py --heldout 30 --engine both   # ppocr vs Tesseract, one run
    python benchmarks/accuracy.py --words samples/participants.txt   # with the event's names

Prints, per photo set: template accuracy, field CER (edit distance over
ground-truth length, pooled over all fields), handwritten-word F1 (bag of words
per photo, pooled), seconds per photo; and in the same run plain
``tesseract photo - -l deu`` on the same photos (word F1, seconds per photo).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
# Plain tesseract runs as a user would run it: in the environment this script
# started with, before flipchart_ocr limits Tesseract to one thread for itself.
USER_ENV = dict(os.environ)

from flipchart_ocr import DEFAULT_ENGINE, ENGINES  # noqa: E402
from flipchart_ocr.document import LOW_CONFIDENCE, Line  # noqa: E402
from flipchart_ocr.evaluate import Tally, words  # noqa: E402
from flipchart_ocr.io import read_photo, read_word_list  # noqa: E402
from flipchart_ocr.pipeline import ProcessOptions, process_photo  # noqa: E402
from flipchart_ocr.rectify import find_sheet  # noqa: E402
from flipchart_ocr.templates import FREEFORM_ID, load_templates  # noqa: E402


@dataclass
class SetResult:
    name: str
    photos: int = 0
    templates_right: int = 0
    templated: int = 0
    ours: Tally = field(default_factory=Tally)
    ours_words: Tally = field(default_factory=Tally)
    plain_words: Tally = field(default_factory=Tally)
    ours_seconds: float = 0.0
    plain_seconds: float = 0.0
    corner_errors: list[float] = field(default_factory=list)
    misses: list[str] = field(default_factory=list)
    # words read, by whether they are right (in the field's truth) and flagged (< 60)
    flags: Counter[tuple[bool, bool]] = field(default_factory=Counter)
    by_font: dict[str, Tally] = field(default_factory=dict)  # field CER per handwriting font


def load_truths(folder: Path) -> list[tuple[Path, dict]]:
    pairs = []
    for truth_path in sorted(folder.glob("*.truth.json")):
        truth = json.loads(truth_path.read_text(encoding="utf-8"))
        pairs.append((folder / truth["photo"], truth))
    return pairs


def plain_tesseract(photo: Path, lang: str) -> tuple[str, float]:
    start = time.perf_counter()
    result = subprocess.run(
        ["tesseract", str(photo), "-", "-l", lang],
        capture_output=True,
        text=True,
        check=False,
        env=USER_ENV,
    )
    return result.stdout, time.perf_counter() - start


def corner_error(found: list, truth: list, size: list) -> float:
    """Largest corner distance as a fraction of the photo's diagonal."""
    diagonal = (size[0] ** 2 + size[1] ** 2) ** 0.5
    return (
        max(
            ((f[0] - t[0]) ** 2 + (f[1] - t[1]) ** 2) ** 0.5
            for f, t in zip(found, truth, strict=True)
        )
        / diagonal
    )


def run_set(
    name: str,
    pairs: list[tuple[Path, dict]],
    lang: str,
    templates: dict,
    options: ProcessOptions | None = None,
    plain: bool = True,
) -> SetResult:
    result = SetResult(name)
    options = options or ProcessOptions(lang=lang)
    for photo, truth in pairs:
        result.photos += 1
        start = time.perf_counter()
        sheet = process_photo(photo, templates, options).sheet
        result.ours_seconds += time.perf_counter() - start
        plain_text, plain_seconds = plain_tesseract(photo, lang) if plain else ("", 0.0)
        result.plain_seconds += plain_seconds

        expected = truth["template"] or FREEFORM_ID
        result.templates_right += sheet.template == expected
        if sheet.template != expected:
            result.misses.append(f"{photo.name}: template {sheet.template} != {expected}")
        truth_fields: dict[str, str] = truth.get("fields", {})
        if truth["template"] and truth["template"] != FREEFORM_ID:
            result.templated += 1
            for field_id, truth_text in truth_fields.items():
                found = sheet.field_by_id(field_id) if sheet.template == expected else None
                result.ours.add_text(found.text if found else "", truth_text)
                font = result.by_font.setdefault(truth.get("font", "?"), Tally())
                font.add_text(found.text if found else "", truth_text)
                if found:
                    count_flags(result.flags, found.lines, truth_text)
        if truth.get("corners") and sheet.corners:
            result.corner_errors.append(
                corner_error(list(sheet.corners), truth["corners"], truth["size"])
            )
        truth_words = [w for text in truth_fields.values() for w in words(text)]
        our_words = [w for f in sheet.fields for w in words(f.text)]
        result.ours_words.add_words(our_words, truth_words)
        result.plain_words.add_words(words(plain_text), truth_words)
        print(f"  {photo.name:<44} {sheet.template or '-':<15}", file=sys.stderr)
    return result


def count_flags(flags: Counter[tuple[bool, bool]], lines: Iterable[Line], truth: str) -> None:
    """Is each word read right (in the field's truth), and is it flagged for review?"""
    truth_words = Counter(words(truth))
    for line in lines:
        for word in line.words:
            core = words(word.text)
            if core:
                flags[(truth_words[core[0]] > 0, word.confidence < LOW_CONFIDENCE)] += 1


def report(result: SetResult) -> None:
    n = max(result.photos, 1)
    print(f"\n## {result.name} ({result.photos} photos)\n")
    print("| measure | flipchart-ocr | plain tesseract |")
    print("| --- | --- | --- |")
    print(f"| template accuracy | {result.templates_right}/{result.photos} | - |")
    print(
        f"| field CER (pooled, {result.templated} templated photos) | {result.ours.cer:.3f} | - |"
    )
    print(
        f"| handwritten-word F1 (P / R) | {result.ours_words.f1:.3f} "
        f"({result.ours_words.precision:.2f} / {result.ours_words.recall:.2f}) | "
        f"{result.plain_words.f1:.3f} ({result.plain_words.precision:.2f} / "
        f"{result.plain_words.recall:.2f}) |"
    )
    wrong = result.flags[(False, True)] + result.flags[(False, False)]
    right = result.flags[(True, True)] + result.flags[(True, False)]
    print(
        f"| words flagged (confidence < {LOW_CONFIDENCE:.0f}): of the wrong / of the right |"
        f" {result.flags[(False, True)]}/{wrong} / {result.flags[(True, True)]}/{right} | - |"
    )
    print(f"| seconds per photo | {result.ours_seconds / n:.2f} | {result.plain_seconds / n:.2f} |")
    print(
        f"| time ratio ours / plain | {result.ours_seconds / max(result.plain_seconds, 1e-9):.2f} | 1 |"
    )
    if result.corner_errors:
        worst = max(result.corner_errors)
        mean = sum(result.corner_errors) / len(result.corner_errors)
        print(
            f"| corner error (mean / worst, % of diagonal) | {mean * 100:.2f} / {worst * 100:.2f} | - |"
        )
    if result.by_font:
        fonts = sorted(result.by_font.items(), key=lambda item: -item[1].cer)
        print("\nfield CER by font: " + ", ".join(f"{f} {t.cer:.2f}" for f, t in fonts))
    for miss in result.misses:
        print(f"\n- miss: {miss}")


# Each configuration changes the default in one way (keys of ProcessOptions; "words":
# the samples' participant list).
ABLATION: dict[str, dict[str, object]] = {
    "all on (default: ppocr engine)": {},
    "Tesseract alone (--engine tesseract)": {"engine": "tesseract"},
    "no word-list decoding": {"decode_words": False},
    "with the participant list (--words samples/participants.txt)": {"words": "participants"},
    "labels assumed (a strip of label_height), not found by their text": {"find_labels": False},
    "the wheel's recogniser, not fine-tuned (recogniser base)": {"recogniser": "base"},
    "detector at one size, 960 px, not chosen per sheet": {"detect_sides": (960,)},
}


def ablation(pairs: list[tuple[Path, dict]], lang: str, templates: dict) -> None:
    """Each idea switched off (or on) in turn, on the same photos."""
    participants = read_word_list(ROOT / "samples" / "participants.txt")
    print("\n## Ablation\n")
    print("| configuration | field CER | word F1 | seconds per photo |")
    print("| --- | --- | --- | --- |")
    for label, change in ABLATION.items():
        words = participants if change.pop("words", None) else frozenset()
        options = replace(ProcessOptions(lang=lang, words=words), **change)
        result = run_set(label, pairs, lang, templates, options, plain=False)
        seconds = result.ours_seconds / max(result.photos, 1)
        print(
            f"| {label} | {result.ours.cer:.3f} | {result.ours_words.f1:.3f} | {seconds:.2f} |",
            flush=True,
        )


def heldout_pairs(count: int, seed: int, folder: Path) -> list[tuple[Path, dict]]:
    subprocess.run(
        [
            sys.executable,
            str(ROOT / "samples" / "generate.py"),
            "--out",
            str(folder),
            "--seed",
            str(seed),
            "--count",
            str(count),
        ],
        check=True,
    )
    return load_truths(folder)


def realdata_report(root: Path, templates: dict) -> None:
    """Sheet detection and word F1 on real photos nobody here made (English: --lang eng)."""
    print(f"\n## Real photos ({root})\n")
    boards = Tally()
    plain = Tally()
    options = ProcessOptions(lang="eng", template=FREEFORM_ID)
    rows = []
    for category in ("1_whiteboard_flipchart_photos",):
        for gt in sorted((root / category).rglob("*.gt.txt")):
            photo = next(
                p
                for p in gt.parent.glob(gt.name.replace(".gt.txt", ".*"))
                if not p.name.endswith(".txt")
            )
            truth = words(gt.read_text(encoding="utf-8"))
            sheet = process_photo(photo, templates, options).sheet
            ours = [w for f in sheet.fields for w in words(f.text)]
            plain_text, _ = plain_tesseract(photo, "eng")
            one, two = Tally(), Tally()
            one.add_words(ours, truth)
            two.add_words(words(plain_text), truth)
            boards.add_words(ours, truth)
            plain.add_words(words(plain_text), truth)
            rows.append(
                f"| {photo.name} | {one.f1:.2f} | {two.f1:.2f} | {'found' if not sheet.warnings else 'whole photo'} |"
            )
    print("| photo | word F1 ours | word F1 plain | sheet |")
    print("| --- | --- | --- | --- |")
    print("\n".join(rows))
    print(f"| **all whiteboards + flipchart** | **{boards.f1:.3f}** | **{plain.f1:.3f}** | |")
    detection = []
    for corners_file in sorted((root / "4_document_photos_perspective").rglob("*.corners.txt")):
        photo = next(
            p
            for p in corners_file.parent.glob(corners_file.name.replace(".corners.txt", ".*"))
            if not p.name.endswith(".txt")
        )
        detection.append((photo, corners_file))
    if detection:
        print("\n| document photo | corner error (% of diagonal) |\n| --- | --- |")
        for photo, corners_file in detection:
            image, _ = read_photo(photo)
            outline = find_sheet(image)
            truth = [
                [float(v) for v in line.replace(",", " ").split()]
                for line in corners_file.read_text().splitlines()
                if line.strip() and not line.startswith("#")
            ]
            error = (
                corner_error(outline.corners.tolist(), truth, [image.shape[1], image.shape[0]])
                if outline.found and len(truth) == 4
                else None
            )
            print(f"| {photo.name} | {'not found' if error is None else f'{error * 100:.1f}'} |")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--samples", type=Path, default=ROOT / "samples")
    parser.add_argument(
        "--heldout", type=int, default=0, help="also generate and score N unseen photos"
    )
    parser.add_argument("--seed", type=int, default=1000, help="seed of the held-out photos")
    parser.add_argument("--realdata", type=Path, help="folder of real photos (../shared/realdata)")
    parser.add_argument("--lang", default="deu")
    parser.add_argument("--ablation", action="store_true", help="switch each idea off in turn")
    parser.add_argument(
        "--engine",
        choices=[*ENGINES, "both"],
        default=DEFAULT_ENGINE,
        help="who reads the fields (process --engine); 'both' scores each in the same run",
    )
    parser.add_argument(
        "--words", type=Path, action="append", default=[], help="process --words: a word list"
    )
    parser.add_argument(
        "--templates",
        type=Path,
        help="extra templates, as process --templates (default: SAMPLES/templates/ if there,"
        " as samples/generate.py --user-templates writes them)",
    )
    args = parser.parse_args()
    event_words = frozenset().union(*(read_word_list(path) for path in args.words))
    user_templates = args.templates or args.samples / "templates"
    templates = load_templates(user_templates if user_templates.is_dir() else None)
    engines = ENGINES if args.engine == "both" else (args.engine,)
    sets = [(f"{args.samples.name}/", load_truths(args.samples))]
    with tempfile.TemporaryDirectory() as tmp:
        if args.heldout:
            pairs = heldout_pairs(args.heldout, args.seed, Path(tmp))
            sets.append((f"held-out (seed {args.seed})", pairs))
        for name, pairs in sets:
            for engine in engines:
                label = name if len(engines) == 1 else f"{name}, --engine {engine}"
                options = ProcessOptions(lang=args.lang, engine=engine, words=event_words)
                # plain tesseract beside each: the time ratio is only fair within one run
                report(run_set(label, pairs, args.lang, templates, options))
    if args.ablation:
        ablation(load_truths(args.samples), args.lang, templates)
    if args.realdata:
        realdata_report(args.realdata, templates)


if __name__ == "__main__":
    main()
