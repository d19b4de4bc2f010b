"""Findings, severities and verdicts."""
from __future__ import annotations

from enum import Enum

from pydantic import BaseModel, ConfigDict, Field, model_validator

from modelscreen.schemas.text import ScannedText, raw_hex


class Severity(str, Enum):
    info = "info"
    low = "low"
    medium = "medium"
    high = "high"
    critical = "critical"

    @property
    def rank(self) -> int:
        return _SEVERITY_RANK[self]

    @property
    def ecs_severity(self) -> int:
        """Numeric ECS `event.severity` (21/47/73/99 for low..critical)."""
        return {"info": 0, "low": 21, "medium": 47, "high": 73, "critical": 99}[self.value]


_SEVERITY_RANK = {s: i for i, s in enumerate(Severity)}


class Verdict(str, Enum):
    clean = "clean"
    suspicious = "suspicious"
    malicious = "malicious"
    error = "error"

    @property
    def rank(self) -> int:
        # error outranks clean and suspicious: an unanalysed artifact is never shown as clean.
        return {"clean": 0, "suspicious": 1, "error": 2, "malicious": 3}[self.value]


class Finding(BaseModel):
    """One thing the engine noticed about one artifact.

    `rule_id`, `severity`, `title`, `detail` and `location` are the stable keys of the JSON report.
    """

    model_config = ConfigDict(extra="forbid")

    rule_id: str = Field(description="Stable identifier of the check or rule, e.g. PICKLE-DANGEROUS-CALL")
    severity: Severity
    title: ScannedText = Field(description="One line: what was found")
    detail: ScannedText = Field(default="", description="Why it matters and what exactly was seen")
    location: ScannedText | None = Field(default=None,
                                         description="Where inside the artifact: member, offset, tensor, ...")
    location_hex: str | None = Field(default=None, description="Hex of the location's original bytes, present "
                                     "only when they are not valid UTF-8 (location then shows \\uXXXX escapes)")
    evidence: ScannedText | None = Field(default=None,
                                         description="Bounded, escaped excerpt of the offending bytes or text")
    analyzer: str | None = Field(default=None, description="Which analyzer produced it")
    remediation: str | None = Field(default=None, description="What to do about it")
    references: list[str] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _keep_raw_location(cls, data):
        if isinstance(data, dict) and isinstance(data.get("location"), str) and not data.get("location_hex"):
            raw = raw_hex(data["location"])
            if raw:
                data = {**data, "location_hex": raw}
        return data
