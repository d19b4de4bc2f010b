"""Scan reports: one per artifact, and the envelope the CLI prints."""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import SkipJsonSchema

from modelscreen.schemas.events import ArtifactType
from modelscreen.schemas.findings import Finding, Verdict
from modelscreen.schemas.inventory import TensorManifest

REPORT_VERSION = "1"


class ArtifactReport(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: str = Field(description="Path as scanned; archive members as outer.zip!inner/name")
    sha256: str | None = Field(default=None, description="Hex SHA-256 of the artifact's bytes (None if unreadable)")
    size: int | None = None
    format: str = Field(description="Format identified from the content")
    verdict: Verdict
    findings: list[Finding] = Field(default_factory=list)
    error: str | None = Field(default=None, description="Why the artifact could not be fully analysed")
    parent: str | None = Field(default=None, description="Path of the containing artifact, for archive members")
    duration_ms: float | None = None
    ruleset_version: str | None = Field(default=None, description="Version of the YARA ruleset applied, if any")
    artifact_type: ArtifactType | None = Field(
        default=None, description="For a file of an OCI artifact: model-package, container-image or unknown")
    # In-process only (never serialized): per-tensor digests of a safetensors file from the scan's own pass,
    # the drift baseline without reading the file again.
    tensor_manifest: SkipJsonSchema[TensorManifest | None] = Field(default=None, exclude=True)


class ScanReport(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: str = REPORT_VERSION
    engine_version: str | None = None
    artifacts: list[ArtifactReport] = Field(default_factory=list)
