"""Scan reports: one per artifact, and the envelope the CLI prints."""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.json_schema import SkipJsonSchema

from modelscreen.schemas.events import ArtifactType, DeadLetter
from modelscreen.schemas.findings import Finding, Verdict
from modelscreen.schemas.inventory import TensorManifest
from modelscreen.schemas.text import ScannedText, raw_hex

REPORT_VERSION = "1"


class ArtifactReport(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: ScannedText = Field(description="Path as scanned; archive members as outer.zip!inner/name. Text that is "
                              "not valid UTF-8 shows as \\uXXXX escapes (see path_hex)")
    path_hex: str | None = Field(default=None, description="Hex of the path's original bytes, present only when "
                                 "they are not valid UTF-8 (file system bytes, or WTF-8 for other lone surrogates)")
    sha256: str | None = Field(default=None, description="Hex SHA-256 of the artifact's bytes (None if unreadable)")
    size: int | None = None
    format: ScannedText = Field(description="Format identified from the content (a Format name)")
    verdict: Verdict
    findings: list[Finding] = Field(default_factory=list)
    error: ScannedText | None = Field(default=None, description="Why the artifact could not be fully analysed")
    parent: ScannedText | None = Field(default=None,
                                       description="Path of the containing artifact, for archive members")
    duration_ms: float | None = None
    ruleset_version: str | None = Field(default=None, description="Version of the YARA ruleset applied, if any")
    artifact_type: ArtifactType | None = Field(
        default=None, description="For a file of an OCI artifact: model-package, container-image or unknown")
    # In-process only (never serialized): per-tensor digests of a safetensors file from the scan's own pass,
    # the drift baseline without reading the file again.
    tensor_manifest: SkipJsonSchema[TensorManifest | None] = Field(default=None, exclude=True)

    @model_validator(mode="before")
    @classmethod
    def _keep_raw_path(cls, data):
        if isinstance(data, dict) and isinstance(data.get("path"), str) and not data.get("path_hex"):
            raw = raw_hex(data["path"])
            if raw:
                data = {**data, "path_hex": raw}
        return data


class ScanReport(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: str = REPORT_VERSION
    engine_version: str | None = None
    artifacts: list[ArtifactReport] = Field(default_factory=list)


DeadLetter.model_rebuild(_types_namespace={"ArtifactReport": ArtifactReport})  # its `report` field
