"""A tiny, bounded reader of the protobuf wire format, for ONNX and TensorFlow files.

It never imports a schema or a generated class and never materializes what it does not need:
length-delimited fields come back as (offset, length) windows of the stream, so a caller descends
into the sub-messages it cares about and skips the rest (tensor data) without reading it.

    src = Source(stream, size)
    for f in src.fields(0, size):            # top-level fields of the message in [0, size)
        if f.number == 7 and f.wire == LEN:  # a sub-message: descend into it
            for g in src.fields(f.offset, f.end): ...
        name = src.text(f)                   # a small string field (bounded)

Malformed input raises WireError with the offset where it went wrong.
"""
from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

VARINT, I64, LEN, SGROUP, EGROUP, I32 = 0, 1, 2, 3, 4, 5
BLOCK = 256 * 1024
MAX_TEXT = 1 << 20  # longest string field returned by `text`/`data`


class WireError(Exception):
    """The bytes are not valid protobuf wire format (at `offset`)."""

    def __init__(self, msg: str, offset: int):
        super().__init__(f"{msg} at offset {offset}")
        self.offset = offset


@dataclass(frozen=True)
class Field:
    number: int
    wire: int
    value: int  # VARINT/I64/I32: the raw value; LEN: the payload length
    offset: int  # LEN: where the payload starts; others: where the value starts

    @property
    def end(self) -> int:
        return self.offset + self.value if self.wire == LEN else self.offset


class Source:
    """Random access to a seekable stream through one cached block (sequential walks are cheap)."""

    def __init__(self, stream: BinaryIO | bytes, size: int | None = None):
        if isinstance(stream, (bytes, bytearray, memoryview)):
            self._mem: bytes | None = bytes(stream)
            self._stream = None
            self.size = len(self._mem)
        else:
            self._mem = None
            self._stream = stream
            self.size = size if size is not None else stream.seek(0, io.SEEK_END)
        self._block_start = -1
        self._block = b""

    def read(self, offset: int, n: int) -> bytes:
        if offset < 0 or n <= 0 or offset >= self.size:
            return b""
        n = min(n, self.size - offset)
        if self._mem is not None:
            return self._mem[offset:offset + n]
        bs = self._block_start
        if bs >= 0 and bs <= offset and offset + n <= bs + len(self._block):
            return self._block[offset - bs:offset - bs + n]
        if n > BLOCK:
            assert self._stream is not None
            self._stream.seek(offset)
            return self._stream.read(n)
        assert self._stream is not None
        self._stream.seek(offset)
        self._block = self._stream.read(BLOCK)
        self._block_start = offset
        return self._block[:n]

    def varint(self, offset: int, end: int) -> tuple[int, int]:
        """(value, next offset) of the varint at `offset`; it must end before `end`."""
        raw = self.read(offset, min(10, end - offset))
        result = shift = 0
        for i, b in enumerate(raw):
            result |= (b & 0x7F) << shift
            if not b & 0x80:
                return result, offset + i + 1
            shift += 7
        raise WireError("truncated or overlong varint", offset)

    def fields(self, start: int, end: int, *, max_fields: int | None = None) -> Iterator[Field]:
        """The fields of the message occupying [start, end). Groups are skipped (bounded nesting)."""
        if end > self.size:
            raise WireError(f"message runs past the end of the data ({end} > {self.size})", start)
        pos = start
        count = 0
        while pos < end:
            if max_fields is not None and count >= max_fields:
                raise WireError(f"more than {max_fields} fields in one message", pos)
            count += 1
            tag, pos2 = self.varint(pos, end)
            number, wire = tag >> 3, tag & 7
            if number == 0:
                raise WireError("field number 0", pos)
            if wire == VARINT:
                value, nxt = self.varint(pos2, end)
                yield Field(number, wire, value, pos2)
            elif wire == I64:
                if pos2 + 8 > end:
                    raise WireError("truncated fixed64", pos2)
                yield Field(number, wire, int.from_bytes(self.read(pos2, 8), "little"), pos2)
                nxt = pos2 + 8
            elif wire == I32:
                if pos2 + 4 > end:
                    raise WireError("truncated fixed32", pos2)
                yield Field(number, wire, int.from_bytes(self.read(pos2, 4), "little"), pos2)
                nxt = pos2 + 4
            elif wire == LEN:
                length, body = self.varint(pos2, end)
                if body + length > end:
                    raise WireError(f"length {length} runs past the end of its message", pos2)
                yield Field(number, wire, length, body)
                nxt = body + length
            elif wire == SGROUP:
                nxt = self._skip_group(pos2, end, number)
            else:
                raise WireError(f"invalid wire type {wire}", pos)
            pos = nxt

    def _skip_group(self, pos: int, end: int, number: int, depth: int = 0) -> int:
        if depth > 32:
            raise WireError("groups nested too deeply", pos)
        while pos < end:
            tag, pos = self.varint(pos, end)
            n, w = tag >> 3, tag & 7
            if w == EGROUP:
                if n != number:
                    raise WireError("mismatched end-group", pos)
                return pos
            if w == VARINT:
                _, pos = self.varint(pos, end)
            elif w == I64:
                pos += 8
            elif w == I32:
                pos += 4
            elif w == LEN:
                length, pos = self.varint(pos, end)
                pos += length
            elif w == SGROUP:
                pos = self._skip_group(pos, end, n, depth + 1)
            else:
                raise WireError(f"invalid wire type {w}", pos)
        raise WireError("unterminated group", pos)

    def data(self, f: Field, limit: int = MAX_TEXT) -> bytes:
        """The payload of a LEN field, at most `limit` bytes."""
        if f.wire != LEN:
            return b""
        return self.read(f.offset, min(f.value, limit))

    def text(self, f: Field, limit: int = MAX_TEXT) -> str:
        return self.data(f, limit).decode("utf-8", "replace")


def signed64(v: int) -> int:
    """A varint read as int64 (negative numbers are 10-byte two's complement)."""
    return v - (1 << 64) if v >= 1 << 63 else v


def looks_like_message(src: Source, start: int, end: int, allowed: dict[int, set[int]], *,
                       max_fields: int = 64) -> tuple[bool, set[int]]:
    """Cheap structural check: the first fields in [start, end) use only `allowed` numbers with
    their wire types; a LEN field may run past `end` only if it stays inside the data (a head).
    Returns (ok, field numbers seen)."""
    seen: set[int] = set()
    pos = start
    count = 0
    try:
        while pos < end and count < max_fields:
            count += 1
            tag, pos2 = src.varint(pos, min(end, src.size))
            number, wire = tag >> 3, tag & 7
            if wire not in allowed.get(number, ()):
                return False, seen
            seen.add(number)
            if wire == VARINT:
                _, pos = src.varint(pos2, min(end, src.size))
            elif wire == I64:
                pos = pos2 + 8
            elif wire == I32:
                pos = pos2 + 4
            elif wire == LEN:
                length, body = src.varint(pos2, min(end, src.size))
                if body + length > src.size:
                    return False, seen
                pos = body + length
            else:
                return False, seen
    except WireError:
        return False, seen
    return True, seen
