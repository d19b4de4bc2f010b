from datetime import datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from modelscreen.schemas.events import ArtifactEvent, compute_event_id

BASE = dict(
    action="uploaded",
    store="s3",
    uri="s3://bucket/key.pt",
    time=datetime(2024, 1, 1, tzinfo=timezone.utc),
    source_event_id="req:seq",
    raw_type="ObjectCreated:Put",
)


def test_event_id_computed_and_deterministic():
    a = ArtifactEvent(**BASE)
    b = ArtifactEvent(**{**BASE, "time": datetime(2030, 1, 1, tzinfo=timezone.utc), "size": 5})
    assert a.event_id == b.event_id == compute_event_id("s3", "req:seq", "s3://bucket/key.pt", "uploaded")
    for field, value in [("store", "minio"), ("source_event_id", "x"), ("uri", "s3://b/k2"), ("action", "deleted")]:
        assert ArtifactEvent(**{**BASE, field: value}).event_id != a.event_id


def test_event_id_round_trip_and_mismatch():
    ev = ArtifactEvent(**BASE)
    assert ArtifactEvent.model_validate_json(ev.model_dump_json()) == ev
    with pytest.raises(ValidationError):
        ArtifactEvent(**{**BASE, "event_id": "0" * 32})


def test_time_is_utc():
    ev = ArtifactEvent(**{**BASE, "time": datetime(2024, 1, 1, 2, tzinfo=timezone(timedelta(hours=2)))})
    assert ev.time == datetime(2024, 1, 1, tzinfo=timezone.utc) and ev.time.utcoffset() == timedelta(0)
    assert ArtifactEvent(**{**BASE, "time": datetime(2024, 1, 1)}).time.tzinfo is not None


@pytest.mark.parametrize(
    "field, value",
    [
        ("expected_sha256", "abc"),
        ("expected_sha256", "g" * 64),
        ("size", -1),
        ("size", True),
        ("uri", "no-scheme"),
        ("uri", "javascript://alert"),
        ("uri", "s3://bucket/key\n.pt"),
        ("uri", "s3://"),
        ("store", "gcs"),
        ("action", "created"),
        ("expected_digests", {"md5": "xyz"}),
        ("expected_digests", {"oci-manifest": "abc"}),
        ("expected_digests", {"Bad Key": "1"}),
        ("actor", "a\x00b"),
    ],
)
def test_invalid_fields(field, value):
    with pytest.raises(ValidationError):
        ArtifactEvent(**{**BASE, field: value})


def test_sha256_is_lowercased():
    ev = ArtifactEvent(**{**BASE, "expected_sha256": "AB" * 32, "expected_digests": {"sha1": "A" * 40}})
    assert ev.expected_sha256 == "ab" * 32 and ev.expected_digests == {"sha1": "a" * 40}
