"""Positive tests for rule ids no per-format test made fire: each builds a harmless fixture in code and
asserts the id fires (bandit style: every check has a case that must flag). The catalog test
(tests/engine/test_catalog.py) fails for a declared id that no test names."""
from __future__ import annotations

import collections
import gzip
import hashlib
import io
import json
import pickle
import struct
import sys
import tarfile
import zlib
from datetime import datetime, timezone


from tests.fixtures import make_containers as mk
from tests.fixtures import make_formats as mf
from modelscreen.engine import Limits, scan_bytes
from modelscreen.engine.analyzers.all import analyzer_for
from modelscreen.engine.context import ScanContext
from modelscreen.engine.limits import Budget
from modelscreen.engine.templates import check_template
from modelscreen.engine.yara.hook import scan_with_rules
from modelscreen.schemas import Severity
from modelscreen.schemas.events import Action, ArtifactEvent, StoreKind
from modelscreen.pipeline.scanning import check_announced, scan_event
from modelscreen.settings import Settings


def ids(reports) -> set[str]:
    return {f.rule_id for r in reports for f in r.findings}


def fired(data: bytes, name: str, rule: str, **kw) -> list:
    reports = scan_bytes(data, name, **kw)
    hits = [f for r in reports for f in r.findings if f.rule_id == rule]
    assert hits, [(r.path, [(f.rule_id, f.detail) for f in r.findings]) for r in reports]
    return hits


def context(limits: Limits | None = None, **kw) -> ScanContext:
    limits = limits or Limits()
    return ScanContext(path="t", limits=limits, budget=Budget(limits), **kw)


def noise(n: int, seed: bytes = b"x") -> bytes:
    """Deterministic, incompressible bytes."""
    out = bytearray()
    block = seed
    while len(out) < n:
        block = hashlib.sha256(block).digest()
        out += block
    return bytes(out[:n])


# ------------------------------------------------------------------------------------------ zip
def _cd_offset(data: bytes) -> int:
    return struct.unpack_from("<L", data, data.rindex(b"PK\x05\x06") + 16)[0]


def _patch(data: bytes, offset: int, fmt: str, value: int) -> bytes:
    out = bytearray(data)
    struct.pack_into(fmt, out, offset, value)
    return bytes(out)


def test_zip_header_mismatch():
    data = mk.build_zip([mk.ZEntry("a.txt", b"hello world")])
    data = _patch(data, 8, "<H", 8)  # the local header says deflate, the central directory stored
    fired(data, "m.zip", "ZIP-HEADER-MISMATCH")


def test_zip_local_header_missing():
    data = bytearray(mk.build_zip([mk.ZEntry("a.txt", b"hello world")]))
    data[0:4] = b"XXXX"
    fired(bytes(data), "m.zip", "ZIP-LOCAL-HEADER-MISSING")


def test_zip_member_truncated():
    data = mk.build_zip([mk.ZEntry("a.txt", b"hello world")])
    cd = _cd_offset(data)
    data = _patch(data, cd + 20, "<L", 1 << 20)  # compressed size
    data = _patch(data, cd + 24, "<L", 1 << 20)  # size
    fired(data, "m.zip", "ZIP-MEMBER-TRUNCATED")


def test_zip_member_overlaps_central_directory():
    payload = b"hello world"
    data = mk.build_zip([mk.ZEntry("a.txt", payload)])
    cd = _cd_offset(data)
    data = _patch(data, cd + 20, "<L", len(payload) + 8)
    data = _patch(data, cd + 24, "<L", len(payload) + 8)
    fired(data, "m.zip", "ZIP-MEMBER-OVERLAP")


def test_zip_stored_sizes_disagree():
    data = mk.build_zip([mk.ZEntry("a.txt", b"hello world")])
    data = _patch(data, _cd_offset(data) + 24, "<L", 5)  # size differs from the stored length
    [hit] = fired(data, "m.zip", "ZIP-SIZE-MISMATCH")
    assert hit.title == "Stored member sizes disagree"


def test_zip_member_decompresses_to_fewer_bytes_than_declared():
    data = mk.build_zip([mk.ZEntry("a.txt", b"hello world " * 20, method=8)])
    cd = _cd_offset(data)
    data = _patch(data, cd + 24, "<L", 1000)
    data = _patch(data, 22, "<L", 1000)  # keep the local header in step
    [hit] = fired(data, "m.zip", "ZIP-SIZE-MISMATCH")
    assert hit.severity is Severity.low


def test_zip_central_directory_ends_early():
    data = mk.build_zip([mk.ZEntry("a.txt", b"hello world")])
    eocd = data.rindex(b"PK\x05\x06")
    garbage = b"G" * 46
    data = data[:eocd] + garbage + data[eocd:]
    data = _patch(data, eocd + len(garbage) + 12, "<L", struct.unpack_from("<L", data, eocd + len(garbage) + 12)[0]
                  + len(garbage))
    fired(data, "m.zip", "ZIP-CENTRAL-DIRECTORY-CORRUPT")


def test_zip_entry_with_data_descriptor_and_no_central_directory():
    data = mk.build_zip([mk.ZEntry("a.txt", b"hello world", flags=0x08)], drop_central_directory=True)
    data = _patch(data, 18, "<L", 0)  # compressed size unknown: it follows in the data descriptor
    fired(data, "m.zip", "ZIP-UNREADABLE-ENTRY")


def test_zip_without_eocd_target_or_local_header_is_malformed():
    eocd = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, 1, 1, 46, 5000, 0)
    fired(b"\0" * 100 + eocd, "m.zip", "ZIP-MALFORMED")


def test_zip_corrupt_deflate_member():
    data = bytearray(mk.build_zip([mk.ZEntry("a.txt", b"hello world " * 20, method=8)]))
    start = 30 + len(b"a.txt")
    data[start] = 0xFF  # block type 3: reserved, invalid
    fired(bytes(data), "m.zip", "ZIP-CORRUPT-MEMBER")


def test_zip_unsupported_compression_method():
    fired(mk.build_zip([mk.ZEntry("a.txt", b"hello world", method=97)]), "m.zip", "ZIP-UNSUPPORTED-COMPRESSION")


def test_zip_members_left_when_the_decompression_budget_is_spent():
    members = [mk.ZEntry(f"m{i}.bin", noise(40_000, bytes([i])), method=8) for i in range(4)]
    [hit] = fired(mk.build_zip(members), "m.zip", "ZIP-NOT-ANALYSED", limits=Limits(max_decompressed_bytes=50_000))
    assert hit.title == "2 more members not decompressed"


# ------------------------------------------------------------------------------------------ tar
def _tar(*infos: tuple[tarfile.TarInfo, bytes | None], fmt=tarfile.USTAR_FORMAT) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tf:
        for info, data in infos:
            if data is not None:
                info.size = len(data)
            tf.addfile(info, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def test_tar_setuid_member():
    info = tarfile.TarInfo("bin/tool")
    info.mode = 0o4755
    fired(_tar((info, b"#!/bin/true\n")), "m.tar", "TAR-SETUID")


def test_tar_duplicate_name():
    data = _tar((tarfile.TarInfo("model.bin"), b"first"), (tarfile.TarInfo("model.bin"), b"second"))
    [hit] = fired(data, "m.tar", "TAR-DUPLICATE-NAME")
    assert hit.location == "model.bin"


def test_tar_member_truncated():
    data = _tar((tarfile.TarInfo("model.bin"), b"x" * 4000))
    fired(data[:512 + 1024], "m.tar", "TAR-MEMBER-TRUNCATED")


def test_tar_damaged_after_a_member():
    long_name = "weights/" + "w" * 120 + ".bin"  # GNU format: a long-name header, then the real header
    data = bytearray(_tar((tarfile.TarInfo("a.txt"), b"hello"), (tarfile.TarInfo(long_name), b"world"),
                          fmt=tarfile.GNU_FORMAT))
    real_header = 1024 + 1024  # after a.txt (header + data) and the long-name header + its data
    data[real_header:real_header + 512] = b"\xff" * 512
    [hit] = fired(bytes(data), "m.tar", "TAR-MALFORMED")
    assert hit.title == "Tar archive is damaged"


def test_tar_unreadable_archive():
    header = bytearray(512)
    header[257:262] = b"ustar"
    header[0:8] = b"bad\xff\xffname"[:8]
    header[124:136] = b"zzzzzzzzzzz\0"  # size is not octal
    fired(bytes(header) + b"\0" * 1024, "m.tar", "TAR-MALFORMED")


def test_tar_sparse_member():
    info = tarfile.TarInfo("weights.bin")
    info.type = tarfile.GNUTYPE_SPARSE
    data = _tar((info, b"\0" * 10), fmt=tarfile.GNU_FORMAT)
    data = data[:257] + b"ustar\0" + data[263:]  # sniffed as tar by the ustar magic, read as GNU sparse
    header = bytearray(data[:512])
    header[148:156] = b" " * 8
    header[148:156] = b"%06o\0 " % sum(header)
    fired(bytes(header) + data[512:], "m.tar", "TAR-SPARSE")


# ------------------------------------------------------------------------------------------ 7z
def _sevenzip_renamed(name: str, renamed: str) -> bytes:
    """A 7z with a plain header (not encoded) whose member `name` is renamed in place to `renamed`,
    which py7zr refuses to write; the header CRCs are recomputed."""
    import py7zr  # noqa: PLC0415 - optional, as in the fixtures

    assert len(name) == len(renamed)
    buf = io.BytesIO()
    with py7zr.SevenZipFile(buf, "w") as z:
        z.set_encoded_header_mode(False)
        z.writestr(b"hello", name)
    data = bytearray(buf.getvalue())
    offset, length = struct.unpack_from("<QQ", data, 12)
    start = 32 + offset
    header = bytes(data[start:start + length]).replace(name.encode("utf-16-le"), renamed.encode("utf-16-le"))
    data[start:start + length] = header
    struct.pack_into("<L", data, 28, zlib.crc32(header))
    struct.pack_into("<L", data, 8, zlib.crc32(bytes(data[12:32])))
    return bytes(data)


def test_sevenzip_path_traversal():
    fired(_sevenzip_renamed("ab/evil.txt", "../evil.txt"), "m.7z", "SEVENZIP-PATH-TRAVERSAL")


def test_sevenzip_duplicate_name():
    import py7zr  # noqa: PLC0415 - optional, as in the fixtures

    buf = io.BytesIO()
    with py7zr.SevenZipFile(buf, "w") as z:
        z.writestr(b"first", "model.bin")
        z.writestr(b"second", "model.bin")
    fired(buf.getvalue(), "m.7z", "SEVENZIP-DUPLICATE-NAME")


def test_sevenzip_symlink(tmp_path):
    import py7zr  # noqa: PLC0415

    (tmp_path / "target.txt").write_text("hello")
    (tmp_path / "link").symlink_to("target.txt")
    out = tmp_path / "m.7z"
    with py7zr.SevenZipFile(out, "w") as z:
        z.write(tmp_path / "target.txt", "target.txt")
        z.write(tmp_path / "link", "link")
    fired(out.read_bytes(), "m.7z", "SEVENZIP-SYMLINK")


def test_sevenzip_unreadable_headers():
    fired(b"7z\xbc\xaf\x27\x1c\x00\x04" + b"\xff" * 64, "m.7z", "SEVENZIP-MALFORMED")


def test_sevenzip_corrupt_packed_stream():
    data = bytearray(mk.sevenzip_of({"a.bin": noise(4096)}))
    for i in range(40, 200):
        data[i] ^= 0x5A  # the packed stream starts after the 32-byte signature header
    reports = scan_bytes(bytes(data), "m.7z")
    assert {"SEVENZIP-CORRUPT", "SEVENZIP-MALFORMED"} & ids(reports), reports
    assert "SEVENZIP-CORRUPT" in ids(reports)


# ------------------------------------------------------------------------------------------ compressed
def test_gzip_corrupt_stream():
    data = bytearray(gzip.compress(b"hello world " * 100))
    data[10] = 0xFF  # the first deflate block header: reserved block type
    fired(bytes(data), "m.pkl.gz", "COMPRESSED-CORRUPT")


def test_gzip_truncated_stream():
    fired(gzip.compress(noise(5000))[:2000], "m.pkl.gz", "COMPRESSED-TRUNCATED")


def test_joblib_zfile_declares_a_different_size():
    body = zlib.compress(pickle.dumps([1, 2, 3]))
    data = b"ZF" + hex(999).encode().ljust(19) + body
    fired(data, "old.pkl_01.npy.z", "COMPRESSED-SIZE-MISMATCH")


# ------------------------------------------------------------------------------------------ configs and code
def test_yaml_that_does_not_parse():
    fired(b"model:\n  layers: [1, 2\n  name: x\n", "config.yaml", "CONFIG-INVALID-YAML")


def test_text_file_larger_than_the_text_limit():
    fired(json.dumps({"a": "b" * 200}).encode(), "config.json", "CONFIG-NOT-ANALYSED",
          limits=Limits(max_inline_bytes=64))


def test_python_nested_deeper_than_the_analysis_walks():
    source = "x = " + "-" * 600 + "1\n"
    reports = scan_bytes(source.encode(), "modeling.py")
    assert {"CODE-NOT-ANALYSED", "CODE-SYNTAX-ERROR"} & ids(reports), reports
    assert "CODE-NOT-ANALYSED" in ids(reports)


def test_template_nested_deeper_than_the_parser_handles():
    issues = check_template("{{ " + "(" * 3000 + "1" + ")" * 3000 + " }}")
    assert [i.rule_id for i in issues] == ["TEMPLATE-TOO-COMPLEX"]


# ------------------------------------------------------------------------------------------ formats
def test_gguf_bad_key():
    data = mf.gguf_raw([("", 8, mf._gs("x")[0:0] + struct.pack("<Q", 1) + b"x")], [])
    [hit] = fired(data, "m.gguf", "GGUF-BAD-KEY")
    assert hit.title == "Empty metadata key"


def test_gguf_big_endian():
    head = b"GGUF" + struct.pack(">I", 3) + struct.pack(">QQ", 0, 0)
    fired(head, "m.gguf", "GGUF-BIG-ENDIAN")


def test_gguf_listed_template_missing():
    data = mf.gguf_raw([mf.gguf_kv_string_array("tokenizer.chat_templates", ["tool_use"])], [])
    fired(data, "m.gguf", "GGUF-TEMPLATE-MISSING")


def test_gguf_trailing_bytes():
    data = mf.gguf_raw([], [("a", [32, 2], 0, 0)], trailing=b"\0" * 64)
    fired(data, "m.gguf", "GGUF-TRAILING-BYTES")


def test_hdf5_that_libhdf5_refuses():
    fired(b"\x89HDF\r\n\x1a\n" + b"\xff" * 600, "model.h5", "HDF5-MALFORMED")


def test_hdf5_without_h5py(monkeypatch):
    data = mf.keras_h5(mf.keras2_model_config([]))
    monkeypatch.setitem(sys.modules, "h5py", None)  # import h5py raises ImportError
    fired(data, "model.h5", "HDF5-NOT-ANALYSED")


def test_keras_config_not_json(tmp_path):
    import h5py  # noqa: PLC0415 - optional, as in the fixtures

    path = tmp_path / "model.h5"
    with h5py.File(path, "w") as f:
        f.attrs["model_config"] = '{"class_name": "Sequential", "config": '
    fired(path.read_bytes(), "model.h5", "KERAS-CONFIG-INVALID")


def test_keras_config_nested_too_deeply():
    deep: object = 1
    for _ in range(260):
        deep = [deep]
    config = mf.keras3_config([mf.keras3_layer("Dense", "dense", {"units": 1, "extra": deep})])
    fired(mf.keras_zip(config), "model.keras", "KERAS-CONFIG-TOO-LARGE")


def test_numpy_header_larger_than_np_load_accepts():
    header = "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }" + " " * 12_000
    fired(mk.npy_raw(header, b"\0" * 8), "a.npy", "NUMPY-HEADER-LARGE")


def test_safetensors_padding_other_than_spaces():
    header = json.dumps({"t": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}) + "\t  "
    fired(mk.safetensors_raw(header, b"\0" * 4), "m.safetensors", "SAFETENSORS-HEADER-PADDING")


def test_safetensors_offsets_reversed():
    header = {"t": {"dtype": "F32", "shape": [1], "data_offsets": [4, 0]}}
    fired(mk.safetensors_raw(header, b"\0" * 4), "m.safetensors", "SAFETENSORS-BAD-OFFSETS")


def test_safetensors_shorter_than_its_length_prefix():
    # The sniffer never calls a 7-byte file safetensors; the analyzer still refuses it if handed one.
    ctx = context(size=7)
    analyzer_for("safetensors")(io.BytesIO(b"\x02\0\0\0\0\0\0"), ctx)
    assert [f.rule_id for f in ctx.findings] == ["SAFETENSORS-TRUNCATED"]


def test_torch_legacy_broken_header_pickle():
    from modelscreen.engine.sniff import TORCH_LEGACY_MAGIC_PICKLE  # noqa: PLC0415

    fired(TORCH_LEGACY_MAGIC_PICKLE + b"\x80\x02}q\x00(X", "old.pt", "TORCH-LEGACY-MALFORMED")


def test_savedmodel_op_talking_to_another_host():
    data = mf.saved_model_bytes([mf.tf_node("x", "Placeholder"),
                                 mf.tf_node("send", "_Send", ["x"], {"send_device": mf.tf_attr_s("/job:worker/task:0")}),
                                 mf.tf_node("rpc", "RemoteCall", ["x"])])
    hits = fired(data, "saved_model.pb", "SAVEDMODEL-REMOTE-OP")
    assert {h.location for h in hits} == {"meta_graph[0]/graph/node send", "meta_graph[0]/graph/node rpc"}
    assert {h.severity for h in hits} == {Severity.medium}


def test_pickle_fickling_second_opinion():
    [hit] = fired(pickle.dumps(collections.defaultdict(int), protocol=2), "d.pkl", "PICKLE-FICKLING-OPINION")
    assert hit.severity in (Severity.info, Severity.low) and hit.analyzer == "fickling"


# ------------------------------------------------------------------------------------------ engine
def test_findings_over_the_cap_are_counted():
    data = mk.build_zip([mk.ZEntry(n, b"x") for n in ("../a", "../b", "../c")])
    top = scan_bytes(data, "m.zip", limits=Limits(max_findings=1))[0]
    assert [f.rule_id for f in top.findings] == ["ZIP-PATH-TRAVERSAL", "FINDINGS-TRUNCATED"]
    assert top.findings[-1].title == "2 more findings not listed"


def test_yara_pass_that_fails_is_an_info_finding():
    def peek(offset: int, n: int) -> bytes:
        raise OSError("read failed")

    ctx = context()
    scan_with_rules(ctx, peek, 100, "pickle")
    assert [(f.rule_id, f.severity) for f in ctx.findings] == [("YARA-ERROR", Severity.info)]


# ------------------------------------------------------------------------------------------ pipeline
def test_announced_size_mismatch(tmp_path):
    f = tmp_path / "ok.pkl"
    f.write_bytes(pickle.dumps({"a": 1}))
    event = ArtifactEvent(action=Action.uploaded, store=StoreKind.local, uri=f.as_uri(), name=f.name,
                          time=datetime(2026, 11, 26, tzinfo=timezone.utc), source_event_id="src-1",
                          raw_type="test", size=f.stat().st_size + 1)
    checked = check_announced(scan_event(event, Settings(fetch_file_roots=[tmp_path])))
    assert "ARTIFACT-SIZE-MISMATCH" in [x.rule_id for x in checked.reports[0].findings]
