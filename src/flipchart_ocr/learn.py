"""Learning from corrections: what reviewers fixed on some sheets, fixed on the others too.

Two things are learned from the text reviewers typed (a field's corrected
``text`` and its ``replace`` entries; never from text a reviewer only looked at,
such as the rest of a sheet marked ``reviewed``, which may still hold
misreadings), and applied to the fields nobody has corrected yet:

- **misreadings** (``learn_fixes``, ``apply_fixes``): a reviewer who types
  "Kitaplätze" over the OCR's "Kitaplatze" has taught us how this event's
  handwriting misreads. Word groups replaced by similar-looking ones (the OCR text
  beside the reviewer's text, aligned word by word, plus the fields' own
  ``replace`` entries) that were fixed in ``min_seen`` fields (default 2) are
  applied as whole words. An old text a reviewer kept as correct somewhere is a
  real word here and is never learned; two different fixes for one old text cancel
  out.
- **the event's vocabulary** (``vocabulary``, ``correct_words``): every word
  reviewers typed in ``min_seen`` fields or more. An OCR word read with low
  confidence that is one or two letters away from exactly one such word becomes
  that word ("Mteressierte" -> "Interessierte" once reviewers have typed
  "Interessierte" in two fields). A word read with confidence
  ``MAX_WORD_CONFIDENCE`` or more, or one the German word list knows, is never
  changed: the vocabulary mends non-words, it does not pick between real ones.

Safeguards, because a wrong automatic fix is worse than a visible misreading: only
tokens of at least ``MIN_OLD_LENGTH`` characters; a word the word list knows is
never replaced by one it does not know (``replaces_known_word``); fields a
reviewer corrected, and sheets marked ``reviewed``, are left alone.

Nothing is written back to the corrections file: merge records every applied fix
in the protocol (``learned``, per field and for the event), and ``--no-learn``
gives the protocol without them.
"""

from __future__ import annotations

import difflib
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from rapidfuzz import process
from rapidfuzz.distance import Levenshtein

from .corrections import Corrections
from .document import Line
from .evaluate import EDGE_PUNCTUATION, lexical_words
from .wordlists import is_known

MIN_OLD_LENGTH = 4  # shorter tokens ("in", "1") are too ambiguous to fix event-wide
MIN_SIMILARITY = 0.5  # character similarity of old and new: below it, a rewrite
MAX_GROUP_WORDS = 3  # longer replaced stretches are rewrites, not misreadings
DEFAULT_MIN_SEEN = 2
# Vocabulary fixes (measured with benchmarks/learning.py, see BENCHMARKS.md):
MAX_WORD_CONFIDENCE = 90.0  # a word Tesseract is this sure of is left as read
MAX_DISTANCE_SHARE = 0.34  # edits allowed, as a share of the OCR word's length

KIND_MISREADING = "misreading"
KIND_WORD = "word"


@dataclass(frozen=True)
class Taught:
    """One corrected field: what the OCR read, what the reviewer typed over it."""

    where: str  # "sheet.field"
    ocr_text: str
    corrected_text: str | None  # None when only the field's replace entries changed it
    replacements: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Fix:
    old: str
    new: str
    seen: int  # how many corrected fields taught it
    sources: tuple[str, ...]  # "sheet.field" of those fields
    kind: str = KIND_MISREADING


def misreadings(ocr_text: str, corrected: str) -> list[tuple[str, str]]:
    """Word groups of the OCR text that the reviewer replaced by similar-looking ones."""
    ocr_words, fixed_words = ocr_text.split(), corrected.split()
    matcher = difflib.SequenceMatcher(None, ocr_words, fixed_words, autojunk=False)
    pairs = []
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag != "replace" or i2 - i1 > MAX_GROUP_WORDS or j2 - j1 > MAX_GROUP_WORDS:
            continue
        old, new = " ".join(ocr_words[i1:i2]), " ".join(fixed_words[j1:j2])
        if _is_misreading(old, new):
            pairs.append((old, new))
    return pairs


def _is_misreading(old: str, new: str) -> bool:
    if old == new or len(old) < MIN_OLD_LENGTH:
        return False
    similarity = difflib.SequenceMatcher(None, old.lower(), new.lower()).ratio()
    return similarity >= MIN_SIMILARITY


def learn_fixes(taught: Iterable[Taught], min_seen: int = DEFAULT_MIN_SEEN) -> list[Fix]:
    """The fixes seen in at least ``min_seen`` corrected fields, longest old text first."""
    sources: dict[tuple[str, str], list[str]] = defaultdict(list)
    confirmed: Counter[str] = Counter()  # words reviewers wrote or kept
    for taught_field in taught:
        pairs = set(taught_field.replacements)
        if taught_field.corrected_text is not None:
            pairs |= set(misreadings(taught_field.ocr_text, taught_field.corrected_text))
            confirmed.update(taught_field.corrected_text.split())
        for pair in pairs:
            if _is_misreading(*pair):
                sources[pair].append(taught_field.where)
    by_old: dict[str, list[tuple[str, list[str]]]] = defaultdict(list)
    for (old, new), where in sources.items():
        by_old[old].append((new, where))
    fixes = []
    for old, candidates in by_old.items():
        if _kept_as_correct(old, confirmed):
            continue
        candidates.sort(key=lambda c: len(c[1]), reverse=True)
        (new, where), rivals = candidates[0], candidates[1:]
        if rivals and len(rivals[0][1]) == len(where):
            continue  # two fixes, equally often: no way to choose
        if len(where) >= min_seen and not replaces_known_word(old, new):
            fixes.append(Fix(old, new, len(where), tuple(sorted(where))))
    return sorted(fixes, key=lambda f: (-len(f.old), f.old))


def replaces_known_word(old: str, new: str) -> bool:
    """A word of ``old`` the word list knows would become one it does not know.

    Word by word when both have as many words ("Reser Markt" -> "Resser Mark": Reser
    and Resser are both unknown, Markt and Mark both known: allowed), else as groups.
    """
    old_words, new_words = old.split(), new.split()
    if len(old_words) == len(new_words):
        pairs = [(a, b) for a, b in zip(old_words, new_words, strict=True) if a != b]
        return any(is_known(a) and not is_known(b) for a, b in pairs)
    removed = [w for w in old_words if w not in new_words]
    added = [w for w in new_words if w not in old_words]
    return any(is_known(w) for w in removed) and any(not is_known(w) for w in added)


def _kept_as_correct(old: str, confirmed: Counter[str]) -> bool:
    return all(confirmed[word] > 0 for word in old.split())


def apply_fixes(text: str, fixes: Iterable[Fix]) -> tuple[str, list[Fix]]:
    """``text`` with every fix applied to whole-word matches, and the fixes that matched."""
    applied = []
    for fix in fixes:
        pattern = _whole_words(fix.old)
        if pattern.search(text):
            text = pattern.sub(fix.new.replace("\\", r"\\"), text)  # taken literally
            applied.append(fix)
    return text, applied


def _whole_words(old: str) -> re.Pattern[str]:
    words = [re.escape(w) for w in old.split()]
    return re.compile(r"(?<!\w)" + r"[ \t]+".join(words) + r"(?!\w)")


# -- the event's vocabulary ----------------------------------------------------------------


@dataclass(frozen=True)
class Vocabulary:
    forms: dict[str, str] = field(default_factory=dict)  # casefolded -> as reviewers write it
    sources: dict[str, tuple[str, ...]] = field(default_factory=dict)  # casefolded -> fields


def vocabulary(taught: Iterable[Taught], min_seen: int = DEFAULT_MIN_SEEN) -> Vocabulary:
    """Every word of ``MIN_OLD_LENGTH`` letters or more reviewers typed in ``min_seen`` fields.

    A word seen both in capitals (a writer who prints in capitals) and in mixed case
    is kept in mixed case: that is how it is spelt; ``_in_case_of`` adapts it.
    """
    forms: dict[str, str] = {}
    sources: dict[str, list[str]] = defaultdict(list)
    for taught_field in taught:
        if taught_field.corrected_text is None:
            continue
        for token in taught_field.corrected_text.split():
            word = token.strip(EDGE_PUNCTUATION)
            if len(word) < MIN_OLD_LENGTH:
                continue
            key = word.casefold()
            if key not in forms or (forms[key].isupper() and not word.isupper()):
                forms[key] = word
            if taught_field.where not in sources[key]:
                sources[key].append(taught_field.where)
    often = {k for k, where in sources.items() if len(where) >= min_seen}
    return Vocabulary(
        {k: v for k, v in forms.items() if k in often},
        {k: tuple(v) for k, v in sources.items() if k in often},
    )


def typed_words(corrections: Corrections) -> frozenset[str]:
    """The words reviewers typed anywhere in a corrections file (texts and replacements).

    ``process -c`` gives them to the recogniser, so that photos read again decode
    towards the event's own names and terms.
    """
    texts = [r.new for r in corrections.replace]
    for sheet in corrections.sheets.values():
        for entry in sheet.fields.values():
            texts += [entry.text or ""] + [r.new for r in entry.replace]
    return frozenset(lexical_words("\n".join(texts)))


def correct_words(
    text: str, confidences: Mapping[str, float], words: Vocabulary
) -> tuple[str, list[Fix]]:
    """``text`` with its doubtful words replaced by the one close vocabulary word, if any.

    ``confidences``: Tesseract's confidence per word as read; a token not in it
    (typed by a reviewer, or changed by a replace) is not Tesseract's and stays, and
    so does a word the German word list knows ("alle" is not made "aller").
    """
    if not words.forms:
        return text, []
    keys = list(words.forms)
    fixes: list[Fix] = []

    def replace(match: re.Match[str]) -> str:
        token = match.group(0)
        word = token.strip(EDGE_PUNCTUATION)
        if (
            len(word) < MIN_OLD_LENGTH
            or confidences.get(token, 100.0) >= MAX_WORD_CONFIDENCE
            or word.casefold() in words.forms
            or is_known(word)
        ):
            return token
        key = _closest(word.casefold(), keys)
        if key is None:
            return token
        new = _in_case_of(word, words.forms[key])
        fixes.append(Fix(word, new, len(words.sources[key]), words.sources[key], KIND_WORD))
        return token.replace(word, new)

    return re.sub(r"\S+", replace, text), fixes


def _closest(key: str, keys: list[str]) -> str | None:
    """The one vocabulary word within the allowed distance; None if none or a tie."""
    limit = int(MAX_DISTANCE_SHARE * len(key))
    best = process.extract(key, keys, scorer=Levenshtein.distance, limit=2, score_cutoff=limit)
    if not best or (len(best) > 1 and best[1][1] == best[0][1]):
        return None
    return best[0][0]


def _in_case_of(read: str, form: str) -> str:
    """``form`` in the case the writer used: all capitals, or the first letter as read."""
    if read.isupper() and len(read) > 1:
        return form.upper()
    if form.isupper():
        return form.capitalize() if read[0].isupper() else form.lower()
    if read[0].isupper():
        return form[0].upper() + form[1:]
    return form


def word_confidences(lines: Iterable[Line]) -> dict[str, float]:
    """Tesseract's confidence per word text of a field (the lowest, if read twice)."""
    confidences: dict[str, float] = {}
    for line in lines:
        for word in line.words:
            confidences[word.text] = min(confidences.get(word.text, 100.0), word.confidence)
    return confidences


# -- both, as merge uses them --------------------------------------------------------------


@dataclass
class Learned:
    """What merge learned from an event's corrections, and how often each fix was applied."""

    fixes: list[Fix] = field(default_factory=list)
    words: Vocabulary = field(default_factory=Vocabulary)
    applied: Counter[Fix] = field(default_factory=Counter)  # fix -> fields it changed

    def apply(self, text: str, confidences: Mapping[str, float]) -> tuple[str, list[Fix]]:
        """Misreading fixes first (they are exact), then the vocabulary for what is left."""
        text, fixes = apply_fixes(text, self.fixes)
        text, word_fixes = correct_words(text, confidences, self.words)
        fixes += word_fixes
        self.applied.update(set(fixes))
        return text, fixes

    def entries(self) -> list[dict[str, object]]:
        """The protocol's ``learned`` list: every fix that changed a field."""
        return [
            {
                "kind": fix.kind,
                "old": fix.old,
                "new": fix.new,
                "seen": fix.seen,
                "from": list(fix.sources),
                "applied": count,
            }
            for fix, count in sorted(self.applied.items(), key=lambda i: (i[0].kind, i[0].old))
        ]
