"""Treat a directory as an artifact store: new or changed files are upload events.

Polling (not inotify) so it works the same on every filesystem, network mounts included. A file
is scanned once it has kept the same size and mtime for `settle` seconds, so half-written uploads
are not judged early.
"""
from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from schemas import ArtifactReport
from workers.engine import ENGINE_VERSION, Limits, scan_path
from workers.engine.scanner import iter_files
from workers.sinks.sqlite_store import SqliteStore

log = logging.getLogger("modelscreen.watch")


@dataclass(frozen=True)
class FileChange:
    path: Path
    mtime_ns: int
    size: int

    @property
    def event_id(self) -> str:
        key = f"local\x1f{self.path}\x1f{self.mtime_ns}\x1f{self.size}"
        return hashlib.sha256(key.encode()).hexdigest()[:32]


def changes(root: Path, store: SqliteStore, settle: float, pending: dict[Path, tuple[int, int, float]]) -> Iterator[FileChange]:
    """Files under root that are new or changed since last recorded, and have settled."""
    now = time.monotonic()
    for f in iter_files([root]):
        try:
            st = f.stat()
        except OSError:
            continue
        sig = (st.st_mtime_ns, st.st_size)
        if store.watched(str(f)) == sig:
            pending.pop(f, None)
            continue
        seen = pending.get(f)
        if seen is None or seen[:2] != sig:
            pending[f] = (*sig, now)
            if settle > 0:
                continue
        elif now - seen[2] < settle:
            continue
        pending.pop(f, None)
        yield FileChange(f, *sig)


def process(change: FileChange, store: SqliteStore, limits: Limits | None = None) -> list[ArtifactReport]:
    reports = scan_path(change.path, limits=limits)
    store.record(reports, engine_version=ENGINE_VERSION, event_id=change.event_id, action="uploaded")
    store.mark_watched(str(change.path), change.mtime_ns, change.size, reports[0].sha256)
    return reports


def watch(root: Path, store: SqliteStore, *, interval: float = 2.0, settle: float = 2.0, once: bool = False,
          limits: Limits | None = None, on_result: Callable[[FileChange, list[ArtifactReport]], None] | None = None,
          should_stop: Callable[[], bool] = lambda: False) -> int:
    """Scan changes until stopped; with `once`, one sweep (settling ignored). Returns files scanned."""
    pending: dict[Path, tuple[int, int, float]] = {}
    scanned = 0
    while True:
        for change in changes(root, store, 0.0 if once else settle, pending):
            reports = process(change, store, limits)
            scanned += 1
            if on_result:
                on_result(change, reports)
        if once or should_stop():
            return scanned
        time.sleep(interval)
