"""A bounded mutation fuzz of every parser family, scanned in a child process.

For each family a few seeds made here are mutated (bytes flipped, slices dropped or repeated, integers
smashed, tails cut) with a fixed random seed. Every mutant must scan without an exception escaping, give
a report that serialises in every format, stay under the peak-RSS bound; a cut (truncated) binary
artifact must never be `clean`. CI runs a few seconds' worth; a longer run:

    python -m tests.engine.test_fuzz_families 400     # mutants per seed, prints a summary
"""
from __future__ import annotations

import gzip
import os
import pickle
import random
import struct
import sys
from pathlib import Path


from tests.corpus.hostile.child_scan import RSS_BOUND, scan_in_child
from tests.fixtures import make_containers as mc
from tests.fixtures import make_formats as mf

MUTANTS_PER_SEED = 6


def _seeds() -> dict[str, tuple[str, list[bytes], bool]]:
    """family -> (file name, seeds, whether a cut file is always broken)"""
    benign = pickle.dumps({"weights": [1.5, 2.5], "name": "m", "blob": b"\x00" * 64}, protocol=4)
    return {
        "pickle": ("model.pkl", [benign, pickle.dumps([1, "x", (None, True)], protocol=0)], True),
        "zip": ("model.zip", [mc.zip_of({"data.pkl": benign, "notes.txt": b"hello" * 50})], True),
        "tar": ("model.tar", [mc.tar_of({"data.pkl": benign})], False),  # a tar cut at a block boundary is whole
        "compressed": ("model.pkl.gz", [gzip.compress(benign, mtime=0), mc.compress_as("xz", benign)], True),
        "7z": ("model.7z", [mc.sevenzip_of({"data.pkl": benign})], True),
        "safetensors": ("model.safetensors", [mc.safetensors_bytes({"format": "pt"})], True),
        "gguf": ("model.gguf", [mf.gguf_bytes(mf.CHATML)], True),
        "onnx": ("model.onnx", [mf.onnx_bytes()], True),
        "numpy": ("x.npy", [mc.npy_bytes()], True),
        "hdf5": ("model.h5", [mf.keras_h5(mf.benign_keras3_config())], True),
        "json": ("tokenizer_config.json", [mf.tokenizer_config("{% for m in messages %}{{ m.content }}{% endfor %}"),
                                           mf.transformers_config()], True),
        "yaml": ("config.yaml", [b"model:\n  name: x\n  layers: [1, 2]\ntrain:\n  lr: 0.1\n"], False),
        "python": ("modeling.py", [b"import torch\n\nclass M(torch.nn.Module):\n    def forward(self, x):\n"
                                   b"        return x * 2\n"], False),
    }


def mutate(data: bytes, rng: random.Random) -> tuple[bytes, bool]:
    """A mutant of `data` and whether it is a cut (a truncation)."""
    kind = rng.randrange(6)
    b = bytearray(data)
    if kind == 0 or len(b) < 16:
        return bytes(b[: rng.randrange(1, max(len(b), 2))]), True
    i = rng.randrange(len(b))
    if kind == 1:
        for _ in range(rng.randint(1, 8)):
            b[rng.randrange(len(b))] = rng.randrange(256)
    elif kind == 2:
        j = min(len(b), i + rng.randint(1, 64))
        del b[i:j]
    elif kind == 3:
        j = min(len(b), i + rng.randint(1, 64))
        b[i:i] = b[i:j] * rng.randint(2, 50)
    elif kind == 4 and i + 8 <= len(b):
        b[i:i + 8] = struct.pack("<Q", rng.choice([0, 1, 2**31, 2**32 - 1, 2**63 - 1, 2**64 - 1]))
    else:
        b[i:i] = rng.randbytes(rng.randint(1, 32))
    return bytes(b), False


def write_mutants(outdir: Path, per_seed: int, seed: int = 13) -> dict[Path, tuple[str, bool]]:
    rng = random.Random(seed)
    written = {}
    for family, (name, seeds, cut_is_broken) in _seeds().items():
        for s_i, data in enumerate(seeds):
            for m_i in range(per_seed):
                mutant, cut = mutate(data, rng)
                d = outdir / f"{family}-{s_i}-{m_i}"
                d.mkdir(parents=True, exist_ok=True)
                (d / name).write_bytes(mutant)
                written[d / name] = (family, cut and cut_is_broken and mutant != data)
    return written


def check(results, written) -> list[str]:
    problems = []
    for path, (family, must_fail) in written.items():
        got = results[os.fsdecode(path)]
        if got.error:
            problems.append(f"{path.parent.name}: exception {got.error}")
        if got.rss >= RSS_BOUND:
            problems.append(f"{path.parent.name}: peak RSS {got.rss >> 20} MiB")
        if must_fail and got.verdict == "clean":
            problems.append(f"{path.parent.name}: truncated {family} is clean ({got.rules})")
    return problems


def test_mutants_of_every_family_fail_closed(tmp_path):
    written = write_mutants(tmp_path, MUTANTS_PER_SEED)
    results = scan_in_child(list(written), timeout=600)
    problems = check(results, written)
    assert not problems, "\n".join(problems[:20])


if __name__ == "__main__":  # pragma: no cover - the longer run
    import tempfile

    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    with tempfile.TemporaryDirectory() as tmp:
        written = write_mutants(Path(tmp), n, seed=int(sys.argv[2]) if len(sys.argv) > 2 else 13)
        results = scan_in_child(list(written), timeout=24 * 3600)
        problems = check(results, written)
        peak = max(r.rss for r in results.values())
        print(f"{len(written)} mutants, {len(problems)} problems, peak RSS {peak >> 20} MiB")
        for p in problems:
            print(p)
