"""Reading photos: EXIF orientation, and every kind of bad file refused by name."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from flipchart_ocr.errors import PhotoError, UsageError
from flipchart_ocr.io import atomic_write, find_photos, read_photo, read_word_list


def _asymmetric_image() -> Image.Image:
    """Wider than tall, with a red block at the top-left: orientation is easy to check."""
    pixels = np.full((200, 300, 3), 255, np.uint8)
    pixels[:50, :50] = (255, 0, 0)
    return Image.fromarray(pixels)


@pytest.mark.parametrize(
    ("orientation", "rotate"),
    [
        (1, None),
        (3, Image.Transpose.ROTATE_180),
        (6, Image.Transpose.ROTATE_90),
        (8, Image.Transpose.ROTATE_270),
    ],
)
def test_exif_orientation_is_applied(
    tmp_path: Path, orientation: int, rotate: Image.Transpose | None
) -> None:
    upright = _asymmetric_image()
    # Store the pixels as a phone would: rotated, with the tag that undoes it.
    stored = upright.transpose(rotate) if rotate else upright
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = tmp_path / "photo.jpg"
    stored.save(path, exif=exif, quality=95)

    image, source = read_photo(path)

    assert (source.width, source.height) == (300, 200)
    assert image.shape == (200, 300, 3)
    top_left = image[10:40, 10:40].mean(axis=(0, 1))  # BGR
    assert top_left[2] > 200 and top_left[0] < 80, (
        f"red block not at top-left for orientation {orientation}"
    )


def test_empty_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "empty.jpg"
    path.write_bytes(b"")
    with pytest.raises(PhotoError, match=r"empty\.jpg: empty file"):
        read_photo(path)


def test_truncated_jpeg_is_refused(tmp_path: Path) -> None:
    whole = tmp_path / "whole.jpg"
    _asymmetric_image().resize((1200, 800)).save(whole, quality=90)
    truncated = tmp_path / "truncated.jpg"
    truncated.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    with pytest.raises(PhotoError, match=r"truncated\.jpg: truncated image"):
        read_photo(truncated)


def test_not_an_image_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "notes.png"
    path.write_text("this is not a picture", encoding="utf-8")
    with pytest.raises(PhotoError, match=r"notes\.png: not an image"):
        read_photo(path)


def test_huge_image_is_refused_before_decoding(tmp_path: Path) -> None:
    # A PNG header claiming 20000 x 20000 pixels costs a few bytes, decoded 1.2 GB.
    path = tmp_path / "bomb.png"
    Image.new("1", (20000, 20000)).save(path)
    with pytest.raises(PhotoError, match=r"bomb\.png: .*(too large|decompression bomb)"):
        read_photo(path)


def test_max_pixels_is_configurable(tmp_path: Path) -> None:
    path = tmp_path / "big.png"
    Image.new("RGB", (1000, 1000)).save(path)
    with pytest.raises(PhotoError, match=r"image too large \(1000x1000"):
        read_photo(path, max_pixels=500_000)


def test_find_photos_expands_folders_sorted_and_case_insensitive(tmp_path: Path) -> None:
    for name in ["b.JPG", "a.png", "c.webp", "notes.txt", "d.Tiff"]:
        (tmp_path / name).write_bytes(b"x")
    found = [p.name for p in find_photos([tmp_path])]
    assert found == ["a.png", "b.JPG", "c.webp", "d.Tiff"]


def test_atomic_write_leaves_old_file_when_writing_fails(tmp_path: Path) -> None:
    target = tmp_path / "sheet.json"
    target.write_text("old", encoding="utf-8")

    with pytest.raises(TypeError):
        atomic_write(target, 12345)  # type: ignore[arg-type]
    assert target.read_text(encoding="utf-8") == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["sheet.json"], "temp file left behind"


def test_a_word_list_gives_its_words_without_comments_or_punctuation(tmp_path: Path) -> None:
    path = tmp_path / "names.txt"
    path.write_text(
        "# participants\nFr. Küsgen, Hr. Gröns\nResser Mark\n  # Erle\n1 A\n", encoding="utf-8"
    )
    assert read_word_list(path) == {"Fr", "Küsgen", "Hr", "Gröns", "Resser", "Mark"}


def test_a_word_list_that_is_not_text_is_refused_by_name(tmp_path: Path) -> None:
    path = tmp_path / "names.txt"
    path.write_bytes(b"M\xfcller\n")  # Latin-1, not UTF-8
    with pytest.raises(UsageError, match=r"names\.txt: word list is not UTF-8"):
        read_word_list(path)
