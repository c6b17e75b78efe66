"""The output folder's layout: what ``process`` writes where, and which files are ours.

    OUT/<id>.json          the sheet JSON (written last: its presence means the sheet is complete)
    OUT/<id>.sheet.jpg     the rectified sheet the JSON's boxes refer to
    OUT/debug/<id>.jpg     with --debug: the sheet with field boxes and read lines drawn

``<id>`` is the photo's file stem in Unicode NFC. This module is the one place that
knows these names; ``batch``, ``merge``, ``review`` and ``corrections`` ask it. It
imports nothing heavy, so that the commands after OCR start quickly.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator
from pathlib import Path

SHEET_JSON_SUFFIX = ".json"
SHEET_IMAGE_SUFFIX = ".sheet.jpg"
DEBUG_FOLDER = "debug"


def sheet_id(photo: Path) -> str:
    """The sheet id of a photo: its file stem, in NFC.

    A name copied from a Mac arrives decomposed (NFD): "Müll" as "Mu" + combining
    diaeresis. Without NFC the same name would give two ids, two files and
    corrections that match neither.
    """
    return unicodedata.normalize("NFC", Path(photo).stem)


def sheet_json_path(out_dir: Path, sheet_id: str) -> Path:
    return Path(out_dir) / f"{sheet_id}{SHEET_JSON_SUFFIX}"


def sheet_image_path(out_dir: Path, sheet_id: str) -> Path:
    return Path(out_dir) / f"{sheet_id}{SHEET_IMAGE_SUFFIX}"


def debug_image_path(out_dir: Path, sheet_id: str) -> Path:
    return Path(out_dir) / DEBUG_FOLDER / f"{sheet_id}.jpg"


def outputs_of(out_dir: Path, sheet_id: str) -> list[Path]:
    """Every file ``process`` may write for one sheet."""
    return [
        sheet_json_path(out_dir, sheet_id),
        sheet_image_path(out_dir, sheet_id),
        debug_image_path(out_dir, sheet_id),
    ]


def sheet_files(out_dir: Path) -> Iterator[Path]:
    """The sheet JSON files of an output folder, in name order (hidden temp files left out)."""
    yield from sorted(
        p for p in Path(out_dir).glob(f"*{SHEET_JSON_SUFFIX}") if not p.name.startswith(".")
    )


def our_output(path: Path) -> str | None:
    """Why ``path`` is a file ``process`` wrote, or None when it is not one of ours.

    A photo folder used as the output folder must not feed our own images back in
    as new photos: each run would add a sheet per image it wrote the time before.
    """
    path = Path(path)
    if path.name.lower().endswith(SHEET_IMAGE_SUFFIX):
        return "a sheet image flipchart-ocr wrote (*.sheet.jpg)"
    folder = path.parent
    if folder.name == DEBUG_FOLDER and (
        sheet_json_path(folder.parent, sheet_id(path)).is_file()
        or sheet_image_path(folder.parent, sheet_id(path)).is_file()
    ):
        return f"a debug image flipchart-ocr wrote ({DEBUG_FOLDER}/<id>.jpg)"
    return None
