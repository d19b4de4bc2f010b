"""The stage logic the agents run, without Kafka: fetch + scan, cache, ECS documents, alerts."""
from __future__ import annotations

import hashlib
import json
import pickle
from datetime import datetime, timezone
from pathlib import Path

import pytest

from modelscreen.schemas import Severity, Verdict
from modelscreen.schemas.events import Action, ArtifactEvent, StoreKind
from modelscreen.fetch import FetchError
from modelscreen.pipeline.alerting import alerts_for, webhook_payload
from modelscreen.pipeline.cache import ScanCache
from modelscreen.pipeline.scanning import check_announced, from_cache, scan_event
from modelscreen.settings import Settings
from modelscreen.sinks.ecs import finding_documents, merge_artifact, merge_artifacts


def _event(path: Path, **kw) -> ArtifactEvent:
    return ArtifactEvent(action=kw.pop("action", Action.uploaded), store=StoreKind.local, uri=path.as_uri(),
                         name=kw.pop("name", path.name), time=datetime(2026, 11, 26, tzinfo=timezone.utc),
                         source_event_id=kw.pop("source_event_id", "src-1"), raw_type="test", actor="alice", **kw)


@pytest.fixture
def settings(tmp_path):
    return Settings(fetch_file_roots=[tmp_path])


def test_scan_event_scans_the_fetched_bytes(tmp_path, settings):
    f = tmp_path / "w.safetensors"
    f.write_bytes(pickle.dumps([1, 2]))
    result = scan_event(_event(f), settings)
    assert result.sha256 == hashlib.sha256(f.read_bytes()).hexdigest()
    assert result.format == "pickle" and result.verdict is Verdict.suspicious
    assert result.reports[0].path == f.as_uri()


def test_file_uris_outside_the_allowed_roots_are_refused(tmp_path):
    f = tmp_path / "a.pkl"
    f.write_bytes(b"x")
    with pytest.raises(FetchError) as err:
        scan_event(_event(f), Settings())
    assert not err.value.transient and "fetch_file_roots" in err.value.reason


def test_announced_digest_mismatch_is_critical_and_not_cached(tmp_path, settings):
    f = tmp_path / "ok.pkl"
    f.write_bytes(pickle.dumps({"a": 1}))
    result = scan_event(_event(f, expected_sha256="a" * 64), settings)
    cache = ScanCache()
    cache.put(result)
    checked = check_announced(result)
    assert checked.verdict is Verdict.malicious
    assert [x.rule_id for x in checked.reports[0].findings] == ["ARTIFACT-DIGEST-MISMATCH"]
    # the cached copy is the bytes' own verdict, not this event's
    assert cache.get(result.sha256, result.ruleset_version).verdict is Verdict.clean


def test_cache_answers_by_sha_engine_and_ruleset(tmp_path, settings):
    f = tmp_path / "ok.pkl"
    f.write_bytes(pickle.dumps({"a": 1}))
    first = scan_event(_event(f), settings, ruleset_version="r1").model_copy(update={"ruleset_version": "r1"})
    cache = ScanCache(max_entries=2)
    cache.put(first)
    assert cache.get(first.sha256, "r1") is first
    assert cache.get(first.sha256, "r2") is None
    again = from_cache(_event(f, source_event_id="src-2", action=Action.downloaded), first)
    assert again.cached and again.event.action is Action.downloaded and again.verdict is first.verdict


def test_ecs_documents_and_artifact_state(tmp_path, settings):
    f = tmp_path / "w.json"
    f.write_bytes(pickle.dumps([1]))
    result = scan_event(_event(f, name="org/model.json", version="v1"), settings)
    docs = finding_documents(result, observer={"name": "test", "vendor": "modelscreen"})
    assert len(docs) == 1
    doc_id, doc = docs[0]
    assert doc["event"]["id"] == doc_id and doc["event"]["severity"] == 47 and doc["event"]["kind"] == "alert"
    assert doc["labels"] == {"store": "local", "action": "uploaded", "actor": "alice", "artifact_name": "org/model.json",
                             "artifact_version": "v1"}
    assert doc["file"]["hash"]["sha256"] == result.sha256 and doc["related"]["hash"] == [result.sha256]
    # the same event again gives the same ids: idempotent writes
    assert [d[0] for d in finding_documents(result, observer={})] == [doc_id]
    state = merge_artifact(None, result)
    state = merge_artifact(state, result)
    assert state["names"] == ["org/model.json"] and state["verdict"] == "suspicious" and state["counts"]["medium"] == 1
    json.dumps(doc)


def test_a_batch_of_results_merges_as_one_by_one(tmp_path, settings):
    from datetime import timedelta

    f = tmp_path / "w.json"
    f.write_bytes(pickle.dumps([1]))
    base = scan_event(_event(f), settings)
    results = [base.model_copy(update={"event": _event(f, name=f"n{i % 3}", version=f"v{i % 2}",
                                                       source_event_id=f"s{i}").model_copy(
        update={"actor": f"u{i % 4}", "time": base.event.time + timedelta(minutes=(i * 7) % 5)})})
        for i in range(12)]
    existing = {"names": ["old"], "first_seen": "2026-11-01T00:00:00Z", "last_seen": "2026-11-02T00:00:00Z"}
    one_by_one = existing
    for r in results:
        one_by_one = merge_artifact(one_by_one, r)
    assert merge_artifacts(existing, results) == one_by_one
    assert one_by_one["names"] == ["old", "n0", "n1", "n2"] and one_by_one["actors"] == ["u0", "u1", "u2", "u3"]


def test_alerts_at_or_above_threshold(tmp_path, settings):
    f = tmp_path / "w.json"
    f.write_bytes(pickle.dumps([1]))
    result = scan_event(_event(f), settings)
    assert alerts_for(result, Severity.high) == []
    (alert,) = alerts_for(result, Severity.medium)
    assert alert.rule_id == "FORMAT-EXTENSION-MISMATCH"
    assert webhook_payload(alert, "slack")["text"].startswith(":rotating_light:")
    assert webhook_payload(alert, "generic")["sha256"] == result.sha256
