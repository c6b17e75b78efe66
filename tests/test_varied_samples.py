"""The varied generated sets: posters written by real hands (a small stand-in for DHSD),
invented templates without label_height, freeform boards with their truth in reading
order; and benchmarks/boards.py scoring a board against that truth."""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import cv2
import numpy as np
import pytest
import yaml
from PIL import Image, ImageDraw, ImageFont, ImageOps

from flipchart_ocr.templates import load_templates

from .conftest import DEJAVU, ROOT

# German words as a writer would write them: umlauts and ß, no spaces (so that every
# word of a field's text is one of them).
WORDS = [
    "Köln", "Müllheim", "Straße", "Görlitz", "Bärenfels", "Lößnitz", "Oberhof",
    "Weißwasser", "Düben", "Plön", "Jüterbog", "Zwönitz", "Hüttenweg", "Wörlitz",
]  # fmt: skip


def load_module(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def fake_dhsd(folder: Path) -> Path:
    """A DHSD-shaped folder: 256 x 64 grey pen-on-paper word images and labels.tsv."""
    font = ImageFont.truetype(DEJAVU, 26)
    rows = ["file\ttext\twriter"]
    for writer in (25, 26):
        (folder / f"writer{writer}").mkdir(parents=True)
        for index, word in enumerate(WORDS):
            image = Image.new("L", (256, 64), 250)
            ImageDraw.Draw(image).text((8, 14), word, font=font, fill=60)
            name = f"writer{writer}/{writer}_{index}.png"
            image.save(folder / name)
            rows.append(f"{name}\t{word}\t{writer}")
    (folder / "labels.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return folder


def generate(out: Path, *options: str) -> list[dict]:
    subprocess.run(
        [sys.executable, str(ROOT / "samples" / "generate.py"), "--out", str(out), *options],
        check=True,
        capture_output=True,
    )
    return [json.loads(p.read_text(encoding="utf-8")) for p in sorted(out.glob("*.truth.json"))]


def upright(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(ImageOps.exif_transpose(image).convert("L"), np.float32)


@pytest.fixture(scope="module")
def boards(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict]]:
    """Seed 3 makes one board of each kind: sticky notes, a pinboard, a flipchart."""
    out = tmp_path_factory.mktemp("boards")
    return out, generate(out, "--boards", "--count", "3", "--seed", "3", "--long-side", "1000")


def test_real_hand_posters_hold_the_writers_words_in_their_fields(tmp_path: Path) -> None:
    dhsd = fake_dhsd(tmp_path / "dhsd")
    out = tmp_path / "out"
    options = ["--hands", str(dhsd), "--writers", "25-26", "--user-templates", "2"]
    truths = generate(out, *options, "--count", "3", "--seed", "4", "--long-side", "900")
    assert len(truths) == 3
    templates = load_templates(out / "templates")
    written = []
    for truth in truths:
        assert truth["font"] == "dhsd"
        assert set(truth["writers"]) <= {"writer 25", "writer 26"}
        assert list(truth["fields"]) == templates[truth["template"]].field_ids()
        for text in truth["fields"].values():
            written += text.split()
        assert set(truth["labels"]) == set(truth["fields"])
        size = upright(out / truth["photo"]).shape[::-1]
        assert list(size) == truth["size"]
    assert written and set(written) <= set(WORDS)  # the field text as written: the labels


def test_dhsd_labels_are_fixed_where_the_image_shows_another_word(tmp_path: Path) -> None:
    handwords = load_module("handwords", ROOT / "samples" / "handwords.py")
    dhsd = fake_dhsd(tmp_path / "dhsd")
    fixes = tmp_path / "fixes.tsv"
    fixes.write_text(
        "file\ttext\twhy\n"
        "writer25/25_0.png\tGo\u0308rlitz\tlabelled Köln\n"  # decomposed: read as NFC
        "writer26/26_2.png\t\tnearly blank\n",
        encoding="utf-8",
    )
    words = {
        word.path.relative_to(dhsd).as_posix(): word for word in handwords.dhsd_words(dhsd, fixes)
    }
    assert len(words) == 2 * len(WORDS) - 1
    assert words["writer25/25_0.png"].text == "Görlitz"
    assert "writer26/26_2.png" not in words
    assert words["writer26/26_0.png"].text == "Köln"  # another writer's same file name stays


def test_the_dhsd_fixes_name_each_image_once_with_a_reason() -> None:
    handwords = load_module("handwords", ROOT / "samples" / "handwords.py")
    rows = handwords.FIXES.read_text(encoding="utf-8").splitlines()
    assert rows[0] == "file\ttext\twhy"
    files = []
    for row in rows[1:]:
        file, text, why = row.split("\t")
        # DHSD's own names: writerNN/N_K.png, the writer's number twice
        named = re.fullmatch(r"writer(\d\d)/(\d+)_\d+\.png", file)
        assert named and int(named[1]) == int(named[2]), row
        assert text == text.strip() and why.strip(), row
        files.append(file)
    assert len(files) == len(set(files)) > 0


def test_user_templates_leave_out_label_height_and_print_labels_of_several_sizes(
    tmp_path: Path,
) -> None:
    out = tmp_path / "out"
    generate(out, "--user-templates", "4", "--count", "1", "--seed", "9", "--long-side", "600")
    files = sorted((out / "templates").glob("*.yaml"))
    assert len(files) == 4
    arrangements = set()
    for path in files:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
        assert all("label_height" not in f for f in document["fields"])
        arrangements.add(tuple(tuple(f["box"]) for f in document["fields"]))
    assert len(arrangements) == 4
    generator = load_module("generate", ROOT / "samples" / "generate.py")
    layouts = generator.user_templates.invent_layouts(4, 9, np.random.default_rng([9, 7]))
    sizes = {style.size for layout in layouts for style in layout.labels.values()}
    assert max(sizes) > 2 * min(sizes)


def test_a_hand_written_field_has_ink_below_its_label_and_an_empty_one_none(
    tmp_path: Path,
) -> None:
    generator = load_module("generate", ROOT / "samples" / "generate.py")
    hands = generator.load_words(fake_dhsd(tmp_path / "dhsd"), {25, 26})
    sources = generator.Sources(hands=hands)
    template = load_templates()["austausch"]
    spec = generator.Spec("x", "austausch", "dhsd", ("red",), varied=True, hands=True)
    pens = generator.PenBox.for_photo(spec, sources, ["dkg"])
    sheet, fields, labels, _ = generator.render_varied_poster(
        template, spec, np.random.default_rng(1), sources, pens
    )
    height, width = sheet.shape[:2]
    red = (sheet[:, :, 2] > 120) & (sheet[:, :, 1] < 100) & (sheet[:, :, 0] < 100)
    assert any(fields.values())
    for field in template.fields:
        x, y, w, h = field.box
        label_bottom = labels[field.id][1] + labels[field.id][3]
        inside = red[
            int(label_bottom * height) + 2 : int((y + h) * height) - 6,
            int(x * width) + 6 : int((x + w) * width) - 6,
        ]
        assert (inside.sum() > 200) == bool(fields[field.id]), field.id


def test_boards_truth_lists_blocks_in_reading_order_on_the_ink(
    boards: tuple[Path, list[dict]],
) -> None:
    out, truths = boards
    assert {t["board"] for t in truths} == {"flipchart", "pinboard", "notes"}
    for truth in truths:
        assert truth["template"] == "freeform"
        lines = [line for block in truth["blocks"] for line in block["lines"]]
        assert truth["fields"]["text"] == "\n".join(line["text"] for line in lines)
        assert all(block["lines"] for block in truth["blocks"])
        photo = upright(out / truth["photo"])
        width, height = truth["size"]
        for line in lines:
            quad = np.array(line["quad"])
            assert quad.shape == (4, 2)
            assert (quad >= -2).all() and (quad[:, 0] <= width + 2).all()
            assert (quad[:, 1] <= height + 2).all()  # all text in view, board or not
            x0, y0 = np.clip(quad.min(axis=0).astype(int), 0, None)
            x1, y1 = quad.max(axis=0).astype(int)
            patch = photo[y0:y1, x0:x1]
            assert np.percentile(patch, 97) - np.percentile(patch, 3) > 40, line["text"]  # ink
        centres = [np.array(b["lines"][0]["quad"]).mean(axis=0) for b in truth["blocks"]]
        if truth["board"] in ("flipchart", "pinboard"):
            assert truth["blocks"][0]["kind"] == "heading"
            assert centres[0][1] < min(c[1] for c in centres[1:])
        if truth["board"] == "notes":  # row by row: left to right, or down to the next row
            for a, b in zip(centres, centres[1:], strict=False):
                assert b[0] > a[0] or b[1] > a[1] + 50
        struck = [m["text"] for m in truth["marks"] if m["kind"] == "strike"]
        assert not set(struck) & {line["text"] for line in lines}


def test_board_benchmark_scores_a_perfect_reading_and_counts_lines_on_marks(
    boards: tuple[Path, list[dict]],
) -> None:
    bench = load_module("boards_benchmark", ROOT / "benchmarks" / "boards.py")
    truth = next(t for t in boards[1] if t["board"] == "pinboard")
    lines = [
        bench.ReadLine(line["text"], np.array(line["quad"], np.float32))
        for block in truth["blocks"]
        for line in block["lines"]
    ]
    perfect = bench.score_generated(bench.Reading(lines), truth)
    assert perfect.words.f1 == 1.0 and perfect.edits == 0
    assert perfect.pairs_right == perfect.pairs > 0
    assert perfect.garbage == 0
    pin = np.array(next(m["quad"] for m in truth["marks"] if m["kind"] == "pin"), np.float32)
    muddled = bench.Reading([*reversed(lines), bench.ReadLine("o", pin)])
    score = bench.score_generated(muddled, truth)
    assert score.pairs_right == 0 and score.pairs == perfect.pairs
    assert (score.garbage, score.garbage_on_marks, score.marks_read) == (1, 1, 1)
    blocks = [[i] for i in range(len(lines))]  # every line a block of its own
    grouped = bench.score_generated(bench.Reading(lines, blocks), truth)
    assert grouped.blocks_pure == grouped.blocks == len(lines)
    several = sum(len(b["lines"]) > 1 for b in truth["blocks"])
    assert grouped.truth_blocks - grouped.truth_blocks_whole == several


def test_board_benchmark_maps_sheet_lines_back_into_the_photo() -> None:
    bench = load_module("boards_benchmark", ROOT / "benchmarks" / "boards.py")
    corners = [[100, 50], [300, 50], [300, 450], [100, 450]]  # a 2x zoom, shifted
    doc = {
        "sheet": {"corners": corners, "width": 100, "height": 200},
        "fields": [
            {
                "lines": [{"text": "a b", "bbox": [10, 20, 30, 10]}],
                "blocks": [{"bbox": [10, 20, 30, 10], "lines": [0]}],
            }
        ],
    }
    reading = bench.sheet_reading(doc, 1.0)
    assert reading.blocks == [[0]]
    np.testing.assert_allclose(reading.lines[0].quad[0], [120, 90], atol=0.01)
    np.testing.assert_allclose(reading.lines[0].quad[2], [180, 110], atol=0.01)
    tsv = "level\tpage_num\tblock_num\tpar_num\tline_num\tword_num\tleft\ttop\twidth\theight\tconf\ttext\n"
    tsv += (
        "5\t1\t1\t1\t1\t1\t10\t20\t30\t10\t90\tHallo\n5\t1\t1\t1\t1\t2\t50\t22\t20\t10\t90\tWelt\n"
    )
    (line,) = bench.tesseract_lines(tsv)
    assert line.text == "Hallo Welt"
    assert cv2.boundingRect(line.quad.astype(np.int32)) == (10, 20, 61, 13)


def test_the_generator_writes_no_word_wider_than_its_field_and_no_box_for_a_missing_letter() -> (
    None
):
    generate_py = load_module("generate", ROOT / "samples" / "generate.py")
    rng = np.random.default_rng(5)
    hand = generate_py.Hand(generate_py.FONTS["dkg"], 60, rng)
    width = hand.width("Generations")
    pool = ["Generationsübergreifend", "gute Ideen", "Vereine"]
    lines = hand.phrases(rng, pool, 3, width)
    assert lines and "Generationsübergreifend" not in lines
    assert all(hand.width(line) <= width for line in lines)
    # DkgHandwriting has no dotless ı: "Yılmaz" is written, and true, as "Yilmaz".
    assert ord("ı") not in hand.glyphs
    assert hand.spell("Özlem Yılmaz") == "Özlem Yilmaz"
    # At one size, femke's marker stroke is a third of another font's: its sketch lines
    # stay open.
    femke, dkg = (generate_py.Hand(generate_py.FONTS[f], 100, rng) for f in ("femke", "dkg"))
    assert femke.stroke * 3 <= dkg.stroke
