"""7z archives via py7zr, decompressed member by member into bounded spools (never onto disk paths).

Declared sizes are checked against the limits before anything is decompressed; the writers py7zr
fills count every byte against the decompression budget and refuse more than a member declared.
"""
from __future__ import annotations

import io
import tempfile
import threading
from collections import Counter
from typing import BinaryIO

from modelscreen.schemas import Severity
from modelscreen.engine.analyzers.registry import register
from modelscreen.engine.context import ScanContext
from modelscreen.engine.decompress import RATIO_FLOOR
from modelscreen.engine.limits import LimitExceeded

ANALYZER = "7z"
SPOOL_MEMORY = 8 * 1024 * 1024
SLACK = 64 * 1024


class _Abort(Exception):
    pass


def _escapes(name: str) -> bool:
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        return True
    return ".." in name.replace("\\", "/").split("/")


@register("7z")
def analyze(stream: BinaryIO, ctx: ScanContext) -> None:
    import py7zr
    from py7zr import exceptions as p7e
    from py7zr.io import Py7zIO, WriterFactory

    size = ctx.size if ctx.size is not None else stream.seek(0, io.SEEK_END)
    stream.seek(0)
    try:
        archive = py7zr.SevenZipFile(stream, mode="r")
    except p7e.PasswordRequired:
        ctx.add("SEVENZIP-ENCRYPTED", Severity.medium, "Encrypted 7z archive cannot be analysed",
                "the archive's header is encrypted: not even its member names can be read", analyzer=ANALYZER)
        return
    except Exception as exc:  # py7zr raises many types on malformed input
        ctx.add("SEVENZIP-MALFORMED", Severity.medium, "Not a readable 7z archive",
                f"{type(exc).__name__}: {exc}"[:300], analyzer=ANALYZER)
        return
    with archive:
        infos = archive.list()
        if len(infos) > ctx.limits.max_entries:
            ctx.limit_finding(LimitExceeded("max_entries", f"the archive has {len(infos)} members; none were "
                                            f"decompressed (limit {ctx.limits.max_entries})"))
            return
        declared = {i.filename: int(i.uncompressed or 0) for i in infos if not i.is_directory}
        for i in infos:
            if _escapes(i.filename):
                ctx.add("SEVENZIP-PATH-TRAVERSAL", Severity.high, "Member path escapes the extraction directory",
                        f"member name {i.filename!r} is absolute or contains '..'", i.filename, analyzer=ANALYZER)
            if i.is_symlink:
                ctx.add("SEVENZIP-SYMLINK", Severity.medium, "Symbolic link member", i.filename, i.filename,
                        analyzer=ANALYZER)
        # from the listing: on extraction py7zr renames a repeated name ("name_0"), so writers never repeat one
        for name, count in Counter(i.filename for i in infos if not i.is_directory).items():
            if count > 1:
                ctx.add("SEVENZIP-DUPLICATE-NAME", Severity.medium, f"Member name used {count} times", name, name,
                        analyzer=ANALYZER)
        total = sum(declared.values())
        room = ctx.limits.max_decompressed_bytes - ctx.budget.decompressed
        if total > room or (total > RATIO_FLOOR and total > size * ctx.limits.max_compression_ratio):
            ctx.add("SEVENZIP-BOMB", Severity.high, "Declared decompressed size exceeds the limits",
                    f"members declare {total} bytes from a {size}-byte archive (limit {room} bytes, ratio "
                    f"{ctx.limits.max_compression_ratio:g}); nothing was decompressed", analyzer=ANALYZER)
            return
        if archive.needs_password():
            ctx.add("SEVENZIP-ENCRYPTED", Severity.medium, "Encrypted 7z members cannot be analysed",
                    f"{len(declared)} members are encrypted; their content was not scanned", analyzer=ANALYZER)
            return
        lock = threading.Lock()
        budget = ctx.budget
        spools: dict[str, list] = {}

        class _Writer(Py7zIO):
            def __init__(self, name: str):
                self.name = name
                self.limit = declared.get(name, 0) + SLACK
                self.spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_MEMORY)
                self.n = 0
                spools.setdefault(name, []).append(self)

            def write(self, s) -> int:
                k = len(s)
                if self.n + k > self.limit:
                    raise _Abort(f"member {self.name!r} decompresses to more than it declared")
                with lock:
                    try:
                        budget.add_decompressed(k)
                    except LimitExceeded as exc:
                        raise _Abort(exc.detail) from exc
                    budget.check_time()
                self.spool.write(s)
                self.n += k
                return k

            def read(self, size=None) -> bytes:
                return b""

            def seek(self, offset: int, whence: int = 0) -> int:
                return self.n

            def flush(self) -> None:
                pass

            def size(self) -> int:
                return self.n

        class _Factory(WriterFactory):
            def create(self, filename: str) -> Py7zIO:
                return _Writer(filename)

        try:
            try:
                archive.extract(targets=None, factory=_Factory())
            except _Abort as exc:
                ctx.add("SEVENZIP-BOMB", Severity.high, "Decompression stopped at a limit",
                        f"{exc}; members decompressed so far were scanned", analyzer=ANALYZER)
            except LimitExceeded:
                raise
            except Exception as exc:
                cause = exc
                while cause.__cause__ is not None or cause.__context__ is not None:
                    nxt = cause.__cause__ or cause.__context__
                    if isinstance(nxt, (_Abort, LimitExceeded)):
                        cause = nxt
                        break
                    cause = nxt
                if isinstance(cause, LimitExceeded):
                    raise cause from None
                if isinstance(cause, _Abort):
                    ctx.add("SEVENZIP-BOMB", Severity.high, "Decompression stopped at a limit",
                            f"{cause}; members decompressed so far were scanned", analyzer=ANALYZER)
                else:
                    ctx.add("SEVENZIP-CORRUPT", Severity.medium, "7z archive could not be fully decompressed",
                            f"{type(exc).__name__}: {exc}"[:300], analyzer=ANALYZER)
            for name, writers in spools.items():
                for w in writers:
                    ctx.check_time()
                    w.spool.seek(0)
                    ctx.scan_member(name, w.spool, w.n)
        finally:
            for writers in spools.values():
                for w in writers:
                    w.spool.close()
