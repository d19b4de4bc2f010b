"""One batch's view of an inventory: reads asked for ahead in one request each, writes kept and sent at once.

The scan stage checks a whole batch of results against the inventory. Asked one by one, that is a search,
a get and a write per artifact (more for safetensors), each a round trip. Through a StagedInventory:

    staged = StagedInventory(inventory)
    staged.read_ahead(record_ids=..., searches=[{"model_key": ...}, ...], manifests=[sha256, ...])
    ...                                   # the shared Inventory logic, reading what was read ahead
    conflicts = staged.flush()            # one bulk write; the ids someone else changed meanwhile

Reads not asked for ahead go to the backend (and are kept). Records read by id are current (a get, not a
search), and a search sees them and this batch's own writes, so a write is never waited on to become
searchable. Nothing is written before `flush`; the backend's optimistic concurrency decides each record
write there, and the caller redoes what conflicted.
"""
from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timezone
from fnmatch import fnmatchcase
from typing import Any

from modelscreen.schemas.behaviour import BehaviourBaseline
from modelscreen.schemas.inventory import ApprovalStatus, InventoryRecord, TensorManifest
from modelscreen.provenance.inventory import Inventory

Query = dict[str, Any]
_EPOCH = datetime.min.replace(tzinfo=timezone.utc)


def query_key(query: Query) -> tuple:
    return tuple(sorted((k, v) for k, v in query.items() if v is not None and k != "limit"))


def matches(record: InventoryRecord, query: Query) -> bool:
    """Whether `record` answers Inventory.search(**query) (the same filters the backends apply)."""
    for field in ("identity", "model_key", "sha256", "store", "pinned"):
        value = query.get(field)
        if value is not None and getattr(record, field) != value:
            return False
    if query.get("name") is not None and not fnmatchcase(record.name or "", query["name"]):
        return False
    approval = query.get("approval")
    return approval is None or record.approval is ApprovalStatus(approval)


def search_order(records: Iterable[InventoryRecord]) -> list[InventoryRecord]:
    """Latest seen first (never seen last), then identity and id: the backends' order."""
    ordered = sorted(records, key=lambda r: (r.identity, r.id))
    seen = sorted((r for r in ordered if r.last_seen is not None), key=lambda r: r.last_seen or _EPOCH,
                  reverse=True)
    return seen + [r for r in ordered if r.last_seen is None]


class StagedInventory(Inventory):
    def __init__(self, backend: Inventory):
        self.backend = backend
        self._records: dict[str, tuple[InventoryRecord, Any] | None] = {}  # read by id: current
        self._searches: dict[tuple, list[InventoryRecord]] = {}
        self._manifests: dict[str, TensorManifest | None] = {}
        self._staged: dict[str, tuple[InventoryRecord, Any]] = {}  # id -> (record, the token it was read with)
        self._staged_manifests: dict[str, TensorManifest] = {}
        self.writer: Any = None  # who writes now (the caller sets it): `touched` says who wrote what
        self.touched: dict[str, set] = {}

    def read_ahead(self, *, record_ids: Iterable[str] = (), searches: Iterable[Query] = (),
                   manifests: Iterable[str] = ()) -> None:
        """Read what was not read yet: records and manifests in one request, searches in another."""
        ids = sorted({i for i in record_ids if i not in self._records})
        shas = sorted({s for s in manifests if s and s not in self._manifests})
        if ids or shas:
            records, found = self.backend.read_many(ids, shas)
            self._records.update(records)
            self._manifests.update(found)
        todo = {query_key(q): q for q in searches if query_key(q) not in self._searches}
        if todo:
            answers = self.backend.search_many(list(todo.values()))
            self._searches.update(zip(todo, answers))

    # the storage primitives of Inventory, answered from what this batch read and wrote

    def _load(self, rid: str) -> tuple[InventoryRecord, Any] | None:
        if rid in self._staged:
            return self._staged[rid]
        if rid not in self._records:
            self._records[rid] = self.backend._load(rid)
        return self._records[rid]

    def _save(self, record: InventoryRecord, token: Any, *, refresh: bool = True) -> bool:
        self._staged[record.id] = (record, token)
        self.touched.setdefault(record.id, set()).add(self.writer)
        return True

    def search(self, *, limit: int = 1000, **query) -> list[InventoryRecord]:
        key = query_key(query)
        if key not in self._searches:
            self._searches[key] = self.backend.search(limit=limit, **query)
        current = {rid: got[0] for rid, got in self._records.items() if got is not None}
        current.update((rid, rec) for rid, (rec, _token) in self._staged.items())
        out = {r.id: current.get(r.id, r) for r in self._searches[key]}
        out.update((rid, rec) for rid, rec in current.items() if rid not in out and matches(rec, query))
        return search_order(r for r in out.values() if matches(r, query))[:limit]

    def put_manifest(self, manifest: TensorManifest) -> None:
        self._staged_manifests[manifest.sha256] = manifest
        self._manifests[manifest.sha256] = manifest

    def get_manifest(self, sha256: str) -> TensorManifest | None:
        if sha256 not in self._manifests:
            self._manifests[sha256] = self.backend.get_manifest(sha256)
        return self._manifests[sha256]

    def put_baseline(self, baseline: BehaviourBaseline) -> None:
        self.backend.put_baseline(baseline)

    def get_baseline(self, name: str) -> BehaviourBaseline | None:
        return self.backend.get_baseline(name)

    def flush(self) -> set[str]:
        """Write what this batch staged in one request (waiting for no index refresh); the ids of the records
        not written (Inventory.write_many)."""
        if not self._staged and not self._staged_manifests:
            return set()
        conflicts = self.backend.write_many(list(self._staged.values()), list(self._staged_manifests.values()))
        self._staged.clear()
        self._staged_manifests.clear()
        return conflicts
