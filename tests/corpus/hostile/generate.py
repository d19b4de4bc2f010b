"""Hostile and broken inputs for the fail-closed tests, made here (nothing downloaded; payloads harmless).

Each generator returns bytes; `CASES` names every case with the file name it is scanned under and what
the scan must show. `python -m tests.corpus.hostile.generate DIR` writes them all to DIR.
"""
from __future__ import annotations

import gzip
import io
import os
import json
import struct
import sys
import tarfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from tests.fixtures import make_containers as mc
from tests.fixtures import make_formats as mf
from tests.fixtures import make_pickles as mp

CANARY = "/tmp/modelscreen-hostile-canary"


# --- sniffing -------------------------------------------------------------------------------------
def pickle_first_opcode(opcode: str) -> bytes:
    """A pickle (no PROTO) that starts with `opcode` pushing a value, pops it, then calls os.system."""
    first = {
        "BYTEARRAY8": b"\x96" + struct.pack("<Q", 3) + b"abc",
        "BINUNICODE8": b"\x8d" + struct.pack("<Q", 3) + b"abc",
        "BINBYTES8": b"\x8e" + struct.pack("<Q", 3) + b"abc",
        "SHORT_BINBYTES": b"C\x03abc",
        "EMPTY_SET": b"\x8f",
        "NEWTRUE": b"\x88",
        "LONG1": b"\x8a\x01\x05",
        "FRAME": b"\x95" + struct.pack("<Q", 0),
    }[opcode]
    pop = b"0" if opcode != "FRAME" else b""
    return first + pop + mp.os_system_proto0(CANARY)


def pickle_long_first_argument(length: int = 100_000) -> bytes:
    """Protocol 0: a STRING argument longer than the sniffer's look-ahead, popped, then os.system."""
    return b"S'" + b"a" * length + b"'\n0" + mp.os_system_proto0(CANARY)


def pickle_long_binary_first_argument(length: int = 100_000) -> bytes:
    return b"B" + struct.pack("<I", length) + b"\x00" * length + b"0" + mp.os_system_proto0(CANARY)


def python_pep263(encoding: str = "latin-1") -> bytes:
    return (f"# -*- coding: {encoding} -*-\n# caf\u00e9\nimport os\nos.system('touch {CANARY}')\n").encode(encoding)


# --- zip ---------------------------------------------------------------------------------------------
def zip_hidden_member() -> bytes:
    """The central directory record of `a.txt` has an extra-field length that swallows the record of
    `evil.pkl`: zipfile-based readers list two members, the local headers hold three."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("a.txt", "hello")
        z.writestr("evil.pkl", mp.os_system(CANARY))
        z.writestr("c.txt", "bye")
    data = bytearray(buf.getvalue())
    first = data.index(b"PK\x01\x02")
    second = data.index(b"PK\x01\x02", first + 4)
    third = data.index(b"PK\x01\x02", second + 4)
    (n,) = struct.unpack_from("<H", data, first + 28)
    struct.pack_into("<H", data, first + 30, third - (first + 46 + n))
    eocd = data.rindex(b"PK\x05\x06")
    struct.pack_into("<HH", data, eocd + 8, 2, 2)
    return bytes(data)


def zip_central_only_member() -> bytes:
    """A central directory entry pointing into the middle of another member's data."""
    buf = io.BytesIO()
    inner = zipfile.ZipInfo("inner.bin")
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        z.writestr("outer.bin", b"\x00" * 64 + b"PK\x03\x04" + b"\x00" * 200)
        z.writestr(inner, b"x")
    data = bytearray(buf.getvalue())
    cd = data.index(b"PK\x01\x02")
    second = data.index(b"PK\x01\x02", cd + 4)
    struct.pack_into("<I", data, second + 42, 30 + len("outer.bin") + 64)
    return bytes(data)


def nested_zips(depth: int, payload: bytes) -> bytes:
    data = payload
    name = "model.pkl"
    for i in range(depth, 0, -1):
        data = mc.zip_of({name: data})
        name = f"level{i}.zip"
    return data


def nested_gzip(layers: int, payload: bytes) -> bytes:
    for _ in range(layers):
        payload = gzip.compress(payload, mtime=0)
    return payload


# --- names -------------------------------------------------------------------------------------------
def tar_with_undecodable_name() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT, encoding="utf-8",
                      errors="surrogateescape") as tf:
        info = tarfile.TarInfo("caf\udce9-\udcff.pkl")
        payload = mp.os_system(CANARY)
        info.size = len(payload)
        tf.addfile(info, io.BytesIO(payload))
    return buf.getvalue()


def json_with_lone_surrogates() -> bytes:
    """A config whose strings decode to lone surrogates (they end up in findings)."""
    return (b'{"auto_map": {"AutoModel": "modeling_\\ud800x.Evil\\udfff"}, '
            b'"chat_template": "{{ \'\\udcff\' ~ \'__cla\' ~ \'ss__\' }}"}')


# --- corrupt or unreadable ---------------------------------------------------------------------------
def pickle_invalid_utf8() -> bytes:
    return b"\x80\x04X\x03\x00\x00\x00\xff\xfe\xfd\x94."


def onnx_corrupt_wire() -> bytes:
    data = bytearray(mf.onnx_bytes())
    i = data.index(b"\x3a")  # field 7 (graph), wire type 2: its length runs far past the end
    data[i + 1:i + 3] = b"\xff\xff"
    return bytes(data)


def lzma_refused() -> bytes:
    return b"\x5d\x00\x00\x80\x00" + b"\xff" * 8 + b"\x00garbage that is no lzma stream" * 4


def gzip_truncated() -> bytes:
    return gzip.compress(mp.os_system(CANARY) + b"\x00" * 5000)[:-20]


def numpy_size_mismatch() -> bytes:
    return mc.npy_raw({"descr": "<f4", "fortran_order": False, "shape": (1000,)}, b"\x00" * 40)


def yaml_invalid() -> bytes:
    return b"model:\n  name: x\n  layers: [1, 2\n  bad: : :\n"


def python_syntax_error() -> bytes:
    return b"import os\ndef f(:\n    os.system('x')\n"


def hdf5_corrupt() -> bytes:
    data = bytearray(mf.keras_h5(mf.benign_keras3_config()))
    data[40:400] = b"\xff" * 360
    return bytes(data)


# --- memory and disk ---------------------------------------------------------------------------------
def tar_long_name_bomb(declared: int = 2 * 1024**3) -> bytes:
    block = bytearray(512)
    block[0:13] = b"././@LongLink"
    block[100:108] = b"0000644\0"
    block[124:136] = b"%011o\0" % declared
    block[156:157] = tarfile.GNUTYPE_LONGNAME
    block[257:265] = b"ustar  \0"
    block[148:156] = b"        "
    block[148:156] = b"%06o\0 " % sum(block)
    return bytes(block) + b"x" * 1024 + b"\0" * 1024


def tar_pax_bomb(declared: int = 2 * 1024**3) -> bytes:
    data = bytearray(tar_long_name_bomb(declared))
    data[156:157] = tarfile.XHDTYPE
    data[148:156] = b"        "
    data[148:156] = b"%06o\0 " % sum(data[:512])
    return bytes(data)


def template_format_bomb() -> bytes:
    return json.dumps({"chat_template": "{{ '%999999999s' % 'a' }}{{ '{:>999999999}'.format('b') }}"
                                        "{{ '%s'|format('x') * 1 }}{{ ('ab' * 5000).replace('a', 'x' * 9000) }}"
                                        "{{ [('y' * 9000)] * 1 | join('z' * 9000) }}"}).encode()


def hdf5_attribute_bomb(declared: int = 1 << 31) -> bytes:
    """A model_config attribute of 7001 one-byte elements whose dataspace dimension is patched to `declared`."""
    import h5py
    import numpy as np

    marker = 7001
    buf = io.BytesIO()
    with h5py.File(buf, "w") as f:
        f.attrs["model_config"] = np.zeros(marker, dtype="u1")
    data = bytearray(buf.getvalue())
    needle = struct.pack("<Q", marker)
    i = data.index(needle)
    data[i:i + 8] = struct.pack("<Q", declared)
    return bytes(data)


def hdf5_attribute_array() -> bytes:
    """model_config as an array of strings: libhdf5 would read every element; a Keras file holds one."""
    import h5py
    import numpy as np

    buf = io.BytesIO()
    with h5py.File(buf, "w") as f:
        f.attrs["model_config"] = np.array([b"{}"] * 3000, dtype="S2")
    return buf.getvalue()


def sevenzip_many_members(members: int = 12, each: int = 8 * 1024 * 1024, deflate: bool = False) -> bytes:
    """Members of 8 MiB (each used to be held in memory until the last was decompressed), with enough
    incompressible bytes to stay under the ratio limit."""
    import random

    import py7zr

    rng = random.Random(7)
    buf = io.BytesIO()
    filters = [{"id": py7zr.FILTER_DEFLATE}] if deflate else None
    with py7zr.SevenZipFile(buf, "w", filters=filters) as z:
        for i in range(members):
            noise = rng.randbytes(16384)
            z.writestr(b"\x00" + noise + b"\x00" * (each - len(noise) - 1), f"m{i:03d}.bin")
    return buf.getvalue()


def safetensors_many_tensors(count: int) -> bytes:
    header = {f"t{i}": {"dtype": "U8", "shape": [1], "data_offsets": [i, i + 1]} for i in range(count)}
    raw = json.dumps(header, separators=(",", ":")).encode()
    return struct.pack("<Q", len(raw)) + raw + b"\x00" * count


def gzip_disk_bomb(size: int = 64 * 1024 * 1024) -> bytes:
    return gzip.compress(b"\x00" * size, compresslevel=9, mtime=0)


@dataclass(frozen=True)
class Case:
    name: str  # file name scanned under
    make: object  # () -> bytes
    verdicts: tuple[str, ...] = ("error", "malicious", "suspicious")
    rules: tuple[str, ...] = field(default=())  # each must appear somewhere in the reports


CASES: dict[str, Case] = {
    **{f"first-opcode-{op}": Case("model.bin", lambda op=op: pickle_first_opcode(op), ("malicious",),
                                  ("PICKLE-DANGEROUS-CALL",))
       for op in ("BYTEARRAY8", "BINUNICODE8", "BINBYTES8", "SHORT_BINBYTES", "EMPTY_SET", "NEWTRUE", "LONG1",
                  "FRAME")},
    "long-first-argument": Case("data", pickle_long_first_argument, ("malicious",), ("PICKLE-DANGEROUS-CALL",)),
    "long-binary-first-argument": Case("data", pickle_long_binary_first_argument, ("malicious",),
                                       ("PICKLE-DANGEROUS-CALL",)),
    "pep263-latin1": Case("modeling.py", python_pep263, ("malicious",)),
    "pep263-cp1252": Case("modeling.py", lambda: python_pep263("cp1252"), ("malicious",)),
    "zip-hidden-member": Case("model.zip", zip_hidden_member, ("malicious",), ("ZIP-LOCAL-ONLY-MEMBER",)),
    "zip-central-only-member": Case("model.zip", zip_central_only_member, ("suspicious", "error", "malicious"),
                                    ("ZIP-CENTRAL-ONLY-MEMBER",)),
    "tar-undecodable-name": Case("model.tar", tar_with_undecodable_name, ("malicious",)),
    "json-lone-surrogates": Case("config.json", json_with_lone_surrogates, ("malicious",)),
    "pickle-invalid-utf8": Case("model.pkl", pickle_invalid_utf8, rules=("PICKLE-INVALID-STRING",)),
    "onnx-corrupt-wire": Case("model.onnx", onnx_corrupt_wire),
    "lzma-refused": Case("model.pkl", lzma_refused, ("error",)),
    "gzip-truncated": Case("model.pkl.gz", gzip_truncated, ("error", "malicious")),
    "numpy-size-mismatch": Case("x.npy", numpy_size_mismatch, ("error",), ("NUMPY-SIZE-MISMATCH",)),
    "yaml-invalid": Case("config.yaml", yaml_invalid, ("error",)),
    "python-syntax-error": Case("modeling.py", python_syntax_error, ("error",), ("CODE-SYNTAX-ERROR",)),
    "hdf5-corrupt": Case("model.h5", hdf5_corrupt, ("error",)),
    **{f"empty{suffix}": Case(f"model{suffix}", lambda: b"", ("suspicious",), ("MODEL-FILE-EMPTY",))
       for suffix in (".pkl", ".pt", ".safetensors", ".onnx", ".gguf", ".h5", ".npy", ".bin")},
    "gzip-30-layers": Case("model.pkl.gz", lambda: nested_gzip(30, mp.os_system(CANARY)), ("error", "malicious"),
                           ("LIMIT-NESTING",)),
    "zip-12-deep": Case("model.zip", lambda: nested_zips(12, mp.os_system(CANARY)), ("error", "malicious"),
                        ("LIMIT-NESTING",)),
    "tar-long-name-bomb": Case("model.tar", tar_long_name_bomb, ("error",), ("TAR-HEADER-TOO-LARGE",)),
    "tar-pax-bomb": Case("model.tar", tar_pax_bomb, ("error",), ("TAR-HEADER-TOO-LARGE",)),
    "template-format-bomb": Case("tokenizer_config.json", template_format_bomb, ("clean", "suspicious", "error")),
    "hdf5-attribute-bomb": Case("model.h5", hdf5_attribute_bomb, ("error",)),
    "hdf5-attribute-array": Case("model.h5", hdf5_attribute_array, ("error",), ("HDF5-ATTRIBUTE-TOO-LARGE",)),
    "sevenzip-many-members": Case("model.7z", sevenzip_many_members, ("clean",)),
    "sevenzip-deflate-folder": Case("model.7z", lambda: sevenzip_many_members(6, deflate=True), ("error",),
                                    ("SEVENZIP-NOT-ANALYSED",)),
    "safetensors-100k-tensors": Case("model.safetensors", lambda: safetensors_many_tensors(100_000), ("clean",)),
}


def write_all(outdir: str | Path) -> list[Path]:
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for key, case in CASES.items():
        d = out / key
        d.mkdir(exist_ok=True)
        p = d / case.name
        p.write_bytes(case.make())
        paths.append(p)
    return paths


if __name__ == "__main__":  # pragma: no cover
    for written in write_all(sys.argv[1] if len(sys.argv) > 1 else "hostile-corpus"):
        print(written)


def undecodable_names_dir(root: Path, names: tuple[bytes, ...]) -> Path:
    """A directory of malicious pickles under the given raw (non-UTF-8) names, plus a config.json with
    lone surrogates: one odd name must never cost the other artifacts their reports."""
    root.mkdir()
    raw = os.fsencode(root)
    for name in names:
        with open(raw + b"/" + name, "wb") as fh:
            fh.write(mp.os_system(CANARY))
    (root / "config.json").write_bytes(json_with_lone_surrogates())
    return root
