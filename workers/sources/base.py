"""Shared pieces of the store recognisers: the error type and defensive field access.

Every recogniser module exposes `recognise(payload, headers) -> bool` (never raises) and
`normalise(payload, headers) -> list[ArtifactEvent]` (raises only `InvalidEvent`). `headers` maps
lower-cased header names to their raw bytes. An event that is recognised but is not about an artifact's
content (a discussion, a scan report, a tag change, a test ping) normalises to an empty list.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from datetime import datetime, timezone
from typing import Any
from urllib.parse import quote

from pydantic import ValidationError

from modelscreen.schemas.events import ArtifactEvent


class InvalidEvent(Exception):
    """The raw event cannot become an ArtifactEvent. `code` is short and stable (for metrics and DLQ)."""

    def __init__(self, reason: str, code: str = "invalid"):
        super().__init__(f"{code}: {reason}")
        self.reason = reason
        self.code = code


Recogniser = Callable[[dict, dict], bool]
Normaliser = Callable[[dict, dict], list[ArtifactEvent]]


def content_id(obj: Any) -> str:
    """Stable id for payloads that carry none of their own: a hash of their canonical JSON."""
    canonical = json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return "sha256:" + hashlib.sha256(canonical.encode("ascii")).hexdigest()


def header(headers: dict[str, bytes], name: str) -> str | None:
    raw = headers.get(name.lower())
    if raw is None:
        return None
    if isinstance(raw, str):
        return raw
    try:
        return bytes(raw).decode("utf-8")
    except (UnicodeDecodeError, TypeError):
        raise InvalidEvent(f"header {name} is not UTF-8") from None


def get_dict(obj: Any, key: str, *, required: bool = True, where: str = "") -> dict | None:
    value = obj.get(key) if isinstance(obj, dict) else None
    if value is None and not required:
        return None
    if not isinstance(value, dict):
        raise InvalidEvent(f"{where}{key} must be an object")
    return value


def get_list(obj: Any, key: str, *, required: bool = True, where: str = "") -> list | None:
    value = obj.get(key) if isinstance(obj, dict) else None
    if value is None and not required:
        return None
    if not isinstance(value, list):
        raise InvalidEvent(f"{where}{key} must be a list")
    return value


def get_str(obj: Any, key: str, *, required: bool = True, where: str = "") -> str | None:
    value = obj.get(key) if isinstance(obj, dict) else None
    if value is None or value == "":
        if required:
            raise InvalidEvent(f"{where}{key} is missing")
        return None
    if not isinstance(value, str):
        raise InvalidEvent(f"{where}{key} must be a string")
    return value


def get_size(obj: Any, key: str, *, where: str = "") -> int | None:
    value = obj.get(key) if isinstance(obj, dict) else None
    if value is None:
        return None
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) < 20:
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**63:
        raise InvalidEvent(f"{where}{key} must be a non-negative integer")
    return value


def parse_time(value: Any, *, where: str = "time") -> datetime:
    """ISO 8601 string (Z, +00:00 or +0000) or epoch seconds/milliseconds -> aware UTC datetime."""
    try:
        if isinstance(value, bool):
            raise TypeError
        if isinstance(value, (int, float)):
            seconds = value / 1000 if value > 1e11 else value
            return datetime.fromtimestamp(seconds, tz=timezone.utc)
        if isinstance(value, str) and 0 < len(value) <= 64:
            parsed = datetime.fromisoformat(value)
            if parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=timezone.utc)
            return parsed.astimezone(timezone.utc)
    except (TypeError, ValueError, OverflowError, OSError):
        pass
    raise InvalidEvent(f"{where} is not a valid timestamp")


def now() -> datetime:
    """Fallback event time for stores whose notifications carry none (Hugging Face)."""
    return datetime.now(timezone.utc)


def sha256_hex(value: Any, *, where: str = "sha256") -> str | None:
    """A store-stated SHA-256 (optionally `sha256:`-prefixed), lower-cased; invalid -> InvalidEvent."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise InvalidEvent(f"{where} must be a string", code="bad-sha256")
    text = value.strip().lower().removeprefix("sha256:")
    if len(text) != 64 or any(c not in "0123456789abcdef" for c in text):
        raise InvalidEvent(f"{where} is not a hex SHA-256", code="bad-sha256")
    return text


def build(**fields: Any) -> ArtifactEvent:
    """Construct an ArtifactEvent, turning validation errors into InvalidEvent."""
    try:
        return ArtifactEvent(**fields)
    except ValidationError as exc:
        first = exc.errors()[0] if exc.errors() else {}
        loc = ".".join(str(p) for p in first.get("loc", ())) or "event"
        raise InvalidEvent(f"{loc}: {first.get('msg', 'invalid')}") from None


def dedupe(events: Iterable[ArtifactEvent]) -> list[ArtifactEvent]:
    seen: set[str] = set()
    out = []
    for ev in events:
        if ev.event_id not in seen:
            seen.add(ev.event_id)
            out.append(ev)
    return out


def quote_path(value: str, *, safe: str = "/") -> str:
    """Percent-encode a path or key for a URI; text that is not valid Unicode is an InvalidEvent."""
    try:
        return quote(value, safe=safe)
    except UnicodeEncodeError:
        raise InvalidEvent("name is not valid Unicode") from None
