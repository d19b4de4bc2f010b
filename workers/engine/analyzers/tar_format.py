"""Tar archives, including the oldest PyTorch format (members sys_info, pickle, storages, tensors).

Headers are read with tarfile (nothing is extracted); each regular member is scanned as a window over
the outer stream. Names and links that escape the extraction directory, device nodes and
duplicates are findings. (A .tar.gz reaches here as the "<decompressed>" member of a gzip.)
"""
from __future__ import annotations

import io
import posixpath
import tarfile
from typing import BinaryIO

from modelscreen.schemas import Severity
from modelscreen.schemas.formats import Format
from modelscreen.engine.analyzers.registry import register
from modelscreen.engine.context import ScanContext
from modelscreen.engine.limits import LimitExceeded
from modelscreen.engine.substream import SubStream

ANALYZER = "tar"
TORCH_TAR_MEMBERS = {"sys_info", "pickle", "storages", "tensors"}
MAX_META_BYTES = 1 << 20  # long names and pax records are a few hundred bytes in real archives
_META_TYPES = {tarfile.GNUTYPE_LONGNAME: "GNU long name", tarfile.GNUTYPE_LONGLINK: "GNU long link",
               tarfile.XHDTYPE: "pax", tarfile.XGLTYPE: "pax global", tarfile.SOLARIS_XHDTYPE: "Solaris pax"}


def _escapes(name: str) -> bool:
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        return True
    return ".." in name.replace("\\", "/").split("/")


def _link_escapes(member_name: str, target: str, hard: bool) -> bool:
    if target.startswith(("/", "\\")):
        return True
    base = "" if hard else posixpath.dirname(member_name)
    norm = posixpath.normpath(posixpath.join(base, target.replace("\\", "/")))
    return norm == ".." or norm.startswith("../")


def _oversized_meta(view: SubStream, offset: int) -> str | None:
    """The header block at `offset`, when it is a GNU long name/link or pax header declaring more than
    MAX_META_BYTES (tarfile would read all of it into memory)."""
    view.seek(offset)
    block = view.read(tarfile.BLOCKSIZE)
    view.seek(offset)
    if len(block) < tarfile.BLOCKSIZE or block[156:157] not in _META_TYPES:
        return None
    try:
        declared = tarfile.nti(block[124:136])
    except (tarfile.InvalidHeaderError, ValueError):
        return None  # tarfile reports the header itself as invalid
    if declared <= MAX_META_BYTES:
        return None
    return (f"a {_META_TYPES[block[156:157]]} header declares {declared} bytes "
            f"(limit {MAX_META_BYTES}); tar readers load it whole into memory")


@register(Format.tar)
def analyze(stream: BinaryIO, ctx: ScanContext) -> None:
    size = ctx.size if ctx.size is not None else stream.seek(0, io.SEEK_END)
    stream.seek(0)
    # tarfile reads a long-name/pax header's declared size in one go: through this window no read can ask
    # for more than the file holds, and headers over MAX_META_BYTES are refused before tarfile reads them
    view = SubStream(stream, 0, size)
    big = _oversized_meta(view, 0)
    if big:
        ctx.add("TAR-HEADER-TOO-LARGE", Severity.medium, "Extended header larger than any real one", big, "offset 0",
                analyzer=ANALYZER)
        return
    try:
        tf = tarfile.open(fileobj=view, mode="r:")
    except (tarfile.TarError, EOFError, OSError, ValueError) as exc:
        ctx.add("TAR-MALFORMED", Severity.medium, "Not a readable tar archive", f"{type(exc).__name__}: {exc}"[:300],
                analyzer=ANALYZER)
        return
    members: list[tarfile.TarInfo] = []
    error = None
    while True:
        ctx.check_time()
        if len(members) >= ctx.limits.max_entries:
            ctx.limit_finding(LimitExceeded("max_entries", f"only the first {len(members)} tar members were analysed"))
            break
        big = _oversized_meta(view, tf.offset)
        if big:
            ctx.add("TAR-HEADER-TOO-LARGE", Severity.medium, "Extended header larger than any real one",
                    f"{big}; the members after it were not analysed", f"offset {tf.offset}", analyzer=ANALYZER)
            break
        try:
            m = tf.next()
        except (tarfile.TarError, EOFError, OSError, ValueError, UnicodeError) as exc:
            error = f"{type(exc).__name__}: {exc}"[:300]
            break
        if m is None:
            break
        members.append(m)
        tf.members = []  # do not let tarfile keep its own list growing
    if error:
        ctx.add("TAR-MALFORMED", Severity.medium, "Tar archive is damaged",
                f"{error} after {len(members)} members; the members before were scanned", analyzer=ANALYZER)
    if {m.name for m in members if m.isreg()} >= TORCH_TAR_MEMBERS:
        ctx.notes["format"] = Format.pytorch_legacy
    seen: dict[str, int] = {}
    for m in members:
        seen[m.name] = seen.get(m.name, 0) + 1
        loc = m.name
        if _escapes(m.name):
            ctx.add("TAR-PATH-TRAVERSAL", Severity.high, "Member path escapes the extraction directory",
                    f"member name {m.name!r} is absolute or contains '..'", loc, analyzer=ANALYZER)
        if m.issym() or m.islnk():
            kind = "symlink" if m.issym() else "hard link"
            if _link_escapes(m.name, m.linkname, m.islnk()):
                ctx.add("TAR-LINK-ESCAPE", Severity.high, f"A {kind} points outside the archive",
                        f"{m.name!r} -> {m.linkname!r}: extracting it lets later members read or overwrite "
                        "files outside the target directory", loc, analyzer=ANALYZER)
            else:
                ctx.add("TAR-LINK", Severity.low, f"Archive contains a {kind}", f"{m.name!r} -> {m.linkname!r}",
                        loc, analyzer=ANALYZER)
        elif m.ischr() or m.isblk() or m.isfifo():
            ctx.add("TAR-DEVICE-FILE", Severity.medium, "Device or FIFO member",
                    f"{m.name!r} is a {'character device' if m.ischr() else 'block device' if m.isblk() else 'FIFO'}; "
                    "model archives have no reason to create one", loc, analyzer=ANALYZER)
        if m.mode & 0o6000 and m.isreg():
            ctx.add("TAR-SETUID", Severity.medium, "Member with setuid/setgid bits",
                    f"{m.name!r} mode {m.mode:o}", loc, analyzer=ANALYZER)
    for name, count in seen.items():
        if count > 1:
            ctx.add("TAR-DUPLICATE-NAME", Severity.medium, f"Member name used {count} times",
                    f"{name!r} appears {count} times; extraction keeps the last copy, listings show the first "
                    "(each copy is scanned)", name, analyzer=ANALYZER)
    for m in members:
        ctx.check_time()
        if not m.isreg():
            continue
        length = m.size
        if m.offset_data + length > size:
            ctx.add("TAR-MEMBER-TRUNCATED", Severity.medium, "Member data runs past the end of the archive",
                    f"{m.name!r} declares {m.size} bytes at offset {m.offset_data}", m.name, analyzer=ANALYZER)
            length = max(size - m.offset_data, 0)
        if m.issparse():
            ctx.add("TAR-SPARSE", Severity.low, "Sparse member scanned as stored",
                    "the data of a sparse member is scanned without its holes", m.name, analyzer=ANALYZER)
        ctx.scan_member(m.name, SubStream(stream, m.offset_data, length), length)

