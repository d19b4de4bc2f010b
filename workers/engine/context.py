"""What an analyzer sees of the scan: where it is, its limits, and where findings go."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import BinaryIO, Callable

from modelscreen.schemas import ArtifactReport, Finding, Severity
from modelscreen.engine.catalog import check_severity, is_yara_id, lookup
from modelscreen.engine.limits import Budget, LimitExceeded, Limits

MAX_EVIDENCE = 160


def escape_evidence(data: bytes | str, limit: int = MAX_EVIDENCE) -> str:
    """Bounded, printable excerpt: non-printable bytes become \\xNN escapes."""
    if isinstance(data, str):
        data = data.encode("utf-8", "backslashreplace")
    clipped = data[:limit]
    text = clipped.decode("ascii", "backslashreplace")
    text = "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)
    if len(data) > limit:
        text += f"...(+{len(data) - limit} bytes)"
    return text


@dataclass
class ScanContext:
    """Passed to every analyzer. `path` is the display path (outer.zip!inner/data.pkl)."""

    path: str
    limits: Limits
    budget: Budget
    depth: int = 0
    name: str = ""
    size: int | None = None
    findings: list[Finding] = field(default_factory=list)
    members: list[ArtifactReport] = field(default_factory=list)
    dropped_findings: int = 0
    # set by the scanner: scans a nested artifact and returns its reports (itself first)
    member_scanner: Callable[..., list[ArtifactReport]] | None = None
    notes: dict = field(default_factory=dict)
    format: str = "unknown"  # as sniffed from the content; analyzers refine it in notes["format"]
    tensor_digests: bool = False  # asked for: per-tensor digests of a safetensors file (report.tensor_manifest)

    def add(
        self,
        rule_id: str,
        severity: Severity | str | None = None,
        title: str | None = None,
        detail: str = "",
        location: str | None = None,
        *,
        evidence: bytes | str | None = None,
        analyzer: str | None = None,
        remediation: str | None = None,
        references: list[str] | None = None,
        uncapped: bool = False,
    ) -> Finding | None:
        """Record a finding. `rule_id` must be declared in the rule catalog (or be a YARA rule's id), with
        one of its declared severities; severity and title default to the catalog's. An undeclared id
        raises UndeclaredRule, which the scanner turns into ENGINE-ERROR (fail closed). Past
        `max_findings` a finding is only counted, unless `uncapped` (the scanner's own summary findings)."""
        if is_yara_id(rule_id):  # declared by the YARA rule's validated metadata
            if severity is None or title is None:
                raise ValueError(f"YARA finding {rule_id} needs the rule's severity and title")
            severity = Severity(severity)
        else:
            rule = lookup(rule_id)
            severity = check_severity(rule, rule.severity if severity is None else Severity(severity))
            title = rule.title if title is None else title
        if len(self.findings) >= self.limits.max_findings and not uncapped:
            self.dropped_findings += 1
            return None
        f = Finding(
            rule_id=rule_id,
            severity=severity,
            title=title,
            detail=detail,
            location=location,
            evidence=escape_evidence(evidence) if evidence is not None else None,
            analyzer=analyzer,
            remediation=remediation,
            references=references or [],
        )
        self.findings.append(f)
        return f

    def check_time(self) -> None:
        self.budget.check_time()

    def limit_finding(self, exc: LimitExceeded, location: str | None = None) -> None:
        self.add(
            "LIMIT-EXCEEDED",
            Severity.medium,
            f"Scan limit {exc.limit} exceeded",
            f"{exc.detail}; the rest of this artifact was not analysed",
            location,
            analyzer="limits",
            remediation="Inspect the artifact by hand or raise the limit deliberately",
        )

    def scan_member(self, name: str, stream: BinaryIO, size: int | None = None) -> ArtifactReport | None:
        """Scan a nested artifact (archive member, decompressed payload) as its own artifact.

        Its reports are collected in `members`; the outer artifact takes the worst verdict.
        Returns the member's own report.
        """
        if self.member_scanner is None:
            raise RuntimeError("member scanning is not available in this context")
        if self.depth + 1 > self.limits.max_depth:
            self.add(
                "LIMIT-NESTING",
                Severity.medium,
                "Nesting too deep",
                f"member {name!r} is nested deeper than {self.limits.max_depth} levels and was not analysed",
                name,
                analyzer="limits",
            )
            return None
        reports = self.member_scanner(stream, f"{self.path}!{name}", name=name, size=size,
                                      depth=self.depth + 1, parent=self.path, budget=self.budget)
        self.members.extend(reports)
        return reports[0] if reports else None
