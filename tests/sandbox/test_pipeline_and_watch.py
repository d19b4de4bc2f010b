"""The worker's scan stage and the embedded watch mode scan in the sandbox: a poison artifact is retried a
bounded number of times, then given up with the reason (dead-lettered); the stage keeps going."""
import asyncio
from datetime import datetime, timezone
import pickle
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import pytest

from modelscreen.agents.dead_letters import dead_letter_for
from modelscreen.agents.scan import _scan
from modelscreen.embedded.watch import watch
from modelscreen.pipeline.cache import ScanCache
from modelscreen.pipeline.scanning import ScanFailed, scan_fetched
from modelscreen.sandbox import SandboxLimits
from modelscreen.sandbox.scanning import SandboxScanner
from modelscreen.schemas.events import Action, ArtifactEvent, DeadLetter, StoreKind
from modelscreen.schemas.results import ScanResult
from modelscreen.provenance.pipeline_checks import collect_evidence
from modelscreen.schemas.policy import ProvenancePolicy
from modelscreen.settings import Settings
from modelscreen.sinks.sqlite_store import SqliteStore
from tests.sandbox import hostile


@pytest.fixture(scope="module")
def scanner():
    with SandboxScanner(2, sandbox=SandboxLimits(memory_bytes=1024**3, cpu_seconds=10, wall_seconds=4),
                        initializer=hostile.install) as s:
        yield s


def _event(path):
    return ArtifactEvent(action=Action.uploaded, store=StoreKind.local, store_name="t", uri=path.as_uri(),
                         name=path.name, time=datetime.now(timezone.utc), source_event_id=str(path),
                         raw_type="test")


def test_scan_fetched_raises_scan_failed_with_the_error_report(tmp_path, scanner):
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"MODELSCREEN-TEST SEGV\n")
    with pytest.raises(ScanFailed) as err:
        scan_fetched(_event(bad), Settings(fetch_file_roots=[tmp_path]), scanner=scanner)
    assert err.value.report.findings[0].rule_id == "ENGINE-CRASH"
    assert err.value.report.path == bad.as_uri()


def test_scan_stage_retries_a_poison_artifact_then_gives_up_and_keeps_going(tmp_path, scanner):
    bad = tmp_path / "poison.txt"
    bad.write_bytes(b"MODELSCREEN-TEST HANG\n")
    good = tmp_path / "good.pkl"
    good.write_bytes(pickle.dumps({"a": 1}))
    rt = SimpleNamespace(settings=Settings(fetch_file_roots=[tmp_path], max_attempts=2),
                         executor=ThreadPoolExecutor(2), io_executor=ThreadPoolExecutor(2), scan_cache=ScanCache(),
                         ruleset_version=None, scanner=scanner)

    async def both():
        return await _scan(rt, _event(bad)), await _scan(rt, _event(good))

    try:
        bad_outcome, ok_outcome = asyncio.run(both())
    finally:
        rt.executor.shutdown()
        rt.io_executor.shutdown()
    assert bad_outcome.result.verdict.value == "error" and bad_outcome.result.attempts == 2
    assert "LIMIT-TIME" in bad_outcome.gave_up and "LIMIT-TIME" in bad_outcome.result.error
    assert ok_outcome.gave_up is None and ok_outcome.result.verdict.value == "clean"
    # the indexed result carries the artifact's error report with the sandbox's finding
    report = bad_outcome.result.reports[0]
    assert report.verdict.value == "error" and [f.rule_id for f in report.findings] == ["LIMIT-TIME"]


def test_a_crash_that_exhausts_its_retries_is_indexed_and_dead_lettered_with_its_error_report(tmp_path, scanner):
    bad = tmp_path / "crash.txt"
    bad.write_bytes(b"MODELSCREEN-TEST SEGV\n")
    rt = SimpleNamespace(settings=Settings(fetch_file_roots=[tmp_path], max_attempts=2),
                         executor=ThreadPoolExecutor(1), io_executor=ThreadPoolExecutor(1), scan_cache=ScanCache(),
                         ruleset_version=None, scanner=scanner)
    try:
        outcome = asyncio.run(_scan(rt, _event(bad)))
    finally:
        rt.executor.shutdown()
        rt.io_executor.shutdown()
    result = outcome.result
    assert outcome.gave_up and result.verdict.value == "error" and result.attempts == 2
    indexed = ScanResult.model_validate_json(result.model_dump_json())
    assert [f.rule_id for f in indexed.reports[0].findings] == ["ENGINE-CRASH"]
    assert indexed.reports[0].path == bad.as_uri() and indexed.reports[0].verdict.value == "error"

    msg = SimpleNamespace(value=b"{}", headers=[], topic="artifact-events", partition=0, offset=7, key=b"k")
    _topic, _key, value = dead_letter_for(msg, outcome.gave_up, "fetch", attempts=result.attempts,
                                          report=result.reports[0])
    letter = DeadLetter.model_validate_json(value)
    assert "ENGINE-CRASH" in letter.reason and letter.attempts == 2
    assert [f.rule_id for f in letter.report.findings] == ["ENGINE-CRASH"]


def test_watch_records_a_crash_as_an_error_and_scans_the_rest(tmp_path, scanner):
    d = tmp_path / "store"
    d.mkdir()
    (d / "a.txt").write_bytes(b"MODELSCREEN-TEST ABORT\n")
    (d / "b.pkl").write_bytes(pickle.dumps([1, 2]))
    seen = {}
    with SqliteStore(tmp_path / "f.db") as store:
        assert watch(d, store, once=True, scanner=scanner,
                     on_result=lambda change, result: seen.__setitem__(change.path.name, result)) == 2
        rows = list(store.search(rule="ENGINE-CRASH", limit=10))
    assert seen["a.txt"].verdict.value == "error" and seen["b.pkl"].verdict.value == "clean"
    assert [r.rule_id for r in rows] == ["ENGINE-CRASH"]


@pytest.fixture(scope="module")
def crashing_verifier():
    with SandboxScanner(1, sandbox=SandboxLimits(memory_bytes=1024**3, cpu_seconds=10, wall_seconds=10),
                        initializer=hostile.crash_bundle_verifier) as s:
        yield s


def _signing_policy(tmp_path):
    key = tmp_path / "signer.pub"
    key.write_text("-----BEGIN PUBLIC KEY-----\n-----END PUBLIC KEY-----\n")
    return ProvenancePolicy.model_validate({"defaults": {"signing": {"public_key": str(key)}}})


def test_a_bundle_verifier_crash_is_a_finding_and_the_caller_goes_on(tmp_path, crashing_verifier):
    store = tmp_path / "store"
    store.mkdir()
    f = store / "m.pkl"
    f.write_bytes(pickle.dumps({"a": 1}))
    (store / "m.pkl.sig").write_bytes(b"{}")
    settings = Settings(fetch_file_roots=[store])
    result = scan_fetched(_event(f), settings, scanner=crashing_verifier)[0]
    ev = collect_evidence(result, f, policy=_signing_policy(tmp_path), settings=settings,
                          run=crashing_verifier.pool.run)
    assert ev.signature is None
    assert sorted(x.rule_id for x in ev.findings) == ["ENGINE-CRASH", "SIGNATURE-INVALID"]
    assert all(x.location == str(store / "m.pkl.sig") for x in ev.findings)
    assert "SIGSEGV" in ev.findings[0].detail
    # the pool replaced the child: the next scan runs as usual
    assert scan_fetched(_event(f), settings, scanner=crashing_verifier)[0].verdict.value == "clean"


def test_watch_goes_on_when_a_bundle_verifier_crashes(tmp_path, crashing_verifier, monkeypatch):
    policy = tmp_path / "policy.json"
    policy.write_text(_signing_policy(tmp_path).model_dump_json(exclude_none=True))
    monkeypatch.setenv("MODELSCREEN_PROVENANCE_POLICY", str(policy))
    d = tmp_path / "store"
    d.mkdir()
    (d / "a.pkl").write_bytes(pickle.dumps([1]))
    (d / "a.pkl.sig").write_bytes(b"{}")
    (d / "b.txt").write_bytes(b"hello\n")
    seen = {}
    with SqliteStore(tmp_path / "f.db") as store:
        assert watch(d, store, once=True, scanner=crashing_verifier,
                     on_result=lambda change, result: seen.__setitem__(change.path.name, result)) == 3
        rows = list(store.search(rule="ENGINE-CRASH", limit=10))
    rules = {f.rule_id for f in seen["a.pkl"].reports[0].findings}
    assert {"ENGINE-CRASH", "SIGNATURE-INVALID"} <= rules
    assert seen["b.txt"].verdict.value != "error" and not seen["b.txt"].error
    assert [r.rule_id for r in rows] == ["ENGINE-CRASH"]
