"""The webhook gateway: aiohttp app that authenticates store webhooks and produces them, raw, to Kafka.

    POST /webhooks/{nexus,huggingface,harbor,artifactory,s3,minio,cloudevents}, POST /webhooks
    GET  /healthz   200 when the Kafka producer is connected, else 503
    GET  /metrics   Prometheus text

A webhook is answered 202 only after Kafka acknowledged it (acks=all, idempotent producer); when Kafka
cannot be reached in `gateway_send_timeout` the answer is 503, so the store retries. Bodies are never
parsed here: the value on `<prefix>store-events` is the request body byte for byte, and the workers
recognise the store by the payload's shape. CloudEvents HTTP binary mode (`ce-*` headers) becomes Kafka
binary mode (`ce_*` headers), see `kafka_headers`.
"""
from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any, Protocol
from urllib.parse import unquote_to_bytes

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from modelscreen.gateway import metrics
from modelscreen.gateway.auth_config import CREDENTIAL_HEADERS, STORES, StoreAuth
from modelscreen.gateway.settings import GatewaySettings
from modelscreen.sources.intake import MAX_HEADERS
from modelscreen.topics import STORE_EVENTS

log = logging.getLogger("modelscreen.gateway")

PATH_HEADER = "modelscreen-gateway-path"
RECEIVED_AT_HEADER = "modelscreen-received-at"

# HTTP request headers copied to Kafka (lower-cased names), besides the ce-* attributes. An allow-list:
# anything else a sender adds (cookies, tokens, proxy headers, our own modelscreen-* names) stays behind.
FORWARDED_HEADERS = frozenset({
    "content-type",
    "user-agent",
    "x-request-id",
    "x-correlation-id",
    "traceparent",
    "tracestate",
    "x-nexus-webhook-id",
    "x-nexus-webhook-delivery",
})
_CE_HEADER = re.compile(r"ce-([a-z0-9]{1,20})")  # CloudEvents attribute names: a-z, 0-9, at most 20
_EVENT_ID_HEADERS = ("ce-id", "x-nexus-webhook-delivery", "x-request-id")

SETTINGS_KEY = web.AppKey("settings", GatewaySettings)
PRODUCER_KEY = web.AppKey("producer", object)


class ProducerUnavailable(Exception):
    """The producer has no connection to Kafka (yet)."""


class Producer(Protocol):
    """What the app needs of a producer. `start`, `stop` and `healthy` are optional."""

    async def send_and_wait(self, topic: str, value: bytes | None = None, *,
                            headers: list[tuple[str, bytes]] | None = None) -> Any: ...


# Kafka headers


def _utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def kafka_headers(raw_headers: tuple[tuple[bytes, bytes], ...], path: str,
                  received_at: str | None = None) -> list[tuple[str, bytes]]:
    """HTTP request headers -> Kafka headers: the allow-listed ones, ce-* renamed, plus our own two.

    * names are lower-cased; for a repeated name only the first value is kept (intake's rule too);
    * `ce-<attr>` becomes `ce_<attr>` with the value percent-decoded (CloudEvents HTTP binding 3.1.3.2
      percent-encodes, the Kafka binding does not);
    * credential headers are dropped even when they would otherwise qualify.
    """
    out: list[tuple[str, bytes]] = []
    seen: set[str] = set()
    for raw_name, raw_value in raw_headers:
        name = raw_name.decode("latin-1").lower()
        if name in seen or name in CREDENTIAL_HEADERS:
            continue
        ce = _CE_HEADER.fullmatch(name)
        if ce:
            seen.add(name)
            out.append((f"ce_{ce.group(1)}", unquote_to_bytes(raw_value)))
        elif name in FORWARDED_HEADERS:
            seen.add(name)
            out.append((name, bytes(raw_value)))
    out.append((PATH_HEADER, path.encode("utf-8")))
    out.append((RECEIVED_AT_HEADER, (received_at or _utc_now()).encode("ascii")))
    return out


def _event_id(headers: Mapping[str, str]) -> str | None:
    for name in _EVENT_ID_HEADERS:
        value = headers.get(name)
        if value:
            return value[:200]
    return None


# the Kafka producer


def aiokafka_producer_config(settings: GatewaySettings) -> dict[str, Any]:
    """AIOKafkaProducer keyword arguments from the shared Kafka settings (TLS, SASL) plus delivery rules."""
    cfg = settings.kafka_python_config()
    out = {k: cfg[k] for k in ("bootstrap_servers", "security_protocol", "sasl_mechanism", "sasl_plain_username",
                               "sasl_plain_password", "ssl_context") if k in cfg}
    out.update(
        client_id=f"{settings.app_id}-gateway",
        acks="all",
        enable_idempotence=True,
        request_timeout_ms=max(1000, int(settings.gateway_send_timeout * 1000)),
        # the body plus headers must pass the client-side size check; the broker's limit still applies
        max_request_size=settings.gateway_max_body + 64 * 1024,
    )
    return out


class GatewayProducer:
    """An AIOKafkaProducer that connects in the background and retries until Kafka is there.

    The gateway starts even when Kafka is down: /healthz and the webhooks answer 503 until connected.
    """

    def __init__(self, settings: GatewaySettings, *, retry_max: float = 30.0):
        self._settings = settings
        self._producer = None
        self._task: asyncio.Task | None = None
        self._retry_max = retry_max

    @property
    def connected(self) -> bool:
        return self._producer is not None

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._connect(), name="gateway-kafka-connect")

    async def _connect(self) -> None:
        from aiokafka import AIOKafkaProducer

        delay = 0.5
        while True:
            producer = AIOKafkaProducer(**aiokafka_producer_config(self._settings))
            try:
                await producer.start()
            except asyncio.CancelledError:
                await producer.stop()
                raise
            except Exception as exc:  # KafkaConnectionError, auth and TLS errors, ...
                log.warning("kafka %s not reachable (%s: %s); retrying in %.1fs", self._settings.kafka_bootstrap,
                            type(exc).__name__, exc, delay)
                try:
                    await producer.stop()
                except Exception:  # pragma: no cover - best effort
                    pass
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._retry_max)
                continue
            self._producer = producer
            log.info("kafka producer connected to %s", self._settings.kafka_bootstrap)
            return

    async def stop(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):
                pass
        producer, self._producer = self._producer, None
        if producer is not None:
            await producer.stop()  # flushes what is in flight

    async def send_and_wait(self, topic: str, value: bytes | None = None, *,
                            headers: list[tuple[str, bytes]] | None = None):
        if self._producer is None:
            raise ProducerUnavailable("not connected to Kafka")
        return await self._producer.send_and_wait(topic, value=value, headers=headers)

    async def healthy(self, timeout: float = 3.0) -> bool:
        """Connected, and a metadata request to the cluster succeeds now."""
        if self._producer is None:
            return False
        try:
            return bool(await asyncio.wait_for(self._producer.client.force_metadata_update(), timeout))
        except Exception:
            return False


async def _producer_healthy(producer: Any) -> bool:
    check = getattr(producer, "healthy", None)
    if check is not None:
        return bool(await check())
    client = getattr(producer, "client", None)  # a bare AIOKafkaProducer
    if client is not None:
        try:
            return bool(await asyncio.wait_for(client.force_metadata_update(), 3.0))
        except Exception:
            return False
    return True


# HTTP


def _reply(store: str, status: int, body: dict, headers: dict[str, str] | None = None) -> web.Response:
    metrics.REQUESTS.labels(store=store, status=str(status)).inc()
    return web.json_response(body, status=status, headers=headers)


def _refuse(store: str, status: int, error: str, headers: dict[str, str] | None = None) -> web.Response:
    return _reply(store, status, {"accepted": False, "error": error}, headers)


async def _read_body(request: web.Request, limit: int) -> bytes | None:
    """The request body, or None once it grows past `limit` bytes (the rest is not read)."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _is_kafka_error(exc: BaseException) -> bool:
    try:
        from aiokafka.errors import KafkaError
    except ImportError:  # pragma: no cover
        return False
    return isinstance(exc, KafkaError)


def _is_too_large(exc: BaseException) -> bool:
    try:
        from aiokafka.errors import MessageSizeTooLargeError, RecordTooLargeError
    except ImportError:  # pragma: no cover
        return False
    return isinstance(exc, (MessageSizeTooLargeError, RecordTooLargeError))


def _webhook_handler(spec: StoreAuth):
    async def handle(request: web.Request) -> web.Response:
        settings = request.app[SETTINGS_KEY]
        producer = request.app[PRODUCER_KEY]
        store = spec.store
        event_id = _event_id(request.headers)
        extra = {"event_id": event_id} if event_id else {}
        peer = request.remote or "-"

        secret = spec.secret(settings)
        if secret is None and not settings.gateway_allow_unauthenticated:
            metrics.AUTH_FAILURES.labels(store=store, reason="not_configured").inc()
            log.warning("refused %s from %s: %s is not set, so this path cannot authenticate its sender "
                        "(set it, or MODELSCREEN_GATEWAY_ALLOW_UNAUTHENTICATED=1 for development only)",
                        spec.path, peer, spec.env_name, extra=extra)
            return _refuse(store, 503, f"webhooks for {store} are not configured on this gateway",
                           {"Retry-After": "300"})

        # Header-only credentials are checked before the body is read.
        if secret is not None and not spec.signs_body and not spec.check(b"", request.headers, secret):
            metrics.AUTH_FAILURES.labels(store=store, reason="rejected").inc()
            log.warning("refused %s from %s: missing or wrong credential (%s)", spec.path, peer, spec.scheme,
                        extra=extra)
            return _refuse(store, 401, "authentication failed")

        limit = settings.gateway_max_body
        if request.content_length is not None and request.content_length > limit:
            log.warning("refused %s from %s: body of %d bytes is over %d", spec.path, peer,
                        request.content_length, limit, extra=extra)
            return _refuse(store, 413, f"body over {limit} bytes")
        try:
            body = await asyncio.wait_for(_read_body(request, limit), settings.gateway_body_timeout)
        except asyncio.TimeoutError:
            metrics.SLOW_CLIENTS.inc()
            log.warning("refused %s from %s: body not received within %gs", spec.path, peer,
                        settings.gateway_body_timeout, extra=extra)
            resp = _refuse(store, 408, f"body not received within {settings.gateway_body_timeout:g}s")
            resp.force_close()
            return resp
        if body is None:
            log.warning("refused %s from %s: body over %d bytes", spec.path, peer, limit, extra=extra)
            return _refuse(store, 413, f"body over {limit} bytes")
        if not body:
            return _refuse(store, 400, "empty body")

        if secret is not None and spec.signs_body and not spec.check(body, request.headers, secret):
            metrics.AUTH_FAILURES.labels(store=store, reason="rejected").inc()
            log.warning("refused %s from %s: missing or wrong signature (%s)", spec.path, peer, spec.scheme,
                        extra=extra)
            return _refuse(store, 401, "authentication failed")

        headers = kafka_headers(request.raw_headers, request.path)
        if len(headers) > MAX_HEADERS:
            return _refuse(store, 431, f"more than {MAX_HEADERS} forwarded headers")

        topic = settings.topic(STORE_EVENTS)
        started = time.perf_counter()
        try:
            md = await asyncio.wait_for(producer.send_and_wait(topic, value=body, headers=headers),
                                        settings.gateway_send_timeout)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            kind = type(exc).__name__
            metrics.PRODUCE_ERRORS.labels(error=kind).inc()
            if _is_too_large(exc):
                log.warning("kafka refused %s from %s as too large: %s", spec.path, peer, exc, extra=extra)
                return _refuse(store, 413, "event too large for the event bus")
            if isinstance(exc, (ProducerUnavailable, TimeoutError, OSError)) or _is_kafka_error(exc):
                log.error("kafka did not acknowledge %s from %s (%s: %s); answered 503", spec.path, peer, kind,
                          exc, extra=extra)
                return _refuse(store, 503, "event bus unavailable, retry later", {"Retry-After": "5"})
            log.exception("producing %s from %s failed", spec.path, peer, extra=extra)
            return _refuse(store, 500, "internal error")
        metrics.PRODUCE_SECONDS.observe(time.perf_counter() - started)
        metrics.BODY_BYTES.observe(len(body))
        log.info("accepted %s from %s: %d bytes -> %s[%s]@%s", spec.path, peer, len(body), md.topic,
                 md.partition, md.offset, extra=extra)
        return _reply(store, 202, {"accepted": True, "topic": md.topic, "partition": md.partition,
                                   "offset": md.offset})

    handle.__name__ = f"webhook_{spec.store}"
    return handle


async def _healthz(request: web.Request) -> web.Response:
    ok = await _producer_healthy(request.app[PRODUCER_KEY])
    return web.json_response({"status": "ok" if ok else "unavailable", "kafka": "connected" if ok else "down"},
                             status=200 if ok else 503)


async def _metrics(request: web.Request) -> web.Response:
    resp = web.Response(body=generate_latest())
    resp.headers["Content-Type"] = CONTENT_TYPE_LATEST
    return resp


def create_app(settings: GatewaySettings, producer: Producer) -> web.Application:
    """The gateway app. It owns the producer's lifecycle: `start()` on startup and `stop()` on cleanup
    when the producer has them (GatewayProducer connects in the background, so startup never blocks)."""
    app = web.Application(client_max_size=settings.gateway_max_body)
    app[SETTINGS_KEY] = settings
    app[PRODUCER_KEY] = producer
    for spec in STORES:
        app.router.add_post(spec.path, _webhook_handler(spec), name=f"webhook-{spec.store}")
    app.router.add_get("/healthz", _healthz, name="healthz")
    app.router.add_get("/metrics", _metrics, name="metrics")

    async def _lifecycle(app: web.Application):
        _log_configuration(settings)
        start = getattr(producer, "start", None)
        if start is not None:
            await start()
        yield
        stop = getattr(producer, "stop", None)
        if stop is not None:
            await stop()

    app.cleanup_ctx.append(_lifecycle)
    return app


def _log_configuration(settings: GatewaySettings) -> None:
    for spec in STORES:
        if spec.secret(settings) is not None:
            log.info("%s: enabled, authenticated by %s", spec.path, spec.scheme)
        elif settings.gateway_allow_unauthenticated:
            log.warning("%s: enabled WITHOUT authentication (%s unset, unauthenticated webhooks allowed)",
                        spec.path, spec.env_name)
        else:
            log.warning("%s: refuses webhooks with 503 until %s is set", spec.path, spec.env_name)
