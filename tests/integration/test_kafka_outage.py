"""A Kafka outage mid-stream, on a broker of the test's own (the shared one is never stopped): the worker
survives, every event's result reaches Elasticsearch exactly once, work resumes soon after the broker is
back, and the client libraries' repeated connection errors are rate-limited in the worker's log."""
from __future__ import annotations

import json
import re
import time
from collections import Counter

import pytest

from tests.integration.conftest import _unavailable
from tests.integration.harness import file_store_pipeline, malicious, upload_event
from tests.integration.private_kafka import BrokerUnavailable, KafkaBroker

pytestmark = pytest.mark.integration

OUTAGE_S = 60
RULE = "PICKLE-DANGEROUS-CALL"  # one such finding per malicious fixture
KAFKA_LOGGERS = ("aiokafka", "kafka", "faust", "mode")


@pytest.fixture
def broker(tmp_path):
    try:
        b = KafkaBroker(tmp_path / "kafka")
    except BrokerUnavailable as exc:
        _unavailable(f"no private Kafka broker: {exc}")
    with b:
        yield b


@pytest.fixture
def pipeline(broker, elasticsearch_url, tmp_path):
    with file_store_pipeline(broker.bootstrap, elasticsearch_url, tmp_path) as p:
        yield p


def _per_event(pipeline) -> Counter:
    """source event id -> number of finding documents of RULE."""
    docs = pipeline.findings_docs({"term": {"rule.id": RULE}}, size=5000)
    return Counter(d["modelscreen"]["source_event_id"] for d in docs)


def _send(pipeline, prefix: str, n: int) -> list[str]:
    ids = [f"{prefix}-{i}" for i in range(n)]
    files = [malicious(pipeline.store / f"{i}.pkl", marker=i) for i in ids]
    pipeline.send([upload_event(f, event_id=i) for f, i in zip(files, ids)])
    return ids


def _wait_produced(pipeline, name: str, n: int, timeout: float = 120) -> bool:
    """Wait (polling fast) until the topic holds n messages; whether it did."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=pipeline.kafka)
    try:
        topic = pipeline.topic(name)
        tps = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic)]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if sum(consumer.end_offsets(tps).values()) >= n:
                return True
            time.sleep(0.02)
        return False
    finally:
        consumer.close()


def _kafka_client_problems(lines: list[str]) -> list[dict]:
    out = []
    for line in lines:
        try:
            doc = json.loads(line)
        except ValueError:
            continue
        if (doc.get("log.level") in ("warning", "error", "critical")
                and doc.get("log.logger", "").split(".")[0] in KAFKA_LOGGERS):
            out.append(doc)
    return out


def test_a_kafka_outage_mid_stream_delays_work_but_loses_and_duplicates_nothing(broker, pipeline):
    worker = pipeline.start_worker()
    _send(pipeline, "warm", 1)
    assert pipeline.wait_for(lambda: _per_event(pipeline)["warm-0"], timeout=180), "warm-up event never indexed"

    # mid-stream: the broker dies once the worker has normalised a batch, while it scans and indexes it
    log_path = pipeline.tmp / "worker-0.log"
    at_outage = log_path.stat().st_size
    before = _send(pipeline, "before", 100)
    normalised = _wait_produced(pipeline, "artifact-events", 1 + len(before))
    broker.stop()
    done_at_outage = sum(1 for i in before if _per_event(pipeline)[i])
    time.sleep(OUTAGE_S)
    assert worker.poll() is None, f"the worker exited during the outage ({worker.returncode})"
    during = _per_event(pipeline)

    restart_s = broker.start()
    back = time.monotonic()
    with open(log_path, "rb") as f:
        f.seek(at_outage)
        outage_lines = f.read().decode(errors="replace").splitlines()
    after = _send(pipeline, "after", 10)
    everything = ["warm-0", *before, *after]
    first_new: list[float] = []

    def all_done():
        counts = _per_event(pipeline)
        if not first_new and sum(counts[i] for i in everything) > sum(during[i] for i in everything):
            first_new.append(time.monotonic() - back)
        return all(counts[i] for i in everything)

    assert pipeline.wait_for(all_done, timeout=180, interval=0.5), \
        f"never done: {sorted(i for i in everything if not _per_event(pipeline)[i])}"
    all_s = time.monotonic() - back
    time.sleep(5)  # time for a late duplicate to show
    counts = _per_event(pipeline)
    assert {i: counts[i] for i in everything} == {i: 1 for i in everything}  # no loss, no duplicate
    assert sum(counts.values()) == len(everything)
    assert pipeline.findings_docs({"term": {"rule.id": "MODELSCREEN-ANALYSIS-ERROR"}}) == []
    assert pipeline.read("dead-letter", expect=1, timeout=5) == []  # delayed, not given up
    assert worker.poll() is None

    problems = _kafka_client_problems(outage_lines)
    by_logger = Counter(d["log.logger"] for d in problems)
    held = sum(int(n) for d in problems for n in re.findall(r"\(repeated (\d+) times", d["message"]))
    print(f"batch normalised: {normalised}; {done_at_outage}/{len(before)} indexed when the broker was killed, "
          f"{sum(1 for i in before if during[i])} at the end of the outage; broker down "
          f"{OUTAGE_S}s, restarted in {restart_s:.1f}s; first new result {first_new[0] if first_new else 0:.1f}s "
          f"and all {len(everything)} events {all_s:.1f}s after it was back; {len(problems)} Kafka client "
          f"warning/error lines during the outage {dict(by_logger)} ({held} more held back by the limiter); "
          f"{len(outage_lines)} log lines in all")
    assert all_s < 60
    assert len(problems) < 200, problems[:20]
