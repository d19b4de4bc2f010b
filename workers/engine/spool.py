"""Where decompressed members wait to be scanned: memory up to a cap, then an unnamed temporary file
(gone when closed, or when the process dies). Every byte written counts against the artifact's
temporary-storage budget (`Limits.max_temp_bytes`) until the spool is closed."""
from __future__ import annotations

import tempfile

from modelscreen.engine.limits import Budget

SPOOL_MEMORY = 8 * 1024 * 1024


class BoundedSpool:
    """A seekable spool whose `write` raises LimitExceeded("max_temp_bytes") past the budget."""

    def __init__(self, budget: Budget, memory: int = SPOOL_MEMORY):
        self._budget = budget
        self._file = tempfile.SpooledTemporaryFile(max_size=memory)
        self.held = 0

    def write(self, data: bytes) -> int:
        self._budget.add_temp(len(data))
        self.held += len(data)
        return self._file.write(data)

    def read(self, n: int = -1) -> bytes:
        return self._file.read(n)

    def readinto(self, buffer) -> int:
        return self._file.readinto(buffer)

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._file.seek(offset, whence)

    def tell(self) -> int:
        return self._file.tell()

    def seekable(self) -> bool:
        return True

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()
            self._budget.release_temp(self.held)
            self.held = 0

    def __enter__(self) -> "BoundedSpool":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
