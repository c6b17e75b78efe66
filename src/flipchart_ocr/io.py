"""Everything that touches the file system: reading photos, YAML, atomic writes."""

from __future__ import annotations

import contextlib
import functools
import glob
import hashlib
import json
import os
import tempfile
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import yaml
from PIL import Image, ImageOps

from .document import Source
from .errors import PhotoError, UsageError
from .evaluate import lexical_words
from .outdir import our_output

# What a folder scan reads. HEIC/HEIF (iPhones' default) through the pillow-heif plugin,
# AVIF through Pillow's own decoder (Pillow 11.3 and later).
PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".webp", ".heic", ".heif", ".avif")

# A 12-megapixel phone photo is the normal case; 60 MP covers every phone camera
# on the market. Beyond that a decoded photo costs gigabytes, so refuse it by name
# instead of letting the kernel kill the worker.
MAX_PIXELS = 60_000_000

# A photo is read at the smallest of full, half, quarter or eighth size that keeps its
# longer side at least this long. A phone's 12 MP holds far more than the reader needs:
# every accuracy figure is measured on sheets 1,300-1,700 pixels long, and a JPEG decoded
# at half size (libjpeg scales while decoding) costs a quarter of the memory and time.
WORK_SIDE = 2000


@dataclass
class PhotoScan:
    """What the photo arguments name: the photos to read, and every file left out, with why."""

    photos: list[Path] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)


def scan_photos(arguments: Iterable[str | Path]) -> PhotoScan:
    """Expand files and folders into the photos to read, in order; name what is left out.

    A folder means the photos directly in it, sorted by name. Our own outputs
    (sheet and debug images) are never photos, not even when named one by one.
    """
    scan = PhotoScan()
    for argument in arguments:
        path = Path(argument)
        if path.is_dir():
            for entry in sorted(path.iterdir()):
                reason = _not_a_photo(entry)
                if reason:
                    scan.skipped.append((entry, reason))
                else:
                    scan.photos.append(entry)
        elif path.exists():
            reason = our_output(path)
            if reason:
                scan.skipped.append((path, reason))
            else:
                scan.photos.append(path)
        else:
            raise UsageError(f"{path}: no such file or directory")
    return scan


def find_photos(arguments: Iterable[str | Path]) -> list[Path]:
    """The photos of ``scan_photos``, without the list of what was left out."""
    return scan_photos(arguments).photos


def _not_a_photo(entry: Path) -> str | None:
    """Why a folder entry is not read as a photo, or None when it is one."""
    if entry.name.startswith("."):
        return "hidden files"
    if entry.is_dir():
        return "folders (sub-folders are not read; name them to read them)"
    if entry.suffix.lower() not in PHOTO_SUFFIXES:
        return f"not a photo ({', '.join(s[1:] for s in PHOTO_SUFFIXES)})"
    return our_output(entry)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_photo(
    path: Path, max_pixels: int = MAX_PIXELS, work_side: int | None = None
) -> tuple[np.ndarray, Source]:
    """Read a photo as an upright BGR array, honouring its EXIF orientation.

    With ``work_side``, a large photo is read reduced by a power of two, its longer side
    kept at least ``work_side`` long; the ``Source`` keeps the photo's own (upright)
    size, so that ``source.width / image.shape[1]`` is the reduction. OpenCV's
    ``imread`` has changed its EXIF handling between versions, so the photo is decoded
    and rotated by Pillow, explicitly, once, here.
    """
    if not path.is_file():
        raise PhotoError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise PhotoError(f"{path}: empty file")
    image, full_size, factor = _open_checked(path, max_pixels, work_side)
    _refuse_incomplete_jpeg(image, path)
    image = _to_8_bit(image)
    # A broken EXIF block must not cost the photo: keep it as stored.
    with contextlib.suppress(Exception):
        ImageOps.exif_transpose(image, in_place=True)  # no copy of an upright photo
    if image.mode != "RGB":
        image = image.convert("RGB")
    # Pillow writes the pixels in OpenCV's order, and its image is freed before they are
    # copied into a writable array: two 12 MP copies (72 MB) at most, not three.
    width, height = image.size
    raw = image.tobytes("raw", "BGR")
    del image
    bgr = np.frombuffer(bytearray(raw), np.uint8).reshape(height, width, 3)
    del raw
    if factor > 1:
        bgr = _reduced(bgr, max(full_size) / factor)
    if (width > height) != (full_size[0] > full_size[1]):
        full_size = (full_size[1], full_size[0])  # turned upright by its EXIF orientation
    source = Source(path=str(path), sha256=sha256_of(path), width=full_size[0], height=full_size[1])
    return bgr, source


def _reduction(size: tuple[int, int], work_side: int) -> int:
    """The largest of 1, 2, 4, 8 that keeps the longer side at least ``work_side``."""
    factor = 1
    while factor < 8 and max(size) // (factor * 2) >= work_side:
        factor *= 2
    return factor


def _reduced(bgr: np.ndarray, long_side: float) -> np.ndarray:
    """``bgr`` with its longer side brought to ``long_side``, unless the decoder did that
    already (a JPEG: then it is at most a pixel longer)."""
    height, width = bgr.shape[:2]
    share = long_side / max(height, width)
    if share > 0.9:
        return bgr
    size = (max(1, round(width * share)), max(1, round(height * share)))
    return cv2.resize(bgr, size, interpolation=cv2.INTER_AREA)


@functools.cache
def _register_decoders() -> None:
    """HEIC and HEIF through pillow-heif; loaded at the first photo, not with this module."""
    import pillow_heif

    pillow_heif.register_heif_opener()


def _open_checked(
    path: Path, max_pixels: int, work_side: int | None = None
) -> tuple[Image.Image, tuple[int, int], int]:
    """The photo decoded (a JPEG reduced while decoding, see ``read_photo``), its own size
    as stored, and the reduction it is to be read at."""
    _register_decoders()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(path)
            width, height = image.size
            if width * height > max_pixels:
                raise PhotoError(
                    f"{path}: image too large ({width}x{height} = {width * height / 1e6:.0f} MP;"
                    f" the limit is {max_pixels / 1e6:.0f} MP)"
                )
            factor = _reduction((width, height), work_side) if work_side else 1
            if factor > 1 and image.format == "JPEG":
                image.draft(image.mode, (width // factor, height // factor))
            image.load()
    except PhotoError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise PhotoError(f"{path}: refused as a decompression bomb ({e})") from e
    except Image.UnidentifiedImageError as e:
        raise PhotoError(f"{path}: not an image, or a format that cannot be read") from e
    except OSError as e:
        reason = "truncated image" if "truncated" in str(e) else f"cannot decode image ({e})"
        raise PhotoError(f"{path}: {reason}") from e
    except (ValueError, SyntaxError) as e:
        raise PhotoError(f"{path}: cannot decode image ({e})") from e
    if width < 32 or height < 32:
        raise PhotoError(f"{path}: image too small ({width}x{height})")
    return image, (width, height), factor


# Greyscale of more than 8 bits (scanners write 16-bit PNG and TIFF). Pillow's
# convert("RGB") clips these at 255, which turns every such scan white.
_WIDE_GREY_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I", "F")


def _to_8_bit(image: Image.Image) -> Image.Image:
    """A wide greyscale image scaled to 8 bits; any other image as it is."""
    if image.mode not in _WIDE_GREY_MODES:
        return image
    values = np.asarray(image, dtype=np.float64)
    top = float(values.max(initial=0.0))
    if image.mode == "F" and top <= 1.0:
        full_scale = 1.0  # floating point images usually run from 0 to 1
    elif top <= 255:
        full_scale = 255.0  # 8-bit values stored in a wider mode
    else:
        full_scale = 65535.0
    scaled = np.clip(values * (255.0 / full_scale), 0, 255).round().astype(np.uint8)
    converted = Image.fromarray(scaled)
    converted.info = image.info  # keeps the EXIF orientation
    with contextlib.suppress(Exception):
        converted.getexif().update(image.getexif())
    return converted


# libjpeg fills what a JPEG's data does not cover with mid-grey (all coefficients zero)
# and only warns, which Pillow does not pass on: a copy cut short that still ends with
# the end-of-image marker decodes "fine", its lower part one flat grey.
_JPEG_FILL = 128
_JPEG_BLOCK = 8


def _refuse_incomplete_jpeg(image: Image.Image, path: Path) -> None:
    """Refuse a JPEG whose bottom block row is exactly the decoder's grey fill.

    A photographed row of blocks is never bit-exact flat; an image made on a
    computer with an exactly mid-grey bottom edge would be refused too (rare).
    """
    if image.format != "JPEG" or image.mode not in ("L", "RGB"):
        return
    width, height = image.size
    bottom = np.asarray(image.crop((0, max(0, height - _JPEG_BLOCK), width, height)))
    if not (bottom == _JPEG_FILL).all():  # the usual case, without a copy of the photo
        return
    pixels = np.asarray(image)
    flat_rows = pixels.reshape(pixels.shape[0], -1) == _JPEG_FILL
    missing = int(np.argmin(flat_rows.all(axis=1)[::-1])) or pixels.shape[0]
    raise PhotoError(
        f"{path}: incomplete JPEG: its data ends before the image does (the bottom"
        f" {100 * missing / pixels.shape[0]:.0f} % is missing); copy the photo again"
    )


def atomic_write(path: Path, data: str | bytes, mode: int | None = None) -> None:
    """Write to a temp file beside ``path``, then rename: never a half-written file.

    The file gets ``mode``, or else the mode it had, or else a new file's default.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(payload)
            f.flush()
            os.fsync(f.fileno())
        # mkstemp makes the file private (0600): set the mode meant for it.
        os.chmod(tmp, _mode_for(path) if mode is None else mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def remove_temp_files(path: Path) -> None:
    """Remove what an ``atomic_write`` of ``path`` left when its process was killed."""
    path = Path(path)
    for temp in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()


def _mode_for(path: Path) -> int:
    try:
        return path.stat().st_mode & 0o777
    except FileNotFoundError:
        return new_file_mode()


def new_file_mode() -> int:
    """The mode a new file of this user gets: 0666 less the umask."""
    # There is no way to read the umask without setting it; set it straight back.
    umask = os.umask(0o022)
    os.umask(umask)
    return 0o666 & ~umask


def write_json(path: Path, document: dict[str, Any]) -> None:
    atomic_write(path, json.dumps(document, ensure_ascii=False, indent=2) + "\n")


def read_json(path: Path) -> Any:
    with Path(path).open(encoding="utf-8") as f:
        return json.load(f)


def load_yaml(path: Path, error: type[Exception]) -> Any:
    """Parse a YAML (or JSON) file; syntax errors become ``error`` naming file and line."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as e:
        raise error(f"{path}: cannot read ({e.strerror or e})") from e
    except UnicodeDecodeError as e:
        raise error(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from e
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise error(f"{path}:{yaml_syntax_error(text, e)}") from e


def yaml_syntax_error(text: str, error: yaml.YAMLError) -> str:
    """``LINE: YAML syntax error, column C: problem``, at the line where the mistake starts.

    PyYAML reports where it gave up, which for a missing closing quote is many lines
    below the quote: the quoted text swallows the lines after it until the next quote
    or the end of the file. The opening quote is what needs fixing, so it is named.
    """
    if not isinstance(error, yaml.MarkedYAMLError) or error.problem_mark is None:
        return f" YAML syntax error: {error}"
    problem = error.problem or error.context or "invalid YAML"
    found = error.problem_mark
    context = error.context or ""
    if error.context_mark is not None and context.startswith("while scanning"):
        start = error.context_mark  # the token that never ended, e.g. a quoted text
        what = "the quoted text that starts here" if "quoted" in context else context
        hint = " (a closing quote missing?)" if "quoted" in context else ""
        return (
            f"{start.line + 1}: YAML syntax error, column {start.column + 1}: {what}:"
            f" {problem} at line {found.line + 1}{hint}"
        )
    runaway = _runaway_quote(text, found.line)
    if runaway is not None:
        return (
            f"{runaway.line + 1}: YAML syntax error, column {runaway.column + 1}: the quoted"
            f" text that starts here runs on to line {found.line + 1} (a closing quote missing?),"
            f" where the parser found: {problem}"
        )
    return f"{found.line + 1}: YAML syntax error, column {found.column + 1}: {problem}"


def _runaway_quote(text: str, error_line: int) -> yaml.Mark | None:
    """The start of a quoted text spanning lines that ends on the error's line, if any."""
    last = None
    try:
        for token in yaml.scan(text, Loader=yaml.SafeLoader):
            if token.start_mark.line > error_line:
                break
            if (
                isinstance(token, yaml.ScalarToken)
                and token.style in ("'", '"')
                and token.start_mark.line < token.end_mark.line == error_line
            ):
                last = token.start_mark
    except yaml.YAMLError:
        pass  # the scanner's own error comes at or after the parser's
    return last


def read_word_list(path: Path) -> frozenset[str]:
    """The words of a word list: names, places, jargon; one or more per line, # comments.

    Punctuation at a word's edges is dropped ("Fr. Küsgen" gives "Küsgen"); only words
    of two letters or more are kept, as the recogniser decodes only those.
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as e:
        raise UsageError(f"{path}: cannot read the word list ({e.strerror or e})") from e
    except UnicodeDecodeError as e:
        raise UsageError(
            f"{path}: word list is not UTF-8 text ({e.reason} at byte {e.start})"
        ) from e
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    return frozenset(lexical_words("\n".join(lines)))
