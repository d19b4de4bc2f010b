"""Safetensors header validation: what the specification requires, and what the reference loader lets
through that divergent parsers would read differently."""
from __future__ import annotations

import io
import struct

import pytest

from tests.fixtures import make_containers as mk
from modelscreen.engine import Limits, scan_bytes, scan_path

F32x2 = {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}


def rules(report):
    return {f.rule_id for f in report.findings}


def finding(report, rule):
    hits = [f for f in report.findings if f.rule_id == rule]
    assert hits, f"{rule} not in {[(f.rule_id, f.detail) for f in report.findings]}"
    return hits[0]


def st_rules(report):
    return {r for r in rules(report) if r.startswith("SAFETENSORS-")}


def scan(data: bytes, **kw):
    return scan_bytes(data, "model.safetensors", **kw)


def test_valid_file_with_metadata_is_clean():
    data = mk.safetensors_bytes({"format": "pt", "note": "trained on synthetic data"})
    reports = scan(data)
    top = reports[0]
    assert top.format == "safetensors"
    assert top.verdict.value == "clean"
    assert not st_rules(top)
    assert len(reports) == 1
    assert top.size == len(data)


def test_loader_accepts_the_fixture():
    from safetensors.numpy import load

    assert set(load(mk.safetensors_bytes())) == {"embed.weight", "embed.bias", "quant.codes", "steps"}


def test_valid_file_on_disk(tmp_path):
    p = tmp_path / "m.safetensors"
    p.write_bytes(mk.safetensors_bytes())
    assert scan_path(p)[0].verdict.value == "clean"


@pytest.mark.parametrize("dtype,shape,nbytes", [
    ("BF16", [3], 6), ("F8_E4M3", [5], 5), ("F8_E8M0", [2], 2), ("C64", [1], 8), ("F4", [4], 2),
    ("F6_E2M3", [4], 3), ("BOOL", [3], 3), ("U64", [1], 8), ("I16", [0], 0),
])
def test_all_spec_dtypes_accepted(dtype, shape, nbytes):
    data = mk.safetensors_raw({"t": {"dtype": dtype, "shape": shape, "data_offsets": [0, nbytes]}}, b"\x01" * nbytes)
    assert not st_rules(scan(data)[0])


def test_overlapping_offsets():
    data = mk.safetensors_raw({"a": F32x2, "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}, b"\0" * 12)
    top = scan(data)[0]
    f = finding(top, "SAFETENSORS-OVERLAP")
    assert f.severity.value == "high" and f.location == "b"
    assert top.verdict.value == "malicious"


def test_gap_between_tensors():
    data = mk.safetensors_raw({"a": F32x2, "b": {"dtype": "F32", "shape": [2], "data_offsets": [16, 24]}}, b"\0" * 24)
    reports = scan(data)
    f = finding(reports[0], "SAFETENSORS-GAP")
    assert f.severity.value == "medium" and "[8, 16)" in f.detail
    assert reports[0].verdict.value == "suspicious"
    assert any(r.path.endswith("!<gap at 8>") for r in reports)


def test_trailing_bytes_are_scanned():
    data = mk.safetensors_raw({"a": F32x2}, b"\0" * 8 + mk.malicious_pickle())
    reports = scan(data)
    f = finding(reports[0], "SAFETENSORS-TRAILING-BYTES")
    assert f.location == "data offset 8"
    trailing = [r for r in reports if r.path.endswith("!<trailing data>")]
    assert trailing and trailing[0].format == "pickle"


def test_bad_dtype():
    data = mk.safetensors_raw({"a": {"dtype": "F128", "shape": [1], "data_offsets": [0, 16]}}, b"\0" * 16)
    f = finding(scan(data)[0], "SAFETENSORS-BAD-DTYPE")
    assert f.severity.value == "medium" and f.location == "a"


def test_shape_size_mismatch():
    data = mk.safetensors_raw({"a": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}, b"\0" * 8)
    assert finding(scan(data)[0], "SAFETENSORS-SIZE-MISMATCH").location == "a"


def test_sub_byte_dtype_not_whole_bytes():
    data = mk.safetensors_raw({"a": {"dtype": "F4", "shape": [3], "data_offsets": [0, 2]}}, b"\0" * 2)
    assert "SAFETENSORS-SIZE-MISMATCH" in rules(scan(data)[0])


def test_header_length_2_pow_40():
    data = struct.pack("<Q", 1 << 40) + b'{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}' + b"\0" * 4
    top = scan(data)[0]
    assert top.format == "safetensors"
    f = finding(top, "SAFETENSORS-HEADER-TOO-LARGE")
    assert f.severity.value == "medium"


def test_header_length_past_end():
    data = mk.safetensors_raw(b'{"a":1}', b"", length=4096)
    assert "SAFETENSORS-HEADER-LENGTH-INVALID" in rules(scan(data)[0])


def test_header_above_configured_limit():
    data = mk.safetensors_bytes()
    assert "SAFETENSORS-HEADER-TOO-LARGE" in rules(scan(data, limits=Limits(max_header_bytes=64))[0])


def test_huge_shape_numbers_are_findings_not_oom():
    header = {"a": {"dtype": "F64", "shape": [2**62, 2**62, 2**40], "data_offsets": [0, 8]},
              "b": {"dtype": "F32", "shape": [2**70], "data_offsets": [8, 12]}}
    top = scan(mk.safetensors_raw(header, b"\0" * 12))[0]
    assert {"SAFETENSORS-SHAPE-OVERFLOW", "SAFETENSORS-BAD-SHAPE"} <= rules(top)


def test_huge_offsets():
    header = {"a": {"dtype": "U8", "shape": [4], "data_offsets": [2**50, 2**50 + 4]}}
    top = scan(mk.safetensors_raw(header, b"\0" * 4))[0]
    assert {"SAFETENSORS-GAP", "SAFETENSORS-OUT-OF-BOUNDS"} <= rules(top)


def test_duplicate_tensor_names():
    entry = '{"dtype":"F32","shape":[2],"data_offsets":[0,8]}'
    data = mk.safetensors_raw('{"a":' + entry + ',"a":' + entry + "}", b"\0" * 8)
    f = finding(scan(data)[0], "SAFETENSORS-DUPLICATE-NAME")
    assert f.severity.value == "high" and f.location == "a"


def test_loader_really_accepts_duplicates():
    from safetensors.numpy import load

    entry = '{"dtype":"F32","shape":[2],"data_offsets":[0,8]}'
    assert list(load(mk.safetensors_raw('{"a":' + entry + ',"a":' + entry + "}", b"\0" * 8))) == ["a"]


@pytest.mark.parametrize("meta", [{"k": 1}, {"k": {"x": "y"}}, ["a"], "text", {"k": None}])
def test_non_string_metadata(meta):
    data = mk.safetensors_raw({"__metadata__": meta, "a": F32x2}, b"\0" * 8)
    f = finding(scan(data)[0], "SAFETENSORS-METADATA-INVALID")
    assert f.severity.value == "medium" and f.location == "__metadata__"


def test_leading_whitespace_and_padding():
    body = '{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}'
    top = scan(mk.safetensors_raw("  " + body + "    ", b"\0" * 8))[0]
    assert finding(top, "SAFETENSORS-HEADER-LEADING-WHITESPACE").severity.value == "low"
    assert top.verdict.value == "clean"
    # trailing spaces alone are the writers' padding: quiet
    assert not st_rules(scan(mk.safetensors_raw(body + "      ", b"\0" * 8))[0])


def test_header_not_an_object():
    data = struct.pack("<Q", 5) + b'["a"]'
    top = scan_bytes(data, "x.safetensors")[0]
    # a header that is not an object does not even sniff as safetensors: the name says otherwise
    assert "FORMAT-EXTENSION-MISMATCH" in rules(top) or "SAFETENSORS-HEADER-NOT-OBJECT" in rules(top)


@pytest.mark.parametrize("header", [b'{"a": NaN}', b'{"a":', b'{"a":1} x', b'{"\xff":1}'])
def test_invalid_json(header):
    assert "SAFETENSORS-HEADER-INVALID" in rules(scan(mk.safetensors_raw(header, b""))[0])


def test_tensor_entry_extra_and_missing_keys():
    header = {"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8], "x": "y"},
              "b": {"dtype": "F32", "shape": [2]}}
    top = scan(mk.safetensors_raw(header, b"\0" * 8))[0]
    assert finding(top, "SAFETENSORS-TENSOR-EXTRA-KEYS").location == "a"
    assert finding(top, "SAFETENSORS-TENSOR-INVALID").location == "b"


@pytest.mark.parametrize("payload,kind", [
    (mk.zip_of({"x.py": b"print(1)"}), "zip"),
    (mk.ELF_STUB, "ELF"),
    (mk.malicious_pickle(), "pickle"),
    (mk.pe_stub(), "PE"),
])
def test_smuggled_payload_in_byte_tensor(payload, kind):
    n = len(payload)
    header = {"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
              "blob": {"dtype": "U8", "shape": [n], "data_offsets": [8, 8 + n]}}
    reports = scan(mk.safetensors_raw(header, b"\0" * 8 + payload))
    f = finding(reports[0], "SAFETENSORS-SMUGGLED-PAYLOAD")
    assert f.severity.value == "high" and f.location == "blob" and kind in f.title
    assert reports[0].verdict.value == "malicious"
    assert any(r.path.endswith("!<tensor blob>") for r in reports)


def test_quantized_u8_tensors_are_not_payloads():
    import numpy as np

    data = mk.safetensors_raw({"q": {"dtype": "U8", "shape": [4096], "data_offsets": [0, 4096]}},
                              np.random.default_rng(1).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    assert scan(data)[0].verdict.value == "clean"


def test_only_the_header_is_parsed():
    """The analyzer reads the header and at most a few bytes per byte tensor; the rest is only hashed."""
    import numpy as np
    from safetensors.numpy import save

    data = save({f"t{i}": np.ones(4096, np.float32) for i in range(64)})
    reads = []

    class Spy(io.BytesIO):
        def readinto(self, b):
            n = super().readinto(b)
            reads.append(n)
            return n

    from modelscreen.engine import scan_stream

    reports = scan_stream(Spy(data), "s.safetensors", size=len(data))
    assert reports[0].verdict.value == "clean"
    # one hashing pass (1 MiB chunks) plus header/peek reads: no per-tensor reads of the data
    assert sum(reads) <= len(data) + 2 * 65536
