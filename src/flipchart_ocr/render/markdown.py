"""The protocol as Markdown: readable as plain text, and as a page on any Markdown viewer."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any
from urllib.parse import quote

from . import (
    WORDS,
    Paragraph,
    RenderContext,
    display_date,
    document_title,
    doubtful_words,
    field_lines,
    field_paragraphs,
    has_marks,
    is_unchecked,
    marked_tokens,
    omitted,
    sections,
)

# What means something anywhere in a line of Markdown (or of the HTML a viewer makes
# of it) is escaped, so handwriting like "*wichtig*" or "<Name>" stays text. An "_"
# inside a word ("IMG_0412") and an "&" that starts no entity mean nothing: left as
# they are, so the Markdown stays readable as plain text.
_INLINE_SPECIAL = re.compile(r"[\\`*\[\]<>|~]|(?<!\w)_|_(?!\w)|&(?=#?\w+;)")
# What means something only at the start of a line: headings, quotes, list markers.
_LINE_START_SPECIAL = re.compile(r"^(\s*)([#>+=-]|\d+[.)])")


def escape(line: str) -> str:
    return _escape_line_start(_escape_inline(line))


def _escape_inline(text: str) -> str:
    return _INLINE_SPECIAL.sub(lambda m: "\\" + m.group(0), text)


def _escape_line_start(line: str) -> str:
    return _LINE_START_SPECIAL.sub(lambda m: m.group(1) + _escape_marker(m.group(2)), line)


def _escape_marker(marker: str) -> str:
    if marker[0].isdigit():  # "1." starts an ordered list; "1\." does not
        return marker[:-1] + "\\" + marker[-1]
    return "\\" + marker


def render_markdown(protocol: dict[str, Any], context: RenderContext) -> str:
    out: list[str] = []
    out += _header(protocol)
    if has_marks(protocol):
        out += [f"*{escape(WORDS['legend'])}*", ""]
    out += _omitted(protocol)
    for section in sections(protocol):
        out += [f"## {escape(section.name)}", ""]
        for sheet in section.sheets:
            out += _sheet(sheet, context)
    return "\n".join(out).rstrip("\n") + "\n"


def _header(protocol: dict[str, Any]) -> list[str]:
    event = protocol.get("event", {})
    lines = [f"# {escape(document_title(protocol))}", ""]
    if event.get("subtitle"):
        lines += [escape(event["subtitle"]), ""]
    # Without a title the heading already says "Fotoprotokoll": not again below it.
    facts = [WORDS["protocol"]] if event.get("title") else []
    facts += [display_date(event["date"])] if event.get("date") else []
    facts += [event["place"]] if event.get("place") else []
    if facts:
        lines += [escape(" · ".join(facts)), ""]
    if event.get("moderation"):
        moderation = [_marked(line, frozenset()) for line in field_lines(event["moderation"])]
        lines += [f"{WORDS['moderation']}: " + _hard_breaks(moderation), ""]
    return lines


def _sheet(sheet: dict[str, Any], context: RenderContext) -> list[str]:
    lines = [f"### {escape(sheet['id'])}", ""]
    image = context.image_path(sheet)
    if image is not None and image.is_file():
        lines += [f"![{WORDS['photo']} {escape(sheet['id'])}]({_link(image, context)})", ""]
    elif sheet.get("image"):
        context.warn(f"{sheet['id']}: sheet image {image} not found")
    for field_doc in sheet["fields"]:
        tag = f"*({WORDS['unchecked']})*" if is_unchecked(field_doc) else ""
        if field_doc["label"]:
            lines += [" ".join(filter(None, (f"**{escape(field_doc['label'])}**", tag))), ""]
        elif tag:
            lines += [tag, ""]
        doubtful = doubtful_words(field_doc)
        for paragraph in field_paragraphs(field_doc):
            lines += [_paragraph(paragraph, doubtful), ""]
    return lines


def _omitted(protocol: dict[str, Any]) -> list[str]:
    entries = omitted(protocol)
    if not entries:
        return []
    lines = [f"## {WORDS['omitted']} ({len(entries)})", ""]
    lines += [f"- **{escape(o.sheet_id)}**: {escape(o.description)}" for o in entries]
    return [*lines, ""]


def _paragraph(paragraph: Paragraph, doubtful: frozenset[str]) -> str:
    lines = [_marked(line, doubtful) for line in paragraph.lines]
    if paragraph.kind == "heading":
        return "#### " + " ".join(line for line in lines if line)
    if paragraph.kind == "bullet":
        return "- " + "\\\n  ".join(lines)
    return _hard_breaks(lines)


def _marked(line: str, doubtful: frozenset[str]) -> str:
    """The line escaped, each word read unsure followed by the mark.

    Words are escaped one by one (what the inline escapes look at never spans a
    space), then the line's start. Leading spaces are dropped: four of them would
    start a code block.
    """
    mark = _escape_inline(WORDS["doubtful_mark"])
    tokens = marked_tokens(line.lstrip(), doubtful)
    text = "".join(_escape_inline(token) + (mark if unsure else "") for token, unsure in tokens)
    return _escape_line_start(text)


def _hard_breaks(lines: list[str]) -> str:
    # A backslash at the end of a line is CommonMark's hard line break: the
    # sheet's lines stay lines instead of running together into one paragraph.
    return "\\\n".join(lines)


def _link(image: Path, context: RenderContext) -> str:
    base = context.output.resolve().parent
    try:
        target = Path(os.path.relpath(image.resolve(), base)).as_posix()
    except ValueError:  # another drive on Windows
        target = image.resolve().as_uri()
    return quote(target, safe="/:")
