"""The Elasticsearch inventory on a real node: the same contract as SQLite, templates, concurrency, the CLI."""
from __future__ import annotations

import json
import threading
import uuid

import pytest

from modelscreen.schemas.inventory import ArtifactIdentity, TensorManifest
from tests.provenance import contract
from tests.provenance.conftest import make_result, sha

pytestmark = pytest.mark.integration


@pytest.fixture
def es(elasticsearch_url):
    from elasticsearch import Elasticsearch

    client = Elasticsearch(elasticsearch_url, request_timeout=30)
    yield client
    client.close()


@pytest.fixture
def index(es):
    from modelscreen.provenance.es_inventory import put_template

    name = f"modelscreen-inventory-t{uuid.uuid4().hex[:10]}"
    put_template(es)
    # the template shapes the index; a short refresh interval: writes that wait for visibility return sooner
    es.indices.create(index=name, settings={"index": {"refresh_interval": "100ms"}})
    yield name
    es.options(ignore_status=[404]).indices.delete(index=name)


@pytest.fixture
def inventory(es, index):
    from modelscreen.provenance.es_inventory import ElasticsearchInventory

    return ElasticsearchInventory(es, index, refresh_on_write=True)


@pytest.mark.parametrize("case", contract.ALL, ids=lambda c: c.__name__)
def test_contract_on_elasticsearch(case, inventory):
    case(inventory)


def test_template_shapes_the_index(es, index, inventory):
    mapping = es.indices.get_mapping(index=index)[index]["mappings"]
    props = mapping["properties"]
    assert mapping["dynamic"] in (False, "false")
    assert props["sha256"]["type"] == "keyword" and props["approvals"]["type"] == "nested"
    assert props["pinned"]["type"] == "boolean" and props["last_seen"]["type"] == "date"
    # installing twice is fine
    from modelscreen.provenance.es_inventory import install_template

    assert install_template(es, index) == {"inventory": index}


def test_pinned_artifact_changed_against_the_real_node(inventory):
    from modelscreen.schemas import Severity
    from modelscreen.provenance import ProvenanceChecker

    ident = ArtifactIdentity(store="s3", store_name="models", name="org/model.safetensors", version="v1")
    inventory.record(make_result(content=b"release"))
    inventory.pin(ident, sha(b"release"), by="alice", reason="release")
    out = ProvenanceChecker(inventory).process(make_result(action="downloaded", content=b"trojan", actor="bob"))
    [f] = [f for f in out.reports[0].findings if f.rule_id == "PINNED-ARTIFACT-CHANGED"]
    assert f.severity is Severity.critical and "pinned-artifact-changed" in f.title
    assert inventory.find(ident, sha(b"trojan"))[0].downloaded_by == ["bob"]


def test_concurrent_approvals_are_all_kept(inventory):
    ident = ArtifactIdentity(store="s3", store_name="models", name="org/model.safetensors", version="v1")
    inventory.record(make_result())
    errors = []

    def approve(i):
        try:
            inventory.approve(ident, sha(b"weights"), by=f"user{i}", reason="ok")
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=approve, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert sorted(a.by for a in inventory.find(ident)[0].approvals) == [f"user{i}" for i in range(6)]


def test_manifests_and_model_card_stay_in_source(inventory):
    ident = ArtifactIdentity(store="s3", store_name="models", name="org/model.safetensors", version="v1")
    inventory.record(make_result())
    inventory.annotate(ident, sha(b"weights"), base_model="org/base", model_card={"modelParameters": {"task": "x"}})
    m = TensorManifest(sha256=sha(b"weights"), size=7)
    inventory.store_manifest(m)
    assert inventory.get_manifest(sha(b"weights")) == m
    rec = inventory.find(ident)[0]
    assert rec.manifest and rec.model_card == {"modelParameters": {"task": "x"}}


def test_cli_on_the_elasticsearch_backend(elasticsearch_url, index, inventory, monkeypatch):
    from click.testing import CliRunner

    from modelscreen.commands.provenance import inventory as inventory_group

    inventory.record(make_result())
    monkeypatch.setenv("MODELSCREEN_ELASTICSEARCH_URL", elasticsearch_url)
    monkeypatch.setenv("MODELSCREEN_INVENTORY_BACKEND", "elasticsearch")
    monkeypatch.setenv("MODELSCREEN_INVENTORY_INDEX", index)
    runner = CliRunner()
    ident = "s3/models:org/model.safetensors@v1"
    res = runner.invoke(inventory_group, ["approve", ident, sha(b"weights"), "--by", "alice", "--reason", "ok"],
                        catch_exceptions=False)
    assert res.exit_code == 0, res.output
    listed = runner.invoke(inventory_group, ["list", "--approval", "approved", "--format", "json"],
                           catch_exceptions=False)
    assert [r["identity"] for r in json.loads(listed.output)] == [ident]
    bom = runner.invoke(inventory_group, ["export", "--format", "cyclonedx"], catch_exceptions=False)
    from modelscreen.provenance.bom import validate_bom

    assert bom.exit_code == 0 and validate_bom(bom.output) is None
