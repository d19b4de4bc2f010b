"""Choose the inventory backend: SQLite (embedded, default) or Elasticsearch (pipeline)."""
from __future__ import annotations

import os
from pathlib import Path

from modelscreen.provenance.inventory import Inventory
from modelscreen.provenance.es_inventory import ElasticsearchInventory
from modelscreen.provenance.sqlite_inventory import SqliteInventory
from modelscreen.settings import Settings

BACKEND_ENV = "MODELSCREEN_INVENTORY_BACKEND"
BACKENDS = ("sqlite", "elasticsearch")


def default_backend(settings: Settings | None = None) -> str:
    """settings.inventory_backend (MODELSCREEN_INVENTORY_BACKEND), sqlite when unset or unknown."""
    value = ((settings or Settings()).inventory_backend or "sqlite").strip().lower()
    return value if value in BACKENDS else "sqlite"


def open_inventory(backend: str | None = None, *, db: str | os.PathLike | None = None, settings=None,
                   index: str | None = None, refresh_on_write: bool = False) -> Inventory:
    """SQLite at `db` (default: the findings database, modelscreen.sinks.sqlite_store.default_db_path()), or
    Elasticsearch with the client from modelscreen.settings.Settings (index `modelscreen-inventory` unless given;
    `refresh_on_write` makes every write visible to searches at once, for interactive use)."""
    backend = (backend or default_backend()).lower()
    if backend == "sqlite":
        return SqliteInventory(Path(db) if db else None)
    if backend == "elasticsearch":
        return ElasticsearchInventory.from_settings(settings or Settings(), index=index,
                                                    refresh_on_write=refresh_on_write)
    raise ValueError(f"unknown inventory backend {backend!r} (sqlite or elasticsearch)")
