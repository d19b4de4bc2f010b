"""Stream structure: several pickles, trailing data, large arguments, limits, memory."""
from __future__ import annotations

import io
import pickle
import tracemalloc

import pytest

from tests.fixtures import make_pickles as M
from modelscreen.engine import scan_bytes
from modelscreen.engine.context import ScanContext
from modelscreen.engine.hashing import HashingReader
from modelscreen.engine.limits import Budget, Limits
from modelscreen.engine.pickle import analyze_pickle


def _rules(report):
    return {f.rule_id: f for f in report.findings if f.analyzer == "pickle"}


def _ctx(**kw):
    limits = Limits(**kw)
    return ScanContext(path="t", limits=limits, budget=Budget(limits))


def test_concatenated_pickles_are_all_analysed():
    report = scan_bytes(M.concatenated(), "x.pkl")[0]
    rules = _rules(report)
    assert rules["PICKLE-MULTIPLE-STREAMS"].severity.value == "info"
    assert "PICKLE-DANGEROUS-CALL" in rules


def test_trailing_garbage_is_low():
    report = scan_bytes(M.trailing_garbage(), "x.pkl")[0]
    rules = _rules(report)
    assert rules["PICKLE-TRAILING-DATA"].severity.value == "low"
    assert report.verdict.value == "clean"


@pytest.mark.parametrize("protocol", [0, 1, 2, 3, 4, 5])
def test_protocol_variants_of_a_call(protocol):
    # the same dangerous call expressed at each protocol's natural level
    if protocol == 0:
        data = M.os_system_proto0()
    elif protocol == 1:
        data = M.obj_proto1()
    elif protocol in (2, 3):
        data = bytes([0x80, protocol]) + M.call(M.g0("os", "system"), M.s("true")) + b"."
    else:
        data = bytes([0x80, protocol]) + M.frame(M.call(M.sg("os", "system"), M.s("true")) + b".")
    assert "PICKLE-DANGEROUS-CALL" in _rules(scan_bytes(data, "x.pkl")[0])


def test_large_arguments_are_skipped_not_read():
    payload = b"\x00" * (48 << 20)
    data = pickle.dumps({"w": payload, "b": bytearray(b"\x01" * (8 << 20))}, protocol=5)
    ctx = _ctx()
    reader = HashingReader(io.BytesIO(data), len(data))
    tracemalloc.start()
    res = analyze_pickle(reader, ctx, second_opinion=False)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert res.complete and res.end == len(data)
    assert peak < 16 << 20, peak
    import hashlib

    assert reader.finish()[0] == hashlib.sha256(data).hexdigest()


def test_large_bytes_for_nested_loader_are_read_back():
    inner = M.os_system() + b"N" * 10_000 + b"0" * 10_000  # padding after STOP (ignored by the loader)
    inner = M.os_system()[:-1] + b"N0" * 40_000 + b"."
    data = M.p4(M.call(M.sg("pickle", "loads"), M.by(inner)))
    report = scan_bytes(data, "x.pkl")[0]
    nested = [f for f in report.findings if f.location and "> nested pickle" in f.location]
    assert any("os.system" in f.title for f in nested)


def test_op_limit_is_a_finding():
    data = pickle.dumps(list(range(100_000)), protocol=2)
    report = scan_bytes(data, "x.pkl", limits=Limits(max_pickle_ops=10_000))[0]
    assert any(f.rule_id == "LIMIT-EXCEEDED" for f in report.findings)


def test_byte_limit_is_a_finding():
    data = pickle.dumps(list(range(100_000)), protocol=2)
    report = scan_bytes(data, "x.pkl", limits=Limits(max_pickle_bytes=50_000))[0]
    assert any(f.rule_id == "LIMIT-EXCEEDED" for f in report.findings)


def test_huge_memo_keys_do_not_allocate():
    data = M.p4(M.s("os") + b"r\xff\xff\xff\xff" + b"0" + M.s("system") + b"r\xfe\xff\xff\xff" + b"0"
                + b"j\xff\xff\xff\xff" + b"j\xfe\xff\xff\xff" + b"\x93" + b"(" + M.s("true") + b"tR")
    rules = _rules(scan_bytes(data, "x.pkl")[0])
    assert "PICKLE-DANGEROUS-CALL" in rules


def test_memoize_overwrite_follows_c_memo_len():
    # BINPUT 1 fills slot 1; MEMOIZE then uses memo_len == 1 and overwrites slot 1 (C semantics)
    data = M.p4(M.s("posix") + b"q\x01" + M.s("system") + b"\x94" + b"0" + b"h\x01" + b"0"
                + M.s("os") + b"h\x01" + b"\x93" + b"(" + M.s("true") + b"tR")
    rules = _rules(scan_bytes(data, "x.pkl")[0])
    assert "PICKLE-DANGEROUS-CALL" in rules


def test_dense_pickle_is_clean_and_fast():
    data = pickle.dumps([{"a": i, "b": (i, float(i)), "c": [1.5, 2.5]} for i in range(20_000)], protocol=4)
    report = scan_bytes(data, "x.pkl")[0]
    assert report.verdict.value == "clean"
    assert report.duration_ms < 10_000
