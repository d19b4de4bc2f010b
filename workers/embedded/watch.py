"""Treat a directory as an artifact store: new or changed files are upload events.

Each change becomes the same ArtifactEvent a store would send and goes through the same stage logic
as in the pipeline (modelscreen.pipeline: fetch + scan; modelscreen.provenance: inventory, pins, policy;
alerts), with SQLite instead of Elasticsearch. Polling (not inotify) so it works the same on every filesystem, network mounts included. A file
is scanned once it has kept the same size and mtime for `settle` seconds, so half-written uploads
are not judged early.
"""
from __future__ import annotations

import logging
import os
import stat
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from modelscreen.schemas import ArtifactReport, Verdict
from modelscreen.schemas.events import Action, ArtifactEvent, StoreKind
from modelscreen.schemas.formats import Format
from modelscreen.schemas.results import ScanResult
from modelscreen.schemas.text import printable_text
from modelscreen.engine import ENGINE_VERSION, Limits
from modelscreen.engine.scanner import iter_files
from modelscreen.pipeline.scanning import ScanFailed, failed, scan_fetched
from modelscreen.sandbox.scanning import SandboxScanner, shared_scanner
from modelscreen.settings import Settings
from modelscreen.sinks.sqlite_store import SqliteStore
from modelscreen.fetch import FetchError
from modelscreen.provenance import ProvenanceChecker, load_policy, open_inventory
from modelscreen.provenance.checks import apply_findings
from modelscreen.provenance.pipeline_checks import collect_evidence, evidence_findings

log = logging.getLogger("modelscreen.watch")


@dataclass(frozen=True)
class FileChange:
    path: Path
    mtime_ns: int
    size: int

    def event(self, root: Path) -> ArtifactEvent:
        """The upload event a store would send for this change."""
        # names that are not UTF-8 keep their bytes in the URI; the event's text shows them escaped
        name = str(self.path.relative_to(root)) if self.path.is_relative_to(root) else self.path.name
        return ArtifactEvent(
            action=Action.uploaded, store=StoreKind.local, store_name=printable_text(str(root)),
            uri=self.path.resolve().as_uri(), name=printable_text(name),
            size=self.size, time=datetime.fromtimestamp(self.mtime_ns / 1e9, timezone.utc),
            source_event_id=printable_text(f"{self.path}:{self.mtime_ns}:{self.size}"),
            raw_type="io.modelscreen.watch")


def changes(root: Path, store: SqliteStore, settle: float, pending: dict[Path, tuple[int, int, float]]) -> Iterator[FileChange]:
    """Files under root that are new or changed since last recorded, and have settled."""
    now = time.monotonic()
    for f in iter_files([root]):
        try:
            st = f.stat()
        except OSError:
            continue
        if not (stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode)):
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


class Processor:
    """What happens to one change: scan, provenance (SQLite inventory), findings to SQLite."""

    def __init__(self, root: Path, store: SqliteStore, *, limits: Limits | None = None, provenance: bool = True,
                 scanner: SandboxScanner | None = None):
        self.root = root.resolve()
        self.scanner = scanner  # None: the process's shared sandbox pool
        self.store = store
        self.limits = limits
        self.settings = Settings(fetch_file_roots=[self.root])
        self.checker = None
        if provenance:
            self.checker = ProvenanceChecker(open_inventory("sqlite", db=store.path),
                                             load_policy(self.settings.provenance_policy))

    def __call__(self, change: FileChange) -> ScanResult:
        event = change.event(self.root)
        checker = self.checker
        scanner = self.scanner or shared_scanner()
        inspect = None if checker is None else (  # a signature bundle is verified in a child of the same pool
            lambda result, path: collect_evidence(result, path, policy=checker.policy, settings=self.settings,
                                                  run=scanner.pool.run))
        try:
            result, evidence = scan_fetched(event, self.settings, limits=self.limits, inspect=inspect,
                                            scanner=scanner)
        except (FetchError, ScanFailed) as exc:  # gone, unreadable, or its sandboxed scan died: error, never clean
            result, evidence = failed(event, exc, attempts=1, ruleset_version=None), None
        if checker is not None and not result.error:
            # as the pipeline's scan stage: signature bundles and tensor drift, then inventory and policy
            extra = evidence_findings(result, evidence, inventory=checker.inventory, policy=checker.policy)
            result = checker.process(apply_findings(result, extra))
        self.store.record(result.reports, engine_version=ENGINE_VERSION, event_id=event.event_id,
                          action=event.action.value)
        self.store.mark_watched(str(change.path), change.mtime_ns, change.size, result.sha256)
        return result

    def record_failure(self, change: FileChange, exc: Exception) -> ScanResult:
        """An error verdict for a change that could not be processed, recorded so the next sweep moves on."""
        event = change.event(self.root)
        result = failed(event, f"{type(exc).__name__}: {exc}"[:500], attempts=1, ruleset_version=None)
        report = ArtifactReport(path=os.fspath(change.path), format=Format.unreadable, verdict=Verdict.error,
                                error=result.error)
        result = result.model_copy(update={"reports": [report]})
        try:
            self.store.record(result.reports, engine_version=ENGINE_VERSION, event_id=event.event_id,
                              action=event.action.value)
        finally:
            self.store.mark_watched(str(change.path), change.mtime_ns, change.size, None)
        return result


def watch(root: Path, store: SqliteStore, *, interval: float = 2.0, settle: float = 2.0, once: bool = False,
          limits: Limits | None = None, on_result: Callable[[FileChange, ScanResult], None] | None = None,
          should_stop: Callable[[], bool] = lambda: False, scanner: SandboxScanner | None = None) -> int:
    """Scan changes until stopped; with `once`, one sweep (settling ignored). Returns files scanned.
    Each file is scanned in a sandboxed child of `scanner` (default: the process's shared pool)."""
    pending: dict[Path, tuple[int, int, float]] = {}
    process = Processor(root, store, limits=limits, scanner=scanner)
    scanned = 0
    while True:
        for change in changes(root, store, 0.0 if once else settle, pending):
            try:
                result = process(change)
            except Exception as exc:  # noqa: BLE001 - record this file as an error and go on with the others
                log.exception("could not process %r", change.path)
                result = process.record_failure(change, exc)
            scanned += 1
            if on_result:
                on_result(change, result)
        if once or should_stop():
            return scanned
        time.sleep(interval)
