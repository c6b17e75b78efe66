"""What learning from corrections buys: field CER on the sheets nobody reviewed yet.

    flipchart-ocr process /tmp/heldout -o /tmp/ho_out
    python benchmarks/learning.py /tmp/ho_out /tmp/heldout [--reviewed 0.25,0.5] [--rounds 5]
    python benchmarks/learning.py /tmp/ho_out /tmp/heldout --min-seen 2 --reread --rounds 2

Simulates a reviewer who has checked part of the event: for a random share of the
sheets every field is corrected to its ground truth (as the review app would
write it, with ``ocr_sha``) and the sheet marked reviewed. ``merge`` then runs
with learning on and off; the figures are pooled over the fields of the *other*
sheets only, so a fix counts only where it was learned elsewhere. Also counted:
fields a learned fix made better or worse (edit distance to the truth).

With ``--reread``, the unreviewed photos are also read again with the words the
reviewer typed (``process -c``: our recogniser decodes towards them), then merged
with learning on: the last two columns.

Caveat, printed with the figures: the sample generator draws its text from a pool
of about 80 phrases and 40 names, so words repeat across sheets more than at a
real event; read the gain as an upper bound.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from flipchart_ocr.corrections import (  # noqa: E402
    Corrections,
    FieldCorrection,
    SheetCorrections,
    ocr_fingerprint,
)
from flipchart_ocr.evaluate import Tally, edit_distance, normalise_text  # noqa: E402
from flipchart_ocr.learn import typed_words  # noqa: E402
from flipchart_ocr.merge import LoadedSheet, load_sheets, merge  # noqa: E402
from flipchart_ocr.pipeline import ProcessOptions, process_photo  # noqa: E402
from flipchart_ocr.templates import load_templates  # noqa: E402


def load_truths(folder: Path) -> dict[str, dict[str, str]]:
    truths = {}
    for path in sorted(folder.glob("*.truth.json")):
        truth = json.loads(path.read_text(encoding="utf-8"))
        truths[Path(truth["photo"]).stem] = truth.get("fields", {})
    return truths


def reviewed_corrections(
    sheets: list[LoadedSheet], truths: dict[str, dict[str, str]]
) -> Corrections:
    entries = {}
    for loaded in sheets:
        sheet = loaded.sheet
        fields = {}
        for f in sheet.fields:
            truth = truths[sheet.id].get(f.id, "")
            if normalise_text(truth) != normalise_text(f.text):
                fields[f.id] = FieldCorrection(text=truth, ocr_sha=ocr_fingerprint(f.text))
        entries[sheet.id] = SheetCorrections(fields=fields, reviewed=True)
    return Corrections(sheets=entries)


def measure(
    protocol: dict, truths: dict[str, dict[str, str]], ids: set[str]
) -> tuple[Tally, int, int]:
    tally, better, worse = Tally(), 0, 0
    for sheet in protocol["sheets"]:
        if sheet["id"] not in ids:
            continue
        for f in sheet["fields"]:
            truth = truths[sheet["id"]].get(f["id"], "")
            tally.add_text(f["text"], truth)
            if f.get("learned"):
                before = edit_distance(normalise_text(f["ocr_text"]), normalise_text(truth))
                after = edit_distance(normalise_text(f["text"]), normalise_text(truth))
                better += after < before
                worse += after > before
    return tally, better, worse


def reread(
    sheets: list[LoadedSheet], ids: set[str], corrections: Corrections, templates: dict
) -> list[LoadedSheet]:
    """``sheets``, those in ``ids`` read again from their photos knowing the typed words."""
    options = ProcessOptions(words=typed_words(corrections))
    again = []
    for loaded in sheets:
        if loaded.sheet.id in ids:
            photo = Path(loaded.sheet.source.path)
            options = replace(options, template=loaded.sheet.template)
            loaded = LoadedSheet(process_photo(photo, templates, options).sheet, loaded.path)
        again.append(loaded)
    return again


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("out", type=Path, help="the -o folder of flipchart-ocr process")
    parser.add_argument("truths", type=Path, help="the photos' folder with .truth.json files")
    parser.add_argument("--reviewed", default="0.25,0.5", help="shares of sheets reviewed")
    parser.add_argument("--rounds", type=int, default=5, help="random splits per share")
    parser.add_argument("--min-seen", default="1,2,3", help="merge --learn-min values")
    parser.add_argument(
        "--reread", action="store_true", help="also read the unreviewed photos again (process -c)"
    )
    args = parser.parse_args()

    templates = load_templates()
    truths = load_truths(args.truths)
    sheets = [s for s in load_sheets(args.out).sheets if s.sheet.template and s.sheet.id in truths]
    min_seens = [int(v) for v in args.min_seen.split(",")]
    print(f"{len(sheets)} sheets from {args.out}; ground truth from {args.truths}")
    extra = " CER re-read | F1 re-read |" if args.reread else ""
    print(
        "| reviewed | learn-min | CER off | CER on | F1 off | F1 on | fields better | worse |"
        + extra
    )
    print("|---|---|---|---|---|---|---|---|" + "---|---|" * bool(args.reread))
    for share in (float(v) for v in args.reviewed.split(",")):
        rows = {m: [Tally(), Tally(), 0, 0, Tally()] for m in min_seens}
        for round_ in range(args.rounds):
            shuffled = sorted(sheets, key=lambda s: s.sheet.id)
            random.Random(round_).shuffle(shuffled)
            count = max(1, round(share * len(shuffled)))
            reviewed, others = shuffled[:count], shuffled[count:]
            corrections = reviewed_corrections(reviewed, truths)
            other_ids = {s.sheet.id for s in others}
            off = merge(sheets, corrections, templates, Path("/tmp/p.json"), learn_min_seen=0)
            tally_off, _, _ = measure(off.protocol, truths, other_ids)
            for m in min_seens:
                on = merge(sheets, corrections, templates, Path("/tmp/p.json"), learn_min_seen=m)
                tally_on, better, worse = measure(on.protocol, truths, other_ids)
                row = rows[m]
                row[0].add(tally_off)
                row[1].add(tally_on)
                row[2] += better
                row[3] += worse
            if args.reread:
                again = reread(sheets, other_ids, corrections, templates)
                for m in min_seens:
                    on = merge(again, corrections, templates, Path("/tmp/p.json"), learn_min_seen=m)
                    rows[m][4].add(measure(on.protocol, truths, other_ids)[0])
        for m, (off_t, on_t, better, worse, again_t) in rows.items():
            print(
                f"| {share:.0%} | {m} | {off_t.cer:.3f} | {on_t.cer:.3f} | {off_t.f1:.3f} |"
                f" {on_t.f1:.3f} | {better} | {worse} |"
                + (f" {again_t.cer:.3f} | {again_t.f1:.3f} |" if args.reread else "")
            )
    print(f"({args.rounds} random splits per share; figures pooled over the unreviewed sheets)")
    print("Caveat: the generator's text pool is small, so words repeat more than at a real event.")


if __name__ == "__main__":
    main()
