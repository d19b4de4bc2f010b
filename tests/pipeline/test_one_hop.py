"""How scan outcomes end (agents.results): a settled cached scan answers an event in the normalise stage, a
batch's tail indexes and publishes, and documents Elasticsearch refuses for good become dead letters."""
from __future__ import annotations

import asyncio
import json
import pickle
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from types import SimpleNamespace

import pytest

from modelscreen import topics
from modelscreen.agents.results import conclude, index_and_publish, settled_outcome
from modelscreen.engine.yara.loader import default_ruleset
from modelscreen.pipeline.cache import ScanCache
from modelscreen.pipeline.provenance import ScanOutcome
from modelscreen.pipeline.scanning import scan_event
from modelscreen.provenance import ProvenanceChecker, open_inventory
from modelscreen.provenance.pipeline_checks import pipeline_policy
from modelscreen.schemas import Severity
from modelscreen.schemas.events import Action, DeadLetter
from modelscreen.settings import Settings
from modelscreen.sinks.elasticsearch import PermanentIndexError
from modelscreen.sources.intake import normalise_raw
from tests.integration.harness import malicious, upload_event


class Writer:
    """FindingsWriter's interface: remembers what it was asked to index; refuses the events in `refuse`."""

    def __init__(self, refuse=()):
        self.written: list = []
        self.refuse = set(refuse)

    async def write(self, results):
        self.written.extend(results)
        refused = {r.event.event_id: "mapper_parsing_exception" for r in results
                   if r.event.source_event_id in self.refuse}
        if refused:
            raise PermanentIndexError(refused)
        return len(results)


@dataclass
class FakeRuntime:
    """What agents.results reads from modelscreen.app.Runtime, without a Faust app."""

    settings: Settings
    provenance: ProvenanceChecker
    writer: Writer = field(default_factory=Writer)
    scan_cache: ScanCache = field(default_factory=ScanCache)
    io_executor: ThreadPoolExecutor = field(default_factory=lambda: ThreadPoolExecutor(max_workers=2))
    ruleset_version: str | None = field(default_factory=lambda: default_ruleset()[0].version)
    sent: list = field(default_factory=list)
    observer: dict = field(default_factory=lambda: {"name": "test"})

    async def send_many(self, messages):
        self.sent.extend(messages)


@pytest.fixture
def rt(tmp_path, store):
    settings = Settings(fetch_file_roots=[store], alert_min_severity=Severity.high)
    runtime = FakeRuntime(settings=settings,
                          provenance=ProvenanceChecker(open_inventory("sqlite", db=tmp_path / "inventory.db")))
    yield runtime
    runtime.io_executor.shutdown()


def event(path, **kw):
    [ev] = normalise_raw(upload_event(path, **kw))
    return ev


def message(ev, offset=0):
    """A consumed Kafka message, as a dead letter reads it."""
    return SimpleNamespace(topic="store-events", partition=0, offset=offset, key=None, headers=[],
                           value=ev.model_dump_json().encode())


def answered(rt, ev):
    """settled_outcome under the worker's policy, as the normalise stage asks it."""
    return settled_outcome(rt, ev, pipeline_policy(rt.settings))


def scanned(rt, path, **kw):
    """An upload scanned and put in the cache, as the scan stage does."""
    ev = event(path, **kw)
    result = scan_event(ev, rt.settings)
    rt.scan_cache.put(result)
    return result


def test_only_a_settled_cache_entry_answers_an_event(rt, store):
    f = malicious(store / "m.pt")
    up = scanned(rt, f, event_id="up")
    download = event(f, event_id="dl", sha256=up.sha256, action="downloaded")
    assert answered(rt, download) is None  # scanned, not yet checked and indexed

    rt.scan_cache.settle(up)
    outcome = answered(rt, download)
    assert outcome.result.cached and outcome.result.event == download
    assert outcome.result.verdict == up.verdict and outcome.gave_up is None and outcome.evidence is None

    assert answered(rt, event(f, event_id="dl2", action="downloaded")) is None  # no digest announced
    assert answered(rt, download.model_copy(update={"action": Action.deleted})) is None
    rt.ruleset_version = "a newer bundle"
    assert answered(rt, download) is None  # rules changed: scanned again


def test_a_policy_asking_for_signatures_sends_the_event_the_whole_way(rt, store, tmp_path):
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps({"version": 1, "defaults": {"signing": {"public_key": str(tmp_path / "k.pub")}}}))
    f = malicious(store / "signed.pt")
    up = scanned(rt, f, event_id="up")
    rt.scan_cache.settle(up)
    download = event(f, event_id="dl", sha256=up.sha256, action="downloaded")
    assert answered(rt, download) is not None
    rt.settings = rt.settings.model_copy(update={"provenance_policy": policy})
    assert answered(rt, download) is None  # its signature bundle is looked up in the scan stage


def test_an_evicted_entry_is_no_longer_settled():
    cache = ScanCache(max_entries=1)
    results = []
    for n in range(2):
        ev = SimpleNamespace(sha256=f"{n}" * 64, error=None, ruleset_version=None, reports=[])
        results.append(ev)
        cache.put(ev)
        cache.settle(ev)
    assert cache.get("0" * 64, None, settled=True) is None and cache.get("1" * 64, None, settled=True) is not None
    misses = cache.misses
    assert cache.get("2" * 64, None, settled=True) is None and cache.misses == misses  # the scan stage counts it


def test_a_tail_indexes_publishes_and_then_settles(rt, store):
    f = malicious(store / "m.pt")
    up = scanned(rt, f, event_id="up")
    upload = ScanOutcome(up, message=message(up.event))
    forwarded = [(topics.ARTIFACT_EVENTS, b"k", b"v")]

    async def run():
        tail = await conclude(rt, [upload], forwarded)
        assert rt.sent == [] and rt.writer.written == []  # the tail does the writing
        assert rt.scan_cache.get(up.sha256, rt.ruleset_version, settled=True) is None
        await tail()

    asyncio.run(run())
    assert [r.event.event_id for r in rt.writer.written] == [up.event.event_id]
    assert rt.sent[0] == forwarded[0]
    kinds = [m[0] for m in rt.sent[1:]]
    assert kinds[0] == topics.SCAN_RESULTS and set(kinds[1:]) == {topics.ALERTS}
    assert rt.scan_cache.get(up.sha256, rt.ruleset_version, settled=True) is not None
    assert rt.provenance.inventory.search(sha256=up.sha256)  # checked and recorded before the tail


def test_refused_documents_become_dead_letters_and_still_alert(rt, store):
    f = malicious(store / "m.pt")
    a, b = scanned(rt, f, event_id="kept"), scanned(rt, f, event_id="refused")
    rt.writer = Writer(refuse={"refused"})
    originals = {r.event.event_id: message(r.event, offset=n) for n, r in enumerate((a, b))}
    out = asyncio.run(index_and_publish(rt, [a, b], originals))
    letters = [DeadLetter.model_validate_json(v) for t, _k, v in out if t == topics.DEAD_LETTER]
    assert [(dl.stage, dl.offset) for dl in letters] == [("index", 1)]
    assert "elasticsearch refused: mapper_parsing_exception" in letters[0].reason
    assert sum(1 for t, *_ in out if t == topics.SCAN_RESULTS) == 2
    alerted = {json.loads(v)["event_id"] for t, _k, v in out if t == topics.ALERTS}
    assert alerted == {a.event.event_id, b.event.event_id}  # an unindexed malicious upload still alerts


def test_a_benign_pickle_makes_no_alert(rt, store):
    f = store / "benign.pkl"
    f.write_bytes(pickle.dumps({"w": [1.0]}))
    result = scanned(rt, f, event_id="b")
    out = asyncio.run(index_and_publish(rt, [result], {}))
    assert [t for t, *_ in out] == [topics.SCAN_RESULTS]
