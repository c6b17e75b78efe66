"""CER of the original PP-OCRv6 small recogniser (restricted to our charset) and of the
fine-tuned one, on DHSD test writers 25-29 and on general lines (onnxruntime, numpy, OpenCV).

    python training/ppocr/evaluate.py --unseen-fonts /tmp/ppocr/unseen_fonts \\
        --rows /tmp/ppocr/rows_test

Greedy CTC decoding, no word list; CER = summed edit distance / summed reference length,
case-sensitive and case-ignored. Sets:
- DHSD 25-29 scanned: the test writers' word images as they are (pen, 256 x 64);
- DHSD 25-29 marker: the same words as training styles DHSD (thickened, coloured, natural
  aspect), with a fixed seed: pictures of the test hands closer to a flipchart;
- unseen fonts: lines from test_lines.py (fonts no training here used), if given;
- pipeline rows: rows cut from generated photos by training/recogniser/pipeline_rows.py
  --test-fonts (the generator's own fonts), if given;
- real lines: ../shared/realdata/3_handwriting_lines_with_gt (English, 4 lines, 75 characters);
- real photos (--pages): line crops real_crops.py cut from the photos of ../shared/realdata
  1 and 2 that have a transcription (mostly English), scored as word F1 per page.
The original model is the rapidocr wheel's full ONNX with its output cut to our classes
before the argmax, which is what restricting it to our charset means.
"""

from __future__ import annotations

import argparse
import importlib.util
import random
import sys
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parents[1] / "src"))
import data  # noqa: E402
import preprocess  # noqa: E402

from flipchart_ocr.evaluate import Tally, edit_distance, words  # noqa: E402  (the benchmarks')

MODEL = HERE.parents[1] / "src" / "flipchart_ocr" / "models" / "ppocr_rec_de.onnx"
REAL_LINES = data.shared_folder() / "realdata" / "3_handwriting_lines_with_gt"
Line = tuple[np.ndarray, str]
Reader = Callable[[list[np.ndarray]], list[str]]


def base_model_path() -> Path:
    """The rapidocr wheel's recogniser, found without importing rapidocr."""
    spec = importlib.util.find_spec("rapidocr")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("rapidocr is not installed: pip install rapidocr")
    return Path(spec.submodule_search_locations[0]) / "models" / "PP-OCRv6_rec_small.onnx"


THREADS = 2


def session(path: Path) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = THREADS
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def reader(path: Path, charset: str, columns: list[int] | None = None) -> Reader:
    """Greedy reading with the ONNX at ``path``; ``columns`` cut its classes to ours."""
    run = session(path)

    def read(images: list[np.ndarray]) -> list[str]:
        order = sorted(range(len(images)), key=lambda i: images[i].shape[1] / images[i].shape[0])
        texts = [""] * len(images)
        for start in range(0, len(order), 16):
            chunk = order[start : start + 16]
            scores = run.run(None, {"x": preprocess.batch([images[i] for i in chunk])})[0]
            if columns is not None:
                scores = scores[:, :, columns]
            for i, s in zip(chunk, scores, strict=True):
                texts[i] = preprocess.greedy_decode(s, charset)
        return texts

    return read


def base_columns(path: Path, charset: str) -> list[int]:
    """The base model's classes for blank + ``charset`` (its space is its last class)."""
    meta = session(path).get_modelmeta().custom_metadata_map
    classes = ["<blank>", *meta["character"].split("\n"), " "]
    index = {c: i for i, c in enumerate(classes)}
    return [0] + [index[c] for c in charset]


def cer(predicted: list[str], truth: list[str], fold: bool = False) -> float:
    if fold:
        # lower(), not casefold(): casefold spells ß "ss" and would count it twice
        predicted, truth = [p.lower() for p in predicted], [t.lower() for t in truth]
    errors = sum(edit_distance(p, t) for p, t in zip(predicted, truth, strict=True))
    return errors / max(1, sum(len(t) for t in truth))


def dhsd_test(marker: bool) -> list[Line]:
    words = data.dhsd_words(data.TEST_WRITERS)
    if not marker:
        return [(cv2.imread(str(w.path), cv2.IMREAD_GRAYSCALE), w.text) for w in words]
    rng = random.Random(25)
    np.random.seed(25)
    return [(data.marker_word(w, rng), w.text) for w in words]


def labelled_folder(folder: Path) -> list[Line]:
    """OUT/labels.tsv (file, text) as test_lines.py and pipeline_rows.py write it."""
    rows = (line.split("\t", 1) for line in (folder / "labels.tsv").read_text("utf-8").splitlines())
    return [(cv2.imread(str(folder / name)), text) for name, text in rows]


def split_rows(grey: np.ndarray, count: int) -> list[np.ndarray]:
    """Cut a page of ``count`` text lines at the longest ink-free row gaps between them."""
    ink = (grey < 128).sum(axis=1)
    rows = np.flatnonzero(ink)
    top, bottom = rows[0], rows[-1] + 1
    gaps, start = [], None
    for y in range(top, bottom):
        if ink[y] == 0 and start is None:
            start = y
        elif ink[y] > 0 and start is not None:
            gaps.append((y - start, (start + y) // 2))
            start = None
    cuts = sorted(middle for _, middle in sorted(gaps, reverse=True)[: count - 1])
    edges = [max(0, top - 8), *cuts, min(len(grey), bottom + 8)]
    return [grey[a:b] for a, b in zip(edges, edges[1:], strict=False)]


def real_lines(folder: Path = REAL_LINES) -> list[Line]:
    lines = []
    for truth_file in sorted(folder.rglob("*.gt.txt")):
        image_file = next(
            p
            for p in truth_file.parent.iterdir()
            if p.name.startswith(truth_file.name[:-7] + ".") and not p.name.endswith(".txt")
        )
        grey = cv2.imread(str(image_file), cv2.IMREAD_GRAYSCALE)
        texts = [t.strip() for t in truth_file.read_text("utf-8").splitlines() if t.strip()]
        lines += zip(split_rows(grey, len(texts)) if len(texts) > 1 else [grey], texts, strict=True)
    return lines


def page_word_f1(read: Reader, pages: Path, fold: bool) -> float:
    """Bag-of-words F1 over the pages real_crops.py cut (the transcriptions have no order)."""
    tally = Tally()
    for page in sorted(p for p in pages.iterdir() if p.is_dir()):
        crops = [cv2.imread(str(f)) for f in sorted(page.glob("*.png"))]
        predicted = "\n".join(read(crops)) if crops else ""
        truth = (page / "gt.txt").read_text(encoding="utf-8")
        if fold:
            predicted, truth = predicted.lower(), truth.lower()
        tally.add_words(words(predicted), words(truth))
    return tally.f1


def test_sets(args: argparse.Namespace) -> dict[str, list[Line]]:
    sets = {"DHSD 25-29 scanned": dhsd_test(False), "DHSD 25-29 marker": dhsd_test(True)}
    if args.unseen_fonts:
        sets["unseen fonts (generated)"] = labelled_folder(args.unseen_fonts)
    if args.rows:
        sets["pipeline rows (test fonts)"] = labelled_folder(args.rows)
    if REAL_LINES.is_dir():
        sets["real lines (realdata/3)"] = real_lines()
    return sets


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", type=Path, default=MODEL)
    p.add_argument("--base", type=Path, default=None, help="default: rapidocr's")
    p.add_argument("--unseen-fonts", type=Path, help="a folder test_lines.py wrote")
    p.add_argument("--rows", type=Path, help="a folder pipeline_rows.py --test-fonts wrote")
    p.add_argument("--pages", type=Path, help="a folder real_crops.py wrote")
    p.add_argument("--limit", type=int, help="only the first N lines of each set (a quick look)")
    p.add_argument("--threads", type=int, default=THREADS)
    p.add_argument("--readers", default="original,fine-tuned", help="which columns")
    args = p.parse_args()
    globals()["THREADS"] = args.threads
    charset = args.model.with_suffix(".charset.txt").read_text(encoding="utf-8")
    base = args.base or base_model_path()
    readers = {}
    if "original" in args.readers:
        readers["original"] = reader(base, charset, base_columns(base, charset))
    if "fine-tuned" in args.readers:
        readers["fine-tuned"] = reader(args.model, charset)
    columns = [f"{k} CER" for k in readers] + [f"{k} CER (case ign.)" for k in readers]
    print(f"| set | lines | chars | {' | '.join(columns)} |")
    print("|---" * (3 + len(columns)) + "|")
    for name, lines in test_sets(args).items():
        lines = lines[: args.limit]
        truth = [text for _, text in lines]
        read = {k: r([im for im, _ in lines]) for k, r in readers.items()}
        figures = [cer(read[k], truth, fold) for fold in (False, True) for k in readers]
        cells = " | ".join(f"{f:.3f}" for f in figures)
        print(f"| {name} | {len(lines)} | {sum(map(len, truth))} | {cells} |", flush=True)
    if args.pages:
        pages = [p for p in args.pages.iterdir() if p.is_dir()]
        figures = [
            page_word_f1(r, args.pages, fold) for fold in (False, True) for r in readers.values()
        ]
        columns = [f"{k} word F1" for k in readers] + [f"{k} word F1 (case ign.)" for k in readers]
        print(f"\n| real photos, lines by PP-OCRv6 det | pages | {' | '.join(columns)} |")
        print("|---" * (2 + len(columns)) + "|")
        print(
            f"| realdata/1 + 2 with .gt.txt | {len(pages)} | "
            + " | ".join(f"{f:.3f}" for f in figures)
            + " |"
        )


if __name__ == "__main__":
    main()
