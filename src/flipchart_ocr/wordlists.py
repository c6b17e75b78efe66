"""The word lists: which words are words, by language.

``deu`` is Debian's ``wngerman`` (/usr/share/dict/ngerman), ``eng`` Debian's British and
American lists (``wbritish``, ``wamerican``); ``deu+eng`` both (``--lang``). The reader may
steer a doubtful word towards them (``readers.ctc``): a word is replaced only where the
model finds the known word nearly as likely as what it read, so an English word on a
German sheet stays as read, and with ``deu+eng`` it is known anyway. Merge and the review
app ask ``is_known`` so that a learned fix never turns a real word into something else.
Plain Python: the modules after OCR use it without loading the OCR stack.
"""

from __future__ import annotations

import bisect
import gzip
import hashlib
import importlib.util
import unicodedata
from array import array
from collections.abc import Iterable, Iterator
from functools import lru_cache
from itertools import accumulate, pairwise
from pathlib import Path

import msgpack

from .evaluate import EDGE_PUNCTUATION

DICT_DIR = Path("/usr/share/dict")
WORD_LISTS: dict[str, tuple[str, ...]] = {
    "deu": ("ngerman",),
    "eng": ("british-english", "american-english"),
}
PACKAGES = {"deu": "wngerman", "eng": "wbritish wamerican"}


def languages(lang: str) -> tuple[str, ...]:
    """The Tesseract-style ``deu+eng`` as its parts."""
    return tuple(part for part in lang.split("+") if part)


def missing_lists(lang: str) -> list[str]:
    """The Debian packages whose word lists ``lang`` needs and are not installed."""
    return [
        PACKAGES[code]
        for code in languages(lang)
        if code in WORD_LISTS and not any((DICT_DIR / n).is_file() for n in WORD_LISTS[code])
    ]


class WordList:
    """Case-folded words, sorted and held as one string with the offsets of its words.

    Every worker holds the lists: ngerman's 356 000 words took 52 MB as a Python set
    with a sorted list beside it for prefixes, and take 8 MB this way. A word and a
    prefix are both found by bisection: first over every ``STRIDE``-th word, held as
    Python strings, then within that stretch.
    """

    STRIDE = 64

    def __init__(self, words: Iterable[str]) -> None:
        # Sorted before duplicates go: the lists come nearly sorted, which sorting uses
        # (0.03 s for ngerman), where a set first costs 0.5 s of hashing and sorting.
        ordered = sorted(words)
        unique = [word for word, after in pairwise(ordered) if word != after]
        unique += ordered[-1:]
        self._text = "\n".join(unique) + "\n"
        self._starts = array("I", [0])
        self._starts.extend(accumulate(len(word) + 1 for word in unique))
        # The index is cut from the text anew once the list is gone: kept from the list,
        # its every 64th string held each of the list's memory blocks, and a worker kept
        # 34 MB for ngerman after building it (/proc/self/status), not 6.
        del ordered, unique
        self._index = [self[i] for i in range(0, len(self), self.STRIDE)]

    def __len__(self) -> int:
        return len(self._starts) - 1

    def __getitem__(self, index: int) -> str:
        return self._text[self._starts[index] : self._starts[index + 1] - 1]

    def __iter__(self) -> Iterator[str]:
        return iter(self._text[:-1].split("\n") if len(self) else ())

    def __contains__(self, word: object) -> bool:
        if not isinstance(word, str):
            return False
        i = self._position(word)
        return i < len(self) and self[i] == word

    def has_prefix(self, prefix: str) -> bool:
        """Some word starts with ``prefix`` (case-folded already)."""
        i = self._position(prefix)
        return i < len(self) and self[i].startswith(prefix)

    def _position(self, text: str) -> int:
        """Where ``text`` would be inserted to keep the words sorted."""
        stretch = max(bisect.bisect_right(self._index, text) - 1, 0)
        low = stretch * self.STRIDE
        return bisect.bisect_left(self, text, low, min(low + self.STRIDE, len(self)))

    def with_words(self, extra: Iterable[str]) -> WordList:
        """This list and ``extra`` (case-folded already); itself when they add nothing."""
        new = [word for word in extra if word not in self]
        return WordList([*self, *new]) if new else self


def _words_of(name: str) -> list[str]:
    try:
        text = (DICT_DIR / name).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return []
    # Debian's English lists hold possessives ("Aaron's"): the word is what counts.
    return [
        word.casefold() for word in unicodedata.normalize("NFC", text).split() if "'" not in word
    ]


@lru_cache(maxsize=8)
def words_for(lang: str) -> WordList:
    """Every word (case-folded) of the lists ``lang`` names; empty where none is installed."""
    return WordList(
        w for code in languages(lang) for n in WORD_LISTS.get(code, ()) for w in _words_of(n)
    )


def written_words(lang: str) -> bytes:
    """Every word of the lists ``lang`` names as the lists write it (NFC, UTF-8), one a
    line, with a line break first and last: asked how a word is written (``spellings``).

    Kept as the files' bytes (6.7 MB for ``deu+eng``) rather than a second sorted list:
    a reader asks it only of the few words it doubts the case of, and a search through
    the bytes takes a few milliseconds. Read anew on each call: the reader's lexicon,
    made once per process, keeps it.
    """
    texts = []
    for name in (n for code in languages(lang) for n in WORD_LISTS.get(code, ())):
        try:
            texts.append(unicodedata.normalize("NFC", (DICT_DIR / name).read_text("utf-8")))
        except (OSError, UnicodeDecodeError):
            continue
    return ("\n" + "\n".join(text.strip() for text in texts) + "\n").encode()


def spellings(word: str, written: bytes) -> tuple[bool, bool]:
    """Whether ``written`` (as ``written_words``) holds ``word`` with a small first letter,
    and whether it holds it capitalised; the rest of the word as given."""
    small, capital = word[:1].lower() + word[1:], word[:1].upper() + word[1:]
    return f"\n{small}\n".encode() in written, f"\n{capital}\n".encode() in written


# How common a word is comes from wordfreq's small lists (wordfreq 3, Apache-2.0, its data
# CC BY-SA 4.0): each of our languages' words used at least once per million words,
# about 40 000, as its package ships them. Read straight from the files: importing
# wordfreq loads its tokenisers too (16 MB more in every worker).
FREQUENCY_LISTS = {"deu": "small_de.msgpack.gz", "eng": "small_en.msgpack.gz"}


def frequency(word: str, lang: str) -> float:
    """How common ``word`` (case-folded) is in the languages ``lang`` names, on the Zipf
    scale (log10 of its uses per thousand million words: "für" 6.9, "fehlende" 4.2); 0 for
    a word rarer than once a million ("feilende"); the highest over the languages."""
    return max((_frequencies(code).get(word, 0.0) for code in languages(lang)), default=0.0)


@lru_cache(maxsize=4)
def _frequencies(code: str) -> dict[str, float]:
    """wordfreq's list for ``code`` ({} if there is none): each word's Zipf value.

    The file ("cBpack") is a header, then lists of words by frequency in centibels: the
    words of list i are used 10 ** (-i / 100) of the time, Zipf 9 - i / 100.
    """
    path = _frequency_path(code)
    if path is None:
        return {}
    try:
        with gzip.open(path, "rb") as f:
            header, *bins = msgpack.load(f, raw=False)
    except (OSError, EOFError, ValueError, TypeError):  # missing, cut short or not a list
        return {}
    if header != {"format": "cB", "version": 1}:
        return {}
    return {word: 9 - i / 100 for i, words in enumerate(bins) for word in words}


def is_known(word: str, lang: str = "deu+eng") -> bool:
    """``word`` (punctuation at its edges aside, in any case) is in the lists of ``lang``."""
    bare = unicodedata.normalize("NFC", word.strip(EDGE_PUNCTUATION)).casefold()
    return bool(bare) and bare in words_for(lang)


def _frequency_path(code: str) -> Path | None:
    """Where the installed wordfreq keeps the list for ``code``; None without one."""
    spec = importlib.util.find_spec("wordfreq")
    if code not in FREQUENCY_LISTS or spec is None or spec.origin is None:
        return None
    return Path(spec.origin).parent / "data" / FREQUENCY_LISTS[code]


def describe(lang: str, extra: frozenset[str]) -> dict[str, object]:
    """The lists used, for the sheet JSON and the cache key: each list's file and a digest
    of its contents (an updated list redoes the photos), and a digest of the event's words."""
    lists = {
        name: _file_digest(DICT_DIR / name)
        for code in languages(lang)
        for name in WORD_LISTS.get(code, ())
        if (DICT_DIR / name).is_file()
    }
    frequencies = {
        FREQUENCY_LISTS[code]: _file_digest(path)
        for code in languages(lang)
        if (path := _frequency_path(code)) is not None and path.is_file()
    }
    digest = hashlib.sha256("\n".join(sorted(extra)).encode()).hexdigest()[:12] if extra else None
    return {"lists": lists, "frequencies": frequencies, "event_words": digest}


@lru_cache(maxsize=8)
def _file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]
