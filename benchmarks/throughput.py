"""Speed of ``flipchart-ocr process`` against plain Tesseract on the same photos, one run.

    python benchmarks/throughput.py                 # samples/
    python benchmarks/throughput.py --photos DIR --megapixels 12

Prints seconds per photo for --jobs 1, --jobs 2, a cached re-run and plain
``tesseract photo - -l deu``, the ratios between them, and the peak memory of a
worker on photos scaled to --megapixels (a phone's 12 MP by default).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2

ROOT = Path(__file__).resolve().parent.parent
CLI = [sys.executable, "-m", "flipchart_ocr.cli"]
PHOTO_SUFFIXES = {".jpg", ".jpeg", ".png", ".tif", ".tiff", ".webp"}


def photos_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in PHOTO_SUFFIXES)


def timed(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def plain_tesseract(photos: list[Path], lang: str) -> float:
    start = time.perf_counter()
    for photo in photos:
        subprocess.run(
            ["tesseract", str(photo), "-", "-l", lang],
            check=False,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    return time.perf_counter() - start


def peak_memory_mb(command: list[str]) -> float:
    """Peak resident memory of the largest process ``command`` starts (the worker or Tesseract).

    Measured in a fresh wrapper process, so that earlier children of this one
    (plain Tesseract runs) do not count.
    """
    probe = (
        "import resource, subprocess, sys;"
        "subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL);"
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe, *command], capture_output=True, text=True, check=True
    )
    return int(result.stdout.strip()) / 1024


def scaled_copies(photos: list[Path], megapixels: float, folder: Path) -> list[Path]:
    copies = []
    for photo in photos:
        image = cv2.imread(str(photo))
        if image is None:
            continue
        scale = (megapixels * 1e6 / (image.shape[0] * image.shape[1])) ** 0.5
        big = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
        path = folder / f"{photo.stem}.jpg"
        cv2.imwrite(str(path), big, [cv2.IMWRITE_JPEG_QUALITY, 90])
        copies.append(path)
    return copies


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--photos", type=Path, default=ROOT / "samples")
    parser.add_argument("--lang", default="deu")
    parser.add_argument("--megapixels", type=float, default=12.0)
    args = parser.parse_args()
    photos = photos_in(args.photos)
    n = len(photos)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out"
        base = [*CLI, "process", *map(str, photos), "-o", str(out), "--lang", args.lang, "-q"]
        plain = plain_tesseract(photos, args.lang)
        one = timed([*base, "--jobs", "1", "--force"])
        two = timed([*base, "--jobs", "2", "--force"])
        cached = timed([*base, "--jobs", "2"])
        big_folder = Path(tmp) / "big"
        big_folder.mkdir()
        big = scaled_copies(photos[:3], args.megapixels, big_folder)
        big_out = Path(tmp) / "big-out"
        peak = peak_memory_mb(
            [*CLI, "process", *map(str, big), "-o", str(big_out), "--jobs", "1", "-q"]
        )
        big_plain = plain_tesseract(big, args.lang)
        big_ours = timed(
            [*CLI, "process", *map(str, big), "-o", str(big_out), "--jobs", "1", "-q", "--force"]
        )

    print(f"\n## Throughput on {n} photos from {args.photos}\n")
    print("| run | seconds per photo | ratio to plain tesseract |")
    print("| --- | --- | --- |")
    print(f"| plain `tesseract photo - -l {args.lang}` | {plain / n:.2f} | 1.00 |")
    print(f"| `process --jobs 1` | {one / n:.2f} | {one / plain:.2f} |")
    print(f"| `process --jobs 2` | {two / n:.2f} | {two / plain:.2f} |")
    print(f"| cached re-run | {cached / n:.3f} | {cached / plain:.3f} |")
    print(f"\n--jobs 2 speed-up over --jobs 1: {one / two:.2f}x")
    print(f"\n## {len(big)} photos scaled to {args.megapixels:.0f} MP\n")
    print("| measure | value |\n| --- | --- |")
    print(f"| peak memory of a worker (`--jobs 1`) | {peak:.0f} MB |")
    print(
        f"| seconds per photo, ours / plain tesseract | {big_ours / len(big):.2f} / {big_plain / len(big):.2f} (ratio {big_ours / big_plain:.2f}) |"
    )


if __name__ == "__main__":
    main()
