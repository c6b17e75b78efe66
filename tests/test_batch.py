"""A batch under real faults: a slow or killed Tesseract, a killed worker, a bug in one
photo, a full disk, Ctrl-C, missing languages. Each fault is made for real: a fake
``tesseract`` on the PATH that runs the real one and then sleeps or kills its parent,
a tiny filesystem, a signal through a pseudo-terminal."""

from __future__ import annotations

import json
import os
import resource
import select
import shutil
import signal
import subprocess
import sys
import time
import unicodedata
from pathlib import Path

import cv2
import jsonschema
import pytest
import yaml
from click.testing import CliRunner

from flipchart_ocr.cli import cli
from flipchart_ocr.schemas import load_schema
from flipchart_ocr.templates import Template

from .conftest import place_in_photo, render_sheet

REAL_TESSERACT = shutil.which("tesseract")


def _run(*args: str | Path) -> tuple[int, str]:
    result = CliRunner().invoke(cli, [str(a) for a in args])
    return result.exit_code, result.stderr


def _run_process(
    *args: str | Path, env: dict[str, str], timeout: float = 300, **kwargs
) -> tuple[int, str]:
    """The CLI in a process of its own (for worker and disk faults), with ``env``."""
    done = subprocess.run(
        [sys.executable, "-m", "flipchart_ocr.cli", *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        **kwargs,
    )
    return done.returncode, done.stderr


def _photo(folder: Path, name: str, template: Template, texts: dict[str, list[str]]) -> Path:
    sheet = render_sheet(template, texts)
    photo = place_in_photo(
        sheet, [[300, 100], [1300, 130], [1330, 1500], [280, 1480]], (1600, 1600)
    )
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    cv2.imwrite(str(path), photo)
    return path


@pytest.fixture()
def photos(tmp_path: Path, templates: dict[str, Template]) -> Path:
    """Three photos of the austausch poster; only b.jpg has the word 'Schnecke'."""
    folder = tmp_path / "photos"
    _photo(folder, "a.jpg", templates["austausch"], {"laeuft_gut": ["ruhiger Bezirk"]})
    _photo(
        folder,
        "b.jpg",
        templates["austausch"],
        {"laeuft_gut": ["gute Nachbarn"], "handlungsbedarfe": ["Schnecke langsam"]},
    )
    _photo(folder, "c.jpg", templates["austausch"], {"worauf_kommt_es_an": ["Mehr Bänke"]})
    return folder


def fake_tesseract(folder: Path, then: str) -> dict[str, str]:
    """An environment whose ``tesseract`` runs the real one, then the shell code ``then``.

    pytesseract calls ``tesseract INPUT OUTPUT_BASE -l LANG --psm N tsv``: what the real
    one read is in ``$2.tsv``. ``--version`` and ``--list-langs`` pass straight through.
    """
    folder.mkdir(parents=True, exist_ok=True)
    script = folder / "tesseract"
    script.write_text(
        f"""#!/bin/sh
"{REAL_TESSERACT}" "$@" || exit $?
case "$1" in --*) exit 0;; esac
{then}
""",
        encoding="utf-8",
    )
    script.chmod(0o755)
    return {**os.environ, "PATH": f"{folder}{os.pathsep}{os.environ['PATH']}"}


def _when_read(word: str, action: str) -> str:
    return f'if grep -qi "{word}" "$2.tsv" 2>/dev/null; then {action}; fi'


def _when_reading_a_photo(action: str) -> str:
    """Only pytesseract's calls, not the blank test image of the checks before work."""
    return f'if [ -e "$2.tsv" ]; then {action}; fi'


def _running(pid: int) -> bool:
    """Alive and not a zombie (in a container nobody may reap an orphan's zombie)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def _sheet(out: Path, sheet_id: str) -> dict:
    document = json.loads((out / f"{sheet_id}.json").read_text(encoding="utf-8"))
    jsonschema.validate(document, load_schema("sheet"))
    return document


def _no_temp_files(folder: Path) -> None:
    assert not [p.name for p in folder.rglob(".*.tmp")], "temp files left behind"


# -- 1. checks before any work ------------------------------------------------------------


def test_a_mistyped_lang_is_refused_before_it_touches_good_results(
    photos: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    assert _run("process", photos / "a.jpg", "-o", out, "-j", "1")[0] == 0
    before = (out / "a.json").read_bytes()

    code, err = _run("process", photos / "a.jpg", "-o", out, "--lang", "de", "--force")

    assert code == 2
    assert err.count("\n") == 1, err  # one line
    assert "--lang 'de': Tesseract has no language 'de'; did you mean 'deu'?" in err
    assert (out / "a.json").read_bytes() == before
    code, err = _run("process", photos / "a.jpg", "-o", out, "--lang", "deu+en")
    assert code == 2 and "no language 'en'; did you mean 'eng'?" in err
    code, _ = _run("merge", out, "-o", tmp_path / "protocol.json")
    assert code == 0 and json.loads((tmp_path / "protocol.json").read_text())["sheets"]


def test_a_missing_or_too_old_tesseract_is_named_and_nothing_is_written(
    photos: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out"
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    code, err = _run("process", photos, "-o", out)
    assert code == 2
    assert "Tesseract not found ('tesseract' is not on the PATH): install it" in err
    assert not out.exists()

    old = tmp_path / "old"
    old.mkdir()
    (old / "tesseract").write_text("#!/bin/sh\necho 'tesseract 3.05.02'\n", encoding="utf-8")
    (old / "tesseract").chmod(0o755)
    monkeypatch.setenv("PATH", str(old))
    code, err = _run("process", photos, "-o", out)
    assert code == 2
    assert "is Tesseract 3.5; flipchart-ocr needs 4.0 or later" in err
    assert not out.exists()


def test_a_damaged_language_file_is_found_before_any_work(
    photos: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Tesseract lists any *.traineddata, and with deu+xyz silently reads German alone."""
    real = Path(REAL_TESSERACT).resolve()
    listing = subprocess.run([real, "--list-langs"], capture_output=True, text=True).stdout
    tessdata = Path(listing.split('"')[1])
    mine = tmp_path / "tessdata"
    mine.mkdir()
    (mine / "deu.traineddata").symlink_to(tessdata / "deu.traineddata")
    (mine / "xyz.traineddata").write_bytes(os.urandom(5000))
    monkeypatch.setenv("TESSDATA_PREFIX", str(mine))
    out = tmp_path / "out"
    code, err = _run("process", photos / "a.jpg", "-o", out, "--lang", "deu+xyz")
    assert code == 2
    assert "Tesseract cannot load 'xyz' (a damaged xyz.traineddata" in err
    assert not out.exists()


@pytest.mark.parametrize("value", ["inf", "nan", "-5", "0", "soon"])
def test_a_timeout_that_cannot_work_is_bad_usage(photos: Path, tmp_path: Path, value: str) -> None:
    out = tmp_path / "out"
    code, err = _run("process", photos / "a.jpg", "-o", out, f"--timeout={value}")
    assert code == 2
    assert "Invalid value for '--timeout'" in err
    assert not out.exists()


# -- 2. a slow Tesseract costs one field, not the photo -----------------------------------


def test_a_field_tesseract_hangs_on_is_left_empty_and_the_rest_is_read(
    photos: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = fake_tesseract(tmp_path / "bin", _when_read("Schnecke", "exec sleep 120"))
    monkeypatch.setenv("PATH", env["PATH"])
    out = tmp_path / "out"

    code, err = _run(
        "process", photos / "b.jpg", "-o", out, "--engine", "tesseract", "--timeout", "6"
    )

    assert code == 0, err
    sheet = _sheet(out, "b")
    assert sheet["template"] == "austausch"
    fields = {f["id"]: f for f in sheet["fields"]}
    assert (fields["handlungsbedarfe"]["text"], fields["handlungsbedarfe"]["confidence"]) == ("", 0)
    assert "Nachbarn" in fields["laeuft_gut"]["text"]
    assert sheet["warnings"] == [
        "field 'handlungsbedarfe': Tesseract timed out after 6 s (--timeout); left empty"
    ]
    assert "warning: " in err and "handlungsbedarfe" in err


def test_a_title_tesseract_hangs_on_leaves_the_choice_to_the_box_lines(
    photos: Path, tmp_path: Path, templates: dict[str, Template], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A second poster with the same boxes: the lines cannot decide, the title is read.
    twin = templates["austausch"].to_dict()
    twin.update(
        id="austausch_zwei", printed=[{"text": "Zweite Runde", "box": [0.04, 0.055, 0.92, 0.045]}]
    )
    custom = tmp_path / "templates"
    custom.mkdir()
    (custom / "zwei.yaml").write_text(yaml.safe_dump(twin, allow_unicode=True), encoding="utf-8")
    env = fake_tesseract(tmp_path / "bin", _when_read("Entwicklungen", "exec sleep 120"))
    monkeypatch.setenv("PATH", env["PATH"])
    out = tmp_path / "out"

    code, err = _run(
        "process", photos / "a.jpg", "-o", out, "--templates", custom, "--timeout", "6"
    )

    assert code == 0, err
    sheet = _sheet(out, "a")
    assert sheet["template"] in ("austausch", "austausch_zwei")
    assert "Bezirk" in sheet["fields"][0]["text"]
    assert any(
        w.startswith("title band: tesseract timed out after 6 s") for w in sheet["warnings"]
    ), sheet["warnings"]


# -- 3. every failure caught and recorded -------------------------------------------------


def test_an_unexpected_error_in_one_photo_costs_that_photo_only(
    photos: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flipchart_ocr import pipeline

    read_photo = pipeline.read_photo

    def fails_for_b(path: Path, max_pixels: int, work_side: int | None):  # a bug in one photo
        if path.name == "b.jpg":
            raise ValueError("operands could not be broadcast together")
        return read_photo(path, max_pixels, work_side)

    monkeypatch.setattr(pipeline, "read_photo", fails_for_b)
    out = tmp_path / "out"

    code, err = _run("process", photos, "-o", out, "-j", "1")

    assert code == 1
    assert f"error: {photos / 'b.jpg'}: unexpected error: ValueError: operands could not" in err
    assert _sheet(out, "a")["template"] == "austausch"
    assert _sheet(out, "c")["template"] == "austausch"
    failed = _sheet(out, "b")
    assert failed["template"] is None and "ValueError" in failed["warnings"][0]
    assert "3 photos: 2 processed, 0 up to date, 1 failed" in err


def test_a_failure_never_replaces_a_good_result_of_the_same_photo(
    photos: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out"
    assert _run("process", photos / "b.jpg", "-o", out, "--engine", "tesseract")[0] == 0
    good = (out / "b.json").read_bytes()
    # Tesseract now crashes on every call: the photo fails, its earlier sheet stays.
    env = fake_tesseract(tmp_path / "bin", _when_reading_a_photo("exit 134"))
    monkeypatch.setenv("PATH", env["PATH"])

    code, err = _run("process", photos / "b.jpg", "-o", out, "--force", "--engine", "tesseract")

    assert code == 1
    assert "b.jpg: tesseract failed" in err
    assert f"(the earlier result {out / 'b.json'} is kept)" in err
    assert (out / "b.json").read_bytes() == good


def test_a_killed_worker_is_replaced_and_its_photo_read_again(photos: Path, tmp_path: Path) -> None:
    # The first Tesseract to read 'Schnecke' kills its worker (as the OOM killer would).
    marker = tmp_path / "killed-once"
    env = fake_tesseract(
        tmp_path / "bin",
        _when_read("Schnecke", f'[ -e "{marker}" ] || {{ touch "{marker}"; kill -9 $PPID; }}'),
    )
    out = tmp_path / "out"

    code, err = _run_process(
        "process", photos, "-o", out, "-j", "2", "--engine", "tesseract", env=env
    )

    assert code == 0, err
    assert marker.exists()
    assert "b.jpg: the worker process reading it was killed by SIGKILL" in err
    assert "trying it once more" in err
    assert "Traceback" not in err
    for sheet_id in "abc":
        assert _sheet(out, sheet_id)["template"] == "austausch"
    _no_temp_files(out)


def test_a_photo_that_kills_its_worker_twice_is_recorded_as_failed(
    photos: Path, tmp_path: Path
) -> None:
    env = fake_tesseract(tmp_path / "bin", _when_read("Schnecke", "kill -9 $PPID"))
    out = tmp_path / "out"

    code, err = _run_process(
        "process", photos, "-o", out, "-j", "2", "--engine", "tesseract", env=env
    )

    assert code == 1, err
    assert "Traceback" not in err
    assert f"error: {photos / 'b.jpg'}: the worker process reading it was killed by SIGKILL" in err
    assert "twice; not tried again" in err
    assert _sheet(out, "b")["template"] is None
    assert _sheet(out, "a")["template"] == _sheet(out, "c")["template"] == "austausch"
    assert "3 photos: 2 processed, 0 up to date, 1 failed" in err
    _no_temp_files(out)


def _file_size_limit(limit: int):
    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of a killed process
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


def test_no_room_to_write_stops_the_batch_with_one_line_and_keeps_what_was_written(
    photos: Path, tmp_path: Path
) -> None:
    """A file size limit (RLIMIT_FSIZE) makes every larger write fail as a full disk does."""
    out = tmp_path / "out"
    env = dict(os.environ)
    assert (
        _run_process("process", photos / "a.jpg", "-o", out, "--engine", "tesseract", env=env)[0]
        == 0
    )
    good = (out / "a.json").read_bytes()

    code, err = _run_process(
        "process",
        photos,
        "-o",
        out,
        "-j",
        "1",
        "--force",
        "--engine",
        "tesseract",
        env=env,
        preexec_fn=_file_size_limit(20_000),
    )

    assert code == 1
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, err
    assert "File too large; the batch is stopped" in errors[0]
    assert "Traceback" not in err
    assert (out / "a.json").read_bytes() == good
    assert not (out / "b.json").exists() and not (out / "c.json").exists()
    _no_temp_files(out)


@pytest.mark.skipif(shutil.which("unshare") is None, reason="needs unshare (util-linux)")
def test_a_full_disk_stops_the_parallel_batch_with_one_line_and_keeps_what_was_written(
    photos: Path, tmp_path: Path
) -> None:
    """A real full disk: a small tmpfs, mounted in a user and mount namespace of its own."""
    out, seen = tmp_path / "out", tmp_path / "seen"
    out.mkdir()
    seen.mkdir()
    python = f'"{sys.executable}" -m flipchart_ocr.cli'
    script = f"""
set -e
mount -t tmpfs -o size=3m tmpfs "{out}"
{python} process "{photos / "a.jpg"}" -o "{out}" --engine tesseract -q
cp "{out}/a.json" "{seen}/a.before.json"
dd if=/dev/zero of="{out}/filler" bs=16k 2>/dev/null || true
set +e
{python} process "{photos}" -o "{out}" -j 2 --force --engine tesseract 2> "{seen}/stderr"
echo $? > "{seen}/code"
ls -A "{out}" > "{seen}/listing"
cp "{out}/a.json" "{seen}/a.after.json"
"""
    probe = subprocess.run(["unshare", "-rm", "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip(f"user namespaces not allowed here: {probe.stderr.decode().strip()}")
    done = subprocess.run(
        ["unshare", "-rm", "sh", "-c", script], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr

    err = (seen / "stderr").read_text(encoding="utf-8")
    assert (seen / "code").read_text().strip() == "1", err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, err
    assert "No space left on device; the batch is stopped" in errors[0]
    assert "Traceback" not in err
    assert (seen / "a.after.json").read_bytes() == (seen / "a.before.json").read_bytes()
    listing = (seen / "listing").read_text().split()
    assert not [name for name in listing if name.endswith(".tmp")], listing
    assert "b.json" not in listing and "c.json" not in listing


# -- 4. Ctrl-C ----------------------------------------------------------------------------


def _in_terminal(args: list[str], env: dict[str, str]) -> tuple[subprocess.Popen, int]:
    """The CLI with a pseudo-terminal as its controlling terminal, as in a shell."""
    import fcntl
    import pty
    import termios

    master, slave = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "flipchart_ocr.cli", *args],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=env,
        start_new_session=True,
        preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0),
    )
    os.close(slave)
    return process, master


def _read_until_exit(process: subprocess.Popen, master: int, seconds: float) -> str:
    output = b""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.2)
        if ready:
            try:
                output += os.read(master, 65536)
            except OSError:  # the terminal closed: the process is gone
                break
        elif process.poll() is not None:
            break
    return output.decode("utf-8", "replace")


@pytest.mark.parametrize("presses", [1, 2])
def test_ctrl_c_during_a_parallel_batch_ends_it_at_once_and_cleanly(
    photos: Path, tmp_path: Path, presses: int
) -> None:
    # Every Tesseract reading a field sleeps, and says so: the workers are mid-photo.
    reading = tmp_path / "reading"
    reading.mkdir()
    env = fake_tesseract(
        tmp_path / "bin", _when_reading_a_photo(f'touch "{reading}/$$"; exec sleep 300')
    )
    out = tmp_path / "out"
    process, master = _in_terminal(
        ["process", str(photos), "-o", str(out), "-j", "2", "--engine", "tesseract"], env
    )
    try:
        deadline = time.monotonic() + 180
        output = ""
        while len(list(reading.iterdir())) < 2 and time.monotonic() < deadline:
            output += _read_until_exit(process, master, 0.5)
        assert len(list(reading.iterdir())) == 2, output
        for _ in range(presses):
            os.write(master, b"\x03")
            time.sleep(0.3)
        started = time.monotonic()
        output += _read_until_exit(process, master, 20)
        code = process.wait(timeout=1)
        took = time.monotonic() - started
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        os.close(master)

    assert code == 130, output
    assert took < 10, f"took {took:.1f} s to stop"
    assert "interrupted: finished files are kept" in output
    assert "Traceback" not in output
    time.sleep(0.5)
    left = [int(p.name) for p in reading.iterdir() if _running(int(p.name))]
    assert not left, "Tesseract processes left running"
    _no_temp_files(out)
    for path in out.glob("*.json"):
        _sheet(out, path.stem)


# -- 5. the photo folder as the output folder ---------------------------------------------


def test_the_photo_folder_as_output_folder_never_multiplies_the_sheets(
    photos: Path, tmp_path: Path
) -> None:
    (photos / "c.jpg").unlink()
    for run in range(3):
        code, err = _run("process", photos, "-o", photos, "--debug", "--engine", "tesseract")
        assert code == 0, err
        assert "2 photos:" in err, f"run {run + 1}: {err}"
    assert "a.sheet.jpg, b.sheet.jpg (a sheet image flipchart-ocr wrote (*.sheet.jpg))" in err
    code, err = _run("merge", photos, "-o", tmp_path / "protocol.json")
    assert code == 0
    assert "2 sheets in 1 sections" in err


# -- 7. sheet ids in Unicode NFC ----------------------------------------------------------


def test_names_that_differ_only_in_unicode_form_are_one_id_and_refused(tmp_path: Path) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    composed = unicodedata.normalize("NFC", "Müll")
    decomposed = unicodedata.normalize("NFD", "Müll")
    (folder / f"{composed}.jpg").write_bytes(b"x")
    (folder / f"{decomposed}.jpg").write_bytes(b"x")
    out = tmp_path / "out"
    code, err = _run("process", folder, "-o", out)
    assert code == 2
    assert "same sheet id (NFC) 'Müll'" in err
    assert not out.exists()


def test_a_photo_named_on_a_mac_gets_an_nfc_id(tmp_path: Path) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / (unicodedata.normalize("NFD", "Bänke") + ".jpg")).write_bytes(b"not a photo")
    out = tmp_path / "out"
    code, _ = _run("process", folder, "-o", out)
    assert code == 1  # not a photo, but recorded under its NFC id
    names = [p.name for p in out.iterdir()]
    assert names == [unicodedata.normalize("NFC", "Bänke.json")]
    assert _sheet(out, unicodedata.normalize("NFC", "Bänke"))["id"] == unicodedata.normalize(
        "NFC", "Bänke"
    )


def test_the_jobs_cores_are_shared_out_among_the_workers_started(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from dataclasses import replace

    from flipchart_ocr.batch import Job, with_cores_shared
    from flipchart_ocr.pipeline import ProcessOptions

    monkeypatch.setattr(os, "cpu_count", lambda: 4)
    open_job = Job(tmp_path / "a.jpg", tmp_path, ProcessOptions())
    given = replace(open_job, options=replace(open_job.options, threads=3))
    # A photo read alone gets every core; two at once two each; a given count is kept.
    assert [j.options.threads for j in with_cores_shared([open_job, given], 1)] == [4, 3]
    assert [j.options.threads for j in with_cores_shared([open_job, given], 2)] == [2, 3]
    assert [j.options.threads for j in with_cores_shared([open_job], 8)] == [1]
    # --jobs is the cores the batch may use: --jobs 1 one core, and never more than there are.
    assert [j.options.threads for j in with_cores_shared([open_job, given], 1, 1)] == [1, 3]
    assert [j.options.threads for j in with_cores_shared([open_job], 1, 2)] == [2]
    assert [j.options.threads for j in with_cores_shared([open_job], 1, 16)] == [4]
    assert [j.options.threads for j in with_cores_shared([open_job], 3, 3)] == [1]
