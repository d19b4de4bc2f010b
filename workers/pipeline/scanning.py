"""Fetch and scan the artifact an event names; compare with the digest the store announced."""
from __future__ import annotations

import tempfile
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import TypeVar

from modelscreen.schemas import ArtifactReport, Finding, Severity, Verdict
from modelscreen.schemas.events import Action, ArtifactEvent
from modelscreen.schemas.results import ScanResult
from modelscreen.engine import ENGINE_VERSION, Limits
from modelscreen.engine.verdict import verdict_for, worst_verdict
from modelscreen.fetch import FetchError, fetch_to_file
from modelscreen.fetch.errors import check_complete
from modelscreen.sandbox import SandboxError
from modelscreen.sandbox.scanning import SandboxScanner, failure_report, shared_scanner
from modelscreen.settings import Settings

T = TypeVar("T")


class ScanFailed(Exception):
    """The sandboxed scan did not return (crash, memory or time limit): `report` is the artifact's error
    report (ENGINE-CRASH / LIMIT-MEMORY / LIMIT-TIME). The pipeline retries it, then dead-letters it."""

    def __init__(self, report: ArtifactReport):
        super().__init__(report.error)
        self.report = report


def display_name(event: ArtifactEvent) -> str:
    """The file name a loader would see: last path segment of the name or URI."""
    base = (event.path or event.name or event.uri.split("?", 1)[0]).rstrip("/")
    return base.rsplit("/", 1)[-1].split("@", 1)[0]


def _digest_findings(event: ArtifactEvent, top: ArtifactReport) -> list[Finding]:
    out = []
    if event.expected_sha256 and top.sha256 and event.expected_sha256 != top.sha256:
        out.append(Finding(
            rule_id="ARTIFACT-DIGEST-MISMATCH", severity=Severity.critical,
            title="Bytes do not match the digest the store announced",
            detail=f"the store announced sha256 {event.expected_sha256}, the bytes fetched hash to {top.sha256}: "
                   "the artifact was changed after it was recorded, or in transit",
            analyzer="pipeline",
            remediation="Block the artifact and compare it with the copy the store recorded.",
        ))
    if event.size is not None and top.size is not None and event.size != top.size:
        out.append(Finding(
            rule_id="ARTIFACT-SIZE-MISMATCH", severity=Severity.high,
            title="Size does not match what the store announced",
            detail=f"the store announced {event.size} bytes, {top.size} were fetched",
            analyzer="pipeline",
        ))
    return out


def scan_event(event: ArtifactEvent, settings: Settings, *, limits: Limits | None = None,
               ruleset_version: str | None = None) -> ScanResult:
    """Fetch (bounded) and scan: what the bytes are, independent of what the event announced.

    Raises FetchError; parser failures become an error verdict, never clean.
    """
    return scan_fetched(event, settings, limits=limits, ruleset_version=ruleset_version)[0]


def scan_fetched(event: ArtifactEvent, settings: Settings, *, limits: Limits | None = None,
                 ruleset_version: str | None = None,
                 inspect: Callable[[ScanResult, Path], T] | None = None,
                 scanner: SandboxScanner | None = None) -> tuple[ScanResult, T | None]:
    """scan_event, and `inspect(result, local_path)` while the fetched copy still exists (not called when
    the scan failed). Returns the result and what `inspect` returned (None without it).
    The bytes are scanned in a sandboxed child of `scanner` (default: the process's); raises ScanFailed when
    that child crashed or ran over a limit."""
    with tempfile.TemporaryDirectory(prefix="modelscreen-fetch-") as tmp:
        path = fetch_artifact(event, settings, Path(tmp))
        return scan_local(event, path, limits=limits, ruleset_version=ruleset_version, inspect=inspect,
                          scanner=scanner)


def fetch_artifact(event: ArtifactEvent, settings: Settings, directory: Path) -> Path:
    """The artifact's bytes as a local file (in `directory`, or where a file:// URI points). Raises FetchError;
    a transfer that broke off (fewer bytes than the source or the store announced) is a transient one."""
    path = fetch_to_file(event.uri, directory / "artifact", settings)
    if not event.uri.startswith("file:"):  # a local file's size is what it is: a mismatch is a finding
        check_complete(path.stat().st_size, event.size, event.uri)
    return path


def scan_local(event: ArtifactEvent, path: Path, *, limits: Limits | None = None, ruleset_version: str | None = None,
               inspect: Callable[[ScanResult, Path], T] | None = None,
               scanner: SandboxScanner | None = None) -> tuple[ScanResult, T | None]:
    """Scan the fetched copy in a sandboxed child of `scanner` (default: the process's); `inspect` as in
    scan_fetched. Raises ScanFailed when that child crashed or ran over a limit."""
    try:
        reports = (scanner or shared_scanner()).scan_or_raise(
            path, event.uri, name=display_name(event), limits=limits, tensor_digests=inspect is not None)
    except SandboxError as exc:
        raise ScanFailed(failure_report(event.uri, exc, path.stat().st_size)) from None
    if event.artifact_type is not None:
        for report in reports:
            report.artifact_type = event.artifact_type
    top = reports[0]
    result = ScanResult(event=event, sha256=top.sha256, size=top.size, format=top.format, verdict=top.verdict,
                        reports=reports, engine_version=ENGINE_VERSION,
                        ruleset_version=top.ruleset_version or ruleset_version,
                        scanned_at=datetime.now(timezone.utc), error=top.error)
    extra = inspect(result, path) if inspect is not None and not result.error else None
    return result, extra


def check_announced(result: ScanResult) -> ScanResult:
    """Add the findings that depend on this event: bytes that differ from what the store announced."""
    if not result.reports:
        return result
    top = result.reports[0]
    extra = _digest_findings(result.event, top)
    if not extra:
        return result
    top = top.model_copy(update={"findings": [*top.findings, *extra]})
    top.verdict = worst_verdict([verdict_for(top.findings, top.error), top.verdict])
    return result.model_copy(update={"reports": [top, *result.reports[1:]], "verdict": top.verdict})


def from_cache(event: ArtifactEvent, cached: ScanResult) -> ScanResult:
    """The same bytes scanned before under the same engine and ruleset: reuse, with this event."""
    return cached.model_copy(update={"event": event, "cached": True, "scanned_at": datetime.now(timezone.utc)})


def failed(event: ArtifactEvent, error: FetchError | ScanFailed | str, *, attempts: int,
           ruleset_version: str | None, report: ArtifactReport | None = None) -> ScanResult:
    """The `error` result of an event that gave up; it carries the artifact's error `report` (a ScanFailed's
    own by default: ENGINE-CRASH / LIMIT-MEMORY / LIMIT-TIME with its finding)."""
    reason = error.reason if isinstance(error, FetchError) else str(error)
    if report is None and isinstance(error, ScanFailed):
        report = error.report
    reports = [report] if report is not None else []
    return ScanResult(event=event, sha256=event.expected_sha256, size=event.size, verdict=Verdict.error,
                      engine_version=ENGINE_VERSION, ruleset_version=ruleset_version, reports=reports,
                      format=reports[0].format if reports else None,
                      scanned_at=datetime.now(timezone.utc), error=reason, attempts=attempts)


def needs_scan(event: ArtifactEvent) -> bool:
    """Uploads and downloads; not a Nexus component event (it names no file: each of its assets arrives
    as an asset event of its own)."""
    return event.action in (Action.uploaded, Action.downloaded) and not event.uri.startswith("nexus-component://")


def cache_key(sha256: str, ruleset_version: str | None) -> str:
    return f"{sha256}:{ENGINE_VERSION}:{ruleset_version or '-'}"
