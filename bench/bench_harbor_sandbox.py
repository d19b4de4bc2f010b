"""Benchmark: what scanning each file of a model package in its own sandbox child costs, against scanning
the same files in-process, and several files sharing one child (the Harbor adapter's in-process mode scans
small layers in a shared child, and again one by one when a shared child fails).

    python bench/bench_harbor_sandbox.py [--files 8] [--size-kb 64] [--repeat 3]

Writes --files small safetensors files, then times (best of --repeat) the in-process scan of all of
them, one sandbox child per file, and one shared child. Prints the times, the per-file overhead and the
ratio of the two sandboxed ways.
"""
from __future__ import annotations

import argparse
import json
import struct
import tempfile
import time
from pathlib import Path

from modelscreen.harbor.package import scan_file, scan_files
from modelscreen.sandbox import SandboxLimits, run_sandboxed


def safetensors(size: int) -> bytes:
    n = max(size // 4, 1)
    header = json.dumps({"w": {"dtype": "F32", "shape": [n], "data_offsets": [0, 4 * n]}}).encode()
    header += b" " * (-len(header) % 8)
    return struct.pack("<Q", len(header)) + header + bytes(4 * n)


def best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=8)
    ap.add_argument("--size-kb", type=int, default=64)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for i in range(args.files):
            p = Path(tmp) / f"model-{i}.safetensors"
            p.write_bytes(safetensors(args.size_kb * 1024))
            paths.append(p)
        limits = SandboxLimits()
        inline = best(lambda: [scan_file(str(p), p.name) for p in paths], args.repeat)
        boxed = best(lambda: [run_sandboxed(scan_file, str(p), p.name, limits=limits) for p in paths], args.repeat)
        shared = best(lambda: run_sandboxed(scan_files, [(str(p), p.name) for p in paths], limits=limits), args.repeat)
    print(f"files: {args.files} x {args.size_kb} KiB safetensors")
    print(f"in-process: {inline:.3f} s   one child per file: {boxed:.3f} s   one shared child: {shared:.3f} s")
    print(f"sandbox overhead per file: {(boxed - inline) / args.files * 1000:.0f} ms one child each, "
          f"{(shared - inline) / args.files * 1000:.0f} ms shared   shared vs one each: {boxed / max(shared, 1e-9):.1f}x faster")


if __name__ == "__main__":
    main()
