"""From findings to a verdict.

A finding whose catalog rule is flagged "not analysed" (catalog.NOT_ANALYSED: corrupt, truncated,
encrypted, too deep, over a limit, a parser that gave up) makes the artifact's verdict `error` unless
something high or critical was found anyway. docs/formats.md lists these rules.
"""
from __future__ import annotations

from collections.abc import Iterable

from modelscreen.schemas import Finding, Severity, Verdict
from modelscreen.engine.catalog import NOT_ANALYSED


def not_analysed(findings: Iterable[Finding]) -> list[Finding]:
    """The findings that say part of the artifact was not analysed."""
    return [f for f in findings if f.rule_id in NOT_ANALYSED]


def verdict_for(findings: Iterable[Finding], error: str | None = None) -> Verdict:
    findings = list(findings)
    worst = max((f.severity.rank for f in findings), default=-1)
    if worst >= Severity.high.rank:
        return Verdict.malicious
    if error or not_analysed(findings):
        return Verdict.error
    if worst == Severity.medium.rank:
        return Verdict.suspicious
    return Verdict.clean


def worst_verdict(verdicts: Iterable[Verdict]) -> Verdict:
    return max(verdicts, key=lambda v: v.rank, default=Verdict.clean)
