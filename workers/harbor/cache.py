"""Scan results by (manifest digest, engine version, ruleset version): Harbor rescanning an unchanged
artifact under the same engine and rules gets the stored result; new rules or a new engine make a new scan.
Bounded (least recently used entries go first); only complete results are kept, never errors."""
from __future__ import annotations

from collections import OrderedDict
from threading import Lock

from modelscreen.schemas import Verdict
from modelscreen.schemas.harbor import PackageScan

CacheKey = tuple[str, str, str]


def key_for(digest: str, engine_version: str, ruleset_version: str | None) -> CacheKey:
    return digest, engine_version, ruleset_version or "-"


class ResultCache:
    def __init__(self, max_entries: int):
        self.max_entries = max_entries
        self._items: OrderedDict[CacheKey, PackageScan] = OrderedDict()
        self._lock = Lock()

    def get(self, key: CacheKey) -> PackageScan | None:
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
            return found

    def put(self, key: CacheKey, scan: PackageScan) -> None:
        if self.max_entries == 0 or scan.verdict is Verdict.error or scan.error:
            return
        with self._lock:
            self._items[key] = scan
            self._items.move_to_end(key)
            while len(self._items) > self.max_entries:
                self._items.popitem(last=False)

    def __len__(self) -> int:
        return len(self._items)
