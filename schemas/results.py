"""What the scan stage publishes for one artifact event (topic scan-results)."""
from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from modelscreen.schemas.events import ArtifactEvent
from modelscreen.schemas.findings import Verdict
from modelscreen.schemas.report import ArtifactReport


class ScanResult(BaseModel):
    model_config = ConfigDict(extra="forbid")

    event: ArtifactEvent
    sha256: str | None = Field(default=None, description="SHA-256 of the bytes fetched (or the cached digest)")
    size: int | None = None
    format: str | None = None
    verdict: Verdict
    reports: list[ArtifactReport] = Field(default_factory=list,
                                          description="The artifact first, then its members")
    engine_version: str
    ruleset_version: str | None = None
    cached: bool = Field(default=False, description="Taken from an earlier scan of the same bytes")
    scanned_at: datetime
    error: str | None = Field(default=None, description="Why the artifact could not be fetched or analysed")
    attempts: int = 1
