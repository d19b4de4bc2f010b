"""A PackageScan rendered as each report type Harbor (or the model-security proposal) asks for.

Vulnerability reports (Harbor's native 1.0 and generic 1.1 share one shape): one entry per finding, so
Harbor lists and ranks them: id = rule id, package = the file inside the artifact (`file!member` for
archive members), version = the file's digest, severity mapped onto Harbor's scale, description with
the detail and remediation (the spec has no remediation field; vendor_attributes carries it too).
A file or artifact that could not be analysed is an entry of its own (MODELSCREEN-ANALYSIS-ERROR, Medium
or above): never an empty, clean-looking report.

SBOM: the CycloneDX ML-BOM (modelscreen.provenance.bom) with one model component per file; or, for
Harbor releases that only ask for SPDX, an SPDX 2.3 document listing the same files with their digests.
"""
from __future__ import annotations

import hashlib
import uuid
from datetime import timezone
from typing import Any

from modelscreen import __version__
from modelscreen.provenance.bom import build_bom
from modelscreen.schemas import Finding, Severity
from modelscreen.schemas.harbor import (
    HarborSeverity,
    ModelFileSummary,
    ModelFinding,
    ModelSecurityReport,
    PackageScan,
    ReportArtifact,
    SbomReport,
    ScannerInfo,
    VulnerabilityItem,
    VulnerabilityReport,
)
from modelscreen.schemas.inventory import InventoryRecord
from modelscreen.harbor import media

SCANNER = ScannerInfo(name="modelscreen", vendor="modelscreen", version=__version__)
ERROR_RULE = "MODELSCREEN-ANALYSIS-ERROR"
SEVERITY = {Severity.info: HarborSeverity.negligible, Severity.low: HarborSeverity.low,
            Severity.medium: HarborSeverity.medium, Severity.high: HarborSeverity.high,
            Severity.critical: HarborSeverity.critical}
_RANK = {s: i for i, s in enumerate(HarborSeverity)}
MAX_DESCRIPTION = 4096


def _artifact(scan: PackageScan) -> ReportArtifact:
    return ReportArtifact(repository=scan.repository, digest=scan.digest, tag=scan.tag, mime_type=scan.mime_type)


def _highest(severities) -> HarborSeverity:
    return max(severities, key=_RANK.__getitem__, default=HarborSeverity.unknown)


def _error(where: str, reason: str) -> Finding:
    return Finding(rule_id=ERROR_RULE, severity=Severity.medium, title="Could not be analysed",
                   detail=f"{where}: {reason}", analyzer="harbor-adapter",
                   remediation="Treat as unscanned: do not allow it until it scans cleanly.")


def findings(scan: PackageScan) -> list[tuple[str, str, Finding]]:
    """(file path as reported, file digest, finding) for every finding, analysis errors included."""
    out: list[tuple[str, str, Finding]] = []
    if scan.error:
        out.append((scan.repository, scan.digest, _error(f"{scan.repository}@{scan.digest}", scan.error)))
    for f in scan.files:
        if not f.reports:
            out.append((f.name, f.digest, _error(f.name, f.error or "not scanned")))
        for r in f.reports:
            digest = f"sha256:{r.sha256}" if r.sha256 else f.digest
            out.extend((r.path, digest, finding) for finding in r.findings)
            if r.error:
                out.append((r.path, digest, _error(r.path, r.error)))
    return out


def _description(f: Finding) -> str:
    parts = [f.title, f.detail, f"Location: {f.location}" if f.location else "",
             f"Remediation: {f.remediation}" if f.remediation else ""]
    return "\n\n".join(p for p in parts if p)[:MAX_DESCRIPTION]


def vulnerability_report(scan: PackageScan) -> VulnerabilityReport:
    items = []
    for path, digest, f in findings(scan):
        items.append(VulnerabilityItem(
            id=f.rule_id, package=path, version=digest, severity=SEVERITY[f.severity], description=_description(f),
            links=[ref for ref in f.references if ref.startswith(("https://", "http://"))],
            vendor_attributes={k: v for k, v in {
                "title": f.title, "analyzer": f.analyzer, "location": f.location, "evidence": f.evidence,
                "remediation": f.remediation, "artifact_type": scan.artifact_type.value,
                "package_format": scan.package_format}.items() if v}))
    severity = _highest(i.severity for i in items)
    return VulnerabilityReport(generated_at=scan.scanned_at, artifact=_artifact(scan), scanner=SCANNER,
                               severity=severity, vulnerabilities=items)


def _records(scan: PackageScan) -> list[InventoryRecord]:
    records = []
    for f in scan.files:
        top = f.reports[0] if f.reports else None
        identity = f"harbor/{scan.repository}@{scan.digest}#{f.name}"
        records.append(InventoryRecord(
            id=hashlib.sha256(identity.encode()).hexdigest()[:32], identity=identity, store="harbor",
            model_key=f"harbor/{scan.repository}", name=scan.repository, version=scan.tag or scan.digest, path=f.name,
            uri=f"{scan.registry.rstrip('/')}/v2/{scan.repository}/blobs/{f.digest}",
            sha256=(top.sha256 if top and top.sha256 else f.digest.split(":", 1)[1]),
            format=top.format if top else None, verdict=f.verdict,
            digests={"oci-manifest": scan.digest}))
    return records


def cyclonedx(scan: PackageScan) -> dict[str, Any]:
    serial = str(uuid.uuid5(uuid.NAMESPACE_URL, f"modelscreen:{scan.repository}@{scan.digest}:{scan.scanned_at}"))
    return build_bom(_records(scan), serial_number=serial)


def spdx(scan: PackageScan) -> dict[str, Any]:
    """SPDX 2.3 JSON: one package per file, its SHA-256, and what the scan said of it."""
    created = scan.scanned_at.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    packages = []
    for i, f in enumerate(scan.files):
        top = f.reports[0] if f.reports else None
        sha = top.sha256 if top and top.sha256 else f.digest.split(":", 1)[1]
        packages.append({
            "SPDXID": f"SPDXRef-File-{i}", "name": f.name, "downloadLocation": "NOASSERTION",
            "filesAnalyzed": False, "primaryPackagePurpose": "FILE",
            "checksums": [{"algorithm": "SHA256", "checksumValue": sha}],
            "comment": f"{f.role} layer {f.media_type}; modelscreen verdict: {f.verdict.value}"})
    return {
        "spdxVersion": "SPDX-2.3", "dataLicense": "CC0-1.0", "SPDXID": "SPDXRef-DOCUMENT",
        "name": f"{scan.repository}@{scan.digest}",
        "documentNamespace": f"https://modelscreen.invalid/spdx/{scan.repository}/{scan.digest}",
        "creationInfo": {"created": created, "creators": [f"Tool: modelscreen-{__version__}"]},
        "packages": packages,
        "relationships": [{"spdxElementId": "SPDXRef-DOCUMENT", "relationshipType": "DESCRIBES",
                           "relatedSpdxElement": p["SPDXID"]} for p in packages],
    }


def sbom_report(scan: PackageScan, media_type: str) -> SbomReport:
    document = spdx(scan) if media_type == media.SPDX else cyclonedx(scan)
    return SbomReport(generated_at=scan.scanned_at, artifact=_artifact(scan), scanner=SCANNER,
                      vendor_attributes={"artifact_type": scan.artifact_type.value,
                                         "package_format": scan.package_format, "verdict": scan.verdict.value},
                      media_type=media_type, sbom=document)


def model_report(scan: PackageScan) -> ModelSecurityReport:
    listed = findings(scan)
    items = [ModelFinding(id=f.rule_id, file=path, severity=SEVERITY[f.severity], title=f.title,
                          description=f.detail, location=f.location, remediation=f.remediation,
                          analyzer=f.analyzer) for path, _digest, f in listed]
    summary = {s.value: 0 for s in HarborSeverity}
    for item in items:
        summary[item.severity.value] += 1
    files = [ModelFileSummary(name=f.name, digest=f.digest, media_type=f.media_type, role=f.role,
                              format=f.reports[0].format if f.reports else None, verdict=f.verdict,
                              findings=sum(len(r.findings) for r in f.reports))
             for f in scan.files]
    return ModelSecurityReport(generated_at=scan.scanned_at, artifact=_artifact(scan), scanner=SCANNER,
                               artifact_type=scan.artifact_type, package_format=scan.package_format,
                               verdict=scan.verdict, severity=_highest(i.severity for i in items),
                               summary=summary, files=files, findings=items, signature=scan.signature,
                               error=scan.error)


def render(scan: PackageScan, mime_type: str, *, sbom_media_type: str | None = None) -> str:
    """The report body for one of media.REPORT_TYPES."""
    if mime_type in (media.NATIVE_REPORT, media.GENERIC_REPORT):
        return vulnerability_report(scan).model_dump_json(exclude_none=True)
    if mime_type == media.SBOM_REPORT:
        return sbom_report(scan, sbom_media_type or media.CYCLONEDX).model_dump_json(exclude_none=True)
    if mime_type == media.MODEL_REPORT:
        return model_report(scan).model_dump_json(exclude_none=True)
    if mime_type == media.RAW_REPORT:
        return scan.model_dump_json()
    raise ValueError(f"not a report type: {mime_type}")
