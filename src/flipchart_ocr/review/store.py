"""The corrections file as the review app edits it: round-trip YAML, atomic, merged per field.

The file is the user's work (see the contract), so an edit changes only the
entries it is about:

- ruamel.yaml's round-trip mode keeps comments, order, quoting and everything
  else as written. Its resolver is cut down to null and true/false, so every
  other plain scalar stays text exactly as written: the sheet id
  ``20190327_171502`` is not turned into a number nor ``date: 2019-03-27`` into
  a date, and neither is rewritten on the way out.
- Only the edited sheet's entry goes through ruamel (``_SheetsLayout``): it is
  cut out of the file, edited and put back, and every other byte stays as it
  was. A 400-sheet file is saved in a few hundredths of a second, where loading
  and writing it whole with ruamel took over a second.
- Edits are merged per field, three-way: each edited field names the text the
  page had loaded (its ``base``). A field whose text in the file is still that
  base, or already the new text, is saved; one that was changed meanwhile to
  something else (a second tab, an editor) is a ``Conflict``, returned with both
  texts and not saved. Everything else in the file may change between a page's
  load and its save: a comment, another field, another sheet.
- The edited text is checked with ``corrections.parse_corrections`` and
  ``validate`` and compared with the file before the edit: anything but the
  edited entries changing, or an invalid result, is refused and nothing is
  written.
- The write is atomic (temp file beside it, then ``os.replace``), keeps the
  file's mode, follows a symlink to its target, and the previous version is kept
  as ``FILE.bak``. Should another program write the file between our read and
  our write, the edit is merged again into what it wrote.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import io
import re
import stat
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap
from ruamel.yaml.error import CommentMark, YAMLError
from ruamel.yaml.resolver import VersionedResolver
from ruamel.yaml.scalarstring import (
    DoubleQuotedScalarString,
    FoldedScalarString,
    LiteralScalarString,
    PlainScalarString,
)
from ruamel.yaml.tokens import CommentToken

from ..corrections import (
    Corrections,
    SheetCorrections,
    canonical_text,
    normalize_text,
    ocr_fingerprint,
    parse_corrections,
    resolve_field,
    valid_field_ids,
    validate,
)
from ..document import Sheet
from ..errors import CorrectionsError, FlipchartError
from ..io import atomic_write, new_file_mode
from ..templates import Template

VERSION_ABSENT = "absent"  # the version of a corrections file that does not exist yet
SAVE_ATTEMPTS = 3  # merges into a file another program keeps writing before giving up

NEW_FILE_HEADER = """\
# Corrections for the sheets in {out_dir}, written by `flipchart-ocr review`.
# Edit it by hand too: the review app keeps your comments, order and entries.
"""

KEEPS_CHANGING = (
    "not saved: the corrections file changed on disk again while saving (does another"
    " program keep writing it?); your text stays in the page, save again"
)


class CorrectionsChanged(FlipchartError):
    """The corrections file kept changing on disk while an edit was merged into it."""


@dataclass(frozen=True)
class Snapshot:
    """The corrections file as read at one moment."""

    version: str  # hash of the file's bytes, or VERSION_ABSENT
    corrections: Corrections
    exists: bool


@dataclass(frozen=True)
class SheetEdit:
    """What one save of the sheet view asks for; ``None`` leaves an entry as it is.

    ``bases``: per field, the text the page had loaded from the file; a field
    without one is saved whatever the file holds now (library callers, tests).
    ``template_base`` is the same for the template override ("" for none).
    """

    sheet_id: str
    fields: Mapping[str, str] = field(default_factory=dict)  # field id -> the text as typed
    reviewed: bool | None = None
    skip: bool | None = None
    template: str | None = None  # a template id; "" removes the override
    bases: Mapping[str, str] = field(default_factory=dict)
    template_base: str | None = None


@dataclass(frozen=True)
class Conflict:
    """A field (or the template) changed in the file since the page loaded it."""

    field_id: str  # or "template"
    theirs: str  # what the file holds now
    yours: str  # what the page sent


@dataclass(frozen=True)
class SaveResult:
    snapshot: Snapshot
    changed: bool
    conflicts: tuple[Conflict, ...] = ()
    set_aside: tuple[str, ...] = ()  # field entries kept as comments (template change)


def file_version(data: bytes | None) -> str:
    """A short hash of the file's bytes: what the page is told, to notice a change."""
    if data is None:
        return VERSION_ABSENT
    return hashlib.sha256(data).hexdigest()[:16]


class CorrectionsStore:
    """Reads and edits one corrections file for the sheets of one output folder."""

    def __init__(
        self,
        path: Path,
        sheets: Sequence[Sheet],
        templates: Mapping[str, Template],
        unavailable: Iterable[str] = (),
        out_dir: Path | None = None,
    ) -> None:
        self.path = Path(path)
        self.templates = templates
        self.out_dir = out_dir
        # One save at a time: reading, merging and writing must not interleave.
        self._lock = threading.Lock()
        self._checked: Snapshot | None = None  # the last file read and validated
        self._layout: tuple[str, _SheetsLayout | None] | None = None  # and its sheets' lines
        self.set_sheets(sheets, unavailable)

    def set_sheets(self, sheets: Sequence[Sheet], unavailable: Iterable[str] = ()) -> None:
        """The sheets the file is checked against (the review app calls it after a re-run)."""
        self.sheets = {normalize_text(sheet.id): sheet for sheet in sheets}
        self.unavailable = tuple(unavailable)
        self._checked = None

    @property
    def backup_path(self) -> Path:
        return self.path.with_name(self.path.name + ".bak")

    def snapshot(self) -> Snapshot:
        """The file as it is now, checked against the sheets; ``CorrectionsError`` if invalid."""
        data = self._read_bytes()
        return self._check(data)

    def save(self, edit: SheetEdit) -> SaveResult:
        """Merge ``edit`` into the file as it is now.

        Fields changed in the file since the page loaded them come back as
        conflicts, unsaved. Raises ``CorrectionsError`` when the result would be
        invalid, ``CorrectionsChanged`` when the file keeps changing under us; in
        both cases the file is untouched.
        """
        sheet = self._sheet(edit.sheet_id)
        with self._lock, _cycles_collected_after():
            for _ in range(SAVE_ATTEMPTS):
                data = self._read_bytes()
                before = self._check(data)
                wanted, conflicts = _without_conflicts(edit, sheet, before.corrections)
                text = _decode(data, self.path) if data is not None else ""
                edited = self._edited_text(text, data is None, wanted, sheet, before.corrections)
                if edited is None:
                    return SaveResult(before, False, conflicts)
                new_text, layout, set_aside = edited
                gone = misfits(
                    wanted, sheet, before.corrections.for_sheet(sheet.id), self.templates
                )
                after = self._check_edit(new_text, before.corrections, wanted, gone)
                new_data = new_text.encode("utf-8")
                # A last look right before replacing: an editor may have saved meanwhile.
                if self._read_bytes() != data:
                    continue
                self._write(data, new_data)
                self._checked = Snapshot(file_version(new_data), after, True)
                self._layout = (self._checked.version, layout)
                return SaveResult(self._checked, True, conflicts, set_aside)
        raise CorrectionsChanged(KEEPS_CHANGING)

    def add_replacement(self, old: str, new: str) -> SaveResult:
        """Add ``old: new`` to the file-wide ``replace`` (or change the text ``old`` gets).

        Applied to every field without a corrected ``text``, after the entries already
        there. Rare and deliberate, so the file is edited whole.
        """
        with self._lock:
            for _ in range(SAVE_ATTEMPTS):
                data = self._read_bytes()
                before = self._check(data)
                if any(r.old == old and r.new == new for r in before.corrections.replace):
                    return SaveResult(before, False)
                text = _decode(data, self.path) if data is not None else ""
                document, prefix = _load_document(text, self.path)
                _set_replacement(document, old, new)
                header = NEW_FILE_HEADER.format(out_dir=self.out_dir or "the output folder")
                new_text = _dump_document(document, prefix or (header if data is None else ""))
                after = self._check_replacement(new_text, before.corrections, old, new)
                new_data = new_text.encode("utf-8")
                if self._read_bytes() != data:
                    continue
                self._write(data, new_data)
                self._checked = Snapshot(file_version(new_data), after, True)
                return SaveResult(self._checked, True)
        raise CorrectionsChanged(KEEPS_CHANGING)

    # -- helpers ---------------------------------------------------------------------------

    def _sheet(self, sheet_id: str) -> Sheet:
        sheet = self.sheets.get(normalize_text(sheet_id))
        if sheet is None:
            raise CorrectionsError(f"no sheet {sheet_id!r} in this output folder")
        return sheet

    def _read_bytes(self) -> bytes | None:
        try:
            return self.path.read_bytes()
        except FileNotFoundError:
            return None
        except IsADirectoryError as e:
            raise CorrectionsError(f"{self.path}: is a folder, not a corrections file") from e
        except OSError as e:
            raise CorrectionsError(f"{self.path}: cannot read ({e.strerror or e})") from e

    def _check(self, data: bytes | None) -> Snapshot:
        if data is None:
            return Snapshot(VERSION_ABSENT, Corrections(path=self.path), exists=False)
        version = file_version(data)
        if self._checked is not None and self._checked.version == version:
            return self._checked  # parsed and validated already: a poll costs a hash
        corrections = parse_corrections(_decode(data, self.path), self.path)
        validate(corrections, self.sheets.values(), self.templates, self.unavailable)
        self._checked = Snapshot(version, corrections, exists=True)
        return self._checked

    def _edited_text(
        self,
        text: str,
        is_new: bool,
        edit: SheetEdit,
        sheet: Sheet,
        current: Corrections,
    ) -> tuple[str, tuple[str, ...], _SheetsLayout | None] | None:
        """The file's text with ``edit`` applied, the entries set aside and where the
        sheets now lie in it; None when nothing changes."""
        layout = self._layout_of(text)
        if layout is not None:
            start, end = layout.span_for(sheet.id)
            document, _ = _load_document("sheets:\n" + layout.text_of(start, end), self.path)
            outcome = _apply_edit(document, edit, sheet, current, self.templates)
            if outcome is None:
                return None
            chunk = _dump_document(document, "", layout.indent).removeprefix("sheets:\n")
            return *layout.with_chunk(start, end, chunk, sheet.id), outcome
        document, prefix = _load_document(text, self.path)
        outcome = _apply_edit(document, edit, sheet, current, self.templates)
        if outcome is None:
            return None
        header = NEW_FILE_HEADER.format(out_dir=self.out_dir or "the output folder")
        return _dump_document(document, prefix or (header if is_new else "")), None, outcome

    def _layout_of(self, text: str) -> _SheetsLayout | None:
        """Where the sheets lie in ``text``: kept from our own last write, else worked out."""
        version = file_version(text.encode("utf-8"))
        if self._layout is not None and self._layout[0] == version:
            return self._layout[1]
        layout = _SheetsLayout.of(text)
        self._layout = (version, layout)
        return layout

    def _check_edit(
        self, new_text: str, before: Corrections, edit: SheetEdit, gone: frozenset[str]
    ) -> Corrections:
        """The edited file is valid and differs from ``before`` only where ``edit`` says."""
        try:
            after = parse_corrections(new_text, self.path)
            validate(after, self.sheets.values(), self.templates, self.unavailable)
        except CorrectionsError as e:
            raise CorrectionsError(f"not saved, the result would be invalid: {e}") from e
        changed = _unexpected_changes(before, after, edit, gone)
        if changed:
            # A safety net for the YAML surgery: never write a file that lost an entry.
            raise CorrectionsError(
                f"not saved: the edit would also change {', '.join(changed)}; please report this"
            )
        return after

    def _check_replacement(
        self, new_text: str, before: Corrections, old: str, new: str
    ) -> Corrections:
        """The edited file is valid and gained (or changed) just the one replacement."""
        try:
            after = parse_corrections(new_text, self.path)
            validate(after, self.sheets.values(), self.templates, self.unavailable)
        except CorrectionsError as e:
            raise CorrectionsError(f"not saved, the result would be invalid: {e}") from e
        was, now = before.to_dict(), after.to_dict()
        expected = {**was.get("replace", {}), old: new}
        if now.get("replace") != expected or {**was, "replace": None} != {**now, "replace": None}:
            raise CorrectionsError(
                "not saved: the edit would also change other entries; please report this"
            )
        return after

    def _write(self, previous: bytes | None, new_data: bytes) -> None:
        target = self.path.resolve() if self.path.is_symlink() else self.path
        if previous is not None:
            mode = stat.S_IMODE(target.stat().st_mode)
            atomic_write(target.with_name(target.name + ".bak"), previous, mode)
        else:
            mode = new_file_mode()
            target.parent.mkdir(parents=True, exist_ok=True)  # e.g. corrections/ beside OUT
        atomic_write(target, new_data, mode)


@contextlib.contextmanager
def _cycles_collected_after() -> Iterator[None]:
    """No cycle collection in the middle of a save.

    A save makes tens of thousands of short-lived objects (YAML nodes), enough to set
    off Python's full cycle collection, which walks every object of the process: with
    400 sheets' lines and words loaded that took 0.1-0.5 s, more than the save itself.
    Their cycles are collected by the next collection after the save instead.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


# -- three-way: what the page loaded, what the file holds, what the page sends ------------


def _without_conflicts(
    edit: SheetEdit, sheet: Sheet, current: Corrections
) -> tuple[SheetEdit, tuple[Conflict, ...]]:
    """``edit`` less the fields (and template) changed in the file since the page loaded them."""
    entry = current.for_sheet(sheet.id)
    conflicts = []
    fields = dict(edit.fields)
    for field_id, typed in edit.fields.items():
        base = edit.bases.get(field_id)
        sheet_field = sheet.field_by_id(field_id)
        if base is None or sheet_field is None:
            continue
        correction = entry.fields.get(field_id) if entry else None
        theirs = canonical_text(resolve_field(sheet_field.text, correction, current.replace).text)
        if theirs not in (canonical_text(base), canonical_text(typed)):
            conflicts.append(Conflict(field_id, theirs, canonical_text(typed)))
            del fields[field_id]
    template = edit.template
    if template is not None and edit.template_base is not None:
        theirs = (entry.template if entry else None) or ""
        if theirs not in (edit.template_base, template):
            conflicts.append(Conflict("template", theirs, template))
            template = None
    wanted = SheetEdit(edit.sheet_id, fields, edit.reviewed, edit.skip, template)
    return wanted, tuple(conflicts)


# -- the part of the file an edit is about -------------------------------------------------

# Line breaks YAML (libyaml) and Python count alike; a file with others is edited whole.
_ODD_BREAKS = re.compile("[\r\x0b\x0c\x1c-\x1e\x85\u2028\u2029]")


@dataclass(frozen=True)
class _SheetsLayout:
    """Where each entry of a block-style ``sheets:`` mapping lies in the file's lines.

    An entry runs from its key's line to the next entry's key (the comment lines
    before the next key go with it, as ruamel keeps them); the last one to the
    next top-level key or the end of the file.
    """

    lines: tuple[str, ...]  # the file's lines, each with its "\n"
    starts: dict[str, int]  # NFC sheet id -> line index of its key
    order: tuple[int, ...]  # the entries' first lines, in file order
    end: int  # the line after the last entry
    indent: int  # the column of the sheet ids

    @classmethod
    def of(cls, text: str) -> _SheetsLayout | None:
        """The layout, or None when the file is better edited whole (no entries yet, flow
        style, unusual line breaks or layout)."""
        if not text or _ODD_BREAKS.search(text):
            return None
        try:
            root = yaml.compose(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
        except yaml.YAMLError:
            return None
        if not isinstance(root, yaml.MappingNode):
            return None
        keys = [k for k, _ in root.value]
        found = [
            (k, v) for k, v in root.value if isinstance(k, yaml.ScalarNode) and k.value == "sheets"
        ]
        if len(found) != 1:
            return None
        key, sheets = found[0]
        if not isinstance(sheets, yaml.MappingNode) or sheets.flow_style or not sheets.value:
            return None
        lines = tuple(text.splitlines(keepends=True))
        indent = sheets.value[0][0].start_mark.column
        starts: dict[str, int] = {}
        for sheet_key, _ in sheets.value:
            mark = sheet_key.start_mark
            if mark.column != indent or lines[mark.line][:indent].strip():
                return None
            starts[normalize_text(str(sheet_key.value))] = mark.line
        following = [k.start_mark.line for k in keys if k.start_mark.line > key.start_mark.line]
        end = min(following) if following else len(lines)
        if indent == 0 or key.start_mark.column != 0:
            return None
        return cls(lines, starts, tuple(sorted(starts.values())), end, indent)

    def span_for(self, sheet_id: str) -> tuple[int, int]:
        """The lines of the sheet's entry; for a new sheet, those of the last entry (the
        new one is added after it)."""
        start = self.starts.get(normalize_text(sheet_id), self.order[-1])
        index = self.order.index(start)
        end = self.order[index + 1] if index + 1 < len(self.order) else self.end
        return start, end

    def text_of(self, start: int, end: int) -> str:
        chunk = "".join(self.lines[start:end])
        return chunk if chunk.endswith("\n") else chunk + "\n"

    def with_chunk(
        self, start: int, end: int, chunk: str, sheet_id: str
    ) -> tuple[str, _SheetsLayout | None]:
        """The text with lines ``start:end`` replaced by ``chunk``, and its layout.

        Worked out from this one without reading the file again: the entries after the
        chunk move by its change in lines; inside it, ruamel writes each sheet id at the
        sheets' indentation and nothing else there but comments.
        """
        text = "".join(self.lines[:start]) + chunk + "".join(self.lines[end:])
        new_lines = tuple(chunk.splitlines(keepends=True))
        inside = [i for i, s in sorted(self.starts.items(), key=lambda x: x[1]) if start <= s < end]
        if normalize_text(sheet_id) not in self.starts:
            inside.append(normalize_text(sheet_id))  # added after the last entry
        keys = [n for n, line in enumerate(new_lines) if self._is_key_line(line)]
        if len(keys) != len(inside) or _ODD_BREAKS.search(chunk):
            return text, None  # worked out again from the text at the next save
        delta = len(new_lines) - (end - start)
        starts = {i: s + delta if s >= end else s for i, s in self.starts.items()}
        starts.update({i: start + n for i, n in zip(inside, keys, strict=True)})
        lines = self.lines[:start] + new_lines + self.lines[end:]
        layout = _SheetsLayout(
            lines, starts, tuple(sorted(starts.values())), self.end + delta, self.indent
        )
        return text, layout

    def _is_key_line(self, line: str) -> bool:
        return (
            len(line) > self.indent
            and not line[: self.indent].strip()
            and line[self.indent] not in " #\n"
        )


# -- applying an edit to the YAML document ------------------------------------------------


def _apply_edit(
    document: CommentedMap,
    edit: SheetEdit,
    sheet: Sheet,
    current: Corrections,
    templates: Mapping[str, Template],
) -> tuple[str, ...] | None:
    """Change ``document`` as ``edit`` asks: the field entries set aside, or None if unchanged."""
    entry = current.for_sheet(sheet.id)
    changed = False
    for field_id, typed in edit.fields.items():
        changed |= _apply_field(document, sheet, field_id, typed, entry, current)
    set_aside: tuple[str, ...] = ()
    if edit.template is not None:
        wanted = edit.template or None
        if wanted != (entry.template if entry else None):
            _set_sheet_key(document, sheet.id, "template", _styled(wanted) if wanted else None)
            set_aside = _set_aside_misfits(document, sheet, entry, edit, templates)
            changed = True
    for key, wanted_flag in (("skip", edit.skip), ("reviewed", edit.reviewed)):
        if wanted_flag is None or wanted_flag == bool(entry and getattr(entry, key)):
            continue
        _set_sheet_key(document, sheet.id, key, True if wanted_flag else None)
        changed = True
    return set_aside if changed else None


def _set_aside_misfits(
    document: CommentedMap,
    sheet: Sheet,
    entry: SheetCorrections | None,
    edit: SheetEdit,
    templates: Mapping[str, Template],
) -> tuple[str, ...]:
    """Take out the field entries the sheet's new template has no field for.

    An entry that holds nothing but the OCR text (as ``corrections init`` writes
    every field) goes: the sheet JSON keeps that text. One a person wrote stays
    in the file, with its comments, as comment lines under the sheet, to copy
    from; never lost.
    """
    where = ["sheets", sheet.id, "fields"]
    kept = CommentedMap()
    for field_id in sorted(misfits(edit, sheet, entry, templates)):
        correction = entry.fields.get(field_id) if entry else None
        typed = edit.fields.get(field_id)
        sheet_field = sheet.field_by_id(field_id)
        person_wrote = (
            typed is not None
            and sheet_field is not None
            and canonical_text(typed) != canonical_text(sheet_field.text)
        ) or (correction is not None and (correction.corrects_text or bool(correction.replace)))
        fields = _path(document, where)
        key = _find_key(fields, field_id)
        if person_wrote and key is not None:
            kept[key] = fields[key]
    # The comment lines after an entry belong to what follows it: not set aside with it.
    trailing = {key: _take_mapping_trailing(value) for key, value in kept.items()}
    lines = _dumped_lines(CommentedMap([("fields", kept)])) if kept else []
    for key, value in kept.items():
        _give_trailing(value, trailing[key])
    for field_id in sorted(misfits(edit, sheet, entry, templates)):
        _delete_entries(document, where, (field_id,))
    if lines:
        template = edit.template or sheet.template or ""
        _keep_as_comment(document, sheet.id, template, lines)
    return tuple(normalize_text(str(key)) for key in kept)


def misfits(
    edit: SheetEdit,
    sheet: Sheet,
    entry: SheetCorrections | None,
    templates: Mapping[str, Template],
) -> frozenset[str]:
    """The fields with an entry (or edited now) that ``edit``'s new template does not have."""
    if edit.template is None:
        return frozenset()
    named = set(entry.fields if entry else ()) | set(edit.fields)
    fits, _ = valid_field_ids(sheet, SheetCorrections(template=edit.template or None), templates)
    return frozenset(named - set(fits))


def _keep_as_comment(
    document: CommentedMap, sheet_id: str, template: str, dumped: list[str]
) -> None:
    sheets = _path(document, ["sheets"])
    key = _find_key(sheets, sheet_id)
    indent = _key_indent(sheets, key) + 2
    lines = [
        f"# set aside by the review app when the template became {template}, which has"
        " no such field (copy what you need, then delete these lines):",
        *dumped,
    ]
    _put_first_in_trailing(sheets, key, [" " * indent + line for line in lines])


def _put_first_in_trailing(mapping: CommentedMap, key: Any, lines: list[str]) -> None:
    """Comment lines right after the entry ``key``, before those already there (which
    belong to what follows)."""
    value = mapping[key]
    if _is_block_mapping(value):
        leaf = _last_leaf(value)
        assert leaf is not None
        mapping, key = leaf
    eol, existing = _take_trailing(mapping, key)
    _put_trailing(mapping, key, eol, [*lines, *existing])


def _dumped_lines(data: CommentedMap) -> list[str]:
    """``data`` as YAML lines with their comments, commented out."""
    dumped = _dump_document(data, "")
    return ["# " + line for line in dumped.rstrip("\n").split("\n")]


def _apply_field(
    document: CommentedMap,
    sheet: Sheet,
    field_id: str,
    typed: str,
    entry: SheetCorrections | None,
    current: Corrections,
) -> bool:
    sheet_field = sheet.field_by_id(field_id)
    if sheet_field is None:
        valid = ", ".join(f.id for f in sheet.fields) or "none"
        raise CorrectionsError(f"sheet {sheet.id!r} has no field {field_id!r}; valid: {valid}")
    ocr = canonical_text(sheet_field.text)
    new = canonical_text(typed)
    correction = entry.fields.get(field_id) if entry else None
    shown = canonical_text(resolve_field(ocr, correction, current.replace).text)
    if new == shown:
        return False
    where = ["sheets", sheet.id, "fields", field_id]
    if new != ocr:
        _set_in(document, [*where, "text"], _styled(new))
        _set_in(document, [*where, "ocr_sha"], _styled(ocr_fingerprint(ocr)))
        return True
    # Back to what OCR read: no correction any more, the field follows the OCR again.
    return _delete_entries(document, where, ("text", "ocr_sha"))


def _set_replacement(document: CommentedMap, old: str, new: str) -> None:
    """``replace: {old: new}`` at the end of the file-wide list; a new list goes before
    ``sheets``, written one entry per line."""
    key = _find_key(document, "replace")
    if key is not None and isinstance(document[key], CommentedMap) and document[key]:
        entries = document[key]
        known = _find_key(entries, old)
        _set_key(entries, known if known is not None else _styled(old), _styled(new))
        return
    entries = CommentedMap([(_styled(old), _styled(new))])
    if key is not None:
        _set_key(document, key, entries)  # `replace: {}` as `init` writes it, or empty
    elif _find_key(document, "sheets") is not None:
        document.insert(list(document).index(_find_key(document, "sheets")), "replace", entries)
    else:
        _set_key(document, "replace", entries)


def _set_sheet_key(document: CommentedMap, sheet_id: str, key: str, value: Any) -> None:
    """Set (or, for ``None``, remove) a sheet-level key; new keys go before ``fields``."""
    if value is None:
        _delete_entries(document, ["sheets", sheet_id], (key,))
        return
    sheet_map = _path(document, ["sheets", sheet_id])
    found = _find_key(sheet_map, key)
    if sheet_map is None or found is not None:
        _set_in(document, ["sheets", sheet_id, key], value)
        return
    fields_key = _find_key(sheet_map, "fields")
    if fields_key is None:
        _set_key(sheet_map, key, value)
    else:
        # the sheet's own settings read best above its (long) list of fields
        sheet_map.insert(list(sheet_map).index(fields_key), key, value)


def _path(document: CommentedMap, keys: list[str]) -> CommentedMap | None:
    """The mapping at ``keys`` (matched in NFC), or ``None``."""
    mapping = document
    for name in keys:
        key = _find_key(mapping, name)
        if key is None or not isinstance(mapping[key], CommentedMap):
            return None
        mapping = mapping[key]
    return mapping


def _set_in(document: CommentedMap, keys: list[str], value: Any) -> None:
    """``document[k1]...[kn] = value``, creating missing (or null) mappings on the way.

    What is missing is built first and set in one step, so comments after a
    null entry (``IMG_0003:`` written by hand) stay after the whole new entry.
    """
    mapping = document
    for depth, name in enumerate(keys[:-1]):
        key = _find_key(mapping, name)
        if key is not None and isinstance(mapping[key], CommentedMap):
            mapping = mapping[key]
            continue
        nested = value
        for inner in reversed(keys[depth + 1 :]):
            nested = CommentedMap([(inner, nested)])
        _set_key(mapping, key if key is not None else name, nested)
        return
    key = _find_key(mapping, keys[-1])
    _set_key(mapping, key if key is not None else keys[-1], value)


def _delete_entries(document: CommentedMap, keys: list[str], names: tuple[str, ...]) -> bool:
    """Delete ``names`` from the mapping at ``keys``; whether anything was there.

    A field entry or ``fields`` left empty goes too, in one step, so comment
    lines after it stay where they were. A sheet entry left empty stays as
    ``ID:`` with nothing, as a person may have written it.
    """
    mapping = _path(document, keys)
    if mapping is None:
        return False
    found = [key for key in mapping if normalize_text(str(key)) in names]
    if not found:
        return False
    left_empty = len(found) == len(mapping)
    if left_empty and len(keys) >= 3:  # sheets.ID.fields or a field entry: prune
        return _delete_entries(document, keys[:-1], (keys[-1],))
    if left_empty and len(keys) == 2:
        sheets = _path(document, keys[:1])
        _set_key(sheets, _find_key(sheets, keys[1]), None)
        return True
    for key in found:
        leftover = _delete_key(mapping, key)
        if leftover:  # `sheets` itself is left empty: keep the lines after it
            owner = _path(document, keys[:-1])
            if owner is not None:
                _give_trailing_to(owner, _find_key(owner, keys[-1]), leftover)
    return True


def _find_key(mapping: Any, wanted: str) -> Any:
    """The key of ``mapping`` that is ``wanted`` in NFC (a file may hold NFD ids)."""
    if not isinstance(mapping, CommentedMap):
        return None
    wanted = normalize_text(wanted)
    return next((key for key in mapping if normalize_text(str(key)) == wanted), None)


def _styled(text: str) -> Any:
    """Text as YAML that every reader takes as this text: literal block, plain or quoted.

    Lines keep their breaks in a literal block (what a person edits best); a
    one-line text stays plain unless YAML 1.1 or 1.2 would read it as something
    else (``no``, ``012345``, ``1e3``, ``""``).
    """
    if "\n" in text:
        return LiteralScalarString(text)
    # Always a typed string: ruamel gives a plain str the style of the value it replaces.
    if _plain_means_text(text):
        return PlainScalarString(text)
    return DoubleQuotedScalarString(text)


_YAML11 = yaml.resolver.Resolver()
_STR_TAG = "tag:yaml.org,2002:str"
# YAML 1.2 numbers that YAML 1.1 reads as text ("1e3", ".5e1"): quote those too.
_YAML12_NUMBER = re.compile(r"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$")


def _plain_means_text(text: str) -> bool:
    if text != text.strip() or not text:
        return False
    resolved = _YAML11.resolve(yaml.ScalarNode, text, (True, False))
    return resolved == _STR_TAG and not _YAML12_NUMBER.match(text)


# -- keys and their comments --------------------------------------------------------------
#
# ruamel.yaml keeps the comment lines that follow an entry on the entry's last
# scalar. Adding an entry after it, or deleting it, would move or drop those
# lines, which usually belong to whatever comes next. These helpers keep such
# lines where they were in the file.

_BLOCK_SCALARS = (LiteralScalarString, FoldedScalarString)


def _set_key(mapping: CommentedMap, key: Any, value: Any) -> None:
    """``mapping[key] = value``, keeping the comment lines around the entry in place."""
    if key in mapping:
        if _is_block_mapping(mapping[key]):
            eol, lines = None, _take_mapping_trailing(mapping[key])
        else:
            eol, lines = _take_trailing(mapping, key)
        mapping[key] = value
        if _is_block_mapping(value):
            _put_trailing(mapping, key, None, [])
            _give_trailing(value, [*_eol_as_line(eol, _key_indent(mapping, key)), *lines])
        else:
            _put_trailing(mapping, key, eol, lines)
        return
    lines = _take_mapping_trailing(mapping)
    mapping[key] = value
    _give_trailing(mapping, lines)


def _delete_key(mapping: CommentedMap, key: Any) -> list[str]:
    """``del mapping[key]``; comment lines after the entry stay, those inside it go with it.

    Returns the lines it could not place: the mapping has no entry left to hold them.
    """
    value = mapping[key]
    if _is_block_mapping(value):
        # lines an earlier deletion gave one of its entries to keep stay in the file too
        held = [_token_lines(value.ca.items.get(k, [None, None])[1]) for k in value]
        lines = [*(line for group in held for line in group), *_take_mapping_trailing(value)]
    else:
        _, lines = _take_trailing(mapping, key)
    keys = list(mapping)
    position = keys.index(key)
    del mapping[key]
    slots = mapping.ca.items.pop(key, None)
    # lines an earlier deletion gave this entry to keep: they go on to a neighbour too
    lines = [*_token_lines(slots[1] if slots and len(slots) > 1 else None), *lines]
    if not lines:
        return []
    if position > 0:
        _give_trailing_to(mapping, keys[position - 1], lines)
    elif position + 1 < len(keys):
        slots = mapping.ca.items.setdefault(keys[position + 1], [None, None, None, None])
        slots[1] = [*_line_tokens(lines), *(slots[1] or [])]
    else:
        return lines
    return []


def _token_lines(tokens: Any) -> list[str]:
    """Comment tokens held before an entry, as the lines they were."""
    if not isinstance(tokens, list):
        return []
    lines = []
    for token in tokens:
        if isinstance(token, CommentToken):
            column = token.start_mark.column if token.start_mark else 0
            lines += [" " * column + part for part in token.value.rstrip("\n").split("\n")]
    return lines


def _give_trailing_to(mapping: CommentedMap, key: Any, lines: list[str]) -> None:
    value = mapping[key]
    if _is_block_mapping(value):
        _give_trailing(value, lines)
    else:
        eol, existing = _take_trailing(mapping, key)
        _put_trailing(mapping, key, eol, [*existing, *lines])


def _last_leaf(mapping: CommentedMap) -> tuple[CommentedMap, Any] | None:
    """The mapping and key of the last scalar entry, where trailing comments are kept."""
    if not mapping:
        return None
    key = next(reversed(mapping))
    value = mapping[key]
    if _is_block_mapping(value):
        return _last_leaf(value)
    return mapping, key


def _is_block_mapping(value: Any) -> bool:
    """A non-empty mapping written one entry per line (not ``{a: b}``)."""
    return isinstance(value, CommentedMap) and bool(value) and not value.fa.flow_style()


def _take_mapping_trailing(mapping: CommentedMap) -> list[str]:
    leaf = _last_leaf(mapping)
    if leaf is None:
        return []
    owner, key = leaf
    eol, lines = _take_trailing(owner, key)
    _put_trailing(owner, key, eol, [])
    return lines


def _give_trailing(mapping: CommentedMap, lines: list[str]) -> None:
    leaf = _last_leaf(mapping)
    if leaf is None or not lines:
        return
    owner, key = leaf
    eol, existing = _take_trailing(owner, key)
    _put_trailing(owner, key, eol, [*existing, *lines])


def _take_trailing(mapping: CommentedMap, key: Any) -> tuple[CommentToken | None, list[str]]:
    """The end-of-line comment of an entry and the full comment lines after it, as text."""
    slots = mapping.ca.items.get(key)
    token = slots[2] if slots and len(slots) > 2 else None
    if not isinstance(token, CommentToken):
        return None, []
    value = token.value
    eol = None
    if isinstance(mapping[key], _BLOCK_SCALARS):
        # after a block scalar there is no end-of-line: the first comment line's
        # indentation is kept in the token's column instead
        rest = value if value.startswith("\n") else " " * token.start_mark.column + value
    elif value.startswith("#"):
        first, _, rest = value.partition("\n")
        eol = CommentToken(first + "\n", token.start_mark)
    else:
        rest = value[1:]  # the line break that ends the entry's own line
    lines = rest.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return eol, lines


def _put_trailing(
    mapping: CommentedMap, key: Any, eol: CommentToken | None, lines: list[str]
) -> None:
    slots = mapping.ca.items.setdefault(key, [None, None, None, None])
    while len(slots) < 4:
        slots.append(None)
    body = "".join(line + "\n" for line in lines)
    if isinstance(mapping[key], _BLOCK_SCALARS):
        lines = [*_eol_as_line(eol, _key_indent(mapping, key)), *lines]
        body = "".join(line + "\n" for line in lines)
        if not body:
            slots[2] = None
        elif body.startswith("\n"):
            slots[2] = CommentToken(body, CommentMark(0))
        else:
            stripped = body.lstrip(" ")
            slots[2] = CommentToken(stripped, CommentMark(len(body) - len(stripped)))
    elif eol is not None:
        slots[2] = CommentToken(eol.value + body, eol.start_mark)
    else:
        slots[2] = CommentToken("\n" + body, CommentMark(0)) if body else None
    if not any(slots):
        mapping.ca.items.pop(key, None)


def _eol_as_line(eol: CommentToken | None, indent: int) -> list[str]:
    """An end-of-line comment that can no longer stay on its line, as a line of its own."""
    if eol is None:
        return []
    return [" " * indent + eol.value.strip()]


def _key_indent(mapping: CommentedMap, key: Any) -> int:
    """The column of ``key`` as read from the file; 0 for an entry made here."""
    with contextlib.suppress(Exception):  # ruamel keeps no position for new entries
        return int(mapping.lc.key(key)[1])
    return 0


def _line_tokens(lines: list[str]) -> list[CommentToken]:
    tokens = []
    for line in lines:
        stripped = line.lstrip(" ")
        tokens.append(CommentToken(stripped + "\n", CommentMark(len(line) - len(stripped))))
    return tokens


# -- reading and writing ------------------------------------------------------------------

_NULL = re.compile(r"^(?:~|null|Null|NULL|)$")
_BOOL = re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$")
_AS_WRITTEN: dict[Any, list[tuple[str, re.Pattern[str]]]] = {}
for _first in "tTfF":
    _AS_WRITTEN.setdefault(_first, []).append(("tag:yaml.org,2002:bool", _BOOL))
for _first in ["~", "n", "N", ""]:
    _AS_WRITTEN.setdefault(_first, []).append(("tag:yaml.org,2002:null", _NULL))


class _AsWrittenResolver(VersionedResolver):
    """Only null and true/false are recognised; every other plain scalar is text as written."""

    @property
    def versioned_resolver(self) -> Any:
        return _AS_WRITTEN


def _yaml(indent: int = 2) -> YAML:
    handler = YAML(typ="rt")
    handler.Resolver = _AsWrittenResolver
    handler.preserve_quotes = True
    handler.allow_unicode = True
    handler.width = 1_000_000  # never fold a line: the sheet's line breaks are the text's
    handler.indent(mapping=indent, sequence=indent + 2, offset=indent)
    return handler


def _decode(data: bytes, path: Path) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise CorrectionsError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from e


def _load_document(text: str, path: Path) -> tuple[CommentedMap, str]:
    """The file as an editable mapping, plus text to keep verbatim before it.

    A file of nothing but comments loads as no document at all; its text is
    kept as it is and the new entries are written after it.
    """
    try:
        document = _yaml().load(text)
    except YAMLError as e:
        raise CorrectionsError(f"{path}: cannot be edited as YAML: {e}") from e
    if document is None:
        prefix = text if text.endswith("\n") or not text else text + "\n"
        return CommentedMap(), prefix
    if not isinstance(document, CommentedMap):
        raise CorrectionsError(f"{path}: expected a mapping with event, replace, sheets")
    return document, ""


def _dump_document(document: CommentedMap, prefix: str, indent: int = 2) -> str:
    stream = io.StringIO()
    _yaml(indent).dump(document, stream)
    return prefix + stream.getvalue()


# -- the safety net -----------------------------------------------------------------------


def _unexpected_changes(
    before: Corrections, after: Corrections, edit: SheetEdit, gone: frozenset[str] = frozenset()
) -> list[str]:
    """Entries that differ between ``before`` and ``after`` although ``edit`` did not ask.

    ``gone``: field entries the edit's template change takes out (``misfits``).
    """
    old, new = before.to_dict(), after.to_dict()
    changed = [key for key in ("event", "replace") if old.get(key) != new.get(key)]
    edited = normalize_text(edit.sheet_id)
    for sheet_id in sorted(set(old["sheets"]) | set(new["sheets"])):
        if sheet_id == edited:
            continue
        if old["sheets"].get(sheet_id) != new["sheets"].get(sheet_id):
            changed.append(f"sheets.{sheet_id}")
    old_sheet = old["sheets"].get(edited) or {}
    new_sheet = new["sheets"].get(edited) or {}
    keys = {"template": edit.template, "skip": edit.skip, "reviewed": edit.reviewed}
    for key, asked in keys.items():
        if asked is None and old_sheet.get(key) != new_sheet.get(key):
            changed.append(f"sheets.{edited}.{key}")
    old_fields, new_fields = old_sheet.get("fields", {}), new_sheet.get("fields", {})
    for field_id in sorted(set(old_fields) | set(new_fields)):
        if field_id in gone and field_id not in new_fields:
            continue
        if field_id in edit.fields:
            before_replace = (old_fields.get(field_id) or {}).get("replace")
            if before_replace != (new_fields.get(field_id) or {}).get("replace"):
                changed.append(f"sheets.{edited}.fields.{field_id}.replace")
        elif old_fields.get(field_id) != new_fields.get(field_id):
            changed.append(f"sheets.{edited}.fields.{field_id}")
    return changed
