"""The review app through Flask's test client, on sample photos read by the real pipeline.

Saving (text + ocr_sha, comments and order kept, atomic, backup), the refusals
(changed on disk, foreign Host or Origin, path tricks, invalid edits) and the
overview. The browser itself is driven in ``test_review_browser.py``.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import unicodedata
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml
from flask.testing import FlaskClient
from PIL import Image

from flipchart_ocr.corrections import load_corrections, ocr_fingerprint, starting_file
from flipchart_ocr.document import Sheet
from flipchart_ocr.errors import CorrectionsError, UsageError
from flipchart_ocr.merge import load_sheets, merge
from flipchart_ocr.review import create_app, default_corrections_path, make_review_server
from flipchart_ocr.review.store import (
    CorrectionsStore,
    SheetEdit,
    file_version,
)
from flipchart_ocr.templates import load_templates
from flipchart_ocr.wordlists import is_known

from .fixtures import FIXTURE_OUT, copy_out, run, set_ocr_text, sheet_json, write

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_PHOTOS = (
    "austausch-01-dkg-blue.jpg",
    "themensammlung-01-femke-blue.jpg",
    "freeform-01-steve-mixed.jpg",
)
AUSTAUSCH = "austausch-01-dkg-blue"
THEMEN = "themensammlung-01-femke-blue"
BROKEN = "broken-photo"
PORT = 8123
BASE = f"http://127.0.0.1:{PORT}"

_processed: dict[str, Path] = {}


def process_samples_once(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """OUT of `process` on three committed samples and one truncated photo, once per run.

    Shared with the browser tests (which import this), so the pipeline runs once.
    """
    if "out" not in _processed:
        base = tmp_path_factory.mktemp("review")
        photos = base / "photos"
        photos.mkdir()
        for name in SAMPLE_PHOTOS:
            shutil.copy(ROOT / "samples" / name, photos / name)
        # a photo that cannot be read: its sheet JSON says so with `template: null`
        data = (ROOT / "samples" / SAMPLE_PHOTOS[0]).read_bytes()
        (photos / f"{BROKEN}.jpg").write_bytes(data[:3000])
        out = base / "out"
        code, _, stderr = run("process", photos, "-o", out, "--jobs", "2")
        assert code == 1, stderr  # the truncated photo fails, the rest is written
        assert sheet_json(out, BROKEN)["template"] is None
        _processed["out"] = out
    return _processed["out"]


@pytest.fixture(scope="session")
def out_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return process_samples_once(tmp_path_factory)


def field_ocr(out: Path, sheet_id: str, field_id: str) -> str:
    document = sheet_json(out, sheet_id)
    return next(f["text"] for f in document["fields"] if f["id"] == field_id)


def make_client(out: Path, corrections: Path) -> FlaskClient:
    app = create_app(out, corrections, port=PORT)
    app.testing = True
    return app.test_client()


@pytest.fixture
def corrections(tmp_path: Path) -> Path:
    return tmp_path / "corrections" / "event.yaml"


@pytest.fixture
def client(out_dir: Path, corrections: Path) -> FlaskClient:
    return make_client(out_dir, corrections)


def state(client: FlaskClient, sheet_id: str = AUSTAUSCH) -> dict[str, Any]:
    response = client.get(f"/api/sheets/{sheet_id}", base_url=BASE)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def save(
    client: FlaskClient,
    body: dict[str, Any],
    sheet_id: str = AUSTAUSCH,
    headers: dict[str, str] | None = None,
    **kwargs: Any,
) -> Any:
    """POST a save as the page does: our Origin, JSON, each field with the text it loaded.

    A field given as a plain text is sent with the field's current text as its base.
    """
    fields = body.get("fields")
    if isinstance(fields, dict) and any(isinstance(v, str) for v in fields.values()):
        shown = {f["id"]: f["text"] for f in state(client, sheet_id)["fields"]}
        sent = {
            k: {"text": v, "base": shown.get(k, "")} if isinstance(v, str) else v
            for k, v in fields.items()
        }
        body = {**body, "fields": sent}
    return client.post(
        f"/api/sheets/{sheet_id}/save",
        json=body,
        base_url=BASE,
        headers={"Origin": BASE, **(headers or {})},
        **kwargs,
    )


HAND_WRITTEN = """\
# Corrections for the workshop, kept by hand.
event:
  title: Integrationskonferenz  # printed on top
  date: 2019-03-27
replace:
  no: nein
  "Reser Mat": 'Resser Mark'
sheets:
  # the Austausch sheet
  austausch-01-dkg-blue:
    fields:
      laeuft_gut:
        text: Räumlichkeiten für alle Gruppen  # fixed by hand
        # handlungsbedarfe still to do
      worauf_kommt_es_an:
        replace: {"Eiranet": "Ehrenamt"}
  # the freeform sheet: leave it out
  freeform-01-steve-mixed:
    skip: yes
# end of file
"""


def write_hand_written(path: Path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(HAND_WRITTEN, encoding="utf-8")
    return HAND_WRITTEN


def comment_lines(text: str) -> list[str]:
    return [line.split("#", 1)[1].strip() for line in text.splitlines() if "#" in line]


# -- saving -------------------------------------------------------------------------------


def test_saving_a_field_writes_text_and_the_fingerprint_of_its_ocr(
    client: FlaskClient, corrections: Path, out_dir: Path
) -> None:
    ocr = field_ocr(out_dir, AUSTAUSCH, "handlungsbedarfe")
    typed = "Zusammenhalt aller Vereine\r\ngenerationsübergreifend  \n\n"

    response = save(client, {"fields": {"handlungsbedarfe": typed}})

    assert response.status_code == 200, response.get_data(as_text=True)
    result = response.get_json()
    assert result["changed"] is True
    entry = yaml.safe_load(corrections.read_text(encoding="utf-8"))["sheets"][AUSTAUSCH]
    field = entry["fields"]["handlungsbedarfe"]
    # canonical: line ends unified, trailing spaces and blank lines dropped
    assert field["text"] == "Zusammenhalt aller Vereine\ngenerationsübergreifend"
    assert field["ocr_sha"] == ocr_fingerprint(ocr)
    # the page gets the file's new version and the field as merge will see it
    assert result["version"] == file_version(corrections.read_bytes())
    saved = next(f for f in result["fields"] if f["id"] == "handlungsbedarfe")
    assert saved["origin"] == "corrected"
    # and merge takes it
    folder = load_sheets(out_dir)
    protocol = merge(
        folder.sheets, load_corrections(corrections), load_templates(), out_dir / "p.json"
    ).protocol
    merged = next(s for s in protocol["sheets"] if s["id"] == AUSTAUSCH)
    merged_field = next(f for f in merged["fields"] if f["id"] == "handlungsbedarfe")
    assert merged_field["text"] == "Zusammenhalt aller Vereine\ngenerationsübergreifend"
    assert merged_field["origin"] == "corrected"


def test_a_new_file_starts_with_a_header_and_the_page_is_told(
    client: FlaskClient, corrections: Path
) -> None:
    assert state(client)["version"] == "absent"
    assert "created at the first save" in client.get("/", base_url=BASE).get_data(as_text=True)

    save(client, {"fields": {"laeuft_gut": "Räume für alle"}})

    text = corrections.read_text(encoding="utf-8")
    assert text.startswith("# Corrections for the sheets in ")
    assert not corrections.with_name("event.yaml.bak").exists()  # nothing to back up


def test_submitted_text_is_stored_in_nfc(client: FlaskClient, corrections: Path) -> None:
    decomposed = unicodedata.normalize("NFD", "Räume für Begegnung")
    assert decomposed != "Räume für Begegnung"

    save(client, {"fields": {"laeuft_gut": decomposed}})

    stored = load_corrections(corrections).sheets[AUSTAUSCH].fields["laeuft_gut"].text
    assert stored == "Räume für Begegnung"
    assert unicodedata.is_normalized("NFC", corrections.read_text(encoding="utf-8"))


def test_comments_order_and_hand_written_entries_survive(
    client: FlaskClient, corrections: Path, out_dir: Path
) -> None:
    before = write_hand_written(corrections)

    response = save(
        client,
        {"fields": {"handlungsbedarfe": "Zusammenhalt\naller Vereine"}, "reviewed": True},
    )

    assert response.status_code == 200, response.get_data(as_text=True)
    after = corrections.read_text(encoding="utf-8")
    assert comment_lines(after) == comment_lines(before)
    # every line written by hand is still there, in its order
    lines = iter(after.splitlines())
    for line in before.splitlines():
        assert any(line == candidate for candidate in lines), f"lost or moved: {line!r}"
    # scalars as written: no `date` object, `no` stays a key, `yes` stays `yes`
    assert "  date: 2019-03-27\n" in after
    assert "  no: nein\n" in after
    assert "    skip: yes\n" in after
    # the new entry sits with its sheet, before the comment that belongs to the next sheet
    new = after.index("      handlungsbedarfe:")
    assert after.index("# handlungsbedarfe still to do") < new
    assert new < after.index("# the freeform sheet")
    assert after.index("    reviewed: true") < after.index("    fields:")
    entry = load_corrections(corrections).sheets[AUSTAUSCH]
    assert entry.reviewed is True
    assert entry.fields["laeuft_gut"].text == "Räumlichkeiten für alle Gruppen"
    assert entry.fields["handlungsbedarfe"].ocr_sha == ocr_fingerprint(
        field_ocr(out_dir, AUSTAUSCH, "handlungsbedarfe")
    )


def test_a_field_set_back_to_its_ocr_text_loses_its_correction(
    client: FlaskClient, corrections: Path, out_dir: Path
) -> None:
    write_hand_written(corrections)
    ocr = field_ocr(out_dir, AUSTAUSCH, "laeuft_gut")

    response = save(client, {"fields": {"laeuft_gut": ocr + "\n"}})

    assert response.status_code == 200, response.get_data(as_text=True)
    after = corrections.read_text(encoding="utf-8")
    assert "laeuft_gut" not in after
    assert "Räumlichkeiten" not in after
    # the comment line after the removed entry belongs to what follows: it stays
    assert "# handlungsbedarfe still to do" in after
    assert "worauf_kommt_es_an:" in after
    saved = next(f for f in response.get_json()["fields"] if f["id"] == "laeuft_gut")
    assert saved == {**saved, "origin": "ocr", "text": ocr}


def test_an_unchanged_save_writes_nothing(client: FlaskClient, corrections: Path) -> None:
    write_hand_written(corrections)
    current = next(f for f in state(client)["fields"] if f["id"] == "laeuft_gut")["text"]

    response = save(client, {"fields": {"laeuft_gut": current}})

    assert response.get_json()["changed"] is False
    assert corrections.read_text(encoding="utf-8") == HAND_WRITTEN
    assert not corrections.with_name("event.yaml.bak").exists()


def test_sheet_marks_reviewed_skip_and_template(
    client: FlaskClient, corrections: Path, out_dir: Path
) -> None:
    response = save(client, {"reviewed": True, "skip": True}, sheet_id=THEMEN)
    assert response.status_code == 200, response.get_data(as_text=True)
    entry = load_corrections(corrections).sheets[THEMEN]
    assert (entry.reviewed, entry.skip) == (True, True)
    # merge honours `skip`
    folder = load_sheets(out_dir)
    result = merge(folder.sheets, load_corrections(corrections), load_templates(), out_dir / "p")
    assert (THEMEN, "skip") in {(o["id"], o["reason"]) for o in result.protocol["omitted"]}

    response = save(client, {"skip": False, "template": "freeform"}, sheet_id=THEMEN)
    assert response.status_code == 200, response.get_data(as_text=True)
    entry = load_corrections(corrections).sheets[THEMEN]
    assert (entry.reviewed, entry.skip, entry.template) == (True, False, "freeform")
    assert response.get_json()["templateOverride"] == "freeform"

    save(client, {"reviewed": False, "template": ""}, sheet_id=THEMEN)
    # the sheet entry stays, empty, as a person might have written it
    assert yaml.safe_load(corrections.read_text(encoding="utf-8"))["sheets"] == {THEMEN: None}


def test_write_is_atomic_keeps_the_mode_and_a_backup(
    client: FlaskClient, corrections: Path
) -> None:
    write_hand_written(corrections)
    corrections.chmod(0o640)

    save(client, {"fields": {"laeuft_gut": "Räume"}})

    backup = corrections.with_name("event.yaml.bak")
    assert backup.read_text(encoding="utf-8") == HAND_WRITTEN
    assert stat.S_IMODE(corrections.stat().st_mode) == 0o640
    assert stat.S_IMODE(backup.stat().st_mode) == 0o640  # not more readable than the file
    assert sorted(p.name for p in corrections.parent.iterdir()) == ["event.yaml", "event.yaml.bak"]


def test_a_failed_write_leaves_the_file_as_it_was(
    client: FlaskClient, corrections: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_hand_written(corrections)
    real_replace = os.replace

    def crash_on_the_corrections_file(src: Any, dst: Any) -> None:
        if Path(dst) == corrections:
            raise OSError(28, "No space left on device")
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", crash_on_the_corrections_file)
    with pytest.raises(OSError):
        save(client, {"fields": {"laeuft_gut": "Räume"}})

    assert corrections.read_text(encoding="utf-8") == HAND_WRITTEN
    assert not [p for p in corrections.parent.iterdir() if p.name.endswith(".tmp")]


def test_a_symlinked_file_is_written_through_the_link(out_dir: Path, tmp_path: Path) -> None:
    target = tmp_path / "real" / "event.yaml"
    write_hand_written(target)
    link = tmp_path / "event.yaml"
    link.symlink_to(target)

    save(make_client(out_dir, link), {"fields": {"laeuft_gut": "Räume"}})

    assert link.is_symlink()
    assert "Räume" in target.read_text(encoding="utf-8")


# -- changed on disk: merged per field ----------------------------------------------------


def fields_body(client: FlaskClient, texts: dict[str, str], sheet_id: str = AUSTAUSCH) -> dict:
    """A save body as a page that loaded the sheet now would send it later."""
    shown = {f["id"]: f["text"] for f in state(client, sheet_id)["fields"]}
    return {"fields": {k: {"text": v, "base": shown[k]} for k, v in texts.items()}}


def test_a_comment_added_on_disk_meanwhile_does_not_block_a_save(
    client: FlaskClient, corrections: Path
) -> None:
    write_hand_written(corrections)
    body = fields_body(client, {"handlungsbedarfe": "Räume"})  # the page loads
    edited_elsewhere = HAND_WRITTEN.replace("# end of file", "# end of file, edited in vim")
    corrections.write_text(edited_elsewhere, encoding="utf-8")

    response = save(client, body)

    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json()["conflicts"] == []
    after = corrections.read_text(encoding="utf-8")
    assert "# end of file, edited in vim" in after
    assert load_corrections(corrections).sheets[AUSTAUSCH].fields["handlungsbedarfe"].text == (
        "Räume"
    )


def test_edits_of_other_fields_and_sheets_meanwhile_are_merged(
    client: FlaskClient, corrections: Path
) -> None:
    write_hand_written(corrections)
    tab_b = fields_body(client, {"handlungsbedarfe": "von Tab B"})  # both tabs load
    tab_a = fields_body(client, {"worauf_kommt_es_an": "von Tab A"})
    themen = state(client, THEMEN)["fields"][0]
    other_sheet = {"fields": {themen["id"]: {"text": "Thema X", "base": themen["text"]}}}

    assert save(client, tab_a).status_code == 200
    assert save(client, other_sheet, sheet_id=THEMEN).status_code == 200
    response = save(client, tab_b)

    assert response.status_code == 200
    assert response.get_json()["conflicts"] == []
    loaded = load_corrections(corrections)
    fields = loaded.sheets[AUSTAUSCH].fields
    assert fields["handlungsbedarfe"].text == "von Tab B"
    assert fields["worauf_kommt_es_an"].text == "von Tab A"
    assert fields["laeuft_gut"].text == "Räumlichkeiten für alle Gruppen"  # by hand, kept
    assert loaded.sheets[THEMEN].fields[themen["id"]].text == "Thema X"
    assert comment_lines(corrections.read_text(encoding="utf-8")) == comment_lines(HAND_WRITTEN)


def test_a_clash_on_the_same_field_is_refused_with_both_texts(
    client: FlaskClient, corrections: Path
) -> None:
    write_hand_written(corrections)
    tab_b = fields_body(client, {"handlungsbedarfe": "von Tab B", "worauf_kommt_es_an": "B2"})
    assert save(client, {"fields": {"handlungsbedarfe": "von Tab A"}}).status_code == 200
    before = corrections.read_text(encoding="utf-8")

    response = save(client, tab_b)

    assert response.status_code == 200
    result = response.get_json()
    assert result["conflicts"] == [
        {"field": "handlungsbedarfe", "theirs": "von Tab A", "yours": "von Tab B"}
    ]
    fields = load_corrections(corrections).sheets[AUSTAUSCH].fields
    assert fields["handlungsbedarfe"].text == "von Tab A"  # the clash: nothing overwritten
    assert fields["worauf_kommt_es_an"].text == "B2"  # the rest of the save went through
    assert corrections.read_text(encoding="utf-8") != before
    # choosing "keep mine": the page sends again against what the file has now
    keep = {"fields": {"handlungsbedarfe": {"text": "von Tab B", "base": "von Tab A"}}}
    assert save(client, keep).get_json()["conflicts"] == []
    assert load_corrections(corrections).sheets[AUSTAUSCH].fields["handlungsbedarfe"].text == (
        "von Tab B"
    )


def test_the_same_text_typed_in_two_tabs_is_no_clash(
    client: FlaskClient, corrections: Path
) -> None:
    tab_b = fields_body(client, {"handlungsbedarfe": "gleich"})
    save(client, {"fields": {"handlungsbedarfe": "gleich"}})
    assert save(client, tab_b).get_json()["conflicts"] == []


def test_a_file_created_on_disk_meanwhile_is_merged_not_overwritten(
    client: FlaskClient, corrections: Path
) -> None:
    body = fields_body(client, {"laeuft_gut": "Räume", "handlungsbedarfe": "Neu"})
    write_hand_written(corrections)  # e.g. `corrections init` in another terminal

    response = save(client, body)

    assert [c["field"] for c in response.get_json()["conflicts"]] == ["laeuft_gut"]
    after = corrections.read_text(encoding="utf-8")
    assert comment_lines(after) == comment_lines(HAND_WRITTEN)
    fields = load_corrections(corrections).sheets[AUSTAUSCH].fields
    assert fields["laeuft_gut"].text == "Räumlichkeiten für alle Gruppen"
    assert fields["handlungsbedarfe"].text == "Neu"


def test_the_store_merges_again_when_an_editor_writes_while_it_saves(
    out_dir: Path, corrections: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_hand_written(corrections)
    sheets = [s.sheet for s in load_sheets(out_dir).sheets]
    store = CorrectionsStore(corrections, sheets, load_templates())
    real_check = store._check_edit
    writes = []

    def editor_saves_meanwhile(*args: Any) -> Any:
        result = real_check(*args)
        if not writes:
            writes.append(1)
            corrections.write_text(HAND_WRITTEN + "# meanwhile\n", encoding="utf-8")
        return result

    monkeypatch.setattr(store, "_check_edit", editor_saves_meanwhile)
    result = store.save(SheetEdit(AUSTAUSCH, {"handlungsbedarfe": "Räume"}))

    assert result.changed
    text = corrections.read_text(encoding="utf-8")
    assert text.endswith("# meanwhile\n")
    assert load_corrections(corrections).sheets[AUSTAUSCH].fields["handlungsbedarfe"].text == (
        "Räume"
    )


# -- refusals -----------------------------------------------------------------------------


@pytest.mark.parametrize("host", ["evil.example:8123", "127.0.0.1:9999", "localhost", "[::1]:8123"])
def test_a_foreign_host_header_is_refused(client: FlaskClient, host: str) -> None:
    # DNS rebinding: evil.example resolves to 127.0.0.1, the browser sends its name
    assert client.get("/", base_url=f"http://{host}").status_code == 403
    assert (
        client.get(f"/sheets/{AUSTAUSCH}/sheet.jpg", base_url=f"http://{host}").status_code == 403
    )


def test_both_of_our_own_names_are_accepted(client: FlaskClient) -> None:
    for base in (f"http://127.0.0.1:{PORT}", f"http://localhost:{PORT}"):
        assert client.get("/", base_url=base).status_code == 200


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "http://evil.example"},
        {"Origin": f"http://127.0.0.1:{PORT + 1}"},
        {"Origin": "null"},
        {"Origin": "", "Referer": "http://evil.example/page"},
    ],
)
def test_a_post_from_a_foreign_origin_is_refused(
    client: FlaskClient, corrections: Path, headers: dict[str, str]
) -> None:
    write_hand_written(corrections)

    response = save(client, {"fields": {"laeuft_gut": "gehackt"}}, headers=headers)

    assert response.status_code == 403
    assert corrections.read_text(encoding="utf-8") == HAND_WRITTEN


def test_a_post_without_origin_needs_our_referer(client: FlaskClient, corrections: Path) -> None:
    body = fields_body(client, {"laeuft_gut": "Räume"})
    url = f"/api/sheets/{AUSTAUSCH}/save"

    without = client.post(url, json=body, base_url=BASE)
    assert without.status_code == 403
    assert not corrections.exists()

    ours = client.post(url, json=body, base_url=BASE, headers={"Referer": f"{BASE}/sheets/x"})
    assert ours.status_code == 200


def test_a_form_post_is_refused_even_from_our_origin(
    client: FlaskClient, corrections: Path
) -> None:
    # JSON only: a foreign page cannot send JSON without a CORS preflight we never answer
    response = client.post(
        f"/api/sheets/{AUSTAUSCH}/save",
        data={"version": "absent", "fields": "x"},
        base_url=BASE,
        headers={"Origin": BASE},
    )
    assert response.status_code == 415
    assert not corrections.exists()


@pytest.mark.parametrize(
    "path",
    [
        "/sheets/nope/sheet.jpg",
        "/sheets/../sheet.jpg",
        "/sheets/..%2F..%2Fetc%2Fpasswd/sheet.jpg",
        f"/sheets/{AUSTAUSCH}%2F..%2F{AUSTAUSCH}/thumb.jpg",
        "/sheets/%2Fetc%2Fpasswd/thumb.jpg",
        f"/sheets/{AUSTAUSCH}/fields/nope.jpg",
        f"/sheets/{AUSTAUSCH}/fields/..%2F..%2Fsecret.jpg",
        f"/sheets/{BROKEN}/sheet.jpg",
        f"/sheets/{BROKEN}",
        "/api/sheets/nope",
    ],
)
def test_image_routes_take_known_ids_only(client: FlaskClient, path: str) -> None:
    assert client.get(path, base_url=BASE).status_code == 404


def test_a_field_crop_is_the_field_box_of_the_sheet_image(
    client: FlaskClient, out_dir: Path
) -> None:
    response = client.get(f"/sheets/{AUSTAUSCH}/fields/handlungsbedarfe.jpg", base_url=BASE)

    assert response.status_code == 200
    assert response.mimetype == "image/jpeg"
    field = next(
        f for f in sheet_json(out_dir, AUSTAUSCH)["fields"] if f["id"] == "handlungsbedarfe"
    )
    with Image.open(io.BytesIO(response.data)) as crop:
        assert crop.size == (field["box"][2], field["box"][3])


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"fields": {"no_such_field": "x"}}, "no field 'no_such_field'"),
        ({"fields": {"laeuft_gut": 42}}, "expected {text, base}"),
        ({"fields": {"laeuft_gut": {"text": "x"}}}, "expected 'base' as text"),
        ({"fields": ["laeuft_gut"]}, "'fields' must map"),
        ({"skip": "yes"}, "'skip' must be true or false"),
        ({"template": "no_such_template"}, "unknown template 'no_such_template'"),
    ],
)
def test_malformed_edits_are_refused_and_the_file_is_unchanged(
    client: FlaskClient, corrections: Path, body: dict[str, Any], message: str
) -> None:
    write_hand_written(corrections)

    response = save(client, body)

    assert response.status_code == 400
    assert message in response.get_json()["error"]
    assert corrections.read_text(encoding="utf-8") == HAND_WRITTEN


def test_a_template_change_carries_over_and_keeps_the_rest_as_comments(
    client: FlaskClient, corrections: Path
) -> None:
    write_hand_written(corrections)

    # the file has field entries for austausch; themensammlung has no such fields
    response = save(client, {"template": "themensammlung", "templateBase": ""})

    assert response.status_code == 200, response.get_data(as_text=True)
    result = response.get_json()
    assert result["setAside"] == ["laeuft_gut", "worauf_kommt_es_an"]
    assert "kept as comments" in result["message"]
    after = corrections.read_text(encoding="utf-8")
    entry = load_corrections(corrections).sheets[AUSTAUSCH]  # valid, and loads
    assert entry.template == "themensammlung" and entry.fields == {}
    # the typed text and the replace entry stay in the file, visible, as comments
    assert "#   laeuft_gut:" in after
    assert "#     text: Räumlichkeiten für alle Gruppen" in after
    assert '#     replace: {"Eiranet": "Ehrenamt"}' in after
    assert after.index("set aside by the review app") < after.index("# the freeform sheet")
    for comment in comment_lines(HAND_WRITTEN):
        assert comment in after
    # the page's fields of the old template are read-only until the photo is read again
    assert not any(f["editable"] for f in state(client)["fields"])


def test_a_template_change_after_corrections_init_saves(
    client: FlaskClient, corrections: Path, out_dir: Path
) -> None:
    code, _, stderr = run("corrections", "init", out_dir, "-o", corrections)
    assert code == 0, stderr
    save(client, {"fields": {"handlungsbedarfe": "Zusammenhalt aller Vereine"}})

    response = save(client, {"template": "freeform", "templateBase": ""})

    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json()["setAside"] == ["handlungsbedarfe"]  # the one typed text
    entry = load_corrections(corrections).sheets[AUSTAUSCH]
    assert entry.template == "freeform"
    assert entry.fields == {}  # init's untouched entries (only OCR text) are gone
    after = corrections.read_text(encoding="utf-8")
    assert "#     text: Zusammenhalt aller Vereine" in after
    # every other sheet's entries are exactly as init wrote them
    assert load_corrections(corrections).sheets[THEMEN].fields


def test_an_edit_that_would_make_the_file_invalid_is_refused(
    client: FlaskClient, corrections: Path
) -> None:
    write_hand_written(corrections)
    save(client, {"template": "themensammlung"})
    before = corrections.read_text(encoding="utf-8")

    # themensammlung has no field laeuft_gut: the photo must be read again first
    response = save(client, {"fields": {"laeuft_gut": "x"}})

    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error.startswith("not saved, the result would be invalid")
    assert "unknown field for template 'themensammlung'" in error
    assert corrections.read_text(encoding="utf-8") == before


def test_an_invalid_file_on_disk_is_shown_and_nothing_is_saved(
    client: FlaskClient, corrections: Path
) -> None:
    write_hand_written(corrections)
    body = fields_body(client, {"laeuft_gut": "x"})
    broken = HAND_WRITTEN.replace("skip: yes", "skip: maybe")
    corrections.write_text(broken, encoding="utf-8")

    page = client.get(f"/sheets/{AUSTAUSCH}", base_url=BASE).get_data(as_text=True)
    assert "expected true or false, found &#39;maybe&#39;" in page
    response = save(client, body)
    assert response.status_code == 422
    assert "skip: expected true or false" in response.get_json()["error"]
    assert corrections.read_text(encoding="utf-8") == broken


def test_an_invalid_file_stops_the_app_before_it_starts(out_dir: Path, tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(
        f"sheets:\n  {AUSTAUSCH}:\n    fields:\n      laeuft_gud: {{text: x}}\n", encoding="utf-8"
    )

    with pytest.raises(CorrectionsError, match="unknown field"):
        create_app(out_dir, path)
    code, _, stderr = run("review", out_dir, "-c", path, "--no-browser", "--port", "0")
    assert code == 2
    assert f"sheets.{AUSTAUSCH}.fields.laeuft_gud: unknown field" in stderr


def test_an_entry_for_a_sheet_not_in_the_folder_does_not_stop_the_app(
    out_dir: Path, tmp_path: Path
) -> None:
    """A photo left out of this run keeps its entry; the others can be reviewed."""
    path = tmp_path / "c.yaml"
    path.write_text("sheets:\n  not_processed_yet:\n    skip: true\n", encoding="utf-8")
    app = create_app(out_dir, path)
    page = app.test_client().get(f"/sheets/{AUSTAUSCH}", base_url="http://127.0.0.1:8000")
    assert page.status_code == 200


# -- the YAML surgery on its own ----------------------------------------------------------


def test_values_are_quoted_only_where_yaml_would_misread_them(
    out_dir: Path, tmp_path: Path
) -> None:
    sheets = [s.sheet for s in load_sheets(out_dir).sheets]
    path = tmp_path / "c.yaml"
    store = CorrectionsStore(path, sheets, load_templates())
    freeform = "freeform-01-steve-mixed"
    expected = {
        "no": '"no"',
        "012345": '"012345"',
        "1e3": '"1e3"',
        "": '""',
        "a: b": "'a: b'",
        "null": '"null"',
        "Räume für alle": "Räume für alle",
    }
    for typed, written in expected.items():
        store.save(SheetEdit(freeform, {"text": typed}))
        assert f"        text: {written}\n" in path.read_text(encoding="utf-8")
        assert load_corrections(path).sheets[freeform].fields["text"].text == typed


def test_sheet_ids_yaml_would_read_as_numbers_stay_as_written(
    out_dir: Path, tmp_path: Path
) -> None:
    loaded = load_sheets(out_dir)
    numeric = dataclasses.replace(
        next(s.sheet for s in loaded.sheets if s.sheet.id == AUSTAUSCH), id="20190327_171502"
    )
    sheets: list[Sheet] = [numeric]
    path = tmp_path / "c.yaml"
    path.write_text(
        "sheets:\n  20190327_171502:\n    fields:\n      laeuft_gut:\n"
        "        text: x\n        ocr_sha: 012345670123\n",
        encoding="utf-8",
    )
    store = CorrectionsStore(path, sheets, load_templates())

    store.save(SheetEdit("20190327_171502", {"handlungsbedarfe": "y"}))

    text = path.read_text(encoding="utf-8")
    assert "  20190327_171502:\n" in text
    assert "        ocr_sha: 012345670123\n" in text
    assert text.count("20190327_171502") == 1


def test_a_file_of_only_comments_keeps_them(out_dir: Path, tmp_path: Path) -> None:
    sheets = [s.sheet for s in load_sheets(out_dir).sheets]
    path = tmp_path / "c.yaml"
    path.write_text("# to do: fill in\n", encoding="utf-8")
    store = CorrectionsStore(path, sheets, load_templates())

    store.save(SheetEdit(AUSTAUSCH, reviewed=True))

    assert path.read_text(encoding="utf-8").startswith("# to do: fill in\nsheets:\n")


def test_a_corrections_init_file_can_be_reviewed(
    client: FlaskClient, corrections: Path, out_dir: Path
) -> None:
    code, _, stderr = run("corrections", "init", out_dir, "-o", corrections)
    assert code == 0, stderr
    before = corrections.read_text(encoding="utf-8")

    response = save(client, {"fields": {"laeuft_gut": "Räumlichkeiten für alle Gruppen"}})

    assert response.status_code == 200, response.get_data(as_text=True)
    after = corrections.read_text(encoding="utf-8")
    assert comment_lines(after) == comment_lines(before)
    assert len(after.splitlines()) == len(before.splitlines())
    assert load_corrections(corrections).sheets[AUSTAUSCH].fields["laeuft_gut"].corrects_text


# -- pages and the command ----------------------------------------------------------------


def test_the_overview_lists_every_sheet_with_its_numbers(
    client: FlaskClient, corrections: Path, out_dir: Path
) -> None:
    write_hand_written(corrections)

    page = client.get("/", base_url=BASE).get_data(as_text=True)

    for sheet_id in (AUSTAUSCH, THEMEN, "freeform-01-steve-mixed", BROKEN):
        assert sheet_id in page
    assert "could not be read" in page
    assert "truncated image" in page  # the unreadable photo's warning
    assert "no template fits" in page  # the freeform sheet's warning
    assert "skipped" in page
    assert f"/sheets/{AUSTAUSCH}/thumb.jpg" in page
    low = sum(
        1
        for f in sheet_json(out_dir, AUSTAUSCH)["fields"]
        for line in f["lines"]
        if line["confidence"] < 60
    )
    assert f'<span class="tag low">{low}</span>' in page


def test_the_sheet_page_has_crops_texts_and_shortcuts(client: FlaskClient) -> None:
    response = client.get(f"/sheets/{AUSTAUSCH}", base_url=BASE)
    page = response.get_data(as_text=True)

    assert response.status_code == 200
    assert response.content_type == "text/html; charset=utf-8"
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    assert '<html lang="en">' in page  # the page speaks English, the texts are German
    for field_id in ("laeuft_gut", "handlungsbedarfe", "worauf_kommt_es_an"):
        assert f"/sheets/{AUSTAUSCH}/fields/{field_id}.jpg?v=" in page
        assert f'id="text-{field_id}" class="text" lang="de"' in page
    assert '"low": true' in page  # the script marks those words
    assert "Ctrl+S" in page and "Alt+L" in page and "Alt+W" in page
    assert 'tabindex="-1"' not in page  # every control can be reached with Tab


def test_default_corrections_path_is_beside_out() -> None:
    assert default_corrections_path(Path("work/out")) == Path("work/corrections/out.yaml")
    assert default_corrections_path(Path("out/")) == Path("corrections/out.yaml")


def test_review_help_has_an_example() -> None:
    code, stdout, _ = run("review", "--help")
    assert code == 0
    assert "flipchart-ocr review out/ -c corrections/event.yaml" in stdout
    assert "--no-browser" in stdout


def test_a_port_in_use_is_a_clear_error(out_dir: Path, corrections: Path) -> None:
    app = create_app(out_dir, corrections, port=0)
    first = make_review_server(app, 0)
    try:
        with pytest.raises(UsageError, match="choose another --port"):
            make_review_server(create_app(out_dir, corrections), first.port)
    finally:
        first.server_close()


def test_the_command_serves_until_ctrl_c(out_dir: Path, corrections: Path) -> None:
    command = [sys.executable, "-m", "flipchart_ocr.cli", "review", str(out_dir)]
    command += ["-c", str(corrections), "--port", "0", "--no-browser"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        assert "(created at the first save)" in process.stdout.readline()
        url = process.stdout.readline().split()[1]
        assert url.startswith("http://127.0.0.1:")
        with urllib.request.urlopen(url, timeout=10) as response:
            assert AUSTAUSCH in response.read().decode("utf-8")
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=10)
    finally:
        process.kill()
    assert process.returncode == 0, stderr
    assert stdout == "stopped\n"


def doubtful_word(out: Path, sheet_id: str) -> tuple[str, str]:
    """A word the OCR read with low confidence on this sheet, not a German word, and its field."""
    for field in sheet_json(out, sheet_id)["fields"]:
        for line in field["lines"]:
            for word in line["words"]:
                text = word["text"]
                long_enough = text.isalpha() and len(text) >= 5
                if long_enough and word["confidence"] < 80 and not is_known(text):
                    return field["id"], text
    raise AssertionError(f"{sheet_id}: no doubtful word read")  # the samples always have some


def test_a_word_typed_on_other_sheets_is_offered_as_a_fix_of_its_own(
    out_dir: Path, client: FlaskClient, corrections: Path
) -> None:
    field_id, read = doubtful_word(out_dir, THEMEN)
    typed = read[:-1] + ("x" if read[-1] != "x" else "y")  # one letter away from the reading
    once = save(client, {"fields": {"laeuft_gut": f"{typed} im Quartier"}})
    assert once.status_code == 200, once.get_data(as_text=True)
    field = next(f for f in state(client, THEMEN)["fields"] if f["id"] == field_id)
    assert field["fixes"] == []  # typed once: --learn-min is 2

    save(client, {"fields": {"handlungsbedarfe": f"mehr {typed}"}})

    field = next(f for f in state(client, THEMEN)["fields"] if f["id"] == field_id)
    assert {"old": read, "new": typed, "kind": "word", "seen": 2} in field["fixes"]
    assert field["text"] == field["ocr"]  # only offered: the text itself is unchanged
    # a sheet marked reviewed gets no fixes
    save(client, {"reviewed": True}, sheet_id=THEMEN)
    assert all(f["fixes"] == [] for f in state(client, THEMEN)["fields"])


# -- the edited entry alone goes through ruamel ---------------------------------------------


def recorded_sheets(count: int) -> list[Sheet]:
    """``count`` sheets made from the recorded ones, ids S000, S001, ..."""
    recorded = [
        Sheet.from_dict(json.loads((FIXTURE_OUT / f"{name}.json").read_text(encoding="utf-8")))
        for name in ("IMG_0002", "IMG_0003", "IMG_0001")
    ]
    return [dataclasses.replace(recorded[n % 3], id=f"S{n:03d}") for n in range(count)]


def test_many_saves_write_exactly_what_a_fresh_store_writes(tmp_path: Path) -> None:
    """The store works out where each sheet lies after its own writes; never wrongly."""
    sheets = recorded_sheets(30)
    templates = load_templates()
    start = starting_file(sheets[:20], templates, "out")  # sheets 20-29: no entry yet
    kept, fresh = tmp_path / "kept.yaml", tmp_path / "fresh.yaml"
    kept.write_text(start, encoding="utf-8")
    fresh.write_text(start, encoding="utf-8")
    store = CorrectionsStore(kept, sheets, templates)
    edits = []
    for n in range(40):
        sheet = sheets[(n * 7) % 30]
        field = sheet.fields[n % len(sheet.fields)].id
        text = f"Zeile {n}\nmit Umlauten: äöü ß" if n % 3 else f"Text {n}"
        edits.append(SheetEdit(sheet.id, {field: text}, reviewed=bool(n % 2) or None))
    edits.append(SheetEdit("S025", skip=True))
    for edit in edits:
        store.save(edit)
        CorrectionsStore(fresh, sheets, templates).save(edit)
        assert kept.read_bytes() == fresh.read_bytes(), edit
    corrections = load_corrections(kept)
    assert corrections.sheets["S025"].skip
    last = {(e.sheet_id, f): t for e in edits for f, t in e.fields.items()}
    for (sheet_id, field_id), text in last.items():
        assert corrections.sheets[sheet_id].fields[field_id].text == text


def test_a_save_changes_only_the_lines_of_its_sheet(tmp_path: Path) -> None:
    sheets = recorded_sheets(12)
    path = tmp_path / "event.yaml"
    path.write_text(starting_file(sheets, load_templates(), "out"), encoding="utf-8")
    before = path.read_text(encoding="utf-8").splitlines()
    store = CorrectionsStore(path, sheets, load_templates())

    store.save(SheetEdit("S004", {"laeuft_gut": "Räume"}))

    after = path.read_text(encoding="utf-8").splitlines()
    changed = [line for line in after if line not in before]
    assert changed == ["        text: Räume"]
    first = before.index("  S004:")
    end = before.index("  S005:")
    assert after[:first] == before[:first]
    assert after[len(after) - (len(before) - end) :] == before[end:]


# -- the folder and the file change while the app runs ---------------------------------------


def test_a_relative_out_folder_serves_its_images(
    out_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(out_dir.parent)
    client = make_client(Path(out_dir.name), tmp_path / "c.yaml")
    assert client.get(f"/sheets/{AUSTAUSCH}/sheet.jpg", base_url=BASE).status_code == 200
    assert client.get(f"/sheets/{AUSTAUSCH}/thumb.jpg", base_url=BASE).status_code == 200


def test_a_sheet_json_process_wrote_again_is_read_again(tmp_path: Path) -> None:
    out = copy_out(tmp_path)
    client = make_client(out, tmp_path / "c.yaml")
    first = state(client, "IMG_0002")
    set_ocr_text(out, "IMG_0002", "laeuft_gut", "neu gelesen")

    again = state(client, "IMG_0002")

    assert again["sheetStamp"] != first["sheetStamp"]
    assert next(f for f in again["fields"] if f["id"] == "laeuft_gut")["text"] == "neu gelesen"
    crop = next(f for f in again["fields"] if f["id"] == "laeuft_gut")["cropUrl"]
    assert crop.endswith(f"?v={again['sheetStamp']}")  # the page fetches the crops anew
    (out / "IMG_0003.json").unlink()
    assert client.get("/api/sheets/IMG_0003", base_url=BASE).status_code == 404


def test_find_and_replace_counts_then_writes_a_file_wide_replace(
    tmp_path: Path,
) -> None:
    out = copy_out(tmp_path)
    corrections = write(
        tmp_path / "c.yaml",
        "# by hand\nsheets:\n  IMG_0002:\n    fields:\n      handlungsbedarfe:\n"
        "        text: Reser Mat beleben  # typed\n",
    )
    client = make_client(out, corrections)
    body = {"find": "Reser Mat", "replace": "Resser Mark"}
    headers = {"Origin": BASE}

    preview = client.post("/api/replace/preview", json=body, base_url=BASE, headers=headers)

    counted = preview.get_json()
    assert [(f["sheet"], f["field"]) for f in counted["fields"]] == [
        ("IMG_0003", "handlungsbedarfe")
    ]
    assert counted["keptInCorrected"] == [{"sheet": "IMG_0002", "field": "handlungsbedarfe"}]
    assert "replace" not in corrections.read_text(encoding="utf-8")  # counting writes nothing

    done = client.post("/api/replace", json=body, base_url=BASE, headers=headers).get_json()

    assert done["occurrences"] == counted["occurrences"] == 1
    text = corrections.read_text(encoding="utf-8")
    assert text.index("replace:") < text.index("sheets:")
    assert "# by hand" in text and "# typed" in text
    loaded = load_corrections(corrections)
    assert [(r.old, r.new) for r in loaded.replace] == [("Reser Mat", "Resser Mark")]
    field = next(f for f in state(client, "IMG_0003")["fields"] if f["id"] == "handlungsbedarfe")
    assert "Resser Mark" in field["text"]
    refused = client.post(
        "/api/replace", json={"find": "", "replace": "x"}, base_url=BASE, headers=headers
    )
    assert refused.status_code == 400


def test_a_block_of_a_freeform_field_has_its_own_crop(tmp_path: Path) -> None:
    out = copy_out(tmp_path)
    document = sheet_json(out, "IMG_0001")
    lines = document["fields"][0]["lines"]
    document["fields"][0]["blocks"] = [{"bbox": lines[0]["bbox"], "lines": [0], "kind": "card"}]
    (out / "IMG_0001.json").write_text(json.dumps(document), encoding="utf-8")
    client = make_client(out, tmp_path / "c.yaml")

    block = state(client, "IMG_0001")["fields"][0]["blocks"][0]
    response = client.get(block["cropUrl"], base_url=BASE)

    assert (block["kind"], block["text"]) == ("card", lines[0]["text"])
    with Image.open(io.BytesIO(response.data)) as crop:
        assert crop.size == tuple(lines[0]["bbox"][2:])
    missing = client.get("/sheets/IMG_0001/fields/text/blocks/5.jpg", base_url=BASE)
    assert missing.status_code == 404
