"""GGUF: header validation and chat-template analysis. Benign files are written by gguf.GGUFWriter."""
from __future__ import annotations

import struct

import pytest

from tests.fixtures import make_formats as mf
from modelscreen.engine import scan_bytes

gguf = pytest.importorskip("gguf")


def findings(report, rule):
    return [f for f in report.findings if f.rule_id == rule]


def rules(report):
    return {f.rule_id for f in report.findings}


@pytest.mark.parametrize("name", sorted(mf.BENIGN_TEMPLATES))
def test_writer_made_gguf_with_real_template_is_clean(name):
    [report] = scan_bytes(mf.gguf_bytes(mf.BENIGN_TEMPLATES[name]), "model.gguf")
    assert report.format == "gguf"
    assert report.verdict.value == "clean", report.findings
    assert not [f for f in report.findings if f.severity.rank >= 1]


def test_named_templates_are_all_analysed_and_located():
    data = mf.gguf_bytes({"default": mf.LLAMA3, "tool_use": mf.MALICIOUS_TEMPLATES["format-chars"],
                          "rag": mf.MALICIOUS_TEMPLATES["map-attribute"]})
    [report] = scan_bytes(data, "model.gguf")
    assert report.verdict.value == "malicious"
    locs = {f.location.split(" line ")[0] for f in report.findings if f.rule_id.startswith("TEMPLATE-")}
    assert locs == {"tokenizer.chat_template.tool_use", "tokenizer.chat_template.rag"}
    assert all(f.location.endswith("line 1") for f in report.findings if f.rule_id == "TEMPLATE-DUNDER-ACCESS")


@pytest.mark.parametrize("name", sorted(mf.MALICIOUS_TEMPLATES))
def test_injected_default_template_is_malicious(name, tmp_path):
    [report] = scan_bytes(mf.gguf_bytes(mf.MALICIOUS_TEMPLATES[name]), "model.gguf")
    crit = [f for f in report.findings if f.severity.value == "critical" and f.analyzer == "gguf"]
    assert crit and all(f.location.startswith("tokenizer.chat_template line") for f in crit)
    assert report.verdict.value == "malicious"


def test_unparsable_template_is_medium():
    [report] = scan_bytes(mf.gguf_bytes("{% for m in messages %}{{ m }}"), "model.gguf")
    hit = findings(report, "TEMPLATE-SYNTAX-ERROR")
    assert hit and hit[0].severity.value == "medium" and hit[0].location.startswith("tokenizer.chat_template")


# ----------------------------------------------------------------------------- malformed headers
def _ok_tensor(name="t", offset=0):
    return (name, [32, 2], 0, offset)


def test_raw_builder_matches_the_spec(tmp_path):
    data = mf.gguf_raw([mf.gguf_kv_string("general.name", "x"), mf.gguf_kv_u32("general.alignment", 32)],
                       [_ok_tensor("a", 0), _ok_tensor("b", 256)])
    (tmp_path / "m.gguf").write_bytes(data)
    reader = gguf.GGUFReader(str(tmp_path / "m.gguf"))
    assert [t.name for t in reader.tensors] == ["a", "b"]
    [report] = scan_bytes(data, "m.gguf")
    assert report.verdict.value == "clean", report.findings


@pytest.mark.parametrize("data,rule,where", [
    (b"GGUF" + struct.pack("<I", 7) + b"\0" * 16, "GGUF-BAD-VERSION", "header"),
    (b"GGUF" + struct.pack("<IQQ", 3, 1 << 40, 1), "GGUF-COUNT-INVALID", "header"),
    (mf.gguf_raw([("general.name", 8, struct.pack("<Q", 1 << 50) + b"x")], []), "GGUF-STRING-LENGTH-INVALID",
     "general.name"),
    (mf.gguf_raw([("general.x", 77, b"\0" * 8)], []), "GGUF-BAD-TYPE", "general.x"),
    (mf.gguf_raw([("general.arr", 9, struct.pack("<IQ", 4, 1 << 40))], []), "GGUF-ARRAY-LENGTH-INVALID",
     "general.arr"),
    (mf.gguf_raw([("general.arr", 9, struct.pack("<IQ", 9, 1) + struct.pack("<IQ", 4, 1) + b"\0" * 4)], []),
     "GGUF-NESTED-ARRAY", "general.arr"),
    (mf.gguf_raw([mf.gguf_kv_string("a", "1"), mf.gguf_kv_string("a", "2")], []), "GGUF-DUPLICATE-KEY", "a"),
    (mf.gguf_raw([mf.gguf_kv_u32("general.alignment", 24)], [_ok_tensor()]), "GGUF-BAD-ALIGNMENT", "general.alignment"),
    (mf.gguf_raw([], [("deep", [1, 1, 1, 1, 32], 0, 0)]), "GGUF-TENSOR-DIMS", "deep"),
    (mf.gguf_raw([], [("odd", [32, 2], 99, 0)]), "GGUF-TENSOR-TYPE", "odd"),
    (mf.gguf_raw([], [("q", [31, 2], 2, 0)]), "GGUF-TENSOR-DIMS", "q"),
    (mf.gguf_raw([], [_ok_tensor("a", 0), _ok_tensor("b", 260)]), "GGUF-TENSOR-MISALIGNED", "b"),
    (mf.gguf_raw([], [_ok_tensor("a", 0), _ok_tensor("b", 1 << 30)], data=b"\0" * 256),
     "GGUF-TENSOR-OUT-OF-BOUNDS", "b"),
    (mf.gguf_raw([], [_ok_tensor("a", 0), _ok_tensor("b", 128)]), "GGUF-TENSOR-OVERLAP", "b"),
    (mf.gguf_raw([], [_ok_tensor("a", 0), _ok_tensor("a", 256)]), "GGUF-DUPLICATE-TENSOR", "a"),
    (mf.gguf_raw([], [("x" * 80, [32], 0, 0)]), "GGUF-TENSOR-NAME", "x" * 80),
    (mf.gguf_raw([], [_ok_tensor("a", 0)])[:40], "GGUF-TRUNCATED", "a"),
])
def test_malformed_headers(data, rule, where):
    [report] = scan_bytes(data, "m.gguf")
    hit = findings(report, rule)
    assert hit, report.findings
    assert hit[0].location == where
    assert report.error is None


def test_version_1_counts_and_strings():
    data = mf.gguf_raw([("general.name", 8, mf._gs("v1", 1))], [("t", [32], 0, 0)], version=1)
    [report] = scan_bytes(data, "old.gguf")
    assert report.verdict.value == "clean", report.findings


def test_hidden_bytes_between_tensors_are_scanned(canary):
    from tests.fixtures import make_containers as mk

    pkl = mk.malicious_pickle(canary)
    data = bytearray(256 + 512)
    data[256:256 + len(pkl)] = pkl
    raw = mf.gguf_raw([], [_ok_tensor("a", 0), _ok_tensor("b", 512)], data=bytes(data))
    reports = scan_bytes(raw, "m.gguf")
    gap = findings(reports[0], "GGUF-GAP")
    assert gap and gap[0].location == "data offset 256"
    assert reports[1].path.endswith("!<gap at 256>") and reports[1].format == "pickle"


def test_template_after_the_first_mib_of_a_large_file_is_matched_by_yara():
    from modelscreen.engine.yara.loader import default_ruleset

    if default_ruleset()[0] is None:
        pytest.skip("YARA rules unavailable")
    filler = mf.gguf_kv_string("tokenizer.ggml.padding_blob", "p" * (2 << 20))
    kvs = [filler, mf.gguf_kv_string("tokenizer.chat_template", mf.MALICIOUS_TEMPLATES["cycler-globals"])]
    data = mf.gguf_raw(kvs, [("t", [1024, 3840], 0, 0)], data=b"\0" * (15 << 20))
    assert len(data) > 16 << 20
    [report] = scan_bytes(data, "big.gguf")
    yara_hits = [f for f in report.findings if f.analyzer and f.analyzer.startswith("yara:")
                 and f.location == "tokenizer.chat_template"]
    assert yara_hits, [(f.rule_id, f.location) for f in report.findings]
    assert findings(report, "TEMPLATE-DUNDER-ACCESS")


def test_token_list_is_walked_not_loaded():
    [report] = scan_bytes(mf.gguf_bytes(mf.CHATML, tokens=50_000), "model.gguf")
    assert report.verdict.value == "clean"


def test_truncated_file_is_a_finding_not_a_crash():
    data = mf.gguf_bytes(mf.CHATML)
    for cut in (10, 30, 200, len(data) // 2):
        [report] = scan_bytes(data[:cut], "m.gguf")
        assert report.error is None
        assert report.verdict.value in ("suspicious", "error", "malicious") or findings(report, "GGUF-TENSOR-OUT-OF-BOUNDS")


@pytest.fixture
def canary(tmp_path):
    path = tmp_path / "canary"
    yield str(path)
    assert not path.exists()
