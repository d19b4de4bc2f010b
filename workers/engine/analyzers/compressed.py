"""Compressed streams: gzip, bzip2, xz, legacy lzma, lz4 frames, zstandard (OCI tar+zstd layers) and zlib
(what joblib writes with `compress=`).

The content is decompressed in bounded chunks into a spool (memory up to a cap, then a private
temporary file), counted against the artifact's decompression budget and the ratio limit, and scanned
as a member named "<decompressed>": a pickle goes to the pickle analyzer, a tar to the tar analyzer.
Old joblib (< 0.10) wrote zlib data behind a "ZF" + hex length prefix; that is read too.
"""
from __future__ import annotations

from typing import BinaryIO

from modelscreen.schemas import Severity
from modelscreen.schemas.formats import Format
from modelscreen.engine.analyzers.registry import register
from modelscreen.engine.context import ScanContext
from modelscreen.engine.decompress import decompress_stream
from modelscreen.engine.limits import LimitExceeded
from modelscreen.engine.spool import BoundedSpool

ANALYZER = "compressed"
ZFILE_PREFIX = b"ZF"
ZFILE_HEADER = 2 + 19  # "ZF" + hex length left-justified to len(hex(2**64))

_KIND = {"gzip": "gzip", "bz2": "bz2", "xz": "xz", "lzma": "lzma-alone", "lz4": "lz4", "zlib": "zlib", "zstd": "zstd"}


@register(Format.gzip, Format.bz2, Format.xz, Format.lzma, Format.lz4, Format.zlib, Format.zstd)
def analyze(stream: BinaryIO, ctx: ScanContext) -> None:
    head = stream.read(ZFILE_HEADER)
    declared = None
    start = 0
    if head.startswith(ZFILE_PREFIX + b"0x"):
        fmt = "zlib"
        start = ZFILE_HEADER
        try:
            declared = int(head[2:].strip().decode("ascii"), 16)
        except ValueError:
            declared = None
        ctx.notes["format"] = Format.joblib_zfile
    else:
        fmt = ctx.format  # registered only for the formats in _KIND
    stream.seek(start)
    limit = ctx.limits.max_file_bytes
    room = ctx.budget.temp_room()
    spool = BoundedSpool(ctx.budget)
    try:
        res = decompress_stream(stream.read, _KIND[fmt], spool.write, budget=ctx.budget,
                                max_ratio=ctx.limits.max_compression_ratio, max_output=min(limit, room))
        if res.stopped == "size" and room < limit:
            ctx.limit_finding(LimitExceeded("max_temp_bytes", f"{fmt} stream decompresses to more than the "
                                            f"{room} bytes of temporary storage left for this artifact; only "
                                            "that much was scanned"), "<decompressed>")
        elif res.stopped in ("ratio", "budget"):
            ctx.add("DECOMPRESSION-BOMB", Severity.high, "Decompression stopped at a limit",
                    f"{fmt} stream: {res.stop_detail}; only the first {res.produced} bytes were scanned",
                    "<decompressed>", analyzer=ANALYZER)
        elif res.stopped == "size":
            ctx.add("DECOMPRESSION-BOMB", Severity.high, "Decompressed content exceeds the file size limit",
                    f"{fmt} stream decompresses to more than {limit} bytes", "<decompressed>", analyzer=ANALYZER)
        elif res.error:
            ctx.add("COMPRESSED-CORRUPT", Severity.low, "Compressed stream is corrupt",
                    f"{res.error} after {res.produced} bytes; what was decompressed was scanned",
                    f"offset {start + res.consumed}", analyzer=ANALYZER)
        elif not res.eof:
            ctx.add("COMPRESSED-TRUNCATED", Severity.low, "Compressed stream ends early",
                    f"the {fmt} stream stops after {res.produced} decompressed bytes without its end marker",
                    analyzer=ANALYZER)
        if res.trailing:
            ctx.add("COMPRESSED-TRAILING-DATA", Severity.medium, f"{res.trailing} bytes after the compressed stream",
                    "data appended after the end of the compressed stream is ignored by decompressors but "
                    "can hide a payload", f"offset {start + res.consumed - res.trailing}", analyzer=ANALYZER)
        if declared is not None and res.eof and not res.stopped and declared != res.produced:
            ctx.add("COMPRESSED-SIZE-MISMATCH", Severity.low, "Declared size differs from the content",
                    f"header declares {declared} bytes, the stream holds {res.produced}", analyzer=ANALYZER)
        spool.seek(0)
        ctx.scan_member("<decompressed>", spool, res.produced)
    finally:
        spool.close()
