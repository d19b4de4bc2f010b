"""A read-only window [offset, offset+length) of a seekable stream, itself a seekable stream.

Archive members stored without compression (tensor data in PyTorch zips, tar members, the pickles
of a legacy PyTorch file) are handed to `ScanContext.scan_member` as windows over the outer reader,
so they are sniffed and hashed while streaming and never copied into memory.

The window always seeks the base stream before reading, so several windows (and the parser that
created them) can share one base stream. It can also compute the CRC-32 of the window's bytes in
the same pass: bytes are added in order as they are first read, like `HashingReader` does.
"""
from __future__ import annotations

import io
import zlib
from typing import BinaryIO


class SubStream(io.RawIOBase):
    def __init__(self, base: BinaryIO, offset: int, length: int, *, track_crc: bool = False):
        super().__init__()
        if offset < 0 or length < 0:
            raise ValueError("negative window")
        self._base = base
        self._offset = offset
        self._length = length
        self._pos = 0
        self._crc: int | None = 0 if track_crc else None
        self._crc_frontier = 0

    # io plumbing
    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def writable(self) -> bool:
        return False

    def tell(self) -> int:
        return self._pos

    @property
    def length(self) -> int:
        return self._length

    @property
    def crc_complete(self) -> bool:
        """True when every byte of the window went through the CRC."""
        return self._crc is not None and self._crc_frontier >= self._length

    @property
    def crc(self) -> int | None:
        return self._crc

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_CUR:
            offset += self._pos
        elif whence == io.SEEK_END:
            offset += self._length
        if offset < 0:
            raise ValueError("negative seek position")
        self._pos = offset
        return self._pos

    def readinto(self, b) -> int:  # type: ignore[override]
        mv = memoryview(b).cast("B")
        want = min(len(mv), self._length - self._pos)
        if want <= 0:
            return 0
        self._base.seek(self._offset + self._pos)
        got = 0
        while got < want:
            k = self._base.readinto(mv[got:want]) if hasattr(self._base, "readinto") else None
            if k is None:  # a base without readinto
                data = self._base.read(want - got)
                k = len(data)
                mv[got:got + k] = data
            if not k:
                break
            got += k
        if self._crc is not None and got:
            start, end = self._pos, self._pos + got
            if start <= self._crc_frontier < end:
                self._crc = zlib.crc32(mv[self._crc_frontier - start:got], self._crc)
                self._crc_frontier = end
        self._pos += got
        return got

    def read(self, n: int = -1) -> bytes:  # type: ignore[override]
        if n is None or n < 0:
            n = max(self._length - self._pos, 0)
        n = min(n, max(self._length - self._pos, 0))
        if n <= 0:
            return b""
        buf = bytearray(n)
        got = self.readinto(buf)
        del buf[got:]
        return bytes(buf)

    def readall(self) -> bytes:
        return self.read(-1)
