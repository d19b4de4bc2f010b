"""Scan files in a child process and measure each scan's peak RSS.

`scan_in_child(paths)` starts one interpreter that loads the engine (and warms it up on a tiny file),
then forks once per path: each fork scans one artifact, renders the JSON, SARIF and table reports, and
reports its own peak resident set size (which starts at the warmed-up parent's), so every number is
the peak of one artifact scan. Run as `python -m tests.corpus.hostile.child_scan PATH...`.
"""
from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from modelscreen.engine.limits import GiB

RSS_BOUND = 1 * GiB


@dataclass
class ChildScan:
    path: str
    verdict: str
    rules: list[str]
    rss: int  # peak resident set size of the scan, bytes
    error: str | None = None


def scan_in_child(paths: list[Path], timeout: float = 300) -> dict[str, ChildScan]:
    out = subprocess.run([sys.executable, "-m", "tests.corpus.hostile.child_scan", *map(os.fsdecode, paths)],
                         capture_output=True, timeout=timeout, cwd=Path(__file__).resolve().parents[3])
    if out.returncode != 0:
        raise RuntimeError(f"child failed ({out.returncode}): {out.stderr.decode(errors='replace')[-2000:]}")
    results = {}
    for line in out.stdout.decode().splitlines():
        doc = json.loads(line)
        results[doc["path"]] = ChildScan(**doc)
    return results


def _scan_one(path: str) -> dict:
    from modelscreen.engine.scanner import scan_path
    from modelscreen.reporters import RENDERERS, serialisable

    reports = serialisable(scan_path(path))
    for name, render in RENDERERS.items():
        text = render(reports)
        text.encode("utf-8")  # every output is UTF-8 text
        if name != "table":
            json.loads(text)
    top = reports[0]
    return {"verdict": top.verdict.value, "rules": sorted({f.rule_id for r in reports for f in r.findings})}


def _main(paths: list[str]) -> None:
    import tempfile

    from modelscreen.engine.scanner import scan_path

    with tempfile.NamedTemporaryFile(suffix=".pkl") as warm:  # load analyzers and rules before forking
        warm.write(b"\x80\x04K\x01.")
        warm.flush()
        scan_path(warm.name)
    for path in paths:
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # the fork: one scan, its own peak
            os.close(read)
            try:
                doc = {"path": path, **_scan_one(path), "error": None}
            except BaseException as exc:  # noqa: BLE001 - an escaped exception is a test failure, reported
                doc = {"path": path, "verdict": "exception", "rules": [], "error": f"{type(exc).__name__}: {exc}"}
            doc["rss"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
            os.write(write, json.dumps(doc).encode())
            os._exit(0)
        os.close(write)
        chunks = []
        while chunk := os.read(read, 65536):
            chunks.append(chunk)
        os.close(read)
        os.waitpid(pid, 0)
        sys.stdout.write(b"".join(chunks).decode() + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    _main(sys.argv[1:])
