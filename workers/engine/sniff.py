"""Identify a format from its content (magic bytes and structure), never from the name alone."""
from __future__ import annotations

import json
import pickletools
import re
import struct

HEAD_BYTES = 64 * 1024

TORCH_LEGACY_MAGIC_PICKLE = b"\x80\x02\x8a\nl\xfc\x9cF\xf9 j\xa8P\x19."
ZIP_EOCD = b"PK\x05\x06"
ZIP64_EOCD_LOCATOR = b"PK\x06\x07"

# Opcodes a real pickle stream can begin with (protocol 0-5).
_PICKLE_FIRST = set(b"(c}])NILFSVXTUKMJGi\x88\x89\x8a\x8b\x8c\x8d\x8e\x8f\x94\x95\x93\x81\x80GBCdlt.")

# File-name suffix -> formats whose content is expected under it.
EXPECTED_BY_SUFFIX: dict[str, set[str]] = {
    ".pkl": {"pickle", "joblib", "zlib", "gzip", "bz2", "xz", "lzma", "lz4"},  # joblib.dump(compress=...) ".pickle": {"pickle"}, ".p": {"pickle"},
    # "zip": a PyTorch zip sniffs as zip; the zip analyzer refines it to pytorch-zip after the name check
    ".pt": {"pytorch-zip", "pytorch-legacy", "pickle", "zip"}, ".pth": {"pytorch-zip", "pytorch-legacy", "pickle", "zip"},
    ".bin": {"pytorch-zip", "pytorch-legacy", "pickle", "unknown", "binary", "zip"},
    ".ckpt": {"pytorch-zip", "pytorch-legacy", "pickle", "zip"},
    ".joblib": {"pickle", "joblib", "zlib", "gzip", "bz2", "xz", "lzma", "lz4"},
    ".npy": {"numpy"}, ".npz": {"numpy-npz", "zip"},
    ".safetensors": {"safetensors"}, ".gguf": {"gguf"},
    ".zip": {"zip", "pytorch-zip", "numpy-npz", "keras"}, ".keras": {"keras", "zip"},
    ".tar": {"tar", "pytorch-legacy"}, ".gz": {"gzip"}, ".tgz": {"gzip"}, ".bz2": {"bz2"},
    ".xz": {"xz"}, ".7z": {"7z"}, ".lz4": {"lz4"}, ".zst": {"zstd"},
    ".json": {"json"}, ".yaml": {"yaml", "text", "json"}, ".yml": {"yaml", "text", "json"},
    ".txt": {"text", "json", "yaml"}, ".md": {"text", "yaml"}, ".py": {"text", "yaml"},
    ".h5": {"hdf5"}, ".hdf5": {"hdf5"}, ".onnx": {"onnx", "binary", "unknown"},
    ".pb": {"tf-savedmodel", "onnx", "unknown", "text"}, ".jinja": {"text"}, ".j2": {"text"},
    ".png": {"png"}, ".jpg": {"jpeg"}, ".jpeg": {"jpeg"},
}

# Formats that execute code when a loader opens them.
CODE_EXECUTING = {"pickle", "pytorch-zip", "pytorch-legacy", "joblib", "numpy-object"}


def _looks_like_pickle(head: bytes) -> bool:
    """Protocol 2+ starts with PROTO; protocol 0/1 must parse as opcodes."""
    if not head:
        return False
    if head[0] == 0x80:
        return len(head) > 1 and head[1] <= 5
    if head[0] not in _PICKLE_FIRST:
        return False
    # Protocol 0/1: the opcodes must parse up to STOP, or for 16 opcodes when only the head is at hand.
    ops = 0
    try:
        for op, _arg, _pos in pickletools.genops(head):
            ops += 1
            if op.name == "STOP":
                return ops >= 2
            if ops >= 16 and len(head) >= HEAD_BYTES:
                return True
    except Exception:
        return False
    return False


def _looks_like_safetensors(head: bytes, size: int | None) -> bool:
    if len(head) < 10:
        return False
    (n,) = struct.unpack_from("<Q", head, 0)
    if n < 2:
        return False
    first = head[8:16].lstrip(b" \t\r\n")
    if size is not None and 8 + n > size:
        # a header length past the end (or absurdly large) in front of a JSON object: malformed safetensors
        return first.startswith(b'{"')
    return first.startswith(b"{")


def _ends_with_eocd(tail: bytes) -> bool:
    """A zip end-of-central-directory record whose comment length reaches exactly the end of the data."""
    start = max(len(tail) - 65535 - 22, 0)
    i = tail.rfind(ZIP_EOCD, start)
    while i >= 0:
        if i + 22 <= len(tail) and i + 22 + struct.unpack_from("<H", tail, i + 20)[0] == len(tail):
            return True
        i = tail.rfind(ZIP_EOCD, start, i)
    return False


# --- YAML: text whose lines are (almost all) YAML mapping/sequence/comment lines ---
_YAML_KEY = re.compile(r"""^\s*(?:[A-Za-z_][\w .\-/]*|"[^"\n]{1,200}"|'[^'\n]{1,200}')\s*:(?:\s.*)?$""")
_YAML_OTHER = re.compile(r"^(?:\s*-(?:\s.*)?|\s*#.*|---(?:\s.*)?|\.\.\.\s*|\s+\S.*|%(?:YAML|TAG)\s.*)$")
_YAML_PY_TAG = re.compile(r"^(?:---\s+)?(?:-\s+)?!!python/|^\s*[\w\-]+\s*:\s+!!python/", re.M)


def _looks_like_yaml(text: str, cut: bool) -> bool:
    lines = [ln for ln in text.splitlines()[:400] if ln.strip()]
    if cut and len(lines) > 1:
        lines = lines[:-1]  # the last line of a head may be cut
    if not lines:
        return False
    if lines[0].startswith(("%YAML", "%TAG")) or _YAML_PY_TAG.search(text[:4096]):
        return True
    keys = sum(1 for ln in lines if _YAML_KEY.match(ln))
    if keys < 2 or not _YAML_KEY.match(lines[0]) and not lines[0].startswith(("---", "#", "-")):
        return False
    ok = sum(1 for ln in lines if _YAML_KEY.match(ln) or _YAML_OTHER.match(ln))
    return ok >= 0.9 * len(lines)


# --- protobuf models (no magic): ONNX ModelProto and TensorFlow SavedModel, by strict structure ---
_ONNX_FIELDS = {1: 0, 2: 2, 3: 2, 4: 2, 5: 0, 6: 2, 7: 2, 8: 2, 14: 2, 20: 2, 25: 2, 26: 2}
_SAVEDMODEL_FIELDS = {1: 0, 2: 2}
_METAGRAPH_FIELDS = {1: 2, 2: 2, 3: 2, 4: 2, 5: 2, 6: 2, 7: 2, 8: 2, 9: 2}


def _varint(buf: bytes, pos: int) -> tuple[int, int] | None:
    result = shift = 0
    for i in range(pos, min(pos + 10, len(buf))):
        b = buf[i]
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, i + 1
        shift += 7
    return None


def _proto_fields(buf: bytes, start: int, end: int, total: int, allowed: dict[int, int],
                  max_fields: int = 64) -> list[tuple[int, int, int, int]] | None:
    """Fields (number, value_or_length, body offset, wire) of a message in buf[start:end); a LEN field
    may run past the buffer (a head) as long as it ends inside `total`. None when not protobuf."""
    out = []
    pos = start
    while pos < min(end, len(buf)) and len(out) < max_fields:
        tv = _varint(buf, pos)
        if tv is None:
            return None if pos + 10 <= len(buf) else out
        tag, pos = tv
        number, wire = tag >> 3, tag & 7
        if allowed.get(number) != wire:
            return None
        vv = _varint(buf, pos)
        if vv is None:
            return None if pos + 10 <= len(buf) else out
        value, pos = vv
        if wire == 2:
            if pos + value > total or pos + value > end:
                return None
            out.append((number, value, pos, wire))
            if pos + value > len(buf):
                return out
            pos += value
        else:
            out.append((number, value, pos, wire))
    return out


def _looks_like_savedmodel(head: bytes, size: int) -> bool:
    if not head.startswith(b"\x08\x01\x12"):
        return False
    top = _proto_fields(head, 0, size, size, _SAVEDMODEL_FIELDS)
    if not top or len(top) < 2 or top[1][0] != 2 or top[1][1] < 8:
        return False
    _n, length, body, _w = top[1]
    inner = _proto_fields(head, body, body + length, size, _METAGRAPH_FIELDS, 8)
    return bool(inner)


def _looks_like_onnx(head: bytes, size: int) -> bool:
    if len(head) < 8 or head[0] != 0x08 or not 1 <= head[1] <= 15:
        return False
    top = _proto_fields(head, 0, size, size, _ONNX_FIELDS)
    if not top or top[0][0] != 1 or not any(n == 7 for n, *_ in top):
        return False
    for number, length, body, _w in top:
        if number in (2, 3, 4):  # producer name/version, domain: short printable text
            text = head[body:body + length]
            if length > 4096 or len(text) < length:
                return False
            try:
                if not text.decode("utf-8").isprintable():
                    return False
            except UnicodeDecodeError:
                return False
    return True


def _text_kind(head: bytes) -> str | None:
    if b"\x00" in head:
        return None
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if len(head) < HEAD_BYTES or exc.start < len(head) - 4:  # only a char cut by the head boundary is fine
            return None
        text = head[: exc.start].decode("utf-8")
    stripped = text.lstrip()
    if stripped[:1] in ("{", "["):
        try:
            json.loads(text)
            return "json"
        except ValueError:
            return "json" if len(head) >= HEAD_BYTES else "text"
    if _looks_like_yaml(text, len(head) >= HEAD_BYTES):
        return "yaml"
    return "text"


def sniff(head: bytes, tail: bytes = b"", size: int | None = None) -> str:
    """Return the format name for an artifact given its first bytes and last bytes."""
    if size == 0 or not head:
        return "empty"
    if not tail and size is not None and len(head) >= size:
        tail = head  # a small file: its head is also its tail
    if head.startswith(TORCH_LEGACY_MAGIC_PICKLE):
        return "pytorch-legacy"
    if head.startswith(b"PK\x03\x04") or head.startswith(ZIP_EOCD):
        return "zip"
    if head.startswith(b"\x93NUMPY"):
        return "numpy"
    if head.startswith(b"GGUF"):
        return "gguf"
    if head.startswith(b"\x89HDF\r\n\x1a\n"):
        return "hdf5"
    if head.startswith(b"7z\xbc\xaf\x27\x1c"):
        return "7z"
    if head.startswith(b"\x1f\x8b"):
        return "gzip"
    if head.startswith(b"BZh") and len(head) > 3 and head[3:4].isdigit():
        return "bz2"
    if head.startswith(b"\xfd7zXZ\x00"):
        return "xz"
    if head.startswith(b"\x04\x22\x4d\x18"):
        return "lz4"
    if head.startswith(b"\x28\xb5\x2f\xfd"):
        return "zstd"
    if len(head) > 262 and head[257:262] == b"ustar":
        return "tar"
    if head.startswith(b"\x7fELF"):
        return "elf"
    if head.startswith(b"MZ"):
        return "pe"
    if head[:4] in (b"\xfe\xed\xfa\xce", b"\xfe\xed\xfa\xcf", b"\xce\xfa\xed\xfe", b"\xcf\xfa\xed\xfe"):
        return "macho"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if _looks_like_safetensors(head, size):
        return "safetensors"
    if head.startswith(b"ZF0x"):
        return "zlib"  # joblib < 0.10: "ZF" + hex length + zlib data
    if _looks_like_pickle(head):
        if _ends_with_eocd(tail):
            return "zip"  # a pickle with a zip appended (polyglot): the zip analyzer scans both parts
        return "pickle"
    if head[:3] == b"\x5d\x00\x00" and len(head) >= 13:
        return "lzma"  # legacy .lzma (joblib compress="lzma"): props byte 0x5d, dictionary size, size
    if len(head) >= 2 and head[0] == 0x78 and head[1] in (0x01, 0x5E, 0x9C, 0xDA) and (head[0] * 256 + head[1]) % 31 == 0:
        return "zlib"
    if head[0] == 0x08 and size is not None:
        proto = ("tf-savedmodel" if _looks_like_savedmodel(head, size)
                 else "onnx" if _looks_like_onnx(head, size) else None)
        if proto:
            return "zip" if _ends_with_eocd(tail) else proto  # a zip appended (polyglot): scan both parts
    if ZIP_EOCD in tail or ZIP64_EOCD_LOCATOR in tail:
        return "zip"  # data prepended to a zip: loaders still open it
    kind = _text_kind(head)
    if kind:
        return kind
    return "unknown"


def suffix_of(name: str) -> str:
    base = name.rsplit("/", 1)[-1]
    if "." not in base:
        return ""
    return "." + base.rsplit(".", 1)[-1].lower()
