"""The engine's entry points: scan a path, a stream or bytes; get ArtifactReports back."""
from __future__ import annotations

import io
import os
import stat
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

from modelscreen.schemas import ArtifactReport, Severity, Verdict
from modelscreen import __version__
from modelscreen.engine.analyzers.all import analyzer_for
from modelscreen.engine.context import ScanContext
from modelscreen.engine.hashing import HashingReader
from modelscreen.engine.limits import Budget, LimitExceeded, Limits
from modelscreen.engine.pickle_head import may_run_code, may_start_pickle
from modelscreen.engine.sniff import EXPECTED_BY_SUFFIX, HEAD_BYTES, sniff, suffix_of
from modelscreen.schemas.formats import CODE_EXECUTING, MODEL_FORMATS, Format
from modelscreen.engine.verdict import verdict_for, worst_verdict
from modelscreen.engine.yara.hook import scan_with_rules
from modelscreen.schemas.inventory import TensorDigest, TensorManifest

ENGINE_VERSION = __version__
SPOOL_MEMORY = 8 * 1024 * 1024
# Sniffed formats that say nothing about what the bytes are
UNDETERMINED = frozenset({Format.unknown, Format.binary})
TEXTUAL = frozenset({Format.text, Format.json, Format.yaml})
ARCHIVES = frozenset({Format.zip, Format.tar, Format.sevenzip, Format.gzip, Format.bz2, Format.xz, Format.lz4})


def _size_of(stream: BinaryIO) -> int | None:
    try:
        pos = stream.tell()
        end = stream.seek(0, io.SEEK_END)
        stream.seek(pos)
        return end
    except (OSError, ValueError, AttributeError):
        return None


def _seekable(stream: BinaryIO, limits: Limits) -> tuple[BinaryIO, bool]:
    """Spool a non-seekable stream (bounded) so parsers can seek; returns (stream, truncated)."""
    try:
        if stream.seekable():
            return stream, False
    except (AttributeError, ValueError):
        pass
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_MEMORY)
    copied = 0
    while True:
        chunk = stream.read(1 << 20)
        if not chunk:
            break
        copied += len(chunk)
        if copied > limits.max_file_bytes:
            spool.seek(0)
            return spool, True
        spool.write(chunk)
    spool.seek(0)
    return spool, False


def _check_name(ctx: ScanContext, fmt: str) -> None:
    suffix = suffix_of(ctx.name)
    if not suffix or suffix not in EXPECTED_BY_SUFFIX:
        return
    expected = EXPECTED_BY_SUFFIX[suffix]
    if fmt in expected or fmt == Format.empty:
        return
    hides_code = fmt in CODE_EXECUTING or fmt in (Format.elf, Format.pe, Format.macho)
    # a model or archive name over content that is no binary format at all: a broken or swapped file
    not_a_model = fmt in UNDETERMINED | TEXTUAL and bool(expected & (MODEL_FORMATS | ARCHIVES))
    ctx.add(
        "FORMAT-EXTENSION-MISMATCH",
        Severity.medium if hides_code or not_a_model else Severity.low,
        f"Content is {fmt} but the name says {suffix}",
        f"the file name suggests {', '.join(sorted(expected))}, the content is {fmt}; a loader that trusts "
        "the content (or a person who trusts the name) will be misled",
        ctx.name,
        analyzer="sniff",
    )


def _may_be_unpickled(ctx: ScanContext, fmt: Format, head: bytes) -> bool:
    """Content the sniffer did not type as a pickle, that a loader may still unpickle: undetermined bytes on
    which an unpickler reaches an import or a call, or text under a pickle's name (torch.load / pickle.load
    by name) that starts with an opcode."""
    if fmt in UNDETERMINED and may_run_code(head):
        return True
    return fmt in UNDETERMINED | TEXTUAL and Format.pickle in EXPECTED_BY_SUFFIX.get(suffix_of(ctx.name), ()) \
        and may_start_pickle(head)


def _check_empty(ctx: ScanContext) -> None:
    expected = EXPECTED_BY_SUFFIX.get(suffix_of(ctx.name), set())
    if expected & MODEL_FORMATS:
        ctx.add("MODEL-FILE-EMPTY", Severity.medium, "Empty file with a model file name",
                f"the name says {suffix_of(ctx.name)} but the file has no bytes: a failed or truncated upload, "
                "or a placeholder where a model was expected", ctx.name, analyzer="sniff")


def scan_stream(
    stream: BinaryIO,
    path: str,
    *,
    name: str | None = None,
    size: int | None = None,
    depth: int = 0,
    parent: str | None = None,
    limits: Limits | None = None,
    budget: Budget | None = None,
    tensor_digests: bool = False,
) -> list[ArtifactReport]:
    """Scan one artifact from a binary stream. Returns its report first, then its members' reports.
    `tensor_digests`: a safetensors file's report also carries its per-tensor digests (tensor_manifest),
    hashed in the same pass (about one more SHA-256 of the data)."""
    limits = limits or Limits()
    budget = budget or Budget(limits)
    started = time.monotonic()
    name = name if name is not None else path.rsplit("!", 1)[-1]
    stream, truncated = _seekable(stream, limits)
    if size is None:
        size = _size_of(stream)
    reader = HashingReader(stream, size)
    ctx = ScanContext(path=path, limits=limits, budget=budget, depth=depth, name=name, size=size,
                      tensor_digests=tensor_digests)
    ctx.member_scanner = lambda s, p, **kw: scan_stream(s, p, limits=limits, **kw)
    error: str | None = None
    fmt = Format.unknown
    head = b""
    try:
        head = reader.read(HEAD_BYTES)
        tail = b""
        if size is not None and size > HEAD_BYTES:
            tail = _peek(stream, max(size - HEAD_BYTES, HEAD_BYTES), HEAD_BYTES)
        fmt = ctx.format = sniff(head, tail, size)
        _check_name(ctx, fmt)
        if truncated or (size is not None and size > limits.max_file_bytes):
            raise LimitExceeded("max_file_bytes", f"artifact is larger than {limits.max_file_bytes} bytes")
        analyze = analyzer_for(fmt)
        if analyze is not None:
            reader.seek(0)
            analyze(reader, ctx)
        if fmt == Format.empty:
            _check_empty(ctx)
        elif "format" not in ctx.notes and _may_be_unpickled(ctx, fmt, head):
            reader.seek(0)
            analyzer_for(Format.pickle)(reader, ctx)
    except LimitExceeded as exc:
        ctx.limit_finding(exc)
    except MemoryError:
        raise  # the process is out of memory: its runner (modelscreen.sandbox) reports LIMIT-MEMORY
    except Exception as exc:  # a parser crash is an error verdict with the reason, never clean
        error = f"{type(exc).__name__}: {exc}"[:500]
        ctx.add("ENGINE-ERROR", Severity.info, "Analysis failed", error, analyzer="engine", uncapped=True)
    # --- YARA rules (workers/engine/yara/hook.py): bounded reads of the raw stream, never through the
    # hashing reader; never raises. ---
    if not truncated and size and size <= limits.max_file_bytes:
        scan_with_rules(ctx, lambda off, n: _peek(stream, off, n), size, ctx.notes.get("format", fmt))
    # --- end YARA rules ---
    try:
        sha256, total = reader.finish()
    except OSError as exc:
        sha256, total = None, size
        error = error or f"read failed: {exc}"
    if ctx.dropped_findings:
        ctx.add("FINDINGS-TRUNCATED", Severity.info, f"{ctx.dropped_findings} more findings not listed",
                analyzer="engine", uncapped=True)
    fmt = ctx.notes.get("format", fmt)
    verdict = verdict_for(ctx.findings, error)
    if ctx.members:
        verdict = worst_verdict([verdict, *(m.verdict for m in ctx.members if m.parent == path)])
    report = ArtifactReport(
        path=path,
        sha256=sha256,
        size=total,
        format=fmt,
        verdict=verdict,
        findings=ctx.findings,
        error=error,
        parent=parent,
        duration_ms=round((time.monotonic() - started) * 1000, 3),
        ruleset_version=(ctx.notes.get("yara_coverage") or {}).get("ruleset"),
        tensor_manifest=_tensor_manifest(ctx.notes.get("tensor_manifest"), reader, sha256, total)
        if not error else None,
    )
    return [report, *ctx.members]


def _tensor_manifest(found: dict | None, reader: HashingReader, sha256: str | None, size: int | None):
    if not found or not sha256:
        return None
    from pydantic import ValidationError

    try:
        tensors = [TensorDigest(name=name, dtype=dtype, shape=shape, begin=b, end=e, sha256=digest)
                   for (name, dtype, shape, b, e), digest in zip(found["tensors"], reader.region_digests())]
        return TensorManifest(sha256=sha256, size=size, header_sha256=found["header_sha256"],
                              metadata=found["metadata"], tensors=sorted(tensors, key=lambda t: t.name))
    except ValidationError:
        return None  # a header the analyzer already reported as malformed: no baseline from it


def _peek(stream: BinaryIO, offset: int, n: int) -> bytes:
    pos = stream.tell()
    try:
        stream.seek(offset)
        return stream.read(n)
    finally:
        stream.seek(pos)


def scan_bytes(data: bytes, path: str = "<bytes>", **kw) -> list[ArtifactReport]:
    return scan_stream(io.BytesIO(data), path, size=len(data), **kw)


def scan_path(path: str | os.PathLike, *, limits: Limits | None = None) -> list[ArtifactReport]:
    """Scan one file. Directories: use `scan_paths` (a directory given here, or one that cannot be listed,
    is an error artifact). Never raises: whatever goes wrong is this artifact's error verdict."""
    p = Path(path)
    display = os.fspath(path)
    try:
        st = p.stat()
        if stat.S_ISDIR(st.st_mode):
            with os.scandir(p):  # raises the reason it cannot be listed, if any
                pass
            raise OSError(f"is a directory: {display}")
        if not stat.S_ISREG(st.st_mode):
            raise OSError(f"not a regular file: {display}")
        with open(p, "rb", buffering=0) as fh:
            return scan_stream(fh, display, name=p.name, size=st.st_size, limits=limits)
    except MemoryError:
        raise  # the process is out of memory: its runner (modelscreen.sandbox) reports LIMIT-MEMORY
    except Exception as exc:  # noqa: BLE001 - one artifact's failure must not lose the others' reports
        return [ArtifactReport(path=display, format=Format.unreadable, verdict=Verdict.error,
                               error=f"{type(exc).__name__}: {exc}"[:500])]


def iter_files(paths: Iterable[str | os.PathLike]) -> Iterator[Path]:
    """Regular files under the given paths, recursively, sorted; symlinked directories are not followed.
    A directory that cannot be listed is yielded itself, so the scan reports it as an error artifact."""
    for raw in paths:
        p = Path(raw)
        if p.is_dir() and not p.is_symlink():
            unreadable: list[OSError] = []
            for root, dirs, files in os.walk(p, onerror=unreadable.append):
                dirs.sort()
                for f in sorted(files):
                    yield Path(root) / f
                while unreadable:
                    yield Path(unreadable.pop().filename)
            while unreadable:
                yield Path(unreadable.pop().filename)
        else:
            yield p


def scan_paths(
    paths: Iterable[str | os.PathLike],
    *,
    limits: Limits | None = None,
    progress: Callable[[Path, int], None] | None = None,
) -> Iterator[ArtifactReport]:
    for f in iter_files(paths):
        reports = scan_path(f, limits=limits)
        if progress:
            progress(f, reports[0].size or 0)
        yield from reports
