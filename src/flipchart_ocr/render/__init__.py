"""The protocol JSON as a document people read: Markdown, one self-contained HTML file,
a Word file, CSV.

Each format is one module with a ``render_*(protocol, context)`` function; this module
picks the format, reads and checks the protocol, and holds what the formats share: the
sections, the event heading, the document's few words, and what every format must show
the same way: which text nobody has checked, which words were read unsure, which
sheets are left out and why.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import FlipchartError, UsageError
from ..io import read_json
from ..schemas import load_schema

FORMATS = ("md", "html", "docx", "csv")
SUFFIX_FORMATS = {
    ".md": "md",
    ".markdown": "md",
    ".html": "html",
    ".htm": "html",
    ".docx": "docx",
    ".csv": "csv",
}

# The document speaks the language of the sheets it shows (the built-in templates
# are German): its own words, kept in one place.
WORDS = {
    "protocol": "Fotoprotokoll",
    "moderation": "Moderation",
    "photo": "Foto",
    "photo_missing": "Foto nicht gefunden",
    "unchecked": "nicht geprüft",
    "unchecked_title": "OCR-Text, nicht geprüft",
    "doubtful": "unsicher gelesen",
    "doubtful_mark": "[?]",
    "confidence": "Konfidenz",
    # One line, printed wherever a mark appears: a printout must explain itself.
    "legend": "Hinweis: „nicht geprüft“ steht bei Text aus der Texterkennung, den noch"
    " niemand mit dem Foto verglichen hat; [?] folgt einem unsicher gelesenen Wort.",
    "omitted": "Nicht im Protokoll",
}
# Why a sheet is left out (the protocol's ``omitted`` reasons), as the document says it.
OMITTED_REASONS = {
    "skip": "bewusst ausgelassen",
    "unreadable": "Foto nicht lesbar",
    "corrupt": "Ergebnisdatei des Fotos nicht lesbar",
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
# Below this confidence an unchecked field's tooltip (HTML) says how unsure it is. A
# rough line: in the test photos, handwritten fields under 60 held misread words and
# those above it mostly did not.
UNSURE_BELOW = 60.0
# A bullet's own marker as written on the sheet; such a bullet is printed as written.
_OWN_MARKER = re.compile(r"^\s*[-–—•·*+→>]")


@dataclass
class RenderContext:
    """Where the protocol lies (its image paths are relative to it) and where output goes."""

    protocol_dir: Path
    output: Path
    warn: Callable[[str], None] = field(default=lambda message: None)
    raw: bool = False  # CSV: texts exactly as they are, no guard against formulas

    def image_path(self, sheet: dict[str, Any]) -> Path | None:
        image = sheet.get("image")
        if not image:
            return None
        path = Path(image)
        return path if path.is_absolute() else self.protocol_dir / path


@dataclass(frozen=True)
class Paragraph:
    """A piece of a field's text as printed: a heading, a bullet, or a paragraph of lines."""

    # "heading"; "bullet" (printed with the format's bullet); "item", a bullet with the
    # writer's own marker ("- Kitaplätze"), printed as written; or "paragraph"
    kind: str
    lines: tuple[str, ...]


@dataclass(frozen=True)
class Omitted:
    sheet_id: str
    reason: str  # as the protocol names it: skip, unreadable, corrupt
    detail: str

    @property
    def description(self) -> str:
        """The reason in the document's words, with the detail: one line."""
        said = OMITTED_REASONS.get(self.reason, self.reason)
        return f"{said} ({self.detail})" if self.detail else said


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
    """Read a protocol JSON and check it against its schema; errors name the file.

    An invalid protocol is bad input like an invalid corrections file (exit 2); a valid
    one without sheets (every photo failed or was skipped) is refused too (exit 1): an
    empty document handed out would look like a protocol.
    """
    try:
        protocol = read_json(path)
    except FileNotFoundError as e:
        raise UsageError(f"{path}: no such file (make it with `flipchart-ocr merge`)") from e
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise UsageError(f"{path}: not a readable JSON file ({e})") from e
    import jsonschema  # here: the CLI imports this package for FORMATS alone

    validator = jsonschema.Draft202012Validator(load_schema("protocol"))
    error = jsonschema.exceptions.best_match(validator.iter_errors(protocol))
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "top level"
        raise UsageError(f"{path}: not a protocol JSON ({where}: {error.message})")
    if not protocol["sheets"]:
        left_out = ", ".join(f"{o.sheet_id} ({o.reason})" for o in omitted(protocol))
        raise FlipchartError(
            f"{path}: no sheets to render"
            + (f"; left out: {left_out}" if left_out else "")
            + "; nothing written"
        )
    return protocol


def render(protocol: dict[str, Any], fmt: str, context: RenderContext) -> bytes:
    """The document's bytes: text formats as UTF-8, unchanged (the CSV's CRLF stays)."""
    # Imported here: the HTML and Word renderers need Pillow and python-docx.
    if fmt == "md":
        from .markdown import render_markdown

        return render_markdown(protocol, context).encode("utf-8")
    if fmt == "html":
        from .html import render_html

        return render_html(protocol, context).encode("utf-8")
    if fmt == "docx":
        from .word import render_docx

        return render_docx(protocol, context)
    if fmt == "csv":
        from .csv import render_csv

        return render_csv(protocol, context).encode("utf-8")
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
    """Text no person has checked: every format marks it, so that nobody takes it for fact.

    A protocol from before ``checked`` existed counts a corrected field as checked.
    """
    return not field_doc.get("checked", field_doc.get("origin") == "corrected")


def is_unsure(field_doc: dict[str, Any]) -> bool:
    """Unchecked text read with low confidence."""
    return is_unchecked(field_doc) and float(field_doc.get("confidence", 0)) < UNSURE_BELOW


def doubtful_words(field_doc: dict[str, Any]) -> frozenset[str]:
    """The words to mark as read unsure: none once a person has checked the field."""
    return frozenset(field_doc.get("doubtful", ())) if is_unchecked(field_doc) else frozenset()


def has_marks(protocol: dict[str, Any]) -> bool:
    """Whether the document shows any mark, and so needs the legend."""
    return any(is_unchecked(f) for sheet in protocol["sheets"] for f in sheet["fields"])


def marked_tokens(line: str, doubtful: Iterable[str]) -> Iterator[tuple[str, bool]]:
    """The line as words and the spaces between them, each word with whether to mark it."""
    doubtful = frozenset(doubtful)
    for match in _TOKENS.finditer(line):
        token = match.group(0)
        yield token, bool(token.strip()) and token in doubtful


_TOKENS = re.compile(r"\S+|\s+")


def field_paragraphs(field_doc: dict[str, Any]) -> list[Paragraph]:
    """The field's text as printed: one piece per block (card, bullet, heading) when the
    protocol groups it, else one paragraph of its lines. Every line of the text is in it."""
    blocks = field_doc.get("blocks")
    if not blocks:
        lines = field_lines(field_doc["text"])
        return [Paragraph("paragraph", tuple(lines))] if lines else []
    paragraphs = []
    for block in blocks:
        lines = field_lines(block["text"])
        if lines:
            paragraphs.append(Paragraph(_printed_kind(block.get("kind", ""), lines), tuple(lines)))
    return paragraphs


def _printed_kind(kind: str, lines: list[str]) -> str:
    # A bullet the writer marked ("- Kitaplätze", "+ Lärm" in a pro/con list) is printed
    # as written: the marker may mean something. Only an unmarked one gets our bullet.
    if kind == "bullet":
        return "item" if _OWN_MARKER.match(lines[0]) else "bullet"
    return "heading" if kind == "heading" else "paragraph"


def omitted(protocol: dict[str, Any]) -> list[Omitted]:
    """The sheets left out of the protocol, in id order, each with why."""
    return [
        Omitted(entry["id"], entry["reason"], entry.get("detail", ""))
        for entry in protocol.get("omitted", [])
    ]
