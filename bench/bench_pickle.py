"""Throughput of the pickle walker against pickletools.genops and plain SHA-256 on the same bytes.

    python bench/bench_pickle.py [--quick] [--pure]

--pure forces the pure-Python walker (Walker(accelerated=False)) even where the C accelerator is built.

Prints MB/s for each and the walker/genops ratio (target: >= 4x on opcode-dense pickles) and the
walker/sha256 ratio (target: close to 1 on array-heavy pickles, whose large arguments are skipped).
"""
from __future__ import annotations

import hashlib
import io
import pickle
import pickletools
import sys
import time
import tracemalloc

from modelscreen.engine.context import ScanContext
from modelscreen.engine.hashing import HashingReader
from modelscreen.engine.limits import Budget, Limits
from modelscreen.engine.pickle import analyze_pickle

ACCELERATED = True


def dense_ints(n: int) -> bytes:
    return pickle.dumps(list(range(n)), protocol=4)


def dense_records(n: int) -> bytes:
    return pickle.dumps([{"a": i, "b": (i, float(i)), "c": [1.5, 2.5]} for i in range(n)], protocol=4)


def records(n: int) -> bytes:
    """The records shape: a list of (int, float, str) tuples (1.5M of them: about 38-44 MB, memo-heavy)."""
    return pickle.dumps([(i, i * 0.5, f"name{i}") for i in range(n)], protocol=4)


def dense_floats(n: int) -> bytes:
    return pickle.dumps([float(i) * 0.5 for i in range(n)], protocol=4)


def array_heavy(mb: int) -> bytes:
    import numpy as np

    arrays = {f"layer{i}": np.random.default_rng(i).random((1024, 128), dtype=np.float64) for i in range(mb)}
    return pickle.dumps(arrays, protocol=5)


def object_heavy(trees: int) -> bytes | None:
    """A fitted random forest: many small REDUCE/BUILD objects and arrays (None without scikit-learn)."""
    try:
        import numpy as np
        from sklearn.ensemble import RandomForestClassifier
    except ImportError:
        return None
    x = np.random.default_rng(0).random((200, 5))
    return pickle.dumps(RandomForestClassifier(n_estimators=trees, random_state=0).fit(x, x[:, 0] > 0.5),
                        protocol=4)


def _best(fn, data: bytes, reps: int) -> float:
    best = float("inf")
    for _ in range(reps):
        t = time.perf_counter()
        fn(data)
        best = min(best, time.perf_counter() - t)
    return best


def run_genops(data: bytes) -> None:
    for _ in pickletools.genops(data):
        pass


def run_sha(data: bytes) -> None:
    h = hashlib.sha256()
    mv = memoryview(data)
    for k in range(0, len(data), 1 << 20):
        h.update(mv[k:k + (1 << 20)])


def run_walker(data: bytes) -> None:
    limits = Limits()
    ctx = ScanContext(path="bench", limits=limits, budget=Budget(limits), size=len(data))
    reader = HashingReader(io.BytesIO(data), len(data))
    res = analyze_pickle(reader, ctx, second_opinion=False, accelerated=ACCELERATED)
    reader.finish()
    assert res.complete, res.error


def peak_mib(fn, data: bytes) -> float:
    tracemalloc.start()
    fn(data)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / (1 << 20)


def main(argv: list[str]) -> None:
    quick = "--quick" in argv
    from modelscreen.engine.pickle import machine

    global ACCELERATED
    ACCELERATED = "--pure" not in argv
    pure = machine._fastwalk is None or not ACCELERATED
    print("walker: " + ("pure Python" if pure else "C accelerator (_fastwalk)"))
    scale = 10 if quick else 1
    cases = [
        ("dense ints   list(range(3M))", dense_ints(3_000_000 // scale), True),
        ("records (int, float, str) x 1.5M", records(1_500_000 // scale), True),
        ("dense records (dict/tuple/float)", dense_records(300_000 // scale), True),
        ("dense floats", dense_floats(2_000_000 // scale), True),
        ("array-heavy  numpy, protocol 5", array_heavy(64 // scale), False),
    ]
    forest = object_heavy(300 // scale)
    if forest is not None:
        cases.append(("object-heavy sklearn forest", forest, True))
    print(f"{'case':36} {'MB':>7} {'genops':>9} {'walker':>9} {'sha256':>9} {'w/genops':>9} {'w/sha':>7} {'peakMiB':>8}")
    for name, data, dense in cases:
        mb = len(data) / 1e6
        reps = 1 if quick else 3
        tg = _best(run_genops, data, reps) if dense or not quick else float("nan")
        tw = _best(run_walker, data, reps)
        ts = _best(run_sha, data, reps)
        peak = peak_mib(run_walker, data)
        print(f"{name:36} {mb:7.1f} {mb / tg:9.1f} {mb / tw:9.1f} {mb / ts:9.1f} {tg / tw:9.2f} {ts / tw:7.2f} {peak:8.1f}")


if __name__ == "__main__":
    main(sys.argv[1:])
