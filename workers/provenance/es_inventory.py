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
        res = self._es_404.get(index=self.index, id=rid)
        if not res.get("found"):
            return None
        src = dict(res["_source"])
        src.pop("doc_type", None)
        return InventoryRecord.model_validate(src), (res["_seq_no"], res["_primary_term"])

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
        filters: list[dict] = [{"term": {"doc_type": "record"}}]
        for field, value in (("identity", identity), ("model_key", model_key), ("sha256", sha256),
                             ("store", store)):
            if value is not None:
                filters.append({"term": {field: value}})
        if name is not None:
            filters.append({"wildcard": {"name": {"value": name}}})
        if pinned is not None:
            filters.append({"term": {"pinned": pinned}})
        if approval is not None:
            filters.append({"term": {"approval": ApprovalStatus(approval).value}})
        res = self._es_404.search(
            index=self.index, query={"bool": {"filter": filters}}, size=min(int(limit), 10000),
            sort=[{"last_seen": {"order": "desc", "missing": "_last", "unmapped_type": "date"}},
                  {"identity": {"order": "asc"}}, {"id": {"order": "asc"}}])
        out = []
        for hit in res.get("hits", {}).get("hits", []):
            src = dict(hit["_source"])
            src.pop("doc_type", None)
            out.append(InventoryRecord.model_validate(src))
        return out

    def put_manifest(self, manifest: TensorManifest) -> None:
        self.es.index(index=self.index, id=f"manifest-{manifest.sha256}",
                      document={"doc_type": "tensor-manifest", **manifest.model_dump(mode="json")},
                      refresh="wait_for" if self.refresh_on_write else False)

    def get_manifest(self, sha256: str) -> TensorManifest | None:
        res = self._es_404.get(index=self.index, id=f"manifest-{sha256}")
        if not res.get("found"):
            return None
        src = dict(res["_source"])
        src.pop("doc_type", None)
        return TensorManifest.model_validate(src)

    @staticmethod
    def _baseline_id(name: str) -> str:
        return "baseline-" + hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()

    def put_baseline(self, baseline: BehaviourBaseline) -> None:
        self.es.index(index=self.index, id=self._baseline_id(baseline.name),
                      document={"doc_type": "behaviour-baseline", **baseline.model_dump(mode="json")},
                      refresh="wait_for")

    def get_baseline(self, name: str) -> BehaviourBaseline | None:
        res = self._es_404.get(index=self.index, id=self._baseline_id(name))
        if not res.get("found"):
            return None
        src = dict(res["_source"])
        src.pop("doc_type", None)
        return BehaviourBaseline.model_validate(src)

    def refresh(self) -> None:
        self.es.indices.refresh(index=self.index)
