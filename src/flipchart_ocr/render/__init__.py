"""The protocol JSON as a document people read: Markdown, one self-contained HTML file, CSV.

Each format is one module with a ``render_*(protocol, context) -> str`` function;
this module picks the format, reads and checks the protocol, and holds what the
formats share: the sections, the event heading, the document's few words.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import FlipchartError, UsageError
from ..io import read_json
from ..schemas import load_schema

FORMATS = ("md", "html", "csv")
SUFFIX_FORMATS = {".md": "md", ".markdown": "md", ".html": "html", ".htm": "html", ".csv": "csv"}

# The document speaks the language of the sheets it shows (the built-in templates
# are German): its own words, kept in one place.
WORDS = {
    "protocol": "Fotoprotokoll",
    "moderation": "Moderation",
    "photo": "Foto",
    "photo_missing": "Foto nicht gefunden",
    "unchecked": "OCR-Text, nicht geprüft",
    "doubtful": "unsicher gelesen",
    "confidence": "Konfidenz",
}
GERMAN_MONTHS = (
    "Januar",
    "Februar",
    "März",
    "April",
    "Mai",
    "Juni",
    "Juli",
    "August",
    "September",
    "Oktober",
    "November",
    "Dezember",
)
# Below this Tesseract confidence an uncorrected field is marked on screen (never
# in print). A rough line: in the test photos, handwritten fields under 60 held
# misread words and those above it mostly did not.
UNCHECKED_BELOW = 60.0


@dataclass
class RenderContext:
    """Where the protocol lies (its image paths are relative to it) and where output goes."""

    protocol_dir: Path
    output: Path
    warn: Callable[[str], None] = field(default=lambda message: None)

    def image_path(self, sheet: dict[str, Any]) -> Path | None:
        image = sheet.get("image")
        if not image:
            return None
        path = Path(image)
        return path if path.is_absolute() else self.protocol_dir / path


@dataclass(frozen=True)
class Section:
    template: str
    name: str
    sheets: list[dict[str, Any]]


def format_for(output: Path, explicit: str | None = None) -> str:
    """The format asked for with --format, else the one the output's suffix names."""
    if explicit:
        return explicit
    fmt = SUFFIX_FORMATS.get(Path(output).suffix.lower())
    if fmt is None:
        known = ", ".join(SUFFIX_FORMATS)
        raise UsageError(
            f"{output}: cannot tell the format from the suffix ({known}); use --format"
        )
    return fmt


def load_protocol(path: Path) -> dict[str, Any]:
    """Read a protocol JSON and check it against its schema; errors name the file."""
    try:
        protocol = read_json(path)
    except FileNotFoundError as e:
        raise UsageError(f"{path}: no such file (make it with `flipchart-ocr merge`)") from e
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise FlipchartError(f"{path}: not a readable JSON file ({e})") from e
    import jsonschema  # here: the CLI imports this package for FORMATS alone

    validator = jsonschema.Draft202012Validator(load_schema("protocol"))
    error = jsonschema.exceptions.best_match(validator.iter_errors(protocol))
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "top level"
        raise FlipchartError(f"{path}: not a protocol JSON ({where}: {error.message})")
    return protocol


def render(protocol: dict[str, Any], fmt: str, context: RenderContext) -> str:
    # Imported here: the HTML renderer needs Pillow, the others need nothing.
    if fmt == "md":
        from .markdown import render_markdown

        return render_markdown(protocol, context)
    if fmt == "html":
        from .html import render_html

        return render_html(protocol, context)
    if fmt == "csv":
        from .csv import render_csv

        return render_csv(protocol, context)
    raise UsageError(f"unknown format {fmt!r}; known: {', '.join(FORMATS)}")


def sections(protocol: dict[str, Any]) -> Iterator[Section]:
    """The sheets in protocol order, grouped by template, with each section's name.

    Sheets are grouped as they come (merge writes them section by section), so a
    protocol without ``sections`` still renders, with template ids as names.
    """
    names = {s["template"]: s["name"] for s in protocol.get("sections", [])}
    current: Section | None = None
    for sheet in protocol["sheets"]:
        if current is None or sheet["template"] != current.template:
            if current is not None:
                yield current
            template = sheet["template"]
            current = Section(template, names.get(template, template), [])
        current.sheets.append(sheet)
    if current is not None:
        yield current


def display_date(value: str) -> str:
    """An ISO date as the protocol prints it ("27. März 2019"); anything else as written."""
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        try:
            date = dt.date.fromisoformat(value)
        except ValueError:
            return value
        return f"{date.day}. {GERMAN_MONTHS[date.month - 1]} {date.year}"
    return value


def document_title(protocol: dict[str, Any]) -> str:
    return protocol.get("event", {}).get("title") or WORDS["protocol"]


def field_lines(text: str) -> list[str]:
    """A field's text as the lines to print: blank lines at either end dropped."""
    return text.strip("\n").split("\n") if text.strip() else []


def is_unchecked(field_doc: dict[str, Any]) -> bool:
    """OCR text nobody corrected, read with low confidence: worth a reviewer's look."""
    return (
        field_doc.get("origin") == "ocr"
        and bool(field_doc.get("text", "").strip())
        and float(field_doc.get("confidence", 0)) < UNCHECKED_BELOW
    )
