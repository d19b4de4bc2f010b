"""The evaluate stage without Kafka: which scan results it evaluates, what it indexes and records."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from modelscreen.evaluation.probes import load_suite
from modelscreen.evaluation.service import EvaluationOptions, make_baseline, sha256_file
from modelscreen.evaluation.stage import due, run_stage
from modelscreen.provenance.sqlite_inventory import SqliteInventory
from modelscreen.sandbox import SandboxLimits
from modelscreen.schemas import Verdict
from modelscreen.schemas.events import Action, ArtifactEvent, StoreKind
from modelscreen.schemas.inventory import ArtifactIdentity
from modelscreen.schemas.policy import ProvenancePolicy
from modelscreen.schemas.results import ScanResult
from modelscreen.sinks.ecs import finding_documents

pytest.importorskip("onnxruntime")


def scan_result(path, version, fmt="onnx", verdict=Verdict.clean):
    ev = ArtifactEvent(action=Action.uploaded, store=StoreKind.s3, store_name="models", uri=path.as_uri(),
                       name="team/clf", version=version, time=datetime(2026, 12, 1, tzinfo=timezone.utc),
                       source_event_id=f"src-{version}", raw_type="test", actor="bob")
    return ScanResult(event=ev, sha256=sha256_file(path), size=path.stat().st_size, format=fmt, verdict=verdict,
                      engine_version="test", scanned_at=datetime.now(timezone.utc))


@pytest.fixture()
def inventory(tmp_path, zoo):
    inv = SqliteInventory(tmp_path / "inv.sqlite")
    key = ArtifactIdentity(store="s3", store_name="models", name="team/clf", version="v1").baseline_key
    inv.put_baseline(make_baseline(key, zoo / "clean.onnx", load_suite(zoo / "probes.jsonl"), EvaluationOptions()))
    yield inv
    inv.close()


def test_only_new_onnx_versions_of_names_with_a_baseline_are_due(zoo, inventory):
    assert due(scan_result(zoo / "changed.onnx", "v2"), inventory) is not None
    assert due(scan_result(zoo / "clean.onnx", "v1"), inventory) is None  # the baseline's own bytes
    assert due(scan_result(zoo / "changed.onnx", "v2", fmt="safetensors"), inventory) is None
    assert due(scan_result(zoo / "changed.onnx", "v2", verdict=Verdict.malicious), inventory) is None
    other = scan_result(zoo / "changed.onnx", "v2").model_copy(deep=True)
    other.event.name = "team/other"
    assert due(other, inventory) is None


def test_drifted_version_is_indexed_as_ecs_and_recorded_once(zoo, inventory):
    result = scan_result(zoo / "changed.onnx", "v2")
    baseline = due(result, inventory)
    outcome = run_stage(result, zoo / "changed.onnx", baseline, ProvenancePolicy(), SandboxLimits())
    assert outcome.evaluation is not None and not outcome.evaluation.passed
    assert outcome.evaluation.findings == ["BEHAVIOUR-DRIFT"]
    docs = [d for _id, d in finding_documents(outcome.result, observer={"name": "t"})]
    assert [d["rule"]["id"] for d in docs] == ["BEHAVIOUR-DRIFT"]
    assert docs[0]["rule"]["category"] == "behaviour" and docs[0]["event"]["severity"] == 73
    assert docs[0]["modelscreen"]["artifact_verdict"] == "clean"  # the scan's verdict stays the artifact's
    identity = ArtifactIdentity(store="s3", store_name="models", name="team/clf", version="v2")
    inventory.set_behaviour(identity, result.sha256, outcome.evaluation)
    assert due(result, inventory) is None  # redelivery: already evaluated against this baseline


def test_what_cannot_be_evaluated_is_a_finding_never_a_pass(zoo, inventory, tmp_path):
    result = scan_result(zoo / "changed.onnx", "v2")
    baseline = due(result, inventory)
    outcome = run_stage(result, zoo / "clean.onnx", baseline, ProvenancePolicy(), SandboxLimits())  # other bytes
    assert outcome.evaluation is None
    (f,) = outcome.result.reports[0].findings
    assert f.rule_id == "BEHAVIOUR-EVALUATION-ERROR" and f.severity.value == "medium"
    assert "not the scanned bytes" in f.detail
    outcome = run_stage(result, zoo / "changed.onnx", baseline, ProvenancePolicy(),
                        SandboxLimits(wall_seconds=0.05))
    assert outcome.evaluation is None and "time limit" in outcome.result.reports[0].findings[0].detail
