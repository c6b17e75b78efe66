"""Many photos: parallel workers, the cache, progress, and failures that never stop the batch."""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import sys
import time
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TextIO

import cv2

from .document import Sheet, Source
from .errors import FlipchartError, UsageError
from .io import atomic_write, read_json, sha256_of, write_json
from .pipeline import ProcessOptions, draw_debug, process_photo
from .templates import Template

SHEET_IMAGE_SUFFIX = ".sheet.jpg"


@dataclass(frozen=True)
class Job:
    photo: Path
    out_dir: Path
    options: ProcessOptions
    debug: bool = False


@dataclass(frozen=True)
class Outcome:
    photo: Path
    status: str  # "done", "cached", "failed"
    message: str = ""  # the reason of a failure, or the warnings
    seconds: float = 0.0


def check_unique_stems(photos: list[Path]) -> None:
    """The sheet id is the photo's stem: two photos with one stem would overwrite each other."""
    seen: dict[str, Path] = {}
    for photo in photos:
        if photo.stem in seen:
            raise UsageError(
                f"{photo}: same sheet id {photo.stem!r} as {seen[photo.stem]}; rename one of them"
            )
        seen[photo.stem] = photo


def templates_fingerprint(templates: dict[str, Template]) -> str:
    text = json.dumps([t.to_dict() for t in templates.values()], sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def sheet_image_path(out_dir: Path, sheet_id: str) -> Path:
    return out_dir / f"{sheet_id}{SHEET_IMAGE_SUFFIX}"


def job_fingerprint(job: Job, templates: dict[str, Template]) -> dict[str, Any]:
    return {**job.options.fingerprint(), "templates": templates_fingerprint(templates)}


def is_cached(job: Job, templates: dict[str, Template]) -> bool:
    """The photo's JSON is there and was made from this photo, these templates and options."""
    json_path = job.out_dir / f"{job.photo.stem}.json"
    return is_up_to_date(json_path, job.photo, job_fingerprint(job, templates))


def run_job(job: Job, templates: dict[str, Template], force: bool) -> Outcome:
    """Process one photo and write its files; never raises for a bad photo."""
    start = time.perf_counter()
    json_path = job.out_dir / f"{job.photo.stem}.json"
    fingerprint = job_fingerprint(job, templates)
    try:
        if not force and is_up_to_date(json_path, job.photo, fingerprint):
            return Outcome(job.photo, "cached")
        result = process_photo(job.photo, templates, job.options)
        sheet = result.sheet
        stat = job.photo.stat()
        pipeline = {**fingerprint, "photo_stat": [stat.st_size, stat.st_mtime_ns]}
        sheet = replace(sheet, pipeline=pipeline)
        _write_image(sheet_image_path(job.out_dir, sheet.id), result.image)
        if job.debug:
            _write_image(job.out_dir / "debug" / f"{sheet.id}.jpg", draw_debug(result.image, sheet))
        write_json(json_path, sheet.to_dict())  # last: its presence means the sheet is complete
        return Outcome(job.photo, "done", "; ".join(sheet.warnings), time.perf_counter() - start)
    except FlipchartError as e:
        message = str(e) if str(e).startswith(str(job.photo)) else f"{job.photo}: {e}"
        write_json(json_path, failed_sheet(job.photo, message).to_dict())
        return Outcome(job.photo, "failed", message, time.perf_counter() - start)
    except MemoryError:
        message = f"{job.photo}: out of memory while processing (photo too large for this machine)"
        write_json(json_path, failed_sheet(job.photo, message).to_dict())
        return Outcome(job.photo, "failed", message, time.perf_counter() - start)


def failed_sheet(photo: Path, reason: str) -> Sheet:
    """The record of a photo that could not be read: template null, the reason as a warning."""
    try:
        digest = sha256_of(photo)
    except OSError:
        digest = ""
    return Sheet(id=photo.stem, source=Source(str(photo), digest, 0, 0), warnings=(reason,))


def is_up_to_date(json_path: Path, photo: Path, fingerprint: dict[str, Any]) -> bool:
    """A sheet JSON made from this very photo with these templates and options by this pipeline."""
    if not json_path.is_file():
        return False
    try:
        recorded = read_json(json_path)
        pipeline = recorded.get("pipeline", {})
        if recorded.get("template") is None:
            return False  # failures are always retried
        if any(pipeline.get(k) != v for k, v in fingerprint.items()):
            return False
        if not sheet_image_path(json_path.parent, recorded["id"]).is_file():
            return False
        stat = photo.stat()
        # Size and modification time stand in for the hash: hashing an event's
        # photos again would cost more than the whole cached run may.
        if pipeline.get("photo_stat") == [stat.st_size, stat.st_mtime_ns]:
            return True
        return recorded["source"]["sha256"] == sha256_of(photo)
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return False


def _write_image(path: Path, image: Any) -> None:
    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 88])
    if not ok:
        raise FlipchartError(f"{path}: cannot encode image")
    atomic_write(path, encoded.tobytes())


# -- running many ------------------------------------------------------------------------

_worker_templates: dict[str, Template] = {}


def _init_worker(templates: dict[str, Template]) -> None:
    global _worker_templates
    _worker_templates = templates
    # Each worker is one process on one core: keep OpenCV and Tesseract from
    # spawning threads that would fight the other workers.
    cv2.setNumThreads(1)
    os.environ["OMP_THREAD_LIMIT"] = "1"


def _run_in_worker(job: Job, force: bool) -> Outcome:
    return run_job(job, _worker_templates, force)


def run_batch(
    jobs: list[Job],
    templates: dict[str, Template],
    workers: int,
    force: bool,
    report: Callable[[Outcome], None],
) -> list[Outcome]:
    """Run every job, in parallel when ``workers`` > 1; outcomes in the jobs' order."""
    results: dict[Path, Outcome] = {}
    # Up-to-date photos are settled here: no worker process is started for them.
    todo = []
    for job in jobs:
        if not force and is_cached(job, templates):
            results[job.photo] = Outcome(job.photo, "cached")
            report(results[job.photo])
        else:
            todo.append(job)
    if workers <= 1 or len(todo) <= 1:
        _init_worker(templates)
        for job in todo:
            results[job.photo] = run_job(job, templates, force)
            report(results[job.photo])
        return [results[job.photo] for job in jobs]
    # Fresh worker processes, not forks: a fork inherits the parent's OpenCV thread pool
    # in whatever state it is, and a parent that has already read a photo (``--jobs 1``
    # earlier in the same process, as in the tests) can leave a lock held: the workers
    # then hang for ever (seen with the recogniser's DNN threads).
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(
        workers, mp_context=context, initializer=_init_worker, initargs=(templates,)
    ) as pool:
        pending: set[Future[Outcome]] = {pool.submit(_run_in_worker, job, force) for job in todo}
        try:
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    outcome = future.result()
                    results[outcome.photo] = outcome
                    report(outcome)
        except KeyboardInterrupt:
            for future in pending:
                future.cancel()
            raise
    return [results[job.photo] for job in jobs]


class Progress:
    """A progress line on a terminal; one plain line per photo otherwise."""

    def __init__(self, total: int, stream: TextIO | None = None, quiet: bool = False) -> None:
        self.total = total
        # looked up now, not at import: the CLI's stderr may be redirected (tests, pipes)
        self.stream = stream if stream is not None else sys.stderr
        self.quiet = quiet
        self.done = 0
        self.start = time.perf_counter()
        self.interactive = self.stream.isatty() and not quiet

    def __call__(self, outcome: Outcome) -> None:
        self.done += 1
        if outcome.status == "failed":
            self._clear()
            print(f"error: {outcome.message}", file=self.stream)
        elif outcome.message and not self.quiet:
            self._clear()
            print(f"warning: {outcome.photo}: {outcome.message}", file=self.stream)
        if self.quiet:
            return
        if self.interactive:
            self._bar()
        elif outcome.status != "failed":
            print(
                f"[{self.done}/{self.total}] {outcome.photo}: {outcome.status}"
                + (f" ({outcome.seconds:.1f} s)" if outcome.seconds else ""),
                file=self.stream,
            )

    def _bar(self) -> None:
        elapsed = time.perf_counter() - self.start
        rate = self.done / elapsed if elapsed > 0 else 0.0
        left = (self.total - self.done) / rate if rate > 0 else 0.0
        width = 24
        filled = int(width * self.done / max(self.total, 1))
        bar = "#" * filled + "-" * (width - filled)
        self.stream.write(
            f"\r[{bar}] {self.done}/{self.total} photos  {rate:.2f}/s  {left:.0f} s left "
        )
        if self.done == self.total:
            self.stream.write("\n")
        self.stream.flush()

    def _clear(self) -> None:
        if self.interactive:
            self.stream.write("\r" + " " * 70 + "\r")


def summarise(outcomes: Iterable[Outcome]) -> dict[str, int]:
    counts = {"done": 0, "cached": 0, "failed": 0}
    for outcome in outcomes:
        counts[outcome.status] += 1
    return counts
