"""Archives, breadth: nested chains across container kinds up to the depth limit, specials inside
nested archives, encrypted 7z inside other containers, 42.zip-style nested bombs, model formats
inside archives; every finding names the exact location (and its report the exact member path)."""
from __future__ import annotations

import io
import tarfile
import zipfile

import pytest

from tests.fixtures import make_containers as mk
from tests.fixtures import make_formats as mf
from modelscreen.engine import Limits, scan_bytes
from modelscreen.engine.analyzers.all import analyzer_for

needs_pickle_analyzer = pytest.mark.skipif(analyzer_for("pickle") is None, reason="pickle analyzer not registered")


@pytest.fixture
def canary(tmp_path):
    path = tmp_path / "canary"
    yield str(path)
    assert not path.exists(), "a payload ran"


def by_path(reports):
    return {r.path: r for r in reports}


def chain(canary: str) -> bytes:
    """pickle in a zip in a tar.gz in a 7z."""
    inner_zip = mk.zip_of({"model/data.pkl": mk.malicious_pickle(canary)})
    tgz = mk.tar_of({"export/model.zip": inner_zip}, "w:gz")
    return mk.sevenzip_of({"release/bundle.tar.gz": tgz})


def test_zip_in_tar_gz_in_7z_paths(canary):
    reports = scan_bytes(chain(canary), "release.7z")
    paths = by_path(reports)
    deep = "release.7z!release/bundle.tar.gz!<decompressed>!export/model.zip!model/data.pkl"
    assert paths["release.7z"].format == "7z"
    assert paths["release.7z!release/bundle.tar.gz"].format == "gzip"
    assert paths["release.7z!release/bundle.tar.gz!<decompressed>"].format == "tar"
    assert paths["release.7z!release/bundle.tar.gz!<decompressed>!export/model.zip"].format == "zip"
    assert paths[deep].format == "pickle"
    # every member report names its parent, up the chain
    r = paths[deep]
    walked = []
    while r.parent:
        walked.append(r.parent)
        r = paths[r.parent]
    assert walked[-1] == "release.7z" and len(walked) == 4


@needs_pickle_analyzer
def test_chain_verdict_propagates(canary):
    reports = scan_bytes(chain(canary), "release.7z")
    assert all(r.verdict.value == "malicious" for r in reports if not r.path.endswith(".npy"))


def nested_zips(levels: int, payload: bytes) -> bytes:
    data = payload
    for i in range(levels):
        data = mk.zip_of({f"level{levels - i}.zip" if i else "payload.pkl": data})
    return data


def test_nesting_limit_is_a_located_finding():
    reports = scan_bytes(nested_zips(5, mk.benign_pickle()), "n.zip", limits=Limits(max_depth=3))
    hits = [(r.path, f) for r in reports for f in r.findings if f.rule_id == "LIMIT-NESTING"]
    assert len(hits) == 1
    path, f = hits[0]
    assert path == "n.zip!level1.zip!level2.zip!level3.zip"
    assert f.location == "level4.zip" and f.severity.value == "medium"
    assert reports[0].verdict.value == "error"  # not analysed below the limit: never lower than error


def test_nesting_within_the_limit_reaches_the_payload():
    reports = scan_bytes(nested_zips(5, mk.benign_pickle()), "n.zip")
    assert reports[-1].path == "n.zip!level1.zip!level2.zip!level3.zip!level4.zip!payload.pkl"
    assert reports[-1].format == "pickle"


def test_tar_specials_inside_a_zip_are_located():
    reports = scan_bytes(mk.zip_of({"dist/model.tar": mk.tar_with_specials()}), "dist.zip")
    tar = by_path(reports)["dist.zip!dist/model.tar"]
    found = {(f.rule_id, f.location) for f in tar.findings}
    assert ("TAR-DEVICE-FILE", "model/null") in found
    assert ("TAR-LINK-ESCAPE", "model/up") in found  # hard link to ../../outside
    assert reports[0].verdict.value == "malicious"


def test_hardlink_to_absolute_path():
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        hard = tarfile.TarInfo("model/shadow")
        hard.type, hard.linkname = tarfile.LNKTYPE, "/etc/shadow"
        tf.addfile(hard)
        blk = tarfile.TarInfo("model/sda")
        blk.type, blk.devmajor, blk.devminor = tarfile.BLKTYPE, 8, 0
        tf.addfile(blk)
        fifo = tarfile.TarInfo("model/pipe")
        fifo.type = tarfile.FIFOTYPE
        tf.addfile(fifo)
    [top] = scan_bytes(buf.getvalue(), "links.tar")
    found = {(f.rule_id, f.location) for f in top.findings}
    assert ("TAR-LINK-ESCAPE", "model/shadow") in found
    assert ("TAR-DEVICE-FILE", "model/sda") in found and ("TAR-DEVICE-FILE", "model/pipe") in found


@pytest.mark.parametrize("header_encryption", [False, True])
def test_encrypted_7z_inside_a_zip(header_encryption):
    inner = mk.sevenzip_of({"w.pkl": mk.benign_pickle()}, password="pw", header_encryption=header_encryption)
    reports = scan_bytes(mk.zip_of({"secret/w.7z": inner}), "outer.zip")
    member = by_path(reports)["outer.zip!secret/w.7z"]
    enc = [f for f in member.findings if f.rule_id == "SEVENZIP-ENCRYPTED"]
    assert enc and enc[0].severity.value == "medium"
    assert reports[0].verdict.value == "error"  # not analysed below the limit: never lower than error


def zip_42(width: int, depth: int, leaf_bytes: int) -> bytes:
    """42.zip shape, small: each level holds `width` copies of the level below; the leaves are zeros."""
    leaf = mk.build_zip([mk.ZEntry("0.bin", b"\0" * leaf_bytes, method=8)])
    data = leaf
    for level in range(depth):
        data = mk.build_zip([mk.ZEntry(f"{level}-{i}.zip", data, method=8) for i in range(width)])
    return data


def test_nested_zip_bomb_stops_at_the_shared_budget():
    data = zip_42(width=4, depth=3, leaf_bytes=1 << 20)  # 64 leaves x 1 MiB = 64 MiB total
    assert len(data) < 100_000
    limit = 8 << 20
    reports = scan_bytes(data, "42.zip", limits=Limits(max_decompressed_bytes=limit))
    assert reports[0].verdict.value == "malicious"
    produced = sum(r.size or 0 for r in reports if r.path.endswith("!0.bin"))
    assert produced <= limit
    bombs = [(r.path, f) for r in reports for f in r.findings if f.rule_id.endswith("BOMB")]
    assert bombs
    located = [(p, f) for p, f in bombs if f.location]
    assert located, bombs
    for path, f in located:
        assert f.location in {n.path.rsplit("!", 1)[1] for n in reports if n.parent == path} | {"0.bin"} or \
            f.location.endswith(".zip") or f.location.endswith(".bin")


def test_nested_zip_bomb_by_ratio():
    data = zip_42(width=2, depth=2, leaf_bytes=4 << 20)
    reports = scan_bytes(data, "42.zip", limits=Limits(max_compression_ratio=100))
    hits = [(r.path, f.location) for r in reports for f in r.findings if f.rule_id == "ZIP-BOMB"]
    assert hits and all(loc == "0.bin" for _p, loc in hits)
    assert all(p.endswith(".zip") for p, _l in hits)


def test_model_formats_inside_archives_keep_their_locations():
    bundle = mk.tar_of({
        "gguf/model.gguf": mf.gguf_bytes(mf.MALICIOUS_TEMPLATES["map-attribute"]),
        "onnx/model.onnx": mf.onnx_bytes(custom_domain="evil.ops"),
        "tf/saved_model.pb": mf.malicious_saved_model(),
        "hf/config.json": mf.transformers_config({"AutoModel": "modeling_x.X"}),
        "hf/modeling_x.py": mf.BENIGN_MODELING,
    }, "w:gz")
    reports = scan_bytes(mk.zip_of({"release.tar.gz": bundle}), "drop.zip")
    root = "drop.zip!release.tar.gz!<decompressed>!"
    paths = by_path(reports)
    assert {f.location.split(" line")[0] for f in paths[root + "gguf/model.gguf"].findings
            if f.rule_id == "TEMPLATE-DUNDER-ACCESS"} == {"tokenizer.chat_template"}
    assert [f.location for f in paths[root + "onnx/model.onnx"].findings
            if f.rule_id == "ONNX-CUSTOM-OPERATOR"] == ["graph/node custom_0"]
    assert any(f.location == "function __inference_serving_default_99/node py_hook"
               for f in paths[root + "tf/saved_model.pb"].findings)
    assert [f.location for f in paths[root + "hf/config.json"].findings] == ["auto_map.AutoModel"]
    assert reports[0].verdict.value == "malicious"


def test_every_analyzer_finding_in_archives_has_a_location(canary):
    """Findings of the container analyzers on hostile archives name a member (or offset)."""
    samples = {
        "specials.tar": mk.tar_with_specials(),
        "traversal.zip": mk.build_zip([mk.ZEntry("../x.pkl", mk.benign_pickle())]),
        "crc.zip": mk.build_zip([mk.ZEntry("a.pkl", mk.benign_pickle(), crc=1)]),
        "chain.7z": chain(canary),
    }
    missing = []
    for name, data in samples.items():
        for r in scan_bytes(data, name):
            for f in r.findings:
                if f.analyzer in ("zip", "tar", "7z", "sevenzip", "compressed") and not f.location:
                    missing.append((r.path, f.rule_id))
    assert not missing, missing


def test_zipfile_never_extracts(monkeypatch):
    def boom(*a, **k):
        raise AssertionError("extraction attempted")

    monkeypatch.setattr(zipfile.ZipFile, "extractall", boom)
    monkeypatch.setattr(zipfile.ZipFile, "extract", boom)
    monkeypatch.setattr(tarfile.TarFile, "extractall", boom)
    monkeypatch.setattr(tarfile.TarFile, "extract", boom)
    scan_bytes(mk.zip_of({"t.tar": mk.tar_with_specials()}), "x.zip")
