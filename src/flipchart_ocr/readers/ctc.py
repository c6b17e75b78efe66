"""Decoding the recogniser's output: per-frame letter probabilities into text.

The model emits, for every fourth pixel column of a row, a probability for each letter
and for CTC's "blank". Greedy decoding takes the likeliest class per frame. Handwriting
is ambiguous, though: "Gleickstelkng" may be the likeliest path while "Gleichstellung"
is nearly as likely. So a word that the word list does not know is decoded again over
its own frames, restricted to words of the list (a prefix beam search); the word-list
word replaces the greedy one only if the model finds it nearly as likely. A name the
model reads clearly stays as read.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, replace
from functools import lru_cache
from itertools import combinations, pairwise

import numpy as np

from .. import wordlists
from ..document import Word
from ..evaluate import EDGE_PUNCTUATION, edit_distance, is_lexical

BLANK = 0  # class 0 is CTC's blank; class k > 0 is charset[k - 1]
# A word-list word may be this much less likely (natural log) than the greedy reading
# and still replace it. Field CER with the hybrid reader, samples / seed 5000 / seed
# 1000: margin 3: 0.269 / 0.413 / 0.312; 6: 0.272 / 0.406 / 0.306; 12: 0.267 / 0.410 /
# 0.308; without: 0.280 / 0.426 / 0.333. Larger margins gain word F1 (0.36 -> 0.37 on
# the samples) by turning more names into dictionary words, so the middle one.
MARGIN = 6.0
BEAM = 12  # prefixes kept per frame (24: same CER, 10 % slower)
CANDIDATES = 6  # letters tried per frame: the likeliest ones
# A replaced word is the model's second choice, not what it read: flagged for review
# (below ocr.LOW_CONFIDENCE) so that a person checks it.
REPLACED_PROBABILITY = 0.5
# A word no list knows is flagged for review (confidence capped below LOW_CONFIDENCE)
# unless the model is this sure of it. On the samples and seed 1000's sheets (503 words),
# PP-OCR's own confidence below 60 flagged 53 of 195 wrong words (and 90 of 308 right
# ones); flagging unknown words too, unless read at 98 or more, flags 155 of the wrong
# and 118 of the right: most misreadings are words no list knows.
SURE_UNKNOWN = 98.0
# Nor is such a word replaced by a word-list word: the margin alone let "LN NODE" become
# "L ODE" with the German list (a letter read surely costs little where the model gives
# its frame a trace of blank). Reading stage, field CER / word F1, with this guard against
# without: samples 0.073 / 0.739 -> 0.074 / 0.734, seed 1000 0.082 / 0.696 -> 0.083 / 0.690,
# real-hand posters 0.098 / 0.620 -> 0.097 / 0.624 (at 99.5: 0.098 / 0.618).
UNKNOWN_CONFIDENCE = 55.0
# A word's first letter is put in the case the word lists write the word in
# (``in_known_case``) when the model gives the other case at least this share of its
# belief in the two. Reading stage, field CER / word F1, 0.2 against none: samples
# 0.080 / 0.673 -> 0.077 / 0.688, seed 1000 0.084 / 0.685 -> 0.083 / 0.691, real-hand
# posters 0.106 / 0.589 -> 0.105 / 0.592; every change at 0.2 was right, and below 0.1
# names and nouns of the real hands ("Weg", "Moser", "Hau") were being changed.
CASE_DOUBT = 0.2
SENTENCE_ENDS = (".", ":", "!", "?")
# A ß read as " B" (``eszett_for_spaced_b``): the space below this probability, after a
# fragment of at most this many letters that no list knows. Reading stage, real-hand
# posters 0.074 / 0.624 -> 0.072 / 0.627 (11 words mended, 1 wrong: "arr Berg" for "am
# Berg"), the font sets unchanged (no such fragment). Without the fragment's limits, real
# spaces went too ("Kleimöslen Börnersdorf"): F1 0.624 -> 0.615.
SPACED_ESZETT_DOUBT = 0.9
SPACED_ESZETT_FRAGMENT = 3
# A space below this probability between two words no list knows (as read or steered),
# the second going on in a small letter, is taken out (``_split_unknown_word``): real
# hands' pen lifts read as spaces. Reading stage, field CER / word F1, before and after:
# real-hand posters 0.068 / 0.627 -> 0.067 / 0.641, a second real-hand set (seed 9200)
# 0.074 / 0.631 -> 0.072 / 0.641; DHSD writers 25-29 with the list 0.067 -> 0.065 (511 ->
# 525 words right); the font sets and the real photos unchanged. Testing the words as
# read, before steering, joined words steering would have mended ("Medien wutzen").
JOIN_DOUBT = 0.9
JOIN_EDGES = ".,:;!?-()\"'"
# A, o or u read in a word no list knows becomes ä, ö or ü where the umlaut has at least
# this share of the model's belief in the two (``umlauts_seen``): marker thickened and
# shrunk loses the dots first. Chosen on the writers the recogniser trained on (DHSD 1-21:
# at 0.3, 17 letters mended, 4 broken; at 0.2, 26 and 12); the writers it chose its
# checkpoint on (22-24) miss one umlaut in 696 plain vowels, mended, none broken. Reading
# stage, word F1: real-hand posters 0.650 -> 0.655, seed 9200 0.646 -> 0.654, seed 9300
# 0.754 -> 0.753 ("KATTLER" read "KÄTTLER"); DHSD 25-29 with the list 525 -> 530 words
# right. A word the lists know stays as read: the font sets' "STARKEN" is a word too.
UMLAUT_DOUBT = 0.3
UMLAUTS = {"a": "ä", "o": "ö", "u": "ü", "A": "Ä", "O": "Ö", "U": "Ü"}
# Prefixes checked against the list are remembered (about 3 700 a photo), up to this many
# (about 2.5 MB; a lookup in the list itself takes some 10 microseconds).
MAX_CACHED_PREFIXES = 20_000
# How common words are (wordfreq's Zipf scale) weighs in where the model hesitates: a
# known word this rare, read, gives way to a much commoner one nearly as likely
# ("FEILENDE" -> "FEHLENDE"), and among the known words nearly as likely as an unknown
# reading the commoner wins. Reading stage, field CER / word F1, before and after: samples
# 0.053 / 0.752 -> 0.050 / 0.762, seed 1000 0.069 / 0.722 -> 0.068 / 0.728, seed 3000
# 0.086 / 0.725 -> 0.085 / 0.735, user templates 0.102 / 0.733 -> 0.101 / 0.744 and 0.097 /
# 0.755 -> 0.096 / 0.769, real-hand posters 0.044 / 0.692 -> 0.043 / 0.694 and 0.055 /
# 0.674 -> 0.055 / 0.678; DHSD 25-29 557 -> 560 words right; the real photos 0.764 ->
# 0.775 (benchmarks/boards.py). wordfreq's large lists read the same within 0.006 and cost
# a worker 100 MB; the small ones 7 MB.
RARE = 3.0  # below: not in wordfreq's small list (wordlists.frequency)
COMMONER = 1.5
COMMON = 5.0
FREQUENCY_WEIGHT = 1.0
# A hyphenated word's parts are looked up one by one (``_decoded_compound``), and a part
# is steered only to a known word one letter away: street names are names joined by
# hyphens, and a part steered further was a name lost ("Elisabethöhe" -> "Elisabeth",
# "Gottfted" -> "Gote"). Reading stage, word F1: real-hand posters 0.655 -> 0.657, seed
# 9200 0.654 -> 0.658; DHSD 25-29 with the list 530 -> 532 words right, CER 0.064 either
# way; font sets unchanged. Unlimited, DHSD's CER went to 0.066; the same limit on every
# word cost the font sets up to 0.07 of word F1 (their words are steered further).
PART_EDITS = 1


@dataclass(frozen=True)
class Emission:
    """One decoded letter, its probability, and the frame it was emitted at."""

    char: str
    probability: float
    frame: int


class Lexicon:
    """Case-folded words (``wordlists.WordList``), with the prefixes a decoding checks,
    and the words as the lists write them (``written``, as ``wordlists.written_words``;
    by default the words as given), for their case; given ``lang``, how common each is
    (``frequency``)."""

    def __init__(
        self,
        words: Iterable[str],
        written: bytes | None = None,
        lang: str | None = None,
        extra: frozenset[str] = frozenset(),
    ) -> None:
        self.lang = lang  # for how common a word is (wordlists.frequency); None: not asked
        self.extra = extra  # the event's own words (case-folded): common, whatever lists say
        if written is None:
            words = list(words)
            written = ("\n" + "\n".join(words) + "\n").encode()
        if not isinstance(words, wordlists.WordList):
            words = wordlists.WordList(word.casefold() for word in words)
        self.words = words
        self.written = written
        self._prefixes: dict[str, bool] = {}

    def __contains__(self, word: str) -> bool:
        return word.casefold() in self.words

    def frequency(self, word: str) -> float:
        """How common a word is (Zipf); the event's own words count as common."""
        if self.lang is None:
            return 0.0
        folded = word.casefold()
        if folded in self.extra:
            return COMMON
        return _frequency(folded, self.lang)

    def spellings(self, word: str) -> tuple[bool, bool]:
        """Whether the lists write ``word`` with a small first letter, and capitalised."""
        return wordlists.spellings(word, self.written)

    def __bool__(self) -> bool:
        return len(self.words) > 0

    def has_prefix(self, prefix: str) -> bool:
        prefix = prefix.casefold()
        known = self._prefixes.get(prefix)
        if known is None:
            known = self.words.has_prefix(prefix)
            if len(self._prefixes) >= MAX_CACHED_PREFIXES:
                self._prefixes.clear()  # a worker reads thousands of photos: keep it bounded
            self._prefixes[prefix] = known
        return known


def lexicon(lang: str, extra: frozenset[str] = frozenset()) -> Lexicon:
    """The word lists of ``lang`` (``wordlists``) and the event's ``extra`` words, sorted
    once per process."""
    return _lexicon(lang, frozenset(extra))


@lru_cache(maxsize=4)
def _lexicon(lang: str, extra: frozenset[str]) -> Lexicon:
    words = [unicodedata.normalize("NFC", w) for w in extra]
    folded = {w.casefold() for w in words}
    written = wordlists.written_words(lang) + "\n".join([*words, ""]).encode()
    return Lexicon(wordlists.words_for(lang).with_words(folded), written, lang, frozenset(folded))


@lru_cache(maxsize=50_000)
def _frequency(word: str, lang: str) -> float:
    return wordlists.frequency(word, lang)


@lru_cache(maxsize=4)
def class_index(charset: str) -> dict[str, int]:
    """Each letter's class: class k > 0 is ``charset[k - 1]``."""
    return {char: k + 1 for k, char in enumerate(charset)}


def greedy(probabilities: np.ndarray, charset: str) -> list[Emission]:
    """The likeliest class per frame, repeats collapsed and blanks dropped."""
    best = probabilities.argmax(axis=0)
    emissions, previous = [], BLANK
    for frame, k in enumerate(best):
        if k != previous and k != BLANK:
            emissions.append(Emission(charset[k - 1], float(probabilities[k, frame]), frame))
        previous = k
    return emissions


def path_log_likelihood(probabilities: np.ndarray, labels: list[int]) -> float:
    """log P(labels | frames): CTC's forward algorithm over all alignments."""
    states = np.zeros(2 * len(labels) + 1, dtype=int)
    states[1::2] = labels  # blank, l1, blank, l2, ..., blank
    # A state may skip the blank before it unless it repeats the letter two states back.
    can_skip = np.zeros(len(states), bool)
    can_skip[3::2] = states[3::2] != states[1:-2:2]
    alpha = np.zeros(len(states))
    alpha[0] = probabilities[BLANK, 0]
    if len(states) > 1:
        alpha[1] = probabilities[states[1], 0]
    log_scale = 0.0
    for frame in range(1, probabilities.shape[1]):
        previous = alpha.copy()
        previous[1:] += alpha[:-1]
        previous[2:] += np.where(can_skip[2:], alpha[:-2], 0.0)
        alpha = previous * probabilities[states, frame]
        peak = alpha.max()
        if peak <= 0:
            return -np.inf
        alpha /= peak  # rescaled each frame: long rows would underflow
        log_scale += np.log(peak)
    end = alpha[-1] + (alpha[-2] if len(states) > 1 else 0.0)
    return float(np.log(max(end, 1e-300)) + log_scale)


def best_word(
    probabilities: np.ndarray, charset: str, lexicon: Lexicon
) -> tuple[str, float] | None:
    """The likeliest word of ``lexicon`` over these frames, and its log-likelihood.

    A CTC prefix beam search whose prefixes must begin some word of the list; each
    prefix keeps the probability of its paths ending in a blank and in a letter.
    """
    index = class_index(charset)
    beams: dict[str, tuple[float, float]] = {"": (1.0, 0.0)}
    log_scale = 0.0
    for frame in range(probabilities.shape[1]):
        column = probabilities[:, frame]
        likeliest = np.argsort(column)[::-1][: CANDIDATES + 2]
        letters = [k for k in likeliest if k != BLANK and charset[k - 1].isalpha()][:CANDIDATES]
        grown: dict[str, list[float]] = {}
        for prefix, (ends_blank, ends_letter) in beams.items():
            _add(grown, prefix, (ends_blank + ends_letter) * column[BLANK], 0.0)
            if prefix:  # the last letter held for one more frame
                _add(grown, prefix, 0.0, ends_letter * column[index[prefix[-1]]])
            for k in letters:
                longer = prefix + charset[k - 1]
                if not lexicon.has_prefix(longer):
                    continue
                # A doubled letter needs a blank between its two emissions.
                repeats = bool(prefix) and index[prefix[-1]] == k
                before = ends_blank if repeats else ends_blank + ends_letter
                _add(grown, longer, 0.0, before * column[k])
        kept = sorted(grown.items(), key=lambda item: -(item[1][0] + item[1][1]))[:BEAM]
        peak = max((b + n for _, (b, n) in kept), default=0.0)
        if peak <= 0:
            return None
        log_scale += np.log(peak)
        beams = {prefix: (b / peak, n / peak) for prefix, (b, n) in kept}
    found = [
        (prefix, float(np.log(b + n) + log_scale))
        for prefix, (b, n) in beams.items()
        if prefix in lexicon and b + n > 0
    ]
    return max(
        found,
        key=lambda item: item[1] + FREQUENCY_WEIGHT * lexicon.frequency(item[0]),
        default=None,
    )


def _add(beams: dict[str, list[float]], prefix: str, ends_blank: float, ends_letter: float):
    entry = beams.setdefault(prefix, [0.0, 0.0])
    entry[0] += ends_blank
    entry[1] += ends_letter


def decode(
    probabilities: np.ndarray, charset: str, lexicon: Lexicon | None = None
) -> list[Emission]:
    """Greedy decoding, each unknown word replaced by a nearly as likely known one.

    A replaced word's letters carry frame -1: they were chosen, not read off one frame.
    """
    emissions = greedy(probabilities, charset)
    if not lexicon:
        return emissions
    decoded: list[Emission] = []
    for word, first, last in _words(emissions, probabilities.shape[1]):
        decoded.extend(_with_known_word(word, first, last, probabilities, charset, lexicon))
    return decoded


def _words(emissions: list[Emission], frames: int) -> Iterable[tuple[list[Emission], int, int]]:
    """The emissions split at spaces, each word with its frame span [first, last).

    A word's span runs from just after the space before it to the space after it, so
    the blanks around its letters belong to it.
    """
    word: list[Emission] = []
    first = 0
    for emission in [*emissions, Emission(" ", 1.0, frames)]:
        if emission.char == " ":
            if word:
                yield word, first, emission.frame
            if emission.frame < frames:
                yield [emission], emission.frame, emission.frame + 1
            word, first = [], emission.frame + 1
        else:
            word.append(emission)


def _with_known_word(
    word: list[Emission],
    first: int,
    last: int,
    probabilities: np.ndarray,
    charset: str,
    lexicon: Lexicon,
    max_edits: int | None = None,
) -> list[Emission]:
    """``word``, with its letters (edge punctuation aside) replaced if that is likely
    enough (and, given ``max_edits``, that close in letters)."""
    start, end = 0, len(word)
    while start < end and not word[start].char.isalpha():
        start += 1
    while end > start and not word[end - 1].char.isalpha():
        end -= 1
    core = "".join(e.char for e in word[start:end])
    if not is_lexical(core):  # shorter words are left as read
        return word
    known_as_read = core in lexicon
    rare = known_as_read and lexicon.frequency(core) < RARE
    if known_as_read and not rare:
        return word
    if not known_as_read and letters_confidence(word[start:end]) >= SURE_UNKNOWN:
        return word  # read clearly: a name, or a word of another language ("NODE", not "ODE")
    span_first = first if start == 0 else word[start - 1].frame + 1
    span_last = last if end == len(word) else word[end].frame
    span = probabilities[:, span_first:span_last]
    if span.shape[1] < 2:
        return word
    index = class_index(charset)
    as_read = path_log_likelihood(span, [index[c] for c in core])
    known = best_word(span, charset, lexicon)
    if known is None or known[1] < as_read - MARGIN:
        return word
    if rare and (
        known[0].casefold() == core.casefold()
        or lexicon.frequency(known[0]) < lexicon.frequency(core) + COMMONER
    ):
        return word
    if max_edits is not None and edit_distance(core.lower(), known[0].lower()) > max_edits:
        return word
    spelt = in_case_of(core, known[0])
    chosen = [Emission(c, REPLACED_PROBABILITY, -1) for c in spelt]
    return word[:start] + chosen + word[end:]


def in_case_of(read: str, chosen: str) -> str:
    """``chosen`` in the case of the word as read: capitals if most letters were capitals
    (the model mistakes a capital W for a small w now and then), else the first letter as
    read and the rest in small letters. The word list is case-blind, so its word has no
    case of its own."""
    capitals = sum(c.isupper() for c in read)
    if len(read) >= 2 and capitals > len(read) / 2:
        return chosen.upper()
    first = chosen[0].upper() if read[0].isupper() else chosen[0].lower()
    return first + chosen[1:].lower()


def read_words(
    probabilities: np.ndarray, charset: str, lexicon: Lexicon | None = None
) -> list[Word]:
    """The words of a row, each with its confidence (0-100: the geometric mean of its
    letters' probabilities); an unknown word replaced by a nearly as likely known one
    keeps what the model read in ``read_as`` and is flagged (confidence 50), one left
    as read is flagged unless the model is sure of it."""
    emissions = single_eszett(greedy(probabilities, charset))
    emissions = umlauts_seen(emissions, probabilities, charset, lexicon)
    if lexicon:
        emissions = eszett_for_spaced_b(emissions, lexicon)
    found: list[Word] = []
    doubtful_space = False
    for read, first, last in _words(emissions, probabilities.shape[1]):
        if read[0].char == " ":
            doubtful_space = read[0].probability < JOIN_DOUBT
            continue
        after_doubt, doubtful_space = doubtful_space, False
        parts = [
            part
            for after_stop in abbreviation_split(eszett_for_capital_b(read), first, last)
            for part in run_together_split(*after_stop)
        ]
        for word, start, end in parts:
            decoded = _decoded_compound(word, start, end, probabilities, charset, lexicon)
            if lexicon:
                begins_sentence = not found or found[-1].text.endswith(SENTENCE_ENDS)
                decoded = in_known_case(
                    decoded, word, probabilities, charset, lexicon, begins_sentence
                )
            decoded = in_capitals_throughout(decoded)
            if lexicon:
                decoded = dotted_capitals(decoded, lexicon)
            if (
                after_doubt
                and found
                and lexicon
                and _split_unknown_word(found[-1], decoded, lexicon)
            ):
                found[-1] = _joined(found[-1], decoded)
            else:
                found.append(decoded)
            after_doubt = False
    return titles_in_case(hyphen_joined(found))


def umlauts_seen(
    emissions: list[Emission],
    probabilities: np.ndarray,
    charset: str,
    lexicon: Lexicon | None,
) -> list[Emission]:
    """The emissions, a plain vowel of a word no list knows read as its umlaut where the
    model gives the umlaut at least ``UMLAUT_DOUBT`` of its belief in the two
    ("Lutschutz" -> "Lutschütz"); a known word ("Bruder") stays as read."""
    out: list[Emission] = []
    for word, _, _ in _words(emissions, probabilities.shape[1]):  # spaces come as words
        core = "".join(e.char for e in word).strip(EDGE_PUNCTUATION)
        if not (lexicon and core in lexicon):
            word = [_with_umlaut_seen(e, probabilities, charset) for e in word]
        out.extend(word)
    return out


def _with_umlaut_seen(letter: Emission, probabilities: np.ndarray, charset: str) -> Emission:
    umlaut = UMLAUTS.get(letter.char)
    if umlaut is None or letter.frame < 0:
        return letter
    if _share_to(umlaut, letter, probabilities, charset) >= UMLAUT_DOUBT:
        return Emission(umlaut, letter.probability, letter.frame)
    return letter


def _split_unknown_word(before: Word, after: Word, lexicon: Lexicon) -> bool:
    """Whether two words the model parted by a doubtful space are one word: neither is a
    known word as read or steered, the first ends in a letter and the second goes on in
    a small letter ("Sülze tal", "Köppels dorf", "Di llstadt")."""
    if before.read_as is not None or after.read_as is not None:
        return False
    first, second = before.text.strip(JOIN_EDGES), after.text.strip(JOIN_EDGES)
    return (
        bool(first and second)
        and before.text[-1].isalpha()
        and second[0].islower()
        and first not in lexicon
        and second not in lexicon
    )


# German protocols name people "Fr. Krauß", "Hr. Gröns" (the seed's Fotoprotokoll), and
# the model reads the small r of a handwritten "Fr." as a capital now and then. Reading
# stage, field CER / word F1: samples 0.054 / 0.747 -> 0.053 / 0.752, seed 1000 0.070 /
# 0.713 -> 0.069 / 0.722, seed 3000 0.087 / 0.723 -> 0.086 / 0.725, seed 9000 0.109 /
# 0.640 -> 0.108 / 0.652; the real-hand posters and the user templates unchanged.
TITLES = {"FR.": "Fr.", "HR.": "Hr.", "DR.": "Dr."}


def titles_in_case(words: list[Word]) -> list[Word]:
    """The words, "FR.", "HR." or "DR." before a name with small letters ("FR. Krauß") as
    "Fr.", "Hr.", "Dr."; before a name in capitals ("FR. KRAUSS") as read."""
    out = list(words)
    for i, (word, after) in enumerate(pairwise(words)):
        title = TITLES.get(word.text)
        if title and any(c.islower() for c in after.text):
            out[i] = replace(word, text=title, read_as=word.read_as or word.text)
    return out


def hyphen_joined(words: list[Word]) -> list[Word]:
    """The words with each one that ends in a hyphen joined to the next where that begins
    in a capital: one name written with a gap after its hyphen ("Caspar- Schulte-Straße",
    "Wettin- Löbejün"), as real hands lift the pen there. German's suspended hyphen goes
    on in a small letter ("Kinder- und Jugendarbeit") and stays. Reading stage, word F1:
    real-hand posters 0.680 -> 0.685 (seed 7200, DHSD labels fixed) and 0.658 -> 0.661
    (seed 9200); DHSD 25-29 with the list 540 -> 542 words right; the font sets and the
    real photos unchanged."""
    joined: list[Word] = []
    for word in words:
        if joined and _hangs_on_hyphen(joined[-1].text) and word.text[:1].isupper():
            joined[-1] = _joined(joined[-1], word)
        else:
            joined.append(word)
    return joined


def _hangs_on_hyphen(text: str) -> bool:
    return len(text) >= 2 and text.endswith("-") and text[-2].isalpha()


def _joined(before: Word, after: Word) -> Word:
    """The two words as one, flagged as both were, keeping what the model read for review."""
    return Word(
        before.text + after.text,
        min(before.confidence, after.confidence),
        f"{before.text} {after.text}",
    )


def _decoded_compound(
    word: list[Emission],
    first: int,
    last: int,
    probabilities: np.ndarray,
    charset: str,
    lexicon: Lexicon | None,
) -> Word:
    """A word decoded part by part between its hyphens, as one word: each of "Fridrich",
    "Withelm" and "Straße" is looked up and steered on its own ("Friedrich-Wilhelm-Straße")."""
    cuts = [
        i + 1
        for i in range(1, len(word) - 2)
        if word[i].char == "-" and word[i - 1].char.isalpha() and word[i + 1].char.isalpha()
    ]
    if not cuts or not lexicon:
        return _decoded_word(word, first, last, probabilities, charset, lexicon)
    parts = [
        _decoded_word(part, start, end, probabilities, charset, lexicon, PART_EDITS)
        for part, start, end in _cut(word, first, last, cuts)
    ]
    text = "".join(part.text for part in parts)
    as_read = "".join(part.read_as or part.text for part in parts)
    return Word(
        text,
        min(part.confidence for part in parts),
        as_read if as_read != text else None,
    )


def _decoded_word(
    word: list[Emission],
    first: int,
    last: int,
    probabilities: np.ndarray,
    charset: str,
    lexicon: Lexicon | None,
    max_edits: int | None = None,
) -> Word:
    """One word: steered to a known word if the model finds it nearly as likely, its
    confidence capped where no list knows it."""
    as_read = "".join(e.char for e in word)
    chosen = (
        _with_known_word(word, first, last, probabilities, charset, lexicon, max_edits)
        if lexicon
        else word
    )
    text = "".join(e.char for e in chosen)
    confidence = letters_confidence(chosen)
    if lexicon and _is_unknown(text, lexicon) and confidence < SURE_UNKNOWN:
        confidence = min(confidence, UNKNOWN_CONFIDENCE)
    return Word(text, confidence, as_read if text != as_read else None)


def in_known_case(
    decoded: Word,
    read: list[Emission],
    probabilities: np.ndarray,
    charset: str,
    lexicon: Lexicon,
    begins_sentence: bool,
) -> Word:
    """``decoded`` with its first letter in the case the word lists write it in, where
    the model is in doubt between a small and a capital letter.

    Many letters are written alike both ways (f F, k K, s S, u U, z Z, ü Ü). A word the
    lists write only small ("für", "finden") loses its capital inside a sentence, and one
    they write only capitalised (a German noun, "Kitas") gains one anywhere; a word they
    write both ways ("essen", "Essen"), a name no list knows and a word the model read
    clearly in its case stay as read. The first word of a sentence keeps its capital.
    """
    text = decoded.text
    if not (len(text) >= 2 and text.isalpha() and text[1:].islower()):
        return decoded
    if _other_case_share(read[0], probabilities, charset) < CASE_DOUBT:
        return decoded
    small, capitalised = lexicon.spellings(text)
    if text[0].isupper() and small and not capitalised and not begins_sentence:
        text = text[0].lower() + text[1:]
    elif text[0].islower() and capitalised and not small:
        text = text[0].upper() + text[1:]
    else:
        return decoded
    return replace(decoded, text=text, read_as=decoded.read_as or decoded.text)


# Small letters written like their capitals: in a word of capitals the model reads them
# small now and then ("MüLL", "öFFNEN", "STRASSENZüGE" on the font sets). Reading stage,
# field CER / word F1: seed 1000 0.074 / 0.695 -> 0.073 / 0.698, seed 3000 0.085 / 0.726
# -> 0.084 / 0.733; the other font sets, the real-hand sets, DHSD and the real photos
# unchanged.
LOOK_ALIKE_SMALL = frozenset("ckopsuvwxzäöü")
CAPITALS_WORD = 4  # letters at least: "IoT" and "PoC" are written so


def in_capitals_throughout(decoded: Word) -> Word:
    """A word mostly in capitals with its look-alike small letters as capitals too."""
    letters = [c for c in decoded.text if c.isalpha()]
    capitals = sum(c.isupper() for c in letters)
    if len(letters) < CAPITALS_WORD or capitals <= len(letters) / 2 or capitals == len(letters):
        return decoded
    text = "".join(c.upper() if c in LOOK_ALIKE_SMALL else c for c in decoded.text)
    if text == decoded.text:
        return decoded
    return replace(decoded, text=text, read_as=decoded.read_as or decoded.text)


# On capitals an umlaut's dots are small, set apart, and often left unread: a word in
# capitals no list knows becomes the one known word that dots on its A, O or U (one or
# two of them) make. Reading stage, field CER / word F1: user templates seed 7300 0.103 /
# 0.729 -> 0.102 / 0.733, seed 9300 0.098 / 0.750 -> 0.097 / 0.755; the other font sets,
# the real-hand posters and the real photos unchanged. Most lost dots stay lost: the
# plain word is a word too ("RAUME", "STARKEN", "KONNTE"), or no list holds the compound
# ("SPIELPLÄTZE").
MAX_DOTTED = 2


def dotted_capitals(decoded: Word, lexicon: Lexicon) -> Word:
    """A word in capitals that no list knows, as the one known word its lost umlaut dots
    make ("SPIELPLATZE" -> "SPIELPLÄTZE", "GROSSERE SALE" -> "GRÖSSERE SÄLE"); as read
    where none or several do ("SALE" with English lists stays, it is a word)."""
    core = decoded.text.strip(EDGE_PUNCTUATION)
    letters = [c for c in core if c.isalpha()]
    if len(letters) < 3 or not all(c.isupper() for c in letters) or core in lexicon:
        return decoded
    spots = [i for i, c in enumerate(core) if c in UMLAUTS]  # A, O, U: the word is in capitals
    known = {
        dotted
        for count in range(1, MAX_DOTTED + 1)
        for chosen in combinations(spots, count)
        if (dotted := _with_dots(core, chosen)) in lexicon
    }
    if len(known) != 1:
        return decoded
    text = decoded.text.replace(core, known.pop(), 1)
    confidence = min(decoded.confidence, UNKNOWN_CONFIDENCE)
    return Word(text, confidence, decoded.read_as or decoded.text)


def _with_dots(word: str, spots: tuple[int, ...]) -> str:
    return "".join(UMLAUTS[c] if i in spots else c for i, c in enumerate(word))


def _other_case_share(letter: Emission, probabilities: np.ndarray, charset: str) -> float:
    """How much of the model's belief in ``letter`` and its other case goes to the other
    case."""
    return _share_to(letter.char.swapcase(), letter, probabilities, charset)


def _share_to(other: str, letter: Emission, probabilities: np.ndarray, charset: str) -> float:
    """How much of the model's belief in ``letter`` and ``other`` (on the letter's frame
    and the frames beside it) goes to ``other``; 0 where either is not in ``charset``."""
    index = class_index(charset)
    if other == letter.char or other not in index or letter.char not in index:
        return 0.0
    around = slice(max(letter.frame - 1, 0), letter.frame + 2)
    as_read = float(probabilities[index[letter.char], around].max())
    alternative = float(probabilities[index[other], around].max())
    total = as_read + alternative
    return alternative / total if total > 0 else 0.0


def abbreviation_split(
    word: list[Emission], first: int, last: int
) -> list[tuple[list[Emission], int, int]]:
    """A word split after a full stop that is followed by a capitalised word, each part
    with its frame span: "Fr.Krauß" is "Fr. Krauß".

    Writers leave little room after an abbreviation's stop, and the recogniser often
    reads none. A stop between letters and a capitalised word ends an abbreviation or a
    sentence either way; "z.B." and "U.S.A." have no small letter after the capital.
    """
    cuts = [
        i + 1
        for i in range(1, len(word) - 2)
        if word[i].char == "."
        and word[i - 1].char.isalpha()
        and word[i + 1].char.isupper()
        and word[i + 2].char.islower()
    ]
    return _cut(word, first, last, cuts)


def run_together_split(
    word: list[Emission], first: int, last: int
) -> list[tuple[list[Emission], int, int]]:
    """A word split where a small letter is followed by a capital and a small one, each
    part with its frame span.

    The recogniser often drops the space between close handwritten words ("JörgMüller",
    "GröfereSile"); German words have no capitals inside, and an English one rarely
    ("McDonald" is split too, a price worth paying on flipcharts).
    """
    cuts: list[int] = []
    for i in range(2, len(word) - 1):
        small_capital_small = (
            word[i - 1].char.islower() and word[i].char.isupper() and word[i + 1].char.islower()
        )
        if small_capital_small and i - (cuts[-1] if cuts else 0) >= 2:
            cuts.append(i)
    return _cut(word, first, last, cuts)


def _cut(
    word: list[Emission], first: int, last: int, cuts: list[int]
) -> list[tuple[list[Emission], int, int]]:
    """``word`` cut before each of the letters ``cuts`` (ascending), each part with its
    frame span: a part after a cut starts at its first letter's frame."""
    parts, start, begin = [], 0, first
    for cut in cuts:
        parts.append((word[start:cut], begin, word[cut].frame))
        start, begin = cut, word[cut].frame
    parts.append((word[start:], begin, last))
    return parts


def eszett_for_capital_b(word: list[Emission]) -> list[Emission]:
    """A capital B right after a small letter read as ß, unless it begins a word run
    into the one before it.

    The recogniser (trained mostly on print and Chinese) reads a handwritten ß as B:
    "StraBe", "GroB", "PauBnitz" in 9 of 20 DHSD words of unseen writers. A capital B
    after a small letter, inside a word, is next to unknown in German and English.
    But German writes ß only after a vowel (or a lengthening h): after another
    consonant, a B that goes on as a word does ("StößenBrückla", "nligerBezirk") is a
    second word's capital, its space lost; ``run_together_split`` then parts them. A ß
    the model itself read there stays: there it was a vowel it misread ("Serßlitz" for
    "Seußlitz", DHSD).
    """
    return [
        Emission("ß", e.probability, e.frame)
        if e.char == "B"
        and i > 0
        and word[i - 1].char.islower()
        and not _begins_run_in_word(word, i)
        else e
        for i, e in enumerate(word)
    ]


# Letters a ß never follows in German: consonants, the lengthening h aside ("Mehßow"),
# and ß itself.
NOT_BEFORE_ESZETT = frozenset("bcdfgjklmnpqrstvwxzß")
# A B that begins a word goes on in one of these ("Brückla", "Bezirk", "Bürger").
AFTER_CAPITAL_B = frozenset("aeiouäöüylr")
RUN_IN_LETTERS = 3  # letters each side, at least: "Gartenstrße" and "Drcßdorf" stay


def _begins_run_in_word(word: list[Emission], i: int) -> bool:
    after = _letters(word[i + 1 :])[:RUN_IN_LETTERS]
    return (
        word[i - 1].char in NOT_BEFORE_ESZETT
        and len(_letters(reversed(word[:i]))) >= RUN_IN_LETTERS
        and len(after) == RUN_IN_LETTERS
        and after.islower()
        and after[0] in AFTER_CAPITAL_B
    )


def _letters(emissions: Iterable[Emission]) -> str:
    """The letters from the start of ``emissions`` up to the first that is not one."""
    letters = []
    for emission in emissions:
        if not emission.char.isalpha():
            break
        letters.append(emission.char)
    return "".join(letters)


def single_eszett(emissions: list[Emission]) -> list[Emission]:
    """A ß emitted twice in a row read once: German never doubles it, and the model
    now and then emits a wide handwritten ß at two frames ("Hagelstraßße")."""
    return [
        e
        for i, e in enumerate(emissions)
        if not (e.char == "ß" and i and emissions[i - 1].char == "ß")
    ]


def eszett_for_spaced_b(emissions: list[Emission], lexicon: Lexicon) -> list[Emission]:
    """A ß read as a doubtful space and a capital B ("Lo Bnig" for "Loßnig") read as ß.

    The recogniser reads a handwritten ß's stem as a gap and its bowl as a B: on the
    real-hand posters "Jo Bnitz", "Fro Britz", "Lo Bnig". Only where the space is
    doubtful (below ``SPACED_ESZETT_DOUBT``), what comes before it is a fragment no list
    knows (at most ``SPACED_ESZETT_FRAGMENT`` letters, the last a small one: "im
    Bereich" and "zu Beginn" stay) and what follows is a B and a small letter.
    """
    out: list[Emission] = []
    i = 0
    while i < len(emissions):
        if _is_spaced_eszett(emissions, i, out, lexicon):
            out.append(Emission("ß", emissions[i + 1].probability, emissions[i + 1].frame))
            i += 2
        else:
            out.append(emissions[i])
            i += 1
    return out


def _is_spaced_eszett(
    emissions: list[Emission], i: int, before: list[Emission], lexicon: Lexicon
) -> bool:
    space = emissions[i]
    if space.char != " " or space.probability >= SPACED_ESZETT_DOUBT or i + 2 >= len(emissions):
        return False
    if not (emissions[i + 1].char == "B" and emissions[i + 2].char.islower()):
        return False
    fragment = ""
    for emission in reversed(before):
        if not emission.char.isalpha():
            break
        fragment = emission.char + fragment
    return (
        0 < len(fragment) <= SPACED_ESZETT_FRAGMENT
        and fragment[-1].islower()
        and fragment not in lexicon
    )


def _is_unknown(text: str, lexicon: Lexicon) -> bool:
    """A word of letters that no list knows (numbers, marks and one-letter words aside)."""
    core = text.strip(EDGE_PUNCTUATION)
    return is_lexical(core) and core not in lexicon


def letters_confidence(letters: list[Emission]) -> float:
    """The geometric mean of the letters' probabilities, 0-100."""
    if not letters:
        return 0.0
    logs = np.log(np.maximum([e.probability for e in letters], 1e-6))
    return float(100 * np.exp(logs.mean()))
