"""The corrections file: a person's fixes to the OCR text, kept apart from the OCR output.

The file is read from PyYAML's node tree rather than with ``safe_load``: every
entry keeps its line for error messages, a duplicate key is an error instead of
silently losing one of the two entries, and scalars are taken as written, so
YAML 1.1's implicit typing cannot turn the sheet id ``20190327_171502`` into a
number, a replacement ``no: nein`` into ``False: nein``, or an ``ocr_sha`` that
happens to be all digits (``012345670123``) into an octal number.

``load_corrections`` checks the file on its own (``process -c`` needs no more);
``validate`` checks it against the sheets and templates, before ``merge`` writes.
``resolve_field`` is the one definition of how a correction changes a field's
text; merge and the review app both use it.
"""

from __future__ import annotations

import difflib
import hashlib
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .document import Sheet
from .errors import CorrectionsError
from .io import yaml_syntax_error
from .templates import Template

# The keys a corrections file may hold, per level: the one place they are named.
TOP_KEYS = ("event", "replace", "sheets")
EVENT_KEYS = ("title", "subtitle", "date", "place", "moderation")
SHEET_KEYS = ("template", "skip", "reviewed", "fields")
FIELD_KEYS = ("text", "ocr_sha", "replace")

ORIGIN_OCR = "ocr"
ORIGIN_CORRECTED = "corrected"

FINGERPRINT_LENGTH = 12
_TEMPLATE_ID = re.compile(r"^[a-z0-9_-]+$")
# Shorter prefixes would make an accidental match too likely; longer ones are fine.
_OCR_SHA = re.compile(r"^[0-9a-f]{8,64}$")

_NULL_TAG = "tag:yaml.org,2002:null"
_FAST_LOADER = getattr(yaml, "CSafeLoader", None)  # PyYAML built with libyaml
_BOOL_TAG = "tag:yaml.org,2002:bool"


# -- text ---------------------------------------------------------------------------------


def normalize_text(text: str) -> str:
    """The form every text takes before it is compared, replaced or written: NFC.

    Photos named on a Mac and text typed in some editors arrive decomposed (NFD);
    without this "ä" typed by a person would not match "ä" read by Tesseract.
    """
    return unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n"))


def canonical_text(text: str) -> str:
    """A field text as a person means it: NFC, no trailing spaces, no trailing blank lines.

    Editors strip trailing whitespace on save and YAML block scalars add a final
    newline; neither is a correction.
    """
    lines = [line.rstrip() for line in normalize_text(text).split("\n")]
    return "\n".join(lines).rstrip("\n")


def ocr_fingerprint(text: str) -> str:
    """What ``ocr_sha`` records: the first 12 hex digits of the SHA-256 of the canonical text."""
    digest = hashlib.sha256(canonical_text(text).encode("utf-8")).hexdigest()
    return digest[:FINGERPRINT_LENGTH]


def fingerprint_matches(recorded: str, text: str) -> bool:
    """``recorded`` (a prefix of 8 to 64 hex digits) is the fingerprint of ``text``."""
    digest = hashlib.sha256(canonical_text(text).encode("utf-8")).hexdigest()
    return digest.startswith(recorded.lower())


# -- the parsed file ----------------------------------------------------------------------


@dataclass(frozen=True)
class Replacement:
    old: str
    new: str
    line: int = 0  # in the corrections file, 1-based; 0 when not from a file


@dataclass(frozen=True)
class FieldCorrection:
    text: str | None = None  # the whole corrected text; None: no text correction
    ocr_sha: str | None = None  # fingerprint of the OCR text the correction was made against
    replace: tuple[Replacement, ...] = ()
    line: int = 0

    @property
    def untouched(self) -> bool:
        """A ``text`` written from the OCR (by ``init`` or the review app) that nobody changed.

        Such an entry is no correction: the field follows the OCR, also a newer run's.
        """
        return (
            self.text is not None
            and self.ocr_sha is not None
            and fingerprint_matches(self.ocr_sha, self.text)
        )

    @property
    def corrects_text(self) -> bool:
        return self.text is not None and not self.untouched


@dataclass(frozen=True)
class SheetCorrections:
    template: str | None = None
    skip: bool = False
    fields: dict[str, FieldCorrection] = field(default_factory=dict)
    line: int = 0
    template_line: int = 0
    reviewed: bool = False  # set by the review app; merge learns from it (learn.py)


@dataclass(frozen=True)
class Corrections:
    path: Path | None = None
    event: dict[str, str] = field(default_factory=dict)  # only the keys given, non-empty
    replace: tuple[Replacement, ...] = ()
    sheets: dict[str, SheetCorrections] = field(default_factory=dict)  # keyed by NFC sheet id

    def for_sheet(self, sheet_id: str) -> SheetCorrections | None:
        return self.sheets.get(normalize_text(sheet_id))

    def where(self, line: int) -> str:
        """``FILE:LINE`` for messages, as editors and terminals link them."""
        name = str(self.path) if self.path else "<corrections>"
        return f"{name}:{line}" if line else name

    def to_dict(self) -> dict[str, Any]:
        """The file's content as plain data (what the corrections JSON Schema describes)."""
        document: dict[str, Any] = {}
        if self.event:
            document["event"] = dict(self.event)
        if self.replace:
            document["replace"] = {r.old: r.new for r in self.replace}
        document["sheets"] = {
            sheet_id: _sheet_to_dict(entry) for sheet_id, entry in self.sheets.items()
        }
        return document


def _sheet_to_dict(entry: SheetCorrections) -> dict[str, Any]:
    d: dict[str, Any] = {}
    if entry.template is not None:
        d["template"] = entry.template
    if entry.skip:
        d["skip"] = True
    if entry.reviewed:
        d["reviewed"] = True
    if entry.fields:
        d["fields"] = {}
        for field_id, correction in entry.fields.items():
            f: dict[str, Any] = {}
            if correction.text is not None:
                f["text"] = correction.text
            if correction.ocr_sha is not None:
                f["ocr_sha"] = correction.ocr_sha
            if correction.replace:
                f["replace"] = {r.old: r.new for r in correction.replace}
            d["fields"][field_id] = f
    return d


# -- reading ------------------------------------------------------------------------------


class _Problems:
    """Collects every problem of a file, so one run names them all, each with its line."""

    def __init__(self, path: Path | str) -> None:
        self.path = str(path)
        self.found: list[tuple[int, str]] = []

    def add(self, line: int, entry: str, message: str) -> None:
        where = f"{self.path}:{line}" if line else self.path
        self.found.append(
            (line, f"{where}: {entry}: {message}" if entry else f"{where}: {message}")
        )

    @property
    def messages(self) -> list[str]:
        return [message for _, message in sorted(self.found, key=lambda item: item[0])]

    def raise_if_any(self) -> None:
        messages = self.messages
        if not messages:
            return
        if len(messages) == 1:
            raise CorrectionsError(messages[0])
        count = f"{len(messages)} problems in the corrections file:"
        raise CorrectionsError("\n".join([count, *messages]))


def load_corrections(path: Path) -> Corrections:
    """Read and check a corrections file on its own; any problem raises ``CorrectionsError``."""
    path = Path(path)
    root = _compose(path)
    problems = _Problems(path)
    corrections = _parse_document(root, path, problems)
    problems.raise_if_any()
    return corrections


def parse_corrections(text: str, path: Path | str = "<corrections>") -> Corrections:
    """Like ``load_corrections``, for text already in memory (the review app's edits)."""
    root = _compose_text(text, str(path))
    problems = _Problems(path)
    corrections = _parse_document(root, Path(str(path)), problems)
    problems.raise_if_any()
    return corrections


def _compose(path: Path) -> yaml.Node | None:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as e:
        raise CorrectionsError(f"{path}: corrections file not found") from e
    except IsADirectoryError as e:
        raise CorrectionsError(f"{path}: is a folder, not a corrections file") from e
    except OSError as e:
        raise CorrectionsError(f"{path}: cannot read ({e.strerror or e})") from e
    except UnicodeDecodeError as e:
        raise CorrectionsError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from e
    return _compose_text(text, str(path))


def _compose_text(text: str, name: str) -> yaml.Node | None:
    if _FAST_LOADER is not None:
        # libyaml reads a 400-sheet file in 0.05 s, the Python loader in 0.5 s (a review
        # save reads the file it writes); its error texts differ, so a file it refuses is
        # read again below, for the same message as ever.
        try:
            return yaml.compose(text, Loader=_FAST_LOADER)
        except yaml.YAMLError:
            pass
    try:
        return yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as e:  # also e.g. more than one document in the file
        raise CorrectionsError(f"{name}:{yaml_syntax_error(text, e)}") from e


def _line(node: yaml.Node) -> int:
    return node.start_mark.line + 1


def _kind(node: yaml.Node) -> str:
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    return "nothing" if _is_null(node) else f"{node.value!r}"


def _is_null(node: yaml.Node) -> bool:
    return isinstance(node, yaml.ScalarNode) and node.tag == _NULL_TAG


def _mapping_items(
    node: yaml.Node | None, entry: str, problems: _Problems, what: str
) -> list[tuple[yaml.ScalarNode, str, yaml.Node]]:
    """The (key node, key text, value node) pairs of a mapping; a null counts as empty."""
    if node is None or _is_null(node):
        return []
    if not isinstance(node, yaml.MappingNode):
        problems.add(_line(node), entry, f"expected {what}, found {_kind(node)}")
        return []
    items = []
    seen: dict[str, int] = {}
    for key_node, value_node in node.value:
        if not isinstance(key_node, yaml.ScalarNode) or _is_null(key_node):
            problems.add(_line(key_node), entry, f"a key must be text, found {_kind(key_node)}")
            continue
        key = normalize_text(key_node.value)
        if key in seen:
            problems.add(
                _line(key_node),
                _join(entry, key),
                f"appears twice (also line {seen[key]}); merge the two entries into one",
            )
            continue
        seen[key] = _line(key_node)
        items.append((key_node, key, value_node))
    return items


def _join(entry: str, key: str) -> str:
    # Keys with dots or spaces are quoted so the entry path stays unambiguous.
    part = key if re.match(r"^[\w-]+$", key) else repr(key)
    return f"{entry}.{part}" if entry else part


def _check_keys(
    items: list[tuple[yaml.ScalarNode, str, yaml.Node]],
    allowed: Iterable[str],
    entry: str,
    problems: _Problems,
) -> list[tuple[yaml.ScalarNode, str, yaml.Node]]:
    allowed = tuple(allowed)
    known = []
    for key_node, key, value_node in items:
        if key in allowed:
            known.append((key_node, key, value_node))
        else:
            problems.add(
                _line(key_node), _join(entry, key), f"unknown key; {_choices(allowed, key)}"
            )
    return known


def _choices(valid: Iterable[str], given: str | None = None, limit: int = 12) -> str:
    """'valid: a, b, c' with a did-you-mean when a choice is close to what was given."""
    valid = list(valid)
    if not valid:
        return "valid: none"
    hint = ""
    if given is not None:
        close = difflib.get_close_matches(given, valid, n=1, cutoff=0.6)
        hint = f"did you mean {close[0]!r}? " if close else ""
    shown = ", ".join(valid[:limit])
    more = f", … ({len(valid) - limit} more)" if len(valid) > limit else ""
    return f"{hint}valid: {shown}{more}"


def _text(node: yaml.Node, entry: str, problems: _Problems, allow_null: bool = False) -> str | None:
    """A scalar exactly as written (NFC); a mapping or list where text belongs is an error."""
    if not isinstance(node, yaml.ScalarNode):
        problems.add(_line(node), entry, f"expected text, found {_kind(node)}")
        return None
    if _is_null(node):
        if not allow_null:
            problems.add(_line(node), entry, 'expected text, found nothing (write "" for empty)')
        return None
    return normalize_text(node.value)


def _parse_document(root: yaml.Node | None, path: Path, problems: _Problems) -> Corrections:
    items = _mapping_items(root, "", problems, "a mapping with event, replace, sheets")
    parts = {key: value for _, key, value in _check_keys(items, TOP_KEYS, "", problems)}
    return Corrections(
        path=path,
        event=_parse_event(parts.get("event"), problems),
        replace=_parse_replace(parts.get("replace"), "replace", problems),
        sheets=_parse_sheets(parts.get("sheets"), problems),
    )


def _parse_event(node: yaml.Node | None, problems: _Problems) -> dict[str, str]:
    items = _mapping_items(node, "event", problems, f"a mapping with {', '.join(EVENT_KEYS)}")
    event = {}
    for _, key, value in _check_keys(items, EVENT_KEYS, "event", problems):
        text = _text(value, f"event.{key}", problems, allow_null=True)
        if text and text.strip():  # an empty entry left by `init` means "not given"
            event[key] = text.strip()
    return event


def _parse_replace(
    node: yaml.Node | None, entry: str, problems: _Problems
) -> tuple[Replacement, ...]:
    items = _mapping_items(node, entry, problems, 'a mapping of "old text": "new text"')
    replacements = []
    for key_node, old, value in items:
        where = _join(entry, old)
        if not old:
            problems.add(_line(key_node), entry, "cannot replace the empty text")
            continue
        if _is_null(value):
            problems.add(_line(value), where, 'has no replacement; write "" to delete the text')
            continue
        new = _text(value, where, problems)
        if new is not None:
            replacements.append(Replacement(old, new, _line(key_node)))
    return tuple(replacements)


def _parse_sheets(node: yaml.Node | None, problems: _Problems) -> dict[str, SheetCorrections]:
    items = _mapping_items(node, "sheets", problems, "a mapping of sheet id to its corrections")
    return {
        sheet_id: _parse_sheet(key_node, value, f"sheets.{sheet_id}", problems)
        for key_node, sheet_id, value in items
    }


def _parse_sheet(
    key_node: yaml.Node, node: yaml.Node, entry: str, problems: _Problems
) -> SheetCorrections:
    items = _mapping_items(node, entry, problems, f"a mapping with {', '.join(SHEET_KEYS)}")
    parts = {key: value for _, key, value in _check_keys(items, SHEET_KEYS, entry, problems)}
    template, template_line = None, 0
    if "template" in parts:
        template_node = parts["template"]
        template_line = _line(template_node)
        template = _text(template_node, f"{entry}.template", problems, allow_null=True)
        if template is not None and not _TEMPLATE_ID.match(template):
            problems.add(
                template_line,
                f"{entry}.template",
                f"{template!r} is not a template id (a-z, 0-9, '_', '-')",
            )
            template = None
    skip = _flag(parts.get("skip"), f"{entry}.skip", problems)
    reviewed = _flag(parts.get("reviewed"), f"{entry}.reviewed", problems)
    fields = _parse_fields(parts.get("fields"), entry, problems)
    return SheetCorrections(template, skip, fields, _line(key_node), template_line, reviewed)


def _flag(node: yaml.Node | None, entry: str, problems: _Problems) -> bool:
    """A true/false entry; missing or empty means false."""
    if node is None or _is_null(node):
        return False
    if isinstance(node, yaml.ScalarNode) and node.tag == _BOOL_TAG:
        return node.value.lower() in ("true", "yes", "on", "y")
    problems.add(_line(node), entry, f"expected true or false, found {_kind(node)}")
    return False


def _parse_fields(
    node: yaml.Node | None, entry: str, problems: _Problems
) -> dict[str, FieldCorrection]:
    where = f"{entry}.fields"
    items = _mapping_items(node, where, problems, "a mapping of field id to its correction")
    fields = {}
    for key_node, field_id, value in items:
        fields[field_id] = _parse_field(value, _join(where, field_id), _line(key_node), problems)
    return fields


def _parse_field(node: yaml.Node, entry: str, line: int, problems: _Problems) -> FieldCorrection:
    items = _mapping_items(node, entry, problems, f"a mapping with {', '.join(FIELD_KEYS)}")
    parts = {key: value for _, key, value in _check_keys(items, FIELD_KEYS, entry, problems)}
    text = None
    if "text" in parts:
        # `text:` with nothing after it is no correction; `text: ""` empties the field.
        raw = _text(parts["text"], f"{entry}.text", problems, allow_null=True)
        text = canonical_text(raw) if raw is not None else None
    ocr_sha = None
    if "ocr_sha" in parts:
        ocr_sha = _text(parts["ocr_sha"], f"{entry}.ocr_sha", problems, allow_null=True)
        if ocr_sha is not None and not _OCR_SHA.match(ocr_sha.lower()):
            problems.add(
                _line(parts["ocr_sha"]),
                f"{entry}.ocr_sha",
                f"{ocr_sha!r} is not a fingerprint (8 to 64 hex digits); delete the line",
            )
            ocr_sha = None
    replace = _parse_replace(parts.get("replace"), f"{entry}.replace", problems)
    return FieldCorrection(text, ocr_sha.lower() if ocr_sha else None, replace, line)


# -- checking against the sheets ----------------------------------------------------------


def validate(
    corrections: Corrections,
    sheets: Iterable[Sheet],
    templates: Mapping[str, Template],
    unavailable: Iterable[str] = (),
) -> list[str]:
    """Every template and field the file names exists; else one ``CorrectionsError``.

    A sheet's fields are those of its ``template`` override when it has one, else
    those of the template its sheet JSON was read with. ``unavailable`` are ids
    whose sheet JSON exists but cannot be read: that failure is reported on its
    own, so their entries are not called unknown.

    An entry for a sheet that is not there is no error: the photo may have been
    left out of this run, or not be processed yet, and its corrections must not
    block the protocol of the others. It is returned as a warning, with the id
    the entry may have been meant for.
    """
    by_id = {normalize_text(sheet.id): sheet for sheet in sheets}
    skipped = {normalize_text(sheet_id) for sheet_id in unavailable}
    problems = _Problems(corrections.path or "<corrections>")
    absent = []
    for sheet_id, entry in corrections.sheets.items():
        where = f"sheets.{sheet_id}"
        if sheet_id in skipped:
            continue
        sheet = by_id.get(sheet_id)
        if sheet is None:
            absent.append(_absent_sheet_warning(corrections, sheet_id, entry, by_id))
            continue
        if entry.template is not None and entry.template not in templates:
            problems.add(
                entry.template_line,
                f"{where}.template",
                f"unknown template {entry.template!r}; {_choices(templates, entry.template)}",
            )
            continue
        _check_fields(sheet, entry, templates, where, problems)
    problems.raise_if_any()
    return absent


def _check_fields(
    sheet: Sheet,
    entry: SheetCorrections,
    templates: Mapping[str, Template],
    where: str,
    problems: _Problems,
) -> None:
    valid_fields, template_id = valid_field_ids(sheet, entry, templates)
    for field_id, correction in entry.fields.items():
        if field_id in valid_fields:
            continue
        if template_id is None:
            reason = (
                "the photo could not be read, so the sheet has no fields (valid: none);"
                " delete this entry, or fix the photo and process it again"
            )
        else:
            reason = (
                f"unknown field for template {template_id!r}; {_choices(valid_fields, field_id)}"
            )
            if template_id != sheet.template:
                reason += (
                    f" (line {entry.template_line} sets the template; the photo was"
                    f" read as {sheet.template!r}, whose field entries no longer apply)"
                )
        problems.add(correction.line, f"{where}.fields.{field_id}", reason)


def _absent_sheet_warning(
    corrections: Corrections,
    sheet_id: str,
    entry: SheetCorrections,
    present: Mapping[str, Sheet],
) -> str:
    """Why an entry is not applied, and the sheet it may be a typo of.

    Only a sheet without an entry of its own, and with the same number, can be
    what a typo meant: IMG_0412 and IMG_0413 are two photos, not a misspelling.
    """
    digits = re.sub(r"\D", "", sheet_id)
    uncorrected = [
        i for i in sorted(present) if i not in corrections.sheets and re.sub(r"\D", "", i) == digits
    ]
    close = difflib.get_close_matches(sheet_id, uncorrected, n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]!r}, which has no entry?" if close else ""
    what = "nothing to skip" if entry.skip else "its corrections are not applied"
    return (
        f"{corrections.where(entry.line)}: sheets.{sheet_id}: no such sheet in this output"
        f" folder ({what}: the photo was left out of this run or not processed yet){hint}"
    )


def valid_field_ids(
    sheet: Sheet, entry: SheetCorrections | None, templates: Mapping[str, Template]
) -> tuple[list[str], str | None]:
    """The field ids a correction of ``sheet`` may name, and the template they come from."""
    if entry is not None and entry.template is not None and entry.template in templates:
        return templates[entry.template].field_ids(), entry.template
    if sheet.template is None:
        return [], None
    # The sheet JSON's own fields are its template's as it was when the photo was
    # read; that also holds for a custom template the merge was not told about.
    return [f.id for f in sheet.fields], sheet.template


# -- applying -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Resolved:
    """A field's text after the corrections, and what a person should know about it."""

    text: str
    origin: str  # ORIGIN_OCR or ORIGIN_CORRECTED
    warnings: tuple[str, ...] = ()
    file_replacements_used: frozenset[int] = frozenset()  # indices into Corrections.replace


def resolve_field(
    ocr_text: str,
    correction: FieldCorrection | None,
    file_replace: tuple[Replacement, ...] = (),
) -> Resolved:
    """Apply the corrections to one field's OCR text.

    A corrected ``text`` wins over everything; otherwise the file-wide replacements
    run first, in order, then the field's own. Warnings name corrections that may
    no longer fit the OCR text: a ``text`` made against OCR text that has changed
    since (``ocr_sha``), a field ``replace`` whose old text no longer occurs.
    """
    ocr_text = normalize_text(ocr_text)
    if correction is not None and correction.text is not None and not correction.untouched:
        warnings = []
        if correction.ocr_sha and not fingerprint_matches(correction.ocr_sha, ocr_text):
            warnings.append(
                "the OCR text has changed since this correction was made;"
                " the corrected text is kept: check it against the photo"
            )
        if correction.replace:
            warnings.append("has both text and replace: the replace is not applied")
        return Resolved(correction.text, ORIGIN_CORRECTED, tuple(warnings))
    text = ocr_text
    used = set()
    for index, replacement in enumerate(file_replace):
        if replacement.old in text:
            text = text.replace(replacement.old, replacement.new)
            used.add(index)
    warnings = []
    for replacement in correction.replace if correction else ():
        if replacement.old in text:
            text = text.replace(replacement.old, replacement.new)
        else:
            warnings.append(f"replace {replacement.old!r}: no longer occurs in the OCR text")
    origin = ORIGIN_CORRECTED if text != ocr_text else ORIGIN_OCR
    return Resolved(text, origin, tuple(warnings), frozenset(used))


# -- a starting file ----------------------------------------------------------------------


class _Dumper(yaml.SafeDumper):
    """Multi-line text as a literal block, so a reviewer edits lines, not escapes."""


def _represent_text(dumper: yaml.SafeDumper, text: str) -> yaml.ScalarNode:
    style = "|" if "\n" in text else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)


_Dumper.add_representer(str, _represent_text)


def _yaml_entry(key: str, value: Any, indent: int) -> list[str]:
    """``key: value`` as YAML lines at ``indent``; PyYAML does the quoting and escaping."""
    dumped = yaml.dump(
        {key: value},
        Dumper=_Dumper,
        allow_unicode=True,
        default_flow_style=False,
        sort_keys=False,
        width=1_000_000,  # never fold a line: the sheet's line breaks are the text's
    )
    pad = " " * indent
    return [pad + line if line else line for line in dumped.rstrip("\n").split("\n")]


def _comment(text: str, indent: int) -> str:
    return " " * indent + "# " + " ".join(text.split())


STARTING_FILE_HEADER = """\
# Corrections for the sheets in {out_dir}, written by `flipchart-ocr corrections init`.
#
# Every field's OCR text is below, ready to edit: fix it in place and keep the
# `ocr_sha` line. The field then counts as corrected and your text wins over any
# later OCR run (merge warns when the OCR text has changed since, so you can check).
# A field you leave as it is is no correction: it follows the OCR, also a newer run's.
#
#   event:    printed at the top of the protocol (title, subtitle, date, place, moderation)
#   replace:  "old": "new" pairs fixed in every field, e.g. a name OCR always misreads
#   skip: true          leaves a sheet out of the protocol
#   template: ID        the photo shows another template; read it again with
#                       flipchart-ocr process PHOTO -o {out_dir} -c THIS_FILE
#   replace: (in a field)  "old": "new" pairs fixed in that field only
#
# Templates: {templates}
"""


def starting_file(
    sheets: Iterable[Sheet], templates: Mapping[str, Template], out_dir: Path | str
) -> str:
    """A corrections file listing every sheet and field with its OCR text, ready to edit."""
    lines = STARTING_FILE_HEADER.format(out_dir=out_dir, templates=", ".join(templates)).split("\n")
    lines += [
        "event:",
        '  title: ""',
        '  subtitle: ""',
        '  date: ""  # e.g. 2019-03-27',
        '  place: ""',
        '  moderation: ""',
        "replace: {}",
        "sheets:",
    ]
    for sheet in sorted(sheets, key=lambda s: s.id):
        lines += _starting_sheet(sheet, templates)
    return "\n".join(lines) + "\n"


def _starting_sheet(sheet: Sheet, templates: Mapping[str, Template]) -> list[str]:
    if sheet.template is None:
        reason = "; ".join(sheet.warnings) or "unreadable"
        return [_comment(f"{sheet.id}: could not be read ({reason}); left out of the protocol", 2)]
    template = templates.get(sheet.template)
    name = template.name if template else sheet.template
    lines = _yaml_entry(sheet.id, None, 2)
    lines[-1] = lines[-1].removesuffix(" null")
    lines.append(
        _comment(f"{name} (template {sheet.template}, score {sheet.template_score:.2f})", 4)
    )
    lines.append(_comment(f"photo: {sheet.source.path}", 4))
    lines += [_comment(warning, 4) for warning in sheet.warnings]
    lines.append("    fields:")
    for sheet_field in sheet.fields:
        lines += _yaml_entry(sheet_field.id, None, 6)
        lines[-1] = lines[-1].removesuffix(" null")
        label = f"{sheet_field.label}  " if sheet_field.label else ""
        lines.append(_comment(f"{label}(OCR confidence {sheet_field.confidence:.0f})", 8))
        text = canonical_text(sheet_field.text)
        lines += _yaml_entry("text", text, 8)
        lines += _yaml_entry("ocr_sha", ocr_fingerprint(text), 8)
    return lines
