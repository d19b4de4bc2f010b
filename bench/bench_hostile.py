"""Cost of hostile inputs that used to blow up: each scanned in a forked child (peak RSS of that scan).

    python bench/bench_hostile.py            # safetensors headers of 100k and 1.2M tensors, 7z of 8 MiB members

Prints time and peak RSS per input and the ratio between the two header sizes (linear work: ~12x).
"""
from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.corpus.hostile import generate as g  # noqa: E402
from tests.corpus.hostile.child_scan import scan_in_child  # noqa: E402


def main() -> None:
    inputs = {
        "safetensors-100k": ("m.safetensors", lambda: g.safetensors_many_tensors(100_000)),
        "safetensors-1.2M": ("m.safetensors", lambda: g.safetensors_many_tensors(1_200_000)),
        "7z-24x8MiB": ("m.7z", lambda: g.sevenzip_many_members(24)),
        "tar-long-name-2GB": ("m.tar", g.tar_long_name_bomb),
    }
    times = {}
    with tempfile.TemporaryDirectory() as tmp:
        for key, (name, make) in inputs.items():
            p = Path(tmp) / key / name
            p.parent.mkdir()
            p.write_bytes(make())
            t = time.monotonic()
            [got] = scan_in_child([p], timeout=3600).values()
            times[key] = time.monotonic() - t  # includes the child's start-up (the same for every input)
            print(f"{key:20s} {p.stat().st_size / 2**20:8.1f} MiB in  {times[key]:7.1f} s  "
                  f"peak RSS {got.rss / 2**20:7.0f} MiB  verdict {got.verdict}")
    print(f"1.2M/100k tensors time ratio: {times['safetensors-1.2M'] / times['safetensors-100k']:.1f} (12 = linear)")


if __name__ == "__main__":
    main()
