"""The German word list: which words are words.

Debian's ``wngerman`` (installed by ``scripts/setup.sh``). Merge and the review
app use it to keep learned fixes from turning a real word into something else;
the reader uses the same list (``handwriting.WORD_LIST``) to choose between readings.
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache
from pathlib import Path

from .evaluate import EDGE_PUNCTUATION

WORD_LIST = Path("/usr/share/dict/ngerman")


@lru_cache(maxsize=1)
def german_words() -> frozenset[str]:
    """The word list, case-folded; empty if it is not installed (then no word is known)."""
    try:
        text = WORD_LIST.read_text(encoding="utf-8")
    except OSError:
        return frozenset()
    return frozenset(unicodedata.normalize("NFC", text).casefold().split())  # 0.1 s, once


def is_known(word: str) -> bool:
    """``word`` (punctuation at its edges aside, in any case) is in the word list."""
    bare = unicodedata.normalize("NFC", word.strip(EDGE_PUNCTUATION)).casefold()
    return bool(bare) and bare in german_words()
