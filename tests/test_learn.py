"""Learning from corrections: repeated misreadings and the event's vocabulary, applied with care."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema

from flipchart_ocr.corrections import load_corrections
from flipchart_ocr.learn import (
    KIND_MISREADING,
    KIND_WORD,
    Taught,
    apply_fixes,
    correct_words,
    learn_fixes,
    misreadings,
    replaces_known_word,
    typed_words,
    vocabulary,
)
from flipchart_ocr.schemas import load_schema
from flipchart_ocr.wordlists import is_known, words_for

from .fixtures import copy_out, run, write


def taught(where: str, ocr: str, corrected: str) -> Taught:
    return Taught(where, ocr, corrected)


def test_a_misread_word_group_is_paired_with_its_fix_and_a_rewrite_is_not() -> None:
    assert misreadings("Reser Markt beleben", "Resser Mark beleben") == [
        ("Reser Markt", "Resser Mark")
    ]
    # a reviewer who rewrites a field teaches nothing about misreadings
    assert misreadings("Kinder spielen", "Spielplätze fehlen") == []
    # too short to fix event-wide
    assert misreadings("ein Heft", "im Heft") == []


def test_a_fix_is_learned_only_when_made_often_enough() -> None:
    fields = [
        taught("a.x", "Mehr Kitaplatze", "Mehr Kitaplätze"),
        taught("b.x", "Kitaplatze fehlen", "Kitaplätze fehlen"),
        taught("c.x", "die Grnppe", "die Gruppe"),
    ]
    fixes = learn_fixes(fields, min_seen=2)
    assert [(f.old, f.new, f.seen, f.sources) for f in fixes] == [
        ("Kitaplatze", "Kitaplätze", 2, ("a.x", "b.x"))
    ]
    assert fixes[0].kind == KIND_MISREADING
    assert {f.old for f in learn_fixes(fields, min_seen=1)} == {"Kitaplatze", "Grnppe"}


def test_a_word_a_reviewer_kept_is_never_learned_as_a_misreading() -> None:
    fields = [
        taught("a.x", "Resser Markt", "Resser Mark"),
        taught("b.x", "Resser Markt", "Resser Mark"),
        taught("c.x", "Markt am Samstag", "Markt am Samstag"),  # confirmed as written
    ]
    assert learn_fixes(fields, min_seen=2) == []


def test_two_different_fixes_equally_often_cancel_out() -> None:
    fields = [taught("a.x", "Hanse", "Hause"), taught("b.x", "Hanse", "Hanne")]
    assert learn_fixes(fields, min_seen=1) == []


def test_fixes_apply_to_whole_words_only() -> None:
    fixes = learn_fixes(
        [taught("a.x", "Kitaplatze", "Kitaplätze"), taught("b.x", "Kitaplatze", "Kitaplätze")]
    )
    text, applied = apply_fixes("Kitaplatze, Kitaplatzes\nmehr Kitaplatze", fixes)
    assert text == "Kitaplätze, Kitaplatzes\nmehr Kitaplätze"
    assert [f.new for f in applied] == ["Kitaplätze"]


def test_a_doubtful_word_near_one_reviewed_word_becomes_that_word() -> None:
    words = vocabulary(
        [taught("a.x", "Mteressierte Bürger", "Interessierte Bürger finden")], min_seen=1
    )
    text, fixes = correct_words(
        "Mteressierte Leute\nTNTERESSIERTE", {"Mteressierte": 40.0, "TNTERESSIERTE": 12.0}, words
    )
    assert text == "Interessierte Leute\nINTERESSIERTE"  # the writer's capitals kept
    assert {(f.old, f.new, f.kind) for f in fixes} == {
        ("Mteressierte", "Interessierte", KIND_WORD),
        ("TNTERESSIERTE", "INTERESSIERTE", KIND_WORD),
    }
    assert fixes[0].sources == ("a.x",)


def test_a_confident_or_far_or_ambiguous_word_stays_as_read() -> None:
    words = vocabulary([taught("a.x", "", "Hause Hanne Interessierte")], min_seen=1)
    confident = correct_words("Mteressierte", {"Mteressierte": 95.0}, words)
    far = correct_words("Mtrsssirte", {"Mtrsssirte": 10.0}, words)
    ambiguous = correct_words("Hanse", {"Hanse": 10.0}, words)  # one letter from both
    not_read = correct_words("Mteressierte", {}, words)  # typed, not Tesseract's
    for original, (text, fixes) in zip(
        ("Mteressierte", "Mtrsssirte", "Hanse", "Mteressierte"),
        (confident, far, ambiguous, not_read),
        strict=True,
    ):
        assert (text, fixes) == (original, [])


CORRECTIONS = """\
sheets:
  IMG_0002:
    fields:
      laeuft_gut:
        text: |
          ruhiger Bezirk
          gute Mischung
"""


def merge(tmp_path: Path, corrections: str, *extra: str) -> tuple[dict, str]:
    out = tmp_path / "out" if (tmp_path / "out").exists() else copy_out(tmp_path)
    path = write(tmp_path / "corrections.yaml", corrections)
    code, _, err = run("merge", out, "-c", path, "-o", tmp_path / "protocol.json", *extra)
    assert code == 0, err
    return json.loads((tmp_path / "protocol.json").read_text(encoding="utf-8")), err


def laeuft_gut(protocol: dict, sheet_id: str) -> dict:
    sheet = next(s for s in protocol["sheets"] if s["id"] == sheet_id)
    return next(f for f in sheet["fields"] if f["id"] == "laeuft_gut")


def test_merge_applies_the_typed_vocabulary_to_other_sheets_and_records_it(
    tmp_path: Path,
) -> None:
    # IMG_0003 was read "uhiaer Beaik" (confidence 5 and 0) and "„ie Nischung" (36)
    protocol, err = merge(tmp_path, CORRECTIONS, "--learn-min", "1")
    jsonschema.validate(protocol, load_schema("protocol"))
    field = laeuft_gut(protocol, "IMG_0003")
    assert field["text"] == "Ve bindun Natur Und Einkzufen\nruhiger Beaik\n„ie Mischung"
    assert field["origin"] == "ocr"  # machine-made: nobody has checked it
    assert field["ocr_text"].splitlines()[1] == "uhiaer Beaik"
    assert {(f["old"], f["new"]) for f in field["learned"]} == {
        ("uhiaer", "ruhiger"),
        ("Nischung", "Mischung"),
    }
    entry = next(e for e in protocol["learned"] if e["new"] == "Mischung")
    assert entry == {
        "kind": "word",
        "old": "Nischung",
        "new": "Mischung",
        "seen": 1,
        "from": ["IMG_0002.laeuft_gut"],
        "applied": 2,  # IMG_0001 is the same photo, read as freeform
    }
    assert "fixes learned from the corrections changed 2 fields" in err
    # the reviewer's own field is exactly as typed
    assert laeuft_gut(protocol, "IMG_0002")["text"] == "ruhiger Bezirk\ngute Mischung"


def test_no_learn_and_reviewed_sheets_leave_the_ocr_text(tmp_path: Path) -> None:
    protocol, _ = merge(tmp_path, CORRECTIONS, "--no-learn", "--learn-min", "1")
    assert laeuft_gut(protocol, "IMG_0003")["text"].splitlines()[1] == "uhiaer Beaik"
    assert protocol["learned"] == []
    reviewed = CORRECTIONS + "  IMG_0003:\n    reviewed: true\n"
    protocol, _ = merge(tmp_path, reviewed, "--learn-min", "1")
    assert "learned" not in laeuft_gut(protocol, "IMG_0003")


def test_typed_words_are_the_words_of_texts_and_replacements(tmp_path: Path) -> None:
    path = write(
        tmp_path / "c.yaml",
        "replace:\n  Reser Markt: Resser Mark\n"
        "sheets:\n  IMG_0002:\n    fields:\n"
        '      laeuft_gut:\n        text: "Treffpunkt Erle,\\n- 2 Cafés"\n'
        "        replace:\n          Bezlrk: Bezirk\n",
    )
    assert typed_words(load_corrections(path)) == {
        "Resser",
        "Mark",
        "Treffpunkt",
        "Erle",
        "Cafés",
        "Bezirk",
    }


# -- what the issue "learned fixes make right words wrong" asked for -------------------------


def test_the_word_list_is_installed_and_knows_common_words() -> None:
    # setup.sh installs wngerman; without it the known-word rule would be idle
    assert len(words_for("deu")) > 100_000
    assert all(is_known(w) for w in ("alle", "aller", "Keller", "stärken", "Markt", "Mark"))
    assert not any(is_known(w) for w in ("Reser", "Resser", "Mteressierte", "Krauß"))


def test_a_known_word_is_never_changed_by_the_vocabulary() -> None:
    typed = [taught(f"{n}.x", "", "aller Starken Interessierte") for n in "ab"]
    words = vocabulary(typed)
    text, fixes = correct_words(
        "alle keller stärken Mteressierte",
        {"alle": 30.0, "keller": 20.0, "stärken": 40.0, "Mteressierte": 30.0},
        words,
    )
    # the demo's "alle" -> "aller", "keller" -> "aller", "stärken" -> "Starken" no more
    assert text == "alle keller stärken Interessierte"
    assert [(f.old, f.new) for f in fixes] == [("Mteressierte", "Interessierte")]


def test_a_fix_that_makes_a_known_word_unknown_is_not_learned() -> None:
    assert replaces_known_word("Kraus", "Krauß")
    assert not replaces_known_word("Reser Markt", "Resser Mark")  # word by word
    assert not replaces_known_word("Kitaplatze", "Kitaplätze")  # an unknown word mended
    fields = [taught(f"{n}.x", "Fr. Kraus", "Fr. Krauß") for n in "ab"]
    assert learn_fixes(fields, min_seen=2) == []


def test_the_vocabulary_needs_learn_min_fields(tmp_path: Path) -> None:
    assert vocabulary([taught("a.x", "", "Interessierte")]).forms == {}  # default: 2
    assert vocabulary([taught(f"{n}.x", "", "Interessierte") for n in "ab"]).forms == {
        "interessierte": "Interessierte"
    }
    # one typed field teaches nothing at merge's default --learn-min 2 ...
    protocol, err = merge(tmp_path, CORRECTIONS)
    assert protocol["learned"] == []
    assert "fixes learned" not in err
    assert laeuft_gut(protocol, "IMG_0003")["text"].splitlines()[1] == "uhiaer Beaik"
    # ... two do
    twice = CORRECTIONS + "      handlungsbedarfe:\n        text: ruhiger Bezirk\n"
    protocol, _ = merge(tmp_path, twice)
    assert laeuft_gut(protocol, "IMG_0003")["text"].splitlines()[1] == "ruhiger Beaik"
    entry = next(e for e in protocol["learned"] if e["new"] == "ruhiger")
    assert entry["seen"] == 2


def test_a_sheet_marked_reviewed_teaches_nothing(tmp_path: Path) -> None:
    # the reproduction: marking a sheet reviewed made its misreadings "confirmed"
    reviewed = "sheets:\n  IMG_0002:\n    reviewed: true\n  IMG_0001:\n    reviewed: true\n"
    protocol, err = merge(tmp_path, reviewed, "--learn-min", "1")
    assert protocol["learned"] == []
    assert all("learned" not in f for s in protocol["sheets"] for f in s["fields"])
