"""The optional C accelerator (_fastwalk.c) walks exactly like the pure-Python loop.

Every pickle here is analysed twice, with Walker(accelerated=False) and with the accelerator; findings (rule, severity,
location, title, detail, evidence) and the PickleResult (end offset, completeness, ops, globals, ...) must be
identical. Evidence renders call arguments, so it also shows the symbolic values the two paths built.
"""
from __future__ import annotations

import collections
import contextlib
import io
import pickle
import struct
import warnings

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fixtures import make_pickles as M
from modelscreen.engine import scan_bytes
from modelscreen.engine.context import ScanContext
from modelscreen.engine.hashing import HashingReader
from modelscreen.engine.limits import Budget, Limits
from modelscreen.engine.pickle import analyze_pickle, machine

needs_ext = pytest.mark.skipif(machine._fastwalk is None,
                               reason="modelscreen.engine.pickle._fastwalk is not built (no C compiler at install time?)")


def test_extension_is_built():
    try:
        from modelscreen.engine.pickle import _fastwalk
    except ImportError as exc:
        pytest.skip(f"C accelerator not built: {exc}; `pip install -e .` compiles it when a C compiler is present")
    assert machine._fastwalk is _fastwalk
    assert callable(_fastwalk.fast_forward)


@contextlib.contextmanager
def _mode(pure: bool):
    """For whole-scanner runs: hide the accelerator module so every Walker runs the pure-Python loop."""
    if not pure:
        yield
        return
    real = machine._fastwalk
    machine._fastwalk = None
    try:
        yield
    finally:
        machine._fastwalk = real


def _walk(data: bytes, pure: bool, limits: Limits | None = None, reader: bool = False):
    limits = limits or Limits()
    ctx = ScanContext(path="t", limits=limits, budget=Budget(limits), size=len(data))
    stream = HashingReader(io.BytesIO(data), len(data)) if reader else io.BytesIO(data)
    res = analyze_pickle(stream, ctx, second_opinion=False, accelerated=not pure)
    findings = [(f.rule_id, f.severity.value, f.location, f.title, f.detail, f.evidence) for f in ctx.findings]
    return ((res.start, res.end, res.complete, res.protocol, res.ops, res.error, res.frame_mismatch,
             res.joblib_arrays, res.nested, res.limit_hit, res.globals, res.persistent_ids, stream.tell()), findings)


def _same(data: bytes, limits: Limits | None = None, reader: bool = False):
    pure = _walk(data, True, limits, reader)
    fast = _walk(data, False, limits, reader)
    assert fast[0] == pure[0]
    assert fast[1] == pure[1]
    return fast


def _same_report(data: bytes, name: str = "x.pkl"):
    def run(pure):
        with _mode(pure):
            reps = scan_bytes(data, name)
        return [(r.path, r.format, r.verdict, r.error, [(f.rule_id, f.severity.value, f.location, f.title, f.detail,
                                                         f.evidence, f.analyzer) for f in r.findings]) for r in reps]
    assert run(False) == run(True)


# ----------------------------------------------------------------------------- corpora


def _records(n: int, protocol: int) -> bytes:
    return pickle.dumps([{"a": i, "b": (i, float(i)), "c": [1.5, 2.5], "d": None if i % 3 else True}
                         for i in range(n)], protocol=protocol)


def _values() -> dict[str, object]:
    shared = ["shared", 1]
    rec: list = [1]
    rec.append(rec)
    d: dict = {"k": 1}
    d["self"] = d
    return {
        "nested": {"a": [1, (2, [3, {"x": (4,)}]), {5, 6}, frozenset({7})], "b": ((), [], {}, set())},
        "shared": [shared, shared, (shared,), {"s": shared}],
        "recursive_list": rec,
        "recursive_dict": d,
        "ints": [0, 1, -1, 255, 256, 65535, 65536, -2 ** 31, 2 ** 31 - 1, 2 ** 31, 2 ** 63 - 1, -2 ** 63, 2 ** 63,
                 2 ** 64, -2 ** 64, 2 ** 100, -2 ** 127, 2 ** 128, 10 ** 40, 2 ** 2100],
        "strings": ["", "a", "é" * 10, "x" * 255, "y" * 256, "z" * 1024, "w" * 1025, "v" * 5000],
        "bytes": [b"", b"\x00", b"b" * 255, b"c" * 256, b"d" * 4096, b"e" * 4097, bytearray(b"ba" * 10)],
        "floats": [0.5, -1e300, float("inf")] * 50,
        "bools": [True, False, None] * 40,
        "long_list": list(range(3000)),
        "tuples": [(), (1,), (1, 2), (1, 2, 3), (1, 2, 3, 4), tuple(range(100))],
        "big_dict": {f"k{i}": i for i in range(300)},
        "big_set": set(range(300)),
        "ordered": collections.OrderedDict((str(i), [i]) for i in range(20)),
    }


def _generated() -> dict[str, bytes]:
    out = {}
    for p in range(pickle.HIGHEST_PROTOCOL + 1):
        out[f"records_p{p}"] = _records(300, p)
        for name, v in _values().items():
            out[f"{name}_p{p}"] = pickle.dumps(v, protocol=p)
    out.update({f"benign_{k}": v for k, v in M.benign().items()})
    return out


def _crafted() -> dict[str, bytes]:
    """Opcode sequences at the edges of what the accelerator implements."""
    s, sg, p4 = M.s, M.sg, M.p4
    env = sg("os", "environ")
    out = {
        "appends_on_global": p4(env + b"(" + s("x") + b"e0N"),
        "numeric_appends_on_global": p4(env + b"(K\x01K\x02M\x03\x00J\x04\x00\x00\x00G" + b"\x00" * 8 + b"e0N"),
        "numeric_appends_on_dict": p4(b"}(K\x01K\x02e"),
        "numeric_appends_on_list": p4(b"](K\x01K\x02G" + b"\x00" * 8 + b"K\x03e"),
        "numeric_run_then_other": p4(b"](K\x01K\x02N" + b"e"),
        "numeric_run_no_target": b"\x80\x04(K\x01K\x02e.",
        "setitems_on_global": p4(env + b"(" + s("A") + s("1") + b"u0N"),
        "setitems_on_list": p4(b"](" + s("A") + s("1") + b"u"),
        "setitems_odd": p4(b"}(" + s("A") + b"u"),
        "setitem_on_global": M.os_environ_setitem(),
        "append_on_global": p4(env + s("x") + b"a0N"),
        "additems_on_global": p4(env + b"(" + s("x") + b"\x900N"),
        "additems_on_list": p4(b"](K\x01\x90"),
        "build_on_global": p4(env + b"}b0N"),
        "memoize_overwrite": p4(s("posix") + b"q\x01" + s("system") + b"\x94" + b"0" + b"h\x01" + b"0" + s("os")
                                + b"h\x01" + b"\x93" + b"(" + s("true") + b"tR"),
        "long_binput_get": p4(s("os") + b"r\xff\xff\xff\xff0" + s("system") + b"r\x00\x00\x01\x000"
                              + b"j\xff\xff\xff\xffj\x00\x00\x01\x00\x93(" + s("true") + b"tR"),
        "binget_never_stored": p4(b"h\x05"),
        "long_binget_never_stored": p4(b"j\x05\x00\x00\x00"),
        "memoize_empty_stack": p4(b"\x94N"),
        "tuple2_underflow": p4(b"K\x01\x86"),
        "tuple3_underflow": p4(b"(K\x01K\x02\x87"),
        "appends_without_mark": p4(b"]K\x01e"),
        "pop_empty": p4(b"0N"),
        "pop_mark_via_pop": p4(b"N(0"),
        "pop_mark_missing": p4(b"N1"),
        "dup_empty": p4(b"2N"),
        "dict_odd": b"(K\x01d.",
        "binstring_negative": b"\x80\x02T\xff\xff\xff\xff.",
        "binunicode_truncated": b"\x80\x04X\x10\x00\x00\x00abc",
        "short_binunicode_truncated": b"\x80\x04\x8c\x10abc",
        "binfloat_truncated": b"\x80\x04G\x00\x00",
        "binint_truncated": b"\x80\x04J\x00\x00",
        "long1_lengths": p4(b"(" + b"".join(b"\x8a" + bytes([k]) + bytes(range(1, k + 1)) for k in range(0, 40))
                            + b"".join(b"\x8a" + bytes([k]) + b"\xff" * k for k in range(0, 20)) + b"l"),
        "next_buffer": b"\x80\x05\x97\x98\x97\x98l.",
        "readonly_empty": b"\x80\x05\x98N.",
        "bytes_arg_to_loads": p4(M.call(sg("pickle", "loads"), b"C" + bytes([len(M.os_system())]) + M.os_system())),
        "bytes_arg_big_to_loads": p4(M.call(sg("pickle", "loads"), M.by(M.os_system()[:-1] + b"N0" * 3000 + b"."))),
        "call_with_containers": p4(M.call(sg("os", "system"), b"}(" + s("a") + b"](K\x01K\x02e" + s("b")
                                          + b"\x8f(K\x05\x90u", b")\x85", b"(K\x01K\x02K\x03\x91")),
        "stack_global_from_memo": p4(s("os") + b"\x94" + s("system") + b"\x94" + b"00h\x00h\x01\x93(" + s("x") + b"tR"),
        "frame_crossing_simple": b"\x80\x04\x95\x03\x00\x00\x00\x00\x00\x00\x00K\x01K\x02\x86.",
        "frame_end_inside_run": b"\x80\x04]\x95\x04\x00\x00\x00\x00\x00\x00\x00(K\x01K\x02K\x03e.",
        "frame_end_at_appends": b"\x80\x04]\x95\x05\x00\x00\x00\x00\x00\x00\x00(K\x01K\x02e.",
        "mark_pop_cases": p4(b"(((N0001K\x01" + b"(N1"),
        "binpersid": p4(s("pid") + b"Q" + b"(" + s("x") + b"\x8c\x01yQl"),
        # MEMOIZE overwrites the slot BINPUT filled without counting it, twice: 'system' lands in slot 1, not 2
        "memoize_overwrite_twice": p4(s("a") + b"q\x01" + s("os") + b"\x94" + s("system") + b"\x94" + b"000"
                                      + b"h\x01h\x02\x93(" + s("x") + b"tR"),
        # a GET of a slot MEMOIZE dropped (beyond MEMO_FULL when that is patched small) yields <untracked>
        "get_dropped_slot": p4(b"(" + b"K\x01\x94" * 70 + b"1" + M.call(sg("os", "system"), b"h\x3ch\x05")),
        "containers_past_max_items": p4(b"".join(M.call(sg("os", "system"), c) + b"0" for c in (
            b"](" + b"".join(s(f"s{k}") for k in range(6)) + b"e",
            b"}(" + b"".join(s(f"k{k}") + s(f"v{k}") for k in range(6)) + b"u",
            b"\x8f(" + b"".join(s(f"e{k}") for k in range(6)) + b"\x90",
            b"]" + b"".join(s(f"a{k}") + b"a" for k in range(6)),
            b"}" + b"".join(s(f"k{k}") + s(f"v{k}") + b"s" for k in range(6)),
            b"(" + b"".join(s(f"t{k}") for k in range(6)) + b"t",
            b"(" + b"".join(s(f"l{k}") for k in range(6)) + b"l",
            b"(" + b"".join(s(f"k{k}") + s(f"v{k}") for k in range(6)) + b"d",
            b"(" + b"".join(s(f"f{k}") for k in range(6)) + b"\x91",
            b"](" + b"".join(s(f"x{k}") for k in range(70)) + b"e(" + b"".join(s(f"y{k}") for k in range(9)) + b"e",
        )) + b"N"),
        # LONG1 values of every length end up in the evidence of a call
        "long1_in_evidence": p4(b"".join(M.call(sg("os", "system"), *(
            b"\x8a" + bytes([k]) + bytes(((k * 37 + j * 11) * (1 + sign)) & 0xff for j in range(k))
            for k in range(lo, lo + 6))) + b"0" for lo in range(0, 24, 6) for sign in (0, 1)) + b"N"),
        # BINPUT / LONG_BINPUT beyond MEMO_FULL (when patched small) drop data values: a GET yields <untracked>
        "binput_past_memo_full": p4(b"(" + b"".join(b"G" + bytes(8) + b"q" + bytes([k]) for k in range(70))
                                    + b"".join(b"K\x01r" + struct.pack("<I", 1000 + k) for k in range(70)) + b"1"
                                    + M.call(sg("os", "system"), b"h\x3c", b"h\x05", b"j\x30\x04\x00\x00")),
    }
    # runs of numeric pushes after a MARK, cut at every byte (the run-skipping fast path at the end of the data)
    run = b"\x80\x04](K\x01M\x02\x00J\x03\x00\x00\x00G" + b"\x01" * 8 + b"K\x04e."
    out.update({f"run_cut_{k}": run[:k] for k in range(4, len(run) + 1)})
    return out


GENERATED = _generated()
CRAFTED = _crafted()


# ----------------------------------------------------------------------------- differential tests


@needs_ext
@pytest.mark.parametrize("name", sorted(M.MALICIOUS))
def test_malicious_fixtures(name):
    data = M.MALICIOUS[name]()
    _same(data)
    _same_report(data)


@needs_ext
def test_generated_benign_pickles():
    for name, data in GENERATED.items():
        try:
            _same(data)
            _same(data, reader=True)
        except AssertionError as exc:
            raise AssertionError(f"{name}: {exc}") from None


@needs_ext
def test_crafted_edge_cases():
    for name, data in CRAFTED.items():
        try:
            _same(data)
        except AssertionError as exc:
            raise AssertionError(f"{name}: {exc}") from None


@needs_ext
def test_every_truncation_and_one_byte_change():
    base = pickle.dumps({"a": [1, 2.5, "x", None, (True, b"yy")], "b": {"c": [{}], "d": frozenset({1})}}, protocol=4)
    base += M.os_system()
    for cut in range(len(base) + 1):
        _same(base[:cut])
    small = pickle.dumps([{"a": 1, "b": (2, 3.0)}, [1.5]], protocol=4)
    for pos in range(2, len(small)):
        for val in (0x28, 0x2e, 0x30, 0x65, 0x75, 0x94, 0x68, 0xff):
            data = bytearray(small)
            data[pos] = val
            _same(bytes(data))


@needs_ext
@pytest.mark.parametrize("protocol", [0, 2, 4, 5])
def test_numpy_and_sklearn(protocol):
    np = pytest.importorskip("numpy")
    values = [np.arange(24).astype(dt).reshape(4, 6) for dt in ("float32", "int64", "complex128", "U5")]
    values += [np.array([1, "a", None, {"x": 1}], dtype=object), np.random.default_rng(0),
               {"s": np.float64(1.5), "i": np.int32(3), "z": np.zeros((0, 3))}]
    for v in values:
        _same(pickle.dumps(v, protocol=protocol))
    pytest.importorskip("sklearn")
    from tests.engine.test_pickle_benign import _models

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for model in _models().values():
            _same(pickle.dumps(model, protocol=protocol))


@needs_ext
def test_joblib_files():
    np = pytest.importorskip("numpy")
    joblib = pytest.importorskip("joblib")
    for value in ({"a": np.arange(50, dtype=np.float32), "b": [np.ones((3, 3)), "x", {"r": list(range(100))}]},
                  np.array([1, "a", None], dtype=object)):
        buf = io.BytesIO()
        joblib.dump(value, buf)
        _same_report(buf.getvalue(), "x.joblib")


@needs_ext
def test_concatenated_and_trailing_reports():
    _same_report(M.concatenated())
    _same_report(M.trailing_garbage())
    _same_report(_records(50, 4) + _records(20, 2) + b"junk")


# ----------------------------------------------------------------------------- limits and bounds


@needs_ext
def test_op_and_byte_limits():
    data = _records(200, 4)
    for ops in (1, 2, 3, 10, 11, 50, 1000, 4321, len(data) - 3, len(data)):
        _same(data, Limits(max_pickle_ops=ops))
    for size in (5, 100, 1000, len(data) - 1):
        _same(data, Limits(max_pickle_bytes=size))


@needs_ext
def test_small_internal_bounds(monkeypatch):
    """Refills every KiB, a tiny memo, tiny containers and a shallow stack limit: the paths must agree."""
    data = [_records(400, p) for p in (2, 4, 5)] + [GENERATED[k] for k in ("shared_p4", "recursive_list_p4",
                                                                           "long_list_p2", "big_dict_p4")]
    data += [M.p4(b"(" + b"\x8c\x01x" * 3000 + b"l"), M.p4(b"(" + b"C\x01x" * 3000 + b"l"),
             M.p4(b"(" * 3000 + b"N")]
    data += list(CRAFTED.values())
    monkeypatch.setattr(machine, "CHUNK", 1024)
    monkeypatch.setattr(machine, "MEMO_FULL", 50)
    monkeypatch.setattr(machine, "MAX_ITEMS", 3)
    monkeypatch.setattr(machine, "MAX_STACK", 700)
    for d in data:
        _same(d)
        _same(d, reader=True)


@needs_ext
def test_accelerator_is_used(monkeypatch):
    calls = []
    real = machine._fastwalk

    class Counting:
        @staticmethod
        def fast_forward(*args):
            out = real.fast_forward(*args)
            calls.append(out[0] - args[1])
            return out

    monkeypatch.setattr(machine, "_fastwalk", Counting)
    data = _records(2000, 4)
    _walk(data, pure=False)
    assert sum(calls) > 0.95 * len(data)  # bytes walked in C
    calls.clear()
    _walk(data, pure=True)
    assert not calls


@needs_ext
def test_gc_state_is_restored():
    import gc

    data = _records(3000, 4) + b"junk"
    assert gc.isenabled()
    _same(data)
    assert gc.isenabled()
    gc.disable()
    try:
        _same(data)
        _same(CRAFTED["bytes_arg_to_loads"])  # Bin() is built with the GC state the caller had
        assert not gc.isenabled()
    finally:
        gc.enable()


# ----------------------------------------------------------------------------- property tests

SETTINGS = settings(max_examples=250, deadline=None, suppress_health_check=list(HealthCheck))
SEEDS = [GENERATED[k] for k in ("records_p4", "nested_p4", "nested_p2", "shared_p5", "ints_p4", "strings_p4",
                                "bytes_p5", "tuples_p1", "recursive_dict_p0")] + [
    M.os_system(), M.getattr_chain_memo(), M.frame_crossing(), M.inst_proto0(), M.nested_pickle_loads(),
    CRAFTED["call_with_containers"], CRAFTED["memoize_overwrite"], CRAFTED["long1_lengths"]]
SEEDS = [s[:3000] + b"." for s in SEEDS]

_b = st.integers(0, 255).map(lambda k: bytes([k]))
_small = st.integers(0, 12)
OPS = st.one_of(
    st.sampled_from([b"(", b")", b"]", b"}", b"\x8f", b"t", b"l", b"d", b"\x91", b"e", b"u", b"\x90", b"a", b"s",
                     b"\x85", b"\x86", b"\x87", b"N", b"\x88", b"\x89", b"0", b"1", b"2", b"\x94", b"\x97", b"\x98",
                     b"R", b"b", b"\x93", b"\x81", b"Q", b"G" + b"\x00" * 8, b".",
                     M.sg("os", "system"), M.sg("os", "environ"), M.sg("builtins", "list"), M.g0("os", "system")]),
    _b.map(lambda x: b"K" + x),
    st.integers(0, 65535).map(lambda v: b"M" + struct.pack("<H", v)),
    st.integers(-2 ** 31, 2 ** 31 - 1).map(lambda v: b"J" + struct.pack("<i", v)),
    _small.map(lambda k: b"h" + bytes([k])),
    _small.map(lambda k: b"q" + bytes([k])),
    _small.map(lambda k: b"j" + struct.pack("<I", k)),
    _small.map(lambda k: b"r" + struct.pack("<I", k)),
    st.binary(max_size=20).map(lambda x: b"\x8c" + bytes([len(x)]) + x),
    st.binary(max_size=20).map(lambda x: b"X" + struct.pack("<I", len(x)) + x),
    st.binary(max_size=20).map(lambda x: b"C" + bytes([len(x)]) + x),
    st.binary(max_size=20).map(lambda x: b"U" + bytes([len(x)]) + x),
    st.binary(max_size=20).map(lambda x: b"\x8a" + bytes([len(x)]) + x),
    st.integers(0, 40).map(lambda k: b"\x95" + struct.pack("<Q", k)),
)


@needs_ext
@SETTINGS
@given(st.sampled_from(SEEDS), st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), max_size=6),
       st.integers(0, 10_000), st.sampled_from(SEEDS), st.integers(0, 10_000))
def test_mutated_pickles(seed, flips, cut, other, at):
    data = bytearray(seed)
    for pos, val in flips:
        data[pos % len(data)] = val
    data = bytes(data[: max(1, cut % (len(data) + 1))])
    _same(data)
    _same(data[: at % (len(data) + 1)] + other[at % len(other):])


@needs_ext
@SETTINGS
@given(st.sampled_from([b"\x80\x04", b"\x80\x02", b"\x80\x05", b""]), st.lists(OPS, max_size=40), st.booleans())
def test_random_opcode_sequences(head, ops, stop):
    _same(head + b"".join(ops) + (b"." if stop else b""))
