"""A reader that computes SHA-256 in the same pass that feeds the parsers.

Bytes are hashed in file order as they are first read. A parser that seeks backwards re-reads
from the underlying file without re-hashing; one that seeks forwards past the hash frontier
makes the reader hash the gap on the way (reading it once, without keeping it). `finish()`
hashes whatever the parsers did not need, so every byte is hashed exactly once.
"""
from __future__ import annotations

import hashlib
import io
from typing import BinaryIO

CHUNK = 1 << 20


class HashingReader(io.RawIOBase):
    def __init__(self, raw: BinaryIO, size: int | None = None):
        super().__init__()
        self._raw = raw
        self._sha = hashlib.sha256()
        self._frontier = 0  # bytes [0, frontier) have been hashed
        self._pos = 0
        self._size = size
        self.reread_bytes = 0

    # io plumbing
    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    @property
    def size(self) -> int | None:
        return self._size

    def readinto(self, b) -> int:  # type: ignore[override]
        mv = memoryview(b).cast("B")
        if self._pos > self._frontier:
            self._advance_frontier(self._pos)
        n = self._raw.readinto(mv)
        if not n:
            return 0
        end = self._pos + n
        if end > self._frontier:
            start = self._frontier - self._pos
            if start < 0:  # cannot happen: frontier caught up above
                start = 0
            self._sha.update(mv[start:n])
            self._frontier = end
            if start:
                self.reread_bytes += start
        else:
            self.reread_bytes += n
        self._pos = end
        return n

    def read(self, n: int = -1) -> bytes:  # type: ignore[override]
        if n is None or n < 0:
            chunks = []
            while True:
                c = self.read(CHUNK)
                if not c:
                    break
                chunks.append(c)
            return b"".join(chunks)
        buf = bytearray(n)
        got = 0
        mv = memoryview(buf)
        while got < n:
            k = self.readinto(mv[got:])
            if not k:
                break
            got += k
        del mv
        if got < n:
            del buf[got:]
        return bytes(buf)

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_CUR:
            offset += self._pos
        elif whence == io.SEEK_END:
            if self._size is None:
                self._size = self._raw.seek(0, io.SEEK_END)
            offset += self._size
        if offset < 0:
            raise ValueError("negative seek position")
        self._pos = offset
        if offset <= self._frontier:
            self._raw.seek(offset)
        # a forward seek past the frontier is resolved lazily on the next read or finish()
        return self._pos

    def _advance_frontier(self, target: int) -> None:
        self._raw.seek(self._frontier)
        remaining = target - self._frontier
        buf = bytearray(min(CHUNK, max(remaining, 1)))
        mv = memoryview(buf)
        while remaining > 0:
            k = self._raw.readinto(mv[: min(len(buf), remaining)])
            if not k:
                break
            self._sha.update(mv[:k])
            self._frontier += k
            remaining -= k
        self._raw.seek(target)

    def finish(self) -> tuple[str, int]:
        """Hash the rest of the stream; return (hex sha256, total size)."""
        self._raw.seek(self._frontier)
        buf = bytearray(CHUNK)
        mv = memoryview(buf)
        while True:
            k = self._raw.readinto(mv)
            if not k:
                break
            self._sha.update(mv[:k])
            self._frontier += k
        self._size = self._frontier
        return self._sha.hexdigest(), self._frontier
