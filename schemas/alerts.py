"""An alert: one finding at or above the alerting threshold, as sent to the alerts topic and webhooks."""
from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict

from modelscreen.schemas.findings import Severity, Verdict


class Alert(BaseModel):
    model_config = ConfigDict(extra="forbid")

    alert_id: str
    time: datetime
    message: str
    severity: Severity
    rule_id: str
    title: str
    detail: str = ""
    location: str | None = None
    remediation: str | None = None
    artifact_path: str
    artifact_uri: str
    sha256: str | None = None
    verdict: Verdict
    store: str
    action: str
    actor: str | None = None
    name: str | None = None
    version: str | None = None
    event_id: str
