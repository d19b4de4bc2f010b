"""Provenance through the pipeline: a pinned model swapped upstream, and a download of unapproved bytes,
become findings in Elasticsearch; the inventory records who uploaded and who downloaded."""
from __future__ import annotations

import hashlib
import pickle

import pytest

from modelscreen.schemas.inventory import ArtifactIdentity
from tests.integration.harness import file_store_pipeline, upload_event
from modelscreen.provenance.es_inventory import ElasticsearchInventory

pytestmark = pytest.mark.integration


@pytest.fixture
def pipeline(kafka_bootstrap, elasticsearch_url, tmp_path):
    with file_store_pipeline(kafka_bootstrap, elasticsearch_url, tmp_path) as p:
        yield p


def _weights(path, n):
    path.write_bytes(pickle.dumps({"layer.weight": [float(n)] * 16}, protocol=4))
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_pinned_model_swapped_upstream_is_critical(pipeline):
    inv = ElasticsearchInventory(pipeline.es, pipeline.env["MODELSCREEN_INVENTORY_INDEX"], refresh_on_write=True)
    f = pipeline.store / "model.pkl"
    good = _weights(f, 1)
    ident = ArtifactIdentity(store="local", store_name="/tests", name="model.pkl", version="v1", uri=f.as_uri())
    inv.pin(ident, good, by="secops", reason="reviewed release")

    pipeline.start_worker()
    pipeline.send([upload_event(f, event_id="dl-good", action="downloaded", version="v1")])
    assert pipeline.wait_for(lambda: pipeline.artifact_doc(good), timeout=90)  # served the pinned bytes: quiet
    bad = _weights(f, 2)  # the same name and version now serves other bytes
    pipeline.send([upload_event(f, event_id="dl-swapped", action="downloaded", version="v1")])

    docs = pipeline.wait_for(lambda: [d for d in pipeline.findings_docs() if d["rule"]["id"] == "PINNED-ARTIFACT-CHANGED"],
                             timeout=120)
    assert docs and len(docs) == 1
    d = docs[0]
    assert d["event"]["severity"] == 99 and d["file"]["hash"]["sha256"] == bad
    assert "pinned-artifact-changed" in d["rule"]["name"]
    assert d["modelscreen"]["identity"] == ident.key
    assert pipeline.wait_for(lambda: [r for r in inv.find(ident, bad) if "alice" in r.downloaded_by], timeout=60)


def test_download_of_unapproved_bytes_is_a_finding(pipeline):
    inv = ElasticsearchInventory(pipeline.es, pipeline.env["MODELSCREEN_INVENTORY_INDEX"], refresh_on_write=True)
    f = pipeline.store / "clf.pkl"
    approved = _weights(f, 3)
    ident = ArtifactIdentity(store="local", store_name="/tests", name="clf.pkl", version="v2", uri=f.as_uri())
    inv.approve(ident, approved, by="secops", reason="ok")
    other = _weights(f, 4)
    pipeline.start_worker()
    pipeline.send([upload_event(f, event_id="dl-unapproved", action="downloaded", version="v2")])
    docs = pipeline.wait_for(lambda: [d for d in pipeline.findings_docs()
                                      if d["rule"]["id"] == "PROVENANCE-UNAPPROVED-DOWNLOAD"], timeout=120)
    assert docs and docs[0]["file"]["hash"]["sha256"] == other and docs[0]["labels"]["action"] == "downloaded"
