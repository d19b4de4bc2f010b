"""A worker freezes its start-up heap and collects its youngest generation less often (in a child process:
freezing would keep this test run's garbage)."""
from __future__ import annotations

import subprocess
import sys


def test_tune_for_worker():
    code = ("import gc; from modelscreen.gc_tuning import YOUNG_THRESHOLD, tune_for_worker; old = gc.get_threshold(); "
            "tune_for_worker(); new = gc.get_threshold(); "
            "print(new == (YOUNG_THRESHOLD, *old[1:]), gc.get_freeze_count() > 1000, gc.isenabled())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "True", "True"]
