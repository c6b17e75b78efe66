"""The protocol as Markdown: readable as plain text, and as a page on any Markdown viewer."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any
from urllib.parse import quote

from . import WORDS, RenderContext, display_date, document_title, field_lines, sections

# What means something anywhere in a line of Markdown (or of the HTML a viewer makes
# of it) is escaped, so handwriting like "*wichtig*" or "<Name>" stays text. An "_"
# inside a word ("IMG_0412") and an "&" that starts no entity mean nothing: left as
# they are, so the Markdown stays readable as plain text.
_INLINE_SPECIAL = re.compile(r"[\\`*\[\]<>|~]|(?<!\w)_|_(?!\w)|&(?=#?\w+;)")
# What means something only at the start of a line: headings, quotes, list markers.
_LINE_START_SPECIAL = re.compile(r"^(\s*)([#>+=-]|\d+[.)])")


def escape(line: str) -> str:
    escaped = _INLINE_SPECIAL.sub(lambda m: "\\" + m.group(0), line)
    return _LINE_START_SPECIAL.sub(lambda m: m.group(1) + _escape_marker(m.group(2)), escaped)


def _escape_marker(marker: str) -> str:
    if marker[0].isdigit():  # "1." starts an ordered list; "1\." does not
        return marker[:-1] + "\\" + marker[-1]
    return "\\" + marker


def render_markdown(protocol: dict[str, Any], context: RenderContext) -> str:
    out: list[str] = []
    out += _header(protocol)
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
    facts = [WORDS["protocol"]]
    facts += [display_date(event["date"])] if event.get("date") else []
    facts += [event["place"]] if event.get("place") else []
    lines += [escape(" · ".join(facts)), ""]
    if event.get("moderation"):
        lines += [f"{WORDS['moderation']}: " + _hard_breaks(event["moderation"]), ""]
    return lines


def _sheet(sheet: dict[str, Any], context: RenderContext) -> list[str]:
    lines = [f"### {escape(sheet['id'])}", ""]
    image = context.image_path(sheet)
    if image is not None and image.is_file():
        lines += [f"![{WORDS['photo']} {escape(sheet['id'])}]({_link(image, context)})", ""]
    elif sheet.get("image"):
        context.warn(f"{sheet['id']}: sheet image {image} not found")
    for field_doc in sheet["fields"]:
        if field_doc["label"]:
            lines += [f"**{escape(field_doc['label'])}**", ""]
        text = _hard_breaks(field_doc["text"])
        if text:
            lines += [text, ""]
    return lines


def _hard_breaks(text: str) -> str:
    # A backslash at the end of a line is CommonMark's hard line break: the
    # sheet's lines stay lines instead of running together into one paragraph.
    # Leading spaces are dropped: four of them would start a code block.
    return "\\\n".join(escape(line.lstrip()) for line in field_lines(text))


def _link(image: Path, context: RenderContext) -> str:
    base = context.output.resolve().parent
    try:
        target = Path(os.path.relpath(image.resolve(), base)).as_posix()
    except ValueError:  # another drive on Windows
        target = image.resolve().as_uri()
    return quote(target, safe="/:")
