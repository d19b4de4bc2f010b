"""Stores whose events name something to fetch over their own API, end to end through Kafka into
Elasticsearch: a Hugging Face Hub push (the repository at the pushed commit, every file verified against the
Hub's digests and scanned) and an Artifactory deploy. The stores' APIs are loopback servers in their shape."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from tests.fakes.http_store import Route, StoreServer, serve_hub_repo
from tests.integration.harness import Pipeline

pytestmark = pytest.mark.integration

PAYLOADS = Path(__file__).resolve().parents[1] / "sources" / "payloads"
REPO = "acme-research/tiny-bert-sentiment"
COMMIT = "8c2e5f1a9d3b7e6c4a0f2d8b1e9c7a5d3f6b4e2a"
# protocol-0 pickle that would call os.system("touch ...") if loaded: built as bytes, never loaded
PAYLOAD = b"cos\nsystem\n(S'touch /tmp/modelscreen-hub-e2e'\ntR."
CONFIG = b'{"architectures": ["BertForSequenceClassification"]}\n'
_HEADER = b'{"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}'.ljust(64)
WEIGHTS = len(_HEADER).to_bytes(8, "little") + _HEADER + bytes(16)


@pytest.fixture
def store():
    server = StoreServer()
    yield server
    server.close()


@pytest.fixture
def pipeline(kafka_bootstrap, elasticsearch_url, tmp_path, store):
    p = Pipeline(kafka_bootstrap, elasticsearch_url, tmp_path, MODELSCREEN_HF_ENDPOINT=store.url,
                 MODELSCREEN_HF_TOKEN="hf_e2e", MODELSCREEN_ARTIFACTORY_URL=store.url + "/artifactory",
                 MODELSCREEN_ARTIFACTORY_TOKEN="af_e2e")
    p.setup()
    yield p
    p.close()


def _by_file(docs: list[dict]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for d in docs:
        out.setdefault(d["file"]["name"], set()).add(d["rule"]["id"])
    return out


def test_a_hub_push_verifies_and_scans_every_file_of_the_commit(pipeline, store):
    serve_hub_repo(store, REPO, COMMIT, {
        ".gitattributes": (b"*.bin filter=lfs diff=lfs merge=lfs -text\n", False),
        "config.json": (CONFIG, False),
        "model.safetensors": (WEIGHTS, True),
        "pytorch_model.bin": (PAYLOAD, True),
        "extra/adapter.bin": (b"\x00" * 64, True),
    }, served={"config.json": CONFIG.replace(b"Bert", b"Evil"),  # differs from its git blob id
               "extra/adapter.bin": b"\x01" * 64},  # differs from its LFS sha256
        token="hf_e2e")
    webhook = json.loads((PAYLOADS / "huggingface_repo_content_update.json").read_text())
    webhook["repo"]["name"] = REPO
    pipeline.start_worker()
    pipeline.send([json.dumps(webhook).encode()])

    want = {"config.json": "HF-PIN-DIGEST-MISMATCH", "adapter.bin": "ARTIFACT-DIGEST-MISMATCH"}
    docs = pipeline.wait_for(lambda: (lambda got: got if all(r in got.get(f, set()) for f, r in want.items())
                                      and "pytorch_model.bin" in got else None)(_by_file(pipeline.findings_docs())),
                             timeout=120)
    assert docs, _by_file(pipeline.findings_docs())
    findings = pipeline.findings_docs()
    evil = [d for d in findings if d["file"]["name"] == "pytorch_model.bin"]
    assert evil and {d["modelscreen"]["artifact_verdict"] for d in evil} == {"malicious"}
    assert evil[0]["modelscreen"]["identity"] == f"huggingface/models:{REPO}@{COMMIT}#pytorch_model.bin"
    assert evil[0]["modelscreen"]["artifact_uri"] == f"hf://models/{REPO}@{COMMIT}/pytorch_model.bin"
    mismatch = next(d for d in findings if d["rule"]["id"] == "ARTIFACT-DIGEST-MISMATCH")
    assert mismatch["event"]["severity"] == 99
    # the clean weights leave artifact state and no finding
    clean = hashlib.sha256(WEIGHTS).hexdigest()
    state = pipeline.wait_for(lambda: pipeline.artifact_doc(clean), timeout=60)
    assert state and state["verdict"] == "clean"
    assert not [d for d in findings if d["file"]["name"] == "model.safetensors"]
    assert ".gitattributes" not in _by_file(findings)
    # the token went to the Hub's API and resolve URLs, never along the redirect to the CDN
    assert all(auth == "Bearer hf_e2e" for path, auth in store.requests if not path.startswith("/cdn/"))
    assert all(auth is None for path, auth in store.requests if path.startswith("/cdn/"))


def test_an_artifactory_deploy_is_fetched_from_artifactory(pipeline, store):
    webhook = json.loads((PAYLOADS / "artifactory_deployed.json").read_text())
    data = webhook["data"]
    store.routes[f"/artifactory/{data['repo_key']}/{data['path']}"] = Route(200, PAYLOAD, auth="Bearer af_e2e")
    data["sha256"] = hashlib.sha256(PAYLOAD).hexdigest()
    data["size"] = len(PAYLOAD)
    pipeline.start_worker()
    pipeline.send([json.dumps(webhook).encode()])
    docs = pipeline.wait_for(lambda: pipeline.findings_docs(), timeout=120)
    assert docs and {d["modelscreen"]["artifact_verdict"] for d in docs} == {"malicious"}
    assert docs[0]["modelscreen"]["artifact_uri"].startswith(f"artifactory://{data['repo_key']}/")
