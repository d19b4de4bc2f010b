"""CycloneDX 1.6 ML-BOM export, validated against the 1.6 JSON schema shipped with cyclonedx-python-lib."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

pytest.importorskip("cyclonedx")

from modelscreen.schemas.inventory import ArtifactIdentity, SignatureInfo, SignatureStatus  # noqa: E402
from tests.provenance.conftest import make_result, sha  # noqa: E402
from tests.provenance.hub_fixture import COMMIT, ENDPOINT, REPO, Recorded  # noqa: E402
from modelscreen.provenance.bom import build_bom, export_cyclonedx, validate_bom  # noqa: E402
from modelscreen.provenance.hf import HubClient, pin_repo  # noqa: E402


@pytest.fixture
def populated(inventory):
    pin_repo(inventory, REPO, COMMIT, client=HubClient(ENDPOINT, getter=Recorded(), token=""), by="alice")
    hf_model = ArtifactIdentity.parse(f"huggingface/models:{REPO}@{COMMIT}#model.safetensors")
    model_sha = inventory.find(hf_model)[0].sha256
    inventory.annotate(hf_model, model_sha, base_model="google-bert/bert-base-uncased",
                       datasets=["example-org/tiny-corpus", "wikipedia"],
                       model_card={"modelParameters": {"task": "fill-mask", "architectureFamily": "bert"}})
    inventory.set_signature(hf_model, model_sha, SignatureInfo(
        status=SignatureStatus.verified, method="key", signer="key:sha256:abcd",
        bundle="s3://sigs/tiny-bert/model.sig", checked_at=datetime.now(timezone.utc)))
    inventory.record(make_result(name="team/classifier.pkl", fmt="pickle", content=b"pickle bytes"))
    inventory.record(make_result(name=None, version=None, uri="s3://bucket/loose file.bin", content=b"loose"))
    return inventory


def test_bom_validates_against_cyclonedx_1_6(populated):
    text = export_cyclonedx(populated.search())
    assert validate_bom(text) is None


def test_bom_content(populated):
    doc = build_bom(populated.search())
    assert doc["bomFormat"] == "CycloneDX" and doc["specVersion"] == "1.6"
    comps = {c["bom-ref"]: c for c in doc["components"]}
    models = [c for c in comps.values() if c["type"] == "machine-learning-model"]
    assert len(models) == 6  # 4 files of the Hub repo, the pickle, the loose file
    hf = next(c for c in models if c["name"] == f"{REPO}/model.safetensors")
    assert hf["version"] == COMMIT
    assert hf["purl"] == f"pkg:huggingface/{REPO}@{COMMIT}#model.safetensors"
    assert hf["hashes"] == [{"alg": "SHA-256", "content": populated.find(
        ArtifactIdentity.parse(f"huggingface/models:{REPO}@{COMMIT}#model.safetensors"))[0].sha256}]
    refs = {r["type"]: r for r in hf["externalReferences"]}
    assert refs["distribution"]["url"] == f"hf://models/{REPO}@{COMMIT}/model.safetensors"
    assert refs["attestation"]["url"] == "s3://sigs/tiny-bert/model.sig"
    [ancestor] = hf["pedigree"]["ancestors"]
    assert ancestor["name"] == "google-bert/bert-base-uncased"
    assert ancestor["purl"] == "pkg:huggingface/google-bert/bert-base-uncased"
    card = hf["modelCard"]
    assert card["modelParameters"]["task"] == "fill-mask"
    datasets = [comps[d["ref"]] for d in card["modelParameters"]["datasets"]]
    assert sorted(d["name"] for d in datasets) == ["example-org/tiny-corpus", "wikipedia"]
    assert all(d["type"] == "data" for d in datasets)
    props = {p["name"]: p["value"] for p in hf["properties"]}
    assert props["modelscreen:pinned"] == "true" and props["modelscreen:signer"] == "key:sha256:abcd"
    pickle = next(c for c in models if c["name"] == "team/classifier.pkl")
    assert "purl" not in pickle and pickle["hashes"][0]["content"] == sha(b"pickle bytes")
    config = next(c for c in models if c["name"] == f"{REPO}/config.json")
    assert "hashes" not in config or config["hashes"] == []
    assert {p["name"] for p in config["properties"]} >= {"modelscreen:digest:git-sha1"}


def test_forced_approvals_are_visible_in_the_bom(inventory):
    from modelscreen.schemas import Verdict
    from tests.provenance.conftest import malicious_finding

    inventory.record(make_result(content=b"evil", verdict=Verdict.malicious, findings=[malicious_finding()]))
    ident = ArtifactIdentity(store="s3", store_name="models", name="org/model.safetensors", version="v1")
    inventory.approve(ident, sha(b"evil"), by="alice", reason="accepted risk", force=True)
    doc = build_bom(inventory.search())
    props = {p["name"]: p["value"] for p in doc["components"][0]["properties"]}
    assert props["modelscreen:forced-approval"] == "true" and props["modelscreen:verdict"] == "malicious"
    assert validate_bom(doc) is None


def test_empty_inventory_is_a_valid_bom(inventory):
    assert validate_bom(build_bom([])) is None


def test_validator_catches_a_broken_document(populated):
    doc = build_bom(populated.search())
    doc["components"][0]["modelCard"] = {"modelParameters": {"datasets": [{"nonsense": 1}]}}
    assert validate_bom(doc) is not None
