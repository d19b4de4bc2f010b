"""Who may call the adapter: the credential the operator enters when registering the scanner in Harbor.

Harbor's registration offers three authorization kinds, all accepted here when configured:
`Bearer` (Authorization: Bearer <token>), `Basic` (Authorization: Basic base64(user:password)) and
`APIKey` (X-ScannerAdapter-API-Key: <token>). Comparisons are constant-time. With no credential configured
the adapter refuses to start unless harbor_adapter_allow_unauthenticated is set (development only).
"""
from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Mapping
from dataclasses import dataclass

API_KEY_HEADER = "X-ScannerAdapter-API-Key"


class NoCredentials(Exception):
    """No adapter credential is configured and unauthenticated use was not allowed."""


@dataclass(frozen=True)
class AdapterAuth:
    token: str | None = None
    username: str | None = None
    password: str | None = None
    open: bool = False

    @classmethod
    def from_settings(cls, settings) -> AdapterAuth:
        auth = cls(token=settings.secret("harbor_adapter_token"), username=settings.harbor_adapter_username,
                   password=settings.secret("harbor_adapter_password") or "",
                   open=settings.harbor_adapter_allow_unauthenticated)
        if not auth.token and not auth.username and not auth.open:
            raise NoCredentials("configure harbor_adapter_token or harbor_adapter_username/password "
                                "(or allow unauthenticated use for development)")
        return auth

    def allows(self, headers: Mapping[str, str]) -> bool:
        if not self.token and not self.username:
            return self.open
        key = headers.get(API_KEY_HEADER)
        if self.token and key is not None:
            return _same(key.strip(), self.token)
        scheme, _, value = (headers.get("Authorization") or "").strip().partition(" ")
        value = value.strip()
        if scheme.lower() == "bearer" and self.token:
            return _same(value, self.token)
        if scheme.lower() == "basic" and self.username:
            try:
                user, sep, password = base64.b64decode(value, validate=True).decode("utf-8").partition(":")
            except (binascii.Error, ValueError, UnicodeDecodeError):
                return False
            # both compared, always: no early exit that tells which part was wrong
            return bool(sep) & _same(user, self.username) & _same(password, self.password or "")
        return False


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode("utf-8", "surrogatepass"), b.encode("utf-8", "surrogatepass"))
