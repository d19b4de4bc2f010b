import hashlib
import io
import os

import pytest

from modelscreen.engine.hashing import HashingReader


def read_as(pattern: str, r: HashingReader, data: bytes) -> None:
    """Read `r` the way a parser would: in order, skipping ahead, going back, or tail first."""
    if pattern == "sequential":
        while r.read(65536):
            pass
    elif pattern == "skip-ahead":
        r.read(10)
        r.seek(2_000_000)
        r.read(100)
    elif pattern == "back-and-forth":
        r.read(1000)
        r.seek(10)
        assert r.read(5) == data[10:15]
        r.seek(500_000)
        assert r.read(7) == data[500_000:500_007]
        r.seek(20)
        assert r.read(3) == data[20:23]
    elif pattern == "tail-first":
        r.seek(-22, io.SEEK_END)
        assert r.read(22) == data[-22:]
        r.seek(0)
        assert r.read(4) == data[:4]


@pytest.mark.parametrize("pattern", ["sequential", "skip-ahead", "back-and-forth", "tail-first"])
def test_every_byte_hashed_once_whatever_the_access_pattern(pattern):
    data = os.urandom(3 * 1024 * 1024 + 17)
    raw = io.BytesIO(data)
    r = HashingReader(raw, len(data))
    read_as(pattern, r, data)
    digest, size = r.finish()
    assert size == len(data)
    assert digest == hashlib.sha256(data).hexdigest()


def test_sequential_reads_reread_nothing():
    data = b"x" * 100_000
    r = HashingReader(io.BytesIO(data), len(data))
    while r.read(4096):
        pass
    r.finish()
    assert r.reread_bytes == 0


@pytest.mark.parametrize("pattern", ["sequential", "skip-ahead", "back-and-forth"])
def test_regions_get_their_own_digest_from_the_same_pass(pattern):
    data = os.urandom(3 * 1024 * 1024 + 17)
    regions = [(100, 200), (150, 5000), (65_536, 2_100_000), (2_100_000, len(data)), (7, 7)]
    r = HashingReader(io.BytesIO(data), len(data))
    r.read(4096)  # hashed before the regions were known: caught up with one bounded re-read
    assert r.track_regions(regions)
    assert r.reread_bytes == 4096 - 7
    read_as(pattern, r, data)
    sha, _ = r.finish()
    assert sha == hashlib.sha256(data).hexdigest()
    assert r.region_digests() == [hashlib.sha256(data[a:b]).hexdigest() for a, b in regions]
    assert r.reread_bytes < 5000  # the regions cost no second pass


def test_regions_far_behind_the_pass_are_refused():
    data = bytes(3 * 1024 * 1024)
    r = HashingReader(io.BytesIO(data), len(data))
    r.read(2 * 1024 * 1024)
    assert not r.track_regions([(0, 10)])
    assert r.finish()[0] == hashlib.sha256(data).hexdigest() and r.region_digests() == []
