"""merge: sections, corrections applied and nothing else, stale corrections, the user's file."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import cv2
import jsonschema

from flipchart_ocr.schemas import load_schema
from flipchart_ocr.templates import Template

from .conftest import place_in_photo, render_sheet
from .fixtures import add_board, copy_out, run, set_ocr_text, sheet_json, write

CORRECTIONS = """\
# the reviewer's work: comments and order must survive merge and render
event:
  title: Integrationskonferenz Stadtbezirk Ost
  date: 2019-03-27
replace:
  "Reser Mat": "Resser Mark"
sheets:
  IMG_0002:
    fields:
      laeuft_gut:
        text: |
          viele Vereine
          gute Nachbarschaft
        ocr_sha: ca8f383d99cb
      worauf_kommt_es_an:
        replace: {"Anteile srl?": "Anlaufstelle im Stadtteil"}
"""


def merge(tmp_path: Path, corrections: str | None = CORRECTIONS) -> tuple[dict[str, Any], str]:
    out = tmp_path / "out" if (tmp_path / "out").exists() else copy_out(tmp_path)
    args: list[str | Path] = ["merge", out, "-o", tmp_path / "protocol.json"]
    if corrections is not None:
        args += ["-c", write(tmp_path / "corrections" / "event.yaml", corrections)]
    code, _, err = run(*args)
    assert code == 0, err
    return json.loads((tmp_path / "protocol.json").read_text(encoding="utf-8")), err


def fields_of(protocol: dict[str, Any], sheet_id: str) -> dict[str, dict[str, Any]]:
    sheet = next(s for s in protocol["sheets"] if s["id"] == sheet_id)
    return {f["id"]: f for f in sheet["fields"]}


def test_sections_follow_the_template_order_with_freeform_last(tmp_path: Path) -> None:
    protocol, err = merge(tmp_path, None)
    assert [s["template"] for s in protocol["sections"]] == ["austausch", "freeform"]
    assert protocol["sections"][0]["name"] == "Austausch zu Entwicklungen im Stadtbezirk"
    assert protocol["sections"][0]["sheets"] == ["IMG_0002", "IMG_0003"]
    assert [s["id"] for s in protocol["sheets"]] == ["IMG_0002", "IMG_0003", "IMG_0001"]
    # the unreadable photo is left out, with a warning naming it and why
    assert "IMG_0004: left out of the protocol: photos/IMG_0004.jpg: truncated image" in err
    assert protocol["omitted"] == [
        {"id": "IMG_0004", "reason": "unreadable", "detail": "photos/IMG_0004.jpg: truncated image"}
    ]


def test_protocol_validates_against_its_schema(tmp_path: Path) -> None:
    protocol, _ = merge(tmp_path)
    jsonschema.validate(protocol, load_schema("protocol"))
    assert protocol["schema_version"] == 1
    assert protocol["event"] == {
        "title": "Integrationskonferenz Stadtbezirk Ost",
        "date": "2019-03-27",
    }


def test_corrections_are_applied_and_nothing_else_changes(tmp_path: Path) -> None:
    protocol, err = merge(tmp_path)
    out = tmp_path / "out"
    assert [line for line in err.splitlines() if line.startswith("warning")] == [
        "warning: IMG_0004: left out of the protocol: photos/IMG_0004.jpg: truncated image"
    ]

    fields = fields_of(protocol, "IMG_0002")
    assert fields["laeuft_gut"]["text"] == "viele Vereine\ngute Nachbarschaft"
    assert fields["laeuft_gut"]["origin"] == "corrected"
    assert fields["laeuft_gut"]["ocr_text"] == "viele Vereine\nze Nnchbarschaft"
    assert fields["handlungsbedarfe"]["text"].endswith("Resser Mark beleben")  # file-wide
    assert fields["worauf_kommt_es_an"]["text"].endswith("Anlaufstelle im Stadtteil")

    changed = {
        ("IMG_0002", "laeuft_gut"),
        ("IMG_0002", "handlungsbedarfe"),
        ("IMG_0002", "worauf_kommt_es_an"),
        ("IMG_0003", "handlungsbedarfe"),  # file-wide replace
    }
    for sheet_id in ("IMG_0001", "IMG_0002", "IMG_0003"):
        recorded = sheet_json(out, sheet_id)
        merged = fields_of(protocol, sheet_id)
        assert list(merged) == [f["id"] for f in recorded["fields"]]
        for field in recorded["fields"]:
            got = merged[field["id"]]
            assert got["label"] == field["label"]
            assert got["confidence"] == field["confidence"]  # OCR's, also when corrected
            if (sheet_id, field["id"]) in changed:
                assert got["origin"] == "corrected" and got["text"] != field["text"]
            else:
                assert got["origin"] == "ocr" and got["text"] == field["text"]
                assert "ocr_text" not in got


def test_only_a_person_checks_a_field(tmp_path: Path) -> None:
    protocol, _ = merge(tmp_path, CORRECTIONS + "  IMG_0003:\n    reviewed: true\n")
    checked = {
        (s["id"], f["id"]): (f["origin"], f["checked"])
        for s in protocol["sheets"]
        for f in s["fields"]
    }
    assert checked[("IMG_0002", "laeuft_gut")] == ("corrected", True)  # typed text
    # a replace fixes a misreading; the rest of the field is still unread by anyone
    assert checked[("IMG_0002", "handlungsbedarfe")] == ("corrected", False)
    assert checked[("IMG_0002", "worauf_kommt_es_an")] == ("corrected", False)
    assert checked[("IMG_0001", "text")] == ("ocr", False)
    # a sheet marked reviewed: a person has compared every field with the photo
    assert {v[1] for k, v in checked.items() if k[0] == "IMG_0003"} == {True}


# -- a freeform field's blocks (cards, bullets, a heading) ---------------------------------

BOARD_BLOCKS = [
    {"text": "Ideen für den Stadtteil", "kind": "heading"},
    {"text": "Mehr Bänke\nam Marktplatz", "kind": "card"},
    {"text": "Spielplatz für\nKinder renovleren", "kind": "card"},
    {"text": "Open Space\nim Herbst", "kind": "card"},
    {"text": "- Kitaplätze", "kind": "bullet"},
    {"text": "- Sprachcafé im\nStadtteilbüro", "kind": "bullet"},
]


def board_field(tmp_path: Path, corrections: str | None = None) -> dict[str, Any]:
    add_board(copy_out(tmp_path))
    protocol, _ = merge(tmp_path, corrections)
    jsonschema.validate(protocol, load_schema("protocol"))
    return fields_of(protocol, "IMG_0101")["text"]


def test_blocks_from_ocr_group_the_lines_as_the_reader_did(tmp_path: Path) -> None:
    field = board_field(tmp_path)
    assert field["blocks"] == BOARD_BLOCKS
    assert "\n".join(b["text"] for b in field["blocks"]) == field["text"]


def test_blocks_carry_replacements_and_learned_fixes(tmp_path: Path) -> None:
    field = board_field(tmp_path, 'replace:\n  "renovleren": "renovieren"\n')
    assert field["blocks"][2] == {"text": "Spielplatz für\nKinder renovieren", "kind": "card"}


def test_blocks_of_a_corrected_text_are_its_paragraphs(tmp_path: Path) -> None:
    # the reviewer keeps the grouping: blank lines between the blocks, kinds stay
    paragraphs = [b["text"] for b in BOARD_BLOCKS]
    paragraphs[2] = "Spielplatz für Kinder renovieren"
    text = "\n\n".join(paragraphs)
    entry = "sheets:\n  IMG_0101:\n    fields:\n      text:\n        text: |\n"
    typed = entry + "".join(f"          {line}\n" for line in text.split("\n"))
    field = board_field(tmp_path, typed.replace("          \n", "\n"))
    assert field["origin"] == "corrected"
    assert [b["text"] for b in field["blocks"]] == paragraphs
    assert [b["kind"] for b in field["blocks"]] == [b["kind"] for b in BOARD_BLOCKS]

    # two paragraphs where the reader saw six blocks: the kinds no longer apply
    field = board_field(tmp_path / "b", entry + "          Ideen\n\n          Bänke\n")
    assert field["blocks"] == [{"text": "Ideen"}, {"text": "Bänke"}]


def test_a_rewritten_text_drops_the_blocks_but_no_text(tmp_path: Path) -> None:
    entry = "sheets:\n  IMG_0101:\n    fields:\n      text:\n        text: Alles neu\n"
    field = board_field(tmp_path, entry)
    assert field["text"] == "Alles neu" and "blocks" not in field


def test_blocks_that_miss_a_line_are_not_trusted(tmp_path: Path) -> None:
    out = copy_out(tmp_path)
    add_board(out)
    document = sheet_json(out, "IMG_0101")
    del document["fields"][0]["blocks"][3]  # "Open Space / im Herbst" in no block
    (out / "IMG_0101.json").write_text(json.dumps(document, ensure_ascii=False), "utf-8")
    protocol, _ = merge(tmp_path, None)
    field = fields_of(protocol, "IMG_0101")["text"]
    assert "blocks" not in field and "Open Space\nim Herbst" in field["text"]


def test_sheet_image_is_recorded_relative_to_the_protocol(tmp_path: Path) -> None:
    protocol, _ = merge(tmp_path)
    for sheet in protocol["sheets"]:
        assert sheet["image"] == f"out/{sheet['id']}.sheet.jpg"
        assert (tmp_path / sheet["image"]).is_file()
        assert sheet["source"]["path"] == f"photos/{sheet['id']}.jpg"


def test_skip_leaves_the_sheet_out(tmp_path: Path) -> None:
    protocol, _ = merge(tmp_path, "sheets:\n  IMG_0003:\n    skip: true\n")
    assert [s["id"] for s in protocol["sheets"]] == ["IMG_0002", "IMG_0001"]
    skipped = next(o for o in protocol["omitted"] if o["id"] == "IMG_0003")
    assert skipped["reason"] == "skip"
    assert skipped["detail"].endswith("event.yaml:2: skip: true")


def test_corrections_file_is_byte_identical_after_merge_and_render(tmp_path: Path) -> None:
    out = copy_out(tmp_path)
    corrections = write(tmp_path / "corrections" / "event.yaml", CORRECTIONS)
    before = hashlib.sha256(corrections.read_bytes()).hexdigest()
    stat = corrections.stat()

    assert run("merge", out, "-c", corrections, "-o", tmp_path / "p.json")[0] == 0
    for suffix in ("md", "html", "csv"):
        assert run("render", tmp_path / "p.json", "-o", tmp_path / f"p.{suffix}")[0] == 0
    assert run("corrections", "check", corrections, out)[0] == 0

    assert hashlib.sha256(corrections.read_bytes()).hexdigest() == before
    assert corrections.stat().st_mtime_ns == stat.st_mtime_ns
    assert sorted(p.name for p in corrections.parent.iterdir()) == ["event.yaml"]


def test_merge_refuses_to_write_over_the_corrections(tmp_path: Path) -> None:
    out = copy_out(tmp_path)
    corrections = write(tmp_path / "event.yaml", CORRECTIONS)
    code, _, err = run("merge", out, "-c", corrections, "-o", corrections)
    assert code == 2 and "is an input of this command" in err
    assert corrections.read_text(encoding="utf-8") == CORRECTIONS


# -- corrections that may no longer fit ---------------------------------------------------


def test_stale_text_correction_is_kept_and_reported(tmp_path: Path) -> None:
    out = copy_out(tmp_path)
    set_ocr_text(out, "IMG_0002", "laeuft_gut", "viele Vereine\nguke Nachbarschaft")
    protocol, err = merge(tmp_path)
    assert fields_of(protocol, "IMG_0002")["laeuft_gut"]["text"] == (
        "viele Vereine\ngute Nachbarschaft"
    )
    expected = "event.yaml:10: sheets.IMG_0002.fields.laeuft_gut: the OCR text has changed"
    assert expected in err
    assert any(expected in w for w in protocol["warnings"])


def test_stale_replacements_are_reported(tmp_path: Path) -> None:
    out = copy_out(tmp_path)
    set_ocr_text(out, "IMG_0002", "worauf_kommt_es_an", "Anlaufstelle im Stadtteil")
    for sheet_id in ("IMG_0002", "IMG_0003"):
        set_ocr_text(out, sheet_id, "handlungsbedarfe", "Resser Mark beleben")
    _, err = merge(tmp_path)
    assert "event.yaml:6: replace 'Reser Mat': occurs in no OCR text" in err
    assert (
        "event.yaml:15: sheets.IMG_0002.fields.worauf_kommt_es_an:"
        " replace 'Anteile srl?': no longer occurs in the OCR text"
    ) in err


def test_template_override_not_yet_processed_keeps_the_sheet_and_says_what_to_run(
    tmp_path: Path,
) -> None:
    protocol, err = merge(
        tmp_path,
        "sheets:\n  IMG_0001:\n    template: austausch\n"
        "    fields:\n      laeuft_gut:\n        text: Natur\n",
    )
    assert "sheets.IMG_0001.template: the corrections file says 'austausch'" in err
    assert "read as 'freeform'" in err
    assert "flipchart-ocr process photos/IMG_0001.jpg -o" in err
    assert "sheets.IMG_0001.fields.laeuft_gut: not applied" in err
    assert protocol["sections"][-1] == {
        "template": "freeform",
        "name": "Freies Blatt",
        "sheets": ["IMG_0001"],
    }


def test_broken_sheet_json_is_named_and_the_rest_is_merged(tmp_path: Path) -> None:
    out = copy_out(tmp_path)
    (out / "IMG_0003.json").write_text('{"id": "IMG_0003", "source": ', encoding="utf-8")
    # its corrections are not called unknown: the broken file is the problem to name
    corrections = write(tmp_path / "event.yaml", "sheets:\n  IMG_0003:\n    skip: false\n")
    code, _, err = run("merge", out, "-c", corrections, "-o", tmp_path / "p.json")
    assert code == 1
    assert "IMG_0003.json: not a readable JSON file" in err
    assert "no such sheet" not in err
    protocol = json.loads((tmp_path / "p.json").read_text(encoding="utf-8"))
    assert [s["id"] for s in protocol["sheets"]] == ["IMG_0002", "IMG_0001"]
    # listed with the unreadable photo, so that render can name both
    assert [(o["id"], o["reason"]) for o in protocol["omitted"]] == [
        ("IMG_0003", "corrupt"),
        ("IMG_0004", "unreadable"),
    ]
    assert protocol["omitted"][0]["detail"].startswith("IMG_0003.json: not a readable JSON file")
    jsonschema.validate(protocol, load_schema("protocol"))


def test_an_invalid_sheet_json_is_omitted_as_corrupt(tmp_path: Path) -> None:
    out = copy_out(tmp_path)
    document = sheet_json(out, "IMG_0003")
    document["fields"][0]["confidence"] = "hoch"
    (out / "IMG_0003.json").write_text(json.dumps(document), encoding="utf-8")
    code, _, err = run("merge", out, "-o", tmp_path / "p.json")
    assert code == 1 and "IMG_0003.json: not a valid sheet JSON" in err
    protocol = json.loads((tmp_path / "p.json").read_text(encoding="utf-8"))
    corrupt = protocol["omitted"][0]
    assert corrupt["id"] == "IMG_0003" and corrupt["reason"] == "corrupt"
    assert "fields/0/confidence" in corrupt["detail"]


def test_a_protocol_inside_the_output_folder_is_ignored(tmp_path: Path) -> None:
    out = copy_out(tmp_path)
    assert run("merge", out, "-o", out / "protocol.json")[0] == 0
    code, _, err = run("merge", out, "-o", out / "protocol.json")
    assert code == 0
    assert "protocol.json: not a sheet JSON, ignored" in err
    protocol = json.loads((out / "protocol.json").read_text(encoding="utf-8"))
    assert protocol["sheets"][0]["image"] == "IMG_0002.sheet.jpg"


def test_missing_or_empty_output_folder_is_bad_usage(tmp_path: Path) -> None:
    code, _, err = run("merge", tmp_path / "nope", "-o", tmp_path / "p.json")
    assert code == 2 and "no such folder" in err
    (tmp_path / "empty").mkdir()
    code, _, err = run("merge", tmp_path / "empty", "-o", tmp_path / "p.json")
    assert code == 2 and "no sheet JSON files" in err
    assert not (tmp_path / "p.json").exists()


# -- end to end, with real OCR ------------------------------------------------------------


def _photo(path: Path, template: Template, texts: dict[str, list[str]]) -> Path:
    sheet = render_sheet(template, texts, height=1200)
    photo = place_in_photo(sheet, [[120, 80], [980, 100], [1000, 1330], [100, 1310]], (1100, 1400))
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), photo)
    return path


def test_corrections_survive_a_new_ocr_run(tmp_path: Path, templates: dict[str, Template]) -> None:
    """init, fix a field, re-photograph the sheet, process again: the fix wins and is flagged."""
    photo = tmp_path / "photos" / "IMG_0100.jpg"
    out = tmp_path / "out"
    corrections = tmp_path / "corrections" / "event.yaml"
    austausch = templates["austausch"]
    _photo(photo, austausch, {"laeuft_gut": ["ruhiger Bezirk"], "handlungsbedarfe": ["Kitas"]})
    assert run("process", photo, "-o", out, "--template", "austausch")[0] == 0
    assert run("corrections", "init", out, "-o", corrections)[0] == 0
    first_ocr = sheet_json(out, "IMG_0100")["fields"][0]["text"]
    text = corrections.read_text(encoding="utf-8")
    field_entry = f"      laeuft_gut:\n        # {austausch.fields[0].label}"
    assert field_entry in text
    # the reviewer replaces the first field's text, whatever OCR made of it
    start = text.index("text:", text.index(field_entry))
    end = text.index("ocr_sha:", start)
    corrections.write_text(
        text[:start] + "text: Ruhiger Bezirk am Resser Mark\n        " + text[end:],
        encoding="utf-8",
    )

    _photo(photo, austausch, {"laeuft_gut": ["lauter Bezirk"], "handlungsbedarfe": ["Kitas"]})
    assert run("process", photo, "-o", out, "--template", "austausch")[0] == 0
    assert sheet_json(out, "IMG_0100")["fields"][0]["text"] != first_ocr

    code, _, err = run("merge", out, "-c", corrections, "-o", tmp_path / "p.json")

    assert code == 0, err
    assert "sheets.IMG_0100.fields.laeuft_gut: the OCR text has changed" in err
    protocol = json.loads((tmp_path / "p.json").read_text(encoding="utf-8"))
    fields = fields_of(protocol, "IMG_0100")
    assert fields["laeuft_gut"]["text"] == "Ruhiger Bezirk am Resser Mark"
    assert fields["laeuft_gut"]["origin"] == "corrected"
    assert fields["handlungsbedarfe"]["origin"] == "ocr"  # untouched entry follows the OCR
