"""Peak memory of scanning memo-heavy pickles of growing size (target: under 512 MiB at any size).

    python bench/bench_pickle_memory.py [--max-mb 1024] [--dir DIR]

Writes records-shape pickles (a list of (int, float, str) tuples, every string and tuple memoized; also a
variant whose tuples hold a global, which the walker keeps in its compact memo) of 64 MiB, 256 MiB and
--max-mb, each scanned by `scan_path` in a fresh sandboxed child. Prints the child's peak RSS and the
scan's MB/s per size (including the child's start and rule compilation). Beyond 500 MB the walk stops at the
engine's max_pickle_ops limit (a LIMIT-EXCEEDED finding); memory is bounded either way.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.fixtures: the streaming writer

from modelscreen.sandbox import SandboxLimits, run_sandboxed  # noqa: E402
from tests.fixtures.memo_heavy import peak_rss, write_to_size  # noqa: E402

MiB = 1024 * 1024


def scan_and_measure(path: str) -> tuple[str, str | None, int]:
    from modelscreen.engine import scan_path

    report = scan_path(path)[0]
    return report.verdict.value, report.error, peak_rss()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--max-mb", type=int, default=1024)
    ap.add_argument("--dir", default=tempfile.gettempdir())
    args = ap.parse_args()
    limits = SandboxLimits(memory_bytes=2 * 1024**3, cpu_seconds=3600, wall_seconds=3600)
    print(f"{'shape':14} {'MiB':>6} {'verdict':>10} {'peak RSS MiB':>13} {'scan MB/s':>10}")
    for with_global in (False, True):
        for mb in sorted({64, 256, args.max_mb}):
            fd, name = tempfile.mkstemp(suffix=".pkl", dir=args.dir)
            try:
                with os.fdopen(fd, "wb") as fh:
                    size = write_to_size(fh, mb * MiB, with_global=with_global)
                t = time.perf_counter()
                verdict, error, peak = run_sandboxed(scan_and_measure, name, limits=limits)
                took = time.perf_counter() - t
            finally:
                os.unlink(name)
            shape = "records+global" if with_global else "records"
            print(f"{shape:14} {size / MiB:6.0f} {verdict:>10} {peak / MiB:13.0f} {size / 1e6 / took:10.1f}"
                  + (f"  error: {error}" if error else ""), flush=True)


if __name__ == "__main__":
    main()
