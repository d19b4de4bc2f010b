"""Identify a format from its content (magic bytes and structure), never from the name alone."""
from __future__ import annotations

import io
import json
import re
import struct
import tokenize

from modelscreen.engine.pickle_head import looks_like_pickle
from modelscreen.schemas.formats import Format

HEAD_BYTES = 64 * 1024

TORCH_LEGACY_MAGIC_PICKLE = b"\x80\x02\x8a\nl\xfc\x9cF\xf9 j\xa8P\x19."
ZIP_EOCD = b"PK\x05\x06"
ZIP64_EOCD_LOCATOR = b"PK\x06\x07"

# File-name suffix -> formats whose content is expected under it.
EXPECTED_BY_SUFFIX: dict[str, set[Format]] = {
    # joblib.dump(compress=...) writes compressed pickles under .pkl/.joblib
    ".pkl": {Format.pickle, Format.joblib, Format.zlib, Format.gzip, Format.bz2, Format.xz, Format.lzma, Format.lz4}, ".pickle": {Format.pickle}, ".p": {Format.pickle},
    # "zip": a PyTorch zip sniffs as zip; the zip analyzer refines it to pytorch-zip after the name check
    ".pt": {Format.pytorch_zip, Format.pytorch_legacy, Format.pickle, Format.zip}, ".pth": {Format.pytorch_zip, Format.pytorch_legacy, Format.pickle, Format.zip},
    ".bin": {Format.pytorch_zip, Format.pytorch_legacy, Format.pickle, Format.unknown, Format.binary, Format.zip},
    ".ckpt": {Format.pytorch_zip, Format.pytorch_legacy, Format.pickle, Format.zip},
    ".joblib": {Format.pickle, Format.joblib, Format.zlib, Format.gzip, Format.bz2, Format.xz, Format.lzma, Format.lz4},
    ".npy": {Format.numpy}, ".npz": {Format.numpy_npz, Format.zip},
    ".safetensors": {Format.safetensors}, ".gguf": {Format.gguf},
    ".zip": {Format.zip, Format.pytorch_zip, Format.numpy_npz, Format.keras}, ".keras": {Format.keras, Format.zip},
    ".tar": {Format.tar, Format.pytorch_legacy}, ".gz": {Format.gzip}, ".tgz": {Format.gzip}, ".bz2": {Format.bz2},
    ".xz": {Format.xz}, ".7z": {Format.sevenzip}, ".lz4": {Format.lz4}, ".zst": {Format.zstd},
    ".json": {Format.json}, ".yaml": {Format.yaml, Format.text, Format.json}, ".yml": {Format.yaml, Format.text, Format.json},
    ".txt": {Format.text, Format.json, Format.yaml}, ".md": {Format.text, Format.yaml}, ".py": {Format.text, Format.yaml},
    ".h5": {Format.hdf5}, ".hdf5": {Format.hdf5}, ".onnx": {Format.onnx, Format.binary, Format.unknown},
    ".pb": {Format.tf_savedmodel, Format.onnx, Format.unknown, Format.text}, ".jinja": {Format.text}, ".j2": {Format.text},
    ".png": {Format.png}, ".jpg": {Format.jpeg}, ".jpeg": {Format.jpeg},
}


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


def source_encoding(data: bytes) -> str | None:
    """The encoding a PEP 263 coding line (first two lines) declares, when the data decodes with it."""
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data[:4096]).readline)
    except SyntaxError:
        return None
    if encoding in ("utf-8", "utf-8-sig"):
        return None
    try:
        data.decode(encoding)
    except UnicodeDecodeError as exc:
        if exc.start < len(data) - 8:  # a multi-byte char cut by the head boundary is fine
            return None
    except LookupError:
        return None
    return encoding


def _text_kind(head: bytes) -> Format | None:
    if b"\x00" in head:
        return None
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        declared = source_encoding(head)
        if declared:  # PEP 263: Python source in the encoding its coding line declares
            return Format.text
        if len(head) < HEAD_BYTES or exc.start < len(head) - 4:  # only a char cut by the head boundary is fine
            return None
        text = head[: exc.start].decode("utf-8")
    stripped = text.lstrip()
    if stripped[:1] in ("{", "["):
        try:
            json.loads(text)
            return Format.json
        except ValueError:
            return Format.json if len(head) >= HEAD_BYTES else Format.text
    if _looks_like_yaml(text, len(head) >= HEAD_BYTES):
        return Format.yaml
    return Format.text


def sniff(head: bytes, tail: bytes = b"", size: int | None = None) -> Format:
    """Return the format name for an artifact given its first bytes and last bytes."""
    if size == 0 or not head:
        return Format.empty
    if not tail and size is not None and len(head) >= size:
        tail = head  # a small file: its head is also its tail
    if head.startswith(TORCH_LEGACY_MAGIC_PICKLE):
        return Format.pytorch_legacy
    if head.startswith(b"PK\x03\x04") or head.startswith(ZIP_EOCD):
        return Format.zip
    if head.startswith(b"\x93NUMPY"):
        return Format.numpy
    if head.startswith(b"GGUF"):
        return Format.gguf
    if head.startswith(b"\x89HDF\r\n\x1a\n"):
        return Format.hdf5
    if head.startswith(b"7z\xbc\xaf\x27\x1c"):
        return Format.sevenzip
    if head.startswith(b"\x1f\x8b"):
        return Format.gzip
    if head.startswith(b"BZh") and len(head) > 3 and head[3:4].isdigit():
        return Format.bz2
    if head.startswith(b"\xfd7zXZ\x00"):
        return Format.xz
    if head.startswith(b"\x04\x22\x4d\x18"):
        return Format.lz4
    if head.startswith(b"\x28\xb5\x2f\xfd"):
        return Format.zstd
    if len(head) > 262 and head[257:262] == b"ustar":
        return Format.tar
    if head.startswith(b"\x7fELF"):
        return Format.elf
    if head.startswith(b"MZ"):
        return Format.pe
    if head[:4] in (b"\xfe\xed\xfa\xce", b"\xfe\xed\xfa\xcf", b"\xce\xfa\xed\xfe", b"\xcf\xfa\xed\xfe"):
        return Format.macho
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return Format.png
    if _looks_like_safetensors(head, size):
        return Format.safetensors
    if head.startswith(b"ZF0x"):
        return Format.zlib  # joblib < 0.10: "ZF" + hex length + zlib data
    if looks_like_pickle(head, cut=size is None or len(head) < size):
        if _ends_with_eocd(tail):
            return Format.zip  # a pickle with a zip appended (polyglot): the zip analyzer scans both parts
        return Format.pickle
    if head[:3] == b"\x5d\x00\x00" and len(head) >= 13:
        return Format.lzma  # legacy .lzma (joblib compress="lzma"): props byte 0x5d, dictionary size, size
    if len(head) >= 2 and head[0] == 0x78 and head[1] in (0x01, 0x5E, 0x9C, 0xDA) and (head[0] * 256 + head[1]) % 31 == 0:
        return Format.zlib
    if head[0] == 0x08 and size is not None:
        proto = (Format.tf_savedmodel if _looks_like_savedmodel(head, size)
                 else Format.onnx if _looks_like_onnx(head, size) else None)
        if proto:
            return Format.zip if _ends_with_eocd(tail) else proto  # a zip appended (polyglot): scan both parts
    if ZIP_EOCD in tail or ZIP64_EOCD_LOCATOR in tail:
        return Format.zip  # data prepended to a zip: loaders still open it
    kind = _text_kind(head)
    if kind:
        return kind
    return Format.unknown


def suffix_of(name: str) -> str:
    base = name.rsplit("/", 1)[-1]
    if "." not in base:
        return ""
    return "." + base.rsplit(".", 1)[-1].lower()
