"""Webhook authentication checks. Pure functions over the raw body and the request headers.

`headers` may be any mapping of header name to str or bytes; names are matched case-insensitively.
Every comparison is constant-time (hmac.compare_digest) and an empty configured secret never matches:
an unconfigured secret must fail closed, not accept everything.
"""
from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

NEXUS_SIGNATURE = "X-Nexus-Webhook-Signature"
HUGGINGFACE_SECRET = "X-Webhook-Secret"
AUTHORIZATION = "Authorization"
MODELSCREEN_SECRET = "X-Modelscreen-Secret"


def _as_bytes(value: str | bytes | bytearray | memoryview | None) -> bytes | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value.encode("utf-8", "surrogatepass")
    return bytes(value)


def get_header(headers: Mapping[str, str | bytes] | None, name: str) -> bytes | None:
    if not headers:
        return None
    wanted = name.lower()
    for key, value in headers.items():
        k = key.decode("latin-1") if isinstance(key, (bytes, bytearray)) else str(key)
        if k.lower() == wanted:
            return _as_bytes(value)
    return None


def _equal(given: bytes | None, expected: str | bytes | None) -> bool:
    expected_b = _as_bytes(expected)
    if not expected_b or given is None:
        return False
    return hmac.compare_digest(given, expected_b)


def nexus_signature(body: bytes, secret: str | bytes) -> str:
    """Hex HMAC-SHA1 of the raw body, as Nexus sends in X-Nexus-Webhook-Signature."""
    return hmac.new(_as_bytes(secret), body, hashlib.sha1).hexdigest()


def verify_nexus(body: bytes, headers: Mapping[str, str | bytes], secret: str | bytes | None) -> bool:
    if not _as_bytes(secret):
        return False
    given = get_header(headers, NEXUS_SIGNATURE)
    if given is None:
        return False
    given = given.strip().lower()
    return hmac.compare_digest(given, nexus_signature(body, secret).encode("ascii"))


def verify_huggingface(headers: Mapping[str, str | bytes], secret: str | bytes | None) -> bool:
    """The Hub sends the configured secret verbatim in X-Webhook-Secret."""
    return _equal(get_header(headers, HUGGINGFACE_SECRET), secret)


def verify_harbor(headers: Mapping[str, str | bytes], auth_header: str | bytes | None) -> bool:
    """Harbor sends the policy's configured "Auth Header" value verbatim in Authorization."""
    return _equal(get_header(headers, AUTHORIZATION), auth_header)


def verify_shared_secret(headers: Mapping[str, str | bytes], secret: str | bytes | None) -> bool:
    """Generic: X-Modelscreen-Secret: <secret>, or Authorization: Bearer <secret>."""
    if _equal(get_header(headers, MODELSCREEN_SECRET), secret):
        return True
    auth = get_header(headers, AUTHORIZATION)
    if auth is None:
        return False
    scheme, _, token = auth.partition(b" ")
    if scheme.lower() != b"bearer":
        return False
    return _equal(token.strip(), secret)
