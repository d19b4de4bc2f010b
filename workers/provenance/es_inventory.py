"""Inventory in Elasticsearch (pipeline mode): index `modelscreen-inventory`.

One document per record (doc_type `record`, id = record id), one per tensor manifest
(doc_type `tensor-manifest`, id = `manifest-<sha256>`) and one per behaviour baseline (doc_type
`behaviour-baseline`, id = `baseline-<sha256 of the name>`; outputs kept in _source, not indexed). Writes use optimistic concurrency
(if_seq_no / if_primary_term, op_type=create for new records). Uses the synchronous client:
call from a worker thread in async code.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from modelscreen.schemas.behaviour import BehaviourBaseline
from modelscreen.schemas.inventory import ApprovalStatus, InventoryRecord, TensorManifest
from modelscreen.assets import templates_dir
from modelscreen.provenance.inventory import Inventory
from modelscreen.settings import Settings

DEFAULT_INDEX = "modelscreen-inventory"
TEMPLATE_NAME = "modelscreen-inventory"
TEMPLATE_NAME_ON_DISK = "index-template-inventory.json"


def _template_file() -> Path:
    return templates_dir() / TEMPLATE_NAME_ON_DISK


def inventory_index(settings: Any = None) -> str:
    """`inventory_index` from the given settings, else from Settings (MODELSCREEN_INVENTORY_INDEX)."""
    return getattr(settings, "inventory_index", None) or Settings().inventory_index or DEFAULT_INDEX


def put_template(es) -> None:
    """Idempotent: the index template for modelscreen-inventory* (index-template-inventory.json)."""
    tpl = json.loads(_template_file().read_text())
    es.indices.put_index_template(name=TEMPLATE_NAME, meta=tpl.get("_meta"),
                                  **{k: v for k, v in tpl.items() if k != "_meta"})


def install_template(es, index: str = DEFAULT_INDEX) -> dict[str, Any]:
    """Idempotent: the index template and the index. What `modelscreen setup` should call."""
    from elasticsearch import ApiError

    put_template(es)
    if not es.indices.exists(index=index):
        try:
            es.indices.create(index=index)
        except ApiError as exc:
            if exc.status_code != 400 or "resource_already_exists" not in str(exc):
                raise
    return {"inventory": index}


def _search_body(*, identity: str | None = None, model_key: str | None = None, sha256: str | None = None,
                 store: str | None = None, name: str | None = None, pinned: bool | None = None,
                 approval: ApprovalStatus | None = None, limit: int = 1000) -> dict[str, Any]:
    """The request body of Inventory.search: every filter given, latest seen first."""
    filters: list[dict] = [{"term": {"doc_type": "record"}}]
    for field, value in (("identity", identity), ("model_key", model_key), ("sha256", sha256), ("store", store)):
        if value is not None:
            filters.append({"term": {field: value}})
    if name is not None:
        filters.append({"wildcard": {"name": {"value": name}}})
    if pinned is not None:
        filters.append({"term": {"pinned": pinned}})
    if approval is not None:
        filters.append({"term": {"approval": ApprovalStatus(approval).value}})
    return {"query": {"bool": {"filter": filters}}, "size": min(int(limit), 10000),
            "sort": [{"last_seen": {"order": "desc", "missing": "_last", "unmapped_type": "date"}},
                     {"identity": {"order": "asc"}}, {"id": {"order": "asc"}}]}


def _source(doc: dict) -> dict:
    src = dict(doc["_source"])
    src.pop("doc_type", None)
    return src


def _hits(res: dict) -> list[InventoryRecord]:
    return [InventoryRecord.model_validate(_source(hit)) for hit in res.get("hits", {}).get("hits", [])]


def _record_with_token(doc: dict) -> tuple[InventoryRecord, Any] | None:
    if not doc.get("found"):
        return None
    return InventoryRecord.model_validate(_source(doc)), (doc["_seq_no"], doc["_primary_term"])


def _manifest(doc: dict) -> TensorManifest | None:
    return TensorManifest.model_validate(_source(doc)) if doc.get("found") else None


class ElasticsearchInventory(Inventory):
    def __init__(self, es, index: str = DEFAULT_INDEX, *, ensure: bool = True, owns_client: bool = False,
                 refresh_on_write: bool = False):
        """`refresh_on_write`: every write waits until searches see it (CLI, tests). Otherwise only approvals,
        pins and pending approvals do, and plain `record` calls are visible to searches after the next refresh
        (gets by id are always current)."""
        self.es = es
        self.index = index
        self._owns = owns_client
        self.refresh_on_write = refresh_on_write
        self._es_404 = es.options(ignore_status=[404])  # built once: options() copies the client
        if ensure:
            install_template(es, index)

    @classmethod
    def from_settings(cls, settings, *, index: str | None = None, ensure: bool = True,
                      refresh_on_write: bool = False) -> ElasticsearchInventory:
        return cls(settings.elasticsearch_client(), index or inventory_index(settings), ensure=ensure,
                   owns_client=True, refresh_on_write=refresh_on_write)

    def close(self) -> None:
        if self._owns:
            self.es.close()

    def _load(self, rid: str) -> tuple[InventoryRecord, Any] | None:
        return _record_with_token(self._es_404.get(index=self.index, id=rid))

    def _save(self, record: InventoryRecord, token: Any, *, refresh: bool = True) -> bool:
        from elasticsearch import ConflictError

        doc = {"doc_type": "record", **record.model_dump(mode="json")}
        kw: dict[str, Any] = {"index": self.index, "id": record.id, "document": doc,
                              "refresh": "wait_for" if refresh or self.refresh_on_write else False}
        if token is None:
            kw["op_type"] = "create"
        else:
            kw["if_seq_no"], kw["if_primary_term"] = token
        try:
            self.es.index(**kw)
        except ConflictError:
            return False
        return True

    def search(self, *, identity: str | None = None, model_key: str | None = None, sha256: str | None = None,
               store: str | None = None, name: str | None = None, pinned: bool | None = None,
               approval: ApprovalStatus | None = None, limit: int = 1000) -> list[InventoryRecord]:
        return _hits(self._es_404.search(index=self.index, **_search_body(
            identity=identity, model_key=model_key, sha256=sha256, store=store, name=name, pinned=pinned,
            approval=approval, limit=limit)))

    # batches: one request each (mget, msearch, bulk)

    def read_many(self, record_ids: list[str], manifest_shas: list[str]
                  ) -> tuple[dict[str, tuple[InventoryRecord, Any] | None], dict[str, TensorManifest | None]]:
        ids = [*record_ids, *(f"manifest-{sha}" for sha in manifest_shas)]
        docs = self.es.mget(index=self.index, ids=ids)["docs"] if ids else []
        got = {}
        for doc in docs:
            if "error" in doc:  # asked again alone: its error, if any, is the client's
                got[doc["_id"]] = self._es_404.get(index=self.index, id=doc["_id"])
            else:
                got[doc["_id"]] = doc
        records = {rid: _record_with_token(got.get(rid, {})) for rid in record_ids}
        manifests = {sha: _manifest(got.get(f"manifest-{sha}", {})) for sha in manifest_shas}
        return records, manifests

    def search_many(self, queries: list[dict[str, Any]]) -> list[list[InventoryRecord]]:
        if not queries:
            return []
        searches: list[dict] = []
        for q in queries:
            searches += [{"index": self.index, "ignore_unavailable": True}, _search_body(**q)]
        answers = self.es.msearch(searches=searches)["responses"]
        return [self.search(**q) if "error" in a else _hits(a) for q, a in zip(queries, answers)]

    def write_many(self, records: list[tuple[InventoryRecord, Any]], manifests: list[TensorManifest]) -> set[str]:
        ops: list[dict] = []
        for m in manifests:
            ops += [{"index": {"_id": f"manifest-{m.sha256}"}},
                    {"doc_type": "tensor-manifest", **m.model_dump(mode="json")}]
        for rec, token in records:
            head = {"_id": rec.id}
            if token is not None:
                head["if_seq_no"], head["if_primary_term"] = token
            ops += [{"create" if token is None else "index": head},
                    {"doc_type": "record", **rec.model_dump(mode="json")}]
        if not ops:
            return set()
        res = self.es.bulk(index=self.index, operations=ops,
                           refresh="wait_for" if self.refresh_on_write else False)
        failed: set[str] = set()
        for item in res["items"]:
            out = next(iter(item.values()))
            if out.get("status", 500) >= 300:
                failed.add(out["_id"])
        lost = failed - {rec.id for rec, _t in records}
        if lost:  # a manifest write failed (overloaded, say): written again alone, its error the client's
            for m in manifests:
                if f"manifest-{m.sha256}" in lost:
                    self.put_manifest(m)
        return failed - lost

    def put_manifest(self, manifest: TensorManifest) -> None:
        self.es.index(index=self.index, id=f"manifest-{manifest.sha256}",
                      document={"doc_type": "tensor-manifest", **manifest.model_dump(mode="json")},
                      refresh="wait_for" if self.refresh_on_write else False)

    def get_manifest(self, sha256: str) -> TensorManifest | None:
        return _manifest(self._es_404.get(index=self.index, id=f"manifest-{sha256}"))

    @staticmethod
    def _baseline_id(name: str) -> str:
        return "baseline-" + hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()

    def put_baseline(self, baseline: BehaviourBaseline) -> None:
        self.es.index(index=self.index, id=self._baseline_id(baseline.name),
                      document={"doc_type": "behaviour-baseline", **baseline.model_dump(mode="json")},
                      refresh="wait_for")

    def get_baseline(self, name: str) -> BehaviourBaseline | None:
        res = self._es_404.get(index=self.index, id=self._baseline_id(name))
        return BehaviourBaseline.model_validate(_source(res)) if res.get("found") else None

    def refresh(self) -> None:
        self.es.indices.refresh(index=self.index)
