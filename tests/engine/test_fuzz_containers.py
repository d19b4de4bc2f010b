"""Property tests: damaged and random containers never crash the engine and never outlive the limits."""
from __future__ import annotations

import json
import os
import struct
import time

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fixtures import make_containers as mk
from modelscreen.engine import Limits, scan_bytes

LIMITS = Limits(max_seconds=2, max_decompressed_bytes=64 * 1024 * 1024, max_entries=200)
VERDICTS = {"clean", "suspicious", "malicious", "error"}
FUZZ = settings(max_examples=int(os.environ.get("FUZZ_EXAMPLES", "200")), deadline=None, suppress_health_check=[HealthCheck.too_slow])

VALID_ZIP = mk.zip_of({"archive/data.pkl": mk.benign_pickle(), "archive/data/0": b"\x01" * 300,
                       "archive/version": b"3\n", "inner.npy": mk.npy_bytes()})
STORED_ZIP = mk.torch_zip(mk.benign_pickle(), {"0": b"\x02" * 200, "1": mk.npy_bytes()})
VALID_TAR_GZ = mk.tar_of({"a.npy": mk.npy_bytes(), "w.pkl": mk.benign_pickle()}, "w:gz")
VALID_ST = mk.safetensors_bytes()


def check(data: bytes, name: str) -> None:
    started = time.monotonic()
    reports = scan_bytes(data, name, limits=LIMITS)
    elapsed = time.monotonic() - started
    assert reports and reports[0].path == name
    for r in reports:
        assert r.verdict.value in VERDICTS
        assert r.sha256 is not None or r.error
    assert elapsed < 10, f"scan took {elapsed:.1f}s"
    assert not [f for f in reports[0].findings if f.rule_id == "ENGINE-ERROR"], reports[0].findings


def mutate(base: bytes):
    return st.one_of(
        # bit flips
        st.lists(st.tuples(st.integers(0, len(base) - 1), st.integers(0, 7)), min_size=1, max_size=8).map(
            lambda flips: _flip(base, flips)),
        # truncation
        st.integers(0, len(base)).map(lambda n: base[:n]),
        # overwrite a 4-byte field with an extreme value
        st.tuples(st.integers(0, max(len(base) - 4, 0)), st.sampled_from([0, 1, 0xFFFF, 0x7FFFFFFF, 0xFFFFFFFF])).map(
            lambda t: base[: t[0]] + struct.pack("<I", t[1]) + base[t[0] + 4:]),
        # insertion of random bytes
        st.tuples(st.integers(0, len(base)), st.binary(min_size=1, max_size=64)).map(
            lambda t: base[: t[0]] + t[1] + base[t[0]:]),
    )


def _flip(base: bytes, flips) -> bytes:
    buf = bytearray(base)
    for pos, bit in flips:
        buf[pos] ^= 1 << bit
    return bytes(buf)


@FUZZ
@given(mutate(VALID_ZIP))
def test_mutated_deflated_zip(data):
    check(data, "m.zip")


@FUZZ
@given(mutate(STORED_ZIP))
def test_mutated_torch_zip(data):
    check(data, "m.pt")


@settings(max_examples=60, deadline=None)
@given(mutate(VALID_TAR_GZ))
def test_mutated_tar_gz(data):
    check(data, "m.tar.gz")


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=2048).map(lambda b: b"PK\x03\x04" + b))
def test_random_zip_like_bytes(data):
    check(data, "r.zip")


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=1024), st.binary(max_size=512))
def test_random_bytes_around_an_eocd(head, tail):
    check(head + b"PK\x05\x06" + tail, "r.zip")


json_leaf = st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=False),
                      st.text(max_size=8), st.sampled_from(["F32", "U8", "BF16", "F4", "__metadata__"]))
json_value = st.recursive(json_leaf, lambda c: st.one_of(st.lists(c, max_size=4),
                                                         st.dictionaries(st.text(max_size=6), c, max_size=4)),
                          max_leaves=12)
tensor_entry = st.fixed_dictionaries({
    "dtype": st.one_of(st.sampled_from(["F32", "U8", "I64", "BF16", "F4", "F6_E2M3", "BOOL", "C64"]), json_leaf),
    "shape": st.one_of(st.lists(st.integers(-2, 2**66), max_size=4), json_value),
    "data_offsets": st.one_of(st.lists(st.integers(-1, 2**65), min_size=2, max_size=2), json_value),
})
st_header = st.dictionaries(st.text(max_size=10), st.one_of(tensor_entry, json_value), max_size=6)


@FUZZ
@given(st_header, st.binary(max_size=256), st.booleans())
def test_random_safetensors_headers(header, data, lying_length):
    raw = json.dumps(header).encode()
    length = len(raw) + 17 if lying_length else None
    check(mk.safetensors_raw(raw, data, length=length), "r.safetensors")


@FUZZ
@given(mutate(VALID_ST[:400]).map(lambda h: h + VALID_ST[400:]))
def test_mutated_safetensors(data):
    check(data, "m.safetensors")


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=600).map(lambda b: b"\x93NUMPY\x01\x00" + b))
def test_random_npy(data):
    check(data, "r.npy")


@settings(max_examples=40, deadline=None)
@given(mutate(mk.torch_legacy_stream(mk.benign_pickle())))
def test_mutated_torch_legacy(data):
    check(data, "l.pt")


@settings(max_examples=60, deadline=None)
@given(mutate(mk.sevenzip_of({"a.npy": mk.npy_bytes(), "w.pkl": mk.benign_pickle()})))
def test_mutated_7z(data):
    check(data, "m.7z")


@settings(max_examples=60, deadline=None)
@given(mutate(mk.tar_with_specials()))
def test_mutated_tar(data):
    check(data, "m.tar")
