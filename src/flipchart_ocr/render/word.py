"""The protocol as a Word file (.docx), for offices that edit protocols in Word.

It reads like the HTML protocol: the event at the top, the legend and the sheets
left out, then one part per template, each sheet's picture followed by its fields
(the label as a heading, the text below). Sized for A4; made with python-docx.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

from docx import Document
from docx.document import Document as DocxDocument
from docx.enum.text import WD_COLOR_INDEX
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Mm, Pt, RGBColor
from docx.text.paragraph import Paragraph as DocxParagraph

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
from .images import sheet_picture

PAGE_WIDTH, PAGE_HEIGHT = Mm(210), Mm(297)  # A4
MARGIN = Mm(20)
TEXT_WIDTH_MM = 210 - 2 * 20
# A sheet's picture at most this tall, so that it and the start of its fields share
# a page (the HTML print style uses the same height).
PICTURE_HEIGHT_MM = 120
# 1600 px over 120 mm is about 340 dpi: print-sharp; about 200-300 kB a sheet.
PICTURE_LONG_SIDE = 1600
PICTURE_QUALITY = 85
MARK_COLOUR = RGBColor(0x8A, 0x5A, 0x00)


def render_docx(protocol: dict[str, Any], context: RenderContext) -> bytes:
    document = Document()
    _set_up_page(document, document_title(protocol))
    _header(document, protocol)
    if has_marks(protocol):
        legend = document.add_paragraph()
        _mark_run(legend, WORDS["legend"], bold=False)
    _omitted(document, protocol)
    for number, section in enumerate(sections(protocol)):
        heading = document.add_heading(section.name, level=1)
        heading.paragraph_format.page_break_before = number > 0
        for sheet in section.sheets:
            _sheet(document, sheet, context)
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def _set_up_page(document: DocxDocument, title: str) -> None:
    page = document.sections[0]
    page.page_width, page.page_height = PAGE_WIDTH, PAGE_HEIGHT
    page.left_margin = page.right_margin = page.top_margin = page.bottom_margin = MARGIN
    normal = document.styles["Normal"]
    normal.font.size = Pt(10.5)
    # German, so that Word checks the spelling in the right language
    language = OxmlElement("w:lang")
    language.set(qn("w:val"), "de-DE")
    normal.element.get_or_add_rPr().append(language)
    document.core_properties.title = title
    document.core_properties.subject = WORDS["protocol"]
    document.core_properties.author = "flipchart-ocr"


def _header(document: DocxDocument, protocol: dict[str, Any]) -> None:
    event = protocol.get("event", {})
    if event.get("title"):  # without a title, the title already says "Fotoprotokoll"
        kicker = document.add_paragraph().add_run(WORDS["protocol"].upper())
        kicker.font.size, kicker.bold = Pt(9), True
    document.add_heading(document_title(protocol), level=0)
    if event.get("subtitle"):
        document.add_paragraph(event["subtitle"], style="Subtitle")
    facts = [display_date(event["date"])] if event.get("date") else []
    facts += [event["place"]] if event.get("place") else []
    if facts:
        document.add_paragraph(" · ".join(facts))
    if event.get("moderation"):
        moderation = document.add_paragraph(f"{WORDS['moderation']}: ")
        _add_lines(moderation, field_lines(event["moderation"]), frozenset())


def _omitted(document: DocxDocument, protocol: dict[str, Any]) -> None:
    entries = omitted(protocol)
    if not entries:
        return
    document.add_heading(f"{WORDS['omitted']} ({len(entries)})", level=1)
    for entry in entries:
        item = document.add_paragraph(style="List Bullet")
        item.add_run(entry.sheet_id).bold = True
        item.add_run(f": {entry.description}")


def _sheet(document: DocxDocument, sheet: dict[str, Any], context: RenderContext) -> None:
    document.add_heading(sheet["id"], level=2)
    picture = sheet_picture(sheet, context, PICTURE_LONG_SIDE, PICTURE_QUALITY)
    caption = f"{WORDS['photo']} {sheet['id']}"
    if picture is None:
        document.add_paragraph(f"{WORDS['photo_missing']} ({caption})", style="Caption")
    else:
        width_mm = min(TEXT_WIDTH_MM, PICTURE_HEIGHT_MM * picture.width / picture.height)
        document.add_picture(io.BytesIO(picture.jpeg), width=Mm(width_mm))
        document.paragraphs[-1].paragraph_format.keep_with_next = True
        document.add_paragraph(caption, style="Caption")
    for field_doc in sheet["fields"]:
        _field(document, field_doc)


def _field(document: DocxDocument, field_doc: dict[str, Any]) -> None:
    unchecked = is_unchecked(field_doc)
    if field_doc["label"]:
        heading = document.add_heading(field_doc["label"], level=3)
        if unchecked:
            _mark_run(heading, f" [{WORDS['unchecked']}]")
    elif unchecked:
        tag = document.add_paragraph()
        tag.paragraph_format.keep_with_next = True
        _mark_run(tag, f"[{WORDS['unchecked']}]")
    doubtful = doubtful_words(field_doc)
    for paragraph in field_paragraphs(field_doc):
        _paragraph(document, paragraph, doubtful)


def _paragraph(document: DocxDocument, paragraph: Paragraph, doubtful: frozenset[str]) -> None:
    if paragraph.kind == "heading":
        out = document.add_heading(level=4)
    elif paragraph.kind == "bullet":
        out = document.add_paragraph(style="List Bullet")
    else:
        out = document.add_paragraph()
        if paragraph.kind == "item":
            # the writer's own bullet: a hanging indent keeps its lines aligned
            out.paragraph_format.left_indent = Mm(5)
            out.paragraph_format.first_line_indent = Mm(-5)
    _add_lines(out, paragraph.lines, doubtful)


def _add_lines(out: DocxParagraph, lines: Sequence[str], doubtful: frozenset[str]) -> None:
    """The lines as one paragraph with line breaks; words read unsure highlighted + "[?]"."""
    for index, line in enumerate(lines):
        if index:
            out.add_run().add_break()
        plain = ""
        for token, unsure in marked_tokens(line, doubtful):
            if not unsure:
                plain += token
                continue
            if plain:
                out.add_run(plain)
                plain = ""
            word = out.add_run(token)
            word.font.highlight_color = WD_COLOR_INDEX.YELLOW
            _mark_run(out, WORDS["doubtful_mark"])
        if plain:
            out.add_run(plain)


def _mark_run(out: DocxParagraph, text: str, bold: bool = True) -> None:
    run = out.add_run(text)
    run.bold = bold
    run.font.color.rgb = MARK_COLOUR
    run.font.size = Pt(9)
