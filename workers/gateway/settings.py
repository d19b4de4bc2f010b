"""Settings of the webhook gateway: the workers' Settings plus the HTTP side and the webhook secrets.

Environment names carry the usual prefix: MODELSCREEN_GATEWAY_PORT, MODELSCREEN_NEXUS_WEBHOOK_SECRET, ...
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr

from modelscreen.settings import Settings


class GatewaySettings(Settings):
    gateway_host: str = "127.0.0.1"
    gateway_port: int = Field(default=8080, ge=0, le=65535)
    gateway_max_body: int = Field(default=1024 * 1024, ge=1, description="Largest request body accepted, bytes")
    gateway_send_timeout: float = Field(
        default=10.0, gt=0,
        description="Seconds to wait for Kafka's acknowledgement before answering 503 (the store retries)")
    gateway_header_timeout: float = Field(
        default=10.0, gt=0, description="Seconds a connection has to send a complete request head (also how long "
        "an idle keep-alive connection stays open)")
    gateway_body_timeout: float = Field(default=10.0, gt=0,
                                        description="Seconds a request has to send its whole body")
    gateway_max_connections: int = Field(default=256, ge=1, description="Open connections at most; one more is "
                                         "answered 503 and closed")
    gateway_allow_unauthenticated: bool = Field(
        default=False,
        description="Accept webhooks on store paths whose secret is not configured (development only)")

    # Per-store credentials; a store path whose credential is unset answers 503 (fail closed).
    nexus_webhook_secret: SecretStr | None = Field(
        default=None, description="Nexus webhook capability 'Secret Key' (HMAC-SHA1 of the body)")
    huggingface_webhook_secret: SecretStr | None = Field(
        default=None, description="Hugging Face Hub webhook secret (sent in X-Webhook-Secret)")
    harbor_auth_header: SecretStr | None = Field(
        default=None, description="Harbor webhook policy 'Auth Header' (sent verbatim in Authorization)")
    webhook_shared_secret: SecretStr | None = Field(
        default=None, description="Shared secret of the other paths (Bearer token / X-Modelscreen-Secret)")


def load_gateway_settings(config: Path | None = None, **overrides: Any) -> GatewaySettings:
    """Like modelscreen.settings.load_settings: `config` names the YAML file, environment variables win."""
    if config is not None:
        os.environ["MODELSCREEN_CONFIG"] = str(config)
    return GatewaySettings(**overrides)
