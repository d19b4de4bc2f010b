"""Typed boundaries of modelscreen: pydantic models and their exported JSON Schema."""
from modelscreen.schemas.findings import Finding, Severity, Verdict
from modelscreen.schemas.report import ArtifactReport, ScanReport

__all__ = ["ArtifactReport", "Finding", "ScanReport", "Severity", "Verdict"]
