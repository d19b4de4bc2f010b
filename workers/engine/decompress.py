"""Bounded, streaming decompression shared by the zip and compressed-stream analyzers.

Compressed input is read in chunks and output is produced in chunks of at most `OUT_CHUNK` bytes,
each counted against the artifact's decompression budget and checked against the compression-ratio
limit before it is handed to a sink. Nothing is ever decompressed "in one go".
"""
from __future__ import annotations

import bz2
import lzma
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass

from modelscreen.engine.limits import Budget, LimitExceeded

IN_CHUNK = 256 * 1024
OUT_CHUNK = 1024 * 1024
# The ratio check applies once this much output exists: tiny inputs have meaningless ratios.
RATIO_FLOOR = 1024 * 1024

KINDS = ("deflate", "zlib", "gzip", "bz2", "xz", "lzma-alone", "zip-lzma", "lz4", "zstd")
_MULTI_MAGIC = {"gzip": b"\x1f\x8b", "bz2": b"BZh", "xz": b"\xfd7zXZ\x00", "lz4": b"\x04\x22\x4d\x18",
                "zstd": b"\x28\xb5\x2f\xfd"}


class DecompressError(Exception):
    pass


@dataclass
class DecompressResult:
    produced: int = 0  # bytes handed to the sink
    consumed: int = 0  # compressed bytes read
    eof: bool = False  # the compressed stream(s) ended properly
    stopped: str | None = None  # "ratio", "budget", "size": output cut short on purpose
    error: str | None = None  # the compressed data is corrupt at some point
    trailing: int = 0  # bytes after the end of the (last) compressed stream
    streams: int = 0
    crc: int = 0
    stop_detail: str = ""

    @property
    def ratio(self) -> float:
        return self.produced / max(self.consumed, 1)


def _new(kind: str, read: Callable[[int], bytes]):
    if kind == "deflate":
        return zlib.decompressobj(-15)
    if kind == "zlib":
        return zlib.decompressobj(15)
    if kind == "gzip":
        return zlib.decompressobj(31)
    if kind == "bz2":
        return bz2.BZ2Decompressor()
    if kind == "xz":
        return lzma.LZMADecompressor(lzma.FORMAT_XZ)
    if kind == "lzma-alone":
        return lzma.LZMADecompressor(lzma.FORMAT_ALONE)
    if kind == "zip-lzma":
        head = read(4)
        if len(head) < 4:
            raise DecompressError("truncated zip LZMA header")
        (psize,) = struct.unpack("<H", head[2:4])
        props = read(psize)
        if len(props) != psize:
            raise DecompressError("truncated zip LZMA properties")
        try:
            filt = lzma._decode_filter_properties(lzma.FILTER_LZMA1, props)  # noqa: SLF001
        except (lzma.LZMAError, ValueError) as exc:
            raise DecompressError(f"bad LZMA properties: {exc}") from exc
        return lzma.LZMADecompressor(lzma.FORMAT_RAW, filters=[filt])
    if kind == "lz4":
        import lz4.frame

        return lz4.frame.LZ4FrameDecompressor()
    if kind == "zstd":
        return _Zstd()
    raise ValueError(f"unknown compression kind {kind!r}")


class _Zstd:
    """Zstandard frames (OCI `tar+zstd` layers) with the lzma decompressor's interface; its errors as ValueError."""

    def __init__(self):
        try:
            from compression import zstd  # Python 3.14+
        except ImportError:
            from backports import zstd  # the same module for older Pythons (a dependency)
        self._errors = zstd.ZstdError
        self._d = zstd.ZstdDecompressor()

    def decompress(self, data: bytes, max_length: int = -1) -> bytes:
        try:
            return self._d.decompress(data, max_length)
        except self._errors as exc:
            raise ValueError(str(exc)) from None

    def __getattr__(self, name: str):
        return getattr(self._d, name)  # eof, needs_input, unused_data


def decompress_stream(
    read: Callable[[int], bytes],
    kind: str,
    sink: Callable[[bytes], object],
    *,
    budget: Budget,
    max_ratio: float,
    max_output: int | None = None,
    multi_stream: bool = True,
    track_crc: bool = False,
) -> DecompressResult:
    """Decompress what `read` yields into `sink`, stopping at the first limit.

    Never raises for corrupt data (see `result.error`) nor for a tripped limit (see `result.stopped`);
    only the wall-clock budget raises LimitExceeded, as everywhere in the engine.
    """
    res = DecompressResult()
    counted_read = read

    def _read(n: int) -> bytes:
        data = counted_read(n)
        res.consumed += len(data)
        return data

    try:
        d = _new(kind, _read)
    except DecompressError as exc:
        res.error = str(exc)
        return res
    is_zlib = kind in ("deflate", "zlib", "gzip")
    pending = b""
    res.streams = 1
    while True:
        budget.check_time()
        needs_input = (not pending) if is_zlib else d.needs_input
        if needs_input and not pending:
            pending = _read(IN_CHUNK)
            if not pending:
                break  # input exhausted
        try:
            if is_zlib:
                out = d.decompress(pending, OUT_CHUNK)
                pending = d.unconsumed_tail
            elif d.needs_input:
                out = d.decompress(pending, OUT_CHUNK)
                pending = b""
            else:
                out = d.decompress(b"", OUT_CHUNK)
        except (zlib.error, OSError, lzma.LZMAError, EOFError, ValueError, RuntimeError) as exc:
            res.error = f"{type(exc).__name__}: {exc}"[:300]
            return res
        if out:
            n = len(out)
            if max_output is not None and res.produced + n > max_output:
                out = out[: max(max_output - res.produced, 0)]
                res.stopped = "size"
                res.stop_detail = f"output exceeds the expected {max_output} bytes"
                n = len(out)
            try:
                budget.add_decompressed(n)
            except LimitExceeded as exc:
                res.stopped = "budget"
                res.stop_detail = exc.detail
                return res
            if track_crc:
                res.crc = zlib.crc32(out, res.crc)
            sink(out)
            res.produced += n
            if res.stopped:
                return res
            if res.produced > RATIO_FLOOR and res.produced > res.consumed * max_ratio:
                res.stopped = "ratio"
                res.stop_detail = (f"{res.produced} bytes from {res.consumed} compressed bytes "
                                   f"(ratio above {max_ratio:g})")
                return res
        if d.eof:
            # zlib keeps input past the end in unused_data (its unconsumed_tail may repeat it)
            rest = d.unused_data if is_zlib else (d.unused_data or b"") + pending
            pending = b""
            magic = _MULTI_MAGIC.get(kind)
            if not rest:
                rest = _read(max(len(magic or b""), 1)) if multi_stream and magic else b""
            if multi_stream and magic and rest:
                if len(rest) < len(magic):
                    rest += _read(len(magic) - len(rest))
                if rest.startswith(magic):
                    d = _new(kind, _read)
                    res.streams += 1
                    pending = rest
                    continue
            if rest:
                # count what is left after the end without keeping it
                res.trailing = len(rest)
                while True:
                    more = _read(IN_CHUNK)
                    if not more:
                        break
                    res.trailing += len(more)
                    budget.check_time()
            res.eof = True
            return res
    return res
