"""Fail closed on hostile and broken input: no lost report, no silent clean, bounded memory.

Every case of the hostile corpus (tests/corpus/hostile/generate.py) is scanned in a child process
that measures the scan's peak RSS (under 1 GiB with default limits) and renders every report format.
"""
from __future__ import annotations

import gzip
import io
import json
import os
from pathlib import Path

import pytest

from modelscreen.engine.limits import Budget, Limits
from modelscreen.engine.pickle_head import FIRST_OPCODES, looks_like_pickle, may_run_code, may_start_pickle
from modelscreen.engine.scanner import iter_files, scan_bytes, scan_path, scan_paths, scan_stream
from modelscreen.engine.sniff import sniff
from modelscreen.engine.verdict import NOT_ANALYSED
from modelscreen.reporters import RENDERERS, serialisable
from modelscreen.schemas import ArtifactReport, Finding, Severity, Verdict
from modelscreen.schemas.formats import Format
from tests.corpus.hostile import generate as g
from tests.corpus.hostile.child_scan import RSS_BOUND, scan_in_child


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("hostile")
    paths = g.write_all(out)
    return {p.parent.name: p for p in paths}


@pytest.fixture(scope="module")
def child_results(corpus):
    results = scan_in_child(list(corpus.values()))
    return {key: results[os.fsdecode(p)] for key, p in corpus.items()}


@pytest.mark.parametrize("key", list(g.CASES))
def test_hostile_case(key, child_results):
    case, got = g.CASES[key], child_results[key]
    assert got.error is None, got.error
    assert got.verdict in case.verdicts, (key, got.verdict, got.rules)
    for rule in case.rules:
        assert rule in got.rules, (key, got.rules)
    assert got.rss < RSS_BOUND, f"{key}: peak RSS {got.rss / 2**20:.0f} MiB"


def test_sevenzip_members_are_released_as_scanned(child_results):
    # 12 members of 8 MiB: held together they were 96 MiB over py7zr's own ~45 MiB; one at a time, a few MiB
    baseline = child_results["empty.pkl"].rss
    assert child_results["sevenzip-many-members"].rss - baseline < 80 * 2**20


# --- sniffing: the unpickler's first opcodes, derived from pickletools -------------------------------
def test_every_first_opcode_the_unpickler_accepts_is_a_pickle_start():
    import pickle
    import pickletools

    for op in pickletools.opcodes:
        code = ord(op.code)
        if code not in FIRST_OPCODES:
            continue
        assert may_start_pickle(bytes([code]))
    # and an opcode the unpickler refuses first is not
    refused = [ord(op.code) for op in pickletools.opcodes if op.name in ("REDUCE", "STOP", "BINGET", "APPEND")]
    assert not any(may_start_pickle(bytes([c])) for c in refused)
    assert looks_like_pickle(pickle.dumps([1, "x"], protocol=0), cut=False)


def test_a_pickle_cut_by_the_look_ahead_is_still_a_pickle():
    data = g.pickle_long_first_argument(200_000)
    assert sniff(data[:64 * 1024], data[-1024:], len(data)) == Format.pickle


def test_random_bytes_starting_with_an_opcode_are_not_a_pickle():
    import random

    rng = random.Random(1)
    errors = 0
    for _ in range(200):
        data = bytes([rng.choice(sorted(FIRST_OPCODES))]) + rng.randbytes(300)
        report = scan_bytes(data, "blob.dat")[0]
        if report.verdict is Verdict.error:
            errors += 1
            assert may_run_code(data)  # only bytes on which an unpickler reaches an import or call
    assert errors < 10


# --- verdicts ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("rule", sorted(NOT_ANALYSED))
def test_not_analysed_findings_make_the_verdict_error(rule):
    from modelscreen.engine.verdict import verdict_for

    low = Finding(rule_id=rule, severity=Severity.low, title="x")
    assert verdict_for([low]) is Verdict.error
    assert verdict_for([low, Finding(rule_id="X", severity=Severity.high, title="y")]) is Verdict.malicious


def test_nesting_over_the_limit_fails_the_default_cli_gate(tmp_path):
    from click.testing import CliRunner

    from modelscreen.cli import main

    p = tmp_path / "deep.pkl.gz"
    p.write_bytes(g.nested_gzip(30, g.mp.os_system(g.CANARY)))
    result = CliRunner().invoke(main, ["scan", "--format", "json", str(p)])
    assert result.exit_code != 0
    assert json.loads(result.stdout)["artifacts"][0]["verdict"] == "error"


def test_unreadable_directory_is_an_error_artifact(tmp_path, monkeypatch):
    (tmp_path / "ok").mkdir()
    (tmp_path / "ok" / "a.txt").write_text("hello")
    locked = tmp_path / "locked"
    locked.mkdir()
    real_scandir = os.scandir

    def scandir(path="."):
        if Path(path) == locked:
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    reports = list(scan_paths([tmp_path]))
    by_path = {r.path: r for r in reports}
    assert by_path[str(locked)].verdict is Verdict.error and "Permission denied" in by_path[str(locked)].error
    assert by_path[str(tmp_path / "ok" / "a.txt")].verdict is Verdict.clean


# --- reports always serialise ------------------------------------------------------------------------
def _undecodable_dir(tmp_path: Path) -> Path:
    return g.undecodable_names_dir(tmp_path / "names", (b"caf\xe9.pkl", b"\xff\xfe.bin", b"ok.pkl"))


def test_undecodable_names_keep_every_report_and_their_bytes(tmp_path):
    root = _undecodable_dir(tmp_path)
    reports = serialisable(scan_paths([root]))
    assert len([r for r in reports if r.parent is None]) == 4
    assert all(r.verdict is Verdict.malicious for r in reports if r.parent is None)
    for render in RENDERERS.values():
        render(reports).encode("utf-8")
    doc = json.loads(RENDERERS["json"](reports))
    raw = {bytes.fromhex(a["path_hex"]) for a in doc["artifacts"] if a.get("path_hex")}
    assert os.fsencode(root) + b"/caf\xe9.pkl" in raw and os.fsencode(root) + b"/\xff\xfe.bin" in raw


def test_cli_scan_and_output_file_survive_undecodable_names(tmp_path):
    from click.testing import CliRunner

    from modelscreen.cli import main

    root = _undecodable_dir(tmp_path)
    out = tmp_path / "report.json"
    for fmt in ("json", "sarif", "table"):
        result = CliRunner().invoke(main, ["scan", "--format", fmt, "-o", str(out), str(root)])
        assert result.exit_code == 1, result.output  # findings at high: every artifact reported
        text = out.read_text(encoding="utf-8")
        if fmt == "json":
            assert len(json.loads(text)["artifacts"]) >= 4


def test_tar_member_names_and_json_strings_with_lone_surrogates_serialise():
    for data, name in ((g.tar_with_undecodable_name(), "m.tar"), (g.json_with_lone_surrogates(), "config.json")):
        reports = scan_bytes(data, name)
        ArtifactReport.model_validate_json(RENDERERS["json"](reports).split('"artifacts": ', 1)[0] + "{}"
                                           if False else reports[0].model_dump_json())
        for render in RENDERERS.values():
            render(reports).encode("utf-8")
        members = [r for r in reports if r.path_hex]
        if name == "m.tar":
            assert members and bytes.fromhex(members[0].path_hex).endswith(b"caf\xe9-\xff.pkl")


def test_a_report_that_cannot_serialise_is_replaced_not_lost():
    good = ArtifactReport(path="a.pkl", format="pickle", verdict=Verdict.clean)
    bad = ArtifactReport.model_construct(path="b\udcff.pkl", format="pickle", verdict=Verdict.clean,
                                         findings=[], path_hex=None, sha256=None, size=None, error=None,
                                         parent=None, duration_ms=None, ruleset_version=None, tensor_manifest=None)
    out = serialisable([good, bad])
    assert out[0] is good and out[1].verdict is Verdict.error and out[1].path_hex == b"b\xff.pkl".hex()


def test_ecs_documents_escape_lone_surrogates():
    from datetime import datetime, timezone

    from modelscreen.schemas.events import Action, ArtifactEvent, StoreKind
    from modelscreen.schemas.results import ScanResult
    from modelscreen.sinks.ecs import finding_documents

    # events are validated at intake (a lone surrogate is refused there); reports carry scanned names
    event = ArtifactEvent(action=Action.uploaded, store=StoreKind.local, uri="file:///x", name="n.pkl",
                          time=datetime.now(timezone.utc), source_event_id="e", raw_type="t")
    reports = scan_bytes(g.tar_with_undecodable_name(), "file:///x")
    result = ScanResult(event=event, sha256=reports[0].sha256, verdict=reports[0].verdict, reports=reports,
                        engine_version="t", scanned_at=datetime.now(timezone.utc))
    for _id, doc in finding_documents(result, observer={}):
        json.dumps(doc, ensure_ascii=False).encode("utf-8")


# --- bounded work ------------------------------------------------------------------------------------
def test_decompression_temp_storage_is_bounded_and_released():
    limits = Limits(max_temp_bytes=4 * 2**20)
    budget = Budget(limits)
    data = gzip.compress(b"\x00" * (16 * 2**20), mtime=0)
    reports = scan_stream(io.BytesIO(data), "big.gz", size=len(data), limits=limits, budget=budget)
    assert reports[0].verdict is Verdict.error
    assert any(f.rule_id == "LIMIT-EXCEEDED" and "max_temp_bytes" in f.title for r in reports for f in r.findings)
    assert budget.temp == 0  # every spool closed


def test_template_folder_never_builds_huge_strings():
    import resource

    from modelscreen.engine.templates import check_template

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    check_template(json.loads(g.template_format_bomb())["chat_template"])
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 64 * 1024  # KiB


def test_safetensors_bookkeeping_is_linear():
    import time

    def cost(n: int) -> float:
        data = g.safetensors_many_tensors(n)
        t = time.process_time()
        scan_bytes(data, "m.safetensors")
        return time.process_time() - t

    small, large = cost(10_000), cost(40_000)
    assert large < 8 * small + 1.0  # 4x the tensors: about 4x the time, never quadratic


def test_safetensors_duplicates_in_a_large_header_stay_linear():
    import struct
    import time

    entries = ",".join(f'"t{i}":{{"dtype":"U8","shape":[1],"data_offsets":[{i},{i + 1}]}}' for i in range(20_000))
    raw = ("{" + entries + ',"t0":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}').encode()
    data = struct.pack("<Q", len(raw)) + raw + b"\x00" * 20_000
    t = time.process_time()
    report = scan_bytes(data, "m.safetensors")[0]
    assert time.process_time() - t < 30
    assert any(f.rule_id == "SAFETENSORS-DUPLICATE-NAME" for f in report.findings)


def test_iter_files_still_lists_regular_trees(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x.pkl").write_bytes(b"\x80\x04K\x01.")
    assert [p.name for p in iter_files([tmp_path])] == ["x.pkl"]
    assert scan_path(tmp_path)[0].verdict is Verdict.error  # a directory given as a file
