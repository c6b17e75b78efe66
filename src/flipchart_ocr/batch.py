"""Many photos: parallel workers, the cache, progress, and failures that never stop the batch.

Whatever goes wrong with one photo (a bad file, a bug, a worker the kernel
kills) is named, recorded in its sheet JSON and the batch goes on; a good sheet
JSON of the same photo from an earlier run is never replaced by a failure. Only
a full disk stops the batch (``DiskFull``): every further photo would fail the
same way.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from multiprocessing.connection import Connection, wait
from multiprocessing.context import SpawnContext
from pathlib import Path
from typing import Any, TextIO

import cv2

from . import outdir
from .document import Sheet, Source
from .errors import DiskFull, FlipchartError, UsageError
from .io import atomic_write, read_json, remove_temp_files, sha256_of, write_json
from .pipeline import ProcessOptions, draw_debug, process_photo, release_freed_memory
from .templates import Template

# errno values that mean "no room to write": the disk, the user's quota, a file size limit.
NO_SPACE = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}
# Seconds stopped workers get to remove their temp files before they are killed.
STOP_GRACE = 3.0


@dataclass(frozen=True)
class Job:
    photo: Path
    out_dir: Path
    options: ProcessOptions
    debug: bool = False

    @property
    def sheet_id(self) -> str:
        return outdir.sheet_id(self.photo)

    @property
    def json_path(self) -> Path:
        return outdir.sheet_json_path(self.out_dir, self.sheet_id)


@dataclass(frozen=True)
class Outcome:
    photo: Path
    status: str  # "done", "cached", "failed"
    message: str = ""  # the reason of a failure, or the warnings
    seconds: float = 0.0


def check_unique_ids(photos: list[Path]) -> None:
    """The sheet id is the photo's stem (NFC): two photos with one id would overwrite each other.

    Names that differ only in their Unicode form ("Müll" typed, and copied from a
    Mac as "Mu" + combining diaeresis) look the same to people and are one id.
    """
    seen: dict[str, Path] = {}
    for photo in photos:
        sheet_id = outdir.sheet_id(photo)
        if sheet_id in seen:
            same = "same sheet id" if photo.stem == seen[sheet_id].stem else "same sheet id (NFC)"
            raise UsageError(
                f"{photo}: {same} {sheet_id!r} as {seen[sheet_id]}; rename one of them"
            )
        seen[sheet_id] = photo


def templates_fingerprint(templates: dict[str, Template]) -> str:
    text = json.dumps([t.to_dict() for t in templates.values()], sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def job_fingerprint(job: Job, templates: dict[str, Template]) -> dict[str, Any]:
    return {**job.options.fingerprint(), "templates": templates_fingerprint(templates)}


def is_cached(job: Job, templates: dict[str, Template]) -> bool:
    """The photo's JSON is there and was made from this photo, these templates and options."""
    return is_up_to_date(job.json_path, job.photo, job_fingerprint(job, templates))


# -- one photo ----------------------------------------------------------------------------


def run_job(job: Job, templates: dict[str, Template], force: bool) -> Outcome:
    """Process one photo and write its files; never raises for a bad photo.

    Raises ``DiskFull`` when there is no room to write: the batch must stop.
    """
    start = time.perf_counter()
    try:
        return _process(job, templates, force, start)
    except OSError as e:
        if e.errno in NO_SPACE:
            raise DiskFull(_no_space_message(e)) from e
        reason = f"cannot read or write ({e.strerror or e}{_filename(e)})"
        return _failed(job, f"{job.photo}: {reason}", start)
    except FlipchartError as e:
        message = str(e) if str(e).startswith(str(job.photo)) else f"{job.photo}: {e}"
        return _failed(job, message, start)
    except MemoryError:
        return _failed(
            job, f"{job.photo}: out of memory while processing (too large for this machine)", start
        )
    except Exception as e:  # a bug must cost one photo, not the batch
        if os.environ.get("FLIPCHART_OCR_TRACEBACK"):
            raise
        return _failed(job, f"{job.photo}: unexpected error: {type(e).__name__}: {e}", start)


def _process(job: Job, templates: dict[str, Template], force: bool, start: float) -> Outcome:
    fingerprint = job_fingerprint(job, templates)
    if not force and is_up_to_date(job.json_path, job.photo, fingerprint):
        return Outcome(job.photo, "cached")
    try:
        result = process_photo(job.photo, templates, job.options, sheet_id=job.sheet_id)
    finally:
        release_freed_memory()
    stat = job.photo.stat()
    pipeline = {**fingerprint, "photo_stat": [stat.st_size, stat.st_mtime_ns]}
    sheet = replace(result.sheet, pipeline=pipeline)
    _write_image(outdir.sheet_image_path(job.out_dir, sheet.id), result.image)
    if job.debug:
        debug = draw_debug(result.image, sheet)
        _write_image(outdir.debug_image_path(job.out_dir, sheet.id), debug)
    write_json(job.json_path, sheet.to_dict())  # last: its presence means the sheet is complete
    return Outcome(job.photo, "done", "; ".join(sheet.warnings), time.perf_counter() - start)


def _failed(job: Job, message: str, start: float | None = None) -> Outcome:
    """The photo's failure, recorded on disk where it can be; a full disk stops the batch."""
    try:
        message = record_failure(job, message)
    except OSError as e:
        if e.errno in NO_SPACE:
            raise DiskFull(_no_space_message(e)) from e
        message += f" (the failure could not be recorded: {e.strerror or e})"
    seconds = 0.0 if start is None else time.perf_counter() - start
    return Outcome(job.photo, "failed", message, seconds)


def record_failure(job: Job, message: str) -> str:
    """Write the photo's failure record, unless a good sheet of this very photo is there.

    A failure must not cost an earlier good result: a hang, a killed worker or a
    bug in a new version can fail a photo that was read well before. Returns the
    message, saying when the earlier sheet is kept.
    """
    if _good_sheet_of(job.json_path, job.photo):
        return f"{message} (the earlier result {job.json_path} is kept)"
    write_json(job.json_path, failed_sheet(job.photo, message).to_dict())
    return message


def _good_sheet_of(json_path: Path, photo: Path) -> bool:
    try:
        recorded = read_json(json_path)
        return recorded["template"] is not None and recorded["source"]["sha256"] == sha256_of(photo)
    except (OSError, ValueError, KeyError, TypeError):
        return False


def failed_sheet(photo: Path, reason: str) -> Sheet:
    """The record of a photo that could not be read: template null, the reason as a warning."""
    try:
        digest = sha256_of(photo)
    except OSError:
        digest = ""
    return Sheet(
        id=outdir.sheet_id(photo), source=Source(str(photo), digest, 0, 0), warnings=(reason,)
    )


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
        if not outdir.sheet_image_path(json_path.parent, recorded["id"]).is_file():
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


def _no_space_message(error: OSError) -> str:
    where = f"cannot write {error.filename}" if error.filename else "cannot write"
    return (
        f"{where}: {error.strerror or error}; the batch is stopped. Every sheet written so"
        " far is complete and kept: free some space and run the same command again to do"
        " the rest"
    )


def _filename(error: OSError) -> str:
    return f": {error.filename}" if error.filename else ""


def remove_partial_outputs(job: Job) -> None:
    """The temp files a killed process left for this job's outputs (finished files stay)."""
    for path in outdir.outputs_of(job.out_dir, job.sheet_id):
        remove_temp_files(path)


# -- many photos --------------------------------------------------------------------------


def _init_worker(threads: int = 1) -> None:
    # OpenCV gets the threads onnxruntime is given (the options': the cores shared out
    # among the workers, or --threads); Tesseract's OpenMP none, so that it does not
    # fight the other workers (its fields are small: tesseract.py).
    cv2.setNumThreads(threads)
    os.environ["OMP_THREAD_LIMIT"] = "1"


def _threads_of(jobs: list[Job]) -> int:
    return max((job.options.threads or 1 for job in jobs), default=1)


def with_cores_shared(jobs: list[Job], workers: int, cores: int | None = None) -> list[Job]:
    """The jobs, those that leave their threads open given ``cores`` (``--jobs``; the
    machine's cores if None, and never more) shared out among ``workers``: one photo alone
    gets every core, two workers on two cores one each (a single photo run with the default
    ``--jobs`` used one core of two), and ``--jobs 1`` one core, as OCRmyPDF's ``--jobs``
    means the cores it may use."""
    machine = os.cpu_count() or 1
    budget = min(cores or machine, machine)
    threads = max(1, budget // max(workers, 1))
    return [
        job if job.options.threads else replace(job, options=replace(job.options, threads=threads))
        for job in jobs
    ]


def run_batch(
    jobs: list[Job],
    templates: dict[str, Template],
    workers: int,
    force: bool,
    report: Callable[[Outcome], None],
    warn: Callable[[str], None] | None = None,
) -> list[Outcome]:
    """Run every job, in parallel when ``workers`` > 1; outcomes in the jobs' order.

    ``workers`` is ``--jobs``: the most photos read at once, and the cores they share.

    ``report`` hears of each photo as it is settled, ``warn`` of a photo tried again
    because its worker was killed. Raises ``DiskFull`` (after stopping the workers)
    and ``KeyboardInterrupt``; finished files are complete either way.
    """
    results: dict[Path, Outcome] = {}

    def settle(outcome: Outcome) -> None:
        results[outcome.photo] = outcome
        report(outcome)

    # Up-to-date photos are settled here: no worker process is started for them.
    todo = []
    for job in jobs:
        if not force and is_cached(job, templates):
            settle(Outcome(job.photo, "cached"))
        else:
            todo.append(job)
    # --jobs is both the photos read at once and the cores they share.
    cores = workers
    workers = max(1, min(workers, len(todo)))
    todo = with_cores_shared(todo, workers, cores)
    if workers == 1:
        _init_worker(_threads_of(todo))
        for job in todo:
            settle(run_job(job, templates, force))
    else:
        _run_parallel(todo, templates, workers, force, settle, warn or _warn)
    return [results[job.photo] for job in jobs]


def _warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


class _Worker:
    """One worker process, given one photo at a time through its own pipe.

    Our own pool rather than ``ProcessPoolExecutor``: when the kernel kills a worker
    (the OOM killer), the executor fails every pending photo with ``BrokenProcessPool``
    and cannot say which photo was being read; here the dead worker's photo is known,
    is tried once more on a fresh worker, and the others go on.
    """

    def __init__(
        self, context: SpawnContext, templates: dict[str, Template], force: bool, threads: int
    ) -> None:
        self.connection, child = context.Pipe()
        self.process = context.Process(
            target=_worker_main, args=(child, templates, force, threads), daemon=True
        )
        with _sigint_ignored():  # inherited: a Ctrl-C on the terminal is the parent's alone
            self.process.start()
        child.close()
        self.job: Job | None = None

    def give(self, job: Job) -> None:
        self.job = job
        self.connection.send(job)

    def reply(self) -> tuple[str, Any] | None:
        """The worker's answer, or None when it died without one."""
        try:
            return self.connection.recv() if self.connection.poll() else None
        except (EOFError, OSError):
            return None

    def death(self) -> str:
        """How the (dead) process ended, for messages."""
        self.process.join(1)
        code = self.process.exitcode
        if code is not None and code < 0:
            name = signal.Signals(-code).name
            oom = (
                " (out of memory? the kernel's OOM killer sends it)"
                if -code == signal.SIGKILL
                else ""
            )
            return f"was killed by {name}{oom}"
        return f"ended unexpectedly (exit code {code})"

    def terminate(self) -> None:
        """Ask the worker to stop: it exits through Python, removing its temp files."""
        if self.process.pid is not None and self.process.exitcode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.process.pid, signal.SIGTERM)

    def kill(self) -> None:
        """Kill the worker and whatever it started (a Tesseract): its process group."""
        pid = self.process.pid
        if pid is None:
            return
        try:
            os.killpg(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):  # gone, or not yet its own group
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def close(self) -> None:
        self.connection.close()


def _worker_main(
    connection: Connection, templates: dict[str, Template], force: bool, threads: int = 1
) -> None:
    """A worker's life: photos in, outcomes out, until the parent closes the pipe."""
    # Its own process group: the terminal's Ctrl-C reaches the parent only, which stops
    # the workers itself; so no traceback from every worker, no half-read photo
    # recorded as failed. SIGTERM exits through Python, so temp files are removed.
    if hasattr(os, "setpgrp"):  # POSIX
        os.setpgrp()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _exit_now)
    _init_worker(threads)
    while True:
        try:
            job = connection.recv()
        except (EOFError, OSError):
            return  # the parent is done, or gone
        try:
            answer: tuple[str, Any] = ("outcome", run_job(job, templates, force))
        except DiskFull as e:
            answer = ("disk full", str(e))
        connection.send(answer)


def _exit_now(signum: int, frame: Any) -> None:
    sys.exit(128 + signum)


@contextlib.contextmanager
def _sigint_ignored() -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _run_parallel(
    todo: list[Job],
    templates: dict[str, Template],
    workers: int,
    force: bool,
    settle: Callable[[Outcome], None],
    warn: Callable[[str], None],
) -> None:
    # Fresh worker processes, not forks: a fork inherits the parent's OpenCV thread pool
    # in whatever state it is, and a parent that has already read a photo (``--jobs 1``
    # earlier in the same process, as in the tests) can leave a lock held: the workers
    # then hang for ever (seen with the recogniser's DNN threads).
    context = multiprocessing.get_context("spawn")
    threads = _threads_of(todo)
    queue = deque(todo)
    deaths: Counter[Path] = Counter()
    pool = [_Worker(context, templates, force, threads) for _ in range(workers)]
    try:
        while queue or any(worker.job for worker in pool):
            for worker in pool:
                if worker.job is None and queue:
                    worker.give(queue.popleft())
            busy = [worker for worker in pool if worker.job is not None]
            ready = wait([w.connection for w in busy] + [w.process.sentinel for w in busy])
            for index, worker in enumerate(pool):
                if worker.job is None or not {worker.connection, worker.process.sentinel} & set(
                    ready
                ):
                    continue
                job, answer = worker.job, worker.reply()
                worker.job = None
                if answer is None:
                    pool[index] = _Worker(context, templates, force, threads)
                    _lost(job, worker, deaths, queue, settle, warn)
                    worker.close()
                elif answer[0] == "disk full":
                    raise DiskFull(answer[1])
                else:
                    settle(answer[1])
    finally:
        _stop(pool)


def _lost(
    job: Job,
    worker: _Worker,
    deaths: Counter[Path],
    queue: deque[Job],
    settle: Callable[[Outcome], None],
    warn: Callable[[str], None],
) -> None:
    """A worker died reading ``job``: try the photo once more, then record it as failed."""
    how = worker.death()
    worker.kill()  # a Tesseract it left running
    remove_partial_outputs(job)
    deaths[job.photo] += 1
    if deaths[job.photo] == 1:
        warn(f"{job.photo}: the worker process reading it {how}; trying it once more")
        queue.appendleft(job)
        return
    message = f"{job.photo}: the worker process reading it {how}, twice; not tried again"
    settle(_failed(job, message))


def _stop(pool: list[_Worker]) -> None:
    """End every worker: idle ones by closing their pipe, busy ones by SIGTERM, then SIGKILL.

    A second Ctrl-C while waiting skips the wait: the workers are killed at once.
    """
    for worker in pool:
        worker.close()
        if worker.job is not None:
            worker.terminate()
    deadline = time.monotonic() + STOP_GRACE
    try:
        for worker in pool:
            worker.process.join(max(0.0, deadline - time.monotonic()))
    except KeyboardInterrupt:
        pass  # asked twice: no more waiting
    finally:
        with _sigint_ignored():  # a third Ctrl-C must not leave temp files behind
            for worker in pool:
                worker.kill()  # also a Tesseract the worker left running
                worker.process.join(1)
                if worker.job is not None:
                    remove_partial_outputs(worker.job)


# -- progress -----------------------------------------------------------------------------


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

    def warn(self, message: str) -> None:
        """A warning that is not a photo's outcome (a retry)."""
        if self.quiet:
            return
        self._clear()
        print(f"warning: {message}", file=self.stream)
        if self.interactive:
            self._bar()

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
