"""Wire the adapter from its settings: the ruleset version, the scanner (in-process or through Kafka),
the jobs with their cache, the credentials, and the aiohttp app."""
from __future__ import annotations

import logging

from aiohttp import web

from modelscreen.engine import ENGINE_VERSION
from modelscreen.engine.yara.loader import default_ruleset
from modelscreen.harbor.api import create_app
from modelscreen.harbor.auth import AdapterAuth
from modelscreen.harbor.cache import ResultCache
from modelscreen.harbor.jobs import InProcessScanner, Jobs, Scanner
from modelscreen.harbor.kafka_scan import KafkaScanner, kafka_answers
from modelscreen.harbor.settings import AdapterSettings

log = logging.getLogger("modelscreen.harbor")


def current_ruleset_version() -> str | None:
    ruleset, reason = default_ruleset()
    if ruleset is None:
        log.warning("no YARA ruleset: %s", reason)
    return ruleset.version if ruleset is not None else None


def scanner_for(settings: AdapterSettings, ruleset_version: str | None) -> Scanner:
    if settings.harbor_scan_mode == "in-process":
        return InProcessScanner(settings, ruleset_version=ruleset_version)
    if settings.harbor_scan_mode == "kafka" or kafka_answers(settings):
        return KafkaScanner(settings)
    return InProcessScanner(settings, ruleset_version=ruleset_version)


def build_app(settings: AdapterSettings, *, scanner: Scanner | None = None) -> web.Application:
    """Raises modelscreen.harbor.auth.NoCredentials when the adapter would be open by accident."""
    auth = AdapterAuth.from_settings(settings)
    ruleset_version = current_ruleset_version()
    scanner = scanner or scanner_for(settings, ruleset_version)
    # Through Kafka the workers' own scan cache applies, under the rules they hot-reload; a cache here would
    # key on this process's ruleset version and could outlive a rules update.
    entries = settings.harbor_cache_entries if getattr(scanner, "cacheable", True) else 0
    jobs = Jobs(scanner, ResultCache(entries),
                engine_version=ENGINE_VERSION, ruleset_version=ruleset_version, ttl=settings.harbor_job_ttl,
                max_jobs=settings.harbor_max_jobs, timeout=settings.harbor_scan_timeout,
                workers=settings.harbor_scan_workers)
    return create_app(jobs, auth, registry_authorization=settings.harbor_registry_authorization,
                      ruleset_version=ruleset_version, refresh_after=settings.harbor_refresh_after,
                      max_body=settings.harbor_adapter_max_body,
                      model_capability=settings.harbor_model_capability)
