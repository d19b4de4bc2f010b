"""Inventory in SQLite (embedded mode): its own tables in the findings database file."""
from __future__ import annotations

import os
import sqlite3
import threading
from pathlib import Path
from typing import Any

from modelscreen.schemas.behaviour import BehaviourBaseline
from modelscreen.schemas.inventory import ApprovalStatus, InventoryRecord, TensorManifest
from modelscreen.provenance.inventory import Inventory
from modelscreen.sinks.sqlite_store import default_db_path

SCHEMA = """
CREATE TABLE IF NOT EXISTS inventory (
    id TEXT PRIMARY KEY,
    identity TEXT NOT NULL,
    model_key TEXT NOT NULL,
    store TEXT NOT NULL,
    name TEXT,
    sha256 TEXT,
    pinned INTEGER NOT NULL DEFAULT 0,
    approval TEXT NOT NULL DEFAULT 'none',
    last_seen TEXT,
    seq INTEGER NOT NULL DEFAULT 0,
    doc TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS inventory_identity ON inventory(identity);
CREATE INDEX IF NOT EXISTS inventory_model ON inventory(model_key);
CREATE INDEX IF NOT EXISTS inventory_sha ON inventory(sha256);
CREATE TABLE IF NOT EXISTS inventory_manifests (
    sha256 TEXT PRIMARY KEY,
    doc TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS inventory_baselines (
    name TEXT PRIMARY KEY,
    doc TEXT NOT NULL
);
"""


class SqliteInventory(Inventory):
    def __init__(self, path: str | os.PathLike | None = None):
        self.path = Path(path) if path else default_db_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # The pipeline calls the inventory from worker threads: one connection, serialised by a lock.
        self.db = sqlite3.connect(self.path, check_same_thread=False, timeout=30)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.executescript(SCHEMA)
        self._lock = threading.RLock()

    def close(self) -> None:
        with self._lock:
            self.db.close()

    def _load(self, rid: str) -> tuple[InventoryRecord, Any] | None:
        with self._lock:
            row = self.db.execute("SELECT doc, seq FROM inventory WHERE id=?", (rid,)).fetchone()
        if not row:
            return None
        return InventoryRecord.model_validate_json(row[0]), row[1]

    def _save(self, record: InventoryRecord, token: Any, *, refresh: bool = True) -> bool:
        doc = record.model_dump_json()
        last_seen = record.last_seen.isoformat() if record.last_seen else None
        values = (record.identity, record.model_key, record.store, record.name, record.sha256, int(record.pinned),
                  record.approval.value, last_seen, doc)
        with self._lock, self.db:
            if token is None:
                cur = self.db.execute(
                    "INSERT OR IGNORE INTO inventory (identity, model_key, store, name, sha256, pinned, approval, "
                    "last_seen, doc, id, seq) VALUES (?,?,?,?,?,?,?,?,?,?,1)", (*values, record.id))
            else:
                cur = self.db.execute(
                    "UPDATE inventory SET identity=?, model_key=?, store=?, name=?, sha256=?, pinned=?, approval=?, "
                    "last_seen=?, doc=?, seq=seq+1 WHERE id=? AND seq=?", (*values, record.id, token))
            return cur.rowcount == 1

    def search(self, *, identity: str | None = None, model_key: str | None = None, sha256: str | None = None,
               store: str | None = None, name: str | None = None, pinned: bool | None = None,
               approval: ApprovalStatus | None = None, limit: int = 1000) -> list[InventoryRecord]:
        where, args = [], []
        for column, value in (("identity", identity), ("model_key", model_key), ("sha256", sha256),
                              ("store", store)):
            if value is not None:
                where.append(f"{column} = ?")
                args.append(value)
        if name is not None:
            where.append("name GLOB ?")
            args.append(name)
        if pinned is not None:
            where.append("pinned = ?")
            args.append(int(pinned))
        if approval is not None:
            where.append("approval = ?")
            args.append(ApprovalStatus(approval).value)
        sql = "SELECT doc FROM inventory"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY last_seen IS NULL, last_seen DESC, identity, id LIMIT ?"
        args.append(int(limit))
        with self._lock:
            rows = self.db.execute(sql, args).fetchall()
        return [InventoryRecord.model_validate_json(r[0]) for r in rows]

    def put_manifest(self, manifest: TensorManifest) -> None:
        with self._lock, self.db:
            self.db.execute("INSERT INTO inventory_manifests VALUES (?,?) ON CONFLICT(sha256) DO UPDATE SET "
                            "doc=excluded.doc", (manifest.sha256, manifest.model_dump_json()))

    def get_manifest(self, sha256: str) -> TensorManifest | None:
        with self._lock:
            row = self.db.execute("SELECT doc FROM inventory_manifests WHERE sha256=?", (sha256,)).fetchone()
        return TensorManifest.model_validate_json(row[0]) if row else None

    def put_baseline(self, baseline: BehaviourBaseline) -> None:
        with self._lock, self.db:
            self.db.execute("INSERT INTO inventory_baselines VALUES (?,?) ON CONFLICT(name) DO UPDATE SET "
                            "doc=excluded.doc", (baseline.name, baseline.model_dump_json()))

    def get_baseline(self, name: str) -> BehaviourBaseline | None:
        with self._lock:
            row = self.db.execute("SELECT doc FROM inventory_baselines WHERE name=?", (name,)).fetchone()
        return BehaviourBaseline.model_validate_json(row[0]) if row else None
