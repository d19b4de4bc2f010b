"""Fixtures for provenance tests: an inventory in a temporary SQLite file, scan results to feed it."""
from __future__ import annotations

import hashlib
import uuid
from datetime import datetime, timedelta, timezone

import pytest

from modelscreen.schemas import ArtifactReport, Finding, Severity, Verdict
from modelscreen.schemas.events import ArtifactEvent
from modelscreen.schemas.results import ScanResult
from modelscreen.provenance.sqlite_inventory import SqliteInventory

T0 = datetime(2026, 11, 26, 10, 0, tzinfo=timezone.utc)


def sha(data: bytes | str) -> str:
    return hashlib.sha256(data.encode() if isinstance(data, str) else data).hexdigest()


def make_result(*, action: str = "uploaded", content: bytes = b"weights", name: str | None = "org/model.safetensors",
                version: str | None = "v1", store: str = "s3", store_name: str | None = "models",
                actor: str = "alice", verdict: Verdict = Verdict.clean, fmt: str = "safetensors",
                findings: list[Finding] | None = None, members: list[tuple[str, str]] | None = None,
                minutes: int = 0, uri: str | None = None) -> ScanResult:
    digest = sha(content)
    when = T0 + timedelta(minutes=minutes)
    uri = uri or f"s3://{store_name or 'bucket'}/{name or 'blob'}"
    event = ArtifactEvent(action=action, store=store, store_name=store_name, uri=uri, name=name, version=version,
                          actor=actor, time=when, source_event_id=uuid.uuid4().hex, raw_type="test")
    reports = [ArtifactReport(path=uri, sha256=digest, size=len(content), format=fmt, verdict=verdict,
                              findings=findings or [])]
    for path, member_fmt in members or []:
        reports.append(ArtifactReport(path=f"{uri}!{path}", sha256=sha(path), size=1, format=member_fmt,
                                      verdict=Verdict.clean, parent=uri))
    return ScanResult(event=event, sha256=digest, size=len(content), format=fmt, verdict=verdict, reports=reports,
                      engine_version="test", scanned_at=when)


def malicious_finding() -> Finding:
    return Finding(rule_id="PICKLE-DANGEROUS-CALL", severity=Severity.critical, title="os.system call",
                   analyzer="pickle")


@pytest.fixture
def inventory(tmp_path):
    inv = SqliteInventory(tmp_path / "findings.db")
    yield inv
    inv.close()
