"""7z archives via py7zr, decompressed member by member into bounded spools (never onto disk paths);
each member is scanned as soon as it is complete and its spool released, so one member is held at a time.

Declared sizes are checked against the limits before anything is decompressed; the writers py7zr
fills count every byte against the decompression budget and refuse more than a member declared.
"""
from __future__ import annotations

import io
import threading
from collections import Counter
from typing import BinaryIO

from modelscreen.schemas import Severity
from modelscreen.schemas.formats import Format
from modelscreen.engine.analyzers.registry import register
from modelscreen.engine.context import ScanContext
from modelscreen.engine.decompress import RATIO_FLOOR
from modelscreen.engine.limits import LimitExceeded
from modelscreen.engine.spool import BoundedSpool

ANALYZER = "7z"
SLACK = 64 * 1024
MAX_UNBOUNDED_OUTPUT = 32 * 1024 * 1024
_UNBOUNDED_METHODS = {b"\x04\x01\x08", b"\x04\x01\x09"}  # 7z method ids of Deflate and Deflate64


class _Abort(Exception):
    pass


def _escapes(name: str) -> bool:
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        return True
    return ".." in name.replace("\\", "/").split("/")


def _unbounded_folder(archive) -> str | None:
    """py7zr's deflate decoders return all the output of an input chunk at once (no output bound): a
    folder using one that unpacks to more than MAX_UNBOUNDED_OUTPUT is not decompressed."""
    try:
        folders = archive.header.main_streams.unpackinfo.folders
    except AttributeError:
        return None
    for folder in folders:
        methods = {c.get("method") for c in folder.coders}
        if methods & _UNBOUNDED_METHODS and max(folder.unpacksizes or [0]) > MAX_UNBOUNDED_OUTPUT:
            return (f"a folder of {max(folder.unpacksizes)} bytes is deflate-compressed; its decoder cannot bound "
                    f"its output (limit {MAX_UNBOUNDED_OUTPUT} bytes), so its members were not analysed")
    return None


@register(Format.sevenzip)
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
        unbounded = _unbounded_folder(archive)
        if unbounded:
            ctx.add("SEVENZIP-NOT-ANALYSED", Severity.medium, "7z members not decompressed", unbounded, analyzer=ANALYZER)
            return
        if archive.needs_password():
            ctx.add("SEVENZIP-ENCRYPTED", Severity.medium, "Encrypted 7z members cannot be analysed",
                    f"{len(declared)} members are encrypted; their content was not scanned", analyzer=ANALYZER)
            return
        lock = threading.Lock()
        budget = ctx.budget
        open_writers: list = []  # members being decompressed: scanned when complete, then released

        def scan(w) -> None:
            with lock:
                if w not in open_writers:
                    return
                open_writers.remove(w)
                try:
                    w.spool.seek(0)
                    ctx.scan_member(w.name, w.spool, w.n)
                finally:
                    w.spool.close()

        class _Writer(Py7zIO):
            def __init__(self, name: str):
                self.name = name
                self.limit = declared.get(name, 0) + SLACK
                self.spool = BoundedSpool(budget)
                self.n = 0
                open_writers.append(self)

            def write(self, s) -> int:
                k = len(s)
                if self.n + k > self.limit:
                    raise _Abort(f"member {self.name!r} decompresses to more than it declared")
                with lock:
                    try:
                        budget.add_decompressed(k)
                        self.spool.write(s)
                    except LimitExceeded as exc:
                        raise _Abort(exc.detail) from exc
                    budget.check_time()
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

            def close(self) -> None:  # py7zr: this member is complete
                ctx.check_time()
                scan(self)

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
            for w in list(open_writers):  # cut short: what was decompressed of it is scanned too
                ctx.check_time()
                scan(w)
        finally:
            for w in open_writers:
                w.spool.close()
