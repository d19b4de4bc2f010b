"""Provenance checks on the fetched bytes: signature bundles next to the artifact, tensor drift."""
from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

pytest.importorskip("model_signing")
np = pytest.importorskip("numpy")
safetensors_numpy = pytest.importorskip("safetensors.numpy")

from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402

from modelscreen.schemas.events import ArtifactEvent  # noqa: E402
from modelscreen.schemas.inventory import SignatureStatus  # noqa: E402
from modelscreen.schemas.policy import ProvenancePolicy  # noqa: E402
from tests.provenance.conftest import T0  # noqa: E402
from tests.provenance.test_signatures import sign_with_key, write_key  # noqa: E402
from modelscreen.pipeline.scanning import scan_event  # noqa: E402
from modelscreen.provenance import ProvenanceChecker, apply_findings, identity_for_event  # noqa: E402
from modelscreen.provenance.pipeline_checks import (  # noqa: E402
    collect_evidence,
    evidence_findings,
    extra_provenance_findings,
    pipeline_policy,
)
from modelscreen.settings import Settings  # noqa: E402


@pytest.fixture
def store(tmp_path):
    d = tmp_path / "store"
    d.mkdir()
    return d


@pytest.fixture
def settings(store):
    return Settings(fetch_file_roots=[store])


@pytest.fixture
def keys(tmp_path):
    k1 = write_key(tmp_path / "signer.pem", ec.generate_private_key(ec.SECP256R1()))
    k2 = write_key(tmp_path / "other.pem", ec.generate_private_key(ec.SECP256R1()))
    return k1, k2


def in_process(func, *args):
    return func(*args)


def policy_for(pub, **defaults) -> ProvenancePolicy:
    return ProvenancePolicy.model_validate({"defaults": {"signing": {"public_key": str(pub)}, **defaults}})


def scan(path, settings, *, action="uploaded", name=None, version="v1", minutes=0):
    event = ArtifactEvent(action=action, store="local", store_name="/tests", uri=path.as_uri(),
                          name=name or path.name, version=version, actor="alice",
                          time=T0 + timedelta(minutes=minutes), source_event_id=uuid.uuid4().hex, raw_type="test")
    return scan_event(event, settings)


def run(result, path, *, inventory, policy, settings):
    """What the scan agent does: pipeline findings first, then the inventory checks and the record."""
    extra = extra_provenance_findings(result, path, inventory=inventory, policy=policy, settings=settings)
    return ProvenanceChecker(inventory, policy).process(apply_findings(result, extra)), extra


def rules(findings):
    return sorted(f.rule_id for f in findings)


def top_rules(result):
    return rules(f for f in result.reports[0].findings if f.analyzer == "provenance")


def weights(path, **arrays):
    safetensors_numpy.save_file({k: np.asarray(v, dtype=np.float32) for k, v in arrays.items()}, str(path))
    return path


# --- signatures -------------------------------------------------------------------------------------

def test_sibling_bundle_of_a_single_file_is_verified_and_recorded(store, settings, keys, inventory):
    (priv, pub), _ = keys
    f = weights(store / "clf.safetensors", w=[1, 2, 3])
    sign_with_key(f, store / "clf.safetensors.sig", priv)
    policy = policy_for(pub, require_signature=True)
    result = scan(f, settings)
    checked, extra = run(result, f, inventory=inventory, policy=policy, settings=settings)
    assert extra == [] and top_rules(checked) == []  # verified, so no SIGNATURE-MISSING either
    rec = inventory.find(identity_for_event(result.event), result.sha256)[0]
    assert rec.signature.status is SignatureStatus.verified and rec.signature.method == "key"
    assert rec.signature.signer.startswith("key:sha256:") and rec.signature.bundle == str(store / "clf.safetensors.sig")


def test_tampered_single_file(store, settings, keys, inventory):
    (priv, pub), _ = keys
    f = weights(store / "clf.safetensors", w=[1, 2, 3])
    sign_with_key(f, store / "clf.safetensors.sig", priv)
    weights(f, w=[1, 2, 4])
    policy = policy_for(pub, require_signature=True)
    result = scan(f, settings)
    checked, extra = run(result, f, inventory=inventory, policy=policy, settings=settings)
    assert rules(extra) == ["SIGNATURE-TAMPERED-FILE"] and extra[0].severity.value == "critical"
    assert top_rules(checked) == ["SIGNATURE-TAMPERED-FILE"]  # not doubled by check_event, no SIGNATURE-MISSING
    assert checked.verdict.value == "malicious"
    rec = inventory.find(identity_for_event(result.event), result.sha256)[0]
    assert rec.signature.status is SignatureStatus.failed and rec.signature.findings == ["SIGNATURE-TAMPERED-FILE"]


def test_wrong_key_is_an_unexpected_signer(store, settings, keys, inventory):
    (priv, _), (_, other_pub) = keys
    f = weights(store / "clf.safetensors", w=[1])
    sign_with_key(f, store / "clf.safetensors.sig", priv)
    result = scan(f, settings)
    _, extra = run(result, f, inventory=inventory, policy=policy_for(other_pub), settings=settings)
    assert rules(extra) == ["SIGNATURE-UNEXPECTED-SIGNER"]


def test_signer_the_policy_does_not_list(store, settings, keys, inventory):
    (priv, pub), _ = keys
    f = weights(store / "clf.safetensors", w=[1])
    sign_with_key(f, store / "clf.safetensors.sig", priv)
    policy = policy_for(pub, allowed_signers=["cert:*CN=ml-release"])
    _, extra = run(scan(f, settings), f, inventory=inventory, policy=policy, settings=settings)
    assert rules(extra) == ["SIGNATURE-UNEXPECTED-SIGNER"]


def test_garbled_or_oversized_bundle_is_invalid_not_an_exception(store, settings, keys, inventory):
    (_, pub), _ = keys
    f = weights(store / "clf.safetensors", w=[1])
    sig = store / "clf.safetensors.sig"
    sig.write_text("not a bundle")
    _, extra = run(scan(f, settings), f, inventory=inventory, policy=policy_for(pub), settings=settings)
    assert rules(extra) == ["SIGNATURE-INVALID"]
    sig.write_bytes(b"{" * ((1 << 20) + 1))
    ev = collect_evidence(scan(f, settings), f, policy=policy_for(pub), settings=settings)
    assert rules(ev.findings) == ["SIGNATURE-INVALID"] and "limit" in ev.findings[0].detail


def test_unusable_trust_is_a_finding(store, settings, keys, inventory, tmp_path):
    (priv, _), _ = keys
    f = weights(store / "clf.safetensors", w=[1])
    sign_with_key(f, store / "clf.safetensors.sig", priv)
    policy = policy_for(tmp_path / "no-such-key.pub")
    _, extra = run(scan(f, settings), f, inventory=inventory, policy=policy, settings=settings)
    assert rules(extra) == ["SIGNATURE-INVALID"] and "signing trust" in extra[0].detail


def test_directory_bundle_checks_only_this_file(store, settings, keys, inventory):
    (priv, pub), _ = keys
    d = store / "model"
    d.mkdir()
    f = weights(d / "model.safetensors", w=[1, 2])
    (d / "config.json").write_text("{}")
    sign_with_key(d, store / "staging.sig", priv)
    (store / "staging.sig").rename(d / "model.sig")
    (d / "config.json").write_text('{"changed": true}')  # another file: its own event's business
    policy = policy_for(pub)
    _, extra = run(scan(f, settings), f, inventory=inventory, policy=policy, settings=settings)
    assert extra == []
    weights(f, w=[1, 3])
    _, extra = run(scan(f, settings, version="v2"), f, inventory=inventory, policy=policy, settings=settings)
    assert rules(extra) == ["MODEL-TENSOR-DRIFT", "SIGNATURE-TAMPERED-FILE"]
    assert [x.location for x in extra if x.rule_id == "SIGNATURE-TAMPERED-FILE"] == ["model.safetensors"]
    g = weights(d / "new.safetensors", w=[5])  # not covered by the directory's signature
    _, extra = run(scan(g, settings), g, inventory=inventory, policy=policy, settings=settings)
    assert rules(extra) == ["SIGNATURE-EXTRA-FILE"]


def _signed_dir(store, priv, name="model"):
    d = store / name
    (d / "sub").mkdir(parents=True)
    weights(d / "model.safetensors", w=[1, 2])
    (d / "sub" / "tokenizer.json").write_text("{}")
    sign_with_key(d, store / f"{name}.staging.sig", priv)
    (store / f"{name}.staging.sig").rename(d / "model.sig")
    return d


def test_directory_bundle_is_found_from_a_subdirectory(store, settings, keys, inventory):
    (priv, pub), _ = keys
    d = _signed_dir(store, priv)
    added = d / "sub" / "payload.json"
    added.write_text("{}")
    _, extra = run(scan(added, settings), added, inventory=inventory, policy=policy_for(pub), settings=settings)
    assert rules(extra) == ["SIGNATURE-EXTRA-FILE"] and extra[0].location == "sub/payload.json"
    tok = d / "sub" / "tokenizer.json"
    _, extra = run(scan(tok, settings), tok, inventory=inventory, policy=policy_for(pub), settings=settings)
    assert extra == []


def test_a_removed_signed_file_is_reported_on_the_other_files_events(store, settings, keys, inventory):
    (priv, pub), _ = keys
    d = _signed_dir(store, priv)
    (d / "sub" / "tokenizer.json").unlink()
    f = d / "model.safetensors"
    _, extra = run(scan(f, settings), f, inventory=inventory, policy=policy_for(pub), settings=settings)
    assert rules(extra) == ["SIGNATURE-MISSING-FILE"] and extra[0].location == "sub/tokenizer.json"


def test_a_cached_scan_still_verifies_the_bundle_without_reading_the_bytes(store, settings, keys, inventory,
                                                                           monkeypatch):
    from modelscreen.provenance.pipeline_checks import collect_cached_evidence

    (priv, pub), (_, other_pub) = keys
    f = weights(store / "clf.safetensors", w=[1, 2, 3])
    sign_with_key(f, store / "clf.safetensors.sig", priv)
    result = scan(f, settings).model_copy(update={"cached": True})

    import model_signing.hashing as hashing

    def no_hashing(*a, **k):
        raise AssertionError("the cached path must not hash the bytes again")

    monkeypatch.setattr(hashing.Config, "hash", no_hashing)
    here = in_process  # the patch above lives in this process: verify here, not in a sandboxed child
    ok = collect_cached_evidence(result, policy=policy_for(pub), settings=settings, run=here)
    assert ok.signature is not None and ok.signature.verified
    wrong = collect_cached_evidence(result, policy=policy_for(other_pub), settings=settings, run=here)
    assert rules(wrong.signature.findings) == ["SIGNATURE-UNEXPECTED-SIGNER"]
    swapped = result.model_copy(update={"sha256": "0" * 64})  # the cache says other bytes than were signed
    bad = collect_cached_evidence(swapped, policy=policy_for(pub), settings=settings, run=here)
    assert rules(bad.signature.findings) == ["SIGNATURE-TAMPERED-FILE"]


def test_a_sharded_manifest_needs_the_bytes(store, keys):
    import model_signing

    from modelscreen.provenance.signatures import BytesNeeded, verify_model

    (priv, pub), _ = keys
    f = weights(store / "clf.safetensors", w=[1, 2, 3])
    sig = store / "clf.sig"
    (model_signing.signing.Config().use_elliptic_key_signer(private_key=priv)
     .set_hashing_config(model_signing.hashing.Config().use_shard_serialization()).sign(f, sig))
    assert verify_model(f, sig, public_key=pub, sha256="00" * 32).verified  # the bytes are there: hashed
    with pytest.raises(BytesNeeded):
        verify_model(store / "not-fetched", sig, public_key=pub, sha256="00" * 32)


def test_no_bundle_and_required_is_signature_missing_once(store, settings, keys, inventory):
    (_, pub), _ = keys
    f = weights(store / "clf.safetensors", w=[1])
    checked, extra = run(scan(f, settings), f, inventory=inventory, policy=policy_for(pub, require_signature=True),
                         settings=settings)
    assert extra == [] and top_rules(checked) == ["SIGNATURE-MISSING"]
    checked, extra = run(scan(f, settings), f, inventory=inventory, policy=ProvenancePolicy(), settings=settings)
    assert extra == [] and top_rules(checked) == []


def test_bundle_without_configured_trust_is_not_verified(store, settings, keys, inventory):
    (priv, _), _ = keys
    f = weights(store / "clf.safetensors", w=[1])
    sign_with_key(f, store / "clf.safetensors.sig", priv)
    policy = ProvenancePolicy.model_validate({"defaults": {"require_signature": True}})
    checked, extra = run(scan(f, settings), f, inventory=inventory, policy=policy, settings=settings)
    assert extra == [] and top_rules(checked) == ["SIGNATURE-MISSING"]


def test_bundle_outside_the_allowed_roots_is_not_read(store, tmp_path, keys, inventory):
    (priv, pub), _ = keys
    f = weights(store / "clf.safetensors", w=[1])
    outside = tmp_path / "elsewhere.sig"
    sign_with_key(f, outside, priv)
    (store / "clf.safetensors.sig").symlink_to(outside)
    settings = Settings(fetch_file_roots=[store])
    ev = collect_evidence(scan(f, settings), f, policy=policy_for(pub), settings=settings)
    assert ev.signature is None and rules(ev.findings) == ["SIGNATURE-INVALID"]


# --- drift ------------------------------------------------------------------------------------------

def test_drift_between_versions(store, settings, inventory):
    f = weights(store / "clf.safetensors", a=[1, 2], b=[3], c=[4])
    policy = ProvenancePolicy()
    first = scan(f, settings, version="v1")
    checked, extra = run(first, f, inventory=inventory, policy=policy, settings=settings)
    assert extra == [] and inventory.get_manifest(first.sha256) is not None
    assert inventory.find(identity_for_event(first.event), first.sha256)[0].manifest

    weights(f, a=[1, 2], b=[30], d=[5])
    second = scan(f, settings, version="v2", minutes=5)
    checked, extra = run(second, f, inventory=inventory, policy=policy, settings=settings)
    assert rules(extra) == ["MODEL-TENSOR-DRIFT"]
    d = extra[0]
    assert d.severity.value == "info" and d.location == "b"
    assert "1 changed, 1 added, 1 removed" in d.title and first.sha256 in d.detail
    assert "b (changed)" in d.detail and "c (removed)" in d.detail and "d (added)" in d.detail
    assert top_rules(checked) == ["MODEL-TENSOR-DRIFT"] and checked.verdict.value == "clean"
    assert inventory.get_manifest(second.sha256) is not None

    # the same bytes again (a cached scan: no local copy) still compare against the previous version
    again = scan(f, settings, version="v2", minutes=6)
    assert rules(evidence_findings(again, None, inventory=inventory, policy=policy)) == ["MODEL-TENSOR-DRIFT"]


def test_drift_severity_from_policy_and_other_models_ignored(store, settings, inventory):
    policy = ProvenancePolicy.model_validate({"defaults": {"severities": {"MODEL-TENSOR-DRIFT": "high"}}})
    f = weights(store / "a.safetensors", w=[1])
    run(scan(f, settings), f, inventory=inventory, policy=policy, settings=settings)
    g = weights(store / "b.safetensors", w=[2])  # another model: no drift
    _, extra = run(scan(g, settings), g, inventory=inventory, policy=policy, settings=settings)
    assert extra == []
    weights(f, w=[9])
    _, extra = run(scan(f, settings, version="v2"), f, inventory=inventory, policy=policy, settings=settings)
    assert rules(extra) == ["MODEL-TENSOR-DRIFT"] and extra[0].severity.value == "high"


def test_many_changes_are_listed_up_to_a_bound(store, settings, inventory):
    f = weights(store / "big.safetensors", **{f"t{i:02d}": [i] for i in range(30)})
    run(scan(f, settings), f, inventory=inventory, policy=ProvenancePolicy(), settings=settings)
    weights(f, **{f"t{i:02d}": [i + 1] for i in range(30)})
    _, extra = run(scan(f, settings, version="v2"), f, inventory=inventory, policy=ProvenancePolicy(),
                   settings=settings)
    assert "30 changed" in extra[0].title and "and 20 more" in extra[0].detail and extra[0].location == "t00"


def test_not_safetensors_and_deletes_are_left_alone(store, settings, inventory):
    f = store / "notes.json"
    f.write_text("{}")
    result = scan(f, settings)
    ev = collect_evidence(result, f, policy=ProvenancePolicy(), settings=settings)
    assert ev.manifest is None and ev.signature is None and ev.findings == []
    deleted = result.model_copy(update={"event": result.event.model_copy(update={"action": "deleted"})})
    assert extra_provenance_findings(deleted, f, inventory=inventory, settings=settings) == []


def test_inventory_outage_propagates(store, settings):
    class Down:
        def __getattr__(self, name):
            raise ConnectionError("inventory down")

    f = weights(store / "clf.safetensors", w=[1])
    with pytest.raises(ConnectionError):
        extra_provenance_findings(scan(f, settings), f, inventory=Down(), policy=ProvenancePolicy(),
                                  settings=settings)


def test_pipeline_policy_follows_the_file(tmp_path):
    p = tmp_path / "policy.yaml"
    p.write_text("version: 1\ndefaults: {require_signature: true}\n")
    s = Settings(provenance_policy=p)
    assert pipeline_policy(s).defaults.require_signature is True
    p.write_text("version: 1\ndefaults: {require_signature: false, signing: {public_key: /k.pub}}\n")
    import os

    os.utime(p, ns=(1, 10**18))
    pol = pipeline_policy(s)
    assert pol.defaults.require_signature is False and pol.defaults.signing.public_key == "/k.pub"
