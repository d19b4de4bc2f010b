"""Random and mutated pickles never crash the analyzer and finish quickly."""
from __future__ import annotations

import pickle
import time

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fixtures import make_pickles as M
from modelscreen.engine import scan_bytes
from modelscreen.engine.limits import Limits

VERDICTS = {"clean", "suspicious", "malicious", "error"}
LIMITS = Limits(max_seconds=2)

SEEDS = [
    pickle.dumps({"a": [1, 2.5, "x"], "b": (None, True), "c": b"\x00" * 300}, protocol=p) for p in range(6)
] + [M.os_system(), M.getattr_chain_memo(), M.frame_crossing(), M.inst_proto0(), M.nested_pickle_loads(),
     M.genops_differential()]

SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))


def _scan(data: bytes) -> None:
    t = time.monotonic()
    report = scan_bytes(data, "x.pkl", limits=LIMITS)[0]
    assert report.verdict.value in VERDICTS
    assert time.monotonic() - t < 5


@SETTINGS
@given(st.binary(max_size=400))
def test_random_bytes(data):
    _scan(data)


@SETTINGS
@given(st.binary(min_size=1, max_size=200))
def test_random_bytes_with_pickle_header(data):
    _scan(b"\x80\x04" + data)


@SETTINGS
@given(st.sampled_from(SEEDS), st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), max_size=8),
       st.integers(0, 10_000), st.sampled_from(SEEDS), st.integers(0, 10_000))
def test_mutated_pickles(seed, flips, cut, other, at):
    data = bytearray(seed)
    for pos, val in flips:
        data[pos % len(data)] = val
    data = bytes(data[: max(1, cut % (len(data) + 1))])
    _scan(data)
    _scan(data[: at % (len(data) + 1)] + other[at % len(other):])
