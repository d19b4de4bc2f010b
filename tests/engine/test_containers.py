"""Containers and the formats built on them: zip (PyTorch, npz), legacy PyTorch, .npy, compressed streams,
tar, 7z. Asserts go through the public engine entry points (scan_bytes / scan_path)."""
from __future__ import annotations

import io
import os
import pickle
import struct
import tarfile
import tracemalloc
import zipfile
from pathlib import Path

import pytest

from tests.fixtures import make_containers as mk
from modelscreen.engine import Limits, scan_bytes, scan_path
from modelscreen.engine.analyzers.all import analyzer_for

TORCH_DIR = Path(__file__).resolve().parent.parent / "fixtures" / "torch"

# Verdicts on malicious pickles inside containers come from the pickle analyzer; until it is
# registered these asserts are skipped (the container-side asserts still run).
needs_pickle_analyzer = pytest.mark.skipif(analyzer_for("pickle") is None, reason="pickle analyzer not registered yet")


@pytest.fixture
def canary(tmp_path):
    path = tmp_path / "canary"
    yield str(path)
    assert not path.exists(), "a payload ran"


def by_path(reports):
    return {r.path: r for r in reports}


def rules(report):
    return {f.rule_id for f in report.findings}


def member(reports, suffix):
    hits = [r for r in reports if r.path.endswith("!" + suffix)]
    assert hits, f"no member {suffix!r} in {[r.path for r in reports]}"
    return hits[0]


# ----------------------------------------------------------------------------- PyTorch (torch-made fixtures)
@pytest.mark.parametrize("name,root,storages", [("state_dict.pt", "state_dict", 4), ("checkpoint.pt", "checkpoint", 8)])
def test_torch_zip_fixture_is_clean_and_refined(name, root, storages):
    reports = scan_path(TORCH_DIR / name)
    top = reports[0]
    assert top.format == "pytorch-zip"
    assert top.verdict.value == "clean"
    assert "FORMAT-EXTENSION-MISMATCH" not in rules(top)
    assert member(reports, f"{root}/data.pkl").format == "pickle"
    data = [r for r in reports if f"!{root}/data/" in r.path]
    assert len(data) == storages
    assert all(r.parent == top.path and r.sha256 for r in data)


def test_torchscript_fixture_reports_code():
    reports = scan_path(TORCH_DIR / "scripted.pt")
    top = reports[0]
    assert top.format == "pytorch-zip"
    code = [f for f in top.findings if f.rule_id == "TORCHSCRIPT-CODE"]
    assert code and code[0].severity.value == "low" and code[0].location == "scripted/code/"
    # a plain export: the listing is low; code members are judged by their own analyzer
    assert max(f.severity.rank for f in top.findings) == code[0].severity.rank
    py = [r for r in reports if r.path.endswith(".py") and "/code/" in r.path]
    assert py and all(r.format == "text" for r in py)
    assert member(reports, "scripted/constants.pkl").format == "pickle"


def test_torch_legacy_fixture():
    reports = scan_path(TORCH_DIR / "state_dict_legacy.pt")
    top = reports[0]
    assert top.format == "pytorch-legacy"
    assert top.verdict.value == "clean"
    assert member(reports, "<pickle 3>").format == "pickle"
    assert member(reports, "<pickle 4>").format == "pickle"


def test_torch_fixtures_are_small():
    assert sum(p.stat().st_size for p in TORCH_DIR.iterdir()) < 200_000


# ----------------------------------------------------------------------------- PyTorch (hand-made layouts)
def test_torch_zip_with_malicious_data_pkl(canary):
    reports = scan_bytes(mk.torch_zip(mk.malicious_pickle(canary)), "model.pt")
    assert reports[0].format == "pytorch-zip"
    assert member(reports, "archive/data.pkl").format == "pickle"
    assert member(reports, "archive/data/0").format == "unknown"


@needs_pickle_analyzer
def test_torch_zip_with_malicious_data_pkl_verdict(canary):
    reports = scan_bytes(mk.torch_zip(mk.malicious_pickle(canary)), "model.pt")
    assert member(reports, "archive/data.pkl").verdict.value == "malicious"
    assert reports[0].verdict.value == "malicious"


def test_payloads_smuggled_as_tensor_data_are_sniffed(canary):
    data = mk.torch_zip(mk.benign_pickle(), {"0": mk.ELF_STUB, "1": mk.malicious_pickle(canary), "2": b"\0" * 64})
    reports = scan_bytes(data, "model.pt")
    assert member(reports, "archive/data/0").format == "elf"
    assert member(reports, "archive/data/1").format == "pickle"
    assert member(reports, "archive/data/2").format == "unknown"


def test_torch_legacy_stream_members(canary):
    reports = scan_bytes(mk.torch_legacy_stream(mk.malicious_pickle(canary)), "old.pt")
    assert reports[0].format == "pytorch-legacy"
    assert member(reports, "<pickle 3>").size == len(mk.malicious_pickle(canary))
    assert member(reports, "<pickle 4>").format == "pickle"


@needs_pickle_analyzer
def test_torch_legacy_malicious_main_pickle_verdict(canary):
    reports = scan_bytes(mk.torch_legacy_stream(mk.malicious_pickle(canary)), "old.pt")
    assert member(reports, "<pickle 3>").verdict.value == "malicious"
    assert reports[0].verdict.value == "malicious"


def test_torch_legacy_malicious_sys_info(canary):
    reports = scan_bytes(mk.torch_legacy_stream(mk.benign_pickle(), sys_info=mk.malicious_pickle(canary)), "old.pt")
    top = reports[0]
    hit = [f for f in top.findings if f.rule_id == "TORCH-LEGACY-UNEXPECTED-OPCODES"]
    assert hit and hit[0].severity.value == "high" and hit[0].location.startswith("<pickle 2>")
    assert top.verdict.value == "malicious"
    assert member(reports, "<pickle 2>").format == "pickle"


def test_torch_legacy_tar():
    reports = scan_bytes(mk.torch_legacy_tar(mk.benign_pickle()), "old.tar")
    assert reports[0].format == "pytorch-legacy"
    assert member(reports, "pickle").format == "pickle"
    assert {r.path.rsplit("!", 1)[1] for r in reports[1:]} == {"sys_info", "pickle", "storages", "tensors"}


# ----------------------------------------------------------------------------- zip anomalies
@pytest.mark.parametrize("method", [0, 8])
def test_crc_mismatch_does_not_stop_the_scan(canary, method):
    data = mk.build_zip([mk.ZEntry("model/data.pkl", mk.malicious_pickle(canary), method=method, crc=0x12345678),
                         mk.ZEntry("model/ok.pkl", mk.benign_pickle(), method=method)])
    with pytest.raises(zipfile.BadZipFile):
        zipfile.ZipFile(io.BytesIO(data)).read("model/data.pkl")
    reports = scan_bytes(data, "model.zip")
    top = reports[0]
    crc = [f for f in top.findings if f.rule_id == "ZIP-CRC-MISMATCH"]
    assert len(crc) == 1 and crc[0].location == "model/data.pkl" and crc[0].severity.value == "medium"
    assert member(reports, "model/data.pkl").format == "pickle"
    assert member(reports, "model/data.pkl").size == len(mk.malicious_pickle(canary))
    assert member(reports, "model/ok.pkl").format == "pickle"


@needs_pickle_analyzer
def test_crc_mismatch_malicious_member_verdict(canary):
    data = mk.build_zip([mk.ZEntry("model/data.pkl", mk.malicious_pickle(canary), crc=0x12345678)])
    assert scan_bytes(data, "model.zip")[0].verdict.value == "malicious"


def test_zip_bomb_ratio():
    data = zip_of_zeros(4 * 1024 * 1024)
    reports = scan_bytes(data, "bomb.zip", limits=Limits(max_compression_ratio=50))
    top = reports[0]
    bomb = [f for f in top.findings if f.rule_id == "ZIP-BOMB"]
    assert bomb and bomb[0].severity.value == "high" and bomb[0].location == "zeros.bin"
    assert top.verdict.value == "malicious"


def test_zip_bomb_total_budget():
    data = zip_of_zeros(3 * 1024 * 1024)
    reports = scan_bytes(data, "bomb.zip", limits=Limits(max_decompressed_bytes=1024 * 1024))
    top = reports[0]
    assert "ZIP-BOMB" in rules(top)
    assert top.verdict.value == "malicious"
    # never decompressed past the budget
    assert member(reports, "zeros.bin").size <= 1024 * 1024


def zip_of_zeros(n: int) -> bytes:
    return mk.build_zip([mk.ZEntry("zeros.bin", b"\0" * n, method=8)])


def test_normal_compressed_zip_is_not_a_bomb():
    reports = scan_bytes(mk.zip_of({"a.txt": b"hello " * 1000, "b.npy": mk.npy_bytes()}), "ok.zip")
    assert reports[0].verdict.value == "clean"
    assert reports[0].format == "zip"
    assert member(reports, "b.npy").format == "numpy"


@pytest.mark.parametrize("name", ["../../evil.pkl", "/etc/cron.d/x", "a/../../b", "C:\\evil.pkl"])
def test_zip_path_traversal(name):
    reports = scan_bytes(mk.build_zip([mk.ZEntry(name, mk.benign_pickle())]), "x.zip")
    hit = [f for f in reports[0].findings if f.rule_id == "ZIP-PATH-TRAVERSAL"]
    assert hit and hit[0].severity.value == "high" and hit[0].location == name


def test_zip_local_and_central_names_differ(canary):
    data = mk.build_zip([mk.ZEntry("archive/data.pkl", mk.malicious_pickle(canary), local_name="archive/data.pk_")])
    top = scan_bytes(data, "x.zip")[0]
    hit = [f for f in top.findings if f.rule_id == "ZIP-NAME-MISMATCH"]
    assert hit and hit[0].severity.value == "high" and hit[0].location == "archive/data.pkl"
    assert top.verdict.value == "malicious"


def test_zip_duplicate_names_scans_each_copy(canary):
    data = mk.build_zip([mk.ZEntry("data.pkl", mk.benign_pickle()), mk.ZEntry("data.pkl", mk.malicious_pickle(canary))])
    reports = scan_bytes(data, "x.zip")
    hit = [f for f in reports[0].findings if f.rule_id == "ZIP-DUPLICATE-NAME"]
    assert hit and hit[0].severity.value == "medium"
    copies = [r for r in reports if r.path == "x.zip!data.pkl"]
    assert len(copies) == 2 and {r.size for r in copies} == {len(mk.benign_pickle()), len(mk.malicious_pickle(canary))}


def test_zip_encrypted_member():
    data = mk.build_zip([mk.ZEntry("secret.pkl", b"\x00" * 40, flags=0x1)])
    reports = scan_bytes(data, "x.zip")
    hit = [f for f in reports[0].findings if f.rule_id == "ZIP-ENCRYPTED"]
    assert hit and hit[0].severity.value == "medium" and hit[0].location == "secret.pkl"
    assert len(reports) == 1  # not scanned


def test_zip_symlink_member():
    data = mk.build_zip([mk.ZEntry("link", b"/etc/passwd", external_attr=(0o120777 << 16))])
    assert "ZIP-SYMLINK" in rules(scan_bytes(data, "x.zip")[0])


def test_polyglot_pickle_then_zip(canary):
    data = mk.malicious_pickle(canary) + mk.zip_of({"archive/data.pkl": mk.benign_pickle()})
    reports = scan_bytes(data, "model.pt")
    top = reports[0]
    hit = [f for f in top.findings if f.rule_id == "ZIP-PREPENDED-DATA"]
    assert hit and hit[0].location == "<prefix>"
    prefix = member(reports, "<prefix>")
    assert prefix.format == "pickle" and prefix.size == len(mk.malicious_pickle(canary))
    assert member(reports, "archive/data.pkl").format == "pickle"


@needs_pickle_analyzer
def test_polyglot_prefix_verdict(canary):
    data = mk.malicious_pickle(canary) + mk.zip_of({"archive/data.pkl": mk.benign_pickle()})
    assert scan_bytes(data, "model.pt")[0].verdict.value == "malicious"


def test_zip_without_central_directory(canary):
    data = mk.build_zip([mk.ZEntry("a.pkl", mk.malicious_pickle(canary)), mk.ZEntry("b.txt", b"hello", method=8)],
                        drop_central_directory=True)
    reports = scan_bytes(data, "x.zip")
    assert "ZIP-NO-CENTRAL-DIRECTORY" in rules(reports[0])
    assert member(reports, "a.pkl").format == "pickle"
    assert member(reports, "b.txt").format == "text"


def test_zip_entry_limit():
    data = mk.zip_of({f"f{i}.txt": b"x" for i in range(30)})
    reports = scan_bytes(data, "many.zip", limits=Limits(max_entries=10))
    assert "LIMIT-EXCEEDED" in rules(reports[0])
    assert len(reports) == 1 + 10


def test_keras_zip_is_refined():
    data = mk.zip_of({"config.json": b'{"class_name": "Sequential"}', "metadata.json": b'{"keras_version": "3"}',
                      "model.weights.h5": b"\x89HDF\r\n\x1a\n" + b"\0" * 64})
    reports = scan_bytes(data, "m.keras")
    assert reports[0].format == "keras"
    assert member(reports, "model.weights.h5").format == "hdf5"


def test_pickle_with_stray_eocd_is_scanned_once(canary):
    data = mk.malicious_pickle(canary) + b"PK\x05\x06" + b"\0" * 18
    reports = scan_bytes(data, "x.pkl")
    assert len([r for r in reports if r.path.endswith("<prefix>")]) <= 1
    assert all(r.verdict.value in ("suspicious", "malicious") for r in reports[:1])


def test_nested_zip_paths():
    inner = mk.zip_of({"inner/data.pkl": mk.benign_pickle()})
    reports = scan_bytes(mk.zip_of({"inner.zip": inner}), "outer.zip")
    assert "outer.zip!inner.zip!inner/data.pkl" in by_path(reports)
    assert by_path(reports)["outer.zip!inner.zip!inner/data.pkl"].parent == "outer.zip!inner.zip"


def test_large_stored_member_is_streamed(tmp_path):
    big = bytes(range(256)) * (24 * 4096)  # 24 MiB stored member
    path = tmp_path / "big.pt"
    path.write_bytes(mk.torch_zip(mk.benign_pickle(), {"0": big}))
    tracemalloc.start()
    try:
        reports = scan_path(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert member(reports, "archive/data/0").size == len(big)
    assert peak < 12 * 1024 * 1024, f"peak traced memory {peak}"
    assert not [f for f in reports[0].findings if f.analyzer == "zip"]


def test_wrong_extension_pickle_named_safetensors(canary):
    top = scan_bytes(mk.malicious_pickle(canary), "model.safetensors")[0]
    hit = [f for f in top.findings if f.rule_id == "FORMAT-EXTENSION-MISMATCH"]
    assert hit and hit[0].severity.value == "medium"


# ----------------------------------------------------------------------------- numpy
def test_npy_benign():
    top = scan_bytes(mk.npy_bytes(), "a.npy")[0]
    assert top.format == "numpy" and top.verdict.value == "clean"


@pytest.mark.parametrize("compressed", [False, True])
def test_npz(compressed):
    reports = scan_bytes(mk.npz_bytes(compressed), "a.npz")
    assert reports[0].format == "numpy-npz" and reports[0].verdict.value == "clean"
    assert {r.path.rsplit("!", 1)[1]: r.format for r in reports[1:]} == {
        "weights.npy": "numpy", "bias.npy": "numpy", "ids.npy": "numpy"}


def test_npy_object_dtype(canary):
    reports = scan_bytes(mk.npy_object_bytes(canary), "a.npy")
    top = reports[0]
    hit = [f for f in top.findings if f.rule_id == "NUMPY-OBJECT-DTYPE"]
    assert hit and hit[0].severity.value == "medium"
    assert top.format == "numpy-object"
    assert member(reports, "<object array pickle>").format == "pickle"
    assert top.verdict.value in ("suspicious", "malicious")


@needs_pickle_analyzer
def test_npy_object_dtype_verdict(canary):
    assert scan_bytes(mk.npy_object_bytes(canary), "a.npy")[0].verdict.value == "malicious"


def test_npy_trailing_data_is_scanned(canary):
    body = struct.pack("<4f", 1, 2, 3, 4) + mk.malicious_pickle(canary)
    reports = scan_bytes(mk.npy_raw({"descr": "<f4", "fortran_order": False, "shape": (4,)}, body), "a.npy")
    assert "NUMPY-TRAILING-DATA" in rules(reports[0])
    assert member(reports, "<trailing data>").format == "pickle"


@pytest.mark.parametrize("header,rule", [
    ({"descr": "<f4", "fortran_order": False, "shape": (100,)}, "NUMPY-SIZE-MISMATCH"),
    ({"descr": "<f4", "fortran_order": False, "shape": (4,), "evil": 1}, "NUMPY-HEADER-INVALID"),
    ("__import__('os').system('x')", "NUMPY-HEADER-INVALID"),
    ({"descr": "<f4", "fortran_order": False, "shape": (-1,)}, "NUMPY-HEADER-INVALID"),
])
def test_npy_bad_headers(header, rule):
    top = scan_bytes(mk.npy_raw(header, b"\0" * 16), "a.npy")[0]
    assert rule in rules(top)


def test_npy_huge_header_length():
    data = b"\x93NUMPY\x02\x00" + struct.pack("<I", 0xFFFFFFF0) + b"{}"
    assert "NUMPY-HEADER-INVALID" in rules(scan_bytes(data, "a.npy")[0])


def test_npy_version3_and_structured():
    import numpy as np

    arr = np.zeros(3, dtype=[("a", "<i4"), ("b", "<f8", (2,))])
    top = scan_bytes(mk.npy_bytes(arr), "s.npy")[0]
    assert top.verdict.value == "clean" and not rules(top) - {"YARA-RULES-UNAVAILABLE"}


# ----------------------------------------------------------------------------- compressed streams / joblib
COMPRESSIONS = ["zlib", "gzip", "bz2", "xz", "lzma", "lz4"]


@pytest.mark.parametrize("comp", COMPRESSIONS)
def test_joblib_compressed_model(comp):
    reports = scan_bytes(mk.joblib_bytes(comp), "model.joblib")
    top = reports[0]
    assert top.format == comp
    assert "FORMAT-EXTENSION-MISMATCH" not in rules(top)
    dec = member(reports, "<decompressed>")
    assert dec.format in ("pickle", "joblib") and dec.size > 500


@pytest.mark.parametrize("comp", COMPRESSIONS)
def test_compressed_malicious_pickle_members(comp, canary):
    reports = scan_bytes(mk.compress_as(comp, mk.malicious_pickle(canary)), "model.pkl")
    assert "FORMAT-EXTENSION-MISMATCH" not in rules(reports[0])
    assert member(reports, "<decompressed>").format == "pickle"


@needs_pickle_analyzer
@pytest.mark.parametrize("comp", COMPRESSIONS)
def test_compressed_malicious_pickle_verdict(comp, canary):
    reports = scan_bytes(mk.compress_as(comp, mk.malicious_pickle(canary)), "model.joblib")
    assert reports[0].verdict.value == "malicious"


def test_joblib_old_zfile(canary):
    reports = scan_bytes(mk.joblib_zfile(mk.malicious_pickle(canary)), "old.pkl_01.npy.z")
    assert reports[0].format == "joblib-zfile"
    assert member(reports, "<decompressed>").format == "pickle"


def test_decompression_bomb_stream():
    reports = scan_bytes(mk.compress_as("bz2", b"\0" * (8 << 20)), "x.bz2", limits=Limits(max_compression_ratio=100))
    assert "DECOMPRESSION-BOMB" in rules(reports[0]) and reports[0].verdict.value == "malicious"


def test_gzip_trailing_data():
    data = mk.compress_as("gzip", mk.benign_pickle()) + b"HIDDEN PAYLOAD"
    assert "COMPRESSED-TRAILING-DATA" in rules(scan_bytes(data, "x.gz")[0])


# ----------------------------------------------------------------------------- tar
def test_tar_members():
    data = mk.tar_of({"m/a.npy": mk.npy_bytes(), "m/model.safetensors": mk.safetensors_bytes(),
                      "m/w.pkl": mk.benign_pickle()})
    reports = scan_bytes(data, "bundle.tar")
    assert reports[0].format == "tar" and reports[0].verdict.value == "clean"
    assert {r.path.rsplit("!", 1)[1]: r.format for r in reports[1:]} == {
        "m/a.npy": "numpy", "m/model.safetensors": "safetensors", "m/w.pkl": "pickle"}


def test_tar_specials():
    top = scan_bytes(mk.tar_with_specials(), "x.tar")[0]
    found = {(f.rule_id, f.location) for f in top.findings}
    assert ("TAR-LINK-ESCAPE", "model/passwd") in found
    assert ("TAR-LINK-ESCAPE", "model/up") in found
    assert ("TAR-DEVICE-FILE", "model/null") in found
    assert ("TAR-PATH-TRAVERSAL", "../evil.pkl") in found
    assert top.verdict.value == "malicious"


def test_tar_gz_nested(canary):
    data = mk.tar_of({"x/data.pkl": mk.malicious_pickle(canary), "x/a.npy": mk.npy_bytes()}, "w:gz")
    reports = scan_bytes(data, "bundle.tar.gz")
    assert reports[0].format == "gzip"
    assert member(reports, "<decompressed>").format == "tar"
    assert by_path(reports)["bundle.tar.gz!<decompressed>!x/data.pkl"].format == "pickle"


def test_tar_truncated_member():
    data = mk.tar_of({"a.bin": os.urandom(5000)})
    reports = scan_bytes(data[:2048], "cut.tar")
    assert reports[0].verdict.value in ("suspicious", "malicious", "error")


# ----------------------------------------------------------------------------- 7z
def test_7z_members(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # nothing may be written to the working directory
    data = mk.sevenzip_of({"d/a.npy": mk.npy_bytes(), "d/w.pkl": mk.benign_pickle()})
    reports = scan_bytes(data, "bundle.7z")
    assert reports[0].format == "7z" and reports[0].verdict.value == "clean"
    assert member(reports, "d/a.npy").format == "numpy"
    assert member(reports, "d/w.pkl").format == "pickle"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("header_encryption", [False, True])
def test_7z_encrypted(header_encryption):
    data = mk.sevenzip_of({"w.pkl": mk.benign_pickle()}, password="pw", header_encryption=header_encryption)
    top = scan_bytes(data, "x.7z")[0]
    assert "SEVENZIP-ENCRYPTED" in rules(top) and top.verdict.value == "error"  # content not analysed


def test_7z_bomb_declared():
    data = mk.sevenzip_of({"zeros.bin": b"\0" * (4 << 20)})
    top = scan_bytes(data, "x.7z", limits=Limits(max_decompressed_bytes=1 << 20))[0]
    assert "SEVENZIP-BOMB" in rules(top) and top.verdict.value == "malicious"


# ----------------------------------------------------------------------------- generator and on-disk scan
def test_fixture_generator_writes_scannable_files(tmp_path, canary):
    files = mk.write_all(tmp_path / "fx", canary=canary)
    assert len(files) >= 20
    for path in files:
        reports = scan_path(path)
        assert reports[0].verdict.value in ("clean", "suspicious", "malicious"), (path, reports[0].error)
        assert not reports[0].error, (path, reports[0].error)


def test_pickle_module_never_used_to_load(monkeypatch, canary):
    def boom(*a, **k):
        raise AssertionError("pickle.load called")

    monkeypatch.setattr(pickle, "load", boom)
    monkeypatch.setattr(pickle, "loads", boom)
    monkeypatch.setattr(pickle, "Unpickler", boom)
    for data, name in [(mk.torch_zip(mk.malicious_pickle(canary)), "a.pt"),
                       (mk.torch_legacy_stream(mk.malicious_pickle(canary)), "b.pt"),
                       (mk.npy_object_bytes(canary), "c.npy"),
                       (mk.compress_as("gzip", mk.malicious_pickle(canary)), "d.joblib"),
                       (mk.tar_of({"pickle": mk.malicious_pickle(canary)}), "e.tar")]:
        assert scan_bytes(data, name)[0].verdict.value != "error"


def test_tarfile_module_never_extracts(monkeypatch):
    def boom(*a, **k):
        raise AssertionError("extract called")

    monkeypatch.setattr(tarfile.TarFile, "extractall", boom)
    monkeypatch.setattr(tarfile.TarFile, "extract", boom)
    scan_bytes(mk.tar_with_specials(), "x.tar")
