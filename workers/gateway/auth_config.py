"""Which credential guards which gateway path, and how it is checked.

Each store path has exactly one configured credential (a GatewaySettings field). The checks are the
pure functions of modelscreen.sources.auth; this module only binds them to paths and settings.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from modelscreen.sources import auth

JFROG_EVENT_AUTH = "X-JFrog-Event-Auth"

Check = Callable[[bytes, Mapping[str, str | bytes], str], bool]


def _nexus(body: bytes, headers: Mapping[str, str | bytes], secret: str) -> bool:
    return auth.verify_nexus(body, headers, secret)


def _huggingface(body: bytes, headers: Mapping[str, str | bytes], secret: str) -> bool:
    return auth.verify_huggingface(headers, secret)


def _harbor(body: bytes, headers: Mapping[str, str | bytes], secret: str) -> bool:
    return auth.verify_harbor(headers, secret)


def _shared(body: bytes, headers: Mapping[str, str | bytes], secret: str) -> bool:
    return auth.verify_shared_secret(headers, secret)


def _artifactory(body: bytes, headers: Mapping[str, str | bytes], secret: str) -> bool:
    """Artifactory's "Secret Token" arrives verbatim in X-JFrog-Event-Auth (payload signing must be off);
    a custom header X-Modelscreen-Secret or Authorization: Bearer works as for the other stores."""
    if auth.verify_shared_secret(headers, secret):
        return True
    token = auth.get_header(headers, JFROG_EVENT_AUTH)
    return token is not None and auth.verify_shared_secret({auth.MODELSCREEN_SECRET: token}, secret)


@dataclass(frozen=True)
class StoreAuth:
    store: str          # metrics label, log field
    path: str           # HTTP path
    secret_field: str   # GatewaySettings attribute holding the credential
    scheme: str         # how the credential travels (for logs and errors)
    signs_body: bool    # True: the check needs the body (HMAC); False: headers alone
    check: Check

    @property
    def env_name(self) -> str:
        return "MODELSCREEN_" + self.secret_field.upper()

    def secret(self, settings) -> str | None:
        """The configured credential, or None when unset or empty (an empty secret never authenticates)."""
        value = getattr(settings, self.secret_field, None)
        if value is None:
            return None
        text = value.get_secret_value() if hasattr(value, "get_secret_value") else str(value)
        return text or None


_SHARED = "Authorization: Bearer <secret> or X-Modelscreen-Secret: <secret>"

STORES: tuple[StoreAuth, ...] = (
    StoreAuth("nexus", "/webhooks/nexus", "nexus_webhook_secret",
              "X-Nexus-Webhook-Signature: hex HMAC-SHA1 of the body", True, _nexus),
    StoreAuth("huggingface", "/webhooks/huggingface", "huggingface_webhook_secret",
              "X-Webhook-Secret: <secret>", False, _huggingface),
    StoreAuth("harbor", "/webhooks/harbor", "harbor_auth_header",
              "Authorization: <policy auth header>", False, _harbor),
    StoreAuth("artifactory", "/webhooks/artifactory", "webhook_shared_secret",
              f"X-JFrog-Event-Auth: <secret>, {_SHARED}", False, _artifactory),
    StoreAuth("s3", "/webhooks/s3", "webhook_shared_secret", _SHARED, False, _shared),
    StoreAuth("minio", "/webhooks/minio", "webhook_shared_secret", _SHARED, False, _shared),
    StoreAuth("cloudevents", "/webhooks/cloudevents", "webhook_shared_secret", _SHARED, False, _shared),
    StoreAuth("generic", "/webhooks", "webhook_shared_secret", _SHARED, False, _shared),
)

# Request headers that carry credentials: never forwarded to Kafka, whatever the store.
CREDENTIAL_HEADERS = frozenset(h.lower() for h in (
    auth.AUTHORIZATION, auth.NEXUS_SIGNATURE, auth.HUGGINGFACE_SECRET, auth.MODELSCREEN_SECRET,
    JFROG_EVENT_AUTH, "Proxy-Authorization", "Cookie", "X-Api-Key", "X-Auth-Token",
))
