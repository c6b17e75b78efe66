"""Our own handwriting line recogniser, beside Tesseract.

Tesseract's models are trained on print. ``models/recogniser.onnx`` is a small
CNN + CTC model (1.3 M parameters, 5 MB) that this project trained on 450 000
synthetic marker lines in 44 fonts the sample generator does not use
(``training/recogniser/`` says how to re-train it). Alone it reads our unseen
photos about as well as Tesseract, but makes different mistakes; so
``read_rows`` reads each text row of a field (the same ink image and row bands
as the Tesseract path) and ``combine`` keeps per row the reading with more
German words in it (Debian's ``wngerman`` word list), Tesseract's on a tie.
Our reader decodes with the same word list: an unknown word that the model finds
nearly as likely to be a known one becomes that word, flagged (``ctc``).
OpenCV's DNN module runs the model: no further dependency.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from . import ctc, ocr
from .document import Line, Word
from .evaluate import is_lexical, words

MODEL_PATH = Path(__file__).parent / "models" / "recogniser.onnx"
INPUT_HEIGHT = 32  # the model's input rows
WIDTH_MULTIPLE = 4  # the model's horizontal stride


@dataclass(frozen=True)
class Reading:
    text: str
    confidence: float  # 0-100, as Tesseract's
    words: tuple[Word, ...]


class LineRecogniser:
    """The ONNX model and its alphabet; ``read`` turns a row image into text."""

    def __init__(self, model: Path = MODEL_PATH) -> None:
        self.charset = model.with_suffix(".charset.txt").read_text(encoding="utf-8")
        self.net = cv2.dnn.readNetFromONNX(str(model))

    def read(self, gray: np.ndarray, lexicon: ctc.Lexicon | None = None) -> Reading:
        """A row image (dark ink on white, any size): its text.

        Greedy CTC decoding; with a ``lexicon``, unknown words that the model finds
        nearly as likely to be a known word become that word (``ctc.decode``).
        """
        emissions = ctc.decode(self._probabilities(gray), self.charset, lexicon)
        return _reading([(e.char, e.probability) for e in emissions])

    def _probabilities(self, gray: np.ndarray) -> np.ndarray:
        height, width = gray.shape
        new_width = max(16, round(width * INPUT_HEIGHT / height))
        new_width = -(-new_width // WIDTH_MULTIPLE) * WIDTH_MULTIPLE
        shrinking = height > INPUT_HEIGHT
        interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_CUBIC
        image = cv2.resize(gray, (new_width, INPUT_HEIGHT), interpolation=interpolation)
        ink = (255 - image.astype(np.float32)) / 255.0  # the model sees ink as 1
        self.net.setInput(ink[None, None])
        logits = self.net.forward()[0, :, 0, :]
        logits = logits - logits.max(axis=0, keepdims=True)
        exp = np.exp(logits)
        return exp / exp.sum(axis=0, keepdims=True)


def _reading(chars: list[tuple[str, float]]) -> Reading:
    """Text, and confidences (geometric mean of the letters' probabilities) per word and row."""
    text = " ".join("".join(c for c, _ in chars).split())
    read_words: list[Word] = []
    current: list[tuple[str, float]] = []
    for char, probability in [*chars, (" ", 1.0)]:  # a final space closes the last word
        if char == " ":
            if current:
                read_words.append(Word("".join(c for c, _ in current), _confidence(current)))
            current = []
        else:
            current.append((char, probability))
    return Reading(text, _confidence(chars), tuple(read_words))


def _confidence(chars: list[tuple[str, float]]) -> float:
    if not chars:
        return 0.0
    logs = np.log(np.maximum([p for _, p in chars], 1e-6))
    return float(100 * np.exp(logs.mean()))


@lru_cache(maxsize=1)
def recogniser() -> LineRecogniser:
    """One model per process: loading it costs more than reading a sheet's rows."""
    return LineRecogniser()


# -- rows of a field ------------------------------------------------------------------------


def read_rows(
    crop: ocr.FieldCrop, options: ocr.OcrOptions, known: ctc.Lexicon | None = None
) -> list[Line]:
    """The crop's text rows read by the recogniser, in sheet pixels, top to bottom.

    ``known``: the words to decode towards (default: the German word list).
    """
    if crop.too_small:
        return []
    gray, scale = ocr.ink_of(crop, options)
    if not ocr.has_ink(gray):
        return []
    decoding = (lexicon() if known is None else known) if options.decode_words else None
    mask = ocr.ink_mask(gray)
    lines = []
    for top, bottom in ocr.text_rows(ocr.row_bands(gray)):
        box = _row_box(mask, top, bottom)
        if box is None:
            continue
        left, row_top, right, row_bottom = box
        reading = recogniser().read(gray[row_top:row_bottom, left:right], decoding)
        bbox = (
            int(round(left / scale + crop.offset[0])),
            int(round(row_top / scale + crop.offset[1])),
            int(round((right - left) / scale)),
            int(round((row_bottom - row_top) / scale)),
        )
        line = Line(reading.text, reading.confidence, bbox, reading.words)
        if not ocr.is_noise(line) and not ocr.is_label_echo(line, crop.label):
            lines.append(line)
    return lines


def _row_box(mask: np.ndarray, top: int, bottom: int) -> tuple[int, int, int, int] | None:
    """The row's ink, with a margin: a tenth of its height above and below, more at the sides."""
    columns = np.flatnonzero(mask[top:bottom].any(axis=0))
    if len(columns) == 0:
        return None
    height = bottom - top
    margin_y, margin_x = round(0.1 * height), round(0.3 * height)
    return (
        max(0, int(columns.min()) - margin_x),
        max(0, top - margin_y),
        min(mask.shape[1], int(columns.max()) + 1 + margin_x),
        min(mask.shape[0], bottom + margin_y),
    )


# -- one reading per row ----------------------------------------------------------------------

WORD_LIST = Path("/usr/share/dict/ngerman")  # Debian's wngerman
# Ours must fit the word list by more than this share of its words to replace Tesseract's.
MIN_ADVANTAGE = 0.01


@lru_cache(maxsize=1)
def german_words() -> frozenset[str]:
    """The word list, case-folded; empty if it is not installed (then Tesseract wins ties)."""
    try:
        text = WORD_LIST.read_text(encoding="utf-8")
    except OSError:
        return frozenset()
    return frozenset(unicodedata.normalize("NFC", text).casefold().split())  # 0.1 s, once


def lexicon(extra: frozenset[str] = frozenset()) -> ctc.Lexicon:
    """The word list and the event's own ``extra`` words (sorted once per process, 0.1 s)."""
    return _lexicon(frozenset(extra))  # one cache entry for lexicon() and lexicon(frozenset())


@lru_cache(maxsize=4)
def _lexicon(extra: frozenset[str]) -> ctc.Lexicon:
    folded = {unicodedata.normalize("NFC", w).casefold() for w in extra}
    return ctc.Lexicon(german_words() | folded)


def lexicon_fit(text: str, known: ctc.Lexicon | None = None) -> float:
    """The share of a reading's words (two letters or more) that are known words."""
    candidates = [w for w in words(text) if is_lexical(w)]
    if not candidates:
        return 0.0
    known = lexicon() if known is None else known
    return sum(w in known for w in candidates) / len(candidates)


def combine(
    ours: list[Line], tesseract: list[Line], known: ctc.Lexicon | None = None
) -> list[Line]:
    """Per text row, our reading if more of its words are German words, else Tesseract's.

    Tesseract's lines are matched to our rows by vertical overlap; a Tesseract line
    that overlaps no row of ours is kept as it is. Choosing by the word list, not by
    the two readers' confidences: those are not comparable, and on synthetic lines in
    our training fonts ours is always the surer (measured, see BENCHMARKS.md).
    """
    known = lexicon() if known is None else known
    matched: dict[int, list[Line]] = {i: [] for i in range(len(ours))}
    chosen: list[Line] = []
    for line in tesseract:
        row = _overlapping_row(line, ours)
        if row is None:
            chosen.append(line)
        else:
            matched[row].append(line)
    for row, line in enumerate(ours):
        theirs = matched[row]
        their_text = " ".join(t.text for t in theirs)
        if (
            theirs
            and lexicon_fit(line.text, known) <= lexicon_fit(their_text, known) + MIN_ADVANTAGE
        ):
            chosen.extend(theirs)
        else:
            chosen.append(with_unknown_words_flagged(line, known))
    return sorted(chosen, key=lambda line: (line.bbox[1], line.bbox[0]))


def reread_lines(
    image: np.ndarray, lines: list[Line], options: ocr.OcrOptions, known: ctc.Lexicon
) -> list[Line]:
    """Freeform sheets: each of Tesseract's lines read again from its own crop of ``image``.

    A free-drawn sheet has no fields to cut into rows, but Tesseract's sparse-text
    lines say where the writing is. Per line, our reading wins if it has more known
    words (word F1 on 20 generated freeform photos 0.295 -> 0.350).
    """
    chosen = []
    for line in lines:
        ours = _row_at(image, line, options, known)
        if ours is not None and lexicon_fit(ours.text, known) > (
            lexicon_fit(line.text, known) + MIN_ADVANTAGE
        ):
            chosen.append(with_unknown_words_flagged(ours, known))
        else:
            chosen.append(line)
    return chosen


def _row_at(
    image: np.ndarray, line: Line, options: ocr.OcrOptions, known: ctc.Lexicon
) -> Line | None:
    """Our reading of the text row that overlaps ``line`` most (sheet pixels)."""
    x, y, w, h = line.bbox
    left, top = max(0, x - round(0.3 * h)), max(0, y - round(0.15 * h))
    crop = image[top : y + h + round(0.15 * h), left : x + w + round(0.3 * h)]
    rows = read_rows(ocr.FieldCrop(crop, (left, top)), options, known)
    index = _overlapping_row(line, rows)
    return None if index is None else rows[index]


# Our model is sure of itself even where it is wrong: on the samples and an unseen set,
# 44 of its 62 wrong words had a confidence of 60 or more (Tesseract: 39 of 350), while
# every word it read right was a word of the list. So a word of ours that the list does
# not know is flagged for review like a doubtful word of Tesseract's.
UNKNOWN_WORD_CONFIDENCE = 40.0


def with_unknown_words_flagged(line: Line, known: ctc.Lexicon | None = None) -> Line:
    """``line`` with the confidence of words the word list does not know lowered."""
    known = lexicon() if known is None else known
    if not known or not line.words:
        return line
    flagged = tuple(
        word
        if _is_known(word.text, known)
        else Word(word.text, min(word.confidence, UNKNOWN_WORD_CONFIDENCE))
        for word in line.words
    )
    letters = sum(len(w.text) for w in flagged) or 1
    confidence = sum(w.confidence * len(w.text) for w in flagged) / letters
    return Line(line.text, min(line.confidence, confidence), line.bbox, flagged)


def _is_known(text: str, known: ctc.Lexicon) -> bool:
    core = words(text)
    return not core or not core[0].isalpha() or core[0] in known


def _overlapping_row(line: Line, rows: list[Line]) -> int | None:
    _, y, _, h = line.bbox
    best, best_overlap = None, 0
    for index, row in enumerate(rows):
        overlap = min(y + h, row.bbox[1] + row.bbox[3]) - max(y, row.bbox[1])
        if overlap > best_overlap:
            best, best_overlap = index, overlap
    return best
