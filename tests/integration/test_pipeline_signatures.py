"""Signature bundles next to artifacts and tensor drift, checked by the scan stage: verified, tampered and
unsigned uploads become findings in Elasticsearch and signature records in the inventory; a new version of
a safetensors model reports which tensors changed. Also: `<key>.sig` objects on a real S3 server."""
from __future__ import annotations

import json
import uuid
from datetime import datetime, timezone

import pytest

pytest.importorskip("model_signing")
np = pytest.importorskip("numpy")
safetensors_numpy = pytest.importorskip("safetensors.numpy")

from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402

import workers.agents.scan as scan_module  # noqa: E402
from schemas.events import ArtifactEvent  # noqa: E402
from schemas.inventory import ArtifactIdentity, SignatureStatus  # noqa: E402
from schemas.policy import ProvenancePolicy  # noqa: E402
from schemas.results import ScanResult  # noqa: E402
from tests.integration.harness import Pipeline, upload_event  # noqa: E402
from tests.provenance.test_signatures import sign_with_key, write_key  # noqa: E402
from workers.fetch import fetch_to_file  # noqa: E402
from workers.pipeline.scanning import scan_event  # noqa: E402
from workers.provenance.es_inventory import ElasticsearchInventory  # noqa: E402
from workers.provenance.pipeline_checks import collect_evidence  # noqa: E402
from workers.settings import Settings  # noqa: E402

pytestmark = pytest.mark.integration

WIRED = pytest.mark.skipif(not hasattr(scan_module, "PIPELINE_PROVENANCE_EVIDENCE"),
                           reason="the scan agent does not run workers.provenance.pipeline_checks yet")


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
    store = tmp_path / "store"
    store.mkdir()
    (_, pub), _ = keys
    policy = tmp_path / "policy.yaml"
    policy.write_text(json.dumps({"version": 1, "defaults": {"require_signature": False,
                                                             "signing": {"public_key": str(pub)}},
                                  "rules": [{"store": "*", "name": "signed/*", "require_signature": True}]}))
    p = Pipeline(kafka_bootstrap, elasticsearch_url, tmp_path, MODELSCREEN_FETCH_FILE_ROOTS=json.dumps([str(store)]),
                 MODELSCREEN_PROVENANCE_POLICY=str(policy))
    p.env["MODELSCREEN_INVENTORY_INDEX"] = f"modelscreen-inventory-t{p.tag}"
    p.store = store
    p.setup()
    yield p
    p.es.options(ignore_status=[404]).indices.delete(index=p.env["MODELSCREEN_INVENTORY_INDEX"])
    p.close()


def _rule_docs(pipeline, rule):
    return [d for d in pipeline.findings_docs() if d["rule"]["id"] == rule]


@WIRED
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


@WIRED
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

CREDS = {"AWS_ACCESS_KEY_ID": "modelscreen-test", "AWS_SECRET_ACCESS_KEY": "modelscreen-test"}


def test_s3_sibling_bundle(s3_endpoint, tmp_path, keys, monkeypatch):
    from workers.fetch.s3 import client

    for k, v in CREDS.items():
        monkeypatch.setenv(k, v)
    (priv, pub), _ = keys
    s3 = client(s3_endpoint, None, 10)
    bucket = f"sigs-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
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
