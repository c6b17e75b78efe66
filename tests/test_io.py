"""Reading photos: EXIF orientation, and every kind of bad file refused by name."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pillow_heif
import pytest
from PIL import Image

from flipchart_ocr.errors import PhotoError, UsageError
from flipchart_ocr.io import atomic_write, find_photos, read_photo, read_word_list, scan_photos


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
    for name in ["b.JPG", "a.png", "c.webp", "notes.txt", "d.Tiff", "e.HEIC", "f.heif", "g.avif"]:
        (tmp_path / name).write_bytes(b"x")
    found = [p.name for p in find_photos([tmp_path])]
    assert found == ["a.png", "b.JPG", "c.webp", "d.Tiff", "e.HEIC", "f.heif", "g.avif"]


def test_a_folder_scan_names_every_file_it_leaves_out(tmp_path: Path) -> None:
    for name in ["IMG_1.jpg", "notes.txt", ".DS_Store", "._IMG_1.jpg"]:
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "old").mkdir()
    scan = scan_photos([tmp_path])
    assert [p.name for p in scan.photos] == ["IMG_1.jpg"]
    reasons = {path.name: reason for path, reason in scan.skipped}
    assert set(reasons) == {"notes.txt", ".DS_Store", "._IMG_1.jpg", "old"}
    assert reasons["notes.txt"].startswith("not a photo (jpg, jpeg, png")
    assert reasons["._IMG_1.jpg"] == "hidden files"  # a Mac's resource fork, not a photo
    assert reasons["old"].startswith("folders")


def test_our_own_outputs_are_never_read_as_photos(tmp_path: Path) -> None:
    """The photo folder used as the output folder: sheet and debug images stay out."""
    for name in ["IMG_1.jpg", "IMG_1.json", "IMG_1.sheet.jpg", "debug/IMG_1.jpg"]:
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    scan = scan_photos([tmp_path, tmp_path / "debug", tmp_path / "IMG_1.sheet.jpg"])
    assert scan.photos == [tmp_path / "IMG_1.jpg"]
    skipped = [(path.relative_to(tmp_path).as_posix(), reason) for path, reason in scan.skipped]
    assert ("IMG_1.sheet.jpg", "a sheet image flipchart-ocr wrote (*.sheet.jpg)") in skipped
    assert ("debug/IMG_1.jpg", "a debug image flipchart-ocr wrote (debug/<id>.jpg)") in skipped
    assert [name for name, _ in skipped].count("IMG_1.sheet.jpg") == 2  # listed, and named


def _sheet_like() -> Image.Image:
    """A light page with a dark bar: what any photo reader must keep apart."""
    pixels = np.full((300, 400, 3), 235, np.uint8)
    pixels[100:140, 50:350] = (30, 40, 150)
    return Image.fromarray(pixels)


@pytest.mark.parametrize("suffix", [".heic", ".heif", ".avif"])
def test_heic_heif_and_avif_photos_are_read(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"IMG_0412{suffix}"
    if suffix == ".avif":
        _sheet_like().save(path, quality=90)  # Pillow's own AVIF encoder
    else:
        pillow_heif.from_pillow(_sheet_like()).save(path, quality=90)
    image, source = read_photo(path)
    assert (source.width, source.height) == (400, 300)
    assert abs(int(image[20, 20].mean()) - 235) < 8  # the page
    assert image[120, 200, 0] > 100 and image[120, 200, 2] < 80  # the bar, BGR


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_a_16_bit_greyscale_scan_keeps_its_tones(tmp_path: Path, suffix: str) -> None:
    ramp = np.tile(np.linspace(0, 65535, 256).astype(np.uint16), (64, 1))
    path = tmp_path / f"scan{suffix}"
    Image.fromarray(ramp).save(path)
    assert Image.open(path).mode.startswith("I;16")
    image, _ = read_photo(path)
    assert image.shape == (64, 256, 3)
    assert image[:, 0].max() == 0 and image[:, -1].min() == 255
    assert abs(int(image[10, 128, 0]) - 128) <= 1  # mid-grey stays mid-grey, not white


def test_a_jpeg_whose_data_ends_early_is_refused(tmp_path: Path) -> None:
    noise = np.random.default_rng(7).integers(0, 256, (600, 800, 3), np.uint8)
    whole = tmp_path / "whole.jpg"
    Image.fromarray(noise).save(whole, quality=90)
    data = whole.read_bytes()
    # Cut in the middle, then the end-of-image marker: the header still says 800x600.
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(data[: len(data) // 2] + b"\xff\xd9")
    with pytest.raises(PhotoError, match=r"cut\.jpg: incomplete JPEG: .* bottom \d+ % is missing"):
        read_photo(cut)
    image, _ = read_photo(whole)  # the complete one reads
    assert image.shape == (600, 800, 3)


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


@pytest.mark.parametrize(("suffix", "orientation"), [(".jpg", 1), (".jpg", 6), (".png", 1)])
def test_a_large_photo_is_read_reduced_and_its_own_size_kept(
    tmp_path: Path, suffix: str, orientation: int
) -> None:
    # 4400 x 3000 (13 MP): half size keeps the longer side at least 2000 pixels.
    pixels = np.full((3000, 4400, 3), 230, np.uint8)
    pixels[:600, :800] = (255, 0, 0)  # red at the top-left, upright
    upright = Image.fromarray(pixels)
    path = tmp_path / f"phone{suffix}"
    if orientation == 6:
        exif = Image.Exif()
        exif[0x0112] = 6
        upright.transpose(Image.Transpose.ROTATE_90).save(path, exif=exif, quality=90)
    else:
        upright.save(path)

    image, source = read_photo(path, work_side=2000)
    assert (source.width, source.height) == (4400, 3000)  # the photo's own, upright
    assert image.shape == (1500, 2200, 3)
    assert image[100, 100, 2] > 200 and image[100, 100, 0] < 80  # red still at the top-left
    full, _ = read_photo(path)
    assert full.shape == (3000, 4400, 3)
    small, _ = read_photo(path, work_side=3000)  # halving would go below 3000
    assert small.shape == (3000, 4400, 3)
