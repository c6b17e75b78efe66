"""The review app through Flask's test client, on sample photos read by the real pipeline.

Saving (text + ocr_sha, comments and order kept, atomic, backup), the refusals
(changed on disk, foreign Host or Origin, path tricks, invalid edits) and the
overview. The browser itself is driven in ``test_review_browser.py``.
"""

from __future__ import annotations

import dataclasses
import io
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

from flipchart_ocr.corrections import load_corrections, ocr_fingerprint
from flipchart_ocr.document import Sheet
from flipchart_ocr.errors import CorrectionsError, UsageError
from flipchart_ocr.merge import load_sheets, merge
from flipchart_ocr.review import create_app, default_corrections_path, make_review_server
from flipchart_ocr.review.store import (
    CHANGED_ON_DISK,
    CorrectionsChanged,
    CorrectionsStore,
    SheetEdit,
    file_version,
)
from flipchart_ocr.templates import load_templates

from .fixtures import run, sheet_json

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
    """POST a save as the page does: our Origin, JSON, the version it loaded."""
    if "version" not in body:
        body = {"version": state(client, sheet_id)["version"], **body}
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
    version = state(client)["version"]
    real_replace = os.replace

    def crash_on_the_corrections_file(src: Any, dst: Any) -> None:
        if Path(dst) == corrections:
            raise OSError(28, "No space left on device")
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", crash_on_the_corrections_file)
    with pytest.raises(OSError):
        save(client, {"version": version, "fields": {"laeuft_gut": "Räume"}})

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


# -- changed on disk ----------------------------------------------------------------------


def test_a_change_on_disk_since_the_page_loaded_is_refused_with_409(
    client: FlaskClient, corrections: Path
) -> None:
    write_hand_written(corrections)
    version = state(client)["version"]
    edited_elsewhere = HAND_WRITTEN.replace("# end of file", "# end of file, edited in vim")
    corrections.write_text(edited_elsewhere, encoding="utf-8")

    response = save(client, {"version": version, "fields": {"laeuft_gut": "Räume"}})

    assert response.status_code == 409
    assert response.get_json()["error"] == CHANGED_ON_DISK
    assert "changed on disk since you opened this page: reload" in CHANGED_ON_DISK
    assert corrections.read_text(encoding="utf-8") == edited_elsewhere
    # after a reload the page has the new version and the save goes through
    assert save(client, {"fields": {"laeuft_gut": "Räume"}}).status_code == 200


def test_a_file_created_on_disk_meanwhile_is_not_overwritten(
    client: FlaskClient, corrections: Path
) -> None:
    version = state(client)["version"]
    write_hand_written(corrections)  # e.g. `corrections init` in another terminal

    response = save(client, {"version": version, "fields": {"laeuft_gut": "Räume"}})

    assert response.status_code == 409
    assert corrections.read_text(encoding="utf-8") == HAND_WRITTEN


def test_the_store_checks_the_version_again_right_before_writing(
    out_dir: Path, corrections: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_hand_written(corrections)
    sheets = [s.sheet for s in load_sheets(out_dir).sheets]
    store = CorrectionsStore(corrections, sheets, load_templates())
    version = store.snapshot().version
    real_check = store._check_edit

    def editor_saves_meanwhile(*args: Any) -> Any:
        result = real_check(*args)
        corrections.write_text(HAND_WRITTEN + "# meanwhile\n", encoding="utf-8")
        return result

    monkeypatch.setattr(store, "_check_edit", editor_saves_meanwhile)
    with pytest.raises(CorrectionsChanged):
        store.save(SheetEdit(AUSTAUSCH, {"laeuft_gut": "Räume"}), version)
    assert corrections.read_text(encoding="utf-8").endswith("# meanwhile\n")


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
    body = {"version": state(client)["version"], "fields": {"laeuft_gut": "Räume"}}
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
        ({"fields": {"laeuft_gut": 42}}, "expected text"),
        ({"fields": ["laeuft_gut"]}, "'fields' must map"),
        ({"skip": "yes"}, "'skip' must be true or false"),
        ({"template": "no_such_template"}, "unknown template 'no_such_template'"),
        ({"version": ""}, "'version'"),
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


def test_an_edit_that_would_make_the_file_invalid_is_refused(
    client: FlaskClient, corrections: Path
) -> None:
    write_hand_written(corrections)

    # the file has field entries for austausch; themensammlung has no such fields
    response = save(client, {"template": "themensammlung"})

    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error.startswith("not saved, the result would be invalid")
    assert "unknown field for template 'themensammlung'" in error
    assert corrections.read_text(encoding="utf-8") == HAND_WRITTEN


def test_an_invalid_file_on_disk_is_shown_and_nothing_is_saved(
    client: FlaskClient, corrections: Path
) -> None:
    write_hand_written(corrections)
    version = state(client)["version"]
    broken = HAND_WRITTEN.replace("skip: yes", "skip: maybe")
    corrections.write_text(broken, encoding="utf-8")

    page = client.get(f"/sheets/{AUSTAUSCH}", base_url=BASE).get_data(as_text=True)
    assert "expected true or false, found &#39;maybe&#39;" in page
    response = save(client, {"version": version, "fields": {"laeuft_gut": "x"}})
    assert response.status_code == 409
    current = file_version(corrections.read_bytes())
    response = save(client, {"version": current, "fields": {"laeuft_gut": "x"}})
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
        version = store.snapshot().version
        store.save(SheetEdit(freeform, {"text": typed}), version)
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

    store.save(SheetEdit("20190327_171502", {"handlungsbedarfe": "y"}), store.snapshot().version)

    text = path.read_text(encoding="utf-8")
    assert "  20190327_171502:\n" in text
    assert "        ocr_sha: 012345670123\n" in text
    assert text.count("20190327_171502") == 1


def test_a_file_of_only_comments_keeps_them(out_dir: Path, tmp_path: Path) -> None:
    sheets = [s.sheet for s in load_sheets(out_dir).sheets]
    path = tmp_path / "c.yaml"
    path.write_text("# to do: fill in\n", encoding="utf-8")
    store = CorrectionsStore(path, sheets, load_templates())

    store.save(SheetEdit(AUSTAUSCH, reviewed=True), store.snapshot().version)

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
    for field_id in ("laeuft_gut", "handlungsbedarfe", "worauf_kommt_es_an"):
        assert f"/sheets/{AUSTAUSCH}/fields/{field_id}.jpg" in page
        assert f'id="text-{field_id}"' in page
    assert 'class="word low"' in page
    assert "Ctrl+S" in page and "Alt+L" in page


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
    """A word the OCR read with low confidence on this sheet, and its field."""
    for field in sheet_json(out, sheet_id)["fields"]:
        for line in field["lines"]:
            for word in line["words"]:
                if word["text"].isalpha() and len(word["text"]) >= 5 and word["confidence"] < 80:
                    return field["id"], word["text"]
    raise AssertionError(f"{sheet_id}: no doubtful word read")  # the samples always have some


def test_a_word_typed_on_one_sheet_is_suggested_on_another(
    out_dir: Path, client: FlaskClient, corrections: Path
) -> None:
    field_id, read = doubtful_word(out_dir, THEMEN)
    typed = read[:-1] + ("x" if read[-1] != "x" else "y")  # one letter away from the reading
    response = save(client, {"fields": {"laeuft_gut": f"{typed} im Quartier"}})
    assert response.status_code == 200, response.get_data(as_text=True)

    field = next(f for f in state(client, THEMEN)["fields"] if f["id"] == field_id)
    assert [read, typed] in field["suggestionFixes"]
    assert field["suggestion"] is not None and typed in field["suggestion"].split()
    assert field["text"] == field["ocr"]  # only offered: the text itself is unchanged
    # a sheet marked reviewed gets no suggestions
    save(client, {"reviewed": True}, sheet_id=THEMEN)
    assert all(f["suggestion"] is None for f in state(client, THEMEN)["fields"])
