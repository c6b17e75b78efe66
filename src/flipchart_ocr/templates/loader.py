"""Load and validate template files (YAML or JSON); errors name the file and the key."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import TemplateError
from ..io import load_yaml

BUILTIN_DIR = Path(__file__).parent / "builtin"
FREEFORM_ID = "freeform"
TEMPLATE_SUFFIXES = {".yaml", ".yml", ".json"}

_TEMPLATE_ID = re.compile(r"^[a-z0-9_-]+$")
_FIELD_ID = re.compile(r"^[a-z0-9_]+$")
Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class Printed:
    text: str
    box: Box


@dataclass(frozen=True)
class TemplateField:
    id: str
    label: str
    box: Box  # x, y, w, h as fractions of the sheet; includes the printed label
    label_height: float  # fraction of the sheet's height the label takes at the box's top

    @property
    def content_box(self) -> Box:
        """The part of the box below the printed label, where people write."""
        x, y, w, h = self.box
        return (x, y + self.label_height, w, max(h - self.label_height, 0.0))


@dataclass(frozen=True)
class Template:
    id: str
    name: str
    aspect: float | None  # width / height; None: take the photo's sheet as it is
    fields: tuple[TemplateField, ...]
    printed: tuple[Printed, ...] = ()
    path: str = ""

    def field_ids(self) -> list[str]:
        return [f.id for f in self.fields]

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"id": self.id, "name": self.name}
        if self.aspect is not None:
            d["aspect"] = self.aspect
        d["printed"] = [{"text": p.text, "box": list(p.box)} for p in self.printed]
        d["fields"] = [
            {"id": f.id, "label": f.label, "box": list(f.box), "label_height": f.label_height}
            for f in self.fields
        ]
        return d


def load_templates(user_dir: Path | None = None) -> dict[str, Template]:
    """Built-ins first, then every template in ``user_dir`` (same id: the user's wins)."""
    templates = {t.id: t for t in _load_dir(BUILTIN_DIR)}
    if user_dir is not None:
        if not Path(user_dir).is_dir():
            raise TemplateError(f"{user_dir}: templates directory not found")
        for template in _load_dir(Path(user_dir)):
            templates[template.id] = template
    if FREEFORM_ID not in templates:  # a user may replace freeform, never remove it
        raise TemplateError(f"{BUILTIN_DIR}: built-in template {FREEFORM_ID!r} missing")
    # freeform stays last: it is the fallback and the protocol's last section
    freeform = templates.pop(FREEFORM_ID)
    templates[FREEFORM_ID] = freeform
    return templates


def _load_dir(directory: Path) -> list[Template]:
    templates: list[Template] = []
    seen: dict[str, Path] = {}
    for path in sorted(directory.iterdir()):
        if path.suffix.lower() not in TEMPLATE_SUFFIXES or not path.is_file():
            continue
        template = parse_template(load_yaml(path, TemplateError), path)
        if template.id in seen:
            raise TemplateError(f"{path}: id {template.id!r} is also used by {seen[template.id]}")
        seen[template.id] = path
        templates.append(template)
    return templates


def parse_template(data: Any, path: Path | str = "<template>") -> Template:
    """Validate one template document and build a ``Template``."""

    def fail(message: str) -> TemplateError:
        return TemplateError(f"{path}: {message}")

    if not isinstance(data, dict):
        raise fail("expected a mapping with id, name, fields")
    unknown = set(data) - {"id", "name", "aspect", "printed", "fields", "description"}
    if unknown:
        raise fail(f"unknown key(s) {sorted(unknown)}; expected id, name, aspect, printed, fields")
    template_id = data.get("id")
    if not isinstance(template_id, str) or not _TEMPLATE_ID.match(template_id):
        raise fail(f"id: {template_id!r} must be a string of a-z, 0-9, '_' or '-'")
    name = data.get("name", template_id)
    if not isinstance(name, str):
        raise fail("name: must be a string")
    aspect = data.get("aspect")
    if aspect is not None and (not _is_number(aspect) or not 0.1 <= aspect <= 10):
        raise fail(f"aspect: {aspect!r} must be a number between 0.1 and 10 (width / height)")
    printed = tuple(
        Printed(_text(p, "text", f"printed[{i}]", fail), _box(p, f"printed[{i}]", fail))
        for i, p in enumerate(_list(data.get("printed", []), "printed", fail))
    )
    fields = tuple(
        _parse_field(f, i, fail) for i, f in enumerate(_list(data.get("fields"), "fields", fail))
    )
    if not fields:
        raise fail("fields: at least one field is needed")
    ids = [f.id for f in fields]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise fail(f"fields: duplicate id(s) {duplicates}")
    return Template(
        id=template_id,
        name=name,
        aspect=float(aspect) if aspect is not None else None,
        fields=fields,
        printed=printed,
        path=str(path),
    )


def _parse_field(data: Any, index: int, fail: Any) -> TemplateField:
    where = f"fields[{index}]"
    if not isinstance(data, dict):
        raise fail(f"{where}: expected a mapping with id, label, box")
    unknown = set(data) - {"id", "label", "box", "label_height"}
    if unknown:
        raise fail(
            f"{where}: unknown key(s) {sorted(unknown)}; expected id, label, box, label_height"
        )
    field_id = data.get("id")
    if not isinstance(field_id, str) or not _FIELD_ID.match(field_id):
        raise fail(f"{where}.id: {field_id!r} must be a string of a-z, 0-9 or '_'")
    where = f"field {field_id!r}"
    label = data.get("label", "")
    if not isinstance(label, str):
        raise fail(f"{where}.label: must be a string")
    box = _box(data, where, fail)
    # Without a stated label height, assume a one-line heading: a fifth of the box,
    # at most 5% of the sheet; a field without a label has none.
    default_label = min(0.05, box[3] * 0.2) if label else 0.0
    label_height = data.get("label_height", default_label)
    if not _is_number(label_height) or not 0 <= label_height < box[3]:
        raise fail(
            f"{where}.label_height: {label_height!r} must be a number from 0 to the box height"
        )
    return TemplateField(field_id, label, box, float(label_height))


def _box(data: dict[str, Any], where: str, fail: Any) -> Box:
    box = data.get("box")
    if not isinstance(box, list) or len(box) != 4 or not all(_is_number(v) for v in box):
        raise fail(f"{where}.box: {box!r} must be [x, y, w, h], fractions of the sheet")
    x, y, w, h = (float(v) for v in box)
    if not (0 <= x < 1 and 0 <= y < 1 and 0 < w <= 1 and 0 < h <= 1):
        raise fail(f"{where}.box: {box!r} must lie within 0..1 with positive width and height")
    if x + w > 1.0001 or y + h > 1.0001:
        raise fail(f"{where}.box: {box!r} reaches beyond the sheet (x + w and y + h must be <= 1)")
    return (x, y, w, h)


def _list(value: Any, where: str, fail: Any) -> list[Any]:
    if not isinstance(value, list):
        raise fail(f"{where}: must be a list")
    return value


def _text(data: Any, key: str, where: str, fail: Any) -> str:
    if not isinstance(data, dict) or not isinstance(data.get(key), str):
        raise fail(f"{where}.{key}: must be a string")
    return data[key]


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
