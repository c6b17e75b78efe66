"""CTC decoding: exact path likelihood, word-list beam search, unknown words replaced."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from flipchart_ocr import wordlists
from flipchart_ocr.readers import ctc

CHARSET = " abcdehnsu"  # class k > 0 is CHARSET[k - 1]; class 0 the blank


def frames(*columns: dict[str, float], charset: str = CHARSET) -> np.ndarray:
    """A classes x frames probability matrix; what a column leaves out goes to the blank."""
    matrix = np.zeros((len(charset) + 1, len(columns)))
    for t, column in enumerate(columns):
        for char, p in column.items():
            matrix[charset.index(char) + 1, t] = p
        matrix[0, t] = 1.0 - sum(column.values())
    return matrix


def collapse(path: tuple[int, ...]) -> tuple[int, ...]:
    out, previous = [], 0
    for k in path:
        if k != previous and k != 0:
            out.append(k)
        previous = k
    return tuple(out)


def test_path_likelihood_is_the_sum_over_all_alignments() -> None:
    rng = np.random.default_rng(3)
    probabilities = rng.dirichlet(np.ones(4), size=5).T  # 4 classes, 5 frames
    for labels in ([1], [1, 2], [2, 2], [1, 2, 1], [3, 3, 1]):
        brute = sum(
            np.prod([probabilities[k, t] for t, k in enumerate(path)])
            for path in itertools.product(range(4), repeat=5)
            if collapse(path) == tuple(labels)
        )
        assert ctc.path_log_likelihood(probabilities, labels) == pytest.approx(np.log(brute))


def test_an_unknown_word_becomes_the_nearly_as_likely_known_one() -> None:
    # Greedy reads "hans": the third letter is n (0.5) before u (0.4).
    probabilities = frames({"h": 0.9}, {}, {"a": 0.9}, {}, {"n": 0.5, "u": 0.4}, {}, {"s": 0.9})
    lexicon = ctc.Lexicon(frozenset({"haus", "hase", "dach"}))
    assert "".join(e.char for e in ctc.greedy(probabilities, CHARSET)) == "hans"
    decoded = ctc.decode(probabilities, CHARSET, lexicon)
    assert "".join(e.char for e in decoded) == "haus"
    assert all(e.probability <= ctc.REPLACED_PROBABILITY for e in decoded)  # flagged


def test_a_clearly_read_unknown_word_stays_as_read() -> None:
    # "hans" read with certainty: no word of the list comes near it.
    probabilities = frames(
        {"h": 0.99}, {}, {"a": 0.99}, {}, {"n": 0.99, "u": 0.001}, {}, {"s": 0.99}
    )
    lexicon = ctc.Lexicon(frozenset({"haus"}))
    assert "".join(e.char for e in ctc.decode(probabilities, CHARSET, lexicon)) == "hans"


def test_known_words_spaces_and_capitals_are_kept() -> None:
    # "Das HANS": the first word is known as read; the second becomes HAUS, in capitals.
    charset = " DASHNUas"
    columns = ["D", "a", "s", "", " ", "H", "", "A", "", "N?U", "", "S"]
    probabilities = np.zeros((len(charset) + 1, len(columns)))
    for t, column in enumerate(columns):
        if column == "N?U":
            probabilities[charset.index("N") + 1, t] = 0.5
            probabilities[charset.index("U") + 1, t] = 0.4
        elif column:
            probabilities[charset.index(column) + 1, t] = 0.9
        probabilities[0, t] = 1.0 - probabilities[:, t].sum()
    lexicon = ctc.Lexicon(frozenset({"das", "haus"}))
    assert "".join(e.char for e in ctc.greedy(probabilities, charset)) == "Das HANS"
    assert "".join(e.char for e in ctc.decode(probabilities, charset, lexicon)) == "Das HAUS"


def test_lexicon_prefixes_are_checked_case_blind() -> None:
    lexicon = ctc.Lexicon(frozenset({"straße", "strom"}))
    assert lexicon.has_prefix("Str")
    assert lexicon.has_prefix("STRA")
    assert not lexicon.has_prefix("stu")
    assert "Strom" in lexicon


def test_a_chosen_word_takes_the_case_the_writer_used() -> None:
    assert ctc.in_case_of("wILLIrTZIK", "wILLIMZIK") == "WILLIMZIK"  # one small w: capitals
    assert ctc.in_case_of("Gleickstelkng", "GleichsTellung") == "Gleichstellung"
    assert ctc.in_case_of("zn", "Zu") == "zu"
    assert ctc.in_case_of("GRÖSERE", "größere") == "GRÖSSERE"  # ß in capitals, as written


def test_the_prefix_cache_stays_bounded_and_answers_stay_right(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(ctc, "MAX_CACHED_PREFIXES", 3)
    lexicon = ctc.Lexicon(frozenset({"haus", "hase"}))
    answers = [lexicon.has_prefix(p) for p in ("h", "ha", "hau", "hx", "has", "z", "ha")]
    assert answers == [True, True, True, False, True, False, True]
    assert len(lexicon._prefixes) <= 3


def test_a_capital_b_after_a_small_letter_is_an_eszett() -> None:
    word = [ctc.Emission(c, 0.9, i) for i, c in enumerate("StraBe")]
    assert "".join(e.char for e in ctc.eszett_for_capital_b(word)) == "Straße"
    start = [ctc.Emission(c, 0.9, i) for i, c in enumerate("Bach")]
    assert ctc.eszett_for_capital_b(start) == start  # a word's first B is a B
    capitals = [ctc.Emission(c, 0.9, i) for i, c in enumerate("ABBA")]
    assert ctc.eszett_for_capital_b(capitals) == capitals


def test_a_b_after_a_consonant_that_goes_on_as_a_word_begins_one() -> None:
    def mended(text: str) -> str:
        word = [ctc.Emission(c, 0.9, i) for i, c in enumerate(text)]
        parts = ctc.run_together_split(ctc.eszett_for_capital_b(word), 0, len(text))
        return " ".join("".join(e.char for e in part) for part, _, _ in parts)

    # German writes ß after a vowel or h only: after n or r it is the next word's B.
    assert mended("StößenBrückla") == "Stößen Brückla"
    assert mended("nligerBezirk") == "nliger Bezirk"
    assert mended("MehBow") == "Mehßow"  # after the lengthening h it is a ß
    assert mended("GroßBuchholz") == "Groß Buchholz"  # nor after a ß
    # Too little on either side to be two words: a letter lost before the ß.
    assert mended("GartenstrBe") == "Gartenstrße"
    assert mended("DrcBdorf") == "Drcßdorf"
    assert mended("PauBnitz") == "Paußnitz"
    assert mended("Serßlitz") == "Serßlitz"  # a ß read as one: a misread vowel before it


def test_words_run_together_are_split_at_a_capital_inside() -> None:
    word = [ctc.Emission(c, 0.9, i * 2) for i, c in enumerate("JörgMüller")]
    parts = ctc.run_together_split(word, 0, 20)
    assert ["".join(e.char for e in part) for part, _, _ in parts] == ["Jörg", "Müller"]
    assert [(start, end) for _, start, end in parts] == [(0, 8), (8, 20)]
    for whole in ("Straße", "GmbH", "KITAPLÄTZE", "eBay"):
        letters = [ctc.Emission(c, 0.9, i) for i, c in enumerate(whole)]
        assert len(ctc.run_together_split(letters, 0, len(whole))) == 1, whole


def test_the_word_list_finds_words_and_prefixes_and_takes_the_events_words() -> None:
    words = wordlists.WordList(["straße", "haus", "häuser", "hase", "haus"])
    assert len(words) == 4 and list(words) == ["hase", "haus", "häuser", "straße"]
    assert "häuser" in words and "straße" in words
    assert "hau" not in words and "häusers" not in words and "" not in words
    assert words.has_prefix("hä") and words.has_prefix("stra") and not words.has_prefix("hx")
    more = words.with_words(["libuda", "haus"])
    assert "libuda" in more and len(more) == 5 and "libuda" not in words
    assert words.with_words(["haus"]) is words
    assert len(wordlists.WordList([])) == 0 and "a" not in wordlists.WordList([])


def _row(charset: str, letters: str, doubt: dict[int, dict[str, float]]) -> np.ndarray:
    """A row reading ``letters`` one frame each with a blank between, letter i's frame
    holding ``doubt[i]`` instead (its letters' probabilities) where given."""
    columns: list[dict[str, float]] = []
    for i, char in enumerate(letters):
        columns += [doubt.get(i, {char: 0.95}), {}]
    return frames(*columns, charset=charset)


def _texts(words: list) -> list[str]:
    return [w.text for w in words]


def test_a_doubted_capital_takes_the_case_the_word_lists_write() -> None:
    charset = " EFKMabefhiknrstuü"
    lexicon = ctc.Lexicon(["Mehr", "für", "Kitas", "essen", "Essen"])
    doubt_f = {5: {"F": 0.55, "f": 0.4}}
    # "Mehr Für": "für" is written only small in the lists: a small f inside a sentence.
    words = ctc.read_words(_row(charset, "Mehr Für", doubt_f), charset, lexicon)
    assert _texts(words) == ["Mehr", "für"]
    assert words[1].read_as == "Für"  # what the model read stays for review
    # Read clearly as a capital, it stays one; so does the first word of a sentence.
    sure = {5: {"F": 0.95, "f": 0.01}}
    assert _texts(ctc.read_words(_row(charset, "Mehr Für", sure), charset, lexicon)) == [
        "Mehr",
        "Für",
    ]
    first = ctc.read_words(_row(charset, "Für", {0: {"F": 0.55, "f": 0.4}}), charset, lexicon)
    assert _texts(first) == ["Für"]
    # A noun the lists write only capitalised gains its capital, even first in a row.
    kitas = ctc.read_words(_row(charset, "kitas", {0: {"k": 0.5, "K": 0.45}}), charset, lexicon)
    assert _texts(kitas) == ["Kitas"]
    # A word the lists write both ways stays as read.
    both = ctc.read_words(_row(charset, "Mehr essen", {5: {"e": 0.5, "E": 0.45}}), charset, lexicon)
    assert _texts(both) == ["Mehr", "essen"]


def test_a_word_after_an_abbreviations_stop_is_split_off() -> None:
    word = [ctc.Emission(c, 0.9, i * 2) for i, c in enumerate("Fr.Krauß")]
    parts = ctc.abbreviation_split(word, 0, 16)
    assert ["".join(e.char for e in part) for part, _, _ in parts] == ["Fr.", "Krauß"]
    assert [(start, end) for _, start, end in parts] == [(0, 6), (6, 16)]
    for whole in ("z.B.", "U.S.A.", "3.Stock", "Nr.5", "Ende.", "www.stadt.de"):
        letters = [ctc.Emission(c, 0.9, i) for i, c in enumerate(whole)]
        assert len(ctc.abbreviation_split(letters, 0, len(whole))) == 1, whole


def test_a_word_read_surely_is_not_replaced_even_by_a_nearly_as_likely_one() -> None:
    # "NODE" read at 0.99 a letter; dropping the N costs only log(0.009 / 0.991), about
    # -4.7, within the margin, but a word read this clearly is no misreading of "ODE".
    charset = " DENO"  # classes: space 1, D 2, E 3, N 4, O 5
    sure = {i: {c: 0.991 if c == "N" else 0.999} for i, c in enumerate("NODE")}
    probabilities = _row(charset, "NODE", sure)
    lexicon = ctc.Lexicon(["ode"])
    as_read = ctc.path_log_likelihood(probabilities, [4, 5, 2, 3])
    assert ctc.path_log_likelihood(probabilities, [5, 2, 3]) > as_read - ctc.MARGIN
    assert _texts(ctc.read_words(probabilities, charset, lexicon)) == ["NODE"]
    # Read less surely, it is the known word's, flagged with what was read.
    doubtful = _row(charset, "NODE", {0: {"N": 0.6}})
    (word,) = ctc.read_words(doubtful, charset, lexicon)
    assert (word.text, word.read_as) == ("ODE", "NODE")


def test_a_doubtful_space_and_b_after_a_fragment_are_an_eszett() -> None:
    def emissions(text: str, space: float) -> list[ctc.Emission]:
        return [ctc.Emission(c, space if c == " " else 0.9, i) for i, c in enumerate(text)]

    def read(text: str, space: float) -> str:
        mended = ctc.eszett_for_spaced_b(emissions(text, space), ctc.Lexicon(["im"]))
        return "".join(e.char for e in mended)

    assert read("Lo Bnig", 0.6) == "Loßnig"  # a handwritten ß: stem as gap, bowl as B
    assert read("Lo Bnig", 0.95) == "Lo Bnig"  # a space the model is sure of stays
    assert read("im Bereich", 0.6) == "im Bereich"  # a word before it: a real space
    assert read("Kleinmölsen Börnersdorf", 0.6) == "Kleinmölsen Börnersdorf"  # no fragment
    assert read("Lo BNIG", 0.6) == "Lo BNIG"  # capitals after it: no ß


def test_a_doubtful_space_inside_a_word_no_list_knows_is_taken_out() -> None:
    """A pen lift read as a space: "Sülze tal" is "Sülzetal". A space the model is sure
    of stays, and so does one beside a known word or before a capital."""
    charset = " MSTZaelmrtzü"
    lexicon = ctc.Lexicon(["Tal", "Meer"])

    def read(text: str, space: float) -> list[str]:
        doubt = {text.index(" "): {" ": space}}
        return _texts(ctc.read_words(_row(charset, text, doubt), charset, lexicon))

    assert read("Sülze zat", 0.6) == ["Sülzezat"]
    (joined,) = ctc.read_words(_row(charset, "Sülze zat", {5: {" ": 0.6}}), charset, lexicon)
    assert joined.confidence <= ctc.UNKNOWN_CONFIDENCE  # an unknown word: flagged
    assert joined.read_as == "Sülze zat"  # what the model read, for review
    assert read("Sülze zat", 0.95) == ["Sülze", "zat"]  # a sure space
    assert read("Sülze tal", 0.6) == ["Sülze", "tal"]  # a known word after it
    assert read("Meer zat", 0.6) == ["Meer", "zat"]  # a known word before it
    assert read("Sülze Zat", 0.6) == ["Sülze", "Zat"]  # a capital: a word of its own


def test_an_eszett_emitted_twice_is_read_once() -> None:
    charset = " aegklrstß"
    doubled = _row(charset, "straßße", {})
    assert _texts(ctc.read_words(doubled, charset)) == ["straße"]
    assert _texts(ctc.read_words(_row(charset, "strasse", {}), charset)) == ["strasse"]


def test_a_plain_vowel_whose_umlaut_the_model_half_believes_is_read_as_the_umlaut() -> None:
    charset = " bdelnrsuü"

    def read(umlaut_share: float, lexicon: ctc.Lexicon | None) -> str:
        u = {"u": 0.9 * (1 - umlaut_share), "ü": 0.9 * umlaut_share}
        probabilities = frames(
            {"b": 0.9}, {}, u, {}, {"n": 0.9}, {}, {"d": 0.9}, {}, {"e": 0.9}, charset=charset
        )
        return " ".join(w.text for w in ctc.read_words(probabilities, charset, lexicon))

    assert read(0.4, None) == "bünde"  # the dots half seen: an umlaut
    assert read(0.1, None) == "bunde"  # barely: as read
    # A word the lists know as read stays as read.
    assert read(0.4, ctc.Lexicon(frozenset({"bunde"}))) == "bunde"
    assert read(0.4, ctc.Lexicon(frozenset({"rest"}))) == "bünde"


def test_each_part_of_a_hyphenated_word_is_looked_up_on_its_own(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    charset = " -acdhnsu"
    probabilities = frames(
        *({"d": 0.9}, {}, {"a": 0.9}, {}, {"c": 0.9}, {}, {"h": 0.9}, {}, {"-": 0.9}, {}),
        *({"h": 0.9}, {}, {"a": 0.9}, {}, {"n": 0.5, "u": 0.4}, {}, {"s": 0.9}),
        charset=charset,
    )
    lexicon = ctc.Lexicon(frozenset({"haus", "dach"}))
    (word,) = ctc.read_words(probabilities, charset, lexicon)
    # "hans" is steered to "haus" as a word of its own would be; the reading is kept.
    assert (word.text, word.read_as) == ("dach-haus", "dach-hans")
    assert word.confidence <= 100 * ctc.REPLACED_PROBABILITY
    # A part is steered only to a word at most PART_EDITS letters away.
    monkeypatch.setattr(ctc, "PART_EDITS", 0)
    (word,) = ctc.read_words(probabilities, charset, lexicon)
    assert word.text == "dach-hans"


def test_a_word_in_capitals_takes_capitals_for_its_look_alike_small_letters() -> None:
    from flipchart_ocr.document import Word

    def cased(text: str) -> str:
        return ctc.in_capitals_throughout(Word(text, 90.0)).text

    assert cased("MüLLER") == "MÜLLER"
    assert cased("STRASSENZüGE") == "STRASSENZÜGE"
    assert cased("STRAßE") == "STRAßE"  # ß has no capital written alike
    assert cased("IoT") == "IoT"  # too short: acronyms are written so
    assert cased("Müller") == "Müller"  # mostly small: as read
    assert cased("KaRL") == "KaRL"  # a, unlike its capital, stays
    changed = ctc.in_capitals_throughout(Word("MüLL", 90.0))
    assert changed.read_as == "MüLL"  # what was read stays for the review


def test_a_word_in_capitals_gets_the_umlaut_dots_only_one_known_word_has() -> None:
    from flipchart_ocr.document import Word

    lexicon = ctc.Lexicon(["Säle", "Spielplätze", "Raume", "Räume", "Bäur", "Baür"])

    def dotted(text: str) -> Word:
        return ctc.dotted_capitals(Word(text, 90.0), lexicon)

    changed = dotted("SPIELPLATZE")
    assert (changed.text, changed.read_as) == ("SPIELPLÄTZE", "SPIELPLATZE")
    assert changed.confidence <= ctc.UNKNOWN_CONFIDENCE  # flagged for the review
    assert dotted("SALE,").text == "SÄLE,"  # edge punctuation kept
    assert dotted("RAUME").text == "RAUME"  # known as read
    assert dotted("BAUR").text == "BAUR"  # two known words: which is not for us to say
    assert dotted("Spielplatze").text == "Spielplatze"  # not in capitals
    assert dotted("SAL").text == "SAL"  # no known word with dots
    # An English word the lists know stays: "SALE" with English beside German.
    assert ctc.dotted_capitals(Word("SALE", 90.0), ctc.Lexicon(["Säle", "sale"])).text == "SALE"


def test_read_words_puts_back_dots_the_model_missed_on_capitals() -> None:
    charset = " ELSAÄ"
    columns = ["S", "", "A", "", "L", "", "E"]
    probabilities = np.zeros((len(charset) + 1, len(columns)))
    for t, column in enumerate(columns):
        if column:
            probabilities[charset.index(column) + 1, t] = 0.95
        probabilities[0, t] = 1.0 - probabilities[:, t].sum()
    words = ctc.read_words(probabilities, charset, ctc.Lexicon(["Säle"]))
    assert [(w.text, w.read_as) for w in words] == [("SÄLE", "SALE")]
    assert [w.text for w in ctc.read_words(probabilities, charset)] == ["SALE"]  # no lists


def test_a_title_before_a_name_in_small_letters_is_written_fr_hr_dr() -> None:
    from flipchart_ocr.document import Word

    def titled(*texts: str) -> list[tuple[str, str | None]]:
        words = ctc.titles_in_case([Word(text, 90.0) for text in texts])
        return [(w.text, w.read_as) for w in words]

    assert titled("FR.", "Krauß", "HR.", "Gröns") == [
        ("Fr.", "FR."), ("Krauß", None), ("Hr.", "HR."), ("Gröns", None)
    ]  # fmt: skip
    assert titled("FR.", "KRAUSS") == [("FR.", None), ("KRAUSS", None)]  # all in capitals
    assert titled("DR.", "Müller")[0] == ("Dr.", "DR.")
    assert titled("Krauß", "FR.") == [("Krauß", None), ("FR.", None)]  # no name after it
    assert titled("FR", "Krauß")[0] == ("FR", None)  # no full stop: not known as a title


def test_word_frequencies_come_from_wordfreqs_small_lists() -> None:
    assert wordlists.frequency("für", "deu") > wordlists.frequency("fehlende", "deu") > 3
    assert wordlists.frequency("feilende", "deu") == 0  # used less than once a million words
    assert wordlists.frequency("strasse", "deu") > 5  # the lists hold words case-folded
    assert wordlists.frequency("pencil", "deu") == 0 < wordlists.frequency("pencil", "deu+eng")


def test_without_wordfreqs_files_every_word_counts_as_unheard_of(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A missing or foreign list leaves the decoding as it was without frequencies."""
    wordlists._frequencies.cache_clear()
    ctc._frequency.cache_clear()
    monkeypatch.setattr(wordlists, "_frequency_path", lambda code: None)
    try:
        assert wordlists.frequency("für", "deu") == 0
        assert wordlists.describe("deu", frozenset())["frequencies"] == {}
        lexicon = ctc.Lexicon(["feilende", "fehlende"], lang="deu")
        assert [w.text for w in ctc.read_words(_fehlende(0.3), " DEFHILN", lexicon)] == ["FEILENDE"]
    finally:
        wordlists._frequencies.cache_clear()
        ctc._frequency.cache_clear()


@pytest.mark.parametrize(
    "damage", [lambda data: data[: len(data) // 2], lambda data: b"", lambda data: b"not gzip"]
)
def test_a_damaged_frequency_list_counts_as_none(
    damage, monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    """A list cut short in a copy, emptied or not gzip at all: no frequencies, no crash."""
    path = wordlists._frequency_path("deu")
    assert path is not None and path.is_file()
    damaged = tmp_path / path.name
    damaged.write_bytes(damage(path.read_bytes()))
    wordlists._frequencies.cache_clear()
    monkeypatch.setattr(wordlists, "_frequency_path", lambda code: damaged)
    try:
        assert wordlists.frequency("für", "deu") == 0
    finally:
        wordlists._frequencies.cache_clear()


def _fehlende(h_share: float) -> np.ndarray:
    """FEILENDE as the model reads it, with ``h_share`` of the third letter's belief on H."""
    charset = " DEFHILN"
    columns = ["F", "", "E", "", "I", "", "L", "", "E", "", "N", "", "D", "", "E"]
    probabilities = np.zeros((len(charset) + 1, len(columns)))
    for t, column in enumerate(columns):
        if column == "I":
            probabilities[charset.index("I") + 1, t] = 0.95 * (1 - h_share)
            probabilities[charset.index("H") + 1, t] = 0.95 * h_share
        elif column:
            probabilities[charset.index(column) + 1, t] = 0.95
        probabilities[0, t] = 1.0 - probabilities[:, t].sum()
    return probabilities


def test_a_rare_known_word_gives_way_to_a_much_commoner_one_nearly_as_likely() -> None:
    charset = " DEFHILN"
    with_frequencies = ctc.Lexicon(["feilende", "fehlende"], lang="deu")
    read = ctc.read_words(_fehlende(0.3), charset, with_frequencies)
    assert [(w.text, w.read_as) for w in read] == [("FEHLENDE", "FEILENDE")]
    assert read[0].confidence < 60  # flagged for the review
    # Not where the model saw no H at all, and not without frequencies.
    assert [w.text for w in ctc.read_words(_fehlende(0.0), charset, with_frequencies)] == [
        "FEILENDE"
    ]
    without = ctc.Lexicon(["feilende", "fehlende"])
    assert [w.text for w in ctc.read_words(_fehlende(0.3), charset, without)] == ["FEILENDE"]


def test_a_gap_after_a_hyphen_before_a_capital_is_taken_out() -> None:
    """Real hands lift the pen after a hyphen: "Caspar- Schulte" is one name. German's
    suspended hyphen ("Kinder- und ...") goes on in a small letter and stays."""
    charset = " -CKSacdehilnprstu"
    lexicon = ctc.Lexicon(["und", "Kinder"])

    def read(text: str) -> list[ctc.Word]:
        return ctc.read_words(_row(charset, text, {}), charset, lexicon)

    (name,) = read("Caspar- Schulte")
    assert name.text == "Caspar-Schulte"
    assert name.read_as == "Caspar- Schulte"  # what the model read, for review
    assert _texts(read("Kinder- und")) == ["Kinder-", "und"]
    assert _texts(read("Caspar - Schulte")) == ["Caspar", "-", "Schulte"]  # a dash between
