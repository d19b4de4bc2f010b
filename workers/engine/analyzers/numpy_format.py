"""NumPy .npy files (versions 1.0, 2.0, 3.0). (.npz is a zip of .npy members: the zip analyzer.)

The header is a Python dict literal: its length is bounded first, then it is parsed with
ast.literal_eval (literals only, nothing is evaluated). An object dtype means the array body is a
pickle that np.load(allow_pickle=True) unpickles: it is handed to the pickle analyzer as a member.
"""
from __future__ import annotations

import ast
import io
import re
import struct
from typing import BinaryIO

from modelscreen.schemas import Severity
from modelscreen.schemas.formats import Format
from modelscreen.engine.analyzers.registry import register
from modelscreen.engine.context import ScanContext
from modelscreen.engine.substream import SubStream

ANALYZER = "numpy"
MAGIC = b"\x93NUMPY"
NUMPY_DEFAULT_MAX_HEADER = 10_000  # np.load refuses longer headers unless told otherwise
MAX_DIMS = 64
MAX_PARSED_HEADER = 1024 * 1024  # literal_eval cost grows with the text: parse no more than this
_SCALAR = re.compile(r"^[<>|=]?([a-zA-Z?])(\d*)(?:\[[a-zA-Z0-9]+\])?$")
_FIXED = {"?": 1, "b": 1, "B": 1, "h": 2, "H": 2, "i": 4, "I": 4, "l": 8, "L": 8, "q": 8, "Q": 8,
          "e": 2, "f": 4, "d": 8, "g": 16, "F": 8, "D": 16, "G": 32}


class _Descr(Exception):
    pass


def _has_object(descr) -> bool:
    if isinstance(descr, str):
        m = _SCALAR.match(descr)
        return bool(m and m.group(1) == "O")
    if isinstance(descr, (list, tuple)):
        return any(_has_object(d) for d in descr)
    return False


def _itemsize(descr, depth: int = 0) -> int:
    """Bytes per element of a descr, or raise _Descr when it cannot be told."""
    if depth > 16:
        raise _Descr("descr nested too deep")
    if isinstance(descr, str):
        m = _SCALAR.match(descr)
        if not m:
            raise _Descr(f"unknown dtype {descr!r}")
        kind, digits = m.group(1), m.group(2)
        n = int(digits) if digits else None
        if kind in ("b", "i", "u", "f", "c", "M", "m", "S", "a", "V") and n is not None:
            return n
        if kind == "U" and n is not None:
            return 4 * n
        if kind in _FIXED and n is None:
            return _FIXED[kind]
        if kind == "b" and n is None:
            return 1
        raise _Descr(f"unknown dtype {descr!r}")
    if isinstance(descr, list):
        total = 0
        for field in descr:
            if not isinstance(field, tuple) or len(field) not in (2, 3):
                raise _Descr("malformed structured dtype")
            sub = _itemsize(field[1], depth + 1)
            count = 1
            if len(field) == 3:
                shape = field[2] if isinstance(field[2], tuple) else (field[2],)
                for d in shape:
                    if not isinstance(d, int) or d < 0:
                        raise _Descr("malformed subarray shape")
                    count *= d
            total += sub * count
        return total
    raise _Descr("malformed dtype description")


@register(Format.numpy)
def analyze(stream: BinaryIO, ctx: ScanContext) -> None:
    size = ctx.size if ctx.size is not None else stream.seek(0, io.SEEK_END)
    stream.seek(0)
    pre = stream.read(12)
    if len(pre) < 10 or not pre.startswith(MAGIC):
        ctx.add("NUMPY-HEADER-INVALID", Severity.medium, "Truncated .npy preamble", analyzer=ANALYZER)
        return
    major, minor = pre[6], pre[7]
    if major == 1:
        (hlen,) = struct.unpack_from("<H", pre, 8)
        start = 10
    elif major in (2, 3) and len(pre) >= 12:
        (hlen,) = struct.unpack_from("<I", pre, 8)
        start = 12
    else:
        ctx.add("NUMPY-HEADER-INVALID", Severity.medium, f"Unknown .npy version {major}.{minor}",
                "np.load refuses this file; a different parser might read it otherwise", "offset 6", analyzer=ANALYZER)
        return
    if hlen > ctx.limits.max_header_bytes or start + hlen > size:
        ctx.add("NUMPY-HEADER-INVALID", Severity.medium, "The .npy header length is out of bounds",
                f"header length {hlen} (file {size} bytes, limit {ctx.limits.max_header_bytes})",
                f"offset {start - 4}", analyzer=ANALYZER)
        return
    if hlen > MAX_PARSED_HEADER:
        ctx.add("NUMPY-HEADER-INVALID", Severity.medium, "The .npy header is too large to parse",
                f"header length {hlen}; np.load refuses headers over {NUMPY_DEFAULT_MAX_HEADER} bytes by default "
                f"and this one is over {MAX_PARSED_HEADER}", f"offset {start - 4}", analyzer=ANALYZER)
        return
    if hlen > NUMPY_DEFAULT_MAX_HEADER:
        ctx.add("NUMPY-HEADER-LARGE", Severity.low, "Unusually large .npy header",
                f"{hlen} bytes; np.load refuses headers over {NUMPY_DEFAULT_MAX_HEADER} bytes by default",
                f"offset {start}", analyzer=ANALYZER)
    stream.seek(start)
    raw = stream.read(hlen)
    data_start = start + hlen
    try:
        text = raw.decode("utf-8" if major == 3 else "latin-1")
        header = ast.literal_eval(text)
    except (ValueError, SyntaxError, UnicodeDecodeError, MemoryError, RecursionError, TypeError) as exc:
        ctx.add("NUMPY-HEADER-INVALID", Severity.medium, "The .npy header is not a Python literal",
                f"{type(exc).__name__}: {str(exc)[:120]}", f"offset {start}", evidence=raw, analyzer=ANALYZER)
        return
    if not isinstance(header, dict) or set(header) != {"descr", "fortran_order", "shape"}:
        ctx.add("NUMPY-HEADER-INVALID", Severity.medium, "The .npy header has the wrong keys",
                "expected exactly descr, fortran_order and shape; np.load refuses it", f"offset {start}",
                evidence=raw, analyzer=ANALYZER)
        return
    descr, shape, fortran = header["descr"], header["shape"], header["fortran_order"]
    if (not isinstance(shape, tuple) or len(shape) > MAX_DIMS
            or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape)
            or not isinstance(fortran, bool)):
        ctx.add("NUMPY-HEADER-INVALID", Severity.medium, "Invalid shape or fortran_order in the .npy header",
                f"shape {str(shape)[:80]}, fortran_order {fortran!r}", f"offset {start}", analyzer=ANALYZER)
        return
    body = size - data_start
    if _has_object(descr):
        ctx.notes["format"] = Format.numpy_object
        ctx.add("NUMPY-OBJECT-DTYPE", Severity.medium, "Object array: the body is a pickle",
                f"dtype {str(descr)[:80]}: np.load(allow_pickle=True) unpickles the body, which can run code; "
                "the pickle was scanned", f"offset {data_start}", analyzer=ANALYZER,
                remediation="Load with allow_pickle=False, or store numeric arrays only")
        ctx.scan_member("<object array pickle>", SubStream(stream, data_start, body), body)
        return
    try:
        itemsize = _itemsize(descr)
    except _Descr as exc:
        ctx.add("NUMPY-HEADER-INVALID", Severity.medium, "Unrecognised dtype in the .npy header",
                str(exc), f"offset {start}", analyzer=ANALYZER)
        return
    count = 1
    for d in shape:
        count *= d
    expected = count * itemsize
    if expected > body:
        ctx.add("NUMPY-SIZE-MISMATCH", Severity.low, "The .npy body is shorter than its shape says",
                f"shape {shape} x {itemsize} bytes = {expected} bytes, the file holds {body}",
                f"offset {data_start}", analyzer=ANALYZER)
    elif expected < body:
        extra = body - expected
        ctx.add("NUMPY-TRAILING-DATA", Severity.medium, f"{extra} bytes after the array data",
                "np.load ignores them; hidden data travels with the array. It was scanned as a member",
                f"offset {data_start + expected}", evidence=_peek(stream, data_start + expected, 32), analyzer=ANALYZER)
        ctx.scan_member("<trailing data>", SubStream(stream, data_start + expected, extra), extra)


def _peek(stream: BinaryIO, offset: int, n: int) -> bytes:
    stream.seek(offset)
    return stream.read(n)
