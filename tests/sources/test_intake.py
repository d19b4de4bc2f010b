import base64
import json

import pytest

from modelscreen.schemas.events import DeadLetter
from modelscreen.sources import InvalidEvent, dead_letter, normalise_raw
from modelscreen.sources.intake import MAX_VALUE_BYTES, RECOGNISERS, parse_headers, recognise_store

SAMPLES = {
    "s3_object_created_put.json": "s3",
    "s3_multipart_and_delete.json": "s3",
    "s3_test_event.json": "s3",
    "minio_put.json": "s3",
    "minio_get.json": "s3",
    "minio_head.json": "s3",
    "harbor_push_artifact.json": "harbor",
    "harbor_pull_artifact.json": "harbor",
    "harbor_scanning_completed.json": "harbor",
    "harbor_cloudevents_pushed.json": "cloudevents",
    "huggingface_repo_content_update.json": "huggingface",
    "huggingface_discussion_create.json": "huggingface",
    "artifactory_deployed.json": "artifactory",
    "artifactory_deployed_string_data.json": "artifactory",
    "artifactory_moved.json": "artifactory",
    "artifactory_build_uploaded.json": "artifactory",
    "nexus_asset_created.json": "nexus",
    "nexus_component_created.json": "nexus",
    "cloudevents_modelscreen_uploaded.json": "cloudevents",
}


@pytest.mark.parametrize("name, store", sorted(SAMPLES.items()))
def test_recognised_by_shape(load, name, store):
    payload = load(name)
    assert recognise_store(payload, {})[0] == store


@pytest.mark.parametrize("name, store", sorted(SAMPLES.items()))
def test_exactly_one_recogniser_claims_each_sample(load, name, store):
    payload = load(name)
    claims = [n for n, mod in RECOGNISERS if mod.recognise(payload, {})]
    assert claims == [store]


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_every_sample_normalises(raw, name):
    events = normalise_raw(raw(name), [])
    for ev in events:
        assert len(ev.event_id) == 32


def test_event_id_deterministic_and_sensitive(load, raw):
    (a,) = normalise_raw(raw("artifactory_deployed.json"), [])
    # Re-serialised differently (key order, whitespace): same raw event, same id.
    payload = load("artifactory_deployed.json")
    reordered = json.dumps(dict(reversed(list(payload.items())))).encode()
    (b,) = normalise_raw(reordered, [])
    assert a.event_id == b.event_id
    payload["data"]["path"] = "vision/yolo/v8/yolov8s.pt"
    (c,) = normalise_raw(json.dumps(payload).encode(), [])
    assert c.event_id != a.event_id


@pytest.mark.parametrize(
    "value, code",
    [
        (b"", "empty"),
        (None, "empty"),
        (b"\xff\xfe\x00garbage", "not-json"),
        (b"not json at all", "not-json"),
        (b'{"a": 1', "not-json"),
        (b"[1, 2, 3]", "not-object"),
        (b'"a string"', "not-object"),
        (b"42", "not-object"),
        (b"null", "not-object"),
        (b'{"a": NaN}', "not-json"),
        (b'{"a": 1, "a": 2}', "not-json"),
        (b"[" * 100000 + b"]" * 100000, "not-json"),
        (b'{"x":' * 100 + b"1" + b"}" * 100, "not-json"),
        (b'{"a": "\\ud800"}', "not-json"),
        (b"{}", "unrecognised"),
        (b'{"hello": "world"}', "unrecognised"),
        (b'{"Records": []}', "unrecognised"),
    ],
)
def test_garbage_reasons(value, code):
    with pytest.raises(InvalidEvent) as info:
        normalise_raw(value, [])
    assert info.value.code == code
    assert str(info.value).startswith(code)


def test_too_large(load):
    payload = load("s3_object_created_put.json")
    payload["padding"] = "x" * MAX_VALUE_BYTES
    with pytest.raises(InvalidEvent) as info:
        normalise_raw(json.dumps(payload).encode(), [])
    assert info.value.code == "too-large"


def test_missing_field_reason_names_store_and_field(load):
    payload = load("harbor_push_artifact.json")
    del payload["event_data"]["repository"]
    with pytest.raises(InvalidEvent) as info:
        normalise_raw(json.dumps(payload).encode(), [])
    assert info.value.reason.startswith("harbor:") and "repository" in info.value.reason


def test_bad_sha256_reason(load):
    payload = load("artifactory_deployed.json")
    payload["data"]["sha256"] = "12345"
    with pytest.raises(InvalidEvent) as info:
        normalise_raw(json.dumps(payload).encode(), [])
    assert info.value.code == "bad-sha256"


def test_headers_are_lowercased_first_wins():
    assert parse_headers([("CE_Type", b"a"), ("ce_type", b"b"), (b"X-Y", None)]) == {"ce_type": b"a", "x-y": b""}


def test_dead_letter_round_trip():
    value = b"\x00\x01not json"
    headers = [("ce_id", b"\xff\x00"), ("x", b"")]
    with pytest.raises(InvalidEvent) as info:
        normalise_raw(value, headers)
    dl = dead_letter(info.value, value, headers, topic="artifact-events", partition=3, offset=1234)
    as_json = json.loads(dl.model_dump_json())
    assert base64.b64decode(as_json["original"]) == value
    assert as_json["headers"] == [["ce_id", base64.b64encode(b"\xff\x00").decode()], ["x", ""]]
    assert as_json["reason"].startswith("not-json")
    assert as_json["stage"] == "intake"
    back = DeadLetter.model_validate_json(dl.model_dump_json())
    assert back.original == value and back.headers == [("ce_id", b"\xff\x00"), ("x", b"")]
    assert back == dl


@pytest.mark.parametrize("levels", [30, 62, 63, 64, 65, 100])
@pytest.mark.parametrize("noise", ["", "[" * 70])
def test_the_depth_limit_holds_whatever_the_brackets_in_strings(levels, noise):
    """Only text with more brackets than the limit is walked; the answer is the walk's either way."""
    from modelscreen.sources.intake import _depth_ok, parse_value

    text = '{"n": "' + noise + '", "x": ' + "[" * levels + "1" + "]" * levels + "}"
    if _depth_ok(json.loads(text)):
        assert parse_value(text.encode())["n"] == noise
    else:
        with pytest.raises(InvalidEvent, match="nests too deeply"):
            parse_value(text.encode())


@pytest.mark.parametrize("escape, ok", [("\\u00e9", True), ("\\uD800", False), ("\\udfff", False),
                                        ("\\ud83d\\ude00", True), ("\\\\ud800", True)])
def test_only_escapes_of_lone_surrogates_are_refused(escape, ok):
    from modelscreen.sources.intake import parse_value

    value = ('{"a": "x' + escape + '"}').encode()
    if ok:
        assert parse_value(value)["a"].startswith("x")
    else:
        with pytest.raises(InvalidEvent, match="invalid Unicode escapes"):
            parse_value(value)
