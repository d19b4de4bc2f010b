"""The evaluate stage on the real Kafka and Elasticsearch: a new ONNX version of a name with a behaviour
baseline is evaluated by its own consumer group, and the drift is a finding next to the scan's."""
from __future__ import annotations

import json
import shutil

import pytest

from modelscreen.evaluation.probes import load_suite
from modelscreen.evaluation.service import EvaluationOptions, make_baseline, sha256_file
from modelscreen.provenance.es_inventory import ElasticsearchInventory
from modelscreen.schemas.inventory import ArtifactIdentity
from tests.evaluation import models as m
from tests.integration.harness import file_store_pipeline, upload_event

pytestmark = pytest.mark.integration
pytest.importorskip("onnxruntime")


@pytest.fixture
def pipeline(kafka_bootstrap, elasticsearch_url, tmp_path):
    with file_store_pipeline(kafka_bootstrap, elasticsearch_url, tmp_path) as p:
        yield p


def test_new_version_drifting_from_its_baseline_is_a_finding(pipeline, tmp_path):
    models = tmp_path / "models"
    models.mkdir()
    m.mlp_onnx(m.train_clean(), models / "clean.onnx")
    m.mlp_onnx(m.train_changed(), models / "changed.onnx")
    suite = load_suite(m.vector_probes(models / "probes.jsonl"))
    inv = ElasticsearchInventory(pipeline.es, pipeline.env["MODELSCREEN_INVENTORY_INDEX"], refresh_on_write=True)
    ident = ArtifactIdentity(store="local", store_name="/tests", name="clf.onnx", version="v2")
    inv.put_baseline(make_baseline(ident.baseline_key, models / "clean.onnx", suite, EvaluationOptions()))

    target = pipeline.store / "clf.onnx"
    shutil.copyfile(models / "changed.onnx", target)
    changed = sha256_file(target)
    pipeline.start_worker()
    pipeline.start_worker("--stage", "evaluate", MODELSCREEN_EVALUATE_ENABLED="1")
    pipeline.send([upload_event(target, event_id="v2-upload", version="v2")])

    docs = pipeline.wait_for(lambda: [d for d in pipeline.findings_docs() if d["rule"]["id"] == "BEHAVIOUR-DRIFT"],
                             timeout=240)
    assert docs and len(docs) == 1, [p.read_bytes()[-3000:] for p in tmp_path.glob("worker-*.log")]
    d = docs[0]
    assert d["file"]["hash"]["sha256"] == changed and d["event"]["severity"] == 73
    assert d["rule"]["category"] == "behaviour" and "model bytes changed" in d["rule"]["description"]
    recorded = pipeline.wait_for(lambda: [r for r in inv.find(ident, changed) if r.behaviour], timeout=60)
    assert recorded and recorded[0].behaviour.passed is False
    assert recorded[0].behaviour.findings == ["BEHAVIOUR-DRIFT"]
    assert pipeline.read("evaluations", expect=1)

    # scan-results is a topic others may write to: what no scan stage wrote is dead-lettered with the reason
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=pipeline.kafka, acks="all")
    producer.send(pipeline.topic("scan-results"), key=b"k", value=b'{"not": "a scan result"}').get(30)
    producer.close()
    letters = [json.loads(m.value) for m in pipeline.read("dead-letter", expect=1, timeout=60)]
    assert [(d["stage"], d["reason"].startswith("invalid scan result")) for d in letters] == [("evaluate", True)]


def test_cli_keeps_baselines_in_the_elasticsearch_inventory(pipeline, tmp_path):
    models = tmp_path / "models"
    models.mkdir()
    m.mlp_onnx(m.train_clean(), models / "clean.onnx")
    m.mlp_onnx(m.train_changed(), models / "changed.onnx")
    m.vector_probes(models / "probes.jsonl")
    es = ["--backend", "elasticsearch", "--index", pipeline.env["MODELSCREEN_INVENTORY_INDEX"]]
    out = pipeline.cli("evaluate", str(models / "clean.onnx"), "--probes", str(models / "probes.jsonl"),
                       "--record-baseline", "s3/models:team/clf@v1", *es)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["baseline"] == "s3/models:team/clf"
    out = pipeline.cli("evaluate", str(models / "changed.onnx"), "--probes", str(models / "probes.jsonl"),
                       "--against", "s3/models:team/clf@v2", "--format", "json", *es)
    assert out.returncode == 1, out.stderr
    assert json.loads(out.stdout)["findings"][0]["rule_id"] == "BEHAVIOUR-DRIFT"
    inv = ElasticsearchInventory(pipeline.es, pipeline.env["MODELSCREEN_INVENTORY_INDEX"], refresh_on_write=True)
    ident = ArtifactIdentity(store="s3", store_name="models", name="team/clf", version="v2")
    (rec,) = inv.find(ident, sha256_file(models / "changed.onnx"))
    assert rec.behaviour and not rec.behaviour.passed
