"""Evasion classes (tests/fixtures/make_evasions.py): each pickle is proven live in a child process and
must get the verdict `malicious` from the scanner, which never runs it."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.fixtures import make_evasions as E
from modelscreen.engine import scan_bytes

ROOT = Path(__file__).resolve().parents[2]

CHILD = textwrap.dedent("""
    import io, os, pickle, sys   # a loading script that imported os (as most do)
    from tests.fixtures import make_evasions as E
    data = E.EVASIONS[sys.argv[1]](sys.argv[2])
    if sys.argv[1] in E.LOADED_BY_JOBLIB:
        import joblib
        joblib.load(io.BytesIO(data))
    elif sys.argv[1] in E.LOADED_IN_A_LOOP:   # a loader reading records until the file ends
        f = io.BytesIO(data)
        while f.tell() < len(data):
            pickle.load(f)
    else:
        try:
            pickle.loads(data)   # the C loader, as used by torch.load / pickle.load
        except Exception:
            pass
""")


def test_every_class_is_covered():
    classes = {name.split("_", 1)[0] for name in E.EVASIONS}
    assert classes == {"traversal", "applies", "implied", "gadget", "main", "exception"}
    assert len(E.EVASIONS) >= 15


@pytest.mark.skipif(sys.platform == "win32", reason="payloads use touch")
@pytest.mark.parametrize("name", sorted(E.EVASIONS))
def test_payload_is_live_in_child_process(tmp_path, name):
    canary = tmp_path / "canary"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    subprocess.run([sys.executable, "-c", CHILD, name, str(canary)], cwd=tmp_path, env=env, check=True,
                   timeout=60, capture_output=True)
    assert any(p.name.startswith("canary") for p in tmp_path.iterdir()), f"{name} did not run under the C loader"


@pytest.mark.parametrize("name", sorted(E.EVASIONS))
def test_scanner_calls_it_malicious(tmp_path, monkeypatch, name):
    monkeypatch.chdir(tmp_path)
    report = scan_bytes(E.EVASIONS[name](str(tmp_path / "canary")), f"{name}.pkl")[0]
    assert report.verdict.value == "malicious", [(f.rule_id, f.severity.value, f.title) for f in report.findings]
    assert not any(p.name.startswith("canary") for p in tmp_path.iterdir())
