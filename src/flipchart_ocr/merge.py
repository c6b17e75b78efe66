"""Sheets plus corrections into the protocol: one JSON document, grouped into sections.

``load_sheets`` reads an output folder; ``merge`` builds the protocol and names
every correction that may no longer fit the OCR (``MergeResult.warnings``).
Nothing here writes a file: the CLI writes the result, atomically, after
everything has been checked.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema

from . import SCHEMA_VERSION
from .corrections import (
    Corrections,
    FieldCorrection,
    SheetCorrections,
    normalize_text,
    resolve_field,
    validate,
)
from .document import LOW_CONFIDENCE, Field, Sheet
from .errors import UsageError
from .io import read_json
from .learn import (
    DEFAULT_MIN_SEEN,
    Fix,
    Learned,
    Taught,
    learn_fixes,
    vocabulary,
    word_confidences,
)
from .outdir import sheet_files, sheet_image_path
from .schemas import load_schema
from .templates import FREEFORM_ID, Template


@dataclass(frozen=True)
class LoadedSheet:
    sheet: Sheet
    path: Path  # the sheet JSON it was read from

    @property
    def image(self) -> Path:
        """The rectified sheet image ``process`` wrote beside the JSON."""
        return sheet_image_path(self.path.parent, self.sheet.id)


@dataclass
class LoadedFolder:
    sheets: list[LoadedSheet]
    failures: list[str] = field(default_factory=list)  # unreadable sheet JSONs, by name
    failed_ids: list[str] = field(default_factory=list)  # their sheet ids (file stems)
    # why each could not be read, by sheet id: the protocol lists them under ``omitted``
    failed_reasons: dict[str, str] = field(default_factory=dict)
    ignored: list[str] = field(default_factory=list)  # other JSON files in the folder


@dataclass
class MergeResult:
    protocol: dict[str, Any]
    warnings: list[str] = field(default_factory=list)


def load_sheets(out_dir: Path, paths: Iterable[Path] | None = None) -> LoadedFolder:
    """Every sheet JSON of ``out_dir``; a broken one is a named failure, not a crash.

    ``paths``: only these files of it (the review app reads again what ``process`` rewrote).
    """
    out_dir = Path(out_dir)
    if not out_dir.is_dir():
        raise UsageError(f"{out_dir}: no such folder (the -o folder of `flipchart-ocr process`)")
    folder = LoadedFolder([])
    validator = jsonschema.Draft202012Validator(load_schema("sheet"))
    for path in sheet_files(out_dir) if paths is None else paths:
        try:
            document = read_json(path)
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            folder.failures.append(f"{path}: not a readable JSON file ({e})")
            folder.failed_ids.append(path.stem)
            folder.failed_reasons[path.stem] = f"{path.name}: not a readable JSON file ({e})"
            continue
        if not _looks_like_sheet(document):
            # e.g. a protocol.json written into the same folder
            folder.ignored.append(f"{path}: not a sheet JSON, ignored")
            continue
        error = jsonschema.exceptions.best_match(validator.iter_errors(document))
        if error is not None:
            where = "/".join(str(p) for p in error.absolute_path) or "top level"
            reason = f"not a valid sheet JSON ({where}: {error.message})"
            folder.failures.append(f"{path}: {reason}")
            folder.failed_ids.append(path.stem)
            folder.failed_reasons[path.stem] = f"{path.name}: {reason}"
            continue
        folder.sheets.append(LoadedSheet(Sheet.from_dict(document), path))
    if paths is None and not folder.sheets and not folder.failures:
        raise UsageError(f"{out_dir}: no sheet JSON files; run `flipchart-ocr process` first")
    return folder


def _looks_like_sheet(document: Any) -> bool:
    return isinstance(document, dict) and "source" in document and "fields" in document


def merge(
    sheets: list[LoadedSheet],
    corrections: Corrections | None,
    templates: Mapping[str, Template],
    protocol_path: Path,
    unavailable: Mapping[str, str] | Iterable[str] = (),
    learn_min_seen: int = DEFAULT_MIN_SEEN,
) -> MergeResult:
    """The protocol document of the contract; raises ``CorrectionsError`` before anything else.

    ``protocol_path`` is where the protocol will be written: sheet image paths are
    recorded relative to its folder, so the two can be moved together. ``unavailable``:
    ids of sheet JSONs that could not be read, best with why (``LoadedFolder.failed_reasons``):
    the protocol lists them under ``omitted``.
    ``learn_min_seen``: apply a misreading fixed in this many corrected fields to the
    uncorrected ones (see ``learn``); 0 turns learning off.
    """
    corrections = corrections or Corrections()
    warnings = validate(corrections, [s.sheet for s in sheets], templates, unavailable)
    learned = learn_from(sheets, corrections, learn_min_seen)
    used_file_replacements: set[int] = set()
    kept: list[tuple[LoadedSheet, dict[str, Any]]] = []
    omitted = _unavailable_sheets(unavailable)
    for loaded in sorted(sheets, key=lambda s: s.sheet.id):
        sheet = loaded.sheet
        entry = corrections.for_sheet(sheet.id)
        if entry is not None and entry.skip:
            where = corrections.where(entry.line)
            omitted.append({"id": sheet.id, "reason": "skip", "detail": f"{where}: skip: true"})
            continue
        if sheet.template is None:
            reason = "; ".join(sheet.warnings) or "the photo could not be read"
            warnings.append(f"{sheet.id}: left out of the protocol: {reason}")
            omitted.append({"id": sheet.id, "reason": "unreadable", "detail": reason})
            continue
        warnings.extend(_template_override_warnings(loaded, entry, corrections))
        document, sheet_warnings, used = _merge_sheet(
            loaded, entry, corrections, protocol_path, learned
        )
        warnings.extend(sheet_warnings)
        used_file_replacements |= used
        kept.append((loaded, document))
    warnings.extend(_unused_replacement_warnings(corrections, used_file_replacements))
    warnings.extend(
        f"template {template_id!r} (sheet JSONs of {folder}) is not known here; pass its"
        " folder with --templates to give its section a name"
        for template_id, folder in _unknown_templates(kept, templates).items()
    )
    sections, ordered = _sections(kept, templates)
    protocol = {
        "schema_version": SCHEMA_VERSION,
        "event": dict(corrections.event),
        "sections": sections,
        "sheets": ordered,
        "omitted": sorted(omitted, key=lambda o: o["id"]),
        "learned": learned.entries(),
        "warnings": warnings,
    }
    return MergeResult(protocol, warnings)


def _unavailable_sheets(unavailable: Mapping[str, str] | Iterable[str]) -> list[dict[str, str]]:
    """The sheet JSONs that could not be read, as ``omitted`` entries (reason ``corrupt``)."""
    reasons = unavailable if isinstance(unavailable, Mapping) else dict.fromkeys(unavailable, "")
    return [
        {"id": sheet_id, "reason": "corrupt", **({"detail": why} if why else {})}
        for sheet_id, why in reasons.items()
    ]


def _taught(sheets: list[LoadedSheet], corrections: Corrections) -> list[Taught]:
    """Every field a person typed a correction into (its ``text`` or ``replace``).

    Not the other fields of a sheet marked reviewed: what OCR read there is no one's
    teaching, and a misreading left on it would spread to every other sheet.
    """
    taught = []
    for loaded in sheets:
        sheet = loaded.sheet
        entry = corrections.for_sheet(sheet.id)
        if entry is None or entry.skip or sheet.template is None:
            continue
        for sheet_field in sheet.fields:
            correction = entry.fields.get(sheet_field.id)
            ocr_text = normalize_text(sheet_field.text)
            corrected = correction.text if _is_typed(correction) else None
            replacements = tuple((r.old, r.new) for r in correction.replace) if correction else ()
            if corrected is not None or replacements:
                where = f"{sheet.id}.{sheet_field.id}"
                taught.append(Taught(where, ocr_text, corrected, replacements))
    return taught


def learn_from(
    sheets: list[LoadedSheet], corrections: Corrections, min_seen: int = DEFAULT_MIN_SEEN
) -> Learned:
    """What the corrections teach about the uncorrected fields (merge and review use it)."""
    if not min_seen:
        return Learned()
    taught = _taught(sheets, corrections)
    return Learned(learn_fixes(taught, min_seen), vocabulary(taught, min_seen))


def _merge_sheet(
    loaded: LoadedSheet,
    entry: SheetCorrections | None,
    corrections: Corrections,
    protocol_path: Path,
    learned: Learned,
) -> tuple[dict[str, Any], list[str], set[int]]:
    sheet = loaded.sheet
    warnings: list[str] = []
    used: set[int] = set()
    fields = []
    for sheet_field in sheet.fields:
        correction = entry.fields.get(sheet_field.id) if entry else None
        resolved = resolve_field(sheet_field.text, correction, corrections.replace)
        used |= resolved.file_replacements_used
        where = corrections.where(correction.line) if correction else ""
        for message in resolved.warnings:
            warnings.append(f"{where}: sheets.{sheet.id}.fields.{sheet_field.id}: {message}")
        text, fixes = apply_learned(learned, resolved.text, sheet_field, entry, correction)
        document = {
            "id": sheet_field.id,
            "label": sheet_field.label,
            "text": text,
            "origin": resolved.origin,
            "confidence": round(sheet_field.confidence, 1),
            # A person typed the text or confirmed the sheet; a replace alone checks nothing.
            "checked": _is_typed(correction) or (entry is not None and entry.reviewed),
        }
        blocks = protocol_blocks(sheet_field, text)
        if blocks:
            document["blocks"] = blocks
        doubtful = [] if _is_typed(correction) else _doubtful_words(text, sheet_field)
        if doubtful:
            document["doubtful"] = doubtful
        if fixes:
            # Machine-made, so the origin stays as it was: nobody has checked it yet.
            document["learned"] = [{"old": f.old, "new": f.new, "kind": f.kind} for f in fixes]
        if text != normalize_text(sheet_field.text):
            document["ocr_text"] = normalize_text(sheet_field.text)
        fields.append(document)
    return (
        {
            "id": sheet.id,
            "template": sheet.template,
            "source": {
                "path": sheet.source.path,
                "sha256": sheet.source.sha256,
                "width": sheet.source.width,
                "height": sheet.source.height,
            },
            "image": _image_reference(loaded.image, protocol_path),
            "fields": fields,
            "warnings": list(sheet.warnings),
        },
        warnings,
        used,
    )


def protocol_blocks(sheet_field: Field, text: str) -> list[dict[str, str]]:
    """The field's blocks (cards, bullets, a heading) as texts, taken from its final ``text``.

    Built from the text, so a correction reaches them: a text of blank-line separated
    paragraphs gives one block each; a text with as many lines as the OCR read keeps the
    reader's grouping of those lines. Otherwise (a rewritten text, blocks that do not
    cover every line once) there are none, and the field is printed line by line.
    """
    if not sheet_field.blocks:
        return []
    kinds = [block.kind for block in sheet_field.blocks]
    paragraphs = [p.strip("\n") for p in re.split(r"\n[ \t]*\n", text) if p.strip()]
    if len(paragraphs) > 1:
        if len(paragraphs) != len(kinds):  # the reviewer regrouped them: kinds no longer fit
            kinds = [""] * len(paragraphs)
        return [_block(p, kind) for p, kind in zip(paragraphs, kinds, strict=True)]
    lines = text.split("\n")
    covered = sorted(i for block in sheet_field.blocks for i in block.lines)
    if len(lines) != len(sheet_field.lines) or covered != list(range(len(lines))):
        return []
    return [
        _block("\n".join(lines[i] for i in block.lines), block.kind) for block in sheet_field.blocks
    ]


def _block(text: str, kind: str) -> dict[str, str]:
    return {"text": text, "kind": kind} if kind else {"text": text}


def apply_learned(
    learned: Learned,
    text: str,
    sheet_field: Field,
    entry: SheetCorrections | None,
    correction: FieldCorrection | None,
) -> tuple[str, list[Fix]]:
    """The field's text with the learned fixes (merge applies them, review offers them).

    Fields a person typed, and every field of a sheet marked reviewed, stay as they are.
    """
    if (entry is not None and entry.reviewed) or _is_typed(correction):
        return text, []
    return learned.apply(text, word_confidences(sheet_field.lines))


def _is_typed(correction: FieldCorrection | None) -> bool:
    return correction is not None and correction.corrects_text


def _doubtful_words(text: str, sheet_field: Field) -> list[str]:
    """Words of the text as Tesseract read them with low confidence: flagged, not trusted.

    A word changed by a replace or a learned fix is no longer Tesseract's and is not listed.
    """
    confidences = word_confidences(sheet_field.lines)
    doubtful: list[str] = []
    for token in text.split():
        if confidences.get(token, 100.0) < LOW_CONFIDENCE and token not in doubtful:
            doubtful.append(token)
    return doubtful


def _image_reference(image: Path, protocol_path: Path) -> str | None:
    """The sheet image relative to the protocol's folder (absolute if on another drive)."""
    if not image.is_file():
        return None
    base = Path(protocol_path).resolve().parent
    try:
        return Path(os.path.relpath(image.resolve(), base)).as_posix()
    except ValueError:  # Windows: another drive has no relative path
        return str(image.resolve())


def _template_override_warnings(
    loaded: LoadedSheet, entry: SheetCorrections | None, corrections: Corrections
) -> list[str]:
    """A ``template`` override the sheet JSON does not reflect yet.

    The sheet stays as it was read (its fields are that template's); corrections
    of fields it does not have cannot be applied until the photo is read again.
    """
    sheet = loaded.sheet
    if entry is None or entry.template is None or entry.template == sheet.template:
        return []
    where = corrections.where(entry.template_line)
    message = (
        f"{where}: sheets.{sheet.id}.template: the corrections file says {entry.template!r}"
        f" but {loaded.path} was read as {sheet.template!r}; the sheet is kept as read."
        f" Process the photo again to apply it:"
        f" flipchart-ocr process {sheet.source.path} -o {loaded.path.parent}"
        f" -c {corrections.path}"
    )
    warnings = [message]
    present = {f.id for f in sheet.fields}
    for field_id, correction in entry.fields.items():
        if field_id not in present:
            warnings.append(
                f"{corrections.where(correction.line)}: sheets.{sheet.id}.fields.{field_id}:"
                f" not applied: the sheet was read as {sheet.template!r}, which has no such field"
            )
    return warnings


def _unknown_templates(
    kept: list[tuple[LoadedSheet, dict[str, Any]]], templates: Mapping[str, Template]
) -> dict[str, Path]:
    return {
        loaded.sheet.template: loaded.path.parent
        for loaded, _ in kept
        if loaded.sheet.template is not None and loaded.sheet.template not in templates
    }


def _unused_replacement_warnings(corrections: Corrections, used: set[int]) -> list[str]:
    return [
        f"{corrections.where(r.line)}: replace {r.old!r}: occurs in no OCR text"
        for index, r in enumerate(corrections.replace)
        if index not in used
    ]


def _sections(
    kept: list[tuple[LoadedSheet, dict[str, Any]]], templates: Mapping[str, Template]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Group sheets by template in the templates' order (freeform last), ids in order.

    A template the merge does not know (a custom one whose --templates folder was
    not given) gets its own section after the known ones, named by its id.
    """
    order = [t for t in templates if t != FREEFORM_ID]
    unknown = sorted({doc["template"] for _, doc in kept} - set(templates))
    order += [*unknown, FREEFORM_ID]
    sections = []
    ordered = []
    for template_id in order:
        members = [doc for _, doc in kept if doc["template"] == template_id]
        if not members:
            continue
        template = templates.get(template_id)
        sections.append(
            {
                "template": template_id,
                "name": template.name if template else template_id,
                "sheets": [doc["id"] for doc in members],
            }
        )
        ordered.extend(members)
    return sections, ordered
