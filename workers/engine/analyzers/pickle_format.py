"""Analyzer for plain pickle files (and uncompressed joblib dumps): opcode-level, never deserializes."""
from __future__ import annotations

import pickletools
import warnings
from typing import BinaryIO

from modelscreen.schemas import Severity
from modelscreen.schemas.formats import Format
from modelscreen.engine.analyzers.registry import register
from modelscreen.engine.context import ScanContext
from modelscreen.engine.pickle import analyze_pickle
from modelscreen.engine.pickle_head import may_start_pickle

MAX_STREAMS = 1000
# Text arguments are checked as the C unpickler decodes them, in the first opcodes of pickles up to this size
# (the walker has analysed the whole stream; this only finds where a loader would stop).
MAX_TEXT_CHECK_BYTES = 64 << 20
MAX_TEXT_CHECK_OPS = 200_000
_TIME_CHECK_OPS = 10_000


@register(Format.pickle)
def analyze(stream: BinaryIO, ctx: ScanContext) -> None:
    size = ctx.size
    streams = 0
    while True:
        streams += 1
        start = stream.tell()
        res = analyze_pickle(stream, ctx)
        if res.end > start and res.end - start <= MAX_TEXT_CHECK_BYTES:
            _check_text_arguments(stream, ctx, start)
            stream.seek(res.end)
        if not res.complete:
            return
        if size is None or res.end >= size:
            return
        stream.seek(res.end)
        head = stream.read(16)
        stream.seek(res.end)
        if not may_start_pickle(head) or streams >= MAX_STREAMS:
            ctx.add("PICKLE-TRAILING-DATA", Severity.low, "Data after the end of the pickle",
                    f"{size - res.end} bytes follow the STOP opcode; pickle.load ignores them, but they can "
                    "carry a second payload for another loader (polyglot files)", f"offset {res.end}",
                    evidence=head, analyzer="pickle")
            return
        ctx.add("PICKLE-MULTIPLE-STREAMS", Severity.info, "Several pickles in one file",
                f"another pickle starts at offset {res.end}; loaders that call pickle.load repeatedly "
                "(e.g. legacy torch files) run them all, so each is analysed", f"offset {res.end}",
                analyzer="pickle")


def _check_text_arguments(stream: BinaryIO, ctx: ScanContext, start: int) -> None:
    """Unicode arguments the unpickler cannot decode: it fails there, after running what came before,
    and the walker's view of the stream (which keeps such arguments as bytes) no longer matches it."""
    stream.seek(start)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # pickletools on odd STRING escapes
            for n, _ in enumerate(pickletools.genops(stream)):
                if n % _TIME_CHECK_OPS == 0:
                    ctx.check_time()
                if n >= MAX_TEXT_CHECK_OPS:
                    return
    except UnicodeDecodeError as exc:
        ctx.add("PICKLE-INVALID-STRING", Severity.medium, "Pickle string argument is not valid UTF-8",
                f"{exc.reason} in a unicode argument; pickle.load fails at this point after running every "
                "opcode before it, so the stream is broken where the walker kept reading",
                f"offset {start}", evidence=exc.object[max(exc.start - 16, 0):exc.end + 16], analyzer="pickle")
    except Exception:  # noqa: BLE001 - other damage is the walker's to report (PICKLE-MALFORMED)
        pass
