"""Parallel sandboxed scans: a directory of 200 mixed small artifacts with --jobs 1 and --jobs 2.

    python bench/bench_jobs.py [--files 200] [--jobs 2] [--dir DIR] [--repeat 2]

Writes the corpus (pickles, a PyTorch-style zip, safetensors, NumPy, JSON configs, text, gzip) once,
then times `scan_paths_sandboxed` (what `modelscreen scan --jobs N` runs, pool start included) with one
job and with --jobs, best of --repeat, in the same run. Prints both, the speed-up (target: >= 1.7x on a
2-core machine), how many cores the children kept busy, and whether the two reports are identical
(durations aside).
"""
from __future__ import annotations

import argparse
import gzip
import io
import json
import os
import pickle
import resource
import struct
import sys
import tempfile
import time
import zipfile
from pathlib import Path


def _safetensors(n: int) -> bytes:
    data = os.urandom(4 * n)
    header = json.dumps({"w": {"dtype": "F32", "shape": [n], "data_offsets": [0, len(data)]}}).encode()
    return struct.pack("<Q", len(header)) + header + data


def make_corpus(d: Path, files: int) -> list[Path]:
    import numpy as np

    d.mkdir(parents=True, exist_ok=True)
    makers = [
        ("model.pkl", lambda i: pickle.dumps({"layers": [(j, j * 0.5, f"w{j}") for j in range(20_000 + i)]}, protocol=4)),
        ("weights.pt", lambda i: _zip({"archive/data.pkl": pickle.dumps({"k": list(range(30_000 + i))}, protocol=2),
                                       "archive/version": b"3\n"})),
        ("model.safetensors", lambda i: _safetensors(200_000 + i)),
        ("array.npy", lambda i: _npy(np.arange(100_000 + i, dtype=np.float64))),
        ("config.json", lambda i: json.dumps({"model_type": "bert", "hidden_size": 768 + i,
                                               "vocab": [f"tok{j}" for j in range(5_000)]}).encode()),
        ("README.txt", lambda i: ("a model card line\n" * (2_000 + i)).encode()),
        ("state.pkl.gz", lambda i: gzip.compress(pickle.dumps([float(j) for j in range(40_000 + i)]))),
    ]
    out = []
    for i in range(files):
        name, make = makers[i % len(makers)]
        p = d / f"{i:03d}-{name}"
        if not p.exists():
            p.write_bytes(make(i))
        out.append(p)
    return out


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def _npy(a) -> bytes:
    import numpy as np

    buf = io.BytesIO()
    np.save(buf, a, allow_pickle=False)
    return buf.getvalue()


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=200)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--dir", default=os.path.join(tempfile.gettempdir(), "modelscreen-bench-jobs"))
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args()
    from modelscreen.sandbox.scanning import scan_paths_sandboxed

    files = make_corpus(Path(args.dir), args.files)
    total = sum(f.stat().st_size for f in files) / 1e6
    times: dict[int, float] = {}
    busy: dict[int, float] = {}  # CPU seconds of the (reaped) children per wall second: cores actually used
    reports: dict[int, list] = {}
    for _ in range(args.repeat):
        for jobs in (1, args.jobs):
            cpu = _children_cpu()
            t = time.perf_counter()
            reports[jobs] = scan_paths_sandboxed(files, jobs=jobs)
            took = time.perf_counter() - t
            if took < times.get(jobs, float("inf")):
                times[jobs], busy[jobs] = took, (_children_cpu() - cpu) / took
    same = [r.model_dump(exclude={"duration_ms"}) for r in reports[1]] == \
           [r.model_dump(exclude={"duration_ms"}) for r in reports[args.jobs]]
    speedup = times[1] / times[args.jobs]
    print(f"corpus      {len(files)} files, {total:.1f} MB, {os.cpu_count()} cores")
    print(f"--jobs 1    {times[1]:.2f} s  ({busy[1]:.2f} cores busy)")
    print(f"--jobs {args.jobs}    {times[args.jobs]:.2f} s  ({busy[args.jobs]:.2f} cores busy; "
          f"load average {os.getloadavg()[0]:.1f}: other work on the machine takes the rest)")
    print(f"speed-up    {speedup:.2f}x  (target >= 1.7x: {'ok' if speedup >= 1.7 else 'MISSED'}); "
          f"reports identical: {same}")
    sys.exit(0 if same else 1)


if __name__ == "__main__":
    main()
