import base64
import json
from datetime import datetime, timezone

import pytest

from modelscreen.sources import cloudevents
from modelscreen.sources.base import InvalidEvent
from modelscreen.sources.intake import normalise_raw

SHA = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
DATA = {"uri": "file:///srv/models/incoming/model.pkl", "name": "model.pkl", "sha256": SHA.upper(), "size": 12}


def binary_headers(**overrides):
    headers = {
        "ce_specversion": b"1.0",
        "ce_type": b"io.modelscreen.artifact.uploaded",
        "ce_source": b"/modelscreen/watch",
        "ce_id": b"c1a2b3d4-0000-4000-8000-000000000001",
        "ce_time": b"2024-05-14T12:00:00+02:00",
        "content-type": b"application/json",
    }
    headers.update({k: v for k, v in overrides.items()})
    return [(k, v) for k, v in headers.items() if v is not None]


def test_structured_own_type(raw):
    (ev,) = normalise_raw(raw("cloudevents_modelscreen_uploaded.json"), [])
    assert ev.store.value == "cloudevents"
    assert ev.store_name == "/modelscreen/cli"
    assert ev.action.value == "uploaded"
    assert ev.uri == "s3://ml-models-prod/team-b/classifier.joblib"
    assert (ev.name, ev.version, ev.actor, ev.size) == ("classifier.joblib", "3", "bob", 0)
    assert ev.expected_sha256 == SHA
    assert ev.source_event_id == "0d6d3c2e-5b1f-4a7e-8c9d-1e2f3a4b5c6d"
    assert ev.raw_type == "io.modelscreen.artifact.uploaded"


def test_binary_mode_with_headers():
    (ev,) = normalise_raw(json.dumps(DATA).encode(), binary_headers())
    assert ev.store.value == "local"  # file:// URI
    assert ev.uri == "file:///srv/models/incoming/model.pkl"
    assert ev.expected_sha256 == SHA
    assert ev.time == datetime(2024, 5, 14, 10, 0, tzinfo=timezone.utc)
    assert ev.source_event_id == "c1a2b3d4-0000-4000-8000-000000000001"


def test_binary_mode_header_names_are_case_insensitive():
    headers = [(k.upper(), v) for k, v in binary_headers()]
    (ev,) = normalise_raw(json.dumps(DATA).encode(), headers)
    assert ev.action.value == "uploaded"


def test_binary_mode_downloaded():
    (ev,) = normalise_raw(
        json.dumps(DATA).encode(), binary_headers(ce_type=b"io.modelscreen.artifact.downloaded")
    )
    assert ev.action.value == "downloaded"


def test_binary_mode_non_json_content_type():
    with pytest.raises(InvalidEvent) as info:
        normalise_raw(json.dumps(DATA).encode(), binary_headers(**{"content-type": b"application/octet-stream"}))
    assert info.value.code == "unsupported"


def test_binary_mode_missing_id():
    with pytest.raises(InvalidEvent, match="id"):
        normalise_raw(json.dumps(DATA).encode(), binary_headers(ce_id=None))


def test_structured_mode_in_kafka_with_ce_content_type(load):
    payload = load("cloudevents_modelscreen_uploaded.json")
    headers = [("content-type", b"application/cloudevents+json; charset=utf-8"), ("ce_specversion", b"1.0")]
    (ev,) = normalise_raw(json.dumps(payload).encode(), headers)
    assert ev.source_event_id == payload["id"]


def test_data_base64(load):
    payload = load("cloudevents_modelscreen_uploaded.json")
    payload["data_base64"] = base64.b64encode(json.dumps(payload.pop("data")).encode()).decode()
    (ev,) = cloudevents.normalise(payload, {})
    assert ev.uri == "s3://ml-models-prod/team-b/classifier.joblib"


def test_bad_sha256_in_own_data(load):
    payload = load("cloudevents_modelscreen_uploaded.json")
    payload["data"]["sha256"] = "abc"
    with pytest.raises(InvalidEvent) as info:
        cloudevents.normalise(payload, {})
    assert info.value.code == "bad-sha256"


def test_unknown_field_in_own_data(load):
    payload = load("cloudevents_modelscreen_uploaded.json")
    payload["data"]["surprise"] = 1
    with pytest.raises(InvalidEvent):
        cloudevents.normalise(payload, {})


def test_wrong_specversion(load):
    payload = load("cloudevents_modelscreen_uploaded.json")
    payload["specversion"] = "0.3"
    with pytest.raises(InvalidEvent, match="specversion"):
        cloudevents.normalise(payload, {})


def test_unsupported_uri_scheme(load):
    payload = load("cloudevents_modelscreen_uploaded.json")
    payload["data"]["uri"] = "gopher://x/y"
    with pytest.raises(InvalidEvent, match="scheme"):
        cloudevents.normalise(payload, {})


def test_other_type_wrapping_a_store_payload_is_delegated(load):
    s3_payload = load("s3_object_created_put.json")
    envelope = {
        "specversion": "1.0",
        "id": "relay-1",
        "source": "/relay/s3",
        "type": "com.example.storage.notification",
        "data": s3_payload,
    }
    (ev,) = normalise_raw(json.dumps(envelope).encode(), [])
    assert ev.store.value == "s3"
    assert ev.name == "team-a/resnet50/v3/my model (final).pt"


def test_other_type_with_unknown_data():
    envelope = {"specversion": "1.0", "id": "1", "source": "/x", "type": "com.example.other", "data": {"a": 1}}
    with pytest.raises(InvalidEvent) as info:
        normalise_raw(json.dumps(envelope).encode(), [])
    assert info.value.code == "unrecognised"
