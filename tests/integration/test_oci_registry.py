"""oci:// against a real OCI registry (CNCF Distribution from `deploy/local/services up --with-oci`): a pushed
model artifact is listed layer by layer and each layer fetched; an index lists its manifests' layers; and a
Harbor push webhook for it becomes per-file findings in Elasticsearch through Kafka."""
from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone
from pathlib import Path

import pytest

from modelscreen.schemas.events import Action, ArtifactEvent, StoreKind
from tests.fakes.oci_push import INDEX, push_manifest, push_model
from tests.integration.harness import Pipeline
from modelscreen.fetch import FetchError, fetch_to_file
from modelscreen.pipeline.expand import expand, is_multi_file
from modelscreen.settings import Settings

pytestmark = pytest.mark.integration

PAYLOADS = Path(__file__).resolve().parents[1] / "sources" / "payloads"
# protocol-0 pickle that would call os.system("touch ...") if loaded: built as bytes, never loaded
PAYLOAD = b"cos\nsystem\n(S'touch /tmp/modelscreen-oci-e2e'\ntR."
_HEADER = b'{"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}'.ljust(64)
WEIGHTS = len(_HEADER).to_bytes(8, "little") + _HEADER + bytes(16)


def _event(registry: str, repo: str, manifest: str, tag: str = "v1") -> ArtifactEvent:
    return ArtifactEvent(action=Action.uploaded, store=StoreKind.harbor, store_name=registry,
                         uri=f"oci://{registry}/{repo}@{manifest}", name=repo, version=tag,
                         expected_digests={"oci-manifest": manifest}, time=datetime(2026, 12, 5, tzinfo=timezone.utc),
                         source_event_id="harbor-1", raw_type="PUSH_ARTIFACT")


def test_a_model_artifact_is_listed_and_fetched_layer_by_layer(oci_registry, tmp_path):
    repo = f"ml/sentiment-{tmp_path.name[-8:].lower().strip('_') or 'x'}"
    manifest = push_model(oci_registry, repo, "v1", {"model.safetensors": WEIGHTS, "pytorch_model.bin": PAYLOAD})
    settings = Settings(oci_plain_http=[oci_registry])
    parent = _event(oci_registry, repo, manifest)
    assert is_multi_file(parent)
    layers = {e.path: e for e in expand(parent, settings)}
    assert sorted(layers) == ["model.safetensors", "pytorch_model.bin"]
    evil = layers["pytorch_model.bin"]
    assert evil.expected_sha256 == hashlib.sha256(PAYLOAD).hexdigest() and evil.size == len(PAYLOAD)
    assert evil.uri == f"oci://{oci_registry}/{repo}@{manifest}/sha256:{evil.expected_sha256}"
    assert not is_multi_file(evil)
    assert fetch_to_file(evil.uri, tmp_path / "blob", settings).read_bytes() == PAYLOAD
    with pytest.raises(FetchError) as missing:
        expand(_event(oci_registry, repo, "sha256:" + "0" * 64), settings)
    assert not missing.value.transient and "404" in missing.value.reason


def test_an_index_lists_the_layers_of_each_manifest(oci_registry, tmp_path):
    repo = "ml/multi-variant"
    a = push_model(oci_registry, repo, "a", {"a.bin": b"\x00" * 32})
    b = push_model(oci_registry, repo, "b", {"b.bin": b"\x01" * 32, "a.bin": b"\x00" * 32})
    index = {"schemaVersion": 2, "mediaType": INDEX, "manifests": [
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": d, "size": 1} for d in (a, b)]}
    digest, _ = push_manifest(oci_registry, repo, "all", index, INDEX)
    files = expand(_event(oci_registry, repo, digest), Settings(oci_plain_http=[oci_registry]))
    assert sorted(e.path for e in files) == ["a.bin", "b.bin"]  # a layer in two manifests is scanned once


def test_a_harbor_push_becomes_per_file_findings(oci_registry, kafka_bootstrap, elasticsearch_url, tmp_path):
    repo = "ml-models/sentiment-classifier"
    manifest = push_model(oci_registry, repo, "v1.2.0", {"model.safetensors": WEIGHTS, "pytorch_model.bin": PAYLOAD})
    webhook = json.loads((PAYLOADS / "harbor_push_artifact.json").read_text())
    webhook["event_data"]["resources"] = [{"digest": manifest, "tag": "v1.2.0",
                                           "resource_url": f"{oci_registry}/{repo}:v1.2.0"}]
    p = Pipeline(kafka_bootstrap, elasticsearch_url, tmp_path, MODELSCREEN_OCI_PLAIN_HTTP=json.dumps([oci_registry]))
    try:
        p.setup()
        p.start_worker()
        p.send([json.dumps(webhook).encode()])
        docs = p.wait_for(lambda: [d for d in p.findings_docs() if d["file"]["name"] == "pytorch_model.bin"],
                          timeout=120)
        assert docs and {d["modelscreen"]["artifact_verdict"] for d in docs} == {"malicious"}
        assert docs[0]["modelscreen"]["identity"] == f"harbor/{oci_registry}:{repo}@v1.2.0#pytorch_model.bin"
        clean = p.wait_for(lambda: p.artifact_doc(hashlib.sha256(WEIGHTS).hexdigest()), timeout=60)
        assert clean and clean["verdict"] == "clean"
    finally:
        p.close()


def test_a_harbor_push_of_an_ollama_model_is_scanned_per_named_layer(oci_registry, kafka_bootstrap, elasticsearch_url,
                                                                    tmp_path):
    """The webhook names only the manifest digest: the scan stage fetches the manifest, recognises the
    Ollama package by its layer media types and scans each layer under its real name."""
    from tests.fakes.oci_models import push_ollama

    repo = "ml-models/ollama-tiny"
    manifest = push_ollama(oci_registry, repo, "q4", PAYLOAD, "{{ .Prompt }}", {"stop": ["</s>"]}, "MIT License\n")
    webhook = json.loads((PAYLOADS / "harbor_push_artifact.json").read_text())
    webhook["event_data"]["resources"] = [{"digest": manifest, "tag": "q4", "resource_url": f"{oci_registry}/{repo}:q4"}]
    webhook["event_data"]["repository"].update(name="ollama-tiny", repo_full_name=repo)
    p = Pipeline(kafka_bootstrap, elasticsearch_url, tmp_path, MODELSCREEN_OCI_PLAIN_HTTP=json.dumps([oci_registry]))
    try:
        p.setup()
        p.start_worker()
        p.send([json.dumps(webhook).encode()])
        docs = p.wait_for(lambda: [d for d in p.findings_docs() if d["file"]["name"] == "model.gguf"], timeout=120)
        assert docs and {d["modelscreen"]["artifact_verdict"] for d in docs} == {"malicious"}
        assert {d["modelscreen"]["artifact_type"] for d in docs} == {"model-package"}
        assert docs[0]["modelscreen"]["identity"] == f"harbor/{oci_registry}:{repo}@q4#model.gguf"
        license_doc = p.wait_for(lambda: p.artifact_doc(hashlib.sha256(b"MIT License\n").hexdigest()), timeout=60)
        assert license_doc and license_doc["verdict"] == "clean" and license_doc["artifact_type"] == "model-package"
    finally:
        p.close()


def test_a_model_sig_layer_is_checked_layer_by_layer_in_the_pipeline(oci_registry, kafka_bootstrap, elasticsearch_url,
                                                                     tmp_path):
    import model_signing
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    from tests.fakes.oci_models import push_modelpack

    key = ec.generate_private_key(ec.SECP256R1())
    (tmp_path / "k.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                       serialization.NoEncryption()))
    (tmp_path / "k.pub").write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                                   serialization.PublicFormat.SubjectPublicKeyInfo))
    (tmp_path / "policy.yaml").write_text(json.dumps({"version": 1, "defaults": {
        "signing": {"public_key": str(tmp_path / "k.pub")}}}))
    signed = tmp_path / "model"
    signed.mkdir()
    (signed / "model.safetensors").write_bytes(WEIGHTS)
    (signed / "config.json").write_bytes(b"{}")
    model_signing.signing.Config().use_elliptic_key_signer(private_key=tmp_path / "k.pem").sign(
        signed, tmp_path / "model.sig")
    repo = "ml-models/signed-tiny"
    tampered = WEIGHTS[:-1] + b"\x01"
    manifest = push_modelpack(oci_registry, repo, "v2", {"model.safetensors": tampered, "config.json": b"{}",
                                                         "model.sig": (tmp_path / "model.sig").read_bytes()})
    webhook = json.loads((PAYLOADS / "harbor_push_artifact.json").read_text())
    webhook["event_data"]["resources"] = [{"digest": manifest, "tag": "v2", "resource_url": f"{oci_registry}/{repo}:v2"}]
    webhook["event_data"]["repository"].update(name="signed-tiny", repo_full_name=repo)
    p = Pipeline(kafka_bootstrap, elasticsearch_url, tmp_path, MODELSCREEN_OCI_PLAIN_HTTP=json.dumps([oci_registry]),
                 MODELSCREEN_PROVENANCE_POLICY=str(tmp_path / "policy.yaml"))
    try:
        p.setup()
        p.start_worker()
        p.send([json.dumps(webhook).encode()])
        docs = p.wait_for(lambda: [d for d in p.findings_docs() if d["rule"]["id"] == "SIGNATURE-TAMPERED-FILE"],
                          timeout=120)
        assert docs and {d["file"]["name"] for d in docs} == {"model.safetensors"}
    finally:
        p.close()
