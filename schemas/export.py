"""Export the JSON Schema of every boundary model into schemas/json/."""
from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel

from modelscreen.schemas.behaviour import BehaviourBaseline, BehaviourEvaluation, EvaluationReport
from modelscreen.schemas.events import ArtifactEvent, DeadLetter, ModelscreenCloudEventData
from modelscreen.schemas.findings import Finding
from modelscreen.schemas.harbor import (
    ModelSecurityReport,
    PackageScan,
    SbomReport,
    ScanRequest,
    VulnerabilityReport,
)
from modelscreen.schemas.inventory import InventoryRecord, TensorManifest
from modelscreen.schemas.policy import ProvenancePolicy
from modelscreen.schemas.report import ArtifactReport, ScanReport
from modelscreen.schemas.results import ScanResult

MODELS: dict[str, type[BaseModel]] = {
    "finding": Finding,
    "artifact-report": ArtifactReport,
    "scan-report": ScanReport,
    "scan-result": ScanResult,
    "artifact-event": ArtifactEvent,
    "dead-letter": DeadLetter,
    "modelscreen-cloudevent-data": ModelscreenCloudEventData,
    "inventory-record": InventoryRecord,
    "tensor-manifest": TensorManifest,
    "provenance-policy": ProvenancePolicy,
    "behaviour-baseline": BehaviourBaseline,
    "behaviour-evaluation": BehaviourEvaluation,
    "evaluation-report": EvaluationReport,
    "harbor-scan-request": ScanRequest,
    "harbor-package-scan": PackageScan,
    "harbor-vulnerability-report": VulnerabilityReport,
    "harbor-sbom-report": SbomReport,
    "harbor-model-report": ModelSecurityReport,
}

SCHEMA_DIR = Path(__file__).parent / "json"


def render(model: type[BaseModel]) -> str:
    return json.dumps(model.model_json_schema(), indent=2, sort_keys=True) + "\n"


def export(directory: Path = SCHEMA_DIR) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, model in MODELS.items():
        path = directory / f"{name}.schema.json"
        path.write_text(render(model))
        written.append(path)
    return written


if __name__ == "__main__":
    for p in export():
        print(p)
