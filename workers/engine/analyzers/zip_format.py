"""Zip archives and the formats built on them: PyTorch (.pt/.pth zip), TorchScript, NumPy .npz, Keras v3.

The central directory is located with the standard library (EOCD and zip64 records) but parsed here,
record by record, and members are read from their local headers by this module: a CRC mismatch,
odd flags or a truncated member never stops the scan (loaders tolerate some of these; the anomaly
is a finding). Stored members (tensor data) are passed to `scan_member` as windows over the outer
stream, never read into memory; compressed ones are decompressed in bounded chunks.
"""
from __future__ import annotations

import io
import re
import struct
import zipfile
from dataclasses import dataclass
from typing import BinaryIO

from modelscreen.schemas import Severity
from modelscreen.schemas.formats import Format
from modelscreen.engine.analyzers.registry import register
from modelscreen.engine.context import ScanContext
from modelscreen.engine.decompress import RATIO_FLOOR, decompress_stream
from modelscreen.engine.limits import LimitExceeded
from modelscreen.engine.spool import SPOOL_MEMORY, BoundedSpool
from modelscreen.engine.substream import SubStream

ANALYZER = "zip"
SMALL_MEMBER = 1024 * 1024  # decompressed members up to this size stay in memory

_CD = struct.Struct("<4s4B4HL2L5H2L")  # central directory file header, 46 bytes
_LH = struct.Struct("<4s2B4HL2L2H")  # local file header, 30 bytes
_METHODS = {0: "stored", 8: "deflate", 12: "bzip2", 14: "lzma"}
_KIND = {8: "deflate", 12: "bz2", 14: "zip-lzma"}
_DRIVE = re.compile(r"^[A-Za-z]:")


@dataclass
class Entry:
    name: str
    raw_name: bytes
    flags: int
    method: int
    crc: int
    csize: int
    usize: int
    offset: int  # absolute offset of the local header in the stream
    external_attr: int = 0
    create_system: int = 0
    from_cd: bool = True


def _decode_name(raw: bytes, flags: int) -> str:
    if flags & 0x800:
        return raw.decode("utf-8", "replace")
    return raw.decode("cp437")


def _zip64_extra(extra: bytes, usize: int, csize: int, offset: int) -> tuple[int, int, int]:
    i = 0
    while i + 4 <= len(extra):
        tag, ln = struct.unpack_from("<HH", extra, i)
        body = extra[i + 4 : i + 4 + ln]
        if tag == 0x0001:
            j = 0
            if usize == 0xFFFFFFFF and j + 8 <= len(body):
                usize = struct.unpack_from("<Q", body, j)[0]
                j += 8
            if csize == 0xFFFFFFFF and j + 8 <= len(body):
                csize = struct.unpack_from("<Q", body, j)[0]
                j += 8
            if offset == 0xFFFFFFFF and j + 8 <= len(body):
                offset = struct.unpack_from("<Q", body, j)[0]
            break
        i += 4 + ln
    return usize, csize, offset


def _read_exact(stream: BinaryIO, offset: int, n: int) -> bytes:
    stream.seek(offset)
    return stream.read(n)


class _CentralDirectoryError(Exception):
    pass


def _central_directory(stream: BinaryIO, size: int, ctx: ScanContext) -> tuple[list[Entry], int, int, int] | None:
    """Returns (entries, concat, cd_start, declared_total) or None when there is no usable EOCD."""
    try:
        endrec = zipfile._EndRecData(stream)  # noqa: SLF001 - EOCD and zip64 locator handling
    except (OSError, zipfile.BadZipFile, struct.error, ValueError):
        return None
    if not endrec:
        return None
    size_cd = endrec[zipfile._ECD_SIZE]  # noqa: SLF001
    offset_cd = endrec[zipfile._ECD_OFFSET]  # noqa: SLF001
    total = endrec[zipfile._ECD_ENTRIES_TOTAL]  # noqa: SLF001
    concat = endrec[zipfile._ECD_LOCATION] - size_cd - offset_cd  # noqa: SLF001
    if endrec[zipfile._ECD_SIGNATURE] == zipfile.stringEndArchive64:  # noqa: SLF001
        concat -= zipfile.sizeEndCentDir64 + zipfile.sizeEndCentDir64Locator
    cd_start = offset_cd + concat
    if concat < 0 or cd_start < 0 or cd_start + size_cd > size:
        raise _CentralDirectoryError(f"central directory offset {offset_cd} / size {size_cd} outside the file")
    reader = io.BufferedReader(SubStream(stream, cd_start, size_cd), 256 * 1024)
    entries: list[Entry] = []
    limit = ctx.limits.max_entries
    while True:
        head = reader.read(_CD.size)
        if not head:
            break
        if len(head) < _CD.size or head[:4] != zipfile.stringCentralDir:
            if not entries:
                raise _CentralDirectoryError("no central directory record where the EOCD points")
            ctx.add("ZIP-CENTRAL-DIRECTORY-CORRUPT", Severity.medium, "Central directory ends early",
                    f"garbage after {len(entries)} central directory records", f"offset {cd_start}",
                    analyzer=ANALYZER)
            break
        if len(entries) >= limit:
            ctx.limit_finding(LimitExceeded("max_entries", f"the archive declares {total} entries; "
                                            f"only the first {limit} were analysed"))
            break
        ctx.check_time()
        (_sig, _cv, create_system, _ev, _es, flags, method, _t, _d, crc, csize, usize,
         n, m, k, _disk, _iattr, eattr, offset) = _CD.unpack(head)
        raw = reader.read(n)
        extra = reader.read(m)
        reader.read(k)
        usize, csize, offset = _zip64_extra(extra, usize, csize, offset)
        entries.append(Entry(_decode_name(raw, flags), raw, flags, method, crc, csize, usize,
                             offset + concat, eattr, create_system))
    return entries, concat, cd_start, total


def _local_walk(stream: BinaryIO, size: int, ctx: ScanContext) -> list[Entry]:
    """Without a central directory: follow local headers from the start, as streaming unzippers do."""
    entries: list[Entry] = []
    pos = 0
    while pos + _LH.size <= size and len(entries) < ctx.limits.max_entries:
        ctx.check_time()
        head = _read_exact(stream, pos, _LH.size)
        if len(head) < _LH.size or head[:4] != zipfile.stringFileHeader:
            break
        (_sig, _v, _os, flags, method, _t, _d, crc, csize, usize, n, m) = _LH.unpack(head)
        raw = stream.read(n)
        extra = stream.read(m)
        usize, csize, _ = _zip64_extra(extra, usize, csize, 0)
        name = _decode_name(raw, flags)
        if flags & 0x08 and csize == 0:
            ctx.add("ZIP-UNREADABLE-ENTRY", Severity.medium, "Member size unknown without central directory",
                    "the member uses a data descriptor and the archive has no central directory; "
                    "the rest of the archive was not analysed", name, analyzer=ANALYZER)
            entries.append(Entry(name, raw, flags, method, crc, 0, usize, pos, from_cd=False))
            break
        entries.append(Entry(name, raw, flags, method, crc, csize, usize, pos, from_cd=False))
        pos += _LH.size + n + m + csize
        if flags & 0x08:
            sig = _read_exact(stream, pos, 4)
            pos += 16 if sig == b"PK\x07\x08" else 12
    return entries


def _cross_check(stream: BinaryIO, ctx: ScanContext, entries: list[Entry], cd_start: int) -> list[Entry]:
    """Walk the local headers as a streaming extractor does and compare with the central directory: a member
    only the local headers hold is hidden from zipfile-based readers (and returned, to be scanned); one only
    the central directory holds is invisible to streaming extractors."""
    if len(entries) >= ctx.limits.max_entries:
        return []  # the central directory was read only up to the entry limit: nothing to compare
    by_offset = {e.offset: e for e in entries}
    pos = min(by_offset, default=cd_start)
    walked: set[int] = set()
    hidden: list[Entry] = []
    while pos + _LH.size <= cd_start and len(entries) + len(hidden) < ctx.limits.max_entries:
        ctx.check_time()
        head = _read_exact(stream, pos, _LH.size)
        if head[:4] != zipfile.stringFileHeader:
            break
        (_sig, _v, _os, flags, method, _t, _d, crc, csize, usize, n, m) = _LH.unpack(head)
        known = by_offset.get(pos)
        if known is not None:
            walked.add(pos)
            csize = known.csize
        else:
            raw = stream.read(n)
            usize, csize, _ = _zip64_extra(stream.read(m), usize, csize, 0)
            name = _decode_name(raw, flags)
            ctx.add("ZIP-LOCAL-ONLY-MEMBER", Severity.medium, "Member missing from the central directory",
                    f"a local header at offset {pos} holds {name!r}, which the central directory does not list: "
                    "zipfile-based loaders do not see it, streaming extractors extract it (it is scanned)",
                    name, evidence=raw, analyzer=ANALYZER)
            hidden.append(Entry(name, raw, flags, method, crc, csize, usize, pos, from_cd=False))
            if flags & 0x08 and csize == 0:
                break  # its size is only in a data descriptor: the walk cannot go on
        pos += _LH.size + n + m + csize
        if flags & 0x08:
            sig = _read_exact(stream, pos, 4)
            pos += 16 if sig == b"PK\x07\x08" else 12
    for e in entries:
        if e.offset not in walked and e.offset < pos:
            ctx.add("ZIP-CENTRAL-ONLY-MEMBER", Severity.medium, "Member missing from the local headers",
                    f"the central directory lists {e.name!r} at offset {e.offset}, where walking the local headers "
                    "finds no member: streaming extractors do not see it (it is scanned as zipfile reads it)",
                    e.name, analyzer=ANALYZER)
    return hidden


def _refine_format(names: list[str]) -> str:
    files = [n for n in names if not n.endswith("/")]
    has_pkl = any(n == "data.pkl" or n.endswith("/data.pkl") for n in files)
    torchish = any("/data/" in n or n.startswith("data/") or n == "version" or n.endswith("/version")
                   or n.endswith(".data/version") or "/code/" in n or n.startswith("code/") for n in files)
    if has_pkl and torchish:
        return "pytorch-zip"
    if files and all(n.endswith(".npy") for n in files):
        return "numpy-npz"
    if "config.json" in files and "metadata.json" in files:
        return "keras"
    return "zip"


def _is_traversal(name: str) -> bool:
    if name.startswith(("/", "\\")) or _DRIVE.match(name):
        return True
    return ".." in re.split(r"[/\\]", name)


@register(Format.zip)
def analyze(stream: BinaryIO, ctx: ScanContext) -> None:
    size = ctx.size if ctx.size is not None else stream.seek(0, io.SEEK_END)
    try:
        cd = _central_directory(stream, size, ctx)
        cd_error = None
    except (_CentralDirectoryError, struct.error) as exc:
        cd, cd_error = None, str(exc)
    if cd is not None:
        entries, _concat, cd_start, _total = cd
        entries = entries + _cross_check(stream, ctx, entries, cd_start)
    else:
        entries = _local_walk(stream, size, ctx)
        cd_start = size
        if not entries:
            ctx.add("ZIP-MALFORMED", Severity.medium, "Not a readable zip archive",
                    cd_error or "no end-of-central-directory record and no local file header at the start",
                    analyzer=ANALYZER)
            if cd_error is None and ctx.name != "<prefix>":
                # sniffed as zip from a trailing EOCD, yet not a zip: scan the content as data (once)
                _scan_prefix(stream, ctx, size)
            return
        ctx.add("ZIP-NO-CENTRAL-DIRECTORY", Severity.medium, "Zip archive without a usable central directory",
                (cd_error or "no end-of-central-directory record") + "; members were found by walking local "
                "headers, as streaming extractors do, while zipfile-based loaders refuse the archive",
                analyzer=ANALYZER)

    names = [e.name for e in entries]
    fmt = _refine_format(names)
    ctx.notes["format"] = fmt

    # Data before the first member: a polyglot (e.g. a pickle followed by a zip).
    first = min((e.offset for e in entries), default=cd_start)
    prefix_end = min(first, cd_start)
    if prefix_end > 0:
        ctx.add("ZIP-PREPENDED-DATA", Severity.medium, f"{prefix_end} bytes before the zip archive",
                "the file is a polyglot: a loader that reads from the start (pickle, torch legacy) sees "
                "different content than a zip reader; the prefix is scanned as its own member",
                "<prefix>", evidence=_read_exact(stream, 0, 64), analyzer=ANALYZER)
        _scan_prefix(stream, ctx, prefix_end)

    _check_names(ctx, entries)
    if fmt == "pytorch-zip":
        code = sorted({n.split("code/")[0] + "code/" for n in names if re.search(r"(^|/)code/.+", n)})
        if code:
            files = [n for n in names if re.search(r"(^|/)code/.+\.py$", n)]
            # low: plain exports carry code/; the code members themselves are analysed for file, process
            # and network operations
            ctx.add("TORCHSCRIPT-CODE", Severity.low, "TorchScript archive with code",
                    "torch.jit.load compiles and runs the TorchScript code in this archive "
                    f"({len(files)} code files: {', '.join(files[:10])}{'...' if len(files) > 10 else ''}); "
                    "review it like source code", code[0], analyzer=ANALYZER,
                    remediation="Load with torch.load(weights_only=True) or convert to safetensors")

    compressed_total = sum(e.usize for e in entries if e.method != 0 and not e.flags & 1)
    room = ctx.limits.max_decompressed_bytes - ctx.budget.decompressed
    if compressed_total > room:
        largest = max((e for e in entries if e.method != 0 and not e.flags & 1), key=lambda e: e.usize)
        ctx.add("ZIP-BOMB", Severity.high, "Declared decompressed size exceeds the limit",
                f"members declare {compressed_total} decompressed bytes, above the "
                f"{ctx.limits.max_decompressed_bytes}-byte limit; members were decompressed only up to it "
                f"(largest: {largest.name!r}, {largest.usize} bytes)", largest.name, analyzer=ANALYZER)
    state = {"budget_stopped": 0, "not_analysed": []}
    for e in entries:
        ctx.check_time()
        _member(stream, ctx, e, size, cd_start, state)
    if state["budget_stopped"] > 1:
        names = state["not_analysed"][1:]
        ctx.add("ZIP-NOT-ANALYSED", Severity.medium, f"{state['budget_stopped'] - 1} more members not decompressed",
                "the decompression budget was used up; first not analysed: "
                + ", ".join(repr(n) for n in names[:5]), names[0] if names else None, analyzer=ANALYZER)


def _scan_prefix(stream: BinaryIO, ctx: ScanContext, end: int) -> None:
    ctx.scan_member("<prefix>", SubStream(stream, 0, end), end)


def _check_names(ctx: ScanContext, entries: list[Entry]) -> None:
    seen: dict[str, int] = {}
    for e in entries:
        seen[e.name] = seen.get(e.name, 0) + 1
        if _is_traversal(e.name):
            ctx.add("ZIP-PATH-TRAVERSAL", Severity.high, "Member path escapes the extraction directory",
                    f"member name {e.name!r} is absolute or contains '..'; extracting it writes outside the "
                    "target directory", e.name, analyzer=ANALYZER)
        if e.create_system == 3 and (e.external_attr >> 16) & 0o170000 == 0o120000:
            ctx.add("ZIP-SYMLINK", Severity.medium, "Symbolic link member",
                    f"member {e.name!r} is a symlink; extracting it can make later members write or read "
                    "outside the target directory", e.name, analyzer=ANALYZER)
    for name, count in seen.items():
        if count > 1:
            ctx.add("ZIP-DUPLICATE-NAME", Severity.medium, f"Member name used {count} times",
                    f"{name!r} appears {count} times; readers disagree on which copy they load "
                    "(each copy is scanned)", name, analyzer=ANALYZER)


def _member(stream: BinaryIO, ctx: ScanContext, e: Entry, size: int, cd_start: int, state: dict) -> None:
    loc = e.name
    if e.flags & 1 or e.flags & 0x40:
        ctx.add("ZIP-ENCRYPTED", Severity.medium, "Encrypted member cannot be analysed",
                f"member {e.name!r} is encrypted (flag bits {e.flags:#06x}); its content was not scanned",
                loc, analyzer=ANALYZER)
        return
    head = _read_exact(stream, e.offset, _LH.size)
    if len(head) < _LH.size or head[:4] != zipfile.stringFileHeader:
        ctx.add("ZIP-LOCAL-HEADER-MISSING", Severity.medium, "No local header where the central directory points",
                f"offset {e.offset}: the member cannot be read the way loaders read it", loc, analyzer=ANALYZER)
        return
    (_sig, _v, _os, lflags, lmethod, _t, _d, lcrc, lcsize, lusize, n, m) = _LH.unpack(head)
    local_raw = stream.read(n)
    if e.from_cd and local_raw != e.raw_name:
        ctx.add("ZIP-NAME-MISMATCH", Severity.high, "Local header and central directory name differ",
                f"central directory says {e.name!r}, local header says "
                f"{local_raw.decode('utf-8', 'backslashreplace')!r}: scanners and loaders that read different "
                "headers see different files", loc, evidence=local_raw, analyzer=ANALYZER)
    if e.from_cd and lmethod != e.method:
        ctx.add("ZIP-HEADER-MISMATCH", Severity.medium, "Local header and central directory disagree",
                f"compression method {lmethod} in the local header, {e.method} in the central directory",
                loc, analyzer=ANALYZER)
    elif e.from_cd and not lflags & 0x08 and (lcsize, lusize, lcrc) != (e.csize & 0xFFFFFFFF, e.usize & 0xFFFFFFFF, e.crc) \
            and lcsize != 0xFFFFFFFF:
        ctx.add("ZIP-HEADER-MISMATCH", Severity.medium, "Local header and central directory disagree",
                f"local header sizes/CRC {lcsize}/{lusize}/{lcrc:#x}, central directory "
                f"{e.csize}/{e.usize}/{e.crc:#x}", loc, analyzer=ANALYZER)
    data_start = e.offset + _LH.size + n + m
    csize = e.csize
    end_limit = size if not e.from_cd else max(cd_start, 0)
    if data_start + csize > size:
        ctx.add("ZIP-MEMBER-TRUNCATED", Severity.medium, "Member data runs past the end of the file",
                f"member declares {csize} compressed bytes at offset {data_start}; the file has {size} bytes",
                loc, analyzer=ANALYZER)
        csize = max(size - data_start, 0)
    elif data_start + csize > end_limit:
        ctx.add("ZIP-MEMBER-OVERLAP", Severity.medium, "Member data overlaps the central directory",
                f"member at offset {data_start} with {csize} bytes runs into the central directory at {cd_start}",
                loc, analyzer=ANALYZER)
    if e.name.endswith("/") and e.usize == 0 and csize == 0:
        return  # a directory entry
    if e.method == 0:
        if e.csize != e.usize:
            ctx.add("ZIP-SIZE-MISMATCH", Severity.medium, "Stored member sizes disagree",
                    f"stored member with compressed size {e.csize} and size {e.usize}", loc, analyzer=ANALYZER)
        window = SubStream(stream, data_start, csize, track_crc=True)
        ctx.scan_member(e.name, window, csize)
        if window.crc_complete and window.crc != e.crc and csize == e.csize:
            _crc_finding(ctx, e, window.crc or 0)
        return
    kind = _KIND.get(e.method)
    if kind is None:
        ctx.add("ZIP-UNSUPPORTED-COMPRESSION", Severity.medium, "Member uses an unsupported compression method",
                f"compression method {e.method} cannot be decompressed here; the member was not analysed",
                loc, analyzer=ANALYZER)
        return
    if state["budget_stopped"]:
        state["budget_stopped"] += 1
        return
    declared_ratio = e.usize / max(csize, 1)
    bomb = False
    if e.usize > RATIO_FLOOR and declared_ratio > ctx.limits.max_compression_ratio:
        ctx.add("ZIP-BOMB", Severity.high, "Compression ratio of a zip bomb",
                f"member declares {e.usize} bytes from {csize} compressed bytes (ratio {declared_ratio:.0f}, "
                f"limit {ctx.limits.max_compression_ratio:g})", loc, analyzer=ANALYZER)
        bomb = True
    src = SubStream(stream, data_start, csize)
    room = ctx.budget.temp_room()
    out = BoundedSpool(ctx.budget, SMALL_MEMBER if e.usize <= SMALL_MEMBER else SPOOL_MEMORY)
    try:
        res = decompress_stream(src.read, kind, out.write, budget=ctx.budget,
                                max_ratio=ctx.limits.max_compression_ratio, max_output=min(e.usize, room),
                                multi_stream=False, track_crc=True)
        if res.stopped == "size" and room < e.usize:
            ctx.limit_finding(LimitExceeded("max_temp_bytes", f"member {e.name!r} declares {e.usize} bytes, more "
                                            f"than the {room} bytes of temporary storage left for this artifact; "
                                            "only that much was scanned"), loc)
        elif res.stopped in ("ratio", "budget"):
            if res.stopped == "budget":
                state["budget_stopped"] += 1
                state["not_analysed"].append(e.name)
            if not bomb:
                ctx.add("ZIP-BOMB", Severity.high, "Decompression stopped at a limit",
                        f"member {e.name!r}: {res.stop_detail}; only the first {res.produced} bytes were scanned",
                        loc, analyzer=ANALYZER)
        elif res.stopped == "size":
            ctx.add("ZIP-SIZE-MISMATCH", Severity.medium, "Member decompresses to more than its declared size",
                    f"declared {e.usize} bytes; readers that trust the declared size and readers that do not "
                    "see different data", loc, analyzer=ANALYZER)
        elif res.error:
            ctx.add("ZIP-CORRUPT-MEMBER", Severity.medium, "Compressed member data is corrupt",
                    f"{res.error} after {res.produced} bytes; the bytes decompressed so far were scanned",
                    loc, analyzer=ANALYZER)
        elif res.produced != e.usize:
            ctx.add("ZIP-SIZE-MISMATCH", Severity.low, "Member decompresses to fewer bytes than declared",
                    f"declared {e.usize}, got {res.produced}", loc, analyzer=ANALYZER)
        elif res.crc != e.crc:
            _crc_finding(ctx, e, res.crc)
        out.seek(0)
        ctx.scan_member(e.name, out, res.produced)
    finally:
        out.close()


def _crc_finding(ctx: ScanContext, e: Entry, actual: int) -> None:
    ctx.add("ZIP-CRC-MISMATCH", Severity.medium, "Member CRC-32 does not match its data",
            f"declared {e.crc:#010x}, computed {actual:#010x}: strict readers refuse the member while "
            "tolerant loaders read it; the member was scanned as loaders read it", e.name, analyzer=ANALYZER)
