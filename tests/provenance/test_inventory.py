"""The inventory on SQLite: the shared contract, identities, storage details."""
from __future__ import annotations

import sqlite3
import threading

import pytest

from modelscreen.schemas.inventory import ArtifactIdentity, InventoryRecord, TensorManifest
from tests.provenance import contract
from tests.provenance.conftest import make_result, sha
from modelscreen.provenance import open_inventory
from modelscreen.provenance.inventory import InventoryError
from modelscreen.provenance.sqlite_inventory import SqliteInventory


@pytest.mark.parametrize("case", contract.ALL, ids=lambda c: c.__name__)
def test_contract_on_sqlite(case, inventory):
    case(inventory)


@pytest.mark.parametrize("text, key, parts", [
    ("s3/models:org/model.safetensors@v1", None, ("s3", "models", "org/model.safetensors", "v1", None)),
    ("huggingface/models:org/m@" + "a" * 40 + "#model.safetensors", None,
     ("huggingface", "models", "org/m", "a" * 40, "model.safetensors")),
    ("harbor/reg.example:8443:proj/repo@v2", None, ("harbor", "reg.example:8443", "proj/repo", "v2", None)),
    ("local:model.bin", None, ("local", None, "model.bin", None, None)),
])
def test_identity_text_form_round_trips(text, key, parts):
    ident = ArtifactIdentity.parse(text)
    assert (ident.store, ident.store_name, ident.name, ident.version, ident.path) == parts
    assert ident.key == (key or text)
    assert ArtifactIdentity.parse(ident.key) == ident


def test_identity_of_a_nameless_artifact_is_its_uri():
    ident = ArtifactIdentity.parse("s3://bucket/key.bin")
    assert ident.name is None and ident.key == "s3://bucket/key.bin" == ident.model_key
    with pytest.raises(ValueError):
        ArtifactIdentity.parse("no identity here")


def test_nameless_events_are_recorded_under_their_uri(inventory):
    rec = inventory.record(make_result(name=None, version=None, uri="s3://bucket/blob.bin"))
    assert rec.identity == "s3://bucket/blob.bin" and rec.name is None


def test_results_without_bytes_are_not_recorded(inventory):
    r = make_result()
    assert inventory.record(r.model_copy(update={"sha256": None})) is None
    assert inventory.search() == []


def test_tables_live_in_the_findings_database_next_to_the_findings(tmp_path, monkeypatch):
    from modelscreen.sinks.sqlite_store import SqliteStore

    db = tmp_path / "shared.db"
    monkeypatch.setenv("MODELSCREEN_DB", str(db))
    SqliteStore().close()
    with open_inventory("sqlite") as inv:
        assert inv.path == db
        inv.record(make_result())
    tables = {r[0] for r in sqlite3.connect(db).execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"artifacts", "findings", "inventory", "inventory_manifests"} <= tables


def test_backend_from_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("MODELSCREEN_INVENTORY_BACKEND", "sqlite")
    with open_inventory(db=tmp_path / "x.db") as inv:
        assert isinstance(inv, SqliteInventory)
    with pytest.raises(ValueError):
        open_inventory("mongodb")


def test_optimistic_concurrency_merges_concurrent_writers(inventory):
    ident = ArtifactIdentity(store="s3", store_name="models", name="org/model.safetensors", version="v1")
    inventory.record(make_result())
    errors = []

    def approve(i: int) -> None:
        try:
            inventory.approve(ident, sha(b"weights"), by=f"user{i}", reason="ok")
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=approve, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    rec = inventory.find(ident)[0]
    assert sorted(a.by for a in rec.approvals) == [f"user{i}" for i in range(8)]


def test_a_stale_write_is_refused(inventory):
    rec = inventory.record(make_result())
    _, token = inventory._load(rec.id)
    assert inventory._save(rec, token)
    assert not inventory._save(rec, token)  # token is stale now
    assert not inventory._save(rec, None)  # and it exists already


def test_list_filters(inventory):
    inventory.record(make_result(name="a/one.safetensors"))
    inventory.record(make_result(name="b/two.bin", content=b"two", store="minio", store_name="x"))
    inventory.pin(ArtifactIdentity(store="minio", store_name="x", name="b/two.bin", version="v1"), sha(b"two"),
                  by="alice")
    assert [r.name for r in inventory.search(store="minio")] == ["b/two.bin"]
    assert [r.name for r in inventory.search(name="a/*")] == ["a/one.safetensors"]
    assert [r.name for r in inventory.search(pinned=True)] == ["b/two.bin"]
    assert len(inventory.search(limit=1)) == 1


def test_manifests_are_kept_per_sha256(inventory):
    inventory.record(make_result())
    m = TensorManifest(sha256=sha(b"weights"), size=7, tensors=[])
    inventory.store_manifest(m)
    assert inventory.get_manifest(sha(b"weights")) == m
    assert inventory.search()[0].manifest
    with pytest.raises(InventoryError):
        inventory.store_manifest(TensorManifest())


def test_bad_sha256_is_refused(inventory):
    ident = ArtifactIdentity(store="s3", name="x")
    with pytest.raises(InventoryError):
        inventory.approve(ident, "abc", by="alice")
    with pytest.raises(InventoryError):
        inventory.pin(ident, None, by="alice")


def test_records_validate_against_the_exported_schema(inventory):
    import json
    from pathlib import Path

    import jsonschema

    rec = inventory.record(make_result())
    schema = json.loads((Path(__file__).resolve().parents[2] / "schemas" / "json" /
                         "inventory-record.schema.json").read_text())
    jsonschema.validate(rec.model_dump(mode="json"), schema)
    assert InventoryRecord.model_validate_json(rec.model_dump_json()) == rec
