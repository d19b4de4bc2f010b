"""Repeated log lines from the client libraries, rate-limited: during an outage Kafka and Elasticsearch
clients log the same connection error thousands of times a minute. The first line of a kind passes; the
same kind again within `interval` seconds is counted, not written; the first one after the interval passes
with the count of those held back ("repeated N times in the last Ns")."""
from __future__ import annotations

import logging
import threading
import time

# Our own lines are not limited: each is about one event or one retry (already backed off).
OWN_LOGGER = "modelscreen"


class RepeatLimiter(logging.Filter):
    def __init__(self, interval: float = 10.0, min_level: int = logging.WARNING, clock=time.monotonic):
        super().__init__()
        self.interval = interval
        self.min_level = min_level
        self.clock = clock
        self._seen: dict[tuple, list] = {}  # kind -> [time it last passed, held back since]
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < self.min_level or record.name == OWN_LOGGER or record.name.startswith(OWN_LOGGER + "."):
            return True
        kind = (record.name, record.levelno, str(record.msg))
        now = self.clock()
        with self._lock:
            seen = self._seen.get(kind)
            if seen is not None and now - seen[0] < self.interval:
                seen[1] += 1
                return False
            held = seen[1] if seen else 0
            self._seen[kind] = [now, 0]
            if len(self._seen) > 10000:  # bounded: forget the oldest kinds
                for old in sorted(self._seen, key=lambda k: self._seen[k][0])[:5000]:
                    del self._seen[old]
        if held:
            record.msg = f"{record.msg} (repeated {held} times in the last {self.interval:g}s)"
        return True
