from datetime import datetime, timezone

import pytest

from modelscreen.sources import nexus
from modelscreen.sources.base import InvalidEvent
from modelscreen.sources.intake import normalise_raw


def test_asset_created(raw):
    (ev,) = normalise_raw(raw("nexus_asset_created.json"), [("X-Nexus-Webhook-Id", b"rm:repository:asset")])
    assert ev.action.value == "uploaded"
    assert ev.store.value == "nexus"
    assert ev.store_name == "ml-raw-hosted"
    assert ev.uri == "nexus://ml-raw-hosted/models/sentiment/2024-05/model.onnx"
    assert ev.name == "models/sentiment/2024-05/model.onnx"
    assert ev.actor == "deployer/10.20.30.40"
    assert ev.time == datetime(2024, 5, 14, 9, 21, 37, 512000, tzinfo=timezone.utc)
    assert ev.raw_type == "asset.CREATED"


def test_component_created(raw):
    (ev,) = normalise_raw(raw("nexus_component_created.json"), [])
    assert ev.uri.startswith("nexus-component://maven-releases/")
    assert ev.name == "com.example.ml:sentiment-model"
    assert ev.version == "1.2.0"


@pytest.mark.parametrize("action, expected", [("UPDATED", "uploaded"), ("DELETED", "deleted")])
def test_actions(load, action, expected):
    payload = load("nexus_asset_created.json")
    payload["action"] = action
    (ev,) = nexus.normalise(payload, {})
    assert ev.action.value == expected


def test_webhook_id_must_match_payload_kind(load):
    with pytest.raises(InvalidEvent):
        nexus.normalise(load("nexus_asset_created.json"), {"x-nexus-webhook-id": b"rm:repository:component"})


def test_audit_event_yields_nothing(load):
    payload = {
        "nodeId": "52905B51-085CCABB-CEBBEAAD-16F1BB6E-4D0B2C1B",
        "initiator": "admin/127.0.0.1",
        "audit": {"domain": "security.user", "type": "updated", "context": "admin", "attributes": {}},
    }
    assert nexus.recognise(payload, {})
    assert nexus.normalise(payload, {}) == []


def test_bad_timestamp_is_invalid(load):
    payload = load("nexus_asset_created.json")
    payload["timestamp"] = "yesterday"
    with pytest.raises(InvalidEvent):
        nexus.normalise(payload, {})
