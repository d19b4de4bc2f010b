"""Harbor's pluggable scanner API (spec v1.2): the scan request Harbor sends, the reports the adapter
answers with, and the adapter's own raw report of a scanned OCI artifact (PackageScan).

Field names follow the spec (snake_case, as Harbor's Go client marshals them). Requests accept unknown
fields (Harbor adds fields across versions); what the adapter writes is strict.
"""
from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from modelscreen.schemas.events import ArtifactType
from modelscreen.schemas.findings import Verdict
from modelscreen.schemas.report import ArtifactReport

DIGEST_PATTERN = r"^sha256:[0-9a-f]{64}$"


class HarborRegistry(BaseModel):
    model_config = ConfigDict(extra="ignore")

    url: str = Field(min_length=1, max_length=2048, description="Base URL of the registry's v2 API")
    authorization: str | None = Field(default=None, max_length=8192,
                                      description="Authorization header value to pull with (Basic or Bearer)")


class HarborArtifact(BaseModel):
    model_config = ConfigDict(extra="ignore")

    repository: str = Field(min_length=1, max_length=1024)
    digest: str = Field(pattern=DIGEST_PATTERN)
    tag: str | None = Field(default=None, max_length=1024)
    mime_type: str | None = Field(default=None, max_length=256)


class EnabledCapability(BaseModel):
    model_config = ConfigDict(extra="ignore")

    type: str = Field(max_length=64)
    produces_mime_types: list[str] | None = None
    parameters: dict[str, Any] | None = None


class ScanRequest(BaseModel):
    """POST /api/v1/scan."""

    model_config = ConfigDict(extra="ignore")

    registry: HarborRegistry
    artifact: HarborArtifact
    enabled_capabilities: list[EnabledCapability] | None = None


class HarborSeverity(str, Enum):
    unknown = "Unknown"
    negligible = "Negligible"
    low = "Low"
    medium = "Medium"
    high = "High"
    critical = "Critical"


class ScannerInfo(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    vendor: str
    version: str


class ReportArtifact(BaseModel):
    model_config = ConfigDict(extra="forbid")

    repository: str
    digest: str
    tag: str | None = None
    mime_type: str | None = None


class VulnerabilityItem(BaseModel):
    """One finding, as Harbor lists and ranks vulnerabilities: id = rule id, package = the file."""

    model_config = ConfigDict(extra="forbid")

    id: str
    package: str = Field(description="The file inside the artifact (archive members as file!member)")
    version: str = Field(description="The file's digest (sha256:...), or the layer's when it was not read")
    fix_version: str = ""
    severity: HarborSeverity
    description: str
    links: list[str] = Field(default_factory=list)
    vendor_attributes: dict[str, Any] = Field(default_factory=dict)


class VulnerabilityReport(BaseModel):
    """application/vnd.scanner.adapter.vuln.report.harbor+json; version=1.0 and
    application/vnd.security.vulnerability.report; version=1.1."""

    model_config = ConfigDict(extra="forbid")

    generated_at: datetime
    artifact: ReportArtifact
    scanner: ScannerInfo
    severity: HarborSeverity
    vulnerabilities: list[VulnerabilityItem]


class SbomReport(BaseModel):
    """application/vnd.security.sbom.report+json; version=1.0."""

    model_config = ConfigDict(extra="forbid")

    generated_at: datetime
    artifact: ReportArtifact
    scanner: ScannerInfo
    vendor_attributes: dict[str, Any] = Field(default_factory=dict)
    media_type: str
    sbom: dict[str, Any]


class PackageFileScan(BaseModel):
    """One file of the artifact (a layer, or a KitOps Kitfile) and what the engine found in it."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="The file name the package gives the layer")
    digest: str = Field(description="Layer digest (sha256:...)")
    size: int | None = None
    media_type: str
    role: str = Field(description="weight, weight.config, doc, code, dataset, template, params, license, config, layer")
    verdict: Verdict
    reports: list[ArtifactReport] = Field(default_factory=list, description="The file first, then its members")
    error: str | None = None


class PackageScan(BaseModel):
    """The adapter's raw report (application/vnd.scanner.adapter.vuln.report.raw): everything known about one
    scanned OCI artifact."""

    model_config = ConfigDict(extra="forbid")

    registry: str = Field(description="Registry base URL as Harbor gave it")
    repository: str
    digest: str = Field(description="Manifest digest")
    tag: str | None = None
    mime_type: str | None = Field(default=None, description="Manifest media type")
    artifact_type: ArtifactType
    package_format: str | None = Field(default=None, description="modelpack, kitops, docker-model or ollama")
    verdict: Verdict
    files: list[PackageFileScan] = Field(default_factory=list)
    signature: dict[str, Any] | None = Field(
        default=None, description="A model.sig in the package, verified against the reassembled file set")
    error: str | None = Field(default=None, description="Why the artifact could not be fetched or analysed")
    engine_version: str
    ruleset_version: str | None = None
    scanned_at: datetime


class ModelFileSummary(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    digest: str
    media_type: str
    role: str
    format: str | None = None
    verdict: Verdict
    findings: int


class ModelFinding(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    file: str
    severity: HarborSeverity
    title: str
    description: str = ""
    location: str | None = None
    remediation: str | None = None
    analyzer: str | None = None


class ModelSecurityReport(BaseModel):
    """application/vnd.security.model.report+json; version=1.0 (Harbor's proposed model-security scan type,
    not merged upstream: this is modelscreen's reading of it)."""

    model_config = ConfigDict(extra="forbid")

    generated_at: datetime
    artifact: ReportArtifact
    scanner: ScannerInfo
    artifact_type: ArtifactType
    package_format: str | None = None
    verdict: Verdict
    severity: HarborSeverity
    summary: dict[str, int] = Field(description="Findings per Harbor severity")
    files: list[ModelFileSummary]
    findings: list[ModelFinding]
    signature: dict[str, Any] | None = None
    error: str | None = None
