"""The scan agent's stage functions with a fake Runtime (no Kafka, no Elasticsearch): a SQLite inventory,
real executors, the real scan cache. Signature bundles next to artifacts are verified for fresh and cached
scans, and the outcome of each event is a frozen ScanOutcome."""
from __future__ import annotations

import asyncio
import dataclasses
import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import pytest

pytest.importorskip("model_signing")
np = pytest.importorskip("numpy")
safetensors_numpy = pytest.importorskip("safetensors.numpy")

from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402

from modelscreen.agents import scan as stage  # noqa: E402
from modelscreen.agents.results import with_provenance  # noqa: E402
from modelscreen.engine.yara.loader import default_ruleset  # noqa: E402
from modelscreen.fetch import FetchError  # noqa: E402
from modelscreen.pipeline.cache import ScanCache  # noqa: E402
from modelscreen.pipeline.provenance import ScanOutcome  # noqa: E402
from modelscreen.provenance import ProvenanceChecker, load_policy, open_inventory  # noqa: E402
from modelscreen.settings import Settings  # noqa: E402
from modelscreen.sources.intake import normalise_raw  # noqa: E402
from tests.integration.harness import upload_event  # noqa: E402
from tests.provenance.test_signatures import sign_with_key, write_key  # noqa: E402


@dataclass
class FakeRuntime:
    """What the scan stage reads from modelscreen.app.Runtime, without a Faust app."""

    settings: Settings
    provenance: ProvenanceChecker
    scan_cache: ScanCache = field(default_factory=ScanCache)
    executor: ThreadPoolExecutor = field(default_factory=lambda: ThreadPoolExecutor(max_workers=1))
    io_executor: ThreadPoolExecutor = field(default_factory=lambda: ThreadPoolExecutor(max_workers=2))
    ruleset_version: str | None = field(default_factory=lambda: default_ruleset()[0].version)
    scanner: None = None  # the process's shared sandbox pool


@pytest.fixture
def rt(tmp_path, store):
    priv, pub = write_key(tmp_path / "signer.pem", ec.generate_private_key(ec.SECP256R1()))
    policy = tmp_path / "policy.yaml"
    policy.write_text(json.dumps({"version": 1, "defaults": {"require_signature": False,
                                                             "signing": {"public_key": str(pub)}},
                                  "rules": [{"store": "*", "name": "signed/*", "require_signature": True}]}))
    settings = Settings(fetch_file_roots=[store], provenance_policy=policy)
    checker = ProvenanceChecker(open_inventory("sqlite", db=tmp_path / "inventory.db"), load_policy(policy))
    runtime = FakeRuntime(settings=settings, provenance=checker)
    runtime.private_key = priv
    yield runtime
    runtime.executor.shutdown()
    runtime.io_executor.shutdown()


def weights(path, **arrays):
    safetensors_numpy.save_file({k: np.asarray(v, dtype=np.float32) for k, v in arrays.items()}, str(path))
    return path


def event_for(path, **kw):
    [event] = normalise_raw(upload_event(path, **kw))
    return event


async def run_stage(rt, events):
    outcomes = [await stage._scan_or_cached(rt, e) for e in events]
    outcomes = await stage._add_cached_evidence(rt, outcomes)
    groups: dict = {}
    for o in outcomes:
        groups.setdefault(o.result.event.event_id, []).append((o.result, o.evidence))
    return outcomes, await with_provenance(rt, list(groups.values()))


def signature_rules(result):
    return sorted(f.rule_id for r in result.reports for f in r.findings if f.rule_id.startswith("SIGNATURE-"))


def test_signed_tampered_and_unsigned_uploads(rt, store):
    good = weights(store / "good.safetensors", w=[1, 2])
    sign_with_key(good, store / "good.safetensors.sig", rt.private_key)
    bad = weights(store / "bad.safetensors", w=[3, 4])
    sign_with_key(bad, store / "bad.safetensors.sig", rt.private_key)
    weights(bad, w=[3, 5])  # changed after signing
    unsigned = weights(store / "unsigned.safetensors", w=[6])
    events = [event_for(good, name="signed/good.safetensors", version="v1"),
              event_for(bad, name="signed/bad.safetensors", version="v1"),
              event_for(unsigned, name="signed/unsigned.safetensors", version="v1")]

    outcomes, results = asyncio.run(run_stage(rt, events))

    assert all(isinstance(o, ScanOutcome) and o.gave_up is None for o in outcomes)
    assert outcomes[0].evidence is not None and outcomes[0].evidence.bundle.endswith("good.safetensors.sig")
    assert {r.event.name: signature_rules(r) for r in results} == {
        "signed/good.safetensors": [], "signed/bad.safetensors": ["SIGNATURE-TAMPERED-FILE"],
        "signed/unsigned.safetensors": ["SIGNATURE-MISSING"]}


def test_cached_scans_still_verify_the_bundle(rt, store):
    model = weights(store / "m.safetensors", w=[1, 2])
    sign_with_key(model, store / "m.safetensors.sig", rt.private_key)
    first = asyncio.run(run_stage(rt, [event_for(model, name="signed/m.safetensors", version="v1")]))[0][0]
    again = event_for(model, name="signed/m.safetensors", version="v2", sha256=first.result.sha256)

    outcomes, [result] = asyncio.run(run_stage(rt, [again]))

    assert result.cached and outcomes[0].evidence is not None
    assert outcomes[0].evidence.bundle.endswith("m.safetensors.sig")
    assert signature_rules(result) == []
    assert rt.provenance.inventory.search(sha256=result.sha256)[0].signature.status.value == "verified"


def test_a_failed_fetch_gives_up_with_a_reason(rt, store):
    rt.settings = rt.settings.model_copy(update={"max_attempts": 1})
    missing = store / "gone.safetensors"
    missing.write_bytes(b"x")
    event = event_for(missing)
    missing.unlink()

    [outcome], [result] = asyncio.run(run_stage(rt, [event]))

    assert outcome.gave_up and result.error and result.verdict.value == "error"
    with pytest.raises(dataclasses.FrozenInstanceError):
        outcome.gave_up = None



def test_a_cached_scan_whose_bundle_store_stays_down_gives_up_at_its_deadline(rt, store, monkeypatch):
    model = weights(store / "m.safetensors", w=[1, 2])
    sign_with_key(model, store / "m.safetensors.sig", rt.private_key)
    first = asyncio.run(run_stage(rt, [event_for(model, name="signed/m.safetensors", version="v1")]))[0][0]
    calls = []
    real = stage.cached_evidence

    def store_down_for(n):
        def lookup(results, settings, scanner=None):
            calls.append(len(results))
            if len(calls) <= n:
                return [FetchError("bundle store: connection refused", transient=True) for _ in results]
            return real(results, settings, scanner)
        return lookup

    rt.settings = rt.settings.model_copy(update={"fetch_deadline": 1.5})
    monkeypatch.setattr(stage, "cached_evidence", store_down_for(2))  # back after one retry
    again = event_for(model, name="signed/m.safetensors", version="v2", sha256=first.result.sha256)
    [outcome], [result] = asyncio.run(run_stage(rt, [again]))
    assert outcome.gave_up is None and result.cached and signature_rules(result) == []
    assert outcome.evidence.bundle.endswith("m.safetensors.sig")

    calls.clear()
    monkeypatch.setattr(stage, "cached_evidence", store_down_for(10**6))  # never back
    later = event_for(model, name="signed/m.safetensors", version="v3", sha256=first.result.sha256)
    [outcome], [result] = asyncio.run(run_stage(rt, [later]))
    assert "connection refused" in outcome.gave_up and "deadline" in outcome.gave_up
    assert result.verdict.value == "error" and 2 <= len(calls) < 20  # retried with backoff, then stopped
