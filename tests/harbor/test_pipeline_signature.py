"""A `model.sig` layer in an OCI model package, seen by the pipeline one layer at a time: each layer's
file is checked against the signed manifest, the other signed files for being in the package
(modelscreen.provenance.pipeline_checks, against a loopback fake registry)."""
from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

pytest.importorskip("model_signing")

from cryptography.hazmat.primitives import serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402

from modelscreen.engine import ENGINE_VERSION  # noqa: E402
from modelscreen.provenance.pipeline_checks import collect_evidence  # noqa: E402
from modelscreen.schemas.events import ArtifactEvent  # noqa: E402
from modelscreen.schemas.findings import Verdict  # noqa: E402
from modelscreen.schemas.policy import ProvenancePolicy  # noqa: E402
from modelscreen.schemas.results import ScanResult  # noqa: E402
from modelscreen.settings import Settings  # noqa: E402
from tests.fakes.http_store import Route, StoreServer  # noqa: E402
from tests.harbor.helpers import SAFETENSORS, digest  # noqa: E402

REPO = "ml/signed"
FILES = {"model.safetensors": SAFETENSORS, "config.json": b'{"architectures": ["Tiny"]}'}


@pytest.fixture
def keys(tmp_path):
    key = ec.generate_private_key(ec.SECP256R1())
    priv, pub = tmp_path / "k.pem", tmp_path / "k.pub"
    priv.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    pub.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                  serialization.PublicFormat.SubjectPublicKeyInfo))
    return priv, pub


@pytest.fixture
def registry():
    server = StoreServer()
    yield server
    server.close()


def signature(tmp_path, priv) -> bytes:
    import model_signing

    d = tmp_path / "signed"
    d.mkdir()
    for name, data in FILES.items():
        (d / name).write_bytes(data)
    model_signing.signing.Config().use_elliptic_key_signer(private_key=priv).sign(d, tmp_path / "model.sig")
    return (tmp_path / "model.sig").read_bytes()


def serve(server: StoreServer, files: dict[str, bytes]) -> str:
    layers = []
    for name, data in files.items():
        server.routes[f"/v2/{REPO}/blobs/{digest(data)}"] = Route(body=data)
        layers.append({"mediaType": "application/vnd.cncf.model.weight.v1.raw", "digest": digest(data),
                       "size": len(data), "annotations": {"org.cncf.model.filepath": name}})
    body = json.dumps({"schemaVersion": 2, "artifactType": "application/vnd.cncf.model.manifest.v1+json",
                       "config": {"mediaType": "application/vnd.cncf.model.config.v1+json", "digest": digest(b"{}")},
                       "layers": layers}).encode()
    server.routes[f"/v2/{REPO}/manifests/{digest(body)}"] = Route(
        body=body, headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"})
    return digest(body)


def evidence(server: StoreServer, manifest: str, data: bytes, tmp_path, pub):
    host = server.url.split("//", 1)[1]
    event = ArtifactEvent(action="uploaded", store="harbor", store_name=host,
                          uri=f"oci://{host}/{REPO}@{manifest}/{digest(data)}", name=REPO, version="v1",
                          path="model.safetensors", time=datetime.now(timezone.utc), source_event_id="x",
                          raw_type="PUSH_ARTIFACT")
    local = tmp_path / "fetched"
    local.write_bytes(data)
    result = ScanResult(event=event, verdict=Verdict.clean, engine_version=ENGINE_VERSION,
                        scanned_at=datetime.now(timezone.utc))
    policy = ProvenancePolicy.model_validate({"defaults": {"signing": {"public_key": str(pub)}}})
    return collect_evidence(result, local, policy=policy, settings=Settings(oci_plain_http=[host]))


def test_a_signed_layer_verifies(registry, tmp_path, keys):
    sig = signature(tmp_path, keys[0])
    ev = evidence(registry, serve(registry, {**FILES, "model.sig": sig}), SAFETENSORS, tmp_path, keys[1])
    assert ev.signature is not None and ev.signature.verified, ev.signature and ev.signature.findings
    assert ev.bundle.startswith("oci://")


def test_a_tampered_layer_and_a_missing_file_are_found(registry, tmp_path, keys):
    sig = signature(tmp_path, keys[0])
    tampered = SAFETENSORS[:-1] + b"\x01"
    ev = evidence(registry, serve(registry, {"model.safetensors": tampered, "model.sig": sig}), tampered, tmp_path,
                  keys[1])
    assert sorted(f.rule_id for f in ev.signature.findings) == ["SIGNATURE-MISSING-FILE", "SIGNATURE-TAMPERED-FILE"]


def test_a_package_without_model_sig_has_no_signature_evidence(registry, tmp_path, keys):
    ev = evidence(registry, serve(registry, FILES), SAFETENSORS, tmp_path, keys[1])
    assert ev.signature is None and ev.bundle is None and not ev.findings
