"""The protocol as one self-contained HTML file: to e-mail, to open, to print to PDF.

Every sheet image is embedded as a downscaled JPEG, so the file needs nothing
beside it. Everything people wrote (and everything OCR read) is escaped.
"""

from __future__ import annotations

import base64
import io
import re
from collections.abc import Iterable
from html import escape
from pathlib import Path
from typing import Any

from PIL import Image, UnidentifiedImageError

from . import (
    WORDS,
    RenderContext,
    display_date,
    document_title,
    field_lines,
    is_unchecked,
    sections,
)

# Long side of an embedded image: sharp enough to read handwriting on screen and
# at A4 print size, small enough (~150-250 kB each) that 40 sheets still e-mail.
EMBED_LONG_SIDE = 1200
EMBED_QUALITY = 80
CSS_PATH = Path(__file__).parent / "templates" / "protocol.css"


def render_html(protocol: dict[str, Any], context: RenderContext) -> str:
    body = [_header(protocol)]
    for section in sections(protocol):
        body.append('<section class="template">')
        body.append(f"<h2>{escape(section.name)}</h2>")
        body.extend(_sheet(sheet, context) for sheet in section.sheets)
        body.append("</section>")
    title = escape(document_title(protocol))
    css = CSS_PATH.read_text(encoding="utf-8")
    return (
        "<!DOCTYPE html>\n"
        '<html lang="de">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<meta name="generator" content="flipchart-ocr">\n'
        f"<title>{title}</title>\n<style>\n{css}</style>\n</head>\n<body>\n"
        + "\n".join(body)
        + "\n</body>\n</html>\n"
    )


def _header(protocol: dict[str, Any]) -> str:
    event = protocol.get("event", {})
    parts = ['<header class="event">']
    if event.get("title"):  # without a title, the heading already says "Fotoprotokoll"
        parts.append(f'<p class="kicker">{escape(WORDS["protocol"])}</p>')
    parts.append(f"<h1>{escape(document_title(protocol))}</h1>")
    if event.get("subtitle"):
        parts.append(f'<p class="subtitle">{escape(event["subtitle"])}</p>')
    facts = [display_date(event["date"])] if event.get("date") else []
    facts += [event["place"]] if event.get("place") else []
    if facts:
        parts.append(f'<p class="facts">{escape(" · ".join(facts))}</p>')
    if event.get("moderation"):
        parts.append(
            f'<p class="moderation">{escape(WORDS["moderation"])}: '
            f"{_lines(event['moderation'])}</p>"
        )
    parts.append("</header>")
    return "\n".join(parts)


def _sheet(sheet: dict[str, Any], context: RenderContext) -> str:
    figure, landscape = _figure(sheet, context)
    classes = "sheet landscape" if landscape else "sheet"
    fields = "\n".join(_field(f) for f in sheet["fields"])
    return (
        f'<article class="{classes}" id="{escape(_anchor(sheet["id"]))}">\n'
        f'{figure}\n<div class="fields">\n{fields}\n</div>\n</article>'
    )


def _field(field_doc: dict[str, Any]) -> str:
    classes = ["field", f"origin-{field_doc['origin']}"]
    title = ""
    if is_unchecked(field_doc):
        classes.append("unchecked")
        confidence = f"{float(field_doc['confidence']):.0f}"
        title = f' title="{escape(WORDS["unchecked"])} ({WORDS["confidence"]} {confidence})"'
    heading = f"<h3>{escape(field_doc['label'])}</h3>" if field_doc["label"] else ""
    return (
        f'<div class="{" ".join(classes)}" data-field="{escape(field_doc["id"])}"{title}>'
        f"{heading}<p>{_lines(field_doc['text'], field_doc.get('doubtful', ()))}</p></div>"
    )


def _lines(text: str, doubtful: Iterable[str] = ()) -> str:
    """The text as HTML lines; words Tesseract was unsure of marked (on screen only)."""
    doubtful = set(doubtful)
    title = escape(WORDS["doubtful"])

    def word(match: re.Match[str]) -> str:
        token = match.group(0)
        if token in doubtful:
            return f'<span class="doubtful" title="{title}">{escape(token)}</span>'
        return escape(token)

    return "<br>".join(
        "".join(word(m) if m.group(0).strip() else m.group(0) for m in _TOKENS.finditer(line))
        for line in field_lines(text)
    )


_TOKENS = re.compile(r"\S+|\s+")


def _figure(sheet: dict[str, Any], context: RenderContext) -> tuple[str, bool]:
    """The sheet's picture as an embedded JPEG, and whether it is landscape."""
    caption = f"<figcaption>{escape(WORDS['photo'])} {escape(sheet['id'])}</figcaption>"
    path = context.image_path(sheet)
    if path is None:
        context.warn(f"{sheet['id']}: no sheet image recorded; the protocol shows a placeholder")
    embedded = _embed(path, sheet["id"], context) if path is not None else None
    if embedded is None:
        missing = escape(WORDS["photo_missing"])
        return f'<figure><div class="missing">{missing}</div>{caption}</figure>', False
    data, width, height = embedded
    alt = escape(f"{WORDS['photo']} {sheet['id']}")
    img = f'<img src="data:image/jpeg;base64,{data}" width="{width}" height="{height}" alt="{alt}">'
    return f"<figure>{img}{caption}</figure>", width > height


def _embed(path: Path, sheet_id: str, context: RenderContext) -> tuple[str, int, int] | None:
    try:
        with Image.open(path) as image:
            picture = image.convert("RGB")
    except FileNotFoundError:
        context.warn(f"{sheet_id}: sheet image {path} not found; the protocol shows a placeholder")
        return None
    except (OSError, UnidentifiedImageError) as e:
        context.warn(f"{sheet_id}: sheet image {path} cannot be read ({e}); placeholder shown")
        return None
    picture.thumbnail((EMBED_LONG_SIDE, EMBED_LONG_SIDE), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    picture.save(buffer, "JPEG", quality=EMBED_QUALITY, optimize=True, progressive=True)
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return data, picture.width, picture.height


def _anchor(sheet_id: str) -> str:
    return "sheet-" + "".join(c if c.isalnum() or c in "-_" else "-" for c in sheet_id)
