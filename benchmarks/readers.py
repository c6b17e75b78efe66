"""The reading stage alone, engine against engine, on sheets rectified once.

    python benchmarks/readers.py cache samples /tmp/cache/samples     # geometry once
    python benchmarks/readers.py run /tmp/cache/samples --engines ppocr,tesseract
    python benchmarks/readers.py dhsd ../shared/handwriting/dhsd --writers 25-29

``cache`` rectifies every templated photo of a folder with its true template forced
and stores the sheet as PNG beside its truth; ``run`` reads the cached sheets with each
engine (``pipeline.read_fields``, as ``process`` does) and prints field CER (with and
without case), handwritten-word F1 and seconds per sheet. ``dhsd`` reads the real
handwritten words of the DHSD writers given (word images, no detection; labels with
``samples/dhsd-fixes.tsv`` applied) and prints CER. Geometry stays out of these figures;
``accuracy.py`` measures the whole pipeline.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

import cv2

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "samples"))  # handwords: DHSD's labels with our fixes

# the flags are counted as the whole-pipeline benchmark counts them (benchmarks/ is this
# script's folder, so on its path)
from accuracy import count_flags  # noqa: E402
from flipchart_ocr.evaluate import Tally, edit_distance  # noqa: E402
from flipchart_ocr.io import read_photo  # noqa: E402
from flipchart_ocr.pipeline import ProcessOptions, read_fields, rectified_as  # noqa: E402
from flipchart_ocr.readers import ctc, ppocr  # noqa: E402
from flipchart_ocr.templates import FREEFORM_ID, load_templates  # noqa: E402
from handwords import dhsd_words  # noqa: E402


def cache(samples: Path, folder: Path, templates_dir: Path | None) -> None:
    templates = load_templates(templates_dir)
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


def run(
    folder: Path,
    engines: list[str],
    options: ProcessOptions,
    templates_dir: Path | None,
    dump: bool,
) -> None:
    templates = load_templates(templates_dir)
    cached = sorted(folder.glob("*.json"))
    print(f"\n## {folder} ({len(cached)} sheets)\n")
    print(
        "| engine | field CER | CER, case ignored | word F1 | flagged: of the wrong words"
        " / of the right | s / sheet |"
    )
    print("| --- | --- | --- | --- | --- | --- |")
    for engine in engines:
        tally, folded, seconds = Tally(), Tally(), 0.0
        flags: Counter[tuple[bool, bool]] = Counter()
        for truth_path in cached:
            truth = json.loads(truth_path.read_text(encoding="utf-8"))
            image = cv2.imread(str(truth_path.with_suffix(".png")))
            start = time.perf_counter()
            fields = read_fields(
                image, templates[truth["template"]], replace(options, engine=engine)
            )
            seconds += time.perf_counter() - start
            for field in fields:
                expected = truth["fields"].get(field.id, "")
                tally.add_text(field.text, expected)
                folded.add_text(field.text.lower(), expected.lower())
                count_flags(flags, field.lines, expected)
                if dump and field.text != expected:
                    print(
                        f"    {truth_path.stem}/{field.id}: {field.text!r} != {expected!r}",
                        file=sys.stderr,
                    )
        n = max(len(cached), 1)
        wrong = flags[(False, True)] + flags[(False, False)]
        right = flags[(True, True)] + flags[(True, False)]
        print(
            f"| {engine} | {tally.cer:.3f} | {folded.cer:.3f} | {tally.f1:.3f} |"
            f" {flags[(False, True)]}/{wrong} / {flags[(True, True)]}/{right} | {seconds / n:.2f} |"
        )


def dhsd(root: Path, writers: range, lang: str, tesseract: bool, recogniser: str) -> None:
    words = [word for word in dhsd_words(root) if word.writer in writers]
    models = ppocr.models(ppocr.default_threads(), recogniser)
    images = [
        cv2.cvtColor(cv2.imread(str(word.path), cv2.IMREAD_GRAYSCALE), cv2.COLOR_GRAY2BGR)
        for word in words
    ]
    start = time.perf_counter()
    probabilities = models.recognise(images)
    seconds = time.perf_counter() - start
    lexicon = ctc.lexicon(lang)
    print(
        f"\n## DHSD writers {writers.start}-{writers.stop - 1} ({len(words)} words),"
        f" recogniser {recogniser}\n"
    )
    print("| decoding | CER | CER, case ignored | words right |")
    print("| --- | --- | --- | --- |")
    for name, known in (("greedy", None), (f"word list ({lang})", lexicon)):
        edits = folded = chars = right = 0
        for word, p in zip(words, probabilities, strict=True):
            text = " ".join(w.text for w in ctc.read_words(p, models.charset, known))
            edits += edit_distance(text, word.text)
            folded += edit_distance(text.lower(), word.text.lower())
            chars += len(word.text)
            right += text == word.text
        print(f"| {name} | {edits / chars:.3f} | {folded / chars:.3f} | {right}/{len(words)} |")
    if tesseract:
        edits = folded = chars = right = 0
        for word in words:
            done = subprocess.run(
                ["tesseract", str(word.path), "-", "--psm", "7", "-l", lang],
                capture_output=True,
                text=True,
                check=False,
            )
            text = " ".join(done.stdout.split())
            edits += edit_distance(text, word.text)
            folded += edit_distance(text.lower(), word.text.lower())
            chars += len(word.text)
            right += text == word.text
        print(
            f"| plain `tesseract --psm 7 -l {lang}` | {edits / chars:.3f} | {folded / chars:.3f} | {right}/{len(words)} |"
        )
    print(f"\n{seconds / len(words) * 1000:.1f} ms a word (PP-OCR recogniser)")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    c = sub.add_parser("cache")
    c.add_argument("samples", type=Path)
    c.add_argument("folder", type=Path)
    c.add_argument("--templates", type=Path)
    r = sub.add_parser("run")
    r.add_argument("folders", type=Path, nargs="+")
    r.add_argument("--engines", default="ppocr,tesseract")
    r.add_argument("--lang", default="deu")
    r.add_argument(
        "--detect-sides", default="auto", help="auto (per sheet) or sizes, e.g. 960,1600"
    )
    r.add_argument("--templates", type=Path)
    r.add_argument("--dump", action="store_true", help="print every field read wrong")
    r.add_argument("--no-words", action="store_true", help="greedy decoding, no word lists")
    r.add_argument("--recogniser", default="de", help="PP-OCR's recogniser: de or base")
    d = sub.add_parser("dhsd")
    d.add_argument("root", type=Path)
    d.add_argument("--writers", default="25-29")
    d.add_argument("--lang", default="deu")
    d.add_argument("--recogniser", default="de", help="PP-OCR's recogniser: de or base")
    d.add_argument("--tesseract", action="store_true", help="plain Tesseract on each word too")
    args = parser.parse_args()
    if args.command == "cache":
        cache(args.samples, args.folder, args.templates)
    elif args.command == "run":
        options = ProcessOptions(
            decode_words=not args.no_words,
            recogniser=args.recogniser,
            lang=args.lang,
            detect_sides=()
            if args.detect_sides == "auto"
            else tuple(int(x) for x in args.detect_sides.split(",")),
            threads=ppocr.default_threads(),
        )
        for folder in args.folders:
            run(folder, args.engines.split(","), options, args.templates, args.dump)
    else:
        first, last = (int(x) for x in args.writers.split("-"))
        dhsd(args.root, range(first, last + 1), args.lang, args.tesseract, args.recogniser)


if __name__ == "__main__":
    main()
