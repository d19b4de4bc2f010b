"""Scans in the sandbox: a crash, a memory bomb, a hang or a kill is that artifact's error verdict; every
other artifact's report is the one an in-process scan gives, in the same order."""
import os
import pickle
import signal
import threading
import time

import pytest

from modelscreen.engine import scan_path
from modelscreen.sandbox import SandboxLimits
from modelscreen.sandbox.scanning import SandboxScanner
from tests.sandbox import hostile


class Evil:
    def __reduce__(self):
        return (os.system, ("touch /tmp/modelscreen-canary",))


def _corpus(tmp_path):
    files = {
        "a-ok.pkl": pickle.dumps({"w": [1.0, 2.0]}, protocol=4),
        "b-segv.txt": b"MODELSCREEN-TEST SEGV\n",
        "c-evil.pkl": pickle.dumps(Evil(), protocol=2),
        "d-bomb.txt": b"MODELSCREEN-TEST BOMB\n",
        "e-notes.txt": b"hello\n",
        "f-hang.txt": b"MODELSCREEN-TEST HANG\n",
        "g-abort.txt": b"MODELSCREEN-TEST ABORT\n",
        "h-ok.json": b'{"model_type": "bert"}',
    }
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    return sorted(tmp_path.iterdir())


def _strip(report):
    return report.model_dump(exclude={"duration_ms"})


@pytest.fixture(scope="module")
def scanner():
    limits = SandboxLimits(memory_bytes=1024**3, cpu_seconds=10, wall_seconds=4)
    with SandboxScanner(2, sandbox=limits, initializer=hostile.install) as s:
        yield s


def test_failures_are_verdicts_and_the_rest_is_unaffected(tmp_path, scanner):
    files = _corpus(tmp_path)
    reports = list(scanner.scan_files(files))
    assert [r.path for r in reports] == [str(f) for f in files]
    by_name = {os.path.basename(r.path): r for r in reports}
    expect = {"b-segv.txt": "ENGINE-CRASH", "d-bomb.txt": "LIMIT-MEMORY", "f-hang.txt": "LIMIT-TIME",
              "g-abort.txt": "ENGINE-CRASH"}
    for name, rule in expect.items():
        r = by_name[name]
        assert r.verdict.value == "error" and r.error
        assert [f.rule_id for f in r.findings] == [rule]
        assert r.size == (tmp_path / name).stat().st_size
    for f in files:
        if f.name not in expect:
            assert [_strip(r) for r in reports if r.path == str(f)] == [_strip(r) for r in scan_path(f)]
    assert by_name["c-evil.pkl"].verdict.value == "malicious"
    # the pool replaced the dead children and keeps scanning
    again = scanner.scan(files[0])
    assert _strip(again[0]) == _strip(scan_path(files[0])[0])


@pytest.mark.parametrize("sig,rule", [(signal.SIGKILL, "ENGINE-CRASH"), (signal.SIGSEGV, "ENGINE-CRASH")])
def test_a_child_killed_mid_scan(tmp_path, scanner, sig, rule):
    pidfile = tmp_path / "pid"
    target = tmp_path / "victim.txt"
    target.write_bytes(f"MODELSCREEN-TEST WAIT {pidfile}\n".encode())
    out = []
    t = threading.Thread(target=lambda: out.append(scanner.scan(target)))
    t.start()
    deadline = time.monotonic() + 30
    while not (pidfile.exists() and pidfile.read_text()) and time.monotonic() < deadline:
        time.sleep(0.05)
    os.kill(int(pidfile.read_text()), sig)
    t.join(30)
    [report] = out[0]
    assert report.verdict.value == "error" and report.findings[0].rule_id == rule
    ok = tmp_path / "ok.txt"
    ok.write_bytes(b"fine\n")
    assert scanner.scan(ok)[0].verdict.value == "clean"


def test_archive_members_are_scanned_in_their_parents_child(tmp_path, scanner):
    import zipfile

    z = tmp_path / "bundle.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("inner.txt", "MODELSCREEN-TEST SEGV\n")
        zf.writestr("model.pkl", pickle.dumps([1, 2, 3]))
    [report] = scanner.scan(z)
    assert report.path == str(z) and report.verdict.value == "error"
    assert report.findings[0].rule_id == "ENGINE-CRASH"


def test_cli_report_is_the_same_with_one_or_two_jobs(tmp_path):
    import json

    from click.testing import CliRunner

    from modelscreen.cli import main

    files = _corpus(tmp_path)
    for f in files:
        if f.read_bytes().startswith(hostile.MARK):
            f.unlink()
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "z.pkl").write_bytes(pickle.dumps(Evil(), protocol=4))
    docs = []
    for jobs in ("1", "2"):
        res = CliRunner().invoke(main, ["scan", "--format", "json", "--jobs", jobs, str(tmp_path)])
        assert res.exit_code == 1, res.output
        doc = json.loads(res.output)
        for a in doc["artifacts"]:
            a.pop("duration_ms", None)
        docs.append(doc)
    assert docs[0] == docs[1]
    assert [a["path"] for a in docs[0]["artifacts"]][-1] == str(tmp_path / "sub" / "z.pkl")


MARKER_RULE = """
rule SUSP_Sandbox_Marker
{
    meta:
        id = "MSY-TST-501"
        description = "Marker for the hot-reload-into-children test"
        author = "modelscreen"
        date = "2026-12-06"
        reference = "https://attack.mitre.org/techniques/T1195/"
        severity = "high"
        score = 75
        category = "test"
        version = 1
        scope = "small-file,config,metadata"
    strings:
        $m = "MODELSCREEN-SANDBOX-MARKER"
    condition:
        $m
}
"""


def test_a_hot_reloaded_ruleset_reaches_the_children(tmp_path):
    import shutil

    from modelscreen.engine.yara.loader import (configure_default_ruleset, load_ruleset, packaged_rules_dir,
                                                ruleset_from_bundle, set_default_ruleset)
    from modelscreen.sandbox.scanning import SandboxScanner

    rules = tmp_path / "yara"
    shutil.copytree(packaged_rules_dir(), rules)
    (rules / "test").mkdir()
    (rules / "test" / "marker.yar").write_text(MARKER_RULE)
    target = tmp_path / "notes.txt"
    target.write_text("release notes\nMODELSCREEN-SANDBOX-MARKER\n")
    with SandboxScanner(jobs=1) as scanner:
        assert "MSY-TST-501" not in {f.rule_id for f in scanner.scan(target)[0].findings}
        try:
            # as the rules agent does with a published bundle: the parent swaps, the warm child follows
            set_default_ruleset(ruleset_from_bundle(load_ruleset(rules).bundle()))
            [report] = scanner.scan(target)
        finally:
            configure_default_ruleset()
    assert "MSY-TST-501" in {f.rule_id for f in report.findings}
