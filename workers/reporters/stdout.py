"""Standard output carries only the report.

Libraries print while they parse (fickling warns on stdout about pickles it cannot follow; C code may
write to file descriptor 1). While `reserved_stdout()` is active, file descriptor 1 and `sys.stdout`
point at standard error, so anything printed there shows up as a diagnostic, and `write()` of the
yielded handle is the only way onto the real standard output.
"""
from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from typing import TextIO


class ReportOut:
    """The real standard output, kept aside while everything else printed goes to standard error."""

    def __init__(self, fd: int):
        self._fd = fd

    def write(self, text: str) -> None:
        data = text.encode("utf-8", "backslashreplace")
        while data:
            data = data[os.write(self._fd, data):]


@contextlib.contextmanager
def reserved_stdout() -> Iterator[ReportOut]:
    stream: TextIO = sys.stdout
    try:
        fd = stream.fileno() if stream is sys.__stdout__ else None
    except (AttributeError, OSError, ValueError):
        fd = None
    if fd is None:  # standard output was replaced in-process (a test runner's buffer): redirect at that level
        with contextlib.redirect_stdout(sys.stderr):
            yield _TextOut(stream)
        return
    stream.flush()
    saved = os.dup(fd)
    os.dup2(sys.stderr.fileno(), fd)
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield ReportOut(saved)
    finally:
        sys.stderr.flush()
        os.dup2(saved, fd)
        os.close(saved)


class _TextOut(ReportOut):
    def __init__(self, stream: TextIO):
        self._stream = stream

    def write(self, text: str) -> None:
        self._stream.write(text)
        self._stream.flush()
