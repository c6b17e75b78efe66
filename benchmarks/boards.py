"""Freeform boards: is every line found, in reading order, and nothing read from marks?

    python samples/generate.py --boards --count 30 --seed 7000 --out /tmp/gen/boards-fonts
    python samples/generate.py --boards --count 30 --seed 7100 --out /tmp/gen/boards-hands \\
        --hands ../shared/handwriting/dhsd --writers 25-29
    python benchmarks/boards.py --generated /tmp/gen/boards-fonts --generated /tmp/gen/boards-hands \\
        --realdata ../shared/realdata

Runs the installed ``flipchart-ocr process`` on each set (one run per set, ``--jobs 1``)
and reads only its sheet JSON: every field's lines (their boxes mapped back into the
photo through the sheet's corners) and, where a field has them, its ``blocks``. Beside
it, in the same run: plain ``tesseract photo - -l LANG`` (its TSV, for the line boxes)
and PP-OCRv6 small over the whole photo (the ``rapidocr`` wheel's models, defaults).
Both get the upright photo (EXIF applied), as our pipeline does.

Per set and reader:

- word F1: bag of words per photo, pooled (``flipchart_ocr.evaluate``);
- lines in reading order: each line read is matched to the truth line it overlaps most;
  of all pairs of lines matched to different truth lines, the share in the truth's order;
- CER in reading order: the whole text, lines in the order read, against the truth's
  text (case ignored): reading and order together;
- garbage lines: lines with a letter or digit that overlap no truth line; how many lie on
  marks (arrows, drawings, voting dots, pins, a crossed-out item), and how many marks
  yielded text;
- blocks (where the sheet JSON has them): the share of blocks whose lines all come from
  one truth block, and of truth blocks kept whole in one block;
- CPU seconds per photo (processor time, not wall time: the machine may be shared; ours:
  the whole CLI run over the set, models loaded once, divided by its photos).

On the real photos (``*.gt.txt``, no boxes, English: ``--real-lang eng``) only word F1
(order-free) and the lines with no word of the transcription count.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from PIL import Image
from rapidfuzz.distance import Levenshtein

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
USER_ENV = dict(os.environ)  # plain tesseract runs as a user would run it

from flipchart_ocr.evaluate import Tally, normalise_text, words  # noqa: E402
from flipchart_ocr.io import read_photo  # noqa: E402

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".tif", ".tiff", ".webp"}
READERS = {
    "ours": "flipchart-ocr process",
    "tesseract": "plain tesseract, whole photo",
    "ppocr": "PP-OCRv6 small, whole photo",
}
# A line read is the truth line it overlaps most, if the overlap is a quarter of the
# line read (a fragment of a truth line) or half of the truth line (a merged line).
SHARE_OF_READ, SHARE_OF_TRUTH = 0.25, 0.5


@dataclass
class ReadLine:
    text: str
    quad: np.ndarray | None  # 4 x 2, pixels of the upright photo; None: no box


@dataclass
class Reading:
    lines: list[ReadLine]
    blocks: list[list[int]] | None = None  # line indices per block, where the reader has them
    seconds: float = 0.0


@dataclass
class Photo:
    path: Path
    truth: dict  # a generated truth, or {"text": ...} for a real photo
    kind: str  # the board's kind, or the real photo's folder


@dataclass
class Score:
    """Counts pooled over a set's photos, for one reader."""

    words: Tally = field(default_factory=Tally)
    pairs_right: int = 0
    pairs: int = 0
    edits: int = 0
    truth_chars: int = 0
    lines: int = 0
    garbage: int = 0
    garbage_on_marks: int = 0
    marks_read: int = 0
    marks: int = 0
    blocks_pure: int = 0
    blocks: int = 0
    truth_blocks_whole: int = 0
    truth_blocks: int = 0
    seconds: float = 0.0
    photos: int = 0

    def add(self, other: Score) -> None:
        for name in self.__dataclass_fields__:
            if name == "words":
                self.words.add(other.words)
            else:
                setattr(self, name, getattr(self, name) + getattr(other, name))


# -- geometry --------------------------------------------------------------------------------


def box_quad(x: float, y: float, w: float, h: float) -> np.ndarray:
    return np.array([[x, y], [x + w, y], [x + w, y + h], [x, y + h]], np.float32)


def area(quad: np.ndarray) -> float:
    return abs(float(cv2.contourArea(quad.astype(np.float32))))


def overlap(a: np.ndarray, b: np.ndarray) -> float:
    """Area two convex quads share."""
    shared, _ = cv2.intersectConvexConvex(a.astype(np.float32), b.astype(np.float32))
    return float(shared)


def match_lines(read: list[ReadLine], truth: list[np.ndarray]) -> list[int | None]:
    """For each line read, the index of the truth line it stands for, or None."""
    truth_areas = [max(area(q), 1.0) for q in truth]
    matches: list[int | None] = []
    for line in read:
        if line.quad is None or not truth:
            matches.append(None)
            continue
        own = max(area(line.quad), 1.0)
        shared = [overlap(line.quad, q) for q in truth]
        best = int(np.argmax(shared))
        good = (
            shared[best] >= SHARE_OF_READ * own
            or shared[best] >= SHARE_OF_TRUTH * truth_areas[best]
        )
        matches.append(best if shared[best] > 0 and good else None)
    return matches


# -- scores -----------------------------------------------------------------------------------


def ordered_pairs(sequence: list[int]) -> tuple[int, int]:
    """Of all pairs of positions holding different truth indices, how many are in order."""
    right = pairs = 0
    for i, first in enumerate(sequence):
        for second in sequence[i + 1 :]:
            if first != second:
                pairs += 1
                right += first < second
    return right, pairs


def text_edits(read: str, truth: str) -> tuple[int, int]:
    """Edits from the text read to the truth, case ignored, and the truth's length."""
    read, truth = normalise_text(read).casefold(), normalise_text(truth).casefold()
    return Levenshtein.distance(read, truth), len(truth)


def has_text(text: str) -> bool:
    return any(ch.isalnum() for ch in text)


def block_grouping(
    blocks: list[list[int]], matches: list[int | None], block_of: list[int]
) -> tuple[int, int, int, int]:
    """Blocks read whose lines come from one truth block; truth blocks kept in one block."""
    pure = counted = 0
    holders: dict[int, set[int]] = {}
    for index, block in enumerate(blocks):
        sources = {block_of[m] for m in (matches[i] for i in block) if m is not None}
        for source in sources:
            holders.setdefault(source, set()).add(index)
        if sources:
            counted += 1
            pure += len(sources) == 1
    whole = sum(len(h) == 1 for h in holders.values())
    return pure, counted, whole, len(holders)


def score_generated(reading: Reading, truth: dict) -> Score:
    truth_lines = [line for block in truth["blocks"] for line in block["lines"]]
    block_of = [b for b, block in enumerate(truth["blocks"]) for _ in block["lines"]]
    quads = [np.array(line["quad"], np.float32) for line in truth_lines]
    marks = [np.array(m["quad"], np.float32) for m in truth.get("marks", [])]
    score = Score(seconds=reading.seconds, photos=1, marks=len(marks))
    read_text = "\n".join(line.text for line in reading.lines)
    score.words.add_words(words(read_text), words(truth["fields"]["text"]))
    matches = match_lines(reading.lines, quads)
    score.pairs_right, score.pairs = ordered_pairs([m for m in matches if m is not None])
    score.edits, score.truth_chars = text_edits(read_text, truth["fields"]["text"])
    marks_hit: set[int] = set()
    for line, match in zip(reading.lines, matches, strict=True):
        if not has_text(line.text):
            continue
        score.lines += 1
        if match is not None or line.quad is None:
            continue
        score.garbage += 1
        own = max(area(line.quad), 1.0)
        on = [
            k
            for k, m in enumerate(marks)
            if overlap(line.quad, m) >= min(0.25 * own, 0.2 * area(m))
        ]
        score.garbage_on_marks += bool(on)
        marks_hit.update(on)
    score.marks_read = len(marks_hit)
    if reading.blocks:
        grouping = block_grouping(reading.blocks, matches, block_of)
        score.blocks_pure, score.blocks, score.truth_blocks_whole, score.truth_blocks = grouping
    return score


def score_real(reading: Reading, truth_text: str) -> Score:
    score = Score(seconds=reading.seconds, photos=1)
    read_words = [w for line in reading.lines for w in words(line.text)]
    score.words.add_words(read_words, words(truth_text))
    known = {w.casefold() for w in words(truth_text)}
    for line in reading.lines:
        if has_text(line.text):
            score.lines += 1
            score.garbage += not any(w.casefold() in known for w in words(line.text))
    return score


# -- readers ------------------------------------------------------------------------------------


def exif_orientation(path: Path) -> int:
    with Image.open(path) as image:
        return int(image.getexif().get(0x0112, 1))


def upright_file(photo: Path, folder: Path) -> Path:
    """The photo as a plain reader should get it: upright (EXIF applied)."""
    if exif_orientation(photo) in (0, 1):
        return photo
    image, _ = read_photo(photo)
    path = folder / f"{photo.stem}.upright.png"
    cv2.imwrite(str(path), image)
    return path


def read_tesseract(photo: Path, lang: str, folder: Path) -> Reading:
    """Plain ``tesseract photo - -l LANG``, as TSV for the line boxes (the same reading)."""
    source = upright_file(photo, folder)
    start = children_cpu()
    result = subprocess.run(
        ["tesseract", str(source), "-", "-l", lang, "tsv"],
        capture_output=True,
        text=True,
        check=False,
        env=USER_ENV,
    )
    seconds = children_cpu() - start
    return Reading(tesseract_lines(result.stdout), seconds=seconds)


def children_cpu() -> float:
    """Processor seconds used so far by the child processes that have ended."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def tesseract_lines(tsv: str) -> list[ReadLine]:
    """Tesseract's TSV words gathered into its lines, in its order, with their boxes."""
    lines: dict[tuple[str, str, str], list[list[str]]] = {}
    for row in tsv.splitlines()[1:]:
        cells = row.split("\t")
        if len(cells) == 12 and cells[0] == "5" and cells[11].strip():
            lines.setdefault((cells[2], cells[3], cells[4]), []).append(cells)
    read = []
    for cells in lines.values():
        boxes = [[int(c) for c in word[6:10]] for word in cells]
        x0 = min(b[0] for b in boxes)
        y0 = min(b[1] for b in boxes)
        x1 = max(b[0] + b[2] for b in boxes)
        y1 = max(b[1] + b[3] for b in boxes)
        text = " ".join(word[11].strip() for word in cells)
        read.append(ReadLine(text, box_quad(x0, y0, x1 - x0, y1 - y0)))
    return read


class PaddleReader:
    """PP-OCRv6 small detection and recognition over the whole photo, as ``rapidocr``
    ships it (models inside the wheel; defaults, logging quietened)."""

    def __init__(self) -> None:
        from rapidocr import RapidOCR  # only this reader needs onnxruntime

        self.engine = RapidOCR(params={"Global.log_level": "warning"})

    def __call__(self, photo: Path) -> Reading:
        image, _ = read_photo(photo)
        start = time.process_time()
        result = self.engine(image)
        seconds = time.process_time() - start
        texts = result.txts or ()
        boxes = result.boxes if result.boxes is not None else []
        lines = [ReadLine(t, np.array(b, np.float32)) for t, b in zip(texts, boxes, strict=True)]
        return Reading(lines, seconds=seconds)


def read_ours(photos: list[Photo], lang: str, jobs: int, folder: Path) -> dict[Path, Reading]:
    """One ``flipchart-ocr process`` run over the set; each photo's sheet JSON read back."""
    linked = folder / "photos"
    linked.mkdir()
    names = {}
    for index, photo in enumerate(photos):  # unique names: real photos share stems
        link = linked / f"{index:03d}-{photo.path.name}"
        link.symlink_to(photo.path.resolve())
        names[photo.path] = link.stem
    cli = Path(sys.executable).parent / "flipchart-ocr"
    command = [str(cli), "process", str(linked), "-o", str(folder / "out"), "--lang", lang]
    start = children_cpu()
    run = subprocess.run([*command, "--jobs", str(jobs), "-q"], capture_output=True, text=True)
    seconds = (children_cpu() - start) / max(len(photos), 1)
    if run.returncode not in (0, 1):
        raise SystemExit(f"flipchart-ocr process failed ({run.returncode}): {run.stderr}")
    readings = {}
    for photo in photos:
        sheet = folder / "out" / f"{names[photo.path]}.json"
        doc = json.loads(sheet.read_text(encoding="utf-8")) if sheet.is_file() else {}
        readings[photo.path] = sheet_reading(doc, seconds)
    return readings


def sheet_reading(doc: dict, seconds: float) -> Reading:
    """A sheet JSON's lines (boxes mapped from the rectified sheet into the photo) and
    blocks, fields in order."""
    to_photo = sheet_to_photo(doc.get("sheet", {}))
    lines: list[ReadLine] = []
    blocks: list[list[int]] = []
    for sheet_field in doc.get("fields", []):
        first = len(lines)
        for line in sheet_field.get("lines", []):
            quad = box_quad(*line["bbox"])
            lines.append(ReadLine(line["text"], to_photo(quad) if to_photo else quad))
        blocks += [[first + i for i in block["lines"]] for block in sheet_field.get("blocks", [])]
    return Reading(lines, blocks or None, seconds)


def sheet_to_photo(sheet: dict):  # noqa: ANN201 - a function or None
    """The map from rectified-sheet pixels to photo pixels, from the sheet's corners."""
    corners, width, height = sheet.get("corners"), sheet.get("width"), sheet.get("height")
    if not corners or len(corners) != 4 or not width or not height:
        return None
    rectangle = box_quad(0, 0, width, height)
    matrix = cv2.getPerspectiveTransform(rectangle, np.array(corners, np.float32))

    def to_photo(quad: np.ndarray) -> np.ndarray:
        return cv2.perspectiveTransform(quad.reshape(-1, 1, 2), matrix).reshape(-1, 2)

    return to_photo


# -- sets --------------------------------------------------------------------------------------


def generated_photos(folder: Path) -> list[Photo]:
    photos = []
    for path in sorted(folder.glob("*.truth.json")):
        truth = json.loads(path.read_text(encoding="utf-8"))
        if "blocks" in truth:  # boards only: posters have no reading order to score
            photos.append(Photo(folder / truth["photo"], truth, truth.get("board", "board")))
    return photos


def real_photos(root: Path) -> list[Photo]:
    photos = []
    for gt in sorted(root.rglob("*.gt.txt")):
        stem = gt.name[: -len(".gt.txt")]
        images = [p for p in gt.parent.glob(f"{stem}.*") if p.suffix.lower() in IMAGE_SUFFIXES]
        if images:
            text = gt.read_text(encoding="utf-8")
            kind = gt.relative_to(root).parts[0]
            photos.append(Photo(images[0], {"text": text}, kind))
    return photos


def run_set(
    name: str, photos: list[Photo], lang: str, readers: list[str], jobs: int
) -> dict[str, dict[str, Score]]:
    """Every reader over the set: scores by reader, then by board kind ("" = all)."""
    scores: dict[str, dict[str, Score]] = {r: {} for r in readers}
    paddle = PaddleReader() if "ppocr" in readers else None
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        ours = read_ours(photos, lang, jobs, folder) if "ours" in readers else {}
        for photo in photos:
            readings = {"ours": ours.get(photo.path)}
            if "tesseract" in readers:
                readings["tesseract"] = read_tesseract(photo.path, lang, folder)
            if paddle:
                readings["ppocr"] = paddle(photo.path)
            row = []
            for reader in readers:
                reading = readings[reader] or Reading([])
                if "blocks" in photo.truth:
                    score = score_generated(reading, photo.truth)
                else:
                    score = score_real(reading, photo.truth["text"])
                for kind in ("", photo.kind):
                    scores[reader].setdefault(kind, Score()).add(score)
                row.append(f"{reader} {score.words.f1:.2f}")
            print(f"  {name}: {photo.path.name:<44} F1 {', '.join(row)}", file=sys.stderr)
    return scores


# -- report ------------------------------------------------------------------------------------


def share(part: int, whole: int) -> str:
    return f"{part / whole:.3f}" if whole else "-"


def report(name: str, photos: list[Photo], scores: dict[str, dict[str, Score]]) -> None:
    kinds = Counter(photo.kind for photo in photos)
    what = ", ".join(f"{n} {kind}" for kind, n in sorted(kinds.items()))
    print(f"\n## {name} ({len(photos)} photos: {what})\n")
    generated = any("blocks" in photo.truth for photo in photos)
    if generated:
        print(
            "| reader | word F1 (P / R) | line pairs in reading order | CER in reading order"
            " | garbage lines (on marks) of lines | marks read as text | blocks pure / truth"
            " blocks whole | CPU s / photo |"
        )
        print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    else:
        print(
            "| reader | word F1 (P / R) | lines with no word of the transcription | CPU s / photo |"
        )
        print("| --- | --- | --- | --- |")
    for reader, by_kind in scores.items():
        s = by_kind.get("", Score())
        f1 = f"{s.words.f1:.3f} ({s.words.precision:.2f} / {s.words.recall:.2f})"
        seconds = f"{s.seconds / max(s.photos, 1):.2f}"
        if generated:
            blocks = (
                f"{share(s.blocks_pure, s.blocks)} / {share(s.truth_blocks_whole, s.truth_blocks)}"
            )
            print(
                f"| {READERS[reader]} | {f1} | {share(s.pairs_right, s.pairs)} |"
                f" {share(s.edits, s.truth_chars)} | {s.garbage} ({s.garbage_on_marks}) of {s.lines}"
                f" | {s.marks_read} of {s.marks} | {blocks} | {seconds} |"
            )
        else:
            print(f"| {READERS[reader]} | {f1} | {s.garbage} of {s.lines} | {seconds} |")
    if len(kinds) > 1:
        print(
            "\nword F1 by kind: "
            + "; ".join(
                f"{kind} " + " / ".join(f"{scores[r][kind].words.f1:.2f}" for r in scores)
                for kind in sorted(kinds)
            )
            + f" ({' / '.join(scores)})"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--generated",
        type=Path,
        action="append",
        default=[],
        help="a folder made by samples/generate.py --boards (repeatable)",
    )
    parser.add_argument(
        "--realdata", type=Path, help="real photos with *.gt.txt (../shared/realdata)"
    )
    parser.add_argument("--lang", default="deu", help="language of the generated boards")
    parser.add_argument("--real-lang", default="eng", help="language of the real photos")
    parser.add_argument(
        "--readers",
        default="ours,tesseract,ppocr",
        help="which of ours, tesseract, ppocr to run (comma-separated)",
    )
    parser.add_argument("--jobs", type=int, default=1, help="process --jobs for our pipeline")
    args = parser.parse_args()
    readers = [r for r in args.readers.split(",") if r]
    unknown = set(readers) - set(READERS)
    if unknown or not (args.generated or args.realdata):
        parser.error(f"give --generated and/or --realdata; readers are {', '.join(READERS)}")
    sets = [(folder.name, generated_photos(folder), args.lang) for folder in args.generated]
    if args.realdata:
        sets.append((f"real photos ({args.realdata})", real_photos(args.realdata), args.real_lang))
    for name, photos, lang in sets:
        if not photos:
            print(f"\n## {name}: no photos with board truth or transcription", flush=True)
            continue
        report(name, photos, run_set(name, photos, lang, readers, args.jobs))
        sys.stdout.flush()


if __name__ == "__main__":
    main()
