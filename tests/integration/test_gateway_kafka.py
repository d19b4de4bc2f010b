"""The webhook gateway in-process against a real Kafka broker: what the store sent is what the workers read."""
from __future__ import annotations

import asyncio
import json
import time
import uuid
from pathlib import Path

import pytest

from modelscreen.gateway.server import PATH_HEADER, RECEIVED_AT_HEADER, GatewayProducer, create_app
from modelscreen.gateway.settings import GatewaySettings
from modelscreen.sources.auth import nexus_signature
from modelscreen.sources.intake import normalise_raw

PAYLOADS = Path(__file__).resolve().parents[1] / "sources" / "payloads"
NEXUS_SECRET = "it-nexus-secret"
SHARED = "it-shared-secret"


@pytest.fixture
def prefix(kafka_bootstrap):
    """A unique topic prefix with its store-events topic created up front, deleted afterwards."""
    from kafka.admin import KafkaAdminClient, NewTopic

    prefix = f"tgw{uuid.uuid4().hex[:10]}."
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap, client_id="modelscreen-gateway-test")
    try:
        admin.create_topics([NewTopic(prefix + "store-events", 2, 1)])
        yield prefix
    finally:
        try:
            admin.delete_topics([t for t in admin.list_topics() if t.startswith(prefix)])
        except Exception:
            pass
        admin.close()


def gateway_settings(kafka_bootstrap: str, prefix: str, **overrides) -> GatewaySettings:
    values = dict(kafka_bootstrap=kafka_bootstrap, topic_prefix=prefix, gateway_allow_unauthenticated=False,
                  gateway_send_timeout=15.0, nexus_webhook_secret=NEXUS_SECRET, huggingface_webhook_secret=None,
                  harbor_auth_header=None, webhook_shared_secret=SHARED)
    values.update(overrides)
    return GatewaySettings(**values)


async def serve_and_post(settings: GatewaySettings, requests: list[tuple[str, bytes, dict]]) -> list[tuple[int, dict]]:
    """Start the gateway on a random port, wait until it reports Kafka connected, POST the requests."""
    from aiohttp import ClientSession, web

    runner = web.AppRunner(create_app(settings, GatewayProducer(settings)))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    base = f"http://{host}:{port}"
    try:
        async with ClientSession() as http:
            deadline = time.monotonic() + 60
            while True:
                async with http.get(base + "/healthz") as resp:
                    if resp.status == 200:
                        break
                assert time.monotonic() < deadline, "gateway never connected to Kafka"
                await asyncio.sleep(0.25)
            answers = []
            for path, body, headers in requests:
                async with http.post(base + path, data=body, headers=headers) as resp:
                    answers.append((resp.status, await resp.json()))
            return answers
    finally:
        await runner.cleanup()


def consume(kafka_bootstrap: str, topic: str, expect: int, timeout: float = 60) -> list:
    from kafka import KafkaConsumer

    consumer = KafkaConsumer(topic, bootstrap_servers=kafka_bootstrap, auto_offset_reset="earliest",
                             group_id=None, consumer_timeout_ms=1000)
    out: list = []
    deadline = time.monotonic() + timeout
    try:
        while len(out) < expect and time.monotonic() < deadline:
            out.extend(consumer)
    finally:
        consumer.close()
    return out


def test_signed_nexus_and_binary_cloudevent_arrive_intact(kafka_bootstrap, prefix):
    settings = gateway_settings(kafka_bootstrap, prefix)
    nexus_body = (PAYLOADS / "nexus_asset_created.json").read_bytes()
    nexus_headers = {
        "Content-Type": "application/json",
        "X-Nexus-Webhook-Id": "rm:repository:asset",
        "X-Nexus-Webhook-Delivery": "0b9e2f4c-55aa-4e0f-8a3d-3f2d1c0b9a87",
        "X-Nexus-Webhook-Signature": nexus_signature(nexus_body, NEXUS_SECRET),
    }
    ce_body = json.dumps({"uri": "s3://models/resnet/model.safetensors", "name": "model.safetensors",
                          "sha256": "ab" * 32, "size": 1234, "actor": "ci"}).encode()
    ce_headers = {
        "Authorization": f"Bearer {SHARED}",
        "Content-Type": "application/json",
        "ce-specversion": "1.0",
        "ce-type": "io.modelscreen.artifact.uploaded",
        "ce-source": "/ci/model%20registry",
        "ce-id": f"ce-{uuid.uuid4().hex}",
        "ce-time": "2026-01-02T03:04:05Z",
    }
    answers = asyncio.run(serve_and_post(settings, [
        ("/webhooks/nexus", nexus_body, nexus_headers),
        ("/webhooks/cloudevents", ce_body, ce_headers),
    ]))
    topic = prefix + "store-events"
    assert [status for status, _ in answers] == [202, 202], answers
    for _, doc in answers:
        assert doc["accepted"] is True and doc["topic"] == topic

    records = consume(kafka_bootstrap, topic, expect=2)
    assert len(records) == 2
    by_path = {dict(r.headers)[PATH_HEADER]: r for r in records}
    nexus, ce = by_path[b"/webhooks/nexus"], by_path[b"/webhooks/cloudevents"]

    # The acknowledged coordinates are where the records are.
    assert (nexus.partition, nexus.offset) == (answers[0][1]["partition"], answers[0][1]["offset"])
    assert (ce.partition, ce.offset) == (answers[1][1]["partition"], answers[1][1]["offset"])

    assert nexus.value == nexus_body
    nh = dict(nexus.headers)
    assert nh["x-nexus-webhook-id"] == b"rm:repository:asset"
    assert nh["x-nexus-webhook-delivery"] == b"0b9e2f4c-55aa-4e0f-8a3d-3f2d1c0b9a87"
    assert nh["content-type"] == b"application/json"
    assert nh[RECEIVED_AT_HEADER].endswith(b"Z")
    assert "x-nexus-webhook-signature" not in nh

    assert ce.value == ce_body
    chdr = dict(ce.headers)
    assert chdr["ce_specversion"] == b"1.0"
    assert chdr["ce_type"] == b"io.modelscreen.artifact.uploaded"
    assert chdr["ce_source"] == b"/ci/model registry"
    assert chdr["ce_id"] == ce_headers["ce-id"].encode()
    assert "authorization" not in chdr

    # What arrived is what the workers' intake accepts.
    [nexus_event] = normalise_raw(nexus.value, nexus.headers)
    assert nexus_event.uri == "nexus://ml-raw-hosted/models/sentiment/2024-05/model.onnx"
    [ce_event] = normalise_raw(ce.value, ce.headers)
    assert ce_event.uri == "s3://models/resnet/model.safetensors"
    assert ce_event.store_name == "/ci/model registry"
    assert ce_event.source_event_id == ce_headers["ce-id"]
    assert ce_event.expected_sha256 == "ab" * 32


def test_refused_webhooks_never_reach_kafka(kafka_bootstrap, prefix):
    settings = gateway_settings(kafka_bootstrap, prefix)
    body = (PAYLOADS / "nexus_asset_created.json").read_bytes()
    answers = asyncio.run(serve_and_post(settings, [
        ("/webhooks/nexus", body, {"X-Nexus-Webhook-Signature": nexus_signature(body, "wrong")}),
        ("/webhooks/huggingface", b'{"event": {}}', {"X-Webhook-Secret": "anything"}),  # not configured
        ("/webhooks/s3", body, {"Authorization": f"Bearer {SHARED}"}),  # the one that counts
    ]))
    assert [status for status, _ in answers] == [401, 503, 202]
    records = consume(kafka_bootstrap, prefix + "store-events", expect=2, timeout=8)
    assert [dict(r.headers)[PATH_HEADER] for r in records] == [b"/webhooks/s3"]
