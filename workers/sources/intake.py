"""Raw Kafka message -> ArtifactEvents, recognising the store by the payload's shape alone.

Order matters and is deliberate: the most explicit envelope first, the loosest shape last.

1. cloudevents  - `specversion` in the body or a `ce_specversion` header: an explicit envelope, and it
                  may wrap any of the others in `data`.
2. harbor       - upper-case `type` plus an `event_data` object.
3. artifactory  - `domain` + `event_type` + `data` (or the same wrapped in `event`).
4. huggingface  - `event` {action, scope} + `repo` (checked after Artifactory, whose newer form also uses
                  an `event` key).
5. nexus        - `nodeId` + `initiator` + asset/component/audit/repository object.
6. s3           - `Records` of objects with `s3` and `eventName` (MinIO included), or the S3 test event.

Pure functions: no Kafka, no HTTP. Anything unrecognised or invalid raises InvalidEvent.
"""
from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime, timezone
from types import ModuleType

from pydantic import ValidationError

from modelscreen.schemas.events import ArtifactEvent, DeadLetter
from modelscreen.schemas.report import ArtifactReport

from modelscreen.sources import cloudevents
from modelscreen.sources.base import InvalidEvent
from modelscreen.sources.registry import STORE_RECOGNISERS

MAX_VALUE_BYTES = 1024 * 1024
MAX_HEADERS = 64
MAX_HEADER_BYTES = 8 * 1024
MAX_JSON_DEPTH = 64

RECOGNISERS: tuple[tuple[str, ModuleType], ...] = (("cloudevents", cloudevents), *STORE_RECOGNISERS)


def _no_duplicates(pairs: list[tuple[str, object]]) -> dict:
    obj = {}
    for key, value in pairs:
        if key in obj:
            # Two parsers that keep different duplicates see different events; refuse the ambiguity.
            raise ValueError(f"duplicate key {key!r}")
        obj[key] = value
    return obj


def _reject_constant(name: str):
    raise ValueError(f"{name} is not JSON")


def _depth_ok(obj: object, limit: int = MAX_JSON_DEPTH) -> bool:
    stack = [(obj, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return False
        if isinstance(node, dict):
            stack.extend((v, depth + 1) for v in node.values())
        elif isinstance(node, list):
            stack.extend((v, depth + 1) for v in node)
    return True


def parse_headers(headers: Iterable[tuple[str, bytes]] | None) -> dict[str, bytes]:
    """Kafka headers -> {lower-cased name: value}; the first of repeated names wins."""
    out: dict[str, bytes] = {}
    for n, item in enumerate(headers or ()):
        if n >= MAX_HEADERS:
            raise InvalidEvent("too many headers", code="too-large")
        try:
            key, value = item
        except (TypeError, ValueError):
            raise InvalidEvent("header is not a (name, value) pair") from None
        if isinstance(key, bytes):
            try:
                key = key.decode("utf-8")
            except UnicodeDecodeError:
                raise InvalidEvent("header name is not UTF-8") from None
        if not isinstance(key, str):
            raise InvalidEvent("header name is not a string")
        if value is None:
            value = b""
        elif isinstance(value, str):
            value = value.encode("utf-8", "surrogatepass")
        elif not isinstance(value, (bytes, bytearray, memoryview)):
            raise InvalidEvent(f"header {key!r} value is not bytes")
        value = bytes(value)
        if len(value) > MAX_HEADER_BYTES:
            raise InvalidEvent(f"header {key!r} is too large", code="too-large")
        out.setdefault(key.lower(), value)
    return out


def parse_value(value: bytes | None) -> dict:
    if value is None or len(value) == 0:
        raise InvalidEvent("empty message value", code="empty")
    if len(value) > MAX_VALUE_BYTES:
        raise InvalidEvent(f"message value is {len(value)} bytes, over {MAX_VALUE_BYTES}", code="too-large")
    try:
        text = bytes(value).decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidEvent("message value is not UTF-8", code="not-json") from None
    try:
        obj = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_reject_constant)
    except RecursionError:
        raise InvalidEvent("JSON nests too deeply", code="not-json") from None
    except ValueError as exc:
        raise InvalidEvent(f"not JSON: {exc}"[:200], code="not-json") from None
    if not isinstance(obj, dict):
        raise InvalidEvent(f"JSON value is a {type(obj).__name__}, not an object", code="not-object")
    # Every level but the innermost value opens a bracket: text with fewer brackets than the limit is within it.
    if text.count("{") + text.count("[") >= MAX_JSON_DEPTH and not _depth_ok(obj):
        raise InvalidEvent("JSON nests too deeply", code="not-json")
    try:
        # "\ud800" escapes decode to lone surrogates, which no later encoding step can handle (valid UTF-8
        # without escapes has none).
        if "\\u" in text:
            json.dumps(obj, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidEvent("JSON contains invalid Unicode escapes", code="not-json") from None
    return obj


def recognise_store(payload: dict, headers: dict[str, bytes]) -> tuple[str, ModuleType] | None:
    for name, module in RECOGNISERS:
        if module.recognise(payload, headers):
            return name, module
    return None


def normalise_raw(value: bytes, headers: list[tuple[str, bytes]] | None = None) -> list[ArtifactEvent]:
    """Normalise one raw message. An empty list means "recognised, but not about artifact content"."""
    hdrs = parse_headers(headers)
    payload = parse_value(value)
    found = recognise_store(payload, hdrs)
    if found is None:
        raise InvalidEvent("payload matches no known store shape", code="unrecognised")
    name, module = found
    try:
        return module.normalise(payload, hdrs)
    except InvalidEvent as exc:
        raise InvalidEvent(f"{name}: {exc.reason}", code=exc.code) from None
    except ValidationError as exc:
        raise InvalidEvent(f"{name}: {exc.errors()[0].get('msg', 'invalid') if exc.errors() else 'invalid'}") from None
    except (KeyError, TypeError, ValueError, AttributeError, IndexError, OverflowError, RecursionError) as exc:
        # A payload shape the recogniser did not anticipate: dead-letter it rather than stop the stream.
        raise InvalidEvent(f"{name}: malformed payload ({type(exc).__name__})", code="invalid") from None


def _key_bytes(key: bytes | str | None) -> bytes | None:
    """A message key as bytes (clients hand some keys over decoded); an empty key is no key."""
    if isinstance(key, str):
        key = key.encode("utf-8", "surrogatepass")
    return bytes(key) if key else None


def dead_letter(
    error: InvalidEvent | str,
    value: bytes | None,
    headers: Iterable[tuple[str, bytes | None]] | None,
    *,
    stage: str = "intake",
    topic: str | None = None,
    partition: int | None = None,
    offset: int | None = None,
    attempts: int = 1,
    time: datetime | None = None,
    key: bytes | str | None = None,
    report: ArtifactReport | None = None,
) -> DeadLetter:
    """Build the DeadLetter for a message, keeping the original value and headers byte for byte."""
    reason = str(error) if isinstance(error, InvalidEvent) else error
    kept = []
    for item in headers or ():
        try:
            key, raw = item
        except (TypeError, ValueError):
            continue
        if isinstance(key, bytes):
            key = key.decode("utf-8", "replace")
        if isinstance(raw, str):
            raw = raw.encode("utf-8", "surrogatepass")
        kept.append((str(key), bytes(raw or b"")))
    return DeadLetter(
        reason=reason or "unknown",
        stage=stage,
        original=bytes(value or b""),
        key=_key_bytes(key),
        headers=kept,
        topic=topic,
        partition=partition,
        offset=offset,
        time=time or datetime.now(timezone.utc),
        attempts=attempts,
        report=report,
    )
