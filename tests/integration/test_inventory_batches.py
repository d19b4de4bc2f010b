"""The scan stage's batched inventory requests on a real Elasticsearch node: mget, msearch and one bulk write
per batch, optimistic concurrency on every record of the bulk, and the same results as checking one by one."""
from __future__ import annotations

import uuid

import pytest

from modelscreen.pipeline.provenance import check_batch, check_group
from modelscreen.provenance import ProvenanceChecker, identity_for_event
from modelscreen.provenance.es_inventory import ElasticsearchInventory, put_template
from modelscreen.provenance.inventory import new_record
from modelscreen.schemas.inventory import TensorManifest
from modelscreen.settings import Settings
from tests.integration.test_provenance_e2e import es, index  # noqa: F401 - fixtures
from tests.provenance.conftest import make_result
from tests.provenance.test_pipeline_checks import store  # noqa: F401 - fixture
from tests.provenance.test_staged_inventory import POLICY, batch_of_groups, provenance_rules, seed, state

pytestmark = pytest.mark.integration


def test_batch_requests_read_and_write_what_one_by_one_requests_do(es, index):  # noqa: F811
    inv = ElasticsearchInventory(es, index)
    a, b = make_result(name="org/a", content=b"a"), make_result(name="org/b", content=b"b")
    inv.record(a)
    inv.refresh()
    rid_a, rid_b = (new_record(identity_for_event(r.event), r.sha256).id for r in (a, b))
    records, manifests = inv.read_many([rid_a, rid_b], [a.sha256])
    assert records[rid_a][0].sha256 == a.sha256 and records[rid_b] is None and manifests == {a.sha256: None}
    [by_model, by_bytes, none] = inv.search_many([{"model_key": identity_for_event(a.event).model_key},
                                                  {"sha256": a.sha256}, {"sha256": "0" * 64}])
    assert [r.id for r in by_model] == [r.id for r in by_bytes] == [rid_a] and none == []

    stale = records[rid_a]
    inv.record(make_result(name="org/a", content=b"a", action="downloaded", actor="bob", minutes=1))  # meanwhile
    fresh_b = records[rid_b] or (new_record(identity_for_event(b.event), b.sha256), None)
    manifest = TensorManifest(sha256=b.sha256, size=1)
    conflicts = inv.write_many([stale, fresh_b, fresh_b], [manifest])  # a stale token; a second create of b
    assert conflicts == {rid_a, rid_b}
    inv.refresh()
    assert inv.get(rid_a).downloaded_by == ["bob"]  # the concurrent write stands
    assert inv.get(rid_b) is not None and inv.get_manifest(b.sha256) == manifest


def test_a_batch_on_elasticsearch_gives_what_checking_each_group_alone_gives(es, store):  # noqa: F811
    put_template(es)
    names = [f"modelscreen-inventory-t{uuid.uuid4().hex[:10]}" for _ in range(2)]
    try:
        batched, alone = (ElasticsearchInventory(es, n, refresh_on_write=True) for n in names)
        seed(batched)
        seed(alone)
        batched.refresh_on_write = alone.refresh_on_write = False  # as the pipeline writes
        groups = batch_of_groups(store, Settings(fetch_file_roots=[store]))
        got = check_batch(ProvenanceChecker(batched, POLICY), groups)
        want = []
        for g in groups:  # each group's writes searchable before the next, as the batch's own overlay makes them
            want.append(check_group(ProvenanceChecker(alone, POLICY), g))
            alone.refresh()
        assert [[provenance_rules(r) for r in g] for g in got] == [[provenance_rules(r) for r in g] for g in want]
        batched.refresh()
        assert state(batched) == state(alone)
        assert provenance_rules(got[-1][0]) == ["MODEL-TENSOR-DRIFT"]
    finally:
        for n in names:
            es.options(ignore_status=[404]).indices.delete(index=n)
