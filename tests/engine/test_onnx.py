"""ONNX: the ModelProto is walked with the bounded wire reader; benign models are built from onnx's proto classes."""
from __future__ import annotations

import os

import pytest

from tests.fixtures import make_containers as mk
from tests.fixtures import make_formats as mf
from modelscreen.engine import scan_bytes, scan_path
from modelscreen.engine.sniff import sniff

onnx = pytest.importorskip("onnx")


def findings(report, rule):
    return [f for f in report.findings if f.rule_id == rule]


def test_benign_model_is_sniffed_and_clean():
    data = mf.onnx_bytes()
    onnx.checker.check_model(onnx.load_model_from_string(data))
    assert sniff(data[:65536], b"", len(data)) == "onnx"
    [report] = scan_bytes(data, "model.onnx")
    assert report.format == "onnx" and report.verdict.value == "clean", report.findings


@pytest.mark.parametrize("ir", [3, 7, 10])
def test_ir_versions(ir):
    [report] = scan_bytes(mf.onnx_bytes(ir_version=ir), "model.onnx")
    assert report.format == "onnx"


def test_custom_domain_operator_is_medium_with_node_location():
    [report] = scan_bytes(mf.onnx_bytes(custom_domain="evil.ops"), "model.onnx")
    op = findings(report, "ONNX-CUSTOM-OPERATOR")
    assert op and op[0].severity.value == "medium" and op[0].location == "graph/node custom_0"
    dom = findings(report, "ONNX-CUSTOM-DOMAIN")
    assert dom and dom[0].location == "opset_import evil.ops"
    assert report.verdict.value == "suspicious"


@pytest.mark.parametrize("domain", ["com.microsoft", "ai.onnx.ml", ""])
def test_runtime_domains_are_not_custom(domain):
    data = mf.onnx_bytes(custom_domain=domain) if domain else mf.onnx_bytes()
    [report] = scan_bytes(data, "model.onnx")
    assert not findings(report, "ONNX-CUSTOM-OPERATOR")


def test_optional_library_domain_is_low():
    [report] = scan_bytes(mf.onnx_bytes(custom_domain="ai.onnx.contrib"), "model.onnx")
    assert {f.severity.value for f in findings(report, "ONNX-CUSTOM-OPERATOR")} == {"low"}


def test_custom_operator_inside_a_subgraph_is_located():
    [report] = scan_bytes(mf.onnx_bytes(subgraph_custom=True), "model.onnx")
    op = findings(report, "ONNX-CUSTOM-OPERATOR")
    assert op and op[0].location == "graph/node if_0/then_branch/node hidden_evil"


def test_local_functions_are_not_custom_operators():
    [report] = scan_bytes(mf.onnx_bytes(with_function=True), "model.onnx")
    assert not findings(report, "ONNX-CUSTOM-OPERATOR") and not findings(report, "ONNX-CUSTOM-DOMAIN")
    fn = findings(report, "ONNX-LOCAL-FUNCTIONS")
    assert fn and "local.fns.Double" in fn[0].detail and fn[0].severity.value == "info"


@pytest.mark.parametrize("location", ["../../../../etc/passwd", "/etc/passwd", "C:\\Windows\\win.ini",
                                      "weights/../../x.bin", "file:///etc/passwd", "~/.ssh/id_rsa",
                                      "ok.bin\x00../../x"])
def test_external_data_escaping_the_directory_is_high(location):
    [report] = scan_bytes(mf.onnx_bytes(external_location=location), "model.onnx")
    hit = findings(report, "ONNX-EXTERNAL-DATA-TRAVERSAL")
    assert hit and hit[0].severity.value == "high" and hit[0].location == "W_ext"
    assert report.verdict.value == "malicious"


def test_external_data_relative_is_fine_and_offsets_checked():
    [report] = scan_bytes(mf.onnx_bytes(external_location="weights.bin"), "model.onnx")
    assert report.verdict.value == "clean", report.findings
    [report] = scan_bytes(mf.onnx_bytes(external_location="weights.bin", external_offset="-16"), "model.onnx")
    bad = findings(report, "ONNX-EXTERNAL-DATA-INVALID")
    assert bad and bad[0].location == "W_ext" and bad[0].severity.value == "medium"


def test_external_data_symlink_out_of_the_directory(tmp_path):
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    (model_dir / "model.onnx").write_bytes(mf.onnx_bytes(external_location="weights.bin"))
    os.symlink("/etc/hostname", model_dir / "weights.bin")
    [report] = scan_path(model_dir / "model.onnx")
    hit = findings(report, "ONNX-EXTERNAL-DATA-TRAVERSAL")
    assert hit and "symbolic link" in hit[0].detail


def test_external_data_missing_file_is_info(tmp_path):
    (tmp_path / "model.onnx").write_bytes(mf.onnx_bytes(external_location="weights.bin"))
    [report] = scan_path(tmp_path / "model.onnx")
    assert {f.severity.value for f in findings(report, "ONNX-EXTERNAL-DATA-MISSING")} == {"info"}
    (tmp_path / "weights.bin").write_bytes(b"\0" * 16)
    [report] = scan_path(tmp_path / "model.onnx")
    assert report.verdict.value == "clean", report.findings


def test_truncated_model_is_malformed_not_a_crash():
    data = mf.onnx_bytes(custom_domain="x.y")
    for cut in range(60, len(data), max(len(data) // 7, 1)):
        reports = scan_bytes(data[:cut], "model.onnx")
        assert reports[0].error is None


def test_named_onnx_that_is_not_onnx_is_low():
    [report] = scan_bytes(b"\x01\x02\x03 random bytes \xff\xfe" * 10, "model.onnx")
    hit = findings(report, "ONNX-MALFORMED")
    assert hit and hit[0].severity.value == "low"


@pytest.mark.parametrize("blob", [
    b"\x08\x05" + os.urandom(200),
    b"\x08\x01\x12\x03abc",
    bytes(range(8, 256)),
    b"\x08\x07\x12\x07pytorch\x1a\x032.1",  # no graph field
])
def test_random_and_partial_bytes_are_not_onnx(blob):
    assert sniff(blob, b"", len(blob)) not in ("onnx", "tf-savedmodel")


def test_onnx_with_appended_zip_is_a_polyglot():
    data = mf.onnx_bytes() + mk.zip_of({"payload.txt": b"hello"})
    assert sniff(data[:65536], data[-65536:], len(data)) == "zip"


def test_onnx_loader_is_never_used(monkeypatch):
    def boom(*a, **k):
        raise AssertionError("onnx deserialization used")

    monkeypatch.setattr(onnx, "load_model_from_string", boom)
    monkeypatch.setattr(onnx, "load", boom)
    monkeypatch.setattr(onnx.ModelProto, "ParseFromString", boom)
    [report] = scan_bytes(mf.onnx_bytes(custom_domain="evil.ops"), "model.onnx")
    assert findings(report, "ONNX-CUSTOM-OPERATOR")


def test_onnx_inside_a_zip_is_located_by_member():
    reports = scan_bytes(mk.zip_of({"onnx/model.onnx": mf.onnx_bytes(custom_domain="evil.ops")}), "bundle.zip")
    member = [r for r in reports if r.path.endswith("!onnx/model.onnx")][0]
    assert member.format == "onnx" and findings(member, "ONNX-CUSTOM-OPERATOR")
    assert reports[0].verdict.value == "suspicious"
