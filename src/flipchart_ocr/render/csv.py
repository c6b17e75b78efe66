"""The protocol as CSV: one row per line of a field, for spreadsheets and scripts."""

from __future__ import annotations

import csv
import io
from typing import Any

from . import RenderContext

COLUMNS = ("sheet", "template", "field", "line", "text", "origin", "confidence", "label")


def render_csv(protocol: dict[str, Any], context: RenderContext) -> str:
    """Rows in protocol order; an empty field still gets its one row (line 1, no text).

    Written with a byte-order mark: without it, Excel reads UTF-8 as Windows-1252
    and every umlaut breaks. Texts are written as they are, also those starting
    with "-" or "+" (handwritten bullets), which a spreadsheet may take for formulas.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for sheet in protocol["sheets"]:
        for field_doc in sheet["fields"]:
            for number, line in enumerate(field_doc["text"].split("\n"), start=1):
                writer.writerow(
                    (
                        sheet["id"],
                        sheet["template"],
                        field_doc["id"],
                        number,
                        line,
                        field_doc["origin"],
                        field_doc["confidence"],
                        field_doc["label"],
                    )
                )
    return "\ufeff" + buffer.getvalue()
