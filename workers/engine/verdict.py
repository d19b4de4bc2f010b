"""From findings to a verdict."""
from __future__ import annotations

from collections.abc import Iterable

from modelscreen.schemas import Finding, Severity, Verdict


def verdict_for(findings: Iterable[Finding], error: str | None = None) -> Verdict:
    worst = max((f.severity.rank for f in findings), default=-1)
    if worst >= Severity.high.rank:
        return Verdict.malicious
    if error:
        return Verdict.error
    if worst == Severity.medium.rank:
        return Verdict.suspicious
    return Verdict.clean


def worst_verdict(verdicts: Iterable[Verdict]) -> Verdict:
    return max(verdicts, key=lambda v: v.rank, default=Verdict.clean)
