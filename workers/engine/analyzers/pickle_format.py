"""Analyzer for plain pickle files (and uncompressed joblib dumps): opcode-level, never deserializes."""
from __future__ import annotations

from typing import BinaryIO

from modelscreen.schemas import Severity
from modelscreen.engine.analyzers.registry import register
from modelscreen.engine.context import ScanContext
from modelscreen.engine.pickle import analyze_pickle

MAX_STREAMS = 1000
_FIRST = set(b"(c}])NILFSVXTUKMJGi\x88\x89\x8a\x8b\x8c\x8d\x8e\x8f\x94\x95\x93\x81\x80GBCdlt")


def _looks_like_pickle(head: bytes) -> bool:
    if not head:
        return False
    if head[0] == 0x80:
        return len(head) > 1 and head[1] <= 5
    return head[0] in _FIRST


@register("pickle")
def analyze(stream: BinaryIO, ctx: ScanContext) -> None:
    size = ctx.size
    streams = 0
    while True:
        streams += 1
        res = analyze_pickle(stream, ctx)
        if not res.complete:
            return
        if size is None or res.end >= size:
            return
        stream.seek(res.end)
        head = stream.read(16)
        stream.seek(res.end)
        if not _looks_like_pickle(head) or streams >= MAX_STREAMS:
            ctx.add("PICKLE-TRAILING-DATA", Severity.low, "Data after the end of the pickle",
                    f"{size - res.end} bytes follow the STOP opcode; pickle.load ignores them, but they can "
                    "carry a second payload for another loader (polyglot files)", f"offset {res.end}",
                    evidence=head, analyzer="pickle")
            return
        ctx.add("PICKLE-MULTIPLE-STREAMS", Severity.info, "Several pickles in one file",
                f"another pickle starts at offset {res.end}; loaders that call pickle.load repeatedly "
                "(e.g. legacy torch files) run them all, so each is analysed", f"offset {res.end}",
                analyzer="pickle")
