"""A reader that computes SHA-256 in the same pass that feeds the parsers.

Bytes are hashed in file order as they are first read. A parser that seeks backwards re-reads
from the underlying file without re-hashing; one that seeks forwards past the hash frontier
makes the reader hash the gap on the way (reading it once, without keeping it). `finish()`
hashes whatever the parsers did not need, so every byte is hashed exactly once.

`track_regions()` adds byte ranges (e.g. the tensors of a safetensors file) that get a SHA-256 of their
own from the same pass; `region_digests()` gives them after `finish()`.
"""
from __future__ import annotations

import hashlib
import io
from collections.abc import Sequence
from typing import BinaryIO

CHUNK = 1 << 20
MAX_REGION_REREAD = 1 << 20  # bytes hashed before the regions were known, re-read once to catch up


class HashingReader(io.RawIOBase):
    def __init__(self, raw: BinaryIO, size: int | None = None):
        super().__init__()
        self._raw = raw
        self._sha = hashlib.sha256()
        self._frontier = 0  # bytes [0, frontier) have been hashed
        self._pos = 0
        self._size = size
        self.reread_bytes = 0
        self._regions: list[tuple[int, int, int]] = []  # (start, end, index), sorted
        self._region_sha: list = []
        self._first = 0  # lowest region that may still overlap what is hashed next

    def track_regions(self, regions: Sequence[tuple[int, int]]) -> bool:
        """Digest these [start, end) ranges too, as the pass reaches them. Bytes already hashed are re-read
        from the underlying stream (at most MAX_REGION_REREAD of them); returns False, tracking nothing,
        when more than that was hashed already or regions are already tracked."""
        if self._regions or not regions:
            return False
        lowest = min(start for start, _ in regions)
        if self._frontier - lowest > MAX_REGION_REREAD:
            return False
        self._regions = sorted((start, end, i) for i, (start, end) in enumerate(regions))
        self._region_sha = [hashlib.sha256() for _ in regions]
        if lowest < self._frontier:
            self._raw.seek(lowest)
            caught_up = self._raw.read(self._frontier - lowest)
            self.reread_bytes += len(caught_up)
            self._feed(memoryview(caught_up), lowest)
            self._raw.seek(self._pos if self._pos <= self._frontier else self._frontier)
        return True

    def region_digests(self) -> list[str]:
        """Hex SHA-256 of each tracked region, in the order given (call after finish())."""
        return [h.hexdigest() for h in self._region_sha]

    def _hash(self, mv: memoryview, offset: int) -> None:
        self._sha.update(mv)
        if self._regions:
            self._feed(mv, offset)

    def _feed(self, mv: memoryview, offset: int) -> None:
        lo, hi = offset, offset + len(mv)
        regions = self._regions
        while self._first < len(regions) and regions[self._first][1] <= lo:
            self._first += 1
        i = self._first
        while i < len(regions) and regions[i][0] < hi:
            start, end, index = regions[i]
            a, b = max(start, lo), min(end, hi)
            if a < b:
                self._region_sha[index].update(mv[a - lo:b - lo])
            i += 1

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
            self._hash(mv[start:n], self._pos + start)
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
            self._hash(mv[:k], self._frontier)
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
            self._hash(mv[:k], self._frontier)
            self._frontier += k
        self._size = self._frontier
        return self._sha.hexdigest(), self._frontier
