"""The webhook gateway against a fake producer: authentication per store, limits, headers, failures."""
from __future__ import annotations

import asyncio
import json
import socket
from pathlib import Path
from types import SimpleNamespace

import pytest
from aiohttp.test_utils import TestClient, TestServer
from click.testing import CliRunner

from modelscreen.gateway import metrics
from modelscreen.gateway.auth_config import STORES
from modelscreen.gateway.server import (
    PATH_HEADER,
    RECEIVED_AT_HEADER,
    GatewayProducer,
    ProducerUnavailable,
    aiokafka_producer_config,
    create_app,
    kafka_headers,
)
from modelscreen.gateway.settings import GatewaySettings
from modelscreen.sources.auth import nexus_signature
from modelscreen.sources.intake import normalise_raw

PAYLOADS = Path(__file__).resolve().parents[1] / "sources" / "payloads"
NEXUS_SECRET = "nexus-s3cret"
HF_SECRET = "hf-s3cret"
HARBOR_AUTH = "Basic aGFyYm9yOnMzY3JldA=="
SHARED = "shared-s3cret"
PREFIX = "tgw."
TOPIC = PREFIX + "store-events"


def make_settings(**overrides) -> GatewaySettings:
    values = dict(
        kafka_bootstrap="127.0.0.1:9",
        topic_prefix=PREFIX,
        gateway_allow_unauthenticated=False,
        gateway_max_body=1024 * 1024,
        gateway_send_timeout=5.0,
        nexus_webhook_secret=NEXUS_SECRET,
        huggingface_webhook_secret=HF_SECRET,
        harbor_auth_header=HARBOR_AUTH,
        webhook_shared_secret=SHARED,
    )
    values.update(overrides)
    return GatewaySettings(**values)


class FakeProducer:
    def __init__(self, error: BaseException | None = None, delay: float = 0.0):
        self.error = error
        self.delay = delay
        self.sent: list[tuple[str, bytes, list[tuple[str, bytes]]]] = []
        self.started = self.stopped = False

    async def start(self):
        self.started = True

    async def stop(self):
        self.stopped = True

    async def healthy(self) -> bool:
        return self.error is None

    async def send_and_wait(self, topic, value=None, *, headers=None):
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.error is not None:
            raise self.error
        self.sent.append((topic, value, headers))
        return SimpleNamespace(topic=topic, partition=3, offset=len(self.sent) - 1)


def run(settings, producer, scenario):
    """Run `scenario(client)` against the app on a test server; returns its result."""
    async def main():
        async with TestClient(TestServer(create_app(settings, producer))) as client:
            return await scenario(client)
    return asyncio.run(main())


def post(path: str, body: bytes, headers: dict | None = None, settings=None, producer=None):
    producer = producer if producer is not None else FakeProducer()

    async def scenario(client):
        resp = await client.post(path, data=body, headers=headers or {})
        return resp.status, await resp.json(), dict(resp.headers)

    status, doc, resp_headers = run(settings or make_settings(), producer, scenario)
    return SimpleNamespace(status=status, json=doc, headers=resp_headers, producer=producer)


def hdrs(sent_headers) -> dict[str, bytes]:
    return dict(sent_headers)


NEXUS_BODY = (PAYLOADS / "nexus_asset_created.json").read_bytes()
HF_BODY = (PAYLOADS / "huggingface_repo_content_update.json").read_bytes()
HARBOR_BODY = (PAYLOADS / "harbor_push_artifact.json").read_bytes()
ARTIFACTORY_BODY = (PAYLOADS / "artifactory_deployed.json").read_bytes()
S3_BODY = (PAYLOADS / "s3_object_created_put.json").read_bytes()
MINIO_BODY = (PAYLOADS / "minio_put.json").read_bytes()
CE_BODY = (PAYLOADS / "cloudevents_modelscreen_uploaded.json").read_bytes()


def nexus_headers(body: bytes, secret: str = NEXUS_SECRET) -> dict[str, str]:
    return {"Content-Type": "application/json", "X-Nexus-Webhook-Id": "rm:repository:asset",
            "X-Nexus-Webhook-Delivery": "7f4a0b1e-3c52-4b8e-9a51-2d7f3e8c1a90",
            "X-Nexus-Webhook-Signature": nexus_signature(body, secret)}


# authentication, per store


def test_nexus_signed_webhook_is_produced_raw_with_its_headers():
    r = post("/webhooks/nexus", NEXUS_BODY, nexus_headers(NEXUS_BODY))
    assert r.status == 202
    assert r.json == {"accepted": True, "topic": TOPIC, "partition": 3, "offset": 0}
    [(topic, value, headers)] = r.producer.sent
    assert topic == TOPIC and value == NEXUS_BODY
    h = hdrs(headers)
    assert h["x-nexus-webhook-id"] == b"rm:repository:asset"
    assert h["x-nexus-webhook-delivery"] == b"7f4a0b1e-3c52-4b8e-9a51-2d7f3e8c1a90"
    assert h["content-type"] == b"application/json"
    assert h[PATH_HEADER] == b"/webhooks/nexus"
    assert h[RECEIVED_AT_HEADER].endswith(b"Z")
    assert "x-nexus-webhook-signature" not in h
    [event] = normalise_raw(value, headers)
    assert event.uri == "nexus://ml-raw-hosted/models/sentiment/2024-05/model.onnx"


@pytest.mark.parametrize("headers", [
    {},
    {"X-Nexus-Webhook-Signature": "0" * 40},
    {"X-Nexus-Webhook-Signature": nexus_signature(NEXUS_BODY, "other-secret")},
    {"X-Nexus-Webhook-Signature": nexus_signature(NEXUS_BODY + b" ", NEXUS_SECRET)},
    {"Authorization": f"Bearer {SHARED}"},  # another store's credential is no credential here
])
def test_nexus_refuses_missing_or_wrong_signature(headers):
    r = post("/webhooks/nexus", NEXUS_BODY, headers)
    assert r.status == 401 and r.json["accepted"] is False
    assert r.producer.sent == []


@pytest.mark.parametrize(("path", "body", "good", "bad"), [
    ("/webhooks/huggingface", HF_BODY, {"X-Webhook-Secret": HF_SECRET},
     [{}, {"X-Webhook-Secret": "nope"}, {"X-Webhook-Secret": HF_SECRET + "x"}, {"Authorization": f"Bearer {HF_SECRET}"}]),
    ("/webhooks/harbor", HARBOR_BODY, {"Authorization": HARBOR_AUTH},
     [{}, {"Authorization": "Basic bm9wZQ=="}, {"Authorization": f"Bearer {HARBOR_AUTH}"}]),
    ("/webhooks/artifactory", ARTIFACTORY_BODY, {"X-JFrog-Event-Auth": SHARED},
     [{}, {"X-JFrog-Event-Auth": "nope"}, {"Authorization": f"Basic {SHARED}"}]),
    ("/webhooks/artifactory", ARTIFACTORY_BODY, {"X-Modelscreen-Secret": SHARED}, []),
    ("/webhooks/artifactory", ARTIFACTORY_BODY, {"Authorization": f"Bearer {SHARED}"}, []),
    ("/webhooks/s3", S3_BODY, {"Authorization": f"Bearer {SHARED}"},
     [{}, {"Authorization": f"Bearer {SHARED}x"}, {"Authorization": SHARED}, {"X-JFrog-Event-Auth": SHARED}]),
    ("/webhooks/minio", MINIO_BODY, {"Authorization": f"Bearer {SHARED}"},
     [{}, {"Authorization": "Bearer "}, {"X-Webhook-Secret": SHARED}]),
    ("/webhooks/cloudevents", CE_BODY, {"X-Modelscreen-Secret": SHARED},
     [{}, {"X-Modelscreen-Secret": ""}]),
    ("/webhooks", S3_BODY, {"Authorization": f"bearer {SHARED}"}, [{}, {"X-Modelscreen-Secret": "nope"}]),
])
def test_header_credentials_per_store(path, body, good, bad):
    ok = post(path, body, good)
    assert ok.status == 202, ok.json
    [(_topic, value, headers)] = ok.producer.sent
    assert value == body
    forwarded = {k for k, _ in headers}
    assert not forwarded & {"authorization", "x-webhook-secret", "x-modelscreen-secret", "x-jfrog-event-auth"}
    assert hdrs(headers)[PATH_HEADER] == path.encode()
    for headers in bad:
        r = post(path, body, headers)
        assert r.status == 401, (path, headers)
        assert r.producer.sent == []


def test_auth_failures_are_counted():
    before = metrics.AUTH_FAILURES.labels(store="huggingface", reason="rejected")._value.get()
    post("/webhooks/huggingface", HF_BODY, {"X-Webhook-Secret": "nope"})
    assert metrics.AUTH_FAILURES.labels(store="huggingface", reason="rejected")._value.get() == before + 1


# secure by default


@pytest.mark.parametrize("spec", STORES, ids=lambda s: s.store)
def test_store_without_configured_secret_answers_503(spec, caplog):
    settings = make_settings(**{spec.secret_field: None})
    before = metrics.AUTH_FAILURES.labels(store=spec.store, reason="not_configured")._value.get()
    with caplog.at_level("WARNING", logger="modelscreen.gateway"):
        r = post(spec.path, S3_BODY, {"Authorization": "Bearer anything", "X-Modelscreen-Secret": "anything"},
                 settings=settings)
    assert r.status == 503 and r.json["accepted"] is False
    assert r.producer.sent == []
    assert any(spec.env_name in rec.getMessage() for rec in caplog.records)
    assert metrics.AUTH_FAILURES.labels(store=spec.store, reason="not_configured")._value.get() == before + 1


def test_empty_secret_counts_as_not_configured():
    r = post("/webhooks/huggingface", HF_BODY, {"X-Webhook-Secret": ""},
             settings=make_settings(huggingface_webhook_secret=""))
    assert r.status == 503


def test_allow_unauthenticated_only_opens_paths_without_a_secret():
    settings = make_settings(gateway_allow_unauthenticated=True, nexus_webhook_secret=None)
    assert post("/webhooks/nexus", NEXUS_BODY, {}, settings=settings).status == 202
    # a configured secret is still enforced
    assert post("/webhooks/huggingface", HF_BODY, {}, settings=settings).status == 401


def test_settings_from_environment(monkeypatch):
    monkeypatch.delenv("MODELSCREEN_CONFIG", raising=False)
    monkeypatch.setenv("MODELSCREEN_NEXUS_WEBHOOK_SECRET", "from-env")
    monkeypatch.setenv("MODELSCREEN_GATEWAY_ALLOW_UNAUTHENTICATED", "1")
    monkeypatch.setenv("MODELSCREEN_GATEWAY_PORT", "9999")
    s = GatewaySettings()
    assert s.nexus_webhook_secret.get_secret_value() == "from-env"
    assert s.gateway_allow_unauthenticated is True
    assert s.gateway_port == 9999
    assert s.gateway_max_body == 1024 * 1024 and s.gateway_host == "127.0.0.1"
    assert "from-env" not in repr(s)


def test_settings_from_yaml_file(tmp_path, monkeypatch):
    from modelscreen.gateway.settings import load_gateway_settings

    for name in ("MODELSCREEN_HARBOR_AUTH_HEADER", "MODELSCREEN_GATEWAY_PORT", "MODELSCREEN_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    cfg = tmp_path / "gw.yaml"
    cfg.write_text("harbor_auth_header: Basic eDp5\ngateway_port: 8181\n")
    s = load_gateway_settings(cfg)
    assert s.harbor_auth_header.get_secret_value() == "Basic eDp5" and s.gateway_port == 8181


# body limits


def test_body_over_the_limit_is_413():
    settings = make_settings(gateway_max_body=1000)
    body = b'{"x": "' + b"a" * 1000 + b'"}'
    r = post("/webhooks/s3", body, {"Authorization": f"Bearer {SHARED}"}, settings=settings)
    assert r.status == 413 and r.producer.sent == []


def test_chunked_body_over_the_limit_is_413():
    settings = make_settings(gateway_max_body=1000)
    producer = FakeProducer()

    async def chunks():
        for _ in range(20):
            yield b"x" * 100

    async def scenario(client):
        resp = await client.post("/webhooks/s3", data=chunks(), headers={"Authorization": f"Bearer {SHARED}"})
        return resp.status

    assert run(settings, producer, scenario) == 413
    assert producer.sent == []


def test_body_at_the_limit_is_accepted():
    settings = make_settings(gateway_max_body=len(S3_BODY))
    r = post("/webhooks/s3", S3_BODY, {"Authorization": f"Bearer {SHARED}"}, settings=settings)
    assert r.status == 202


def test_unauthenticated_big_body_is_refused_before_reading():
    settings = make_settings(gateway_max_body=100)
    r = post("/webhooks/huggingface", b"x" * 10_000, {"X-Webhook-Secret": "nope"}, settings=settings)
    assert r.status == 401


def test_empty_body_is_400():
    r = post("/webhooks/s3", b"", {"Authorization": f"Bearer {SHARED}"})
    assert r.status == 400 and r.producer.sent == []


def test_garbage_is_forwarded_unparsed():
    """No parsing at the gateway: the normaliser dead-letters what is not an event."""
    r = post("/webhooks/s3", b"\xff not json {", {"Authorization": f"Bearer {SHARED}"})
    assert r.status == 202
    assert r.producer.sent[0][1] == b"\xff not json {"


# headers


def test_forwarded_and_stripped_headers():
    headers = {
        "Authorization": f"Bearer {SHARED}",
        "Cookie": "session=1",
        "Proxy-Authorization": "Basic eDp5",
        "X-Webhook-Secret": "leak",
        "X-Modelscreen-Secret": "leak",
        "X-JFrog-Event-Auth": "leak",
        "X-Nexus-Webhook-Signature": "leak",
        "X-Api-Key": "leak",
        "X-Custom": "not forwarded",
        "User-Agent": "MinIO (linux; amd64)",
        "X-Request-Id": "req-1",
        "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        PATH_HEADER: "/spoofed",
        RECEIVED_AT_HEADER: "1999-01-01T00:00:00Z",
        "ce_specversion": "1.0",  # not a CloudEvents HTTP header: must not become one
        "Content-Type": "application/json",
    }
    r = post("/webhooks/minio", MINIO_BODY, headers)
    assert r.status == 202
    [(_t, _v, sent)] = r.producer.sent
    names = [k for k, _ in sent]
    assert len(names) == len(set(names))
    h = hdrs(sent)
    assert set(h) == {"user-agent", "x-request-id", "traceparent", "content-type", PATH_HEADER, RECEIVED_AT_HEADER}
    assert h[PATH_HEADER] == b"/webhooks/minio"
    assert h[RECEIVED_AT_HEADER] != b"1999-01-01T00:00:00Z"
    assert not any(b"leak" in v for v in h.values())


def test_kafka_headers_cloudevents_binary_mode_and_duplicates():
    raw = (
        (b"Host", b"gw"),
        (b"Ce-Specversion", b"1.0"),
        (b"ce-type", b"io.modelscreen.artifact.uploaded"),
        (b"ce-source", b"/tests/caf%C3%A9%20store"),
        (b"ce-id", b"abc-1"),
        (b"ce-id", b"abc-2"),
        (b"ce-Not_Valid", b"x"),
        (b"ce-authtoken", b"x"),  # an extension attribute is forwarded as such ...
        (b"Content-Type", b"application/json"),
        (b"content-type", b"text/plain"),
    )
    out = kafka_headers(raw, "/webhooks/cloudevents", "2026-01-01T00:00:00.000Z")
    assert out == [
        ("ce_specversion", b"1.0"),
        ("ce_type", b"io.modelscreen.artifact.uploaded"),
        ("ce_source", "/tests/café store".encode()),
        ("ce_id", b"abc-1"),
        ("ce_authtoken", b"x"),
        ("content-type", b"application/json"),
        (PATH_HEADER, b"/webhooks/cloudevents"),
        (RECEIVED_AT_HEADER, b"2026-01-01T00:00:00.000Z"),
    ]


def test_cloudevents_binary_mode_becomes_kafka_binary_mode():
    data = json.dumps({"uri": "s3://models/bert/model.safetensors", "name": "model.safetensors",
                       "actor": "ci"}).encode()
    r = post("/webhooks/cloudevents", data, {
        "Authorization": f"Bearer {SHARED}",
        "ce-specversion": "1.0", "ce-type": "io.modelscreen.artifact.uploaded", "ce-source": "/ci/pipeline%201",
        "ce-id": "evt-42", "ce-time": "2026-01-02T03:04:05Z", "Content-Type": "application/json",
    })
    assert r.status == 202
    [(_t, value, headers)] = r.producer.sent
    assert value == data
    h = hdrs(headers)
    assert h["ce_specversion"] == b"1.0" and h["ce_id"] == b"evt-42" and h["ce_source"] == b"/ci/pipeline 1"
    [event] = normalise_raw(value, headers)
    assert event.uri == "s3://models/bert/model.safetensors"
    assert event.store_name == "/ci/pipeline 1" and event.source_event_id == "evt-42"


def test_cloudevents_structured_mode_passes_through():
    r = post("/webhooks/cloudevents", CE_BODY, {"Authorization": f"Bearer {SHARED}",
                                                "Content-Type": "application/cloudevents+json"})
    assert r.status == 202
    [(_t, value, headers)] = r.producer.sent
    assert hdrs(headers)["content-type"] == b"application/cloudevents+json"
    assert normalise_raw(value, headers)


def test_too_many_cloudevents_attributes_is_431():
    headers = {f"ce-ext{i}": "v" for i in range(70)}
    headers["Authorization"] = f"Bearer {SHARED}"
    r = post("/webhooks/cloudevents", CE_BODY, headers)
    assert r.status == 431 and r.producer.sent == []


# Kafka failures: never 2xx without the acknowledgement


@pytest.mark.parametrize("error", [
    "KafkaConnectionError", "KafkaTimeoutError", "NotLeaderForPartitionError", "ProducerClosed",
])
def test_kafka_errors_answer_503(error):
    import aiokafka.errors as errors

    r = post("/webhooks/s3", S3_BODY, {"Authorization": f"Bearer {SHARED}"},
             producer=FakeProducer(getattr(errors, error)()))
    assert r.status == 503 and r.json["accepted"] is False
    assert r.headers.get("Retry-After")


def test_producer_not_connected_answers_503():
    r = post("/webhooks/s3", S3_BODY, {"Authorization": f"Bearer {SHARED}"},
             producer=FakeProducer(ProducerUnavailable("not connected")))
    assert r.status == 503


def test_slow_acknowledgement_answers_503():
    r = post("/webhooks/s3", S3_BODY, {"Authorization": f"Bearer {SHARED}"},
             settings=make_settings(gateway_send_timeout=0.2), producer=FakeProducer(delay=5))
    assert r.status == 503


def test_message_too_large_for_kafka_is_413():
    from aiokafka.errors import MessageSizeTooLargeError

    r = post("/webhooks/s3", S3_BODY, {"Authorization": f"Bearer {SHARED}"},
             producer=FakeProducer(MessageSizeTooLargeError()))
    assert r.status == 413


def test_unexpected_producer_error_is_500_not_2xx():
    r = post("/webhooks/s3", S3_BODY, {"Authorization": f"Bearer {SHARED}"},
             producer=FakeProducer(RuntimeError("bug")))
    assert r.status == 500


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_real_producer_without_kafka_answers_503_and_unhealthy():
    settings = make_settings(kafka_bootstrap=f"127.0.0.1:{_closed_port()}", gateway_send_timeout=1.0)
    producer = GatewayProducer(settings, retry_max=0.2)

    async def scenario(client):
        await asyncio.sleep(0.3)
        webhook = await client.post("/webhooks/s3", data=S3_BODY, headers={"Authorization": f"Bearer {SHARED}"})
        health = await client.get("/healthz")
        return webhook.status, health.status, producer.connected

    assert run(settings, producer, scenario) == (503, 503, False)


# the rest of the HTTP surface


def test_healthz_and_lifecycle():
    producer = FakeProducer()

    async def scenario(client):
        assert producer.started
        resp = await client.get("/healthz")
        return resp.status, await resp.json()

    assert run(make_settings(), producer, scenario) == (200, {"status": "ok", "kafka": "connected"})
    assert producer.stopped
    assert run(make_settings(), FakeProducer(ProducerUnavailable()), lambda c: _status(c.get("/healthz"))) == 503


async def _status(request):
    resp = await request
    return resp.status


def test_metrics_endpoint():
    producer = FakeProducer()

    async def scenario(client):
        await client.post("/webhooks/s3", data=S3_BODY, headers={"Authorization": f"Bearer {SHARED}"})
        resp = await client.get("/metrics")
        return resp.status, resp.headers["Content-Type"], await resp.text()

    status, ctype, text = run(make_settings(), producer, scenario)
    assert status == 200 and ctype.startswith("text/plain")
    assert 'modelscreen_gateway_requests_total{status="202",store="s3"}' in text
    assert "modelscreen_gateway_auth_failures_total" in text


def test_unknown_paths_and_methods():
    async def scenario(client):
        return ((await client.get("/webhooks/nexus")).status, (await client.post("/webhooks/gitlab", data=b"{}")).status,
                (await client.post("/webhooks/nexus/extra", data=b"{}")).status)

    assert run(make_settings(), FakeProducer(), scenario) == (405, 404, 404)


def test_aiokafka_config_maps_tls_and_sasl(tmp_path):
    s = make_settings(kafka_bootstrap="a:9093,b:9093", kafka_security_protocol="SASL_SSL",
                      kafka_sasl_mechanism="SCRAM-SHA-512", kafka_sasl_username="gw", kafka_sasl_password="pw")
    cfg = aiokafka_producer_config(s)
    assert cfg["bootstrap_servers"] == ["a:9093", "b:9093"]
    assert cfg["security_protocol"] == "SASL_SSL" and cfg["sasl_mechanism"] == "SCRAM-SHA-512"
    assert cfg["sasl_plain_username"] == "gw" and cfg["sasl_plain_password"] == "pw"
    assert cfg["ssl_context"] is not None
    assert cfg["acks"] == "all" and cfg["enable_idempotence"] is True
    assert cfg["max_request_size"] > s.gateway_max_body
    plain = aiokafka_producer_config(make_settings())
    assert "ssl_context" not in plain and "sasl_mechanism" not in plain

    from aiokafka import AIOKafkaProducer

    async def construct():
        AIOKafkaProducer(**plain)  # every key is one aiokafka knows

    asyncio.run(construct())


def test_cli_command_help():
    from modelscreen.commands.gateway import gateway

    result = CliRunner().invoke(gateway, ["--help"])
    assert result.exit_code == 0
    assert "--port" in result.output and "--config" in result.output
