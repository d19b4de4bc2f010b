"""Resilience on a real Kafka broker and a real Elasticsearch node: unreachable, missing and truncating
sources never stall other partitions; SIGTERM is bounded; a killed worker's partitions move quickly;
dead-letter replay is selective, ends, keeps keys and headers; a later result supersedes an error;
work resumes within seconds after an Elasticsearch outage."""
from __future__ import annotations

import base64
import hashlib
import http.server
import json
import os
import pickle
import signal
import socket
import threading
import time

import pytest

from tests.integration.harness import Payload, TcpProxy, file_store_pipeline, malicious, upload_event

pytestmark = pytest.mark.integration


def uri_event(uri: str, event_id: str, **data) -> bytes:
    return json.dumps({"specversion": "1.0", "type": "io.modelscreen.artifact.uploaded", "source": "/tests",
                       "id": event_id, "time": "2026-11-26T10:00:00Z", "datacontenttype": "application/json",
                       "data": {"uri": uri, "name": uri.rsplit("/", 1)[-1], "actor": "alice", **data}}).encode()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Source(http.server.BaseHTTPRequestHandler):
    """/gone: 404; /forbidden: 403; /truncated: announces 2 GiB and closes after 52 bytes."""

    hits: dict[str, int] = {}

    def do_GET(self):
        Source.hits[self.path] = Source.hits.get(self.path, 0) + 1
        if self.path == "/truncated":
            self.send_response(200)
            self.send_header("Content-Length", str(2 * 1024**3))
            self.end_headers()
            self.wfile.write(pickle.dumps({"w": [1.0]}, protocol=2)[:52].ljust(52, b"."))
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.send_response(404 if self.path == "/gone" else 403)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def pipeline(kafka_bootstrap, elasticsearch_url, tmp_path):
    with file_store_pipeline(kafka_bootstrap, elasticsearch_url, tmp_path) as p:
        yield p


@pytest.fixture
def source():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Source)
    Source.hits = {}
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def _docs(pipeline, rule: str | None = None) -> list[dict]:
    return [d for d in pipeline.findings_docs(size=5000) if rule is None or d["rule"]["id"] == rule]


def _warm(pipeline, name: str = "warm") -> None:
    """Wait until the worker(s) handle events end to end."""
    f = malicious(pipeline.store / f"{name}.pkl", marker=name)
    pipeline.send([upload_event(f, event_id=name)])
    assert pipeline.wait_for(lambda: [d for d in _docs(pipeline) if d["labels"].get("artifact_name") == f.name],
                             timeout=180, interval=0.5)


def _partitions(pipeline, expect: int) -> dict[str, int]:
    """source event id -> partition of its artifact event."""
    out = {}
    for m in pipeline.read("artifact-events", expect=expect, timeout=60):
        out[json.loads(m.value)["source_event_id"]] = m.partition
    return out


def _dead_letters(pipeline, expect: int, timeout: float = 5) -> list[dict]:
    return [json.loads(m.value) for m in pipeline.read("dead-letter", expect=expect, timeout=timeout)]


def test_unreachable_missing_and_truncating_sources_never_stall_other_partitions(pipeline, source):
    deadline = 20
    pipeline.start_worker(MODELSCREEN_FETCH_DEADLINE=str(deadline))
    _warm(pipeline)
    files = [malicious(pipeline.store / f"p{i}.pkl", marker=f"p{i}") for i in range(16)]
    bad = {"refused": f"http://127.0.0.1:{closed_port()}/model.pkl", "truncated": f"{source}/truncated",
           "gone": f"{source}/gone", "forbidden": f"{source}/forbidden"}
    sent = time.monotonic()
    pipeline.send([uri_event(uri, event_id=name) for name, uri in bad.items()]
                  + [upload_event(f, event_id=f"p{i}") for i, f in enumerate(files)]
                  + [upload_event(pipeline.store / "missing.pkl", event_id="missing")])
    parts = _partitions(pipeline, expect=1 + len(bad) + len(files) + 1)
    slow = {parts["refused"], parts["truncated"]}
    free = [f"p{i}" for i in range(len(files)) if parts[f"p{i}"] not in slow]
    assert free, "every file landed on a slow partition"
    done_at: dict[str, float] = {}

    def free_done():
        for d in _docs(pipeline, "PICKLE-DANGEROUS-CALL"):
            src = d["labels"].get("artifact_name", "")[:-4]
            done_at.setdefault(src, time.monotonic() - sent)
        return all(k in done_at for k in free)

    assert pipeline.wait_for(free_done, timeout=deadline, interval=0.2), \
        f"events on other partitions waited for the failing ones: {sorted(done_at)} of {free}"
    print(f"events on other partitions done {max(done_at[k] for k in free):.1f}s after sending "
          f"(the transient failures' deadline is {deadline}s)")

    # permanent failures are dead-lettered after one try; transient ones at their deadline, with the reason
    letters = pipeline.wait_for(lambda: (lambda d: d if len(d) >= 5 else None)(_dead_letters(pipeline, 5)),
                                timeout=deadline + 90)
    assert letters and len(letters) == 5
    by_id = {json.loads(base64.b64decode(x["original"]))["source_event_id"]: x for x in letters}
    for name in ("gone", "forbidden", "missing"):
        assert by_id[name]["attempts"] == 1 and by_id[name]["stage"] == "fetch"
    assert "404" in by_id["gone"]["reason"] and "403" in by_id["forbidden"]["reason"]
    for name in ("refused", "truncated"):
        assert by_id[name]["attempts"] > 1 and "deadline" in by_id[name]["reason"], by_id[name]
    assert "short read" in by_id["truncated"]["reason"]
    assert Source.hits["/truncated"] > 1 and Source.hits["/gone"] == 1

    # the truncated download is an error verdict, never a scan of the fragment
    errors = pipeline.wait_for(lambda: [d for d in _docs(pipeline, "MODELSCREEN-ANALYSIS-ERROR")
                                        if d["modelscreen"]["artifact_uri"] == bad["truncated"]])
    assert errors and errors[0]["modelscreen"]["verdict"] == "error"
    assert not [d for d in _docs(pipeline) if d["modelscreen"]["artifact_uri"] == bad["truncated"]
                and d["rule"]["id"] != "MODELSCREEN-ANALYSIS-ERROR"]


def _committed(pipeline, topic: str) -> dict[int, int]:
    from kafka.admin import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=pipeline.kafka)
    try:
        group = pipeline.env["MODELSCREEN_APP_ID"]
        offsets = admin.list_group_offsets(group)
    finally:
        admin.close()
    offsets = offsets.get(group, offsets)  # {group: {partition: offset}} in kafka-python 3
    return {tp.partition: meta.offset for tp, meta in offsets.items() if tp.topic == topic}


def _ends(pipeline, topic: str) -> dict[int, int]:
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=pipeline.kafka)
    try:
        tps = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic)]
        return {tp.partition: off for tp, off in consumer.end_offsets(tps).items()}
    finally:
        consumer.close()


def test_sigterm_while_a_source_is_unreachable_stops_within_30s_and_commits_what_is_done(pipeline):
    w = pipeline.start_worker(MODELSCREEN_FETCH_DEADLINE="600")
    _warm(pipeline)
    files = [malicious(pipeline.store / f"t{i}.pkl", marker=f"t{i}") for i in range(8)]
    pipeline.send([uri_event(f"http://127.0.0.1:{closed_port()}/m.pkl", event_id="stuck")]
                  + [upload_event(f, event_id=f"t{i}") for i, f in enumerate(files)])
    parts = _partitions(pipeline, expect=10)
    free = {f"t{i}.pkl" for i in range(len(files)) if parts[f"t{i}"] != parts["stuck"]}
    assert pipeline.wait_for(lambda: free <= {d["labels"]["artifact_name"] for d in _docs(pipeline)}, timeout=120)
    time.sleep(3)  # Faust commits acknowledged offsets every second
    started = time.monotonic()
    os.killpg(w.pid, signal.SIGTERM)
    w.wait(60)
    took = time.monotonic() - started
    print(f"worker exited {took:.1f}s after SIGTERM with an event retrying")
    assert took < 30
    topic = pipeline.topic("artifact-events")
    committed, ends = _committed(pipeline, topic), _ends(pipeline, topic)
    for partition, end in ends.items():
        if partition != parts["stuck"]:
            assert committed.get(partition, 0) == end, (partition, committed, ends)
    assert committed.get(parts["stuck"], 0) < ends[parts["stuck"]]  # the unfinished event comes back


def test_a_killed_worker_s_partitions_are_taken_over_within_seconds(pipeline):
    workers = [pipeline.start_worker(), pipeline.start_worker()]
    files = [malicious(pipeline.store / f"w{i}.pkl", marker=f"w{i}") for i in range(12)]
    time.sleep(5)
    pipeline.send([upload_event(f, event_id=f"w{i}") for i, f in enumerate(files)])
    observers = pipeline.wait_for(lambda: (lambda o: o if len(o) == 2 else None)(
        {d["observer"]["name"] for d in _docs(pipeline, "PICKLE-DANGEROUS-CALL")}), timeout=180)
    assert observers == {"worker-0", "worker-1"}, "both workers must hold partitions before one is killed"
    assert pipeline.wait_for(lambda: len(_docs(pipeline, "PICKLE-DANGEROUS-CALL")) >= 12, timeout=60)

    pipeline.stop_worker(workers[0], kill=True)
    killed = time.monotonic()
    after = [malicious(pipeline.store / f"k{i}.pkl", marker=f"k{i}") for i in range(12)]
    pipeline.send([upload_event(f, event_id=f"k{i}") for i, f in enumerate(after)])
    done: dict[str, float] = {}

    def all_done():
        for d in _docs(pipeline, "PICKLE-DANGEROUS-CALL"):
            name = d["labels"]["artifact_name"]
            if name.startswith("k"):
                done.setdefault(name, time.monotonic() - killed)
        return len(done) == len(after)

    assert pipeline.wait_for(all_done, timeout=120, interval=0.2)
    slowest = max(done.values())
    print(f"after SIGKILL of one of 2 workers: first event done {min(done.values()):.1f}s, all 12 (half on the "
          f"dead worker's partitions) {slowest:.1f}s")
    assert slowest < 25  # session timeout 10 s + a rebalance; about 15 s on an idle machine
    assert {d["observer"]["name"] for d in _docs(pipeline, "PICKLE-DANGEROUS-CALL")
            if d["labels"]["artifact_name"].startswith("k")} == {"worker-1"}


def _artifact_messages(pipeline, expect: int) -> list:
    return pipeline.read("artifact-events", expect=expect, timeout=20)


def test_dead_letter_replay_is_selective_ends_keeps_keys_and_supersedes_the_error(pipeline):
    pipeline.start_worker()
    later = pipeline.store / "late.pkl"
    payload = pickle.dumps(Payload("late"), protocol=2)
    sha = hashlib.sha256(payload).hexdigest()
    pipeline.send([upload_event(later, event_id="late", sha256=sha)], headers=[("x-request-id", b"req-late")])
    pipeline.send([b"not an event at all"], headers=[("x-request-id", b"req-garbage")])
    letters = pipeline.wait_for(lambda: (lambda d: d if len(d) >= 2 else None)(_dead_letters(pipeline, 2)),
                                timeout=120)
    assert sorted(x["stage"] for x in letters) == ["fetch", "intake"]
    assert pipeline.wait_for(lambda: _docs(pipeline, "MODELSCREEN-ANALYSIS-ERROR"))
    assert pipeline.wait_for(lambda: (pipeline.artifact_doc(sha) or {}).get("verdict") == "error")

    # --stage fetch while the file is still missing: replayed once, fails again at once, the run still ends
    started = time.monotonic()
    out = pipeline.cli("dlq", "replay", "--stage", "fetch", "--timeout", "10")
    assert out.returncode == 0, out.stderr
    lines = [json.loads(x) for x in out.stdout.splitlines()]
    summary = json.loads(out.stderr.strip().splitlines()[-1])
    assert [x["stage"] for x in lines] == ["fetch"] and lines[0]["replayed"] and time.monotonic() - started < 60
    assert summary["replayed"] == 1 and summary["other_stages"] == 1
    msgs = _artifact_messages(pipeline, expect=2)
    assert len(msgs) == 2 and msgs[0].value == msgs[1].value
    assert msgs[0].key == msgs[1].key and msgs[0].key  # same key: same partition
    assert msgs[0].partition == msgs[1].partition
    assert msgs[1].headers == msgs[0].headers
    assert pipeline.wait_for(lambda: len(_dead_letters(pipeline, 3)) >= 3, timeout=60)

    # the intake dead letter was not consumed by the fetch replay
    out = pipeline.cli("dlq", "replay", "--stage", "intake", "--timeout", "5")
    assert [json.loads(x)["stage"] for x in out.stdout.splitlines()] == ["intake"]
    raw = [m for m in pipeline.read("store-events", expect=3, timeout=20) if m.value == b"not an event at all"]
    assert len(raw) == 2 and raw[0].headers == raw[1].headers  # replayed with the original headers
    assert dict(raw[1].headers)["x-request-id"] == b"req-garbage"

    # after the fix, the new fetch dead letter is replayed (only it: the first was replayed already)
    later.write_bytes(payload)
    out = pipeline.cli("dlq", "replay", "--stage", "fetch", "--timeout", "5")
    assert len(out.stdout.splitlines()) == 1, out.stdout + out.stderr
    assert json.loads(out.stderr.strip().splitlines()[-1])["replayed"] == 1
    assert pipeline.wait_for(lambda: _docs(pipeline, "PICKLE-DANGEROUS-CALL"), timeout=90)

    def superseded():
        errs = _docs(pipeline, "MODELSCREEN-ANALYSIS-ERROR")
        return errs if errs and all(d["modelscreen"].get("superseded") for d in errs) else None

    assert pipeline.wait_for(superseded, timeout=60)
    current = pipeline.findings_docs({"bool": {"filter": [{"term": {"rule.id": "MODELSCREEN-ANALYSIS-ERROR"}}],
                                               "must_not": [{"term": {"modelscreen.superseded": True}}]}})
    assert current == []  # what the analysts' saved search shows
    assert pipeline.wait_for(lambda: (pipeline.artifact_doc(sha) or {}).get("verdict") == "malicious")
    assert "last_error" not in pipeline.artifact_doc(sha)
    assert pipeline.cli("dlq", "replay", "--stage", "fetch", "--timeout", "3").stdout.strip() == ""  # none left


def test_work_resumes_within_seconds_after_an_elasticsearch_outage(pipeline):
    host, port = pipeline.es_url.split("//", 1)[1].rstrip("/").rsplit(":", 1)
    proxy = TcpProxy(host, int(port))
    try:
        pipeline.start_worker(MODELSCREEN_ELASTICSEARCH_URL=f"http://127.0.0.1:{proxy.port}")
        _warm(pipeline)
        proxy.pause()
        files = [malicious(pipeline.store / f"o{i}.pkl", marker=f"o{i}") for i in range(10)]
        pipeline.send([upload_event(f, event_id=f"outage-{i}") for i, f in enumerate(files)])
        time.sleep(40)  # long enough for a backoff without a low cap to grow past 30 s
        assert len(_docs(pipeline, "PICKLE-DANGEROUS-CALL")) == 1
        proxy.resume()
        back = time.monotonic()
        assert pipeline.wait_for(lambda: len(_docs(pipeline, "PICKLE-DANGEROUS-CALL")) >= 11, timeout=60,
                                 interval=0.2)
        took = time.monotonic() - back
        print(f"work resumed {took:.1f}s after Elasticsearch was back")
        assert took < 10
    finally:
        proxy.close()
    log = (pipeline.tmp / "worker-0.log").read_text().splitlines()
    client_lines = [x for x in log if '"log.logger": "elastic' in x and '"log.level": "info"' not in x]
    assert len(client_lines) < 40, f"{len(client_lines)} client log lines in a 40 s outage"
