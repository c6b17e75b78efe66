"""Real handwriting for generated photos: DHSD word images turned into marker writing.

DHSD (Deutscher Handschriften-Datensatz; Riaz, Saifullah, Agne, Dengel, Ahmed 2026,
DOI 10.5281/zenodo.18743313, CC BY 4.0) holds German words written on paper by 29
people, each squeezed into a 256 x 64 greyscale image whatever the word's length. A
``HandPen`` writes lines of one writer's words onto a sheet: each word cropped to its
ink, stretched back to a natural width for its letters, its pen strokes thickened to
a marker's, and laid on the paper in a marker colour (multiplied, as ink is).
"""

from __future__ import annotations

import csv
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

Box = tuple[float, float, float, float]  # x0, y0, x1, y1 in pixels of the image written on

# Letter shapes in units of the writer's x-height: what rises above it, what hangs below.
ASCENDING = set("bdfhklßABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÜ0123456789/()!?&")
DOTTED = set("ijtäöü")  # rise about half an x-height (dots, the t's stem)
DESCENDING = set("gjpqy")
# Letter widths in x-heights; everything else is about one x-height wide.
NARROW = set("iljtfr.,;:'!|-1I")
WIDE = set("mwMW")
ASCENDER, HALF_ASCENDER, DESCENDER = 0.9, 0.45, 0.75


@dataclass(frozen=True)
class WordImage:
    """One DHSD word: its image file, its text (DHSD's label or our fix of it), the writer."""

    path: Path
    text: str
    writer: int


def parse_writers(spec: str) -> set[int]:
    """'25-29' or '25,27,29' (or a mix) as a set of writer numbers."""
    writers: set[int] = set()
    for part in spec.split(","):
        first, _, last = part.strip().partition("-")
        writers.update(range(int(first), int(last or first) + 1))
    return writers


# Labels of DHSD's that are not what the image shows (words swapped within a writer's
# list, a name left half written, a blank): file, the text the image shows (empty: the
# image is left out), why. Found by reading every word with the wheel's recogniser (which
# never saw DHSD) and our own, and looking at each word both read as another of the
# writer's words or as nothing like its label; 65 of 4,711 (writer 29: 10 of 160).
FIXES = Path(__file__).with_name("dhsd-fixes.tsv")


def dhsd_words(root: Path, fixes: Path | None = FIXES) -> list[WordImage]:
    """Every word of DHSD's ``labels.tsv`` (file, text, writer), NFC, with ``fixes``
    applied (None: the labels as published)."""
    fixed: dict[str, str] = {}
    if fixes is not None:
        with fixes.open(encoding="utf-8", newline="") as table:
            fixed = {
                row["file"]: row["text"].strip() for row in csv.DictReader(table, delimiter="\t")
            }
    words = []
    with (root / "labels.tsv").open(encoding="utf-8", newline="") as table:
        for row in csv.DictReader(table, delimiter="\t"):
            text = fixed.get(row["file"], row["text"].strip())
            if text:
                text = unicodedata.normalize("NFC", text)
                words.append(WordImage(root / row["file"], text, int(row["writer"])))
    return words


def load_words(root: Path, writers: set[int]) -> dict[int, list[WordImage]]:
    """The words of ``writers`` (``dhsd_words``), by writer."""
    by_writer: dict[int, list[WordImage]] = {}
    for word in dhsd_words(root):
        if word.writer in writers:
            by_writer.setdefault(word.writer, []).append(word)
    missing = writers - set(by_writer)
    if missing:
        raise SystemExit(f"{root / 'labels.tsv'}: no words by writer(s) {sorted(missing)}")
    return by_writer


def vertical_extent(text: str) -> tuple[float, float]:
    """How far the word's ink rises above and hangs below its x-height band, in x-heights."""
    letters = set(text)
    above = ASCENDER if letters & ASCENDING else HALF_ASCENDER if letters & DOTTED else 0.0
    below = DESCENDER if letters & DESCENDING else 0.0
    return above, below


def natural_width(text: str) -> float:
    """The width a hand gives ``text``, in x-heights (before the writer's own factor)."""
    return sum(
        0.7 if ch == " " else 0.5 if ch in NARROW else 1.45 if ch in WIDE else 1.0 for ch in text
    )


@lru_cache(maxsize=4096)
def ink_alpha(path: Path) -> np.ndarray:
    """The word's ink as coverage 0..1, cropped to the ink: paper, faint ruling and scanner
    grey count as nothing, the writer's darkest strokes as full ink."""
    grey = np.asarray(Image.open(path).convert("L"), np.float32)
    paper = float(np.median(grey))
    darkest = float(np.percentile(grey, 0.5))
    depth = max(paper - darkest, 1.0)
    alpha = drop_form_lines(np.clip(((paper - grey) / depth - 0.25) / 0.55, 0.0, 1.0))
    rows, cols = np.nonzero(alpha > 0.3)
    if rows.size == 0:
        return np.zeros((1, 1), np.float32)
    return alpha[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]


def drop_form_lines(alpha: np.ndarray) -> np.ndarray:
    """Without the paper form's traces: a ruled guide line under the word (long and flat)
    or the scan's edge (a tall thin stroke at a side). About one image in twelve has one;
    thickened to marker they would read as underlines and bars nobody wrote."""
    height, width = alpha.shape
    count, labels, stats, _ = cv2.connectedComponentsWithStats((alpha > 0.1).astype(np.uint8))
    for index in range(1, count):
        x, y, w, h, _ = stats[index]
        ruled = h <= 5 and w >= width * 0.15
        # a hairline nearly the image's height near a side; a pen's "I" is wider and shorter
        edge = w <= 3 and h >= height * 0.75 and (x <= 12 or x + w >= width - 12)
        if ruled or edge:
            alpha[labels == index] = 0.0
    return alpha


def stroke_width(alpha: np.ndarray) -> float:
    """Mean width of the strokes in pixels: twice the ink's area over its outline's length."""
    ink = (alpha > 0.5).astype(np.uint8)
    contours, _ = cv2.findContours(ink, cv2.RETR_LIST, cv2.CHAIN_APPROX_NONE)
    outline = sum(cv2.arcLength(c, True) for c in contours)
    return 2.0 * float(ink.sum()) / outline if outline else 1.0


def marker_word(
    word: WordImage, x_height: float, marker: float, width_factor: float
) -> tuple[np.ndarray, int]:
    """The word as marker coverage 0..1, sized for ``x_height`` pixels: stretched to the
    width its letters take in a hand, strokes thickened to ``marker`` x-heights. Also the
    margin added on every side for the thickened strokes."""
    alpha = ink_alpha(word.path)
    above, below = vertical_extent(word.text)
    height = max(int(round((1.0 + above + below) * x_height)), 4)
    width = max(int(round(natural_width(word.text) * width_factor * x_height)), 4)
    scaled = cv2.resize(alpha, (width, height), interpolation=cv2.INTER_AREA)
    stretch = max(width / alpha.shape[1], height / alpha.shape[0])
    if stretch > 1.2:  # a word stretched well beyond its scan: smooth away the pixel steps
        smooth = cv2.resize(alpha, (width, height), interpolation=cv2.INTER_CUBIC)
        smooth = cv2.GaussianBlur(smooth, (0, 0), 0.4 * stretch)
        scaled = np.clip((smooth - 0.15) / 0.5, 0.0, 1.0)
    grow = marker * x_height - stroke_width(scaled)
    pad = 0
    if grow >= 1.0:
        pad = int(grow) + 1
        scaled = np.pad(scaled, pad)  # room for the thickened strokes at the edges
        size = int(round(grow)) | 1  # an odd kernel keeps the strokes centred
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size))
        scaled = cv2.dilate(scaled, kernel)
    # a marker lays ink evenly: strong coverage saturates, the edge stays soft
    return np.clip(scaled * 1.4, 0.0, 1.0), pad


def lay_ink(
    image: Image.Image, alpha: np.ndarray, x: int, y: int, ink: tuple[int, int, int]
) -> None:
    """Multiply ``ink`` onto ``image`` where ``alpha`` covers it (clipped at the edges)."""
    h, w = alpha.shape
    x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + w, image.width), min(y + h, image.height)
    if x1 <= x0 or y1 <= y0:
        return
    cover = alpha[y0 - y : y1 - y, x0 - x : x1 - x, None]
    paper = np.asarray(image.crop((x0, y0, x1, y1)), np.float32)
    inked = paper * (np.array(ink, np.float32) / 255.0)
    blended = paper * (1.0 - cover) + inked * cover
    image.paste(Image.fromarray(np.clip(blended, 0, 255).astype(np.uint8)), (x0, y0))


class HandPen:
    """One writer's marker: writes lines made of that writer's DHSD words.

    ``x_height`` is the height of a lower-case letter in pixels; a line takes about
    ``line_height`` from the top of its capitals to the bottom of its descenders.
    ``words`` is the writer's words not yet on the photo: the pen takes what it writes
    out of that list, so pens sharing it never write a word twice.
    """

    def __init__(self, words: list[WordImage], x_height: float, rng: np.random.Generator) -> None:
        self.words = words
        self.x_height = x_height
        self.rng = rng
        self.marker = float(rng.uniform(0.14, 0.24))  # stroke width in x-heights
        self.width_factor = float(rng.uniform(0.85, 1.2))  # this hand's letter width
        self.planned: dict[str, list[WordImage]] = {}

    @property
    def line_height(self) -> float:
        return (1.0 + ASCENDER + DESCENDER) * self.x_height

    def word_width(self, word: WordImage) -> float:
        return natural_width(word.text) * self.width_factor * self.x_height

    def width(self, text: str) -> float:
        parts = self.planned.get(text, [])
        gaps = max(len(parts) - 1, 0) * 0.8 * self.x_height
        return sum(self.word_width(w) for w in parts) + gaps

    def phrases(
        self, rng: np.random.Generator, pool: list[str], count: int, max_width: float
    ) -> list[str]:
        """Up to ``count`` lines of this writer's words, each within ``max_width``: one to
        three words a line, at most two where the room is narrow (a card). ``pool`` (what a
        font would write) is not this hand's to write."""
        del pool
        most = 3 if max_width > 25 * self.x_height else 2
        lines = []
        for _ in range(count):
            parts = self._take_words(rng, int(rng.integers(1, most + 1)), max_width)
            if not parts:
                break
            text = " ".join(w.text for w in parts)
            self.planned[text] = parts
            lines.append(text)
        return lines

    def _take_words(
        self, rng: np.random.Generator, wanted: int, max_width: float
    ) -> list[WordImage]:
        taken: list[WordImage] = []
        used = 0.0
        gap = 0.8 * self.x_height
        for index in rng.permutation(len(self.words)):
            word = self.words[index]
            needed = self.word_width(word) + (gap if taken else 0.0)
            if used + needed <= max_width:
                taken.append(word)
                used += needed
                if len(taken) == wanted:
                    break
        for word in taken:
            self.words.remove(word)
        return taken

    def write_line(
        self, image: Image.Image, x: float, top: float, text: str, ink: tuple[int, int, int]
    ) -> Box:
        """Write a line planned by ``phrases`` with its top at ``top``; returns its ink box."""
        baseline = top + (1.0 + ASCENDER) * self.x_height
        slope = self.rng.normal(0, 0.012)  # a line is rarely level
        start = x
        upper, lower, right = float("inf"), float("-inf"), x
        for word in self.planned[text]:
            size = self.x_height * self.rng.uniform(0.94, 1.06)  # no two words quite alike
            alpha, pad = marker_word(word, size, self.marker, self.width_factor)
            above, _ = vertical_extent(word.text)
            word_top = baseline + slope * (x - start) - (1.0 + above) * size - pad
            word_top += self.rng.normal(0, 0.06 * self.x_height)
            lay_ink(image, alpha, int(round(x)) - pad, int(round(word_top)), ink)
            upper, lower = min(upper, word_top + pad), max(lower, word_top + alpha.shape[0] - pad)
            right = x + alpha.shape[1] - 2 * pad
            x = right + self.rng.uniform(0.6, 1.0) * self.x_height
        return (start, upper, right, lower)
