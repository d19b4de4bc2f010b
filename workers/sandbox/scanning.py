"""Scans in the sandbox: every top-level artifact is scanned by `scan_stream` in a pool child (its archive
members stay in that child); a child that crashes, runs out of memory or over time gives that artifact an
`error` report with ENGINE-CRASH / LIMIT-MEMORY / LIMIT-TIME, and no other artifact is affected."""
from __future__ import annotations

import atexit
import math
import os
import stat
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from modelscreen.schemas import ArtifactReport, Finding, Severity, Verdict
from modelscreen.engine import Limits
from modelscreen.engine.scanner import scan_path, scan_stream
from modelscreen.engine.yara.loader import (
    Ruleset,
    configure_default_ruleset,
    default_source,
    ruleset_from_bundle,
    set_default_ruleset,
    swapped_ruleset,
)
from modelscreen.schemas.rules import RuleBundle
from modelscreen.sandbox.limits import SandboxLimits
from modelscreen.sandbox.pool import SandboxPool
from modelscreen.sandbox.runner import SandboxCrash, SandboxError, SandboxMemoryExceeded, SandboxTimeout

GRACE_SECONDS = 30.0  # beyond the engine's own time budget before the child is killed
WINDOW_PER_JOB = 32  # files in flight per child in scan_files (their reports wait to be yielded in order)


def sandbox_limits_for(limits: Limits | None, base: SandboxLimits | None = None) -> SandboxLimits:
    """The child's limits for scans under the engine's `limits`: the engine's own time budget (a finding with
    partial results) comes first; CPU and wall-clock limits are the backstop for what Python cannot stop."""
    limits = limits or Limits()
    base = base or SandboxLimits()
    budget = limits.max_seconds + GRACE_SECONDS
    return base.model_copy(update={"cpu_seconds": max(base.cpu_seconds, math.ceil(budget)),
                                   "wall_seconds": max(base.wall_seconds, budget)})


def failure_finding(exc: SandboxError) -> Finding:
    """ENGINE-CRASH, LIMIT-MEMORY or LIMIT-TIME (declared in engine/catalog.py) for a child that did not return."""
    if isinstance(exc, SandboxMemoryExceeded):
        return _finding("LIMIT-MEMORY", "Scanning this artifact exceeded the memory limit", exc)
    if isinstance(exc, SandboxTimeout):
        return _finding("LIMIT-TIME", "Scanning this artifact exceeded the time limit", exc)
    if isinstance(exc, SandboxCrash):
        return _finding("ENGINE-CRASH", "The scanner process crashed on this artifact", exc)
    return Finding(rule_id="ENGINE-ERROR", severity=Severity.info, title="Analysis failed", detail=str(exc),
                   analyzer="sandbox")


def _finding(rule: str, title: str, exc: SandboxError) -> Finding:
    return Finding(rule_id=rule, severity=Severity.medium, title=title,
                   detail=f"{exc}; the artifact was not analysed (a crafted file can do this on purpose)",
                   analyzer="sandbox",
                   remediation="Do not load the artifact; inspect it by hand or in an isolated environment")


def failure_report(path: str, exc: SandboxError, size: int | None = None) -> ArtifactReport:
    """The `error` report of an artifact whose sandboxed scan did not return."""
    finding = failure_finding(exc)
    return ArtifactReport(path=path, size=size, format="unknown", verdict=Verdict.error, findings=[finding],
                          error=f"{finding.rule_id}: {exc}"[:500])


# A published rule bundle swapped in by the parent (a hot reload) reaches the children with their tasks:
# (version, engine, bundle JSON), compiled once per child and version.
SwappedRules = tuple[str, str, str]
_child_rules_version: str | None = None


def _use_swapped_rules(rules: SwappedRules | None) -> None:
    global _child_rules_version
    if rules is None or rules[0] == _child_rules_version:
        return
    version, engine, bundle_json = rules
    set_default_ruleset(ruleset_from_bundle(RuleBundle.model_validate_json(bundle_json), engine))
    _child_rules_version = version


def scan_file(path: str, display: str | None = None, name: str | None = None, limits: Limits | None = None,
              tensor_digests: bool = False, rules: SwappedRules | None = None) -> list[ArtifactReport]:
    """In the child: scan one local file (the path is opened there, so no byte is read by the parent)."""
    _use_swapped_rules(rules)
    if display is None:
        return scan_path(path, limits=limits)
    st = os.stat(path)
    if not stat.S_ISREG(st.st_mode):
        raise OSError(f"not a regular file: {display}")
    with open(path, "rb", buffering=0) as fh:
        return scan_stream(fh, display, name=name, size=st.st_size, limits=limits, tensor_digests=tensor_digests)


def _child_setup(ruleset_source: tuple, initializer: Callable | None, initargs: tuple) -> None:
    """In each child: the rule library the parent was configured with, then the caller's initializer."""
    configure_default_ruleset(*ruleset_source)
    if initializer is not None:
        initializer(*initargs)


def _size(path: str | os.PathLike) -> int | None:
    try:
        return os.stat(path).st_size
    except OSError:
        return None


class SandboxScanner:
    """Scans files in a pool of sandboxed children (`jobs`, default: one per core) under `sandbox`
    (default: `sandbox_limits_for(limits)`). Children use the default rule library configured in this
    process when the scanner is made; `initializer(*initargs)` runs in each child before its first scan."""

    def __init__(self, jobs: int | None = None, limits: Limits | None = None, *,
                 sandbox: SandboxLimits | None = None, initializer: Callable | None = None, initargs: tuple = ()):
        self.limits = limits
        self._swapped: tuple[Ruleset, SwappedRules] | None = None
        self.pool = SandboxPool(jobs, sandbox or sandbox_limits_for(limits), initializer=_child_setup,
                                initargs=(default_source(), initializer, initargs))

    @property
    def jobs(self) -> int:
        return self.pool.size

    def scan_or_raise(self, path: str | os.PathLike, display: str | None = None, *, name: str | None = None,
                      limits: Limits | None = None, tensor_digests: bool = False) -> list[ArtifactReport]:
        """Reports for one file (`display`: the path reports show), or the SandboxError that stopped its child."""
        return self.pool.run(scan_file, str(path), display, name, limits or self.limits, tensor_digests,
                             self._swapped_rules())

    def _swapped_rules(self) -> SwappedRules | None:
        """The parent's hot-reloaded ruleset, serialised once per version, for the children."""
        ruleset = swapped_ruleset()
        if ruleset is None:
            return None
        cached = self._swapped
        if cached is None or cached[0] is not ruleset:
            cached = (ruleset, (ruleset.version, ruleset.engine_name, ruleset.bundle().model_dump_json()))
            self._swapped = cached
        return cached[1]

    def scan(self, path: str | os.PathLike, display: str | None = None, *, name: str | None = None,
             limits: Limits | None = None, tensor_digests: bool = False) -> list[ArtifactReport]:
        """Reports for one file; a failed child is this file's `error` report."""
        try:
            return self.scan_or_raise(path, display, name=name, limits=limits, tensor_digests=tensor_digests)
        except SandboxError as exc:
            return [failure_report(display or str(path), exc, _size(path))]

    def scan_files(self, files: Iterable[Path], progress: Callable[[Path, int], None] | None = None
                   ) -> Iterator[ArtifactReport]:
        """Reports of every file, in the order of `files` (the same order and content whatever `jobs` is);
        a bounded window of files is in flight, wide enough that one slow file at its head leaves no child idle."""
        window: deque[tuple[Path, Future]] = deque()
        with ThreadPoolExecutor(self.jobs, thread_name_prefix="sandbox-scan") as threads:
            for f in files:
                window.append((f, threads.submit(self.scan, f)))
                if len(window) >= WINDOW_PER_JOB * self.jobs:
                    yield from self._done(window.popleft(), progress)
            while window:
                yield from self._done(window.popleft(), progress)

    @staticmethod
    def _done(item: tuple[Path, Future], progress) -> list[ArtifactReport]:
        f, fut = item
        reports = fut.result()
        if progress:
            progress(f, reports[0].size or 0)
        return reports

    def close(self) -> None:
        self.pool.close()

    def __enter__(self) -> SandboxScanner:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


_shared: SandboxScanner | None = None
_shared_lock = threading.Lock()


def shared_scanner() -> SandboxScanner:
    """The process's scanner for the pipeline and the embedded mode (one child per core, default limits),
    started on first use and stopped at exit."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = SandboxScanner()
            atexit.register(_shared.close)
        return _shared


def scan_paths_sandboxed(files: Iterable[Path], *, jobs: int | None = None, limits: Limits | None = None,
                         progress: Callable[[Path, int], None] | None = None) -> list[ArtifactReport]:
    """`modelscreen scan`: every file in a sandboxed child, `jobs` side by side, reports in file order."""
    with SandboxScanner(jobs, limits) as scanner:
        return list(scanner.scan_files(files, progress))
