"""Everything that touches the file system: reading photos, YAML, atomic writes."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from PIL import Image, ImageOps

from .document import Source
from .errors import PhotoError, UsageError
from .evaluate import lexical_words

PHOTO_SUFFIXES = {".jpg", ".jpeg", ".png", ".tif", ".tiff", ".webp"}

# A 12-megapixel phone photo is the normal case; 60 MP covers every phone camera
# on the market. Beyond that a decoded photo costs gigabytes, so refuse it by name
# instead of letting the kernel kill the worker.
MAX_PIXELS = 60_000_000


def find_photos(arguments: Iterable[str | Path]) -> list[Path]:
    """Expand files and directories into the list of photos to process, in order."""
    photos: list[Path] = []
    for argument in arguments:
        path = Path(argument)
        if path.is_dir():
            photos.extend(
                sorted(
                    p for p in path.iterdir() if p.suffix.lower() in PHOTO_SUFFIXES and p.is_file()
                )
            )
        elif path.exists():
            photos.append(path)
        else:
            raise UsageError(f"{path}: no such file or directory")
    return photos


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_photo(path: Path, max_pixels: int = MAX_PIXELS) -> tuple[np.ndarray, Source]:
    """Read a photo as an upright BGR array, honouring its EXIF orientation.

    OpenCV's ``imread`` has changed its EXIF handling between versions, so the
    photo is decoded and rotated by Pillow, explicitly, once, here.
    """
    if not path.is_file():
        raise PhotoError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise PhotoError(f"{path}: empty file")
    image = _open_checked(path, max_pixels)
    # A broken EXIF block must not cost the photo: keep it as stored.
    with contextlib.suppress(Exception):
        image = ImageOps.exif_transpose(image)
    rgb = np.asarray(image.convert("RGB"))
    bgr = np.ascontiguousarray(rgb[:, :, ::-1])
    source = Source(path=str(path), sha256=sha256_of(path), width=bgr.shape[1], height=bgr.shape[0])
    return bgr, source


def _open_checked(path: Path, max_pixels: int) -> Image.Image:
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
    return image


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
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "unknown position"
        raise error(f"{path}: YAML syntax error at {where}: {e.problem}") from e
    except yaml.YAMLError as e:
        raise error(f"{path}: YAML syntax error: {e}") from e


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


def iter_sheet_files(out_dir: Path) -> Iterator[Path]:
    """The sheet JSON files of an output folder, in id order."""
    yield from sorted(p for p in Path(out_dir).glob("*.json") if not p.name.startswith("."))
