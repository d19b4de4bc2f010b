import json

import pytest

from modelscreen.sources import artifactory
from modelscreen.sources.base import InvalidEvent
from modelscreen.sources.intake import normalise_raw

SHA = "4f53cda18c2baa0c0354bb5f9a3ecbe5ed12ab4d8e11ba873c2f11161202b945"


def test_deployed(raw):
    (ev,) = normalise_raw(raw("artifactory_deployed.json"), [])
    assert ev.action.value == "uploaded"
    assert ev.store.value == "artifactory"
    assert ev.store_name == "ml-models-local"
    assert ev.uri == "artifactory://ml-models-local/vision/yolo/v8/yolov8n.pt"
    assert ev.name == "vision/yolo/v8/yolov8n.pt"
    assert ev.expected_sha256 == SHA
    assert ev.size == 6534387
    assert ev.raw_type == "artifact.deployed"


def test_data_as_json_string(raw):
    payload = json.loads(raw("artifactory_deployed_string_data.json"))
    assert isinstance(payload["event"]["data"], str)
    (ev,) = normalise_raw(raw("artifactory_deployed_string_data.json"), [])
    assert ev.uri == "artifactory://ml-models-local/nlp/distilbert/model.safetensors"
    assert ev.expected_sha256 == SHA  # upper-case in the payload, lower-cased
    assert ev.source_event_id == "01HXZ3K9M2Q7R5T8V1W4Y6A0BC"
    assert ev.size == 267832560


def test_data_string_that_is_not_json(load):
    payload = load("artifactory_deployed_string_data.json")
    payload["event"]["data"] = "{not json"
    with pytest.raises(InvalidEvent) as info:
        artifactory.normalise(payload, {})
    assert info.value.code == "not-json"


def test_moved_is_upload_at_target_and_delete_at_source(raw):
    up, gone = normalise_raw(raw("artifactory_moved.json"), [])
    assert (up.action.value, up.uri) == ("uploaded", "artifactory://ml-models-release/vision/yolo/v8/yolov8n.pt")
    assert (gone.action.value, gone.uri) == ("deleted", "artifactory://ml-models-staging/vision/yolo/v8/yolov8n.pt")


def test_copied_with_bare_repo_keys(load):
    payload = load("artifactory_moved.json")
    payload["event_type"] = "copied"
    payload["data"]["source_repo_path"] = "ml-models-staging"
    payload["data"]["target_repo_path"] = "ml-models-release"
    (ev,) = artifactory.normalise(payload, {})
    assert ev.uri == "artifactory://ml-models-release/vision/yolo/v8/yolov8n.pt"


def test_deleted(load):
    payload = load("artifactory_deployed.json")
    payload["event_type"] = "deleted"
    (ev,) = artifactory.normalise(payload, {})
    assert ev.action.value == "deleted"


def test_other_domains_yield_nothing(raw):
    assert normalise_raw(raw("artifactory_build_uploaded.json"), []) == []


def test_documented_placeholder_checksum_is_bad_sha256(load):
    payload = load("artifactory_deployed.json")
    payload["data"]["sha256"] = "sample_checksum"
    with pytest.raises(InvalidEvent) as info:
        artifactory.normalise(payload, {})
    assert info.value.code == "bad-sha256"


@pytest.mark.parametrize("path", ["../other-repo/x.pt", "a/../../b", "a//b", ""])
def test_path_traversal_is_invalid(load, path):
    payload = load("artifactory_deployed.json")
    payload["data"]["path"] = path
    with pytest.raises(InvalidEvent):
        artifactory.normalise(payload, {})
