"""From findings to a verdict.

A finding whose rule is in NOT_ANALYSED says "this part could not be analysed" (corrupt, truncated,
encrypted, too deep, over a limit, a parser that gave up): the artifact's verdict is then `error`
unless something high or critical was found anyway. docs/formats.md lists these rules.
"""
from __future__ import annotations

from collections.abc import Iterable

from modelscreen.schemas import Finding, Severity, Verdict

NOT_ANALYSED: frozenset[str] = frozenset({
    # the engine and its limits
    "ENGINE-ERROR", "LIMIT-EXCEEDED", "LIMIT-NESTING",
    # compressed streams and archives
    "COMPRESSED-CORRUPT", "COMPRESSED-TRUNCATED", "COMPRESSED-UNKNOWN",
    "ZIP-MALFORMED", "ZIP-ENCRYPTED", "ZIP-UNSUPPORTED-COMPRESSION", "ZIP-NOT-ANALYSED", "ZIP-CORRUPT-MEMBER",
    "ZIP-UNREADABLE-ENTRY", "ZIP-LOCAL-HEADER-MISSING",
    "TAR-MALFORMED", "SEVENZIP-MALFORMED", "SEVENZIP-CORRUPT", "SEVENZIP-ENCRYPTED", "SEVENZIP-NOT-ANALYSED",
    # model formats
    "PICKLE-MALFORMED", "TORCH-LEGACY-MALFORMED", "ONNX-MALFORMED", "SAVEDMODEL-MALFORMED",
    "HDF5-MALFORMED", "HDF5-NOT-ANALYSED", "HDF5-ATTRIBUTE-TOO-LARGE", "TAR-HEADER-TOO-LARGE",
    "NUMPY-SIZE-MISMATCH", "NUMPY-HEADER-INVALID", "SAFETENSORS-HEADER-INVALID", "SAFETENSORS-HEADER-TOO-LARGE",
    "GGUF-TRUNCATED", "GGUF-BAD-VERSION", "KERAS-CONFIG-INVALID", "KERAS-CONFIG-TOO-LARGE",
    # code, configs and templates
    "CODE-SYNTAX-ERROR", "CODE-NOT-ANALYSED", "CONFIG-INVALID-YAML", "CONFIG-INVALID-JSON", "CONFIG-NOT-ANALYSED",
    "TEMPLATE-SYNTAX-ERROR", "TEMPLATE-TOO-COMPLEX", "TEMPLATE-TOO-LARGE",
})


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
