"""The Faust app: topics, the scan cache, and the agents wired together."""
from __future__ import annotations

import asyncio
import socket
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import faust
from aiokafka.errors import KafkaError
from faust.types import TopicT

from modelscreen import __version__, topics
from modelscreen.agents import alert, evaluate, normalise, rules, scan
from modelscreen.agents.batching import retry_forever
from modelscreen.engine.yara.loader import default_ruleset
from modelscreen.logs import LOGGING_CONFIG
from modelscreen.metrics import CONSUMER_LAG
from modelscreen.pipeline.cache import ScanCache
from modelscreen.settings import Settings, apply_engine_settings

if TYPE_CHECKING:
    from elasticsearch import AsyncElasticsearch

    from modelscreen.provenance import ProvenanceChecker
    from modelscreen.sandbox.scanning import SandboxScanner
    from modelscreen.sinks.elasticsearch import FindingsWriter


MAX_MESSAGE_BYTES = 8 * 1024 * 1024  # dead letters carry the original message, base64-encoded
# Faust's default (16 KiB) splits a stage's batch into dozens of record batches, each sent in turn;
# below the brokers' default 1 MiB message limit, which a record batch must fit.
PRODUCER_BATCH_BYTES = 512 * 1024
# Faust's default (1 MiB per partition and fetch) keeps a busy worker waiting on fetch round trips.
CONSUMER_FETCH_BYTES = 4 * 1024 * 1024


@dataclass
class Runtime:
    """What agents share: settings, topics, the scan cache and the clients they write with."""

    settings: Settings
    app: faust.App
    topics: dict[str, TopicT] = field(default_factory=dict)
    scan_cache: ScanCache = field(default_factory=ScanCache)
    # scans, one at a time (as before: the handler scanned one event at a time); fetches run in io_executor
    executor: ThreadPoolExecutor = field(default_factory=lambda: ThreadPoolExecutor(max_workers=1))
    io_executor: ThreadPoolExecutor = field(default_factory=lambda: ThreadPoolExecutor(max_workers=16))
    es: AsyncElasticsearch | None = None
    writer: FindingsWriter | None = None  # opened on first use (agents.results)
    ruleset_version: str | None = None
    provenance: ProvenanceChecker | None = None  # opened by the scan agent on first use
    scanner: SandboxScanner | None = None  # None: the process's shared sandbox pool

    @property
    def observer(self) -> dict[str, str]:
        return {"name": self.settings.observer_name or socket.gethostname(), "type": "scanner",
                "vendor": "modelscreen", "product": "modelscreen", "version": __version__}

    async def send_many(self, messages: list[tuple[str, bytes | None, bytes]]) -> None:
        """Produce all and wait for every acknowledgement; a broker outage is retried, never skipped."""
        if not messages:
            return

        producer = self.app.producer
        names = {n: self.topics[n].get_topic_name() for n in {m[0] for m in messages}}

        async def attempt() -> None:
            futs = [await producer.send(names[n], k, v, None, None, None) for n, k, v in messages]
            await asyncio.gather(*futs)

        # A retry may produce some messages twice; every consumer downstream is idempotent.
        await retry_forever("produce", attempt, is_transient=lambda exc: isinstance(exc, KafkaError))


def broker_urls(settings: Settings) -> list[str]:
    return [f"kafka://{hp.strip()}" for hp in settings.kafka_bootstrap.split(",") if hp.strip()]


def credentials(settings: Settings):
    proto = settings.kafka_security_protocol
    if proto.startswith("SASL"):
        return faust.SASLCredentials(
            username=settings.kafka_sasl_username,
            password=settings.secret("kafka_sasl_password"),
            mechanism=settings.kafka_sasl_mechanism,
            ssl_context=settings.kafka_ssl_context(),
        )
    if proto == "SSL":
        return faust.SSLCredentials(settings.kafka_ssl_context())
    return None


STAGES = ("scan", "evaluate")


def create_app(settings: Settings | None = None, *, stage: str = "scan") -> tuple[faust.App, Runtime]:
    """`scan`: normalise, scan (both end by indexing, agents.results), alert, rules. `evaluate`: the behaviour
    evaluate stage alone, as its own app (consumer group `<app_id>-evaluate`) so heavy evaluations never slow
    scanning."""
    settings = settings or Settings()
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r} (one of {', '.join(STAGES)})")
    apply_engine_settings(settings)
    app = faust.App(
        settings.app_id if stage == "scan" else f"{settings.app_id}-{stage}",
        broker=broker_urls(settings),
        broker_credentials=credentials(settings),
        value_serializer="raw",
        key_serializer="raw",
        store="memory://",
        topic_partitions=settings.topic_partitions,
        topic_replication_factor=settings.topic_replication,
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        producer_max_request_size=MAX_MESSAGE_BYTES,
        producer_max_batch_size=PRODUCER_BATCH_BYTES,
        consumer_max_fetch_size=CONSUMER_FETCH_BYTES,
        broker_commit_every=1000,
        broker_commit_interval=1.0,
        broker_session_timeout=settings.kafka_session_timeout,
        broker_heartbeat_interval=settings.kafka_heartbeat_interval,
        broker_rebalance_timeout=settings.kafka_rebalance_timeout,
        # A rebalance or a stop does not wait for events still being handled (an event retrying a slow source
        # would hold the whole group): what was not acknowledged is not committed and comes again.
        stream_wait_empty=False,
        web_enabled=False,
        logging_config=LOGGING_CONFIG,
        autodiscover=False,
    )
    rt = Runtime(settings=settings, app=app)
    ruleset, _reason = default_ruleset()
    rt.ruleset_version = ruleset.version if ruleset else None
    for name in (topics.STORE_EVENTS, topics.ARTIFACT_EVENTS, topics.SCAN_RESULTS, topics.ALERTS,
                 topics.DEAD_LETTER, topics.EVALUATIONS):
        rt.topics[name] = app.topic(settings.topic(name), value_type=bytes, key_type=bytes,
                                    partitions=settings.topic_partitions if name != topics.DEAD_LETTER else 1)
    for agents in ((normalise, scan, alert, rules) if stage == "scan" else (evaluate,)):
        agents.register(app, rt)
    register_lag_gauge(app)
    return app, rt


def register_lag_gauge(app: faust.App, every: float = 15.0) -> None:
    """Consumer lag per assigned partition: the end of the partition minus the committed offset."""
    @app.timer(every)
    async def consumer_lag() -> None:
        consumer = app.consumer
        committed = getattr(consumer, "_committed_offset", {})  # Faust keeps no public accessor
        for tp in consumer.assignment():
            high = consumer.highwater(tp)
            if high is None:
                continue
            done = committed.get(tp)
            CONSUMER_LAG.labels(tp.topic, str(tp.partition)).set(max(0, high - (done or 0)))
