"""Settings for workers, gateway and CLI: environment (MODELSCREEN_*) over an optional YAML file.

The file is named by MODELSCREEN_CONFIG (or --config); environment variables win over it.
"""
from __future__ import annotations

import os
import ssl
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from modelscreen.engine.yara.loader import configure_default_ruleset
from modelscreen.schemas import Severity


class _YamlFile(PydanticBaseSettingsSource):
    def __init__(self, settings_cls: type[BaseSettings], path: Path | None):
        super().__init__(settings_cls)
        self._data: dict[str, Any] = {}
        if path:
            loaded = yaml.safe_load(path.read_text()) or {}
            if not isinstance(loaded, dict):
                raise ValueError(f"{path}: the settings file must be a mapping")
            self._data = {str(k).lower(): v for k, v in loaded.items()}

    def get_field_value(self, field, field_name):  # pragma: no cover - not used by __call__
        return self._data.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return {k: v for k, v in self._data.items() if k in self.settings_cls.model_fields}


class EngineSettings(BaseSettings):
    """What every command configures the engine with (read cheaply, without the settings file)."""

    model_config = SettingsConfigDict(env_prefix="MODELSCREEN_", extra="ignore", env_ignore_empty=True)

    rules_dir: Path | None = Field(default=None, description="YARA library (default: the packaged one)")
    yara_engine: Literal["yara-x", "yara-python"] | None = Field(default=None, description="default: yara-x")


class AssetSettings(BaseSettings):
    """Overrides of the data shipped in the package (read cheaply, without the settings file)."""

    model_config = SettingsConfigDict(env_prefix="MODELSCREEN_", extra="ignore", env_ignore_empty=True)

    templates_dir: Path | None = Field(default=None, description="Elasticsearch templates (default: packaged)")
    kibana_assets_dir: Path | None = Field(default=None, description="Kibana assets (default: packaged)")


def apply_engine_settings(settings: EngineSettings | None = None) -> None:
    """Point the engine's default ruleset at the configured library and YARA engine."""
    settings = settings or EngineSettings()
    configure_default_ruleset(settings.rules_dir, settings.yara_engine)


class Settings(EngineSettings):
    model_config = SettingsConfigDict(env_prefix="MODELSCREEN_", extra="ignore", env_ignore_empty=True)

    # Kafka
    kafka_bootstrap: str = "127.0.0.1:9092"
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = "PLAIN"
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    kafka_ssl_cafile: Path | None = None
    kafka_ssl_certfile: Path | None = None
    kafka_ssl_keyfile: Path | None = None
    topic_prefix: str = "modelscreen."
    topic_partitions: int = Field(default=6, ge=1)
    topic_replication: int = Field(default=1, ge=1)
    app_id: str = "modelscreen"
    # Consumer group: how fast a dead worker's partitions move to the others (about session + a rebalance)
    kafka_session_timeout: float = Field(
        default=10.0, ge=6.0, description="Seconds without a heartbeat before the broker drops a worker from the "
        "group (the broker's group.min.session.timeout.ms is 6 s by default)")
    kafka_heartbeat_interval: float = Field(default=2.0, gt=0, description="Seconds between heartbeats; at most "
                                            "a third of the session timeout")
    kafka_rebalance_timeout: float = Field(default=20.0, gt=0, description="Seconds the members of a rebalancing "
                                           "group have to rejoin")
    shutdown_grace: float = Field(default=25.0, gt=0, description="Seconds a worker has after SIGTERM/SIGINT to "
                                  "stop cleanly (committing what is done) before it exits anyway")

    # Elasticsearch
    elasticsearch_url: str = "http://127.0.0.1:9200"
    elasticsearch_username: str | None = None
    elasticsearch_password: SecretStr | None = None
    elasticsearch_api_key: SecretStr | None = None
    elasticsearch_ca_certs: Path | None = None
    elasticsearch_verify_certs: bool = True
    findings_data_stream: str = "logs-modelscreen.findings-default"
    artifacts_index: str = "modelscreen-artifacts"
    inventory_index: str = "modelscreen-inventory"
    db: Path | None = Field(default=None, description="SQLite findings database of the embedded mode")
    provenance_policy: Path | None = Field(default=None, description="YAML provenance policy (deploy/policy.example.yaml)")

    # Worker behaviour
    alert_min_severity: Severity = Severity.high
    alert_webhook_url: str | None = None
    alert_webhook_format: Literal["generic", "slack"] = "generic"
    max_attempts: int = Field(default=5, ge=1, description="Tries before an event goes to the dead-letter topic")
    fetch_deadline: float = Field(
        default=180.0, gt=0, description="Seconds an event may keep failing transiently (source down, timing out, "
        "short reads) before it is dead-lettered; permanent failures (not found, forbidden) are at once")
    fetch_max_bytes: int = 64 * 1024**3
    fetch_timeout: float = 60.0
    fetch_file_roots: list[Path] = Field(
        default_factory=list,
        description="Directories file:// URIs may point into; empty refuses file:// (a worker must not read "
                    "arbitrary local files because an event asked it to)")
    s3_endpoint_url: str | None = None
    s3_region: str | None = None
    hf_endpoint: str | None = Field(default=None, description="Hugging Face Hub endpoint (default the public Hub)")
    hf_token: SecretStr | None = None
    expand_max_files: int = Field(default=10000, ge=1,
                                  description="Files (Hub repository files, image layers) one event may expand into")
    artifactory_url: str | None = Field(default=None, description="e.g. https://acme.example/artifactory")
    artifactory_token: SecretStr | None = None
    nexus_url: str | None = Field(default=None, description="e.g. https://nexus.example")
    nexus_username: str | None = None
    nexus_password: SecretStr | None = None
    oci_username: str | None = None
    oci_password: SecretStr | None = None
    oci_plain_http: list[str] = Field(default_factory=list,
                                      description="Registry hosts (host:port) reached over http, e.g. a local one")
    evaluate_enabled: bool = Field(default=False, description="Run the behaviour evaluate stage "
                                   "(`modelscreen worker --stage evaluate`, its own consumer group)")
    evaluate_max_seconds: float = Field(default=300.0, gt=0, description="Sandbox wall-clock budget per run")
    evaluate_max_memory_mb: int = Field(default=2048, ge=64, description="Sandbox address-space limit per run")
    metrics_port: int = 9108
    observer_name: str | None = None

    # Setup and the inventory commands
    kibana_system_password: SecretStr | None = Field(
        default=None, description="`pipeline setup` sets the kibana_system user's password to this")
    inventory_backend: str | None = Field(default=None, description="sqlite (default) or elasticsearch")
    user: str | None = Field(default=None, description="Who acts in inventory commands (default: the login name)")

    @classmethod
    def settings_customise_sources(cls, settings_cls, init_settings, env_settings, dotenv_settings,
                                   file_secret_settings) -> tuple[PydanticBaseSettingsSource, ...]:
        path = os.environ.get("MODELSCREEN_CONFIG")
        return (init_settings, env_settings, _YamlFile(settings_cls, Path(path) if path else None))

    def topic(self, name: str) -> str:
        return f"{self.topic_prefix}{name}"

    # client configuration
    def kafka_ssl_context(self) -> ssl.SSLContext | None:
        if self.kafka_security_protocol not in ("SSL", "SASL_SSL"):
            return None
        ctx = ssl.create_default_context(cafile=str(self.kafka_ssl_cafile) if self.kafka_ssl_cafile else None)
        if self.kafka_ssl_certfile:
            ctx.load_cert_chain(str(self.kafka_ssl_certfile),
                                str(self.kafka_ssl_keyfile) if self.kafka_ssl_keyfile else None)
        return ctx

    def secret(self, name: str) -> str | None:
        """The plain value of a SecretStr setting, None when unset."""
        value = getattr(self, name)
        return value.get_secret_value() if value is not None else None

    def kafka_python_config(self) -> dict[str, Any]:
        """Keyword arguments for kafka-python clients (and, with renames, aiokafka)."""
        cfg: dict[str, Any] = {"bootstrap_servers": self.kafka_bootstrap.split(","),
                               "security_protocol": self.kafka_security_protocol}
        if self.kafka_security_protocol.startswith("SASL"):
            cfg.update(sasl_mechanism=self.kafka_sasl_mechanism, sasl_plain_username=self.kafka_sasl_username,
                       sasl_plain_password=self.secret("kafka_sasl_password"))
        ctx = self.kafka_ssl_context()
        if ctx is not None:
            cfg["ssl_context"] = ctx
        return cfg

    def elasticsearch_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for the Elasticsearch client, sync or async."""
        from modelscreen.sinks.es_json import serializers  # imports the Elasticsearch client: only when used

        kw: dict[str, Any] = {"hosts": [self.elasticsearch_url], "request_timeout": 30, "serializers": serializers()}
        if self.elasticsearch_api_key:
            kw["api_key"] = self.elasticsearch_api_key.get_secret_value()
        elif self.elasticsearch_username:
            kw["basic_auth"] = (self.elasticsearch_username, self.secret("elasticsearch_password") or "")
        if self.elasticsearch_ca_certs:
            kw["ca_certs"] = str(self.elasticsearch_ca_certs)
        if self.elasticsearch_url.startswith("https"):
            kw["verify_certs"] = self.elasticsearch_verify_certs
        return kw

    def elasticsearch_client(self):
        from elasticsearch import Elasticsearch

        return Elasticsearch(retry_on_timeout=True, max_retries=3, **self.elasticsearch_kwargs())


def load_settings(config: Path | None = None, **overrides: Any) -> Settings:
    if config is not None:
        os.environ["MODELSCREEN_CONFIG"] = str(config)
    return Settings(**overrides)
