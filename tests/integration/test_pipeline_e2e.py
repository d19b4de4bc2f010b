"""End to end on a real Kafka broker and a real Elasticsearch node: events in, ECS findings out."""
from __future__ import annotations

import hashlib
import json
import pickle
import time

import pytest

from tests.integration.harness import TcpProxy, file_store_pipeline, malicious, upload_event

pytestmark = pytest.mark.integration


def benign(path, n=0):
    path.write_bytes(pickle.dumps({"weights": [1.0, 2.0, float(n)], "step": n}, protocol=4))
    return path


@pytest.fixture
def pipeline(kafka_bootstrap, elasticsearch_url, tmp_path):
    with file_store_pipeline(kafka_bootstrap, elasticsearch_url, tmp_path) as p:
        yield p


def _calls(pipeline):
    return [d for d in pipeline.findings_docs() if d["rule"]["id"] == "PICKLE-DANGEROUS-CALL"]


def _ids(docs):
    return sorted(d["event"]["id"] for d in docs)


def test_upload_of_a_malicious_file_becomes_a_searchable_ecs_finding(pipeline):
    pipeline.start_worker()
    f = malicious(pipeline.store / "model.bin")
    sha = hashlib.sha256(f.read_bytes()).hexdigest()
    clean = benign(pipeline.store / "clean.pkl")
    clean_sha = hashlib.sha256(clean.read_bytes()).hexdigest()
    started = time.monotonic()
    pipeline.send([upload_event(f, event_id="ev-mal"), upload_event(clean, event_id="ev-clean"),
                   b"this is not an event"])
    docs = pipeline.wait_for(lambda: [d for d in pipeline.findings_docs()
                                      if d["rule"]["id"] == "PICKLE-DANGEROUS-CALL"], timeout=90)
    assert docs, "no finding indexed"
    elapsed = time.monotonic() - started
    d = docs[0]
    assert d["event"]["kind"] == "alert" and d["event"]["severity"] == 99
    assert d["file"]["hash"]["sha256"] == sha and d["related"]["hash"] == [sha]
    assert d["labels"]["store"] == "local" and d["labels"]["action"] == "uploaded"
    assert d["labels"]["actor"] == "alice" and d["labels"]["artifact_name"] == "model.bin"
    assert d["modelscreen"]["verdict"] == "malicious" and d["modelscreen"]["artifact_uri"].startswith("file://")
    assert d["threat"]["technique"]["id"] == ["T1195"]
    assert d["message"] and d["rule"]["ruleset"] and d["observer"]["vendor"] == "modelscreen"
    assert elapsed < 60

    state = pipeline.wait_for(lambda: pipeline.artifact_doc(sha))
    assert state["verdict"] == "malicious" and state["counts"]["critical"] >= 1
    clean_state = pipeline.wait_for(lambda: pipeline.artifact_doc(clean_sha))
    assert clean_state["verdict"] == "clean" and clean_state["finding_count"] == 0
    assert not [x for x in pipeline.findings_docs() if x["file"]["hash"]["sha256"] == clean_sha]

    dead = pipeline.read("dead-letter", expect=1)
    letter = json.loads(dead[0].value)
    assert letter["stage"] == "intake" and "JSON" in letter["reason"]
    import base64

    assert base64.b64decode(letter["original"]) == b"this is not an event"

    alerts = pipeline.wait_for(lambda: [json.loads(m.value) for m in pipeline.read("alerts", expect=1, timeout=5)
                                        if json.loads(m.value)["rule_id"] == "PICKLE-DANGEROUS-CALL"])
    assert alerts and alerts[0]["sha256"] == sha and alerts[0]["severity"] == "critical"


def test_the_same_event_three_times_leaves_one_finding(pipeline):
    pipeline.start_worker()
    f = malicious(pipeline.store / "twice.pt")
    ev = upload_event(f, event_id="same-id")
    pipeline.send([ev, ev, ev])
    pipeline.wait_for(lambda: pipeline.findings_docs(), timeout=90)
    time.sleep(3)
    docs = [d for d in pipeline.findings_docs() if d["rule"]["id"] == "PICKLE-DANGEROUS-CALL"]
    assert len(docs) == 1


def test_downloads_of_bytes_the_worker_scanned_take_one_hop(pipeline):
    """Once an upload was scanned and indexed, later events of the same bytes are checked, indexed and published
    by the normalise stage: never on artifact-events, yet on scan-results and alerts like any other."""
    pipeline.start_worker()
    f = malicious(pipeline.store / "popular.pt")
    sha = hashlib.sha256(f.read_bytes()).hexdigest()
    pipeline.send([upload_event(f, event_id="first-upload", sha256=sha)])
    assert pipeline.wait_for(lambda: _calls(pipeline), timeout=90)
    downloads = [f"download-{i}" for i in range(5)]
    pipeline.send([upload_event(f, event_id=e, sha256=sha, action="downloaded", actor=f"user{i}")
                   for i, e in enumerate(downloads)])
    docs = pipeline.wait_for(lambda: len(_calls(pipeline)) == 6 and _calls(pipeline), timeout=90)
    assert docs, "the downloads were not indexed"
    by_event = {d["modelscreen"]["source_event_id"]: d for d in docs}
    assert sorted(by_event) == sorted(["first-upload", *downloads])
    for e in downloads:
        assert by_event[e]["labels"]["action"] == "downloaded" and by_event[e]["modelscreen"]["cached"] is True
    assert [m.key for m in pipeline.read("artifact-events", expect=6, timeout=5)] == [sha.encode()]
    ids = {d["modelscreen"]["event_id"] for d in docs}
    assert {json.loads(m.value)["event"]["event_id"] for m in pipeline.read("scan-results", expect=6)} == ids
    assert {json.loads(m.value)["event_id"] for m in pipeline.read("alerts", expect=6)} == ids
    actors = {"alice", *(f"user{i}" for i in range(5))}
    state = pipeline.wait_for(lambda: set((pipeline.artifact_doc(sha) or {}).get("actors", [])) == actors
                              and pipeline.artifact_doc(sha), timeout=30)
    assert state and state["verdict"] == "malicious", pipeline.artifact_doc(sha)


def test_download_whose_bytes_differ_from_the_announced_digest_is_critical(pipeline):
    pipeline.start_worker()
    f = benign(pipeline.store / "weights.pkl")
    pipeline.send([upload_event(f, action="downloaded", sha256="0" * 64)])
    docs = pipeline.wait_for(lambda: [d for d in pipeline.findings_docs()
                                      if d["rule"]["id"] == "ARTIFACT-DIGEST-MISMATCH"], timeout=90)
    assert docs and docs[0]["event"]["severity"] == 99 and docs[0]["labels"]["action"] == "downloaded"


def test_worker_killed_mid_stream_loses_nothing_and_duplicates_nothing(pipeline):
    n = 40
    files = [malicious(pipeline.store / f"m{i}.pkl", marker=f"m{i}") for i in range(n)]
    pipeline.send([upload_event(f, event_id=f"kill-{i}") for i, f in enumerate(files)])
    w = pipeline.start_worker()
    pipeline.wait_for(lambda: len(pipeline.findings_docs()) >= 5, timeout=90, interval=0.1)
    pipeline.stop_worker(w, kill=True)
    pipeline.start_worker()
    docs = pipeline.wait_for(lambda: (lambda d: d if len(d) >= n else None)(
        [x for x in pipeline.findings_docs() if x["rule"]["id"] == "PICKLE-DANGEROUS-CALL"]), timeout=120)
    time.sleep(3)
    docs = [x for x in pipeline.findings_docs() if x["rule"]["id"] == "PICKLE-DANGEROUS-CALL"]
    assert len(docs) == n
    assert len(set(_ids(docs))) == n
    assert sorted(d["labels"]["artifact_name"] for d in docs) == sorted(f.name for f in files)


def test_elasticsearch_outage_delays_but_loses_nothing(pipeline):
    host, port = pipeline.es_url.split("//", 1)[1].rstrip("/").rsplit(":", 1)
    proxy = TcpProxy(host, int(port))
    try:
        proxy.pause()  # Elasticsearch unreachable from the worker from the start
        pipeline.start_worker(MODELSCREEN_ELASTICSEARCH_URL=f"http://127.0.0.1:{proxy.port}")
        files = [malicious(pipeline.store / f"o{i}.pkl", marker=f"o{i}") for i in range(10)]
        pipeline.send([upload_event(f, event_id=f"outage-{i}") for i, f in enumerate(files)])
        time.sleep(15)
        assert pipeline.findings_docs() == []
        proxy.resume()
        docs = pipeline.wait_for(lambda: (lambda d: d if len(d) >= 10 else None)(_calls(pipeline)), timeout=120)
        assert docs and len({d["event"]["id"] for d in docs}) == 10
    finally:
        proxy.close()


def test_two_workers_share_the_load(pipeline):
    w1 = pipeline.start_worker()
    w2 = pipeline.start_worker()
    n = 30
    files = [malicious(pipeline.store / f"s{i}.pkl", marker=f"s{i}") for i in range(n)]
    time.sleep(8)  # let both join the group
    pipeline.send([upload_event(f, event_id=f"share-{i}") for i, f in enumerate(files)])
    docs = pipeline.wait_for(lambda: (lambda d: d if len(d) >= n else None)(_calls(pipeline)), timeout=120)
    assert docs and len(docs) == n
    assert {d["observer"]["name"] for d in docs} == {"worker-0", "worker-1"}  # both indexed a share
    pipeline.stop_worker(w1)
    pipeline.stop_worker(w2)


def test_poison_event_is_dead_lettered_and_replayed_after_a_fix(pipeline):
    pipeline.start_worker(MODELSCREEN_MAX_ATTEMPTS="2")
    later = pipeline.store / "late.pkl"  # not there yet: fetching it fails for good
    pipeline.send([upload_event(later, event_id="late-1")])
    dead = pipeline.wait_for(lambda: [json.loads(m.value) for m in pipeline.read("dead-letter", expect=1, timeout=3)])
    assert dead and dead[0]["stage"] == "fetch" and "no such file" in dead[0]["reason"]
    assert dead[0]["topic"] == pipeline.topic("artifact-events") and dead[0]["attempts"] == 1  # permanent: at once
    errors = pipeline.wait_for(lambda: [d for d in pipeline.findings_docs()
                                        if d["rule"]["id"] == "MODELSCREEN-ANALYSIS-ERROR"])
    assert errors and errors[0]["modelscreen"]["verdict"] == "error"

    malicious(later)  # the fix: the artifact is there now
    out = pipeline.cli("dlq", "replay", "--timeout", "3")
    assert out.returncode == 0, out.stderr
    assert [json.loads(line)["replayed"] for line in out.stdout.splitlines()] == [True]
    assert pipeline.wait_for(lambda: _calls(pipeline))
    again = pipeline.cli("dlq", "replay", "--timeout", "2")  # each dead letter is replayed once
    assert again.stdout.strip() == ""


def test_worker_exposes_prometheus_metrics_and_json_logs(pipeline):
    import socket
    import urllib.request

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    pipeline.start_worker(MODELSCREEN_METRICS_PORT=str(port))
    f = malicious(pipeline.store / "m.pkl")
    pipeline.send([upload_event(f, event_id="metrics-1"), b"garbage"])
    assert pipeline.wait_for(lambda: _calls(pipeline), timeout=90)

    def scrape():
        try:
            return urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
        except OSError:
            return ""

    # the counters move once the whole batch is written (findings, artifact state), just after the documents show
    text = pipeline.wait_for(lambda: (lambda t: t if "modelscreen_consumer_lag" in t
                                      and "modelscreen_findings_total{" in t else None)(scrape()), timeout=60)
    assert text
    assert 'modelscreen_events_total{action="uploaded",store="local"} 1.0' in text
    assert 'modelscreen_dead_letters_total{stage="intake"} 1.0' in text
    assert 'modelscreen_findings_total{severity="critical"}' in text
    assert "modelscreen_scan_seconds_count" in text
    log = (pipeline.tmp / "worker-0.log").read_text()
    lines = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    assert lines and all("@timestamp" in x and "log.level" in x for x in lines)
