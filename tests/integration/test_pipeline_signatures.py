"""Signature bundles next to artifacts and tensor drift, checked by the scan stage: verified, tampered and
unsigned uploads become findings in Elasticsearch and signature records in the inventory; a new version of
a safetensors model reports which tensors changed. Also: `<key>.sig` objects on a real S3 server."""
from __future__ import annotations

import json
import shutil
import uuid
from datetime import datetime, timezone

import pytest

pytest.importorskip("model_signing")
np = pytest.importorskip("numpy")
safetensors_numpy = pytest.importorskip("safetensors.numpy")

from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402

from modelscreen.schemas.events import ArtifactEvent  # noqa: E402
from modelscreen.schemas.inventory import ArtifactIdentity, SignatureStatus  # noqa: E402
from modelscreen.schemas.policy import ProvenancePolicy  # noqa: E402
from modelscreen.schemas.results import ScanResult  # noqa: E402
from tests.integration.harness import S3_CREDS, file_store_pipeline, own_bucket, upload_event  # noqa: E402
from tests.provenance.test_signatures import sign_with_key, write_key  # noqa: E402
from modelscreen.fetch import fetch_to_file  # noqa: E402
from modelscreen.pipeline.scanning import scan_event  # noqa: E402
from modelscreen.provenance.es_inventory import ElasticsearchInventory  # noqa: E402
from modelscreen.provenance.pipeline_checks import collect_evidence  # noqa: E402
from modelscreen.provenance.signatures import key_fingerprint  # noqa: E402
from modelscreen.settings import Settings  # noqa: E402

pytestmark = pytest.mark.integration

def weights(path, **arrays):
    safetensors_numpy.save_file({k: np.asarray(v, dtype=np.float32) for k, v in arrays.items()}, str(path))
    return path


@pytest.fixture
def keys(tmp_path):
    k1 = write_key(tmp_path / "signer.pem", ec.generate_private_key(ec.SECP256R1()))
    k2 = write_key(tmp_path / "other.pem", ec.generate_private_key(ec.SECP256R1()))
    return k1, k2


@pytest.fixture
def pipeline(kafka_bootstrap, elasticsearch_url, tmp_path, keys):
    (_, pub), _ = keys
    policy = tmp_path / "policy.yaml"
    policy.write_text(json.dumps({"version": 1, "defaults": {"require_signature": False,
                                                             "signing": {"public_key": str(pub)}},
                                  "rules": [{"store": "*", "name": "signed/*", "require_signature": True}]}))
    with file_store_pipeline(kafka_bootstrap, elasticsearch_url, tmp_path,
                             MODELSCREEN_PROVENANCE_POLICY=str(policy)) as p:
        yield p


def _rule_docs(pipeline, rule):
    return [d for d in pipeline.findings_docs() if d["rule"]["id"] == rule]


def test_signed_tampered_and_unsigned_uploads(pipeline, keys):
    (priv, _), _ = keys
    store = pipeline.store
    good = weights(store / "good.safetensors", w=[1, 2])
    sign_with_key(good, store / "good.safetensors.sig", priv)
    bad = weights(store / "bad.safetensors", w=[3, 4])
    sign_with_key(bad, store / "bad.safetensors.sig", priv)
    weights(bad, w=[3, 5])  # changed after signing
    unsigned = weights(store / "unsigned.safetensors", w=[6])

    pipeline.start_worker()
    pipeline.send([upload_event(good, event_id="sig-good", name="signed/good.safetensors", version="v1"),
                   upload_event(bad, event_id="sig-bad", name="signed/bad.safetensors", version="v1"),
                   upload_event(unsigned, event_id="sig-none", name="signed/unsigned.safetensors", version="v1")])

    tampered = pipeline.wait_for(lambda: _rule_docs(pipeline, "SIGNATURE-TAMPERED-FILE"), timeout=120)
    missing = pipeline.wait_for(lambda: _rule_docs(pipeline, "SIGNATURE-MISSING"), timeout=60)
    assert tampered and len(tampered) == 1 and tampered[0]["event"]["severity"] == 99
    assert tampered[0]["modelscreen"]["identity"].endswith(":signed/bad.safetensors@v1")
    assert missing and len(missing) == 1
    assert missing[0]["modelscreen"]["identity"].endswith(":signed/unsigned.safetensors@v1")
    results = {json.loads(m.value)["event"]["name"]: json.loads(m.value)
               for m in pipeline.read("scan-results", expect=3)}
    assert set(results) == {"signed/good.safetensors", "signed/bad.safetensors", "signed/unsigned.safetensors"}
    sig_rules = {name: sorted(f["rule_id"] for f in r["reports"][0]["findings"] if f["rule_id"].startswith("SIGNATURE-"))
                 for name, r in results.items()}
    assert sig_rules == {"signed/good.safetensors": [], "signed/bad.safetensors": ["SIGNATURE-TAMPERED-FILE"],
                         "signed/unsigned.safetensors": ["SIGNATURE-MISSING"]}

    inv = ElasticsearchInventory(pipeline.es, pipeline.env["MODELSCREEN_INVENTORY_INDEX"], ensure=False)
    good_rec = inv.search(sha256=results["signed/good.safetensors"]["sha256"])[0]
    assert good_rec.signature.status is SignatureStatus.verified and good_rec.signature.signer.startswith("key:sha256:")
    assert good_rec.signature.bundle.endswith("good.safetensors.sig")
    bad_rec = inv.search(sha256=results["signed/bad.safetensors"]["sha256"])[0]
    assert bad_rec.signature.status is SignatureStatus.failed and bad_rec.signature.findings == ["SIGNATURE-TAMPERED-FILE"]
    assert inv.search(sha256=results["signed/unsigned.safetensors"]["sha256"])[0].signature is None


def signed_directory(store, name, key_path, staging):
    """A model directory signed as a whole: its bundle is `model.sig` inside it (staged outside while signing,
    so the bundle is not part of the signed manifest)."""
    d = store / name
    d.mkdir()
    weights(d / "model.safetensors", w=[1, 2, 3])
    (d / "config.json").write_text(json.dumps({"model": name}))
    sign_with_key(d, staging, key_path)
    shutil.move(staging, d / "model.sig")
    return d


def _sig_rules(results):
    return {name: sorted(f["rule_id"] for f in r["reports"][0]["findings"] if f["rule_id"].startswith("SIGNATURE-"))
            for name, r in results.items()}


def test_file_added_to_a_signed_directory(pipeline, keys, tmp_path):
    """Each upload event names one file; a file that is not in the directory's signed manifest is its own finding
    (a file of the same directory still verifies)."""
    (priv, _), _ = keys
    d = signed_directory(pipeline.store, "extra", priv, tmp_path / "extra-staging.sig")
    added = weights(d / "added.safetensors", w=[7, 8])  # put next to the model after signing

    pipeline.start_worker()
    pipeline.send([upload_event(d / "model.safetensors", event_id="sig-dir-ok", name="signed/extra/model.safetensors",
                                version="v1"),
                   upload_event(added, event_id="sig-dir-extra", name="signed/extra/added.safetensors", version="v1")])

    extra = pipeline.wait_for(lambda: _rule_docs(pipeline, "SIGNATURE-EXTRA-FILE"), timeout=120)
    assert extra and len(extra) == 1 and extra[0]["event"]["severity"] == 73
    assert extra[0]["modelscreen"]["identity"].endswith(":signed/extra/added.safetensors@v1")
    assert "added.safetensors" in extra[0]["rule"]["name"]
    results = {json.loads(m.value)["event"]["name"]: json.loads(m.value)
               for m in pipeline.read("scan-results", expect=2)}
    assert _sig_rules(results) == {"signed/extra/model.safetensors": [],
                                   "signed/extra/added.safetensors": ["SIGNATURE-EXTRA-FILE"]}
    assert not _rule_docs(pipeline, "SIGNATURE-MISSING")  # the failed verification replaces it

    inv = ElasticsearchInventory(pipeline.es, pipeline.env["MODELSCREEN_INVENTORY_INDEX"], ensure=False)
    ok = inv.search(sha256=results["signed/extra/model.safetensors"]["sha256"])[0]
    assert ok.signature.status is SignatureStatus.verified and ok.signature.bundle == str(d / "model.sig")
    bad = inv.search(sha256=results["signed/extra/added.safetensors"]["sha256"])[0]
    assert bad.signature.status is SignatureStatus.failed and bad.signature.findings == ["SIGNATURE-EXTRA-FILE"]
    assert bad.signature.bundle == str(d / "model.sig")


def test_directory_signed_with_the_wrong_key(pipeline, keys, tmp_path):
    """The policy trusts the signer key; a directory signed with another key is an unexpected signer, for every
    file of it, with the other key recorded as the signer."""
    (_, pub), (other_priv, other_pub) = keys
    d = signed_directory(pipeline.store, "wrongkey", other_priv, tmp_path / "wrongkey-staging.sig")

    pipeline.start_worker()
    pipeline.send([upload_event(d / "model.safetensors", event_id="sig-wrong-model",
                                name="signed/wrongkey/model.safetensors", version="v1"),
                   upload_event(d / "config.json", event_id="sig-wrong-config", name="signed/wrongkey/config.json",
                                version="v1")])

    docs = pipeline.wait_for(lambda: len(_rule_docs(pipeline, "SIGNATURE-UNEXPECTED-SIGNER")) >= 2
                             and _rule_docs(pipeline, "SIGNATURE-UNEXPECTED-SIGNER"), timeout=120)
    assert docs and len(docs) == 2 and {d["event"]["severity"] for d in docs} == {99}
    assert sorted(d["modelscreen"]["identity"].rsplit(":", 1)[1] for d in docs) == [
        "signed/wrongkey/config.json@v1", "signed/wrongkey/model.safetensors@v1"]
    results = {json.loads(m.value)["event"]["name"]: json.loads(m.value)
               for m in pipeline.read("scan-results", expect=2)}
    assert _sig_rules(results) == {"signed/wrongkey/model.safetensors": ["SIGNATURE-UNEXPECTED-SIGNER"],
                                   "signed/wrongkey/config.json": ["SIGNATURE-UNEXPECTED-SIGNER"]}
    assert not _rule_docs(pipeline, "SIGNATURE-MISSING") and not _rule_docs(pipeline, "SIGNATURE-TAMPERED-FILE")

    from cryptography.hazmat.primitives import serialization

    def fingerprint(path):
        return key_fingerprint(serialization.load_pem_public_key(path.read_bytes()))

    inv = ElasticsearchInventory(pipeline.es, pipeline.env["MODELSCREEN_INVENTORY_INDEX"], ensure=False)
    for name, r in results.items():
        rec = inv.search(sha256=r["sha256"])[0]
        assert rec.signature.status is SignatureStatus.failed, name
        assert rec.signature.findings == ["SIGNATURE-UNEXPECTED-SIGNER"], name
        assert rec.signature.signer == f"key:sha256:{fingerprint(other_pub)}" != f"key:sha256:{fingerprint(pub)}"


def test_file_removed_from_a_signed_directory_and_one_added_in_a_subdirectory(pipeline, keys, tmp_path):
    """The remaining files' events report the signed file that is gone; a file added in a subdirectory is
    checked against the directory's bundle above it."""
    (priv, _), _ = keys
    d = signed_directory(pipeline.store, "removed", priv, tmp_path / "removed-staging.sig")
    (d / "config.json").unlink()
    (d / "hooks").mkdir()
    hook = d / "hooks" / "post_load.json"
    hook.write_text("{}")
    pipeline.start_worker()
    pipeline.send([upload_event(d / "model.safetensors", event_id="sig-removed",
                                name="signed/removed/model.safetensors", version="v1"),
                   upload_event(hook, event_id="sig-subdir", name="signed/removed/hooks/post_load.json", version="v1")])
    missing = pipeline.wait_for(lambda: (lambda d: d if len(d) >= 2 else None)(
        _rule_docs(pipeline, "SIGNATURE-MISSING-FILE")), timeout=120)
    assert missing and {d["modelscreen"]["location"] for d in missing} == {"config.json"}  # on both events
    assert sorted(d["modelscreen"]["identity"].rsplit(":", 1)[1] for d in missing) == [
        "signed/removed/hooks/post_load.json@v1", "signed/removed/model.safetensors@v1"]
    extra = pipeline.wait_for(lambda: _rule_docs(pipeline, "SIGNATURE-EXTRA-FILE"), timeout=60)
    assert extra and extra[0]["modelscreen"]["location"] == "hooks/post_load.json"
    assert not _rule_docs(pipeline, "SIGNATURE-MISSING")


def test_bytes_scanned_before_are_still_checked_against_their_new_bundle(pipeline, keys, tmp_path):
    """A re-upload of bytes the worker has scanned (a cached scan) into a directory signed with another key:
    the bundle next to it is still verified."""
    import hashlib

    (priv, _), (other_priv, _) = keys
    good = signed_directory(pipeline.store, "first", priv, tmp_path / "first-staging.sig")
    sha = hashlib.sha256((good / "model.safetensors").read_bytes()).hexdigest()
    pipeline.start_worker()
    pipeline.send([upload_event(good / "model.safetensors", event_id="cache-1", sha256=sha,
                                name="signed/first/model.safetensors", version="v1")])
    assert pipeline.wait_for(lambda: pipeline.artifact_doc(sha), timeout=120)
    again = signed_directory(pipeline.store, "second", other_priv, tmp_path / "second-staging.sig")
    assert hashlib.sha256((again / "model.safetensors").read_bytes()).hexdigest() == sha
    pipeline.send([upload_event(again / "model.safetensors", event_id="cache-2", sha256=sha,
                                name="signed/second/model.safetensors", version="v1")])
    docs = pipeline.wait_for(lambda: _rule_docs(pipeline, "SIGNATURE-UNEXPECTED-SIGNER"), timeout=120)
    assert docs and docs[0]["modelscreen"]["identity"].endswith(":signed/second/model.safetensors@v1")
    results = [json.loads(m.value) for m in pipeline.read("scan-results", expect=2)]
    assert [r["cached"] for r in sorted(results, key=lambda r: r["event"]["name"])] == [False, True]


def test_new_version_reports_tensor_drift(pipeline):
    f = weights(pipeline.store / "clf.safetensors", a=[1, 2], b=[3], c=[4])
    pipeline.start_worker()
    pipeline.send([upload_event(f, event_id="drift-v1", name="models/clf.safetensors", version="v1")])
    first = pipeline.read("scan-results", expect=1, timeout=120)
    assert first
    v1 = json.loads(first[0].value)
    assert not [x for x in v1["reports"][0]["findings"] if x["rule_id"] == "MODEL-TENSOR-DRIFT"]

    weights(f, a=[1, 2], b=[30], d=[5])
    pipeline.send([upload_event(f, event_id="drift-v2", name="models/clf.safetensors", version="v2")])
    both = pipeline.read("scan-results", expect=2, timeout=120)
    v2 = next(json.loads(m.value) for m in both if json.loads(m.value)["event"]["version"] == "v2")
    drift = [x for x in v2["reports"][0]["findings"] if x["rule_id"] == "MODEL-TENSOR-DRIFT"]
    assert len(drift) == 1 and drift[0]["severity"] == "info" and drift[0]["location"] == "b"
    assert "1 changed, 1 added, 1 removed" in drift[0]["title"] and v1["sha256"] in drift[0]["detail"]
    assert v2["verdict"] == "clean"

    inv = ElasticsearchInventory(pipeline.es, pipeline.env["MODELSCREEN_INVENTORY_INDEX"], ensure=False)
    assert inv.get_manifest(v1["sha256"]) is not None and inv.get_manifest(v2["sha256"]) is not None
    ident = ArtifactIdentity(store="local", store_name="/tests", name="models/clf.safetensors", version="v2",
                             uri=f.as_uri())
    assert any(r.manifest for r in inv.find(ident, v2["sha256"]))


# --- S3: `<key>.sig` next to the object (no pipeline wiring needed) ------------------------------------

CREDS = S3_CREDS


@pytest.fixture
def sigs_bucket(s3_endpoint, monkeypatch):
    from modelscreen.fetch.s3 import client

    for k, v in CREDS.items():
        monkeypatch.setenv(k, v)
    s3 = client(s3_endpoint, None, 10)
    with own_bucket(s3, "sigs") as bucket:
        yield s3, bucket


def test_s3_sibling_bundle(s3_endpoint, sigs_bucket, tmp_path, keys):
    s3, bucket = sigs_bucket
    (priv, pub), _ = keys
    src = weights(tmp_path / "w.safetensors", w=[1, 2])
    sign_with_key(src, tmp_path / "w.sig", priv)
    s3.put_object(Bucket=bucket, Key="org/signed.safetensors", Body=src.read_bytes())
    s3.put_object(Bucket=bucket, Key="org/signed.safetensors.sig", Body=(tmp_path / "w.sig").read_bytes())
    s3.put_object(Bucket=bucket, Key="org/unsigned.safetensors", Body=src.read_bytes())
    s3.put_object(Bucket=bucket, Key="org/tampered.safetensors", Body=src.read_bytes() + b" ")
    s3.put_object(Bucket=bucket, Key="org/tampered.safetensors.sig", Body=(tmp_path / "w.sig").read_bytes())
    s3.put_object(Bucket=bucket, Key="org/big.safetensors", Body=src.read_bytes())
    s3.put_object(Bucket=bucket, Key="org/big.safetensors.sig", Body=b" " * ((1 << 20) + 1))
    settings = Settings(s3_endpoint_url=s3_endpoint)
    policy = ProvenancePolicy.model_validate({"defaults": {"signing": {"public_key": str(pub)}}})

    def evidence(key):
        event = ArtifactEvent(action="uploaded", store="s3", store_name=bucket, uri=f"s3://{bucket}/{key}",
                              name=key, actor="alice", time=datetime.now(timezone.utc),
                              source_event_id=uuid.uuid4().hex, raw_type="test")
        result: ScanResult = scan_event(event, settings)  # its fetched copy is gone: fetch again to look
        copy = fetch_to_file(event.uri, tmp_path / f"copy-{uuid.uuid4().hex}", settings)
        return collect_evidence(result, copy, policy=policy, settings=settings)

    ok = evidence("org/signed.safetensors")
    assert ok.signature is not None and ok.signature.verified and ok.bundle == f"s3://{bucket}/org/signed.safetensors.sig"
    assert ok.manifest is not None and ok.findings == []
    none = evidence("org/unsigned.safetensors")
    assert none.signature is None and none.bundle is None and none.findings == []
    tampered = evidence("org/tampered.safetensors")
    assert [f.rule_id for f in tampered.signature.findings] == ["SIGNATURE-TAMPERED-FILE"]
    big = evidence("org/big.safetensors")
    assert big.signature is None and [f.rule_id for f in big.findings] == ["SIGNATURE-INVALID"]
