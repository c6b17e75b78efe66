"""What the review pages show and send: the sheet view's state as JSON, and its requests.

The sheet view's script keeps ``sheet_state`` and sends back, per edited field,
the text it had loaded (``base``): the store merges on that (see ``store.py``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import url_for

from ..corrections import (
    Corrections,
    SheetCorrections,
    canonical_text,
    normalize_text,
    resolve_field,
    valid_field_ids,
)
from ..document import LOW_CONFIDENCE, Field, Sheet
from ..learn import Learned
from ..merge import LoadedSheet, apply_learned
from ..templates import Template
from .store import SheetEdit

MAX_TEXT = 100_000  # characters per field: far beyond a flipchart, small for a server
MAX_FIND = 200  # characters of a find-and-replace text


def field_box(sheet_field: Field, sheet: Sheet) -> tuple[int, int, int, int]:
    """The field's box on the rectified sheet, clamped to it; the whole sheet if unknown."""
    width, height = sheet.size or (0, 0)
    if sheet_field.box is None:
        return (0, 0, width, height) if width and height else _lines_box(sheet_field)
    return clamp(sheet_field.box, sheet)


def clamp(box: tuple[int, int, int, int], sheet: Sheet) -> tuple[int, int, int, int]:
    """``box`` (x, y, w, h) inside the sheet image, at least one pixel."""
    width, height = sheet.size or (0, 0)
    x, y, w, h = (int(round(v)) for v in box)
    if width and height:
        x, y = max(0, min(x, width - 1)), max(0, min(y, height - 1))
        w, h = max(1, min(w, width - x)), max(1, min(h, height - y))
    return x, y, max(w, 1), max(h, 1)


def _lines_box(sheet_field: Field) -> tuple[int, int, int, int]:
    if not sheet_field.lines:
        return (0, 0, 1, 1)
    left = min(line.bbox[0] for line in sheet_field.lines)
    top = min(line.bbox[1] for line in sheet_field.lines)
    right = max(line.bbox[0] + line.bbox[2] for line in sheet_field.lines)
    bottom = max(line.bbox[1] + line.bbox[3] for line in sheet_field.lines)
    return left, top, max(right - left, 1), max(bottom - top, 1)


# -- the sheet view -----------------------------------------------------------------------


def sheet_state(
    loaded: LoadedSheet,
    corrections: Corrections,
    version: str | None,
    learned: Learned,
    templates: Mapping[str, Template],
    stamp: str,
) -> dict[str, Any]:
    """What the sheet view shows and its script keeps: JSON-ready."""
    sheet = loaded.sheet
    entry = corrections.for_sheet(sheet.id)
    editable, _ = valid_field_ids(sheet, entry, templates)
    return {
        "sheetId": sheet.id,
        "version": version,  # the corrections file's: a poll that sees another reloads texts
        "sheetStamp": stamp,  # the sheet JSON's: another means `process` read it again
        "template": sheet.template,
        "templateOverride": entry.template if entry else None,
        "reviewed": bool(entry and entry.reviewed),
        "skip": bool(entry and entry.skip),
        "size": list(sheet.size) if sheet.size else None,
        "fields": [
            _field_state(f, sheet, entry, corrections, learned, f.id in editable, stamp)
            for f in sheet.fields
        ],
    }


def _field_state(
    sheet_field: Field,
    sheet: Sheet,
    entry: SheetCorrections | None,
    corrections: Corrections,
    learned: Learned,
    editable: bool,
    stamp: str,
) -> dict[str, Any]:
    correction = entry.fields.get(sheet_field.id) if entry else None
    resolved = resolve_field(sheet_field.text, correction, corrections.replace)
    # What merge would make of the field from the other sheets' corrections: each fix
    # offered on its own (Alt+A or its button), never filled in unasked.
    _, fixes = apply_learned(learned, resolved.text, sheet_field, entry, correction)
    crop = url_for("crop", sheet_id=sheet.id, field_id=sheet_field.id, v=stamp)
    return {
        "id": sheet_field.id,
        "label": sheet_field.label,
        "ocr": canonical_text(sheet_field.text),
        "text": canonical_text(resolved.text),
        "origin": resolved.origin,
        "warnings": list(resolved.warnings),
        "confidence": round(sheet_field.confidence, 1),
        "box": list(field_box(sheet_field, sheet)),
        "lines": [_line_state(line) for line in sheet_field.lines],
        "lowLines": sum(1 for line in sheet_field.lines if line.confidence < LOW_CONFIDENCE),
        "doubtful": doubtful_words(sheet_field),
        "fixes": [
            {"old": fix.old, "new": fix.new, "kind": fix.kind, "seen": fix.seen} for fix in fixes
        ],
        "editable": editable,
        "cropUrl": crop,
        "blocks": [
            {
                "kind": block.kind,
                "text": "\n".join(
                    sheet_field.lines[i].text for i in block.lines if i < len(sheet_field.lines)
                ),
                "cropUrl": url_for(
                    "block_crop", sheet_id=sheet.id, field_id=sheet_field.id, index=n, v=stamp
                ),
            }
            for n, block in enumerate(sheet_field.blocks)
        ],
    }


def _line_state(line: Any) -> dict[str, Any]:
    return {
        "text": line.text,
        "confidence": round(line.confidence, 1),
        "bbox": list(line.bbox),
        "low": line.confidence < LOW_CONFIDENCE,
        "words": [
            {
                "text": word.text,
                "confidence": word.confidence,
                "low": word.confidence < LOW_CONFIDENCE,
                "readAs": word.read_as,
            }
            for word in line.words
        ],
    }


def doubtful_words(sheet_field: Field) -> list[str]:
    """Words to look at, in reading order: read with low confidence, or chosen by a word list."""
    found: list[str] = []
    for line in sheet_field.lines:
        for word in line.words:
            doubtful = word.confidence < LOW_CONFIDENCE or word.read_as is not None
            if doubtful and word.text.strip() and word.text not in found:
                found.append(word.text)
    return found


# -- the overview -------------------------------------------------------------------------


def overview_row(
    loaded: LoadedSheet,
    corrections: Corrections | None,
    templates: Mapping[str, Template],
) -> dict[str, Any]:
    sheet = loaded.sheet
    entry = corrections.for_sheet(sheet.id) if corrections else None
    template = templates.get(sheet.template or "")
    corrected = 0
    for sheet_field in sheet.fields:
        correction = entry.fields.get(sheet_field.id) if entry else None
        replace = corrections.replace if corrections else ()
        if resolve_field(sheet_field.text, correction, replace).origin == "corrected":
            corrected += 1
    return {
        "id": sheet.id,
        "viewable": sheet.template is not None,
        "template": sheet.template,
        "template_name": template.name if template else sheet.template,
        "override": entry.template if entry else None,
        "fields": len(sheet.fields),
        "low_lines": sum(
            1 for f in sheet.fields for line in f.lines if line.confidence < LOW_CONFIDENCE
        ),
        "corrected": corrected,
        "reviewed": bool(entry and entry.reviewed),
        "skip": bool(entry and entry.skip),
        "warnings": list(sheet.warnings),
        "has_image": loaded.image.is_file(),
    }


def progress(sheets: list[LoadedSheet], corrections: Corrections | None) -> dict[str, int]:
    """Sheets marked reviewed, of those to review (readable, not skipped)."""
    done = total = 0
    for loaded in sheets:
        entry = corrections.for_sheet(loaded.sheet.id) if corrections else None
        if loaded.sheet.template is None or (entry and entry.skip):
            continue
        total += 1
        done += bool(entry and entry.reviewed)
    return {"reviewed": done, "total": total}


def to_review(sheets: list[LoadedSheet], corrections: Corrections | None) -> list[str]:
    """Ids of the sheets still to review, in order."""
    ids = []
    for loaded in sheets:
        entry = corrections.for_sheet(loaded.sheet.id) if corrections else None
        if loaded.sheet.template is not None and not (entry and (entry.reviewed or entry.skip)):
            ids.append(loaded.sheet.id)
    return ids


# -- requests -----------------------------------------------------------------------------


def parse_save_request(body: Any, sheet: Sheet, templates: Mapping[str, Template]) -> SheetEdit:
    """The edit a save request asks for; ``ValueError`` says what is wrong.

    ``{"fields": {ID: {"text": T, "base": B}}, "reviewed": bool, "skip": bool,
    "template": ID or "", "templateBase": ID or ""}``; every key is optional.
    """
    if not isinstance(body, dict):
        raise ValueError("expected a JSON object")
    fields = body.get("fields", {})
    if not isinstance(fields, dict):
        raise ValueError("'fields' must map field ids to {text, base}")
    known = {f.id for f in sheet.fields}
    texts, bases = {}, {}
    for field_id, sent in fields.items():
        if field_id not in known:
            raise ValueError(f"sheet {sheet.id!r} has no field {field_id!r}")
        if not isinstance(sent, dict):
            raise ValueError(f"field {field_id!r}: expected {{text, base}}")
        for key, target in (("text", texts), ("base", bases)):
            value = sent.get(key)
            if not isinstance(value, str) or len(value) > MAX_TEXT:
                raise ValueError(
                    f"field {field_id!r}: expected '{key}' as text (at most {MAX_TEXT} characters)"
                )
            target[field_id] = normalize_text(value)  # NFC: "ä" typed on a Mac is "ä"
    flags = {}
    for key in ("reviewed", "skip"):
        value = body.get(key)
        if value is not None and not isinstance(value, bool):
            raise ValueError(f"'{key}' must be true or false")
        flags[key] = value
    template = _template(body.get("template"), templates, "template")
    template_base = _template(body.get("templateBase"), templates, "templateBase", known=False)
    return SheetEdit(
        sheet.id, texts, flags["reviewed"], flags["skip"], template, bases, template_base
    )


def _template(
    value: Any, templates: Mapping[str, Template], key: str, known: bool = True
) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or (known and value not in {"", *templates}):
        raise ValueError(f"unknown {key} {value!r}; known: {', '.join(templates)}")
    return value


def parse_replace_request(body: Any) -> tuple[str, str]:
    """``{"find": OLD, "replace": NEW}`` of an event-wide find and replace."""
    if not isinstance(body, dict):
        raise ValueError("expected a JSON object")
    old, new = body.get("find"), body.get("replace")
    if not isinstance(old, str) or not old.strip() or len(old) > MAX_FIND:
        raise ValueError(f"'find' must be text of 1 to {MAX_FIND} characters")
    if not isinstance(new, str) or len(new) > MAX_FIND:
        raise ValueError(f"'replace' must be text of at most {MAX_FIND} characters")
    if "\n" in old or "\n" in new:
        raise ValueError("find and replace work within a line: no line breaks")
    return normalize_text(old), normalize_text(new)
