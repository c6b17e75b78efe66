"""render: Markdown, self-contained HTML and CSV show the corrected text, escaped, and all else."""

from __future__ import annotations

import base64
import csv
import html
import io
import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from flipchart_ocr.render import display_date
from flipchart_ocr.render.markdown import escape as md_escape

from .fixtures import FIXTURE_OUT, copy_out, run, write

HOSTILE = '<script>alert("x")</script> & *fett* _kursiv_ [Link](http://x) <img src=x>'

CORRECTIONS = f"""\
event:
  title: Integrationskonferenz Stadtbezirk Ost
  subtitle: Teilhabe gestalten und Gemeinschaft stärken
  date: 2019-03-27
  moderation: Axel Jürgens
replace:
  "Reser Mat": "Resser Mark"
sheets:
  IMG_0002:
    fields:
      laeuft_gut:
        text: |
          viele Vereine
          - gute Nachbarschaft
          {HOSTILE}
"""


@pytest.fixture()
def protocol_path(tmp_path: Path) -> Path:
    out = copy_out(tmp_path)
    corrections = write(tmp_path / "corrections" / "event.yaml", CORRECTIONS)
    path = tmp_path / "protocol.json"
    code, _, err = run("merge", out, "-c", corrections, "-o", path)
    assert code == 0, err
    return path


def protocol_of(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def render(protocol_path: Path, name: str, *extra: str) -> tuple[str, str]:
    output = protocol_path.parent / name
    code, _, err = run("render", protocol_path, "-o", output, *extra)
    assert code == 0, err
    return output.read_text(encoding="utf-8"), err


def uncorrected_fields(protocol: dict[str, Any]) -> list[dict[str, Any]]:
    return [f for s in protocol["sheets"] for f in s["fields"] if f["origin"] == "ocr"]


# -- Markdown -----------------------------------------------------------------------------


def test_markdown_shows_event_sections_labels_and_corrected_text(protocol_path: Path) -> None:
    text, _ = render(protocol_path, "protocol.md")
    assert text.startswith("# Integrationskonferenz Stadtbezirk Ost\n")
    assert "Teilhabe gestalten und Gemeinschaft stärken" in text
    assert "Fotoprotokoll · 27. März 2019" in text
    assert "Moderation: Axel Jürgens" in text
    austausch = text.index("## Austausch zu Entwicklungen im Stadtbezirk")
    freeform = text.index("## Freies Blatt")
    assert austausch < text.index("### IMG_0002") < text.index("### IMG_0003") < freeform
    assert "**Was läuft gut bei uns im Stadtbezirk...**" in text
    assert "viele Vereine\\\n\\- gute Nachbarschaft\\\n" in text
    assert "Resser Mark beleben" in text and "Reser Mat" not in text
    assert "![Foto IMG_0002](out/IMG_0002.sheet.jpg)" in text
    # the unreadable photo has no section of its own: it is listed as left out, with why
    assert "### IMG_0004" not in text
    assert (
        "## Nicht im Protokoll (1)\n\n- **IMG_0004**: Foto nicht lesbar (photos/IMG_0004.jpg"
        in text
    )


def test_markdown_escapes_what_people_wrote(protocol_path: Path) -> None:
    text, _ = render(protocol_path, "protocol.md")
    assert not re.search(r"(?<!\\)<", text), "an unescaped < reaches the Markdown"
    assert "\\<script\\>" in text and "\\*fett\\*" in text and "\\_kursiv\\_" in text
    assert "\\[Link\\](http://x)" in text


def test_markdown_keeps_every_uncorrected_line(protocol_path: Path) -> None:
    text, _ = render(protocol_path, "protocol.md")
    text = text.replace("\\[?\\]", "")  # the marks after words read unsure
    for field in uncorrected_fields(protocol_of(protocol_path)):
        for line in field["text"].split("\n"):
            assert md_escape(line.strip()) in text


@pytest.mark.parametrize(
    ("line", "escaped"),
    [
        ("IMG_0412 ist gut", "IMG_0412 ist gut"),
        ("- Punkt", "\\- Punkt"),
        ("+ keine Brennpunkte", "\\+ keine Brennpunkte"),
        ("1. Thema", "1\\. Thema"),
        ("# Hashtag", "\\# Hashtag"),
        ("Bürger*innen und Schüler*innen", "Bürger\\*innen und Schüler\\*innen"),
        ("a & b &amp; c", "a & b \\&amp; c"),
        ("A \\ B", "A \\\\ B"),
    ],
)
def test_markdown_escape(line: str, escaped: str) -> None:
    assert md_escape(line) == escaped


# -- HTML ---------------------------------------------------------------------------------


def test_html_is_one_file_with_the_corrected_text_escaped(protocol_path: Path) -> None:
    text, _ = render(protocol_path, "protocol.html")
    assert text.startswith("<!DOCTYPE html>")
    assert "<title>Integrationskonferenz Stadtbezirk Ost</title>" in text
    assert "27. März 2019" in text
    assert "<h2>Austausch zu Entwicklungen im Stadtbezirk</h2>" in text
    assert "<h3>Was läuft gut bei uns im Stadtbezirk...</h3>" in text
    assert "viele Vereine<br>- gute Nachbarschaft<br>" + html.escape(HOSTILE) in text
    # nothing the reviewer or OCR wrote becomes markup
    assert "<script" not in text and "<img src=x" not in text
    # self-contained: no file or network references besides the embedded images
    assert not re.search(r'(src|href)="(?!data:)', text)
    assert "<link" not in text
    assert "@media print" in text


def test_html_keeps_every_uncorrected_line(protocol_path: Path) -> None:
    text, _ = render(protocol_path, "protocol.html")
    unmarked = re.sub(DOUBTFUL_SPAN, r"\1", text)
    for field in uncorrected_fields(protocol_of(protocol_path)):
        for line in field["text"].split("\n"):
            assert html.escape(line) in unmarked


def test_html_marks_the_words_tesseract_was_unsure_of(protocol_path: Path) -> None:
    protocol = protocol_of(protocol_path)
    text, _ = render(protocol_path, "protocol.html")
    marked = re.findall(DOUBTFUL_SPAN, text)
    # IMG_0003 laeuft_gut was read "uhiaer Beaik" (confidence 5 and 0): both flagged
    fields = {f["id"]: f for s in protocol["sheets"] if s["id"] == "IMG_0003" for f in s["fields"]}
    assert {"uhiaer", "Beaik"} <= set(fields["laeuft_gut"]["doubtful"])
    assert {"uhiaer", "Beaik"} <= set(marked)
    # a person's text is never flagged; confident words are not either
    assert "doubtful" not in next(
        f
        for s in protocol["sheets"]
        if s["id"] == "IMG_0002"
        for f in s["fields"]
        if f["id"] == "laeuft_gut"
    )
    assert "Einkzufen" not in marked  # read with confidence 87


DOUBTFUL_SPAN = r'<span class="doubtful"[^>]*>(.*?)<span class="mark">\[\?\]</span></span>'


def _embedded_images(text: str) -> list[Image.Image]:
    found = re.findall(r'src="data:image/jpeg;base64,([A-Za-z0-9+/=]+)"', text)
    return [Image.open(io.BytesIO(base64.b64decode(data))) for data in found]


def test_html_embeds_every_sheet_image_downscaled(protocol_path: Path) -> None:
    # one big sheet image, as `process` writes them from a 12 MP photo
    big = protocol_path.parent / "out" / "IMG_0002.sheet.jpg"
    Image.new("RGB", (2100, 3000), (240, 240, 235)).save(big, quality=90)

    text, _ = render(protocol_path, "protocol.html")

    images = _embedded_images(text)
    assert len(images) == 3
    assert all(image.format == "JPEG" for image in images)
    assert max(images[0].size) == 1200 and images[0].size == (840, 1200)
    assert max(images[1].size) == 480  # small ones are not enlarged


def test_html_shows_a_placeholder_for_a_missing_image(protocol_path: Path) -> None:
    (protocol_path.parent / "out" / "IMG_0003.sheet.jpg").unlink()
    text, err = render(protocol_path, "protocol.html")
    assert "Foto nicht gefunden" in text
    assert "IMG_0003: sheet image" in err and "not found" in err
    assert len(_embedded_images(text)) == 2


def test_html_still_finds_images_after_both_are_moved_together(
    protocol_path: Path, tmp_path: Path
) -> None:
    moved = tmp_path / "elsewhere"
    moved.mkdir()
    protocol_path.rename(moved / "protocol.json")
    (tmp_path / "out").rename(moved / "out")
    text, err = render(moved / "protocol.json", "protocol.html")
    assert len(_embedded_images(text)) == 3 and "warning" not in err


# -- CSV ----------------------------------------------------------------------------------


def _rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text.removeprefix("\ufeff"))))


def guarded(line: str) -> str:
    """What the CSV holds for a line of these fixtures: a formula start gets a '."""
    return "'" + line if line[:1] in "=+-@" else line


def test_csv_has_one_row_per_field_line(protocol_path: Path) -> None:
    text, _ = render(protocol_path, "protocol.csv")
    raw = (protocol_path.parent / "protocol.csv").read_bytes()
    assert raw.startswith(
        b"\xef\xbb\xbfsheet,template,field,line,text,origin,confidence,label,"
        b"checked,doubtful,block,block_kind,omitted,event\r\n"
    )
    rows = [r for r in _rows(text) if not r["omitted"]]
    protocol = protocol_of(protocol_path)
    expected = [
        (s["id"], s["template"], f["id"], str(n), guarded(line), f["origin"], str(f["confidence"]))
        for s in protocol["sheets"]
        for f in s["fields"]
        for n, line in enumerate(f["text"].split("\n"), start=1)
    ]
    got = [
        (r["sheet"], r["template"], r["field"], r["line"], r["text"], r["origin"], r["confidence"])
        for r in rows
    ]
    assert got == expected
    corrected = [r for r in rows if r["sheet"] == "IMG_0002" and r["field"] == "laeuft_gut"]
    # "- gute" would be a formula to a spreadsheet: guarded (see the CSV tests below)
    assert [r["text"] for r in corrected] == ["viele Vereine", "'- gute Nachbarschaft", HOSTILE]
    assert {r["origin"] for r in corrected} == {"corrected"}
    assert corrected[0]["label"] == "Was läuft gut bei uns im Stadtbezirk..."


# -- choosing the format, bad input -------------------------------------------------------


def test_format_option_overrides_the_suffix(protocol_path: Path) -> None:
    text, _ = render(protocol_path, "protocol.txt", "--format", "md")
    assert text.startswith("# Integrationskonferenz")


def test_unknown_suffix_is_bad_usage(protocol_path: Path) -> None:
    code, _, err = run("render", protocol_path, "-o", protocol_path.parent / "protocol.pdf")
    assert code == 2 and "use --format" in err
    assert not (protocol_path.parent / "protocol.pdf").exists()


def test_invalid_protocol_is_bad_input_and_writes_nothing(tmp_path: Path) -> None:
    bad = write(tmp_path / "protocol.json", json.dumps({"schema_version": 1, "sheets": []}))
    code, _, err = run("render", bad, "-o", tmp_path / "p.html")
    assert code == 2 and "not a protocol JSON" in err and "event" in err
    assert err.count("\n") == 1
    write(bad, '{"schema_version": 1, "event": {}, "sheets": [')
    code, _, err = run("render", bad, "-o", tmp_path / "p.html")
    assert code == 2 and f"{bad}: not a readable JSON file" in err
    assert not (tmp_path / "p.html").exists()


@pytest.mark.parametrize("suffix", ["md", "html", "docx", "csv"])
def test_a_protocol_without_sheets_is_refused(tmp_path: Path, suffix: str) -> None:
    # every photo failed or was skipped: an empty document would look like a protocol
    out = tmp_path / "out"
    out.mkdir()
    shutil.copy(FIXTURE_OUT / "IMG_0004.json", out)
    code, _, err = run("merge", out, "-o", tmp_path / "protocol.json")
    assert code == 0, err
    code, _, err = run("render", tmp_path / "protocol.json", "-o", tmp_path / f"p.{suffix}")
    assert code == 1
    assert err == (
        f"error: {tmp_path / 'protocol.json'}: no sheets to render;"
        " left out: IMG_0004 (unreadable); nothing written\n"
    )
    assert not (tmp_path / f"p.{suffix}").exists()


def test_render_refuses_to_overwrite_its_input(protocol_path: Path) -> None:
    before = protocol_path.read_bytes()
    code, _, err = run("render", protocol_path, "-o", protocol_path, "--format", "md")
    assert code == 2 and "is an input" in err
    assert protocol_path.read_bytes() == before


def test_protocol_without_event_or_sections_still_renders(tmp_path: Path) -> None:
    minimal = {
        "schema_version": 1,
        "event": {},
        "sheets": [
            {
                "id": "a",
                "template": "freeform",
                "source": {"path": "a.jpg"},
                "fields": [
                    # a protocol from before "checked": a corrected field counts as checked
                    {"id": "text", "label": "", "text": "x", "origin": "corrected", "confidence": 9}
                ],
            }
        ],
    }
    path = write(tmp_path / "p.json", json.dumps(minimal))
    text, _ = render(path, "p.md")
    # the title is not said twice; nothing is marked, so no legend either
    assert text == "# Fotoprotokoll\n\n## freeform\n\n### a\n\nx\n"
    text, err = render(path, "p.html")
    assert "Foto nicht gefunden" in text and "no sheet image recorded" in err


def test_display_date() -> None:
    assert display_date("2019-03-27") == "27. März 2019"
    assert display_date("27.03.2019") == "27.03.2019"
    assert display_date("2019-02-30") == "2019-02-30"
