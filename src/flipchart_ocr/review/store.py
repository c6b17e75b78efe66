"""The corrections file as the review app edits it: round-trip YAML, atomic, never blind.

The file is the user's work (see the contract), so an edit changes only the
entries it is about:

- ruamel.yaml's round-trip mode keeps comments, order, quoting and everything
  else as written. Its resolver is cut down to null and true/false, so every
  other plain scalar stays text exactly as written: the sheet id
  ``20190327_171502`` is not turned into a number nor ``date: 2019-03-27`` into
  a date, and neither is rewritten on the way out.
- Every save names the version of the file it was made against (a hash of its
  bytes). When the file has changed on disk since, the save is refused
  (``CorrectionsChanged``): the page says so and asks for a reload, instead of
  overwriting someone's hand edit or a second browser tab.
- The edited text is checked with ``corrections.parse_corrections`` and
  ``validate`` and compared with the file before the edit: anything but the
  edited entries changing, or an invalid result, is refused and nothing is
  written.
- The write is atomic (temp file beside it, then ``os.replace``), keeps the
  file's mode, follows a symlink to its target, and the previous version is kept
  as ``FILE.bak``.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import re
import stat
import threading
from collections.abc import Iterable, Mapping, Sequence
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
    validate,
)
from ..document import Sheet
from ..errors import CorrectionsError, FlipchartError
from ..io import atomic_write, new_file_mode
from ..templates import Template

VERSION_ABSENT = "absent"  # the version of a corrections file that does not exist yet

NEW_FILE_HEADER = """\
# Corrections for the sheets in {out_dir}, written by `flipchart-ocr review`.
# Edit it by hand too: the review app keeps your comments, order and entries.
"""

CHANGED_ON_DISK = (
    "the corrections file changed on disk since you opened this page: reload"
    " (your unsaved text stays in the page until you do; copy it first if you need it)"
)


class CorrectionsChanged(FlipchartError):
    """The corrections file on disk is not the version the edit was made against."""


@dataclass(frozen=True)
class Snapshot:
    """The corrections file as read at one moment."""

    version: str  # hash of the file's bytes, or VERSION_ABSENT
    corrections: Corrections
    exists: bool


@dataclass(frozen=True)
class SheetEdit:
    """What one save of the sheet view asks for; ``None`` leaves an entry as it is."""

    sheet_id: str
    fields: Mapping[str, str] = field(default_factory=dict)  # field id -> the text as typed
    reviewed: bool | None = None
    skip: bool | None = None
    template: str | None = None  # a template id; "" removes the override


@dataclass(frozen=True)
class SaveResult:
    snapshot: Snapshot
    changed: bool


def file_version(data: bytes | None) -> str:
    """A short hash of the file's bytes: what the page sends back with each save."""
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
        self.sheets = {normalize_text(sheet.id): sheet for sheet in sheets}
        self.templates = templates
        self.unavailable = tuple(unavailable)
        self.out_dir = out_dir
        # One save at a time: the version check and the write must not interleave.
        self._lock = threading.Lock()

    @property
    def backup_path(self) -> Path:
        return self.path.with_name(self.path.name + ".bak")

    def snapshot(self) -> Snapshot:
        """The file as it is now, checked against the sheets; ``CorrectionsError`` if invalid."""
        data = self._read_bytes()
        return self._check(data)

    def save(self, edit: SheetEdit, expected_version: str) -> SaveResult:
        """Apply ``edit`` to the file if it is still at ``expected_version``.

        Raises ``CorrectionsChanged`` when it is not, ``CorrectionsError`` when the
        result would be invalid; in both cases the file is untouched.
        """
        with self._lock:
            data = self._read_bytes()
            if file_version(data) != expected_version:
                raise CorrectionsChanged(CHANGED_ON_DISK)
            before = self._check(data)
            text = _decode(data, self.path) if data is not None else ""
            document, prefix = _load_document(text, self.path)
            if not _apply_edit(document, edit, self._sheet(edit.sheet_id), before.corrections):
                return SaveResult(before, changed=False)
            new_text = _dump_document(document, prefix or self._new_file_header(data))
            after = self._check_edit(new_text, before.corrections, edit)
            new_data = new_text.encode("utf-8")
            # A last look right before replacing: an editor may have saved meanwhile.
            if file_version(self._read_bytes()) != expected_version:
                raise CorrectionsChanged(CHANGED_ON_DISK)
            self._write(data, new_data)
            return SaveResult(Snapshot(file_version(new_data), after, True), changed=True)

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
        corrections = parse_corrections(_decode(data, self.path), self.path)
        validate(corrections, self.sheets.values(), self.templates, self.unavailable)
        return Snapshot(file_version(data), corrections, exists=True)

    def _check_edit(self, new_text: str, before: Corrections, edit: SheetEdit) -> Corrections:
        """The edited file is valid and differs from ``before`` only where ``edit`` says."""
        try:
            after = parse_corrections(new_text, self.path)
            validate(after, self.sheets.values(), self.templates, self.unavailable)
        except CorrectionsError as e:
            raise CorrectionsError(f"not saved, the result would be invalid: {e}") from e
        changed = _unexpected_changes(before, after, edit)
        if changed:
            # A safety net for the YAML surgery: never write a file that lost an entry.
            raise CorrectionsError(
                f"not saved: the edit would also change {', '.join(changed)}; please report this"
            )
        return after

    def _new_file_header(self, data: bytes | None) -> str:
        if data is not None:
            return ""
        return NEW_FILE_HEADER.format(out_dir=self.out_dir or "the output folder")

    def _write(self, previous: bytes | None, new_data: bytes) -> None:
        target = self.path.resolve() if self.path.is_symlink() else self.path
        if previous is not None:
            mode = stat.S_IMODE(target.stat().st_mode)
            atomic_write(target.with_name(target.name + ".bak"), previous, mode)
        else:
            mode = new_file_mode()
            target.parent.mkdir(parents=True, exist_ok=True)  # e.g. corrections/ beside OUT
        atomic_write(target, new_data, mode)


# -- applying an edit to the YAML document ------------------------------------------------


def _apply_edit(
    document: CommentedMap, edit: SheetEdit, sheet: Sheet, current: Corrections
) -> bool:
    """Change ``document`` as ``edit`` asks; whether anything changed."""
    entry = current.for_sheet(sheet.id)
    changed = False
    for field_id, typed in edit.fields.items():
        changed |= _apply_field(document, sheet, field_id, typed, entry, current)
    if edit.template is not None:
        wanted = edit.template or None
        if wanted != (entry.template if entry else None):
            _set_sheet_key(document, sheet.id, "template", _styled(wanted) if wanted else None)
            changed = True
    for key, wanted in (("skip", edit.skip), ("reviewed", edit.reviewed)):
        if wanted is None or wanted == bool(entry and getattr(entry, key)):
            continue
        _set_sheet_key(document, sheet.id, key, True if wanted else None)
        changed = True
    return changed


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
        lines = _take_mapping_trailing(value)
    else:
        _, lines = _take_trailing(mapping, key)
    keys = list(mapping)
    position = keys.index(key)
    del mapping[key]
    mapping.ca.items.pop(key, None)
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


def _yaml() -> YAML:
    handler = YAML(typ="rt")
    handler.Resolver = _AsWrittenResolver
    handler.preserve_quotes = True
    handler.allow_unicode = True
    handler.width = 1_000_000  # never fold a line: the sheet's line breaks are the text's
    handler.indent(mapping=2, sequence=4, offset=2)
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


def _dump_document(document: CommentedMap, prefix: str) -> str:
    stream = io.StringIO()
    _yaml().dump(document, stream)
    return prefix + stream.getvalue()


# -- the safety net -----------------------------------------------------------------------


def _unexpected_changes(before: Corrections, after: Corrections, edit: SheetEdit) -> list[str]:
    """Entries that differ between ``before`` and ``after`` although ``edit`` did not ask."""
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
        if field_id in edit.fields:
            before_replace = (old_fields.get(field_id) or {}).get("replace")
            if before_replace != (new_fields.get(field_id) or {}).get("replace"):
                changed.append(f"sheets.{edited}.fields.{field_id}.replace")
        elif old_fields.get(field_id) != new_fields.get(field_id):
            changed.append(f"sheets.{edited}.fields.{field_id}")
    return changed
