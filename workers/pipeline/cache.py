"""Scan results by (sha256, engine version, ruleset version), so popular bytes are scanned once.

Events are keyed by artifact, so one artifact's events reach one worker; a bounded in-memory LRU
per worker is therefore enough, and a restarted worker simply scans again. An entry is *settled* once a
result of it was checked and indexed by this worker: only then may later events of the same bytes skip the
scan stage (agents.results.settled_outcome), so they never overtake the event that had the bytes scanned.
"""
from __future__ import annotations

from collections import OrderedDict

from modelscreen.schemas.results import ScanResult
from modelscreen.engine import ENGINE_VERSION


class ScanCache:
    def __init__(self, max_entries: int = 50_000):
        self.max_entries = max_entries
        self._data: OrderedDict[str, ScanResult] = OrderedDict()
        self._settled: set[str] = set()
        self.hits = 0
        self.misses = 0

    @staticmethod
    def key(sha256: str, ruleset_version: str | None) -> str:
        return f"{sha256}:{ENGINE_VERSION}:{ruleset_version or '-'}"

    def get(self, sha256: str | None, ruleset_version: str | None, *, settled: bool = False) -> ScanResult | None:
        """The cached result (with `settled`: only once settled, and a miss is not counted: the scan stage
        looks again)."""
        if not sha256:
            return None
        k = self.key(sha256, ruleset_version)
        found = self._data.get(k)
        if found is None or (settled and k not in self._settled):
            self.misses += not settled
            return None
        self._data.move_to_end(k)
        self.hits += 1
        return found

    def put(self, result: ScanResult) -> None:
        if not result.sha256 or result.error:
            return
        k = self.key(result.sha256, result.ruleset_version)
        if any(r.tensor_manifest is not None for r in result.reports):  # in-process baseline: not kept
            result = result.model_copy(update={"reports": [r.model_copy(update={"tensor_manifest": None})
                                                           for r in result.reports]})
        self._data[k] = result
        self._data.move_to_end(k)
        while len(self._data) > self.max_entries:
            self._settled.discard(self._data.popitem(last=False)[0])

    def settle(self, result: ScanResult) -> None:
        """A result of this entry was checked and indexed."""
        if result.sha256 and not result.error:
            k = self.key(result.sha256, result.ruleset_version)
            if k in self._data:
                self._settled.add(k)
