"""Opcode-level pickle analysis that never deserializes.

`analyze_pickle(stream, ctx)` walks one pickle (up to its STOP) from the stream's current position,
adds findings to `ctx`, and returns a `PickleResult` whose `end` is the offset just after STOP, so
callers (zip members, npy object payloads, joblib, torch legacy files) can continue after it.
"""
from __future__ import annotations

from typing import BinaryIO

from modelscreen.engine.context import ScanContext
from modelscreen.engine.pickle.machine import PickleResult, Walker
from modelscreen.engine.pickle import second_opinion as opinion

__all__ = ["PickleResult", "analyze_pickle"]


def analyze_pickle(stream: BinaryIO, ctx: ScanContext, *, location_prefix: str = "",
                   max_bytes: int | None = None, second_opinion: bool = True,
                   accelerated: bool = True) -> PickleResult:
    """Analyse the pickle starting at the stream's position; leave the stream just after its STOP.

    `accelerated=False` walks with the pure-Python loop only (the C accelerator is used where built)."""
    walker = Walker(stream, ctx, location_prefix=location_prefix, max_bytes=max_bytes, accelerated=accelerated)
    result = walker.run()
    if second_opinion and result.end - result.start <= (1 << 20) and walker.seekable and not result.joblib_arrays:
        _second_opinion(stream, ctx, result, location_prefix)
    return result


def _second_opinion(stream: BinaryIO, ctx: ScanContext, result: PickleResult, prefix: str) -> None:
    if result.end <= result.start:
        return
    here = stream.tell()
    try:
        stream.seek(result.start)
        data = stream.read(result.end - result.start)
    finally:
        stream.seek(here)
    own = max((f.severity.rank for f in result.findings), default=-1)
    opinion.second_opinion(data, ctx, own, f"{prefix}offset {result.start}")
