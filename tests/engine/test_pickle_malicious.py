"""Crafted malicious pickles (harmless payloads) are reported; nothing is ever loaded here."""
from __future__ import annotations

import io
import os

import pytest

from tests.fixtures import make_pickles as M
from modelscreen.engine import scan_bytes
from modelscreen.engine.context import ScanContext
from modelscreen.engine.limits import Budget, Limits
from modelscreen.engine.pickle import analyze_pickle


def _scan(data: bytes):
    report = scan_bytes(data, "x.pkl")[0]
    rules = {f.rule_id for f in report.findings if f.analyzer == "pickle"}
    return report, rules


EXPECT_CALL = [
    "os_system", "os_system_proto0", "posix_system", "subprocess_popen", "subprocess_check_output",
    "builtins_eval", "builtins_exec", "py2_builtin_eval", "builtins_open_write", "socket_connect", "urlopen",
    "import_module", "getattr_import_system", "getattr_chain_memo", "memo_callable", "dotted_traversal",
    "dotted_builtins_getattr", "inst_proto0", "obj_proto1", "newobj_ex", "runpy_run_code", "pip_main",
    "pdb_run", "cprofile_run", "timeit_timeit", "marshal_loads", "nested_pickle_loads",
    "nested_torch_load_from_bytes", "numpy_load", "shutil_rmtree", "partial_system", "codecs_abuse",
    "truncated_after_reduce", "bad_opcode_after_call", "missing_stop", "stack_underflow_after_call",
    "frame_crossing", "frame_overlap", "genops_differential", "nul_in_int", "concatenated",
]


@pytest.fixture(autouse=True)
def _no_canary(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    yield
    assert not os.path.exists(tmp_path / M.CANARY), "a fixture was executed"


@pytest.mark.parametrize("name", EXPECT_CALL)
def test_dangerous_call_is_critical(name):
    report, rules = _scan(getattr(M, name)())
    assert report.verdict.value == "malicious"
    assert "PICKLE-DANGEROUS-CALL" in rules
    crit = [f for f in report.findings if f.rule_id == "PICKLE-DANGEROUS-CALL"]
    assert all(f.severity.value == "critical" for f in crit)
    assert all(f.location and "offset" in f.location for f in crit)
    assert all(f.remediation == "Do not load; convert to safetensors" for f in crit)


def test_every_fixture_is_covered():
    others = {"ext1", "os_environ_setitem", "import_only"}
    assert set(M.MALICIOUS) == set(EXPECT_CALL) | others


def test_evidence_names_callable_and_argument():
    report, _ = _scan(M.os_system("my-canary"))
    f = next(f for f in report.findings if f.rule_id == "PICKLE-DANGEROUS-CALL")
    assert "os.system" in f.evidence and "touch my-canary" in f.evidence


@pytest.mark.parametrize("name,callee", [
    ("getattr_import_system", "os.system"), ("getattr_chain_memo", "os.system"),
    ("dotted_traversal", "os.system"), ("memo_callable", "os.system"), ("inst_proto0", "os.system"),
    ("py2_builtin_eval", "builtins.eval"), ("partial_system", "os.system"),
])
def test_resolved_callee(name, callee):
    report, _ = _scan(getattr(M, name)())
    titles = " ".join(f.title + " " + (f.evidence or "") for f in report.findings if f.analyzer == "pickle")
    assert callee in titles


def test_nested_pickle_findings_are_located_inside():
    for name in ("nested_pickle_loads", "nested_torch_load_from_bytes"):
        report, _ = _scan(getattr(M, name)())
        nested = [f for f in report.findings if f.location and "> nested pickle" in f.location]
        assert any(f.rule_id == "PICKLE-DANGEROUS-CALL" and "os.system" in f.title for f in nested), name


def test_nested_pickle_depth_is_bounded():
    data = M.os_system()
    for _ in range(12):
        data = M.p4(M.call(M.sg("pickle", "loads"), M.by(data)))
    report = scan_bytes(data, "x.pkl", limits=Limits(max_depth=3))[0]
    assert report.verdict.value == "malicious"
    assert any(f.rule_id == "LIMIT-NESTING" for f in report.findings)


def test_import_without_call_is_high():
    report, rules = _scan(M.import_only())
    assert "PICKLE-DANGEROUS-IMPORT" in rules and "PICKLE-DANGEROUS-CALL" not in rules
    assert report.verdict.value == "malicious"


def test_ext_codes_are_high():
    report, rules = _scan(M.ext1())
    assert "PICKLE-EXTENSION-CODE" in rules and report.verdict.value == "malicious"


def test_environ_mutation_without_any_call():
    report, rules = _scan(M.os_environ_setitem())
    assert "PICKLE-GLOBAL-MUTATION" in rules and report.verdict.value == "malicious"


@pytest.mark.parametrize("name", ["truncated_after_reduce", "bad_opcode_after_call", "missing_stop",
                                  "stack_underflow_after_call"])
def test_broken_streams_keep_the_call(name):
    _, rules = _scan(getattr(M, name)())
    assert {"PICKLE-DANGEROUS-CALL", "PICKLE-MALFORMED"} <= rules


@pytest.mark.parametrize("name", ["frame_crossing", "frame_overlap"])
def test_frame_tricks(name):
    _, rules = _scan(getattr(M, name)())
    assert {"PICKLE-DANGEROUS-CALL", "PICKLE-FRAME-MISMATCH"} <= rules


@pytest.mark.parametrize("name", ["genops_differential", "nul_in_int"])
def test_parser_differentials(name):
    _, rules = _scan(getattr(M, name)())
    assert {"PICKLE-DANGEROUS-CALL", "PICKLE-PARSER-DIFFERENTIAL"} <= rules


def test_getattr_on_safe_target_is_not_dangerous():
    data = M.p4(M.call(M.sg("builtins", "getattr"), M.sg("collections", "OrderedDict"), M.s("fromkeys"))
                + b"(" + b"]" + b"tR")
    report, rules = _scan(data)
    assert "PICKLE-DANGEROUS-CALL" not in rules and "PICKLE-DANGEROUS-IMPORT" not in rules
    assert report.verdict.value in ("clean", "suspicious")


def test_dynamic_getattr_is_dangerous():
    # the attribute name is computed by a call, so it cannot be resolved statically
    name = M.call(M.sg("builtins", "str"), M.s("system"))
    data = M.p4(M.call(M.sg("builtins", "getattr"), M.sg("os", "path"), name))
    _, rules = _scan(data)
    assert "PICKLE-DANGEROUS-CALL" in rules


def test_unknown_callable_is_medium():
    data = M.p4(M.call(M.sg("mylib.models", "Thing"), M.s("x")))
    report, rules = _scan(data)
    assert "PICKLE-UNKNOWN-CALLABLE" in rules
    assert report.verdict.value == "suspicious"
    f = next(f for f in report.findings if f.rule_id == "PICKLE-UNKNOWN-CALLABLE")
    assert f.severity.value == "medium" and "mylib.models.Thing" in f.title


def test_unknown_import_only_is_info():
    data = M.p4(b"]" + M.sg("mylib.models", "Thing") + b"a")
    report, rules = _scan(data)
    assert "PICKLE-UNKNOWN-IMPORT" in rules and report.verdict.value == "clean"


def test_stack_global_with_computed_name_is_high():
    data = M.p4(M.call(M.sg("builtins", "str"), M.s("os")) + M.s("system") + b"\x93" + b"0N")
    _, rules = _scan(data)
    assert "PICKLE-UNRESOLVED-GLOBAL" in rules


def test_analyze_pickle_api_returns_end_and_continues():
    first = M.os_system()
    data = b"JUNK" + first + b"tail"
    limits = Limits()
    ctx = ScanContext(path="t", limits=limits, budget=Budget(limits))
    stream = io.BytesIO(data)
    stream.seek(4)
    res = analyze_pickle(stream, ctx, location_prefix="member: ", second_opinion=False)
    assert res.complete and res.end == 4 + len(first) and stream.tell() == res.end
    assert res.protocol == 4 and res.dangerous
    assert any(f.location.startswith("member: offset ") for f in ctx.findings)


def test_max_bytes_bounds_the_stream():
    data = M.os_system()
    limits = Limits()
    ctx = ScanContext(path="t", limits=limits, budget=Budget(limits))
    res = analyze_pickle(io.BytesIO(data + b"garbage"), ctx, max_bytes=len(data) - 1, second_opinion=False)
    assert not res.complete
    assert {f.rule_id for f in ctx.findings} >= {"PICKLE-DANGEROUS-CALL", "PICKLE-MALFORMED"}
