"""Repeated client-library log lines are rate-limited; our own lines are not."""
from __future__ import annotations

import logging

from modelscreen.log_limits import RepeatLimiter


def _record(name: str, msg: str, *args, level=logging.ERROR) -> logging.LogRecord:
    return logging.LogRecord(name, level, __file__, 1, msg, args, None)


def test_one_line_per_interval_with_the_count_of_those_held_back():
    now = [0.0]
    limiter = RepeatLimiter(interval=10, clock=lambda: now[0])
    passed = []
    for i in range(1000):
        now[0] = i * 0.05  # 20 a second for 50 s
        rec = _record("aiokafka", "Unable connect to node with id %s: %s", 1, "refused")
        if limiter.filter(rec):
            passed.append(rec)
    assert len(passed) == 5
    assert "repeated" not in passed[0].getMessage()
    assert "repeated 199 times in the last 10s" in passed[1].getMessage()
    assert passed[1].getMessage().startswith("Unable connect to node with id 1: refused")


def test_kinds_are_limited_separately_and_own_or_quiet_lines_pass():
    limiter = RepeatLimiter(interval=10, clock=lambda: 0.0)
    assert limiter.filter(_record("aiokafka", "a %s", 1))
    assert limiter.filter(_record("elastic_transport", "a %s", 1))
    assert not limiter.filter(_record("aiokafka", "a %s", 2))
    assert all(limiter.filter(_record("modelscreen.agents.scan", "giving up on %s", i)) for i in range(5))
    assert all(limiter.filter(_record("aiokafka", "fetching", level=logging.INFO)) for _ in range(5))
