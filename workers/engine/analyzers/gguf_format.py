"""GGUF (llama.cpp): validate the header the way ggml's reader does and analyse the chat templates.

Layout (little-endian; big-endian files exist and are recognised by their version field):
magic "GGUF", version u32 (1-3), tensor count and metadata count (u32 in v1, u64 since v2), the
metadata key/value pairs (key: string; type: u32; value), the tensor descriptors (name, n_dims u32,
dims, ggml type u32, offset u64), padding to `general.alignment` (default 32), the tensor data.

Only the header is read: string arrays (the token list) are walked string by string, fixed-size
arrays are skipped by seeking, tensor data is never read (the hashing reader hashes it afterwards).
Chat templates (`tokenizer.chat_template`, `tokenizer.chat_template.<name>`) are parsed as Jinja
syntax trees (workers/engine/templates.py), never rendered: the injection of CVE-2024-34359. A large
file's template may sit after the token list, past the region the YARA pass scans with its header
rules, so such templates are also matched against the template rules here.
"""
from __future__ import annotations

import io
import struct
from typing import BinaryIO

from modelscreen.schemas import Severity
from modelscreen.schemas.formats import Format
from modelscreen.engine.analyzers.registry import register
from modelscreen.engine.context import ScanContext
from modelscreen.engine.substream import SubStream
from modelscreen.engine.analyzers.targets import targets_in_text
from modelscreen.engine.templates import MAX_TEMPLATE_CHARS, report_template
from modelscreen.engine.yara.hook import HEAD_REGION, SMALL_ARTIFACT
from modelscreen.engine.yara.loader import default_ruleset
from modelscreen.engine.yara.matcher import match

ANALYZER = "gguf"
BUF = 1 << 20
MAX_KEY = 1 << 16
MAX_KEPT_STRING = 4096  # ordinary metadata strings kept (for `general.*` context); templates: MAX_TEMPLATE_CHARS
MAX_ARRAY_DEPTH = 4
MAX_REGION_SCANS = 16
GGML_MAX_DIMS = 4
GGML_MAX_NAME = 64  # including the terminating NUL
DEFAULT_ALIGNMENT = 32

# value type -> (name, fixed size or None for strings/arrays)
TYPES = {0: ("uint8", 1), 1: ("int8", 1), 2: ("uint16", 2), 3: ("int16", 2), 4: ("uint32", 4), 5: ("int32", 4),
         6: ("float32", 4), 7: ("bool", 1), 8: ("string", None), 9: ("array", None), 10: ("uint64", 8),
         11: ("int64", 8), 12: ("float64", 8)}
_FMT = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}
# ggml type id -> (name, block size, bytes per block) (ggml.h / gguf-py GGML_QUANT_SIZES)
GGML_TYPES = {
    0: ("F32", 1, 4), 1: ("F16", 1, 2), 2: ("Q4_0", 32, 18), 3: ("Q4_1", 32, 20), 6: ("Q5_0", 32, 22),
    7: ("Q5_1", 32, 24), 8: ("Q8_0", 32, 34), 9: ("Q8_1", 32, 40), 10: ("Q2_K", 256, 84), 11: ("Q3_K", 256, 110),
    12: ("Q4_K", 256, 144), 13: ("Q5_K", 256, 176), 14: ("Q6_K", 256, 210), 15: ("Q8_K", 256, 292),
    16: ("IQ2_XXS", 256, 66), 17: ("IQ2_XS", 256, 74), 18: ("IQ3_XXS", 256, 98), 19: ("IQ1_S", 256, 50),
    20: ("IQ4_NL", 32, 18), 21: ("IQ3_S", 256, 110), 22: ("IQ2_S", 256, 82), 23: ("IQ4_XS", 256, 136),
    24: ("I8", 1, 1), 25: ("I16", 1, 2), 26: ("I32", 1, 4), 27: ("I64", 1, 8), 28: ("F64", 1, 8),
    29: ("IQ1_M", 256, 56), 30: ("BF16", 1, 2), 34: ("TQ1_0", 256, 54), 35: ("TQ2_0", 256, 66),
    39: ("MXFP4", 32, 17), 40: ("NVFP4", 64, 36), 41: ("Q1_0", 128, 18),
}
_REMOVED_TYPES = {4: "Q4_2", 5: "Q4_3", 31: "Q4_0_4_4", 32: "Q4_0_4_8", 33: "Q4_0_8_8", 36: "IQ4_NL_4_4",
                  37: "IQ4_NL_4_8", 38: "IQ4_NL_8_8"}


class _Stop(Exception):
    """The header is malformed past the point where parsing can continue (already reported)."""


class _Reader:
    """Sequential reads over the stream with a 1 MiB buffer; seeks forward to skip."""

    def __init__(self, stream: BinaryIO, size: int, endian: str):
        self.stream = stream
        self.size = size
        self.e = endian
        self.pos = 0
        self._buf = b""
        self._buf_start = 0

    def remaining(self) -> int:
        return self.size - self.pos

    def read(self, n: int) -> bytes:
        if n < 0 or self.pos + n > self.size:
            raise EOFError
        off = self.pos - self._buf_start
        if 0 <= off and off + n <= len(self._buf):
            self.pos += n
            return self._buf[off:off + n]
        self.stream.seek(self.pos)
        if n > BUF:
            data = self.stream.read(n)
        else:
            self._buf = self.stream.read(BUF)
            self._buf_start = self.pos
            data = self._buf[:n]
        if len(data) < n:
            raise EOFError
        self.pos += n
        return data

    def skip(self, n: int) -> None:
        if n < 0 or self.pos + n > self.size:
            raise EOFError
        self.pos += n

    def unpack(self, fmt: str):
        s = struct.Struct(self.e + fmt)
        return s.unpack(self.read(s.size))[0]


@register(Format.gguf)
def analyze(stream: BinaryIO, ctx: ScanContext) -> None:
    size = ctx.size if ctx.size is not None else stream.seek(0, io.SEEK_END)
    stream.seek(0)
    head = stream.read(24)
    if len(head) < 8 or head[:4] != b"GGUF":
        ctx.add("GGUF-TRUNCATED", Severity.medium, "File too short for a GGUF header", analyzer=ANALYZER)
        return
    (version,) = struct.unpack_from("<I", head, 4)
    endian = "<"
    if version not in (1, 2, 3):
        (be,) = struct.unpack_from(">I", head, 4)
        if be in (2, 3):
            endian = ">"
            version = be
            ctx.add("GGUF-BIG-ENDIAN", Severity.info, "Big-endian GGUF file",
                    "big-endian GGUF files load only on big-endian hosts", "header", analyzer=ANALYZER)
        else:
            ctx.add("GGUF-BAD-VERSION", Severity.medium, "Unknown GGUF version",
                    f"version {version} (known: 1, 2, 3); the header was not analysed", "header",
                    evidence=head[:8], analyzer=ANALYZER)
            return
    r = _Reader(stream, size, endian)
    r.skip(8)
    st = _State(ctx, r, version, size)
    try:
        st.run()
    except _Stop:
        pass
    except EOFError:
        ctx.add("GGUF-TRUNCATED", Severity.medium, "Header runs past the end of the file",
                f"while reading {st.where}: the file ends at {size}", st.where, analyzer=ANALYZER)
    st.finish(stream)


class _State:
    def __init__(self, ctx: ScanContext, r: _Reader, version: int, size: int):
        self.ctx = ctx
        self.r = r
        self.version = version
        self.size = size
        self.where = "header"
        self.len_fmt = "I" if version == 1 else "Q"
        self.alignment = DEFAULT_ALIGNMENT
        self.kv: dict[str, object] = {}
        self.templates: list[tuple[str, str, int, int]] = []  # (key, text, offset, length)
        self.template_names: list[str] = []
        self.tensors: list[tuple[int, int, str]] = []  # (begin, end, name) relative to the data section
        self.data_start: int | None = None

    def bad(self, rule: str, title: str, detail: str, where: str | None = None, sev=Severity.medium,
            stop: bool = False, evidence=None) -> None:
        self.ctx.add(rule, sev, title, detail, where or self.where, evidence=evidence, analyzer=ANALYZER)
        if stop:
            raise _Stop

    # --- header ----------------------------------------------------------------------------------
    def run(self) -> None:
        r = self.r
        n_tensors = r.unpack(self.len_fmt)
        n_kv = r.unpack(self.len_fmt)
        if n_tensors * 24 > self.size or n_kv * 13 > self.size:
            self.bad("GGUF-COUNT-INVALID", "Header counts exceed what the file can hold",
                     f"{n_tensors} tensors and {n_kv} metadata entries cannot fit in {self.size} bytes; "
                     "readers that allocate by these counts exhaust memory", "header", stop=True)
        seen: set[str] = set()
        for i in range(n_kv):
            if i % 256 == 0:
                self.ctx.check_time()
            self.where = f"metadata entry {i}"
            key_raw = self.string_bytes(MAX_KEY, what="key")
            key = key_raw.decode("utf-8", "backslashreplace")
            self.where = key or f"metadata entry {i}"
            if not key_raw:
                self.bad("GGUF-BAD-KEY", "Empty metadata key", f"metadata entry {i} has an empty key")
            else:
                try:
                    key_raw.decode("utf-8")
                except UnicodeDecodeError:
                    self.bad("GGUF-BAD-KEY", "Metadata key is not UTF-8", f"entry {i}", evidence=key_raw)
            if key in seen:
                self.bad("GGUF-DUPLICATE-KEY", "Metadata key appears more than once",
                         f"{key!r} is defined twice: readers keep different copies (ggml refuses the file)")
            seen.add(key)
            vtype = r.unpack("I")
            value = self.value(vtype, key, depth=0)
            self.kv[key] = value
        self.check_alignment()
        self.where = "tensor descriptors"
        names: set[str] = set()
        for i in range(n_tensors):
            if i % 256 == 0:
                self.ctx.check_time()
            self.where = f"tensor {i}"
            self.tensor(i, names)
        pad = (-r.pos) % self.alignment
        self.data_start = r.pos + pad

    def string_bytes(self, keep: int, what: str = "string") -> bytes:
        n = self.r.unpack(self.len_fmt)
        if n > self.r.remaining():
            self.bad("GGUF-STRING-LENGTH-INVALID", f"{what.capitalize()} length runs past the end of the file",
                     f"a {what} of {n} bytes at offset {self.r.pos} in a {self.size}-byte file", stop=True)
        if n <= keep:
            return self.r.read(n)
        self.r.skip(n)
        return b""

    def value(self, vtype: int, key: str, depth: int):
        r = self.r
        if vtype not in TYPES:
            self.bad("GGUF-BAD-TYPE", "Unknown metadata value type",
                     f"{key!r} has value type {vtype} (known 0-12); the rest of the header cannot be read",
                     stop=True)
        if vtype == 8:
            start = r.pos
            n = r.unpack(self.len_fmt)
            r.pos = start
            is_template = key.startswith("tokenizer.chat_template") and depth == 0
            keep = MAX_TEMPLATE_CHARS * 4 if is_template else MAX_KEPT_STRING
            raw = self.string_bytes(keep)
            if is_template:
                if n > keep:
                    self.bad("TEMPLATE-TOO-LARGE", "Chat template too large to analyse",
                             f"{key!r} holds {n} bytes", key)
                    return None
                text = raw.decode("utf-8", "replace")
                self.templates.append((key, text, start + (4 if self.version == 1 else 8), n))
                return text
            text = raw.decode("utf-8", "replace") if raw or n == 0 else None
            if text and "_target_" in text:
                targets_in_text(self.ctx, text, key)  # Hydra/NeMo configs carried as metadata
            return text
        if vtype == 9:
            if depth >= 1:
                self.bad("GGUF-NESTED-ARRAY", "Array nested in an array",
                         f"{key!r}: ggml's reader refuses nested arrays while other readers accept them")
            if depth >= MAX_ARRAY_DEPTH:
                self.bad("GGUF-NESTED-ARRAY", "Arrays nested too deeply", f"{key!r}: depth {depth}", stop=True)
            itype = r.unpack("I")
            count = r.unpack(self.len_fmt)
            if itype not in TYPES:
                self.bad("GGUF-BAD-TYPE", "Unknown array item type",
                         f"{key!r} is an array of type {itype}; the rest of the header cannot be read", stop=True)
            fixed = TYPES[itype][1]
            min_item = fixed if fixed is not None else (4 if self.version == 1 else 8)
            if count * min_item > r.remaining():
                self.bad("GGUF-ARRAY-LENGTH-INVALID", "Array length runs past the end of the file",
                         f"{key!r} declares {count} items of {TYPES[itype][0]}; the file has {r.remaining()} "
                         "bytes left", stop=True)
            if fixed is not None:
                if key == "tokenizer.chat_templates":
                    return None
                r.skip(count * fixed)
                return None
            items = []
            for j in range(count):
                if j % 65536 == 0:
                    self.ctx.check_time()
                v = self.value(itype, key, depth + 1)
                if key == "tokenizer.chat_templates" and isinstance(v, str) and len(items) < 256:
                    items.append(v)
            if key == "tokenizer.chat_templates":
                self.template_names = items
            return None
        fmt = _FMT[vtype]
        return r.unpack(fmt)

    def check_alignment(self) -> None:
        if "general.alignment" not in self.kv:
            return
        a = self.kv["general.alignment"]
        if not isinstance(a, int) or isinstance(a, bool) or a <= 0 or a & (a - 1):
            self.bad("GGUF-BAD-ALIGNMENT", "Invalid general.alignment",
                     f"general.alignment is {a!r}; it must be a power-of-two uint32 (ggml refuses the file, "
                     "other readers fall back to 32)", "general.alignment")
            return
        self.alignment = a

    def tensor(self, i: int, names: set[str]) -> None:
        r = self.r
        raw = self.string_bytes(1 << 16, what="tensor name")
        name = raw.decode("utf-8", "backslashreplace") or f"tensor {i}"
        self.where = name
        if not raw:
            self.bad("GGUF-TENSOR-NAME", "Tensor without a name", f"tensor {i} has an empty name")
        elif len(raw) >= GGML_MAX_NAME:
            self.bad("GGUF-TENSOR-NAME", "Tensor name too long",
                     f"{len(raw)} bytes; ggml keeps at most {GGML_MAX_NAME - 1} and refuses the file", sev=Severity.low)
        if name in names:
            self.bad("GGUF-DUPLICATE-TENSOR", "Tensor name appears more than once",
                     f"{name!r} is described twice: loaders pick different copies")
        names.add(name)
        n_dims = r.unpack("I")
        if n_dims > GGML_MAX_DIMS:
            self.bad("GGUF-TENSOR-DIMS", "Tensor has too many dimensions",
                     f"{name!r} has {n_dims} dimensions (ggml supports {GGML_MAX_DIMS}); the rest of the header "
                     "cannot be trusted", stop=n_dims > 64)
        dims = [r.unpack("I" if self.version == 1 else "Q") for _ in range(min(n_dims, 64))]
        gtype = r.unpack("I")
        offset = r.unpack("Q")
        count = 1
        for d in dims:
            count *= d
        if any(d >= 1 << 63 for d in dims) or count >= 1 << 63:
            self.bad("GGUF-TENSOR-DIMS", "Tensor dimensions overflow",
                     f"{name!r} has dimensions {dims}: the element count overflows int64")
            return
        info = GGML_TYPES.get(gtype)
        if info is None:
            old = _REMOVED_TYPES.get(gtype)
            self.bad("GGUF-TENSOR-TYPE", "Unknown tensor type",
                     f"{name!r} has ggml type {gtype}" + (f" ({old}, removed from ggml)" if old else ""))
            return
        tname, block, type_size = info
        if dims and dims[0] % block:
            self.bad("GGUF-TENSOR-DIMS", "Tensor row not a whole number of blocks",
                     f"{name!r}: first dimension {dims[0]} is not a multiple of {tname}'s block size {block}")
            return
        nbytes = count // block * type_size
        if offset % self.alignment:
            self.bad("GGUF-TENSOR-MISALIGNED", "Tensor data offset not aligned",
                     f"{name!r} starts at data offset {offset}, not a multiple of the alignment {self.alignment}")
        self.tensors.append((offset, offset + nbytes, name))

    # --- after the header ------------------------------------------------------------------------
    def finish(self, stream: BinaryIO) -> None:
        ctx = self.ctx
        if self.data_start is not None:
            self.check_data(stream)
        names = set(self.template_names)
        for key, text, offset, length in self.templates:
            report_template(ctx, text, key, analyzer=ANALYZER)
            self.yara_template(stream, key, offset, length)
        for name in sorted(names):
            if f"tokenizer.chat_template.{name}" not in self.kv:
                ctx.add("GGUF-TEMPLATE-MISSING", Severity.low, "Listed chat template not present",
                        f"tokenizer.chat_templates lists {name!r} but no tokenizer.chat_template.{name} exists",
                        "tokenizer.chat_templates", analyzer=ANALYZER)
        ctx.notes["gguf"] = {"version": self.version, "tensors": len(self.tensors),
                             "templates": [t[0] for t in self.templates], "alignment": self.alignment}

    def check_data(self, stream: BinaryIO) -> None:
        ctx = self.ctx
        data_start = self.data_start or 0
        data_size = self.size - data_start
        if data_size < 0:
            ctx.add("GGUF-TRUNCATED", Severity.medium, "No room for tensor data",
                    f"the header ends at {data_start}, past the end of the file", "tensor data", analyzer=ANALYZER)
            return
        expected = 0
        prev = None
        scans = 0
        for begin, end, name in sorted(self.tensors):
            if end > data_size:
                ctx.add("GGUF-TENSOR-OUT-OF-BOUNDS", Severity.medium, "Tensor data runs past the end of the file",
                        f"{name!r} occupies data offsets [{begin}, {end}); the data section has {data_size} bytes",
                        name, analyzer=ANALYZER)
            if begin < expected:
                ctx.add("GGUF-TENSOR-OVERLAP", Severity.medium, "Tensor data overlaps another tensor",
                        f"{name!r} at [{begin}, {end}) overlaps {prev!r} ending at {expected}", name, analyzer=ANALYZER)
            elif begin - expected >= self.alignment:
                ctx.add("GGUF-GAP", Severity.medium, "Unreferenced bytes between tensors",
                        f"data offsets [{expected}, {begin}) belong to no tensor (before {name!r}); hidden data can "
                        "travel there; they were scanned as a member", f"data offset {expected}", analyzer=ANALYZER)
                if scans < MAX_REGION_SCANS:
                    scans += 1
                    self.scan_region(stream, data_start + expected, begin - expected, f"<gap at {expected}>")
            if end > expected:
                expected, prev = end, name
        tail = data_size - expected
        if self.tensors and tail >= self.alignment:
            ctx.add("GGUF-TRAILING-BYTES", Severity.low, f"{tail} bytes after the last tensor",
                    "loaders ignore them; they were scanned as a member", f"data offset {expected}", analyzer=ANALYZER)
            if scans < MAX_REGION_SCANS:
                self.scan_region(stream, data_start + expected, tail, "<trailing data>")

    def scan_region(self, stream: BinaryIO, offset: int, length: int, name: str) -> None:
        length = max(min(length, self.size - offset), 0)
        if length:
            self.ctx.scan_member(name, SubStream(stream, offset, length), length)

    def yara_template(self, stream: BinaryIO, key: str, offset: int, length: int) -> None:
        """Template rules over a template the YARA pass will not reach with its header rules."""
        if self.size <= SMALL_ARTIFACT or offset + length <= HEAD_REGION or not length:
            return
        try:
            ruleset, _reason = default_ruleset()
            if ruleset is None:
                return
            stream.seek(offset)
            data = stream.read(min(length, MAX_TEMPLATE_CHARS * 4))
            for m in match(ruleset, data, scopes={"template"}, base_offset=offset, timeout=30):
                meta = m.meta
                self.ctx.add(meta.id, meta.severity, f"{meta.name}: {meta.description}",
                             f"YARA rule {meta.name} (category {meta.category}, score {meta.score}, rule version "
                             f"{meta.version}) matched {m.count} time(s) in {key} at offset(s) "
                             f"{', '.join(str(o) for o in m.offsets)}", key, evidence=m.data or None,
                             analyzer=f"yara:{ruleset.version}", references=[meta.reference])
        except Exception as exc:  # noqa: BLE001 - an addition; never a reason to fail the analysis
            self.ctx.add("YARA-ERROR", Severity.info, "YARA scan of a chat template failed",
                         f"{type(exc).__name__}: {exc}"[:300], key, analyzer=ANALYZER)
