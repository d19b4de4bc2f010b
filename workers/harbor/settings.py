"""Settings of the Harbor scanner adapter: the workers' Settings plus the HTTP side and its credentials.

Environment names carry the usual prefix: MODELSCREEN_HARBOR_ADAPTER_PORT, MODELSCREEN_HARBOR_ADAPTER_TOKEN, ...
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr

from modelscreen.settings import Settings


class AdapterSettings(Settings):
    harbor_adapter_host: str = "127.0.0.1"
    harbor_adapter_port: int = Field(default=8090, ge=0, le=65535)
    harbor_adapter_max_body: int = Field(default=64 * 1024, ge=1024, description="Largest scan request, bytes")
    # Who may call the adapter: what the operator enters as the scanner's "Authorization" in Harbor.
    harbor_adapter_token: SecretStr | None = Field(
        default=None, description="Bearer token (Harbor auth 'Bearer', or 'APIKey' sent as X-ScannerAdapter-API-Key)")
    harbor_adapter_username: str | None = Field(default=None, description="Basic auth user (Harbor auth 'Basic')")
    harbor_adapter_password: SecretStr | None = None
    harbor_adapter_allow_unauthenticated: bool = Field(
        default=False, description="Serve without credentials when none are configured (development only)")
    # How Harbor should hand over the robot account: Basic credentials or a Bearer token it mints.
    harbor_registry_authorization: Literal["Basic", "Bearer"] = "Basic"
    harbor_scan_mode: Literal["auto", "in-process", "kafka"] = Field(
        default="in-process",
        description="in-process: pull and scan here, each file in the sandbox; kafka: through the pipeline's "
                    "artifact-events/scan-results topics; auto: kafka when a bootstrap server answers")
    harbor_model_capability: bool = Field(
        default=False, description="Also advertise the proposed model-security capability (not yet in Harbor)")
    harbor_refresh_after: int = Field(default=5, ge=1, le=127, description="Refresh-After seconds (Harbor reads <= 127)")
    harbor_scan_workers: int = Field(default=2, ge=1, le=64, description="Artifacts scanned at once")
    harbor_job_ttl: float = Field(default=24 * 3600, gt=0, description="Seconds a finished scan's report is kept")
    harbor_max_jobs: int = Field(default=10_000, ge=1, description="Scan requests kept (oldest finished dropped)")
    harbor_cache_entries: int = Field(default=10_000, ge=0, description="Results kept by (digest, engine, ruleset)")
    harbor_scan_timeout: float = Field(default=3600.0, gt=0, description="Seconds one artifact may take in all")
    harbor_kafka_timeout: float = Field(default=3600.0, gt=0,
                                        description="Seconds to wait for the pipeline's results (kafka mode)")
    sandbox_memory_bytes: int = Field(default=2 * 1024**3, gt=0)
    sandbox_wall_seconds: float = Field(default=600.0, gt=0, description="Per file")
    sandbox_cpu_seconds: int = Field(default=300, gt=0, description="Per file")


def load_adapter_settings(config: Path | None = None, **overrides: Any) -> AdapterSettings:
    """Like the gateway's: `config` names the YAML file, environment variables win."""
    if config is not None:
        os.environ["MODELSCREEN_CONFIG"] = str(config)
    return AdapterSettings(**overrides)
