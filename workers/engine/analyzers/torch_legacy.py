"""Legacy PyTorch files (torch.save with _use_new_zipfile_serialization=False, torch < 1.6).

The raw format is a run of pickles followed by storage bytes:

  <pickle 0> magic number   <pickle 1> protocol version   <pickle 2> sys_info dict
  <pickle 3> the object (tensors as persistent ids)   <pickle 4> list of storage keys
  then, per storage: an 8-byte element count and the raw bytes.

torch unpickles every one of the five with the full unpickler, so pickles 3 and 4 always go to the
pickle analyzer as members; 1 and 2 are checked here for anything beyond plain data and handed to the
pickle analyzer too when they hold more. Boundaries are found with pickletools.genops, which parses
opcodes and never executes anything, over a bounded window. (The older tar-based legacy format is
recognised by the tar analyzer.)
"""
from __future__ import annotations

import io
import pickletools
from typing import BinaryIO

from modelscreen.schemas import Severity
from modelscreen.schemas.formats import Format
from modelscreen.engine.analyzers.registry import register
from modelscreen.engine.context import ScanContext
from modelscreen.engine.sniff import TORCH_LEGACY_MAGIC_PICKLE
from modelscreen.engine.substream import SubStream

ANALYZER = "torch-legacy"
SMALL_PICKLE = 1024 * 1024  # protocol / sys_info pickles are tiny; more is itself suspicious
# opcodes that only build plain data (no imports, no calls)
_PLAIN = {
    "PROTO", "FRAME", "STOP", "MARK", "POP", "POP_MARK", "DUP", "NONE", "NEWTRUE", "NEWFALSE",
    "INT", "BININT", "BININT1", "BININT2", "LONG", "LONG1", "LONG4", "FLOAT", "BINFLOAT",
    "STRING", "BINSTRING", "SHORT_BINSTRING", "UNICODE", "SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8",
    "BINBYTES", "SHORT_BINBYTES", "BINBYTES8", "BYTEARRAY8",
    "EMPTY_DICT", "DICT", "SETITEM", "SETITEMS", "EMPTY_LIST", "LIST", "APPEND", "APPENDS",
    "EMPTY_TUPLE", "TUPLE", "TUPLE1", "TUPLE2", "TUPLE3", "EMPTY_SET", "ADDITEMS", "FROZENSET",
    "PUT", "BINPUT", "LONG_BINPUT", "MEMOIZE", "GET", "BINGET", "LONG_BINGET",
}


class _Capped(io.BufferedReader):
    """Buffered reads that never ask for more than the window holds (genops trusts declared lengths)."""

    def __init__(self, raw: SubStream, length: int):
        super().__init__(raw, 64 * 1024)
        self._length = length

    def read(self, n: int | None = -1) -> bytes:  # type: ignore[override]
        left = max(self._length - self.tell(), 0)
        if n is None or n < 0 or n > left:
            n = left
        return super().read(n)


def _walk(stream: BinaryIO, start: int, limit: int) -> tuple[int | None, set[str], str | None]:
    """Parse one pickle from `start`; returns (end offset after STOP or None, opcode names, error)."""
    window = _Capped(SubStream(stream, start, limit), limit)
    ops: set[str] = set()
    try:
        for op, _arg, pos in pickletools.genops(window):
            ops.add(op.name)
            if op.name == "STOP":
                return start + pos + 1, ops, None
    except Exception as exc:  # genops raises ValueError and friends on malformed input
        return None, ops, f"{type(exc).__name__}: {exc}"[:200]
    return None, ops, "no STOP opcode"


@register(Format.pytorch_legacy)
def analyze(stream: BinaryIO, ctx: ScanContext) -> None:
    size = ctx.size if ctx.size is not None else stream.seek(0, io.SEEK_END)
    stream.seek(0)
    if stream.read(len(TORCH_LEGACY_MAGIC_PICKLE)) != TORCH_LEGACY_MAGIC_PICKLE:
        ctx.add("TORCH-LEGACY-MALFORMED", Severity.medium, "Legacy PyTorch magic number missing",
                analyzer=ANALYZER)
        return
    ctx.notes["format"] = Format.pytorch_legacy
    pos = len(TORCH_LEGACY_MAGIC_PICKLE)
    for index in (1, 2):
        ctx.check_time()
        end, ops, err = _walk(stream, pos, min(SMALL_PICKLE, size - pos))
        if end is None:
            ctx.add("TORCH-LEGACY-MALFORMED", Severity.medium, f"Legacy PyTorch pickle {index} is malformed",
                    f"{err}; torch would fail or behave unexpectedly here, the rest is scanned as a pickle",
                    f"<pickle {index}> at offset {pos}", analyzer=ANALYZER)
            ctx.scan_member(f"<pickle {index}>", SubStream(stream, pos, size - pos), size - pos)
            return
        extra = ops - _PLAIN
        if extra:
            ctx.add("TORCH-LEGACY-UNEXPECTED-OPCODES", Severity.high,
                    f"Legacy PyTorch header pickle {index} does more than build data",
                    f"torch unpickles this header with the full unpickler; it uses {', '.join(sorted(extra))}",
                    f"<pickle {index}> at offset {pos}", analyzer=ANALYZER)
            ctx.scan_member(f"<pickle {index}>", SubStream(stream, pos, end - pos), end - pos)
        pos = end
    # The object pickle: bounded walk to find its end, then the pickle analyzer on exactly that window.
    ctx.check_time()
    main_start = pos
    end, _ops, err = _walk(stream, pos, min(ctx.limits.max_inline_bytes, size - pos))
    if end is None:
        ctx.scan_member("<pickle 3>", SubStream(stream, pos, size - pos), size - pos)
        ctx.add("TORCH-LEGACY-MALFORMED", Severity.medium, "Legacy PyTorch object pickle has no end in reach",
                f"{err}; the storage-keys pickle that follows was not located", f"<pickle 3> at offset {pos}",
                analyzer=ANALYZER)
        return
    ctx.scan_member("<pickle 3>", SubStream(stream, main_start, end - main_start), end - main_start)
    pos = end
    ctx.check_time()
    end, _ops, err = _walk(stream, pos, min(SMALL_PICKLE * 64, size - pos))
    if end is None:
        ctx.add("TORCH-LEGACY-MALFORMED", Severity.medium, "Legacy PyTorch storage-keys pickle is malformed",
                f"{err}; the rest is scanned as a pickle", f"<pickle 4> at offset {pos}", analyzer=ANALYZER)
        ctx.scan_member("<pickle 4>", SubStream(stream, pos, size - pos), size - pos)
        return
    ctx.scan_member("<pickle 4>", SubStream(stream, pos, end - pos), end - pos)
    # The storage bytes that follow are raw numbers; the outer hash covers them.
