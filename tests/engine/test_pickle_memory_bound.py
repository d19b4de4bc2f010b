"""Scanning a memo-heavy pickle costs bounded memory: the peak RSS of the (sandboxed) scanning process does
not grow with the pickle's size."""
import pickle

import pytest

from modelscreen.sandbox import SandboxLimits, run_sandboxed
from tests.fixtures.memo_heavy import peak_rss, write_records

MiB = 1024 * 1024


def scan_and_measure(path: str) -> tuple[str, list[str], int]:
    from modelscreen.engine import scan_path

    report = scan_path(path)[0]
    return report.verdict.value, [f.rule_id for f in report.findings], peak_rss()


def test_the_stream_writer_writes_what_pickle_reads(tmp_path):
    p = tmp_path / "small.pkl"
    with open(p, "wb") as fh:
        write_records(fh, 2500, batch=1000)
    assert pickle.loads(p.read_bytes()) == [(i, i * 0.5, f"name{i}") for i in range(2500)]  # our own fixture


@pytest.mark.parametrize("with_global", [False, True])
def test_peak_rss_does_not_grow_with_the_memo(tmp_path, with_global):
    limits = SandboxLimits(memory_bytes=2 * 1024**3, wall_seconds=300, cpu_seconds=300)
    peaks = []
    for n in (700_000, 2_800_000):
        p = tmp_path / f"records-{n}.pkl"
        with open(p, "wb") as fh:
            write_records(fh, n, with_global=with_global)
        verdict, rules, peak = run_sandboxed(scan_and_measure, str(p), limits=limits)
        assert verdict in ("clean", "suspicious") and not any(r.startswith(("LIMIT", "ENGINE")) for r in rules)
        peaks.append(peak)
        p.unlink()
    small, large = peaks
    assert large < 512 * MiB
    assert large - small < 48 * MiB, f"{small / MiB:.0f} MiB -> {large / MiB:.0f} MiB for 4x the pickle"
