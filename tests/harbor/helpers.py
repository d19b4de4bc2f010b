"""Shared by the adapter tests: the JSON Schemas written from the spec, and package scans built from bytes."""
from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone
from functools import cache
from pathlib import Path

import jsonschema

from modelscreen.engine import ENGINE_VERSION, scan_bytes
from modelscreen.schemas.events import ArtifactType
from modelscreen.schemas.findings import Verdict
from modelscreen.engine.verdict import worst_verdict
from modelscreen.schemas.harbor import PackageFileScan, PackageScan

SCHEMAS = Path(__file__).parent / "schemas"
# protocol-0 pickle that would call os.system("touch ...") if loaded: built as bytes, never loaded
CANARY_PICKLE = b"cos\nsystem\n(S'touch /tmp/modelscreen-harbor-canary'\ntR."
_HEADER = b'{"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}'.ljust(64)
SAFETENSORS = len(_HEADER).to_bytes(8, "little") + _HEADER + bytes(16)


@cache
def schema(name: str) -> dict:
    return json.loads((SCHEMAS / f"harbor-{name}.schema.json").read_text())


def validate(doc: dict, name: str) -> None:
    jsonschema.validate(doc, schema(name), format_checker=jsonschema.FormatChecker())


def digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def package_scan(files: dict[str, bytes], *, family: str = "modelpack") -> PackageScan:
    scans = []
    for name, data in files.items():
        reports = scan_bytes(data, name)
        scans.append(PackageFileScan(name=name, digest=digest(data), size=len(data),
                                     media_type="application/vnd.cncf.model.weight.v1.raw", role="weight",
                                     verdict=worst_verdict(r.verdict for r in reports), reports=reports))
    return PackageScan(registry="http://registry.example:5000", repository="ml/model", digest=digest(b"manifest"),
                       tag="v1", mime_type="application/vnd.oci.image.manifest.v1+json",
                       artifact_type=ArtifactType.model_package, package_format=family,
                       verdict=worst_verdict(s.verdict for s in scans) if scans else Verdict.clean, files=scans,
                       engine_version=ENGINE_VERSION, scanned_at=datetime.now(timezone.utc))
