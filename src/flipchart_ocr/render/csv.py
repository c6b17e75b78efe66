"""The protocol as CSV: one row per line of a field, for spreadsheets and scripts.

Safe to open in a spreadsheet: what people wrote never becomes a formula (see
``defuse``), unless ``RenderContext.raw`` asks for the texts exactly as they are.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from typing import Any

from . import RenderContext, doubtful_words, is_unchecked, omitted

COLUMNS = (
    "sheet",
    "template",
    "field",
    "line",
    "text",
    "origin",
    "confidence",
    "label",
    # added after the first eight, so scripts that read by position still work
    "checked",
    "doubtful",
    "block",
    "block_kind",
    "omitted",
    "event",  # the event's title: rows of several events can share one spreadsheet
)

# OWASP, "CSV Injection": a cell that starts with = + - @, a tab or a line break is
# read as a formula by Excel and LibreOffice ("=HYPERLINK(...)" becomes a link that
# sends data away; a handwritten "- Kitaplätze" becomes #NAME?). Spreadsheets skip
# leading spaces before they look, and some fold the full-width forms to these.
_TRIGGER = "=+\\-@\t\r\n\uff1d\uff0b\uff0d\uff20"
_LIVE_START = re.compile(f"^[ \u00a0]*[{_TRIGGER}]")
# A spreadsheet that splits at ";" (Excel in a German locale, which ignores our ",") or
# at tabs starts a new cell inside ours: a trigger there is guarded too.
_LIVE_INSIDE = re.compile(f'([;\t\r\n][ \u00a0"]*)([{_TRIGGER}])')


def defuse(cell: str) -> str:
    """The cell as a spreadsheet shows it as text: an apostrophe before any character
    that would start a formula, as OWASP advises (Excel and LibreOffice hide or show
    the apostrophe, and never run the cell)."""
    cell = _LIVE_INSIDE.sub(r"\1'\2", cell)
    return "'" + cell if _LIVE_START.match(cell) else cell


def render_csv(protocol: dict[str, Any], context: RenderContext) -> str:
    """Rows in protocol order; an empty field still gets its one row (line 1, no text);
    then one row per sheet left out, its reason under ``omitted``. The event's title is
    on every row.

    Written with a byte-order mark: without it, Excel reads UTF-8 as Windows-1252
    and every umlaut breaks.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    event = protocol.get("event", {}).get("title", "")
    for row in [*_field_rows(protocol), *_omitted_rows(protocol)]:
        row.append(event)
        writer.writerow(row if context.raw else [_safe(cell) for cell in row])
    return "\ufeff" + buffer.getvalue()


def _safe(cell: Any) -> Any:
    return defuse(cell) if isinstance(cell, str) else cell


def _field_rows(protocol: dict[str, Any]) -> Iterator[list[Any]]:
    for sheet in protocol["sheets"]:
        for field_doc in sheet["fields"]:
            doubtful = doubtful_words(field_doc)
            checked = "no" if is_unchecked(field_doc) else "yes"
            for number, (line, block, kind) in enumerate(_lines(field_doc), start=1):
                unsure = [w for w in dict.fromkeys(line.split()) if w in doubtful]
                yield [
                    sheet["id"],
                    sheet["template"],
                    field_doc["id"],
                    number,
                    line,
                    field_doc["origin"],
                    field_doc["confidence"],
                    field_doc["label"],
                    checked,
                    " ".join(unsure),
                    block,
                    kind,
                    "",
                ]


def _lines(field_doc: dict[str, Any]) -> Iterator[tuple[str, int | str, str]]:
    """Each line of the field with its block number and kind (empty without blocks)."""
    blocks = field_doc.get("blocks")
    if not blocks:
        for line in field_doc["text"].split("\n"):
            yield line, "", ""
        return
    for number, block in enumerate(blocks, start=1):
        for line in block["text"].split("\n"):
            yield line, number, block.get("kind", "")


def _omitted_rows(protocol: dict[str, Any]) -> Iterator[list[Any]]:
    for entry in omitted(protocol):
        why = f"{entry.reason}: {entry.detail}" if entry.detail else entry.reason
        yield [entry.sheet_id, *[""] * (COLUMNS.index("omitted") - 1), why]
