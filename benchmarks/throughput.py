"""Speed of ``flipchart-ocr process`` against plain Tesseract on the same photos, one run.

    python benchmarks/throughput.py                 # samples/, scaled to 12 MP
    python benchmarks/throughput.py --photos DIR --megapixels 12 --engine tesseract

Every photo is first scaled to --megapixels (a phone's 12 MP by default); then, in one
run on the same copies: plain ``tesseract photo - -l deu`` as a user runs it, and with
``OMP_THREAD_LIMIT=1`` (on one core); ``process --jobs 1`` (one photo at a time on one
core: ``--jobs`` is the cores a batch may use), ``--jobs 1 --threads 2`` (one photo at a
time on two cores), ``--jobs 2`` and a cached re-run (seconds per photo, ratios); and the
peak memory of a worker, on one core and on two.
"""

from __future__ import annotations

import argparse
import os
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


def plain_tesseract(photos: list[Path], lang: str, env: dict[str, str] | None = None) -> float:
    start = time.perf_counter()
    for photo in photos:
        subprocess.run(
            ["tesseract", str(photo), "-", "-l", lang],
            check=False,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
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
    parser.add_argument("--engine", default="ppocr")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        # Every run on the same photos at a phone's resolution, side by side.
        big_folder = Path(tmp) / "big"
        big_folder.mkdir()
        photos = scaled_copies(photos_in(args.photos), args.megapixels, big_folder)
        n = len(photos)
        out = Path(tmp) / "out"
        base = [*CLI, "process", *map(str, photos), "-o", str(out), "--lang", args.lang, "-q"]
        base += ["--engine", args.engine]
        plain = plain_tesseract(photos, args.lang)
        # Tesseract's OpenMP threads cost more than they give on these photos.
        plain_one_core = plain_tesseract(photos, args.lang, {**os.environ, "OMP_THREAD_LIMIT": "1"})
        one = timed([*base, "--jobs", "1", "--force"])
        one_two_cores = timed([*base, "--jobs", "1", "--threads", "2", "--force"])
        two = timed([*base, "--jobs", "2", "--force"])
        cached = timed([*base, "--jobs", "2"])
        peak = peak_memory_mb([*base, "--jobs", "1", "--force"])
        peak_two_cores = peak_memory_mb([*base, "--jobs", "1", "--threads", "2", "--force"])

    def row(name: str, seconds: float) -> None:
        print(f"| {name} | {seconds / n:.2f} | {seconds / plain:.2f} |")

    print(f"\n## Throughput: {n} photos from {args.photos} at {args.megapixels:.0f} MP\n")
    print("| run | seconds per photo | ratio to plain tesseract |")
    print("| --- | --- | --- |")
    row(f"plain `tesseract photo - -l {args.lang}`", plain)
    row("the same, `OMP_THREAD_LIMIT=1` (one core)", plain_one_core)
    process = f"`process --engine {args.engine}"
    row(f"{process} --jobs 1` (one core)", one)
    row(f"{process} --jobs 1 --threads 2` (one photo at a time, two cores)", one_two_cores)
    row(f"{process} --jobs 2`", two)
    print(f"| cached re-run | {cached / n:.3f} | {cached / plain:.3f} |")
    print(f"\n--jobs 2 speed-up over --jobs 1: {one / two:.2f}x")
    print(f"--jobs 2 speed-up over --jobs 1 --threads 2: {one_two_cores / two:.2f}x")
    print(f"peak memory of a worker: {peak:.0f} MB on one core, {peak_two_cores:.0f} MB on two")


if __name__ == "__main__":
    main()
