"""The output folder as the review app sees it: its sheets, read again when ``process`` rewrites one.

``process`` may run again while the app is open (another template forced with
``-c``, a better photo). Every request first looks at the sheet JSONs' size and
modification time (a few milliseconds for 400 files) and reads again only those
that changed, so pages, crops and saves never use a sheet older than the file.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

from ..corrections import normalize_text
from ..merge import LoadedSheet, load_sheets
from ..outdir import sheet_files

Stamp = tuple[int, int]  # a sheet JSON's modification time (ns) and size


def _stamp(path: Path) -> Stamp | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_mtime_ns, stat.st_size


@dataclass
class SheetFolder:
    """The sheets of one output folder, as they are on disk now."""

    out_dir: Path  # absolute: Flask resolves a relative path against its package, not the cwd
    loaded: dict[Path, LoadedSheet] = field(default_factory=dict)
    failed: dict[Path, tuple[str, str]] = field(default_factory=dict)  # path -> (message, id)
    ignored: dict[Path, str] = field(default_factory=dict)
    stamps: dict[Path, Stamp] = field(default_factory=dict)
    generation: int = 0  # counts the changes: caches of what the sheets teach key on it

    def __post_init__(self) -> None:
        self.out_dir = Path(self.out_dir).resolve()
        self._lock = threading.Lock()
        self._by_id: dict[str, LoadedSheet] = {}
        self._read(list(sheet_files(self.out_dir)), strict=True)

    @property
    def sheets(self) -> list[LoadedSheet]:
        return sorted(self.loaded.values(), key=lambda loaded: loaded.sheet.id)

    @property
    def failures(self) -> list[str]:
        return [message for message, _ in self.failed.values()]

    @property
    def failed_ids(self) -> list[str]:
        return [sheet_id for _, sheet_id in self.failed.values()]

    def get(self, sheet_id: str) -> LoadedSheet | None:
        return self._by_id.get(normalize_text(sheet_id))

    def stamp_of(self, loaded: LoadedSheet) -> str:
        """A token that changes whenever the sheet's JSON is rewritten."""
        mtime, size = self.stamps.get(loaded.path, (0, 0))
        return f"{mtime:x}-{size:x}"

    def refresh(self) -> list[str]:
        """Read again the sheet JSONs that changed on disk; the ids of the sheets that did."""
        with self._lock:
            now = {path: _stamp(path) for path in sheet_files(self.out_dir)}
            changed = [path for path, stamp in now.items() if self.stamps.get(path) != stamp]
            gone = [path for path in self.stamps if path not in now]
            if not changed and not gone:
                return []
            ids = [self.loaded[path].sheet.id for path in gone + changed if path in self.loaded]
            self._read(changed, strict=False, gone=tuple(gone))
            return ids + [self.loaded[p].sheet.id for p in changed if p in self.loaded]

    def _read(self, paths: list[Path], strict: bool, gone: tuple[Path, ...] = ()) -> None:
        # Built aside and swapped in whole: other requests read the dicts meanwhile.
        loaded, failed = dict(self.loaded), dict(self.failed)
        ignored, stamps = dict(self.ignored), dict(self.stamps)
        for path in [*paths, *gone]:
            for kept in (loaded, failed, ignored, stamps):
                kept.pop(path, None)
        for path in paths:
            stamps[path] = _stamp(path) or (0, 0)
        # strict, the first look: an empty folder is the user's mistake (UsageError)
        folder = load_sheets(self.out_dir, None if strict else paths)
        for sheet in folder.sheets:
            loaded[sheet.path] = sheet
        for message, sheet_id in zip(folder.failures, folder.failed_ids, strict=True):
            failed[self.out_dir / f"{sheet_id}.json"] = (message, sheet_id)
        for path in paths:  # load_sheets names the file first in each message
            for message in folder.ignored:
                if message.startswith(f"{path}: "):
                    ignored[path] = message
        self.loaded, self.failed, self.ignored, self.stamps = loaded, failed, ignored, stamps
        self._by_id = {normalize_text(s.sheet.id): s for s in loaded.values()}
        self.generation += 1
