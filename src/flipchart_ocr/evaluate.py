"""Accuracy measures shared by the benchmarks and the tests: CER and bag-of-words F1."""

from __future__ import annotations

import unicodedata
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

EDGE_PUNCTUATION = "\"'„“”‚‘’«»()[]{}.,;:!?-–—*+•·/\\|<>=_~"


def normalise_text(text: str) -> str:
    """NFC, each line stripped and its inner whitespace collapsed, empty lines dropped."""
    text = unicodedata.normalize("NFC", text)
    lines = (" ".join(line.split()) for line in text.splitlines())
    return "\n".join(line for line in lines if line)


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance, two rows at a time."""
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def words(text: str) -> list[str]:
    """Words for bag-of-words scoring: split on whitespace, edge punctuation stripped."""
    tokens = (t.strip(EDGE_PUNCTUATION) for t in unicodedata.normalize("NFC", text).split())
    return [t for t in tokens if t]


def is_lexical(word: str) -> bool:
    """Whether a word list can hold ``word``: two letters or more, letters only."""
    return len(word) >= 2 and word.isalpha()


def lexical_words(text: str) -> set[str]:
    """The words of ``text`` that a word list can hold."""
    return {w for w in words(text) if is_lexical(w)}


@dataclass
class Tally:
    """Pooled counts over many fields or photos."""

    edits: int = 0
    truth_chars: int = 0
    matched_words: int = 0
    predicted_words: int = 0
    truth_words: int = 0

    def add_text(self, predicted: str, truth: str) -> None:
        predicted, truth = normalise_text(predicted), normalise_text(truth)
        self.edits += edit_distance(predicted, truth)
        self.truth_chars += len(truth)
        self.add_words(words(predicted), words(truth))

    def add_words(self, predicted: Iterable[str], truth: Iterable[str]) -> None:
        p, t = Counter(predicted), Counter(truth)
        self.matched_words += sum((p & t).values())
        self.predicted_words += sum(p.values())
        self.truth_words += sum(t.values())

    def add(self, other: Tally) -> None:
        """Pool another tally's counts into this one."""
        self.edits += other.edits
        self.truth_chars += other.truth_chars
        self.matched_words += other.matched_words
        self.predicted_words += other.predicted_words
        self.truth_words += other.truth_words

    @property
    def cer(self) -> float:
        return self.edits / self.truth_chars if self.truth_chars else 0.0

    @property
    def precision(self) -> float:
        return self.matched_words / self.predicted_words if self.predicted_words else 0.0

    @property
    def recall(self) -> float:
        return self.matched_words / self.truth_words if self.truth_words else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0
