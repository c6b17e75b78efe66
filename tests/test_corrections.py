"""The corrections file: parsing, every malformed case, applying, `corrections init`."""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path

import jsonschema
import pytest
import yaml

from flipchart_ocr.corrections import (
    FieldCorrection,
    Replacement,
    load_corrections,
    ocr_fingerprint,
    parse_corrections,
    resolve_field,
)
from flipchart_ocr.errors import CorrectionsError
from flipchart_ocr.schemas import load_schema

from .fixtures import copy_out, run, set_ocr_text, sheet_json, write

VALID = """\
event:
  title: Integrationskonferenz Stadtbezirk Ost
  date: 2019-03-27
replace:
  "Reser Mat": "Resser Mark"
  no: nein
sheets:
  IMG_0002:
    fields:
      laeuft_gut:
        text: |
          viele Vereine
          gute Nachbarschaft
      handlungsbedarfe:
        replace: {"Aneltze": "Kitaplätze"}
  IMG_0003:
    skip: true
  20190327_171502:
    template: austausch
"""


# -- parsing ------------------------------------------------------------------------------


def test_valid_file_is_read_as_written(tmp_path: Path) -> None:
    corrections = load_corrections(write(tmp_path / "c.yaml", VALID))

    assert corrections.event == {
        "title": "Integrationskonferenz Stadtbezirk Ost",
        "date": "2019-03-27",  # as written, not a date object
    }
    # YAML 1.1 would read `no` as False: scalars are taken as written
    assert [(r.old, r.new) for r in corrections.replace] == [
        ("Reser Mat", "Resser Mark"),
        ("no", "nein"),
    ]
    assert corrections.replace[0].line == 5
    # a phone's photo name, which YAML 1.1 would read as an integer
    assert corrections.sheets["20190327_171502"].template == "austausch"
    assert corrections.sheets["IMG_0003"].skip is True
    field = corrections.sheets["IMG_0002"].fields["laeuft_gut"]
    assert field.text == "viele Vereine\ngute Nachbarschaft"  # block scalar's newline dropped
    assert field.line == 10
    replace = corrections.sheets["IMG_0002"].fields["handlungsbedarfe"].replace
    assert replace == (Replacement("Aneltze", "Kitaplätze", 15),)


def test_empty_file_is_no_corrections(tmp_path: Path) -> None:
    corrections = load_corrections(write(tmp_path / "c.yaml", "# nothing yet\n"))
    assert corrections.sheets == {} and corrections.replace == () and corrections.event == {}


def test_text_is_normalised_to_nfc(tmp_path: Path) -> None:
    decomposed = unicodedata.normalize("NFD", "Kitaplätze für Schüler")
    path = write(
        tmp_path / "c.yaml",
        f'sheets:\n  IMG_0002:\n    fields:\n      laeuft_gut:\n        text: "{decomposed}"\n',
    )
    text = load_corrections(path).sheets["IMG_0002"].fields["laeuft_gut"].text
    assert text == unicodedata.normalize("NFC", "Kitaplätze für Schüler")


def test_normalised_file_validates_against_the_corrections_schema(tmp_path: Path) -> None:
    corrections = load_corrections(write(tmp_path / "c.yaml", VALID))
    jsonschema.validate(corrections.to_dict(), load_schema("corrections"))


def test_contract_example_validates_against_the_corrections_schema() -> None:
    example = yaml.safe_load(
        """
event: {title: Integrationskonferenz Stadtbezirk Ost, date: "2019-03-27"}
replace: {"Reser Markt": "Resser Mark"}
sheets:
  IMG_0412:
    template: austausch
    skip: true
    fields:
      laeuft_gut: {text: "Verbindung Natur und Einkaufsmöglichkeiten\\nruhiger Bezirk\\n"}
      handlungsbedarfe: {replace: {"Kitaplatze": "Kitaplätze"}}
"""
    )
    jsonschema.validate(example, load_schema("corrections"))


# -- malformed files: exit 2, a message naming file, line, entry and choices, nothing written

MALFORMED = {
    "yaml syntax": (
        "sheets:\n  IMG_0002: [\n",
        ["c.yaml:3", "YAML syntax error"],
    ),
    "tab indentation": (
        "sheets:\n\tIMG_0002: {}\n",
        ["c.yaml:2", "YAML syntax error"],
    ),
    "two documents": (
        "sheets: {}\n---\nsheets: {}\n",
        ["c.yaml", "YAML syntax error"],
    ),
    "not a mapping": (
        "- IMG_0002\n",
        ["c.yaml:1", "expected a mapping with event, replace, sheets", "found a list"],
    ),
    "unknown top-level key": (
        "sheet:\n  IMG_0002: {}\n",
        ["c.yaml:1", "sheet: unknown key", "did you mean 'sheets'?", "valid: event, replace"],
    ),
    "unknown event key": (
        "event:\n  titel: Konferenz\n",
        ["c.yaml:2", "event.titel: unknown key", "valid: title, subtitle, date"],
    ),
    "unknown field": (
        "sheets:\n  IMG_0002:\n    fields:\n      laeuft_gud:\n        text: x\n",
        [
            "c.yaml:4",
            "sheets.IMG_0002.fields.laeuft_gud: unknown field for template 'austausch'",
            "did you mean 'laeuft_gut'?",
            "valid: laeuft_gut, handlungsbedarfe, worauf_kommt_es_an",
        ],
    ),
    "field of the old template after an override": (
        "sheets:\n  IMG_0002:\n    template: themenarbeit\n"
        "    fields:\n      laeuft_gut:\n        text: x\n",
        [
            "c.yaml:5",
            "unknown field for template 'themenarbeit'",
            "valid: thema, herausforderung",
            "line 3 sets the template",
        ],
    ),
    "unknown template": (
        "sheets:\n  IMG_0002:\n    template: austauch\n",
        [
            "c.yaml:3",
            "sheets.IMG_0002.template: unknown template 'austauch'",
            "did you mean 'austausch'?",
            "valid: austausch, themensammlung, themenarbeit, freeform",
        ],
    ),
    "field of an unreadable photo": (
        "sheets:\n  IMG_0004:\n    fields:\n      text:\n        text: x\n",
        ["c.yaml:4", "sheets.IMG_0004.fields.text", "could not be read", "valid: none"],
    ),
    "unknown field key": (
        "sheets:\n  IMG_0002:\n    fields:\n      laeuft_gut:\n        txt: x\n",
        ["c.yaml:5", "laeuft_gut.txt: unknown key", "valid: text, ocr_sha, replace"],
    ),
    "text is a mapping": (
        "sheets:\n  IMG_0002:\n    fields:\n      laeuft_gut:\n        text: {a: b}\n",
        ["c.yaml:5", "laeuft_gut.text: expected text, found a mapping"],
    ),
    "skip is not a boolean": (
        "sheets:\n  IMG_0002:\n    skip: maybe\n",
        ["c.yaml:3", "sheets.IMG_0002.skip: expected true or false, found 'maybe'"],
    ),
    "replace is a list": (
        'replace:\n  - "Reser": "Resser"\n',
        ["c.yaml:2", 'replace: expected a mapping of "old text": "new text"'],
    ),
    "replacement missing": (
        'replace:\n  "Reser":\n',
        ["c.yaml:2", "replace.Reser: has no replacement", 'write "" to delete'],
    ),
    "empty old text": (
        'replace:\n  "": "x"\n',
        ["c.yaml:2", "cannot replace the empty text"],
    ),
    "duplicate sheet": (
        "sheets:\n  IMG_0002:\n    skip: true\n  IMG_0002:\n    skip: false\n",
        ["c.yaml:4", "sheets.IMG_0002: appears twice (also line 2)"],
    ),
    "bad fingerprint": (
        "sheets:\n  IMG_0002:\n    fields:\n      laeuft_gut:\n"
        "        text: x\n        ocr_sha: xyz\n",
        ["c.yaml:6", "ocr_sha: 'xyz' is not a fingerprint"],
    ),
    "fields is a list": (
        "sheets:\n  IMG_0002:\n    fields: [laeuft_gut]\n",
        ["c.yaml:3", "sheets.IMG_0002.fields: expected a mapping of field id"],
    ),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_file_is_refused_by_merge(tmp_path: Path, case: str) -> None:
    text, expected = MALFORMED[case]
    out = copy_out(tmp_path)
    corrections = write(tmp_path / "corrections" / "c.yaml", text)
    protocol = tmp_path / "protocol.json"

    code, _, err = run("merge", out, "-c", corrections, "-o", protocol)

    assert code == 2, err
    assert err.startswith("error: ")
    for part in expected:
        assert part in err
    assert not protocol.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["corrections", "out"]
    assert corrections.read_text(encoding="utf-8") == text


@pytest.mark.parametrize("case", ["unknown field", "yaml syntax", "skip is not a boolean"])
def test_malformed_file_is_refused_by_check(tmp_path: Path, case: str) -> None:
    text, expected = MALFORMED[case]
    out = copy_out(tmp_path)
    corrections = write(tmp_path / "c.yaml", text)
    code, _, err = run("corrections", "check", corrections, out)
    assert code == 2
    assert expected[0] in err


# -- a correction for a sheet that is not in OUT: a warning, the protocol is written ------


def test_an_entry_for_an_absent_sheet_is_a_warning_and_the_rest_is_merged(
    tmp_path: Path,
) -> None:
    out = copy_out(tmp_path)
    corrections = write(
        tmp_path / "c.yaml",
        "sheets:\n"
        "  IMG_0009:\n    skip: true\n"  # a photo left out of this run
        "  IMG_0003:\n    fields:\n      laeuft_gut:\n        text: Natur\n",
    )
    protocol = tmp_path / "protocol.json"

    code, _, err = run("merge", out, "-c", corrections, "-o", protocol)

    assert code == 0, err
    assert f"warning: {corrections}:2: sheets.IMG_0009: no such sheet in this output folder" in err
    document = json.loads(protocol.read_text(encoding="utf-8"))
    assert {s["id"] for s in document["sheets"]} == {"IMG_0001", "IMG_0002", "IMG_0003"}
    field = next(s for s in document["sheets"] if s["id"] == "IMG_0003")["fields"][0]
    assert (field["text"], field["origin"]) == ("Natur", "corrected")
    assert any("sheets.IMG_0009" in w for w in document["warnings"])
    # IMG_0003 has its own entry: another photo, not what "IMG_0009" was meant to be
    assert "did you mean" not in err


def test_an_absent_sheet_suggests_only_a_sheet_without_an_entry_and_same_number(
    tmp_path: Path,
) -> None:
    out = copy_out(tmp_path)
    corrections = write(
        tmp_path / "c.yaml",
        "sheets:\n  img_0003:\n    skip: true\n  img_0002:\n    skip: true\n"
        "  IMG_0003:\n    skip: true\n",
    )
    code, _, err = run("corrections", "check", corrections, out)
    assert code == 0, err
    assert "sheets.img_0002: no such sheet" in err
    assert "did you mean 'IMG_0002', which has no entry?" in err
    # IMG_0003 has an entry of its own: no suggestion for img_0003
    line = next(line for line in err.splitlines() if "sheets.img_0003" in line)
    assert "did you mean" not in line


# -- syntax errors are reported where they start ------------------------------------------


def test_an_unclosed_quote_is_reported_at_its_own_line(tmp_path: Path) -> None:
    text = (
        "event:\n"
        '  title: "Integrationskonferenz\n'  # line 2: the closing quote is missing
        "  date: 2019-03-27\n"
        "sheets:\n"
        "  IMG_0002:\n"
        "    skip: true\n"
        "  IMG_0003:\n"
        '    fields: {laeuft_gut: {text: "Natur"}}\n'  # line 8: the next quote
    )
    path = write(tmp_path / "c.yaml", text)
    with pytest.raises(CorrectionsError) as raised:
        load_corrections(path)
    message = str(raised.value)
    assert message.startswith(f"{path}:2: YAML syntax error, column 10:")
    assert "a closing quote missing?" in message
    # an unclosed quote that runs to the end of the file, too
    path = write(tmp_path / "d.yaml", "event:\n  title: 'Konferenz\nsheets:\n  IMG_0002: {}\n")
    with pytest.raises(CorrectionsError, match=r"d\.yaml:2: YAML syntax error, column 10"):
        load_corrections(path)


def test_every_problem_is_named_at_once_in_line_order(tmp_path: Path) -> None:
    path = write(
        tmp_path / "c.yaml",
        "sheets:\n  IMG_0002:\n    skip: maybe\n    fields:\n      x:\n        txt: y\nextra: 1\n",
    )
    with pytest.raises(CorrectionsError) as raised:
        load_corrections(path)
    lines = str(raised.value).splitlines()
    assert lines[0] == "3 problems in the corrections file:"
    assert [line.split(": ")[0] for line in lines[1:]] == [
        f"{path}:3",
        f"{path}:6",
        f"{path}:7",
    ]


def test_missing_and_binary_files(tmp_path: Path) -> None:
    with pytest.raises(CorrectionsError, match="corrections file not found"):
        load_corrections(tmp_path / "nope.yaml")
    binary = tmp_path / "c.yaml"
    binary.write_bytes(b"sheets:\n  \xff\xfe: {}\n")
    with pytest.raises(CorrectionsError, match="not UTF-8"):
        load_corrections(binary)


def test_process_refuses_a_malformed_file_before_any_work(tmp_path: Path) -> None:
    corrections = write(tmp_path / "c.yaml", "sheets:\n  IMG_0002:\n    skipp: true\n")
    photo = tmp_path / "IMG_0002.jpg"
    photo.write_bytes(b"not read: the corrections file fails first")
    out = tmp_path / "out"
    code, _, err = run("process", photo, "-o", out, "-c", corrections)
    assert code == 2
    assert "c.yaml:3: sheets.IMG_0002.skipp: unknown key" in err
    assert not out.exists()


# -- applying -----------------------------------------------------------------------------


def test_file_wide_replace_runs_first_then_the_fields_in_order() -> None:
    file_wide = (Replacement("Reser", "Resser"), Replacement("Markt", "Mark"))
    field = FieldCorrection(replace=(Replacement("Resser Mark", "Resser Mark (Gelsenkirchen)"),))
    resolved = resolve_field("Fest am Reser Markt", field, file_wide)
    assert resolved.text == "Fest am Resser Mark (Gelsenkirchen)"
    assert resolved.origin == "corrected"
    assert resolved.warnings == ()
    assert resolved.file_replacements_used == frozenset({0, 1})


def test_text_wins_over_every_replace() -> None:
    field = FieldCorrection(text="Mehr Kitaplätze", replace=(Replacement("x", "y"),))
    resolved = resolve_field("NE Aneltze", field, (Replacement("NE", "Mehr"),))
    assert resolved.text == "Mehr Kitaplätze"
    assert resolved.origin == "corrected"
    assert resolved.file_replacements_used == frozenset()
    assert any("replace is not applied" in w for w in resolved.warnings)


def test_no_correction_keeps_ocr_text_and_origin() -> None:
    resolved = resolve_field("ruhiger Bezirk", None, (Replacement("Reser", "Resser"),))
    assert (resolved.text, resolved.origin, resolved.warnings) == ("ruhiger Bezirk", "ocr", ())


def test_replace_matches_across_unicode_forms() -> None:
    decomposed = unicodedata.normalize("NFD", "Kitaplatze für alle")
    resolved = resolve_field(decomposed, None, (Replacement("Kitaplatze für", "Kitaplätze für"),))
    assert resolved.text == "Kitaplätze für alle"


def test_text_made_against_older_ocr_is_kept_and_reported() -> None:
    field = FieldCorrection(text="gute Nachbarschaft", ocr_sha=ocr_fingerprint("ze Nnchbarschaft"))
    same = resolve_field("ze Nnchbarschaft", field)
    assert same.text == "gute Nachbarschaft" and same.warnings == ()
    changed = resolve_field("gu Nachbarschaft", field)
    assert changed.text == "gute Nachbarschaft" and changed.origin == "corrected"
    assert "OCR text has changed since this correction was made" in changed.warnings[0]


def test_untouched_entry_follows_the_ocr_also_a_newer_one() -> None:
    field = FieldCorrection(text="ze Nnchbarschaft", ocr_sha=ocr_fingerprint("ze Nnchbarschaft"))
    assert field.untouched
    resolved = resolve_field("gute Nachbarschaft", field)
    assert (resolved.text, resolved.origin, resolved.warnings) == ("gute Nachbarschaft", "ocr", ())


def test_replace_that_no_longer_occurs_is_reported() -> None:
    field = FieldCorrection(replace=(Replacement("Aneltze", "Kitaplätze"),))
    resolved = resolve_field("Mehr Kitaplätze", field)
    assert resolved.origin == "ocr"
    assert resolved.warnings == ("replace 'Aneltze': no longer occurs in the OCR text",)


def test_fingerprint_ignores_what_editors_change() -> None:
    fingerprint = ocr_fingerprint("eins\nzwei")
    assert len(fingerprint) == 12 and int(fingerprint, 16) >= 0
    assert ocr_fingerprint("eins  \nzwei\n\n") == fingerprint
    assert ocr_fingerprint("eins\r\nzwei") == fingerprint
    assert ocr_fingerprint(unicodedata.normalize("NFD", "Größe")) == ocr_fingerprint("Größe")
    assert ocr_fingerprint("eins\nzwei!") != fingerprint


def test_parse_corrections_reads_text_in_memory() -> None:
    corrections = parse_corrections("sheets:\n  a:\n    skip: true\n", "review.yaml")
    assert corrections.sheets["a"].skip
    with pytest.raises(CorrectionsError, match="review.yaml:3"):
        parse_corrections("sheets:\n  a:\n    skip: 3\n", "review.yaml")


# -- corrections init ---------------------------------------------------------------------


def test_init_lists_every_sheet_and_field_with_its_ocr_text(tmp_path: Path) -> None:
    out = copy_out(tmp_path)
    target = tmp_path / "corrections" / "event.yaml"

    code, _, err = run("corrections", "init", out, "-o", target)

    assert code == 0, err
    text = target.read_text(encoding="utf-8")
    corrections = load_corrections(target)
    assert sorted(corrections.sheets) == ["IMG_0001", "IMG_0002", "IMG_0003"]
    assert "IMG_0004: could not be read" in text  # named, as a comment
    for sheet_id in ("IMG_0001", "IMG_0002", "IMG_0003"):
        sheet = sheet_json(out, sheet_id)
        entry = corrections.sheets[sheet_id]
        assert list(entry.fields) == [f["id"] for f in sheet["fields"]]
        for field in sheet["fields"]:
            correction = entry.fields[field["id"]]
            assert correction.text == field["text"]
            assert correction.ocr_sha == ocr_fingerprint(field["text"])
            assert correction.untouched
            if field["label"]:
                assert f"# {field['label']}" in text
    # a backslash and typographic quotes survive the round trip
    assert "Akze tanz \\ ech de Lanln" in corrections.sheets["IMG_0002"].fields[
        "worauf_kommt_es_an"
    ].text.split("\n")


def test_init_file_unchanged_merges_like_no_corrections(tmp_path: Path) -> None:
    out = copy_out(tmp_path)
    target = tmp_path / "event.yaml"
    assert run("corrections", "init", out, "-o", target)[0] == 0
    assert run("merge", out, "-c", target, "-o", tmp_path / "a.json")[0] == 0
    assert run("merge", out, "-o", tmp_path / "b.json")[0] == 0
    assert (tmp_path / "a.json").read_text() == (tmp_path / "b.json").read_text()


def test_init_entries_follow_a_new_ocr_run_and_edited_ones_win(tmp_path: Path) -> None:
    out = copy_out(tmp_path)
    target = tmp_path / "event.yaml"
    assert run("corrections", "init", out, "-o", target)[0] == 0
    edited = target.read_text(encoding="utf-8").replace(
        "viele Vereine\n          ze Nnchbarschaft", "viele Vereine\n          gute Nachbarschaft"
    )
    target.write_text(edited, encoding="utf-8")
    set_ocr_text(out, "IMG_0002", "laeuft_gut", "viele Vereine\nguke Nachbarschaft")
    set_ocr_text(out, "IMG_0002", "worauf_kommt_es_an", "Akzeptanz durch Begegnung")

    code, _, err = run("merge", out, "-c", target, "-o", tmp_path / "p.json")

    assert code == 0
    assert "event.yaml:" in err and "sheets.IMG_0002.fields.laeuft_gut" in err
    assert "OCR text has changed" in err
    assert "worauf_kommt_es_an" not in err
    protocol = (tmp_path / "p.json").read_text(encoding="utf-8")
    assert "viele Vereine\\ngute Nachbarschaft" in protocol
    assert "Akzeptanz durch Begegnung" in protocol


def test_init_refuses_to_overwrite_without_force(tmp_path: Path) -> None:
    out = copy_out(tmp_path)
    target = write(tmp_path / "event.yaml", "# my corrections\nsheets: {}\n")

    code, _, err = run("corrections", "init", out, "-o", target)

    assert code == 2
    assert "exists" in err and "--force" in err
    assert target.read_text(encoding="utf-8") == "# my corrections\nsheets: {}\n"

    code, _, _ = run("corrections", "init", out, "-o", target, "--force")
    assert code == 0
    assert "IMG_0002" in target.read_text(encoding="utf-8")


def test_init_quotes_ids_yaml_would_misread(tmp_path: Path) -> None:
    out = copy_out(tmp_path)
    document = sheet_json(out, "IMG_0002")
    document["id"] = "2019-03-27"
    write(out / "2019-03-27.json", json.dumps(document, ensure_ascii=False))
    target = tmp_path / "event.yaml"
    assert run("corrections", "init", out, "-o", target)[0] == 0
    assert "2019-03-27" in load_corrections(target).sheets
    assert "'2019-03-27':" in target.read_text(encoding="utf-8")


def test_all_digit_fingerprint_is_read_as_written() -> None:
    corrections = parse_corrections(
        "sheets:\n  a:\n    fields:\n      f:\n        text: x\n        ocr_sha: 012345670123\n"
    )
    assert corrections.sheets["a"].fields["f"].ocr_sha == "012345670123"  # not 1402433619
