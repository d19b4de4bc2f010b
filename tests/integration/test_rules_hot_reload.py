"""Rule bundles on a real Kafka broker: a running worker swaps a new bundle in without a restart, rejects a
broken one (keeping the old), and retro-hunts artifacts scanned clean under the older ruleset."""
from __future__ import annotations

import json
import shutil
import uuid
from pathlib import Path

import pytest

from modelscreen.schemas.rules import RuleSample
from tests.integration.harness import Pipeline, file_store_pipeline, upload_event
from modelscreen.engine.yara.loader import load_ruleset
from modelscreen.rule_bundles import with_samples

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]

RULE = """
rule SUSP_Test_Marker_{tag}
{{
    meta:
        id = "{rule_id}"
        description = "Test marker written by the hot-reload test"
        author = "modelscreen"
        date = "2026-11-26"
        reference = "https://attack.mitre.org/techniques/T1195/"
        severity = "high"
        score = 75
        category = "test"
        version = 1
        scope = "small-file,config,metadata"
    strings:
        $m = "MODELSCREEN-MARKER-{tag}"
    condition:
        $m
}}
"""


def _bundle(tmp: Path, tag: str, rule_id: str, *, broken: bool = False):
    rules = tmp / f"rules-{uuid.uuid4().hex[:6]}" / "yara"
    shutil.copytree(REPO / "rules" / "yara", rules)
    (rules / "test").mkdir()
    (rules / "test" / "marker.yar").write_text(RULE.format(tag=tag, rule_id=rule_id))
    bundle = with_samples(load_ruleset(rules).bundle(), REPO / "rules" / "samples.py")
    marker = f"notes MODELSCREEN-MARKER-{tag}\n".encode()
    sample = RuleSample(name="marker.txt", data=marker, expect=[] if broken else [rule_id])
    return bundle.model_copy(update={"samples": [*bundle.samples, sample]})


def _marker_file(store: Path, name: str, tag: str) -> Path:
    f = store / name
    f.write_text(f"release notes\nMODELSCREEN-MARKER-{tag}\n")
    return f


@pytest.fixture
def pipeline(kafka_bootstrap, elasticsearch_url, tmp_path):
    with file_store_pipeline(kafka_bootstrap, elasticsearch_url, tmp_path) as p:
        yield p


def _hits(p: Pipeline, rule_id: str, sha: str | None = None):
    return [d for d in p.findings_docs() if d["rule"]["id"] == rule_id
            and (sha is None or d["file"]["hash"]["sha256"] == sha)]


def test_publish_hot_reloads_rejects_broken_bundles_and_retrohunts(pipeline, tmp_path):
    import hashlib

    tag = uuid.uuid4().hex[:6].upper()
    rule_id = f"MSY-TST-{uuid.uuid4().int % 900 + 100}"
    pipeline.start_worker()

    # 1. scanned clean under the shipped ruleset
    old = _marker_file(pipeline.store, "notes-old.txt", tag)
    old_sha = hashlib.sha256(old.read_bytes()).hexdigest()
    pipeline.send([upload_event(old, event_id="old")])
    state = pipeline.wait_for(lambda: pipeline.artifact_doc(old_sha), timeout=90)
    assert state and state["verdict"] == "clean"
    old_version = state["ruleset_version"]

    # 2. publish a bundle with a rule that matches it: the running worker swaps it in ...
    bundle = _bundle(tmp_path, tag, rule_id)
    path = tmp_path / "bundle.json"
    path.write_text(bundle.model_dump_json())
    out = pipeline.cli("rules", "publish", "--bundle", str(path))
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["version"] == bundle.version != old_version

    # ... and the retro-hunt finds the artifact scanned clean last month
    assert pipeline.wait_for(lambda: _hits(pipeline, rule_id, old_sha), timeout=120)
    state = pipeline.artifact_doc(old_sha)
    assert state["ruleset_version"] == bundle.version and state["verdict"] == "malicious"
    (doc,) = _hits(pipeline, rule_id, old_sha)
    assert doc["rule"]["version"] == bundle.version and doc["rule"]["ruleset"] == "yara"
    assert doc["labels"]["actor"] == "modelscreen-retrohunt"

    # 3. a fresh upload is judged by the new bundle, without a restart
    new = _marker_file(pipeline.store, "notes-new.txt", tag + "\n")
    new_sha = hashlib.sha256(new.read_bytes()).hexdigest()
    pipeline.send([upload_event(new, event_id="new")])
    assert pipeline.wait_for(lambda: _hits(pipeline, rule_id, new_sha), timeout=90)

    # 4. a bundle that fails its own samples is rejected by the worker, and the previous one stays in force
    from modelscreen.rule_bundles import publish
    from modelscreen.settings import Settings

    broken = _bundle(tmp_path, tag, rule_id, broken=True)
    publish(Settings(kafka_bootstrap=pipeline.kafka, topic_prefix=pipeline.prefix), broken)
    dead = pipeline.wait_for(lambda: [json.loads(m.value) for m in pipeline.read("dead-letter", expect=1, timeout=3)
                                      if json.loads(m.value)["stage"] == "rule-bundle"], timeout=90)
    assert dead and "marker.txt" in dead[0]["reason"]
    later = _marker_file(pipeline.store, "notes-later.txt", tag + "\n\n")
    later_sha = hashlib.sha256(later.read_bytes()).hexdigest()
    pipeline.send([upload_event(later, event_id="later")])
    assert pipeline.wait_for(lambda: _hits(pipeline, rule_id, later_sha), timeout=90)
    assert pipeline.workers[0].poll() is None  # never restarted
