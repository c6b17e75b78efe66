"""The protocol as one self-contained HTML file: to e-mail, to open, to print to PDF.

Every sheet image is embedded as a downscaled JPEG, so the file needs nothing
beside it. Everything people wrote (and everything OCR read) is escaped. The marks
for unchecked text are text, not only colour, so that they survive printing in
black and white and copying the text out.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from html import escape
from pathlib import Path
from typing import Any

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
    is_unsure,
    marked_tokens,
    omitted,
    sections,
)
from .images import sheet_picture

# Long side of an embedded image: sharp enough to read handwriting on screen and
# at A4 print size, small enough (~150-250 kB each) that 40 sheets still e-mail.
EMBED_LONG_SIDE = 1200
EMBED_QUALITY = 80
CSS_PATH = Path(__file__).parent / "templates" / "protocol.css"


def render_html(protocol: dict[str, Any], context: RenderContext) -> str:
    body = [_header(protocol)]
    if has_marks(protocol):
        body.append(f'<p class="legend">{escape(WORDS["legend"])}</p>')
    body.append(_omitted(protocol))
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
        + "\n".join(part for part in body if part)
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
            f"{_lines(field_lines(event['moderation']))}</p>"
        )
    parts.append("</header>")
    return "\n".join(parts)


def _omitted(protocol: dict[str, Any]) -> str:
    """Every sheet left out, with why: at the top, where nobody misses it."""
    entries = omitted(protocol)
    if not entries:
        return ""
    items = "\n".join(
        f"<li><strong>{escape(o.sheet_id)}</strong>: {escape(o.description)}</li>" for o in entries
    )
    heading = f"{WORDS['omitted']} ({len(entries)})"
    return f'<aside class="omitted">\n<h2>{escape(heading)}</h2>\n<ul>\n{items}\n</ul>\n</aside>'


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
    title = tag = ""
    if is_unchecked(field_doc):
        classes.append("unchecked")
        tooltip = WORDS["unchecked_title"]
        if is_unsure(field_doc):
            tooltip += f" ({WORDS['confidence']} {float(field_doc['confidence']):.0f})"
        title = f' title="{escape(tooltip)}"'
        tag = f'<span class="tag">{escape(WORDS["unchecked"])}</span>'
    if field_doc["label"]:
        heading = f"<h3>{escape(field_doc['label'])}{' ' + tag if tag else ''}</h3>"
    else:
        heading = f'<p class="tag-line">{tag}</p>' if tag else ""
    doubtful = doubtful_words(field_doc)
    text = "".join(_paragraph(p, doubtful) for p in _grouped(field_paragraphs(field_doc)))
    return (
        f'<div class="{" ".join(classes)}" data-field="{escape(field_doc["id"])}"{title}>'
        f"{heading}{text}</div>"
    )


def _grouped(paragraphs: list[Paragraph]) -> Iterable[Paragraph | list[Paragraph]]:
    """Consecutive bullets as one list, everything else as it comes."""
    bullets: list[Paragraph] = []
    for paragraph in paragraphs:
        if paragraph.kind == "bullet":
            bullets.append(paragraph)
            continue
        if bullets:
            yield bullets
            bullets = []
        yield paragraph
    if bullets:
        yield bullets


def _paragraph(paragraph: Paragraph | list[Paragraph], doubtful: frozenset[str]) -> str:
    if isinstance(paragraph, list):
        items = "".join(f"<li>{_lines(b.lines, doubtful)}</li>" for b in paragraph)
        return f'<ul class="bullets">{items}</ul>'
    if paragraph.kind == "heading":
        return f'<h4 class="block">{_lines(paragraph.lines, doubtful)}</h4>'
    if paragraph.kind == "item":
        return f'<p class="item">{_lines(paragraph.lines, doubtful)}</p>'
    return f"<p>{_lines(paragraph.lines, doubtful)}</p>"


def _lines(lines: Iterable[str], doubtful: frozenset[str] = frozenset()) -> str:
    """Lines as HTML lines; words read unsure marked, in print too ("[?]" is text)."""
    title = escape(WORDS["doubtful"])
    mark = f'<span class="mark">{escape(WORDS["doubtful_mark"])}</span>'

    def word(token: str, unsure: bool) -> str:
        if unsure:
            return f'<span class="doubtful" title="{title}">{escape(token)}{mark}</span>'
        return escape(token)

    return "<br>".join(
        "".join(word(token, unsure) for token, unsure in marked_tokens(line, doubtful))
        for line in lines
    )


def _figure(sheet: dict[str, Any], context: RenderContext) -> tuple[str, bool]:
    """The sheet's picture as an embedded JPEG, and whether it is landscape."""
    caption = f"<figcaption>{escape(WORDS['photo'])} {escape(sheet['id'])}</figcaption>"
    picture = sheet_picture(sheet, context, EMBED_LONG_SIDE, EMBED_QUALITY)
    if picture is None:
        missing = escape(WORDS["photo_missing"])
        return f'<figure><div class="missing">{missing}</div>{caption}</figure>', False
    data = base64.b64encode(picture.jpeg).decode("ascii")
    alt = escape(f"{WORDS['photo']} {sheet['id']}")
    img = (
        f'<img src="data:image/jpeg;base64,{data}" width="{picture.width}"'
        f' height="{picture.height}" alt="{alt}">'
    )
    return f"<figure>{img}{caption}</figure>", picture.landscape


def _anchor(sheet_id: str) -> str:
    return "sheet-" + "".join(c if c.isalnum() or c in "-_" else "-" for c in sheet_id)
