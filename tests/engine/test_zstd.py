"""Zstandard streams (OCI `tar+zstd` model layers): decompressed under the same limits as the other codecs
and their content scanned; a payload inside is never hidden by the codec."""
from __future__ import annotations

import io
import tarfile

from backports import zstd

from modelscreen.engine import scan_bytes
from modelscreen.engine.sniff import sniff

PAYLOAD = b"cos\nsystem\n(S'touch /tmp/modelscreen-zstd-canary'\ntR."  # never loaded


def _tar(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def test_a_pickle_in_a_zstd_tar_is_found():
    reports = scan_bytes(zstd.compress(_tar({"data/model.pkl": PAYLOAD})), "dataset.tar.zst")
    assert reports[0].format == "zstd" and reports[0].verdict.value == "malicious"
    member = [r for r in reports if r.path.endswith("!data/model.pkl")]
    assert member and "PICKLE-DANGEROUS-CALL" in {f.rule_id for f in member[0].findings}


def test_multiple_frames_are_all_read():
    data = zstd.compress(b"harmless text\n") + zstd.compress(PAYLOAD)
    reports = scan_bytes(data, "model.zst")
    assert reports[0].verdict.value == "malicious"


def test_a_zstd_bomb_stops_at_the_ratio_limit():
    reports = scan_bytes(zstd.compress(b"\x00" * 50_000_000), "bomb.zst")
    assert "DECOMPRESSION-BOMB" in {f.rule_id for f in reports[0].findings}


def test_corrupt_zstd_is_reported():
    reports = scan_bytes(zstd.compress(b"abc" * 1000)[:12] + b"\xff" * 64, "bad.zst")
    assert "COMPRESSED-CORRUPT" in {f.rule_id for f in reports[0].findings}


def test_zstd_is_sniffed_by_its_magic():
    assert sniff(zstd.compress(b"x")) == "zstd"
