"""The stable JSON report: {"version", "artifacts": [{"path", "sha256", "size", "format", "verdict", "findings"}]}."""
from __future__ import annotations

from collections.abc import Sequence

from modelscreen.schemas import ArtifactReport, ScanReport
from modelscreen.engine import ENGINE_VERSION


def render_json(reports: Sequence[ArtifactReport], *, color: bool = False) -> str:
    doc = ScanReport(engine_version=ENGINE_VERSION, artifacts=list(reports))
    return doc.model_dump_json(indent=2, exclude_none=False) + "\n"
