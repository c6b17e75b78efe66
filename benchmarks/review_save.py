"""How long a review save takes as the event grows: 14, 100 and 400 sheets.

    python benchmarks/review_save.py                  # 14, 100, 400 sheets, 15 saves each
    python benchmarks/review_save.py --sheets 50,400 --saves 30

Builds an output folder of N sheets from the recorded ones in ``tests/fixtures/out``
and a corrections file as ``corrections init`` writes it (an entry for every field:
the largest file an event gets), then saves one field edit after another, in
process, as the review app does:

- ``store``: ``CorrectionsStore.save`` alone: merge against the file on disk, edit
  the sheet's entry, check the whole new file (parsed and validated as ``merge``
  does, compared with the old one), back up and write atomically;
- ``request``: the whole POST through Flask, with the sheet state the page gets back.

Prints the median and the slowest of wall-clock and CPU time per save. CPU time
says what the save costs; wall-clock time also holds what other programs on the
machine took meanwhile. Each run also checks that validation still runs: a save
that would make the file invalid must be refused, with the file unchanged.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from flipchart_ocr.corrections import starting_file  # noqa: E402
from flipchart_ocr.errors import CorrectionsError  # noqa: E402
from flipchart_ocr.merge import load_sheets  # noqa: E402
from flipchart_ocr.review import create_app  # noqa: E402
from flipchart_ocr.review.store import CorrectionsStore, SheetEdit  # noqa: E402
from flipchart_ocr.templates import load_templates  # noqa: E402

RECORDED = ROOT / "tests" / "fixtures" / "out"
PORT = 8123
BASE = f"http://127.0.0.1:{PORT}"
LIMIT_SECONDS = 0.2  # the bound for a save at 400 sheets


def make_event(folder: Path, count: int) -> tuple[Path, Path]:
    """An output folder of ``count`` sheets and its `corrections init` file."""
    out = folder / "out"
    out.mkdir(parents=True)
    for n in range(count):
        recorded = ("IMG_0002", "IMG_0003")[n % 2]
        document = json.loads((RECORDED / f"{recorded}.json").read_text(encoding="utf-8"))
        document["id"] = f"S{n:04d}"
        (out / f"S{n:04d}.json").write_text(json.dumps(document, ensure_ascii=False), "utf-8")
        shutil.copy(RECORDED / f"{recorded}.sheet.jpg", out / f"S{n:04d}.sheet.jpg")
    sheets = [loaded.sheet for loaded in load_sheets(out).sheets]
    corrections = folder / "event.yaml"
    corrections.write_text(starting_file(sheets, load_templates(), out), encoding="utf-8")
    return out, corrections


def timed(action) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    wall, cpu = time.perf_counter(), time.process_time()
    action()
    return time.perf_counter() - wall, time.process_time() - cpu


def store_saves(out: Path, corrections: Path, saves: int) -> list[tuple[float, float]]:
    sheets = [loaded.sheet for loaded in load_sheets(out).sheets]
    store = CorrectionsStore(corrections, sheets, load_templates())
    store.snapshot()
    times = []
    for n in range(saves):
        sheet = sheets[(n * 7) % len(sheets)]  # all over the file, not just one entry
        edit = SheetEdit(sheet.id, {"laeuft_gut": f"Räume für alle, Fassung {n}"})
        times.append(timed(lambda edit=edit: store.save(edit)))
    before = corrections.read_bytes()
    try:
        store.save(SheetEdit(sheets[0].id, template="themensammlung"))
        store.save(SheetEdit(sheets[0].id, {"laeuft_gut": "x"}))  # no such field there now
    except CorrectionsError:
        pass
    else:
        raise SystemExit("an invalid save went through: validation is not running")
    assert corrections.read_bytes() != before  # the template change itself was saved
    return times


def request_saves(out: Path, corrections: Path, saves: int) -> list[tuple[float, float]]:
    app = create_app(out, corrections, port=PORT)
    client = app.test_client()
    ids = sorted(p.stem for p in out.glob("*.json"))
    times = []
    for n in range(saves):
        sheet_id = ids[(n * 11) % len(ids)]
        state = client.get(f"/api/sheets/{sheet_id}", base_url=BASE).get_json()
        base = next(f["text"] for f in state["fields"] if f["id"] == "handlungsbedarfe")
        body = {"fields": {"handlungsbedarfe": {"text": f"Zusammenhalt {n}", "base": base}}}

        def post(sheet_id: str = sheet_id, body: dict = body) -> None:
            response = client.post(
                f"/api/sheets/{sheet_id}/save", json=body, base_url=BASE, headers={"Origin": BASE}
            )
            assert response.status_code == 200, response.get_data(as_text=True)

        times.append(timed(post))
    return times


def summary(times: list[tuple[float, float]]) -> str:
    walls, cpus = [t[0] for t in times], [t[1] for t in times]
    return (
        f"{statistics.median(walls):6.3f} {max(walls):6.3f}"
        f" {statistics.median(cpus):6.3f} {max(cpus):6.3f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sheets", default="14,100,400", help="event sizes, comma-separated")
    parser.add_argument("--saves", type=int, default=15, help="saves timed per size")
    args = parser.parse_args()
    print("seconds per save: median and slowest, wall-clock then CPU")
    print(f"{'sheets':>6} {'lines':>6}  {'what':<8} {'wall':>6} {'max':>6} {'cpu':>6} {'max':>6}")
    worst = 0.0
    for count in (int(n) for n in args.sheets.split(",")):
        with tempfile.TemporaryDirectory() as tmp:
            out, corrections = make_event(Path(tmp) / "a", count)
            lines = len(corrections.read_text(encoding="utf-8").splitlines())
            stored = store_saves(out, corrections, args.saves)
            print(f"{count:6d} {lines:6d}  {'store':<8} {summary(stored)}")
            out, corrections = make_event(Path(tmp) / "b", count)
            requested = request_saves(out, corrections, args.saves)
            print(f"{count:6d} {lines:6d}  {'request':<8} {summary(requested)}")
            worst = max(worst, statistics.median(t[1] for t in stored))
    verdict = "within" if worst <= LIMIT_SECONDS else "over"
    print(
        f"store save, median CPU time at the largest size: {worst:.3f} s ({verdict} {LIMIT_SECONDS} s)"
    )


if __name__ == "__main__":
    main()
