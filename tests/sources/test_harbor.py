from datetime import datetime, timezone

import pytest

from modelscreen.sources import harbor
from modelscreen.sources.base import InvalidEvent
from modelscreen.sources.intake import normalise_raw

DIGEST = "sha256:9a6ce3b1b5e0c3e2f2d3d29bbcd9f5c2f3c7f1e8d5a4b3c2d1e0f9a8b7c6d5e4"


def test_push_artifact(raw):
    (ev,) = normalise_raw(raw("harbor_push_artifact.json"), [])
    assert ev.action.value == "uploaded"
    assert ev.store.value == "harbor"
    assert ev.store_name == "harbor.example.com"
    # pinned by manifest digest, never by the mutable tag
    assert ev.uri == f"oci://harbor.example.com/ml-models/sentiment-classifier@{DIGEST}"
    assert ev.name == "ml-models/sentiment-classifier"
    assert ev.version == "v1.2.0"
    assert ev.expected_sha256 is None
    assert ev.expected_digests == {"oci-manifest": DIGEST}
    assert ev.actor == "robot$ml+ci"
    assert ev.time == datetime.fromtimestamp(1715677297, tz=timezone.utc)
    assert ev.raw_type == "PUSH_ARTIFACT"


def test_pull_artifact_one_event_per_resource(raw):
    events = normalise_raw(raw("harbor_pull_artifact.json"), [])
    assert [e.action.value for e in events] == ["downloaded", "downloaded"]
    assert [e.version for e in events] == ["v1.2.0", "latest"]
    assert len({e.event_id for e in events}) == 2


def test_delete_artifact(load):
    payload = load("harbor_push_artifact.json")
    payload["type"] = "DELETE_ARTIFACT"
    (ev,) = harbor.normalise(payload, {})
    assert ev.action.value == "deleted"


def test_scanning_completed_yields_nothing(raw):
    assert normalise_raw(raw("harbor_scanning_completed.json"), []) == []


def test_bad_digest_is_invalid(load):
    payload = load("harbor_push_artifact.json")
    payload["event_data"]["resources"][0]["digest"] = "sha256:not-hex"
    with pytest.raises(InvalidEvent) as info:
        harbor.normalise(payload, {})
    assert info.value.code == "bad-sha256"


def test_resource_url_without_host_is_invalid(load):
    payload = load("harbor_push_artifact.json")
    payload["event_data"]["resources"][0]["resource_url"] = "no-slash"
    with pytest.raises(InvalidEvent):
        harbor.normalise(payload, {})


def test_harbor_cloudevents_format_is_unwrapped(raw):
    (ev,) = normalise_raw(raw("harbor_cloudevents_pushed.json"), [])
    assert ev.store.value == "harbor"
    assert ev.action.value == "uploaded"
    assert ev.source_event_id == "4b8c1a9e-1d3f-4f7a-9c62-2b7e9d0f5a11"
    assert ev.actor == "robot$ml+ci"
    assert ev.uri == f"oci://harbor.example.com/ml-models/sentiment-classifier@{DIGEST}"
    assert ev.time == datetime(2024, 5, 14, 9, 21, 37, tzinfo=timezone.utc)
