"""MIME types of Harbor's pluggable scanner API v1.2 and the proposed model-security report."""
from __future__ import annotations

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"  # Harbor requires it in every capability
MODEL_MANIFEST = "application/vnd.cncf.model.manifest.v1+json"

METADATA_1_1 = "application/vnd.scanner.adapter.metadata+json; version=1.1"
METADATA_1_0 = "application/vnd.scanner.adapter.metadata+json; version=1.0"
SCAN_REQUEST_1_0 = "application/vnd.scanner.adapter.scan.request+json; version=1.0"
SCAN_REQUEST_1_1 = "application/vnd.scanner.adapter.scan.request+json; version=1.1"
SCAN_RESPONSE = "application/vnd.scanner.adapter.scan.response+json; version=1.0"
ERROR = "application/vnd.scanner.adapter.error+json; version=1.0"

NATIVE_REPORT = "application/vnd.scanner.adapter.vuln.report.harbor+json; version=1.0"
GENERIC_REPORT = "application/vnd.security.vulnerability.report; version=1.1"
RAW_REPORT = "application/vnd.scanner.adapter.vuln.report.raw"
SBOM_REPORT = "application/vnd.security.sbom.report+json; version=1.0"
MODEL_REPORT = "application/vnd.security.model.report+json; version=1.0"
REPORT_TYPES = (NATIVE_REPORT, GENERIC_REPORT, RAW_REPORT, SBOM_REPORT, MODEL_REPORT)

CYCLONEDX = "application/vnd.cyclonedx+json"
SPDX = "application/spdx+json"
SBOM_MEDIA_TYPES = (CYCLONEDX, SPDX)


def normalise(mime: str) -> str:
    """`type/subtype; version=1.0` with the case and spacing Harbor uses, for comparison."""
    main, _, params = mime.partition(";")
    parts = [p.strip().replace(" ", "") for p in params.split(";") if p.strip()]
    return "; ".join([main.strip().lower(), *[p.lower() for p in parts]])


def accepted(header: str | None, offered: tuple[str, ...]) -> str | None:
    """The first type of the Accept header (in its order) that is offered; None when none is.
    A missing header or */* picks the first offered."""
    if not header or not header.strip():
        return offered[0]
    wanted = {normalise(o): o for o in offered}
    for item in _split_accept(header):
        name = normalise(item)
        base = name.split(";", 1)[0]
        if base in ("*/*", "application/*"):
            return offered[0]
        if name in wanted:
            return wanted[name]
        bare = [o for n, o in wanted.items() if n.split(";", 1)[0] == base]
        if bare and name == base:  # the type without parameters: the first version offered
            return bare[0]
    return None


def _split_accept(header: str) -> list[str]:
    """Accept items, keeping `version=` parameters and dropping `q=`."""
    out = []
    for item in header.split(","):
        params = [p.strip() for p in item.split(";")]
        out.append("; ".join([params[0], *[p for p in params[1:] if p and not p.lower().startswith("q=")]]))
    return [o for o in out if o]
