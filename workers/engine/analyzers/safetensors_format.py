"""Safetensors: validate the header the way the specification (and the reference loader) does, and
flag what the loader lets through but divergent parsers read differently.

Only the 8-byte length, the JSON header and a few bytes at the start of byte tensors are read; the
tensor data is hashed by the HashingReader in one sequential pass.

Reference loader behaviour (safetensors 0.4-0.8): header length <= 100,000,000; header is UTF-8
JSON (serde_json: leading/trailing whitespace accepted, duplicate tensor names accepted with the last
one winning, unknown keys in a tensor entry ignored); `__metadata__` maps strings to strings;
tensors sorted by offsets must tile the data section exactly from 0 to its end.
"""
from __future__ import annotations

import hashlib
import io
import json
import pickletools
import struct
import sys
from typing import BinaryIO, NamedTuple

from modelscreen.schemas import Severity
from modelscreen.schemas.formats import Format
from modelscreen.engine.analyzers.registry import register
from modelscreen.engine.analyzers.targets import targets_in_text
from modelscreen.engine.context import ScanContext
from modelscreen.engine.substream import SubStream

ANALYZER = "safetensors"
# dtype -> bits per element (safetensors Dtype::bitsize)
DTYPE_BITS = {
    "BOOL": 8, "U8": 8, "I8": 8, "F8_E5M2": 8, "F8_E4M3": 8, "F8_E8M0": 8, "F8_E4M3FNUZ": 8, "F8_E5M2FNUZ": 8,
    "I16": 16, "U16": 16, "F16": 16, "BF16": 16, "I32": 32, "U32": 32, "F32": 32,
    "I64": 64, "U64": 64, "F64": 64, "C64": 64, "F4": 4, "F6_E2M3": 6, "F6_E3M2": 6,
}
USIZE = 1 << 64
MAX_PEEKS = 1024
MAX_REGION_SCANS = 16  # gaps and smuggled tensors scanned as members, per file
PEEK = 64
_BYTE_DTYPES = {"U8", "I8", "BOOL"}


class _Obj(dict):
    """A JSON object that remembers its duplicate keys."""

    __slots__ = ("duplicates",)

    def __init__(self, pairs):
        super().__init__(pairs)
        self.duplicates: list[str] = []
        if len(pairs) != len(self):
            seen: set[str] = set()
            self.duplicates = sorted({k for k, _ in pairs if k in seen or seen.add(k)})


class _TensorInfo(NamedTuple):
    """A well-formed tensor entry, kept compact (a header can list millions)."""

    dtype: str
    shape: tuple[int, ...]
    begin: int
    end: int


_TENSOR_KEYS = ("data_offsets", "dtype", "shape")


def _json_object(pairs):
    """object_pairs_hook: well-formed tensor entries become _TensorInfo, everything else _Obj."""
    if len(pairs) == 3 and tuple(sorted(k for k, _ in pairs)) == _TENSOR_KEYS:
        info = dict(pairs)
        dtype, shape, offsets = info["dtype"], info["shape"], info["data_offsets"]
        if (type(dtype) is str and type(shape) is list and len(shape) <= 1024
                and all(type(d) is int and 0 <= d < USIZE for d in shape)
                and type(offsets) is list and len(offsets) == 2
                and all(type(o) is int and 0 <= o < USIZE for o in offsets) and offsets[0] <= offsets[1]):
            return _TensorInfo(sys.intern(dtype), tuple(shape), offsets[0], offsets[1])
    return _Obj(pairs)


def _reject_constant(name: str):
    raise ValueError(f"{name} is not JSON")


def _payload_kind(data: bytes, region_len: int, read_at) -> str | None:
    if data.startswith(b"PK\x03\x04") or data.startswith(b"PK\x05\x06"):
        return "zip archive"
    if data.startswith(b"\x7fELF"):
        return "ELF executable"
    if data[:4] in (b"\xfe\xed\xfa\xce", b"\xfe\xed\xfa\xcf", b"\xce\xfa\xed\xfe", b"\xcf\xfa\xed\xfe"):
        return "Mach-O executable"
    if data.startswith(b"MZ") and len(data) >= 0x40:
        (lfanew,) = struct.unpack_from("<I", data, 0x3C)
        if 0x40 <= lfanew <= region_len - 4 and read_at(lfanew, 4) == b"PE\x00\x00":
            return "PE executable"
    if len(data) >= 2 and data[0] == 0x80 and 2 <= data[1] <= 5:
        ops = 0
        try:
            for _op, _arg, _pos in pickletools.genops(data):
                ops += 1
                if ops >= 3:
                    break
        except Exception:
            pass
        if ops >= 3:
            return f"pickle (protocol {data[1]})"
    return None


@register(Format.safetensors)
def analyze(stream: BinaryIO, ctx: ScanContext) -> None:
    size = ctx.size if ctx.size is not None else stream.seek(0, io.SEEK_END)
    stream.seek(0)
    pre = stream.read(8)
    if len(pre) < 8:
        ctx.add("SAFETENSORS-TRUNCATED", Severity.medium, "File shorter than the 8-byte header length", analyzer=ANALYZER)
        return
    (n,) = struct.unpack("<Q", pre)
    if n > ctx.limits.max_header_bytes:
        ctx.add("SAFETENSORS-HEADER-TOO-LARGE", Severity.medium, "Header length above the limit",
                f"the header declares {n} bytes (limit {ctx.limits.max_header_bytes}; the reference loader "
                "refuses more than 100,000,000); the header was not read", "offset 0", analyzer=ANALYZER)
        return
    if 8 + n > size:
        ctx.add("SAFETENSORS-HEADER-LENGTH-INVALID", Severity.medium, "Header length runs past the end of the file",
                f"the header declares {n} bytes, the file has {size}", "offset 0", analyzer=ANALYZER)
        return
    raw = stream.read(n)
    data_start = 8 + n
    data_size = size - data_start
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        ctx.add("SAFETENSORS-HEADER-INVALID", Severity.medium, "Header is not UTF-8",
                str(exc)[:200], f"offset {8 + exc.start}", evidence=raw[max(exc.start - 16, 0):exc.start + 16],
                analyzer=ANALYZER)
        return
    stripped = text.lstrip(" \t\r\n")
    if len(stripped) != len(text):
        ctx.add("SAFETENSORS-HEADER-LEADING-WHITESPACE", Severity.low, "Header starts with whitespace",
                "the specification wants '{' first; the reference loader accepts it, stricter parsers do not",
                "offset 8", analyzer=ANALYZER)
    if not stripped.startswith("{"):
        ctx.add("SAFETENSORS-HEADER-NOT-OBJECT", Severity.medium, "Header is not a JSON object",
                "the header must start with '{'", "offset 8", evidence=raw[:32], analyzer=ANALYZER)
        return
    body = stripped.rstrip(" ")
    if body != body.rstrip(" \t\r\n"):
        ctx.add("SAFETENSORS-HEADER-PADDING", Severity.low, "Header padded with whitespace other than spaces",
                "writers pad with spaces only", f"offset {8 + n - 1}", analyzer=ANALYZER)
    try:
        header = json.loads(stripped, object_pairs_hook=_json_object, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        ctx.add("SAFETENSORS-HEADER-INVALID", Severity.medium, "Header is not valid JSON",
                str(exc)[:200], "offset 8", evidence=raw[:64], analyzer=ANALYZER)
        return
    if not isinstance(header, dict):
        ctx.add("SAFETENSORS-HEADER-NOT-OBJECT", Severity.medium, "Header is not a JSON object", analyzer=ANALYZER)
        return
    header_sha256 = hashlib.sha256(raw).hexdigest() if ctx.tensor_digests else ""
    del raw, text, stripped, body  # up to max_header_bytes each: only the parsed header is kept
    for name in getattr(header, "duplicates", []):
        sev = Severity.high if name != "__metadata__" else Severity.medium
        ctx.add("SAFETENSORS-DUPLICATE-NAME", sev, "Tensor name appears more than once in the header",
                f"{name!r} is defined several times: the reference loader keeps the last definition, other "
                "parsers the first, so different tools load different tensors", name, analyzer=ANALYZER)

    meta = header.get("__metadata__")
    if "__metadata__" in header:
        if not isinstance(meta, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in meta.items()):
            ctx.add("SAFETENSORS-METADATA-INVALID", Severity.medium, "__metadata__ is not a string-to-string map",
                    "the reference loader refuses the file", "__metadata__",
                    evidence=json.dumps(meta)[:120] if meta is not None else "null", analyzer=ANALYZER)
        elif getattr(meta, "duplicates", None):
            ctx.add("SAFETENSORS-DUPLICATE-NAME", Severity.medium, "Duplicate keys in __metadata__",
                    f"keys {meta.duplicates[:5]} appear more than once", "__metadata__", analyzer=ANALYZER)
        if isinstance(meta, dict):
            for k, v in meta.items():
                if isinstance(v, str) and "_target_" in v:
                    targets_in_text(ctx, v, f"__metadata__.{k}")  # Hydra/NeMo configs carried as metadata

    tensors: list[tuple[int, int, str, str]] = []  # (begin, end, name, dtype) of entries with usable offsets
    for i, (name, info) in enumerate(header.items()):
        if i % 1024 == 0:
            ctx.check_time()
        if name == "__metadata__":
            continue
        _check_tensor(ctx, name, info, tensors)

    tensors.sort()
    _track_tensor_digests(stream, ctx, header, header_sha256, meta, tensors, data_start, data_size)
    expected = 0
    prev = None
    gaps = 0
    for begin, end, name, _dtype in tensors:
        if begin < expected:
            ctx.add("SAFETENSORS-OVERLAP", Severity.high, "Tensor data overlaps another tensor",
                    f"{name!r} at [{begin}, {end}) overlaps {prev!r} ending at {expected}: writing one changes the "
                    "other, and the loader refuses the file", name, analyzer=ANALYZER)
        elif begin > expected:
            ctx.add("SAFETENSORS-GAP", Severity.medium, "Unreferenced bytes between tensors",
                    f"bytes [{expected}, {begin}) of the data section belong to no tensor (before {name!r}); "
                    "hidden data can travel there", f"data offset {expected}", analyzer=ANALYZER)
            gaps += 1
            if gaps <= MAX_REGION_SCANS:
                _scan_region(ctx, stream, data_start + expected, begin - expected, f"<gap at {expected}>")
        if end > expected:
            expected, prev = end, name
    if expected > data_size:
        ctx.add("SAFETENSORS-OUT-OF-BOUNDS", Severity.medium, "Tensor data runs past the end of the file",
                f"tensors reach data offset {expected}, the data section has {data_size} bytes",
                prev, analyzer=ANALYZER)
    elif expected < data_size:
        ctx.add("SAFETENSORS-TRAILING-BYTES", Severity.medium, f"{data_size - expected} bytes after the last tensor",
                "the data section is not fully covered by tensors (the loader refuses this); the extra bytes "
                "were scanned as a member", f"data offset {expected}",
                evidence=_read_at(stream, data_start + expected, 32), analyzer=ANALYZER)
        _scan_region(ctx, stream, data_start + expected, data_size - expected, "<trailing data>")

    # Byte tensors whose content starts like an executable payload.
    # Only byte tensors are byte-scanned by tensor-data YARA rules (see workers/engine/yara/hook.py).
    ctx.notes["yara_tensor_regions"] = _merged(
        (data_start + b, data_start + e) for b, e, _n, d in tensors if d in _BYTE_DTYPES and e <= data_size)
    peeks = smuggled = 0
    for begin, end, name, dtype in tensors:
        if dtype not in _BYTE_DTYPES or end - begin < 4 or end > data_size:
            continue
        if peeks >= MAX_PEEKS:
            break
        peeks += 1
        head = _read_at(stream, data_start + begin, min(PEEK, end - begin))
        kind = _payload_kind(head, end - begin, lambda off, k, b=begin: _read_at(stream, data_start + b + off, k))
        if kind:
            ctx.add("SAFETENSORS-SMUGGLED-PAYLOAD", Severity.high, f"{dtype} tensor holds a {kind}",
                    f"tensor {name!r} (data offsets [{begin}, {end})) starts with the signature of a {kind}: "
                    "a file format that cannot carry code is carrying one; it was scanned as a member",
                    name, evidence=head[:32], analyzer=ANALYZER)
            smuggled += 1
            if smuggled <= MAX_REGION_SCANS:
                _scan_region(ctx, stream, data_start + begin, end - begin, f"<tensor {name}>")


def _track_tensor_digests(stream, ctx: ScanContext, header, header_sha256: str, meta, tensors, data_start: int,
                          data_size: int) -> None:
    """Ask the hashing reader for a digest of each tensor from the same pass (the drift baseline; the
    scanner puts it on the report as a TensorManifest)."""
    track = getattr(stream, "track_regions", None) if ctx.tensor_digests else None
    inside = [t for t in tensors if t[1] <= data_size]
    if track is None or not inside or not track([(data_start + b, data_start + e) for b, e, _n, _d in inside]):
        return
    ctx.notes["tensor_manifest"] = {
        "header_sha256": header_sha256,
        "metadata": {str(k): str(v) for k, v in meta.items()} if isinstance(meta, dict) else {},
        "tensors": [(name, dtype, _shape_of(header[name]), b, e) for b, e, name, dtype in inside],
    }


def _check_tensor(ctx: ScanContext, name: str, info, out: list) -> None:
    if isinstance(info, _TensorInfo):
        out.append((info.begin, info.end, name, info.dtype))
        _check_size(ctx, name, info.dtype, info.shape, info.begin, info.end)
        return
    if not isinstance(info, dict):
        ctx.add("SAFETENSORS-TENSOR-INVALID", Severity.medium, "Tensor entry is not an object",
                f"{name!r}: {json.dumps(info)[:80]}", name, analyzer=ANALYZER)
        return
    keys = set(info)
    missing = {"dtype", "shape", "data_offsets"} - keys
    if missing:
        ctx.add("SAFETENSORS-TENSOR-INVALID", Severity.medium, "Tensor entry misses required keys",
                f"{name!r} has no {', '.join(sorted(missing))}", name, analyzer=ANALYZER)
        return
    extra = keys - {"dtype", "shape", "data_offsets"}
    if extra:
        ctx.add("SAFETENSORS-TENSOR-EXTRA-KEYS", Severity.low, "Tensor entry has unknown keys",
                f"{name!r} has {', '.join(sorted(extra))[:120]}; the loader ignores them", name, analyzer=ANALYZER)
    if getattr(info, "duplicates", None):
        ctx.add("SAFETENSORS-TENSOR-INVALID", Severity.medium, "Tensor entry repeats a key",
                f"{name!r} repeats {', '.join(info.duplicates)}; the loader refuses it", name, analyzer=ANALYZER)
    dtype, shape, offsets = info["dtype"], info["shape"], info["data_offsets"]
    bits = DTYPE_BITS.get(dtype) if isinstance(dtype, str) else None
    if bits is None:
        ctx.add("SAFETENSORS-BAD-DTYPE", Severity.medium, "Unknown tensor dtype",
                f"{name!r} has dtype {json.dumps(dtype)[:40]}, not one of the specification's", name, analyzer=ANALYZER)
    if (not isinstance(shape, list) or len(shape) > 1024
            or not all(type(d) is int and 0 <= d < USIZE for d in shape)):
        ctx.add("SAFETENSORS-BAD-SHAPE", Severity.medium, "Invalid tensor shape",
                f"{name!r} has shape {json.dumps(shape)[:80]}; dimensions must be non-negative integers",
                name, analyzer=ANALYZER)
        shape = None
    if (not isinstance(offsets, list) or len(offsets) != 2
            or not all(type(o) is int and 0 <= o < USIZE for o in offsets) or offsets[0] > offsets[1]):
        ctx.add("SAFETENSORS-BAD-OFFSETS", Severity.medium, "Invalid data offsets",
                f"{name!r} has data_offsets {json.dumps(offsets)[:80]}", name, analyzer=ANALYZER)
        return
    begin, end = offsets
    out.append((begin, end, name, dtype if isinstance(dtype, str) else ""))
    if bits is not None and shape is not None:
        _check_size(ctx, name, dtype, shape, begin, end)


def _check_size(ctx: ScanContext, name: str, dtype: str, shape, begin: int, end: int) -> None:
    bits = DTYPE_BITS.get(dtype)
    if bits is None:
        ctx.add("SAFETENSORS-BAD-DTYPE", Severity.medium, "Unknown tensor dtype",
                f"{name!r} has dtype {json.dumps(dtype)[:40]}, not one of the specification's", name, analyzer=ANALYZER)
        return
    count = 1
    for d in shape:
        count *= d
    nbits = count * bits
    if nbits >= USIZE:
        ctx.add("SAFETENSORS-SHAPE-OVERFLOW", Severity.medium, "Tensor size overflows 64 bits",
                f"{name!r} has shape {shape} of {dtype}: more than 2^64 bits", name, analyzer=ANALYZER)
        return
    if nbits % 8:
        ctx.add("SAFETENSORS-SIZE-MISMATCH", Severity.medium, "Tensor does not fill whole bytes",
                f"{name!r}: {count} x {bits} bits is not a whole number of bytes", name, analyzer=ANALYZER)
        return
    if nbits // 8 != end - begin:
        ctx.add("SAFETENSORS-SIZE-MISMATCH", Severity.medium, "Tensor size does not match its data offsets",
                f"{name!r}: shape {shape} of {dtype} needs {nbits // 8} bytes, offsets [{begin}, {end}) hold "
                f"{end - begin}", name, analyzer=ANALYZER)


def _merged(spans) -> list[tuple[int, int]]:
    """Sorted spans with touching or overlapping ones joined (a million adjacent byte tensors: one span)."""
    out: list[list[int]] = []
    for start, end in spans:
        if out and start <= out[-1][1]:
            out[-1][1] = max(out[-1][1], end)
        else:
            out.append([start, end])
    return [(a, b) for a, b in out]


def _shape_of(info) -> list:
    return list(info.shape) if isinstance(info, _TensorInfo) else list(info.get("shape", []))


def _read_at(stream: BinaryIO, offset: int, n: int) -> bytes:
    stream.seek(offset)
    return stream.read(n)


def _scan_region(ctx: ScanContext, stream: BinaryIO, offset: int, length: int, name: str) -> None:
    size = ctx.size
    if size is not None:
        length = max(min(length, size - offset), 0)
    if length > 0:
        ctx.scan_member(name, SubStream(stream, offset, length), length)
