"""Generated lines: the recogniser's synthesiser (training/recogniser/synth.py, its training
fonts, German word-list text, digits, punctuation, several words a line) with English words
mixed in, coloured like the DHSD words; so that the fine-tune keeps reading general lines.
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "recogniser"))
import synth  # noqa: E402
from data import colourise  # noqa: E402

ENGLISH_WORDS = Path("/usr/share/dict/american-english")  # Debian package wamerican
ENGLISH_SHORT = ["the", "and", "of", "to", "in", "for", "on", "with", "is", "are", "we", "our"]
ENGLISH_SHORT += ["you", "it", "at", "by", "from", "not", "all", "new", "how", "what", "next"]


class MixedText(synth.TextSource):
    """The synthesiser's German text with English words mixed in (a third of the words)."""

    def __init__(self, rng: random.Random):
        super().__init__(rng)
        self.english = english_words()

    def word(self) -> str:
        if self.rng.random() < 0.33:
            if self.rng.random() < 0.25:
                return self.rng.choice(ENGLISH_SHORT)
            return self.rng.choice(self.english)
        return super().word()


def english_words(path: Path = ENGLISH_WORDS) -> list[str]:
    ascii_letters = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
    with open(path, encoding="utf-8") as f:
        words = (w.strip() for w in f)
        return [w for w in words if 2 <= len(w) <= 12 and set(w) <= ascii_letters]


class SyntheticLines:
    """Generated lines in the synthesiser's training fonts, coloured like the DHSD words."""

    def __init__(self, seed: int):
        self.maker = synth.LineMaker(seed)
        self.maker.text = MixedText(self.maker.rng)
        self.rng = self.maker.rng

    def sample(self) -> tuple[np.ndarray, str]:
        grey, text = self.maker.sample(height=64)  # blurred, noisy, JPEG'd already
        return colourise(grey, self.rng), text
