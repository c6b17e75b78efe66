"""Template files: the built-ins load, user files replace them, bad files are named."""

from __future__ import annotations

from pathlib import Path

import jsonschema
import pytest

from flipchart_ocr.errors import TemplateError
from flipchart_ocr.schemas import load_schema
from flipchart_ocr.templates import FREEFORM_ID, load_templates


def test_builtins_are_the_three_forms_and_freeform_last() -> None:
    templates = load_templates()
    assert list(templates) == ["austausch", "themensammlung", "themenarbeit", FREEFORM_ID]
    assert templates["themenarbeit"].field_ids() == [
        "thema",
        "herausforderung",
        "betroffene",
        "ergebnis",
        "loesungsideen",
        "empfehlungen",
        "verantwortung",
        "teilnehmende",
    ]


def test_builtins_validate_against_the_published_schema() -> None:
    schema = load_schema("template")
    for template in load_templates().values():
        jsonschema.validate(template.to_dict(), schema)


def test_builtin_fields_lie_inside_the_sheet_and_do_not_overlap() -> None:
    for template in load_templates().values():
        boxes = [f.box for f in template.fields]
        for i, (x, y, w, h) in enumerate(boxes):
            assert x >= 0 and x + w <= 1.0001 and y >= 0 and y + h <= 1.0001
            for x2, y2, w2, h2 in boxes[i + 1 :]:
                overlap_w = min(x + w, x2 + w2) - max(x, x2)
                overlap_h = min(y + h, y2 + h2) - max(y, y2)
                assert overlap_w <= 0.001 or overlap_h <= 0.001, template.id


def test_user_template_with_builtin_id_replaces_it(tmp_path: Path) -> None:
    (tmp_path / "mine.yaml").write_text(
        "id: austausch\nname: Unser Austausch\naspect: 1.0\n"
        "fields:\n  - id: alles\n    label: Alles\n    box: [0.1, 0.1, 0.8, 0.8]\n",
        encoding="utf-8",
    )
    templates = load_templates(tmp_path)
    assert templates["austausch"].name == "Unser Austausch"
    assert templates["austausch"].field_ids() == ["alles"]
    assert list(templates)[-1] == FREEFORM_ID


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("id: x\nfields: [\n", r"bad\.yaml:3: YAML syntax error, column 1"),
        # the quote opened on line 2 is closed by the one on line 5: line 2 is named
        (
            'id: x\nname: "Austausch\nfields:\n  - id: a\n    label: "Was"\n',
            r"bad\.yaml:2: YAML syntax error, column 7: the quoted text that starts here"
            r" runs on to line 5",
        ),
        ("- just a list\n", r"bad\.yaml: expected a mapping"),
        ("id: Bad Id\nfields: []\n", r"bad\.yaml: id: 'Bad Id' must be"),
        ("id: x\nfields: []\n", r"bad\.yaml: fields: at least one field"),
        ("id: x\naspect: -1\nfields: []\n", r"bad\.yaml: aspect: -1 must be a number"),
        (
            "id: x\nfields:\n  - id: a\n    box: [0.5, 0.5, 0.8, 0.2]\n",
            r"field 'a'\.box: .* beyond the sheet",
        ),
        (
            "id: x\nfields:\n  - id: a\n    box: [0, 0, 1]\n",
            r"field 'a'\.box: .* must be \[x, y, w, h\]",
        ),
        (
            "id: x\nfields:\n  - {id: a, box: [0, 0, 1, 1]}\n  - {id: a, box: [0, 0, 1, 1]}\n",
            r"duplicate id\(s\) \['a'\]",
        ),
        (
            "id: x\ncolour: red\nfields:\n  - {id: a, box: [0, 0, 1, 1]}\n",
            r"unknown key\(s\) \['colour'\]",
        ),
    ],
)
def test_malformed_template_names_file_and_problem(
    tmp_path: Path, content: str, message: str
) -> None:
    (tmp_path / "bad.yaml").write_text(content, encoding="utf-8")
    with pytest.raises(TemplateError, match=message):
        load_templates(tmp_path)


def test_json_templates_are_read_too(tmp_path: Path) -> None:
    (tmp_path / "card.json").write_text(
        '{"id": "karte", "aspect": 1.5, "fields": [{"id": "text", "label": "Idee", "box": [0, 0, 1, 1]}]}',
        encoding="utf-8",
    )
    assert "karte" in load_templates(tmp_path)
