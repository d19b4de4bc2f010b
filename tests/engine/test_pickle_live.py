"""Proof that the fixtures are real: a child process loads a few of them in a temp dir and the canary
appears. This is the only place a malicious fixture is ever loaded; the payload only creates a file."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

CHILD = textwrap.dedent("""
    import pickle, sys
    from tests.fixtures import make_pickles as M
    data = getattr(M, sys.argv[1])(sys.argv[2])
    try:
        pickle.loads(data)   # the C loader, as used by torch.load / pickle.load
    except Exception:
        pass
""")


@pytest.mark.skipif(sys.platform == "win32", reason="payload uses touch")
@pytest.mark.parametrize("name", ["os_system", "getattr_chain_memo", "dotted_traversal", "frame_crossing",
                                  "frame_overlap", "genops_differential", "nul_in_int", "builtins_open_write",
                                  "truncated_after_reduce"])
def test_payload_is_live_in_child_process(tmp_path, name):
    canary = tmp_path / "canary"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    subprocess.run([sys.executable, "-c", CHILD, name, str(canary)], cwd=tmp_path, env=env, check=True,
                   timeout=60, capture_output=True)
    assert canary.exists(), f"{name} did not run under the C loader"


def test_scanner_never_runs_them(tmp_path, monkeypatch):
    from tests.fixtures import make_pickles as M
    from modelscreen.engine import scan_bytes

    monkeypatch.chdir(tmp_path)
    for name, fn in M.MALICIOUS.items():
        scan_bytes(fn(str(tmp_path / "canary")), f"{name}.pkl")
    assert not (tmp_path / "canary").exists()
