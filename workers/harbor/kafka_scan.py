"""Scans through the pipeline (harbor_scan_mode=kafka): the adapter reads the manifest with Harbor's robot
credentials, classifies it, and produces one ArtifactEvent per file to `<prefix>artifact-events`; the
workers fetch each layer (with their own registry credentials, `oci_username`/`oci_password`: a robot
account's credentials never travel through Kafka), scan, record provenance and index as for any push; the
adapter collects their ScanResults from `<prefix>scan-results` by event id.

Outages delay, never drop: the producer waits for acknowledgement; a result that does not arrive within
harbor_kafka_timeout fails the scan (Harbor sees 500 and may rescan). Signature bundles inside a package are
only verified by the in-process mode.
"""
from __future__ import annotations

import asyncio
import logging
import socket
import uuid
from datetime import datetime, timezone

from pydantic import ValidationError

from modelscreen.engine import ENGINE_VERSION
from modelscreen.engine.verdict import worst_verdict
from modelscreen.fetch.oci import Registry
from modelscreen.fetch.oci_models import classify
from modelscreen.fetch.oci_models import PackageFile
from modelscreen.harbor.package import manifests, target_of
from modelscreen.schemas import Verdict
from modelscreen.schemas.events import Action, ArtifactEvent, ArtifactType, StoreKind
from modelscreen.schemas.harbor import PackageFileScan, PackageScan, ScanRequest
from modelscreen.schemas.results import ScanResult
from modelscreen.topics import ARTIFACT_EVENTS, SCAN_RESULTS

log = logging.getLogger("modelscreen.harbor.kafka")


def kafka_answers(settings, timeout: float = 2.0) -> bool:
    for server in settings.kafka_bootstrap.split(","):
        host, _, port = server.strip().rpartition(":")
        try:
            with socket.create_connection((host.strip("[]") or "127.0.0.1", int(port)), timeout=timeout):
                return True
        except (OSError, ValueError):
            continue
    return False


def file_events(request: ScanRequest, settings, scan_id: str
                ) -> tuple[list[tuple[ArtifactEvent, PackageFile]], ArtifactType, str | None]:
    """One event per file of the artifact (blocking: reads the manifest with the robot credentials)."""
    target = target_of(request)
    registry = Registry(target.host, plain_http=target.plain_http, timeout=settings.fetch_timeout,
                        authorization=target.authorization)
    events: dict[str, tuple[ArtifactEvent, PackageFile]] = {}
    kinds, family = [], None
    for digest, doc, media_type in manifests(registry, target, settings.expand_max_files):
        found = classify(doc, media_type)
        kinds.append(found.artifact_type)
        family = family or found.family
        for f in found.files:
            events.setdefault(f.digest, (ArtifactEvent(
                action=Action.uploaded, store=StoreKind.harbor, store_name=target.host,
                uri=f"oci://{target.host}/{target.repository}@{digest}/{f.digest}", name=target.repository,
                version=target.tag or target.digest, path=f.name, expected_sha256=f.digest.split(":", 1)[1],
                size=f.size, expected_digests={"oci-manifest": digest}, artifact_type=found.artifact_type,
                time=datetime.now(timezone.utc), source_event_id=f"harbor-adapter:{scan_id}:{f.digest}",
                raw_type="harbor-adapter-scan"), f))
    kind = ArtifactType.model_package if ArtifactType.model_package in kinds else (
        kinds[0] if len(set(kinds)) == 1 else ArtifactType.unknown)
    return list(events.values()), kind, family


def _named(result: ScanResult, uri: str, name: str) -> list:
    """The workers report a file by its URI: report it by its name in the package, as the in-process mode."""
    def rename(path: str | None) -> str | None:
        return name + path[len(uri):] if path is not None and path.startswith(uri) else path

    return [r.model_copy(update={"path": rename(r.path), "parent": rename(r.parent)}) for r in result.reports]


class KafkaScanner:
    cacheable = False  # the workers cache by content under the rules they hot-reload

    def __init__(self, settings):
        self.settings = settings
        self.waiting: dict[str, asyncio.Future] = {}
        self.producer = self.consumer = None
        self.reader: asyncio.Task | None = None
        self.started = asyncio.Lock()

    def _client_config(self) -> dict:
        cfg = self.settings.kafka_python_config()
        return {k: cfg[k] for k in ("bootstrap_servers", "security_protocol", "sasl_mechanism", "sasl_plain_username",
                                    "sasl_plain_password", "ssl_context") if k in cfg}

    async def _start(self) -> None:
        from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition  # only the kafka mode needs it

        async with self.started:
            if self.producer is not None:
                return
            topic = self.settings.topic(SCAN_RESULTS)
            producer = AIOKafkaProducer(**self._client_config(), acks="all", enable_idempotence=True,
                                        client_id=f"{self.settings.app_id}-harbor-adapter")
            await producer.start()
            try:
                partitions = [TopicPartition(topic, p) for p in sorted(await producer.partitions_for(topic))]
                consumer = AIOKafkaConsumer(**self._client_config(), group_id=None, enable_auto_commit=False)
                await consumer.start()
            except Exception:
                await producer.stop()
                raise
            consumer.assign(partitions)
            await consumer.seek_to_end(*partitions)  # every result produced from now on is seen
            self.consumer, self.producer = consumer, producer
            self.reader = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        async for msg in self.consumer:
            future = self.waiting.get(msg.key.decode("utf-8", "replace") if msg.key else "")
            if future is None or future.done():
                continue
            try:
                future.set_result(ScanResult.model_validate_json(msg.value))
            except ValidationError as exc:
                future.set_exception(ValueError(f"unreadable scan result: {exc.errors()[0]['msg']}"))

    async def __call__(self, request: ScanRequest) -> PackageScan:
        await self._start()
        loop = asyncio.get_running_loop()
        scan_id = uuid.uuid4().hex
        pairs, kind, family = await loop.run_in_executor(None, file_events, request, self.settings, scan_id)
        events = [e for e, _f in pairs]
        futures = {e.event_id: loop.create_future() for e in events}
        self.waiting.update(futures)
        try:
            for e in events:
                await self.producer.send_and_wait(self.settings.topic(ARTIFACT_EVENTS), e.model_dump_json().encode(),
                                                  key=(e.expected_sha256 or e.uri).encode())
            done, pending = await asyncio.wait(futures.values(), timeout=self.settings.harbor_kafka_timeout)
        finally:
            for event_id in futures:
                self.waiting.pop(event_id, None)
        if pending:
            raise TimeoutError(f"{len(pending)} of {len(events)} files got no result from the pipeline in "
                               f"{self.settings.harbor_kafka_timeout:.0f} s")
        files = []
        for e, f in pairs:
            result: ScanResult = futures[e.event_id].result()
            files.append(PackageFileScan(name=f.name, digest=f.digest, size=f.size, media_type=f.media_type,
                                         role=f.role, verdict=result.verdict, reports=_named(result, e.uri, f.name),
                                         error=result.error))
        return PackageScan(registry=request.registry.url, repository=request.artifact.repository,
                           digest=request.artifact.digest, tag=request.artifact.tag,
                           mime_type=request.artifact.mime_type, artifact_type=kind, package_format=family,
                           verdict=worst_verdict(f.verdict for f in files) if files else Verdict.clean, files=files,
                           engine_version=ENGINE_VERSION,
                           ruleset_version=next((r.ruleset_version for f in files for r in f.reports
                                                 if r.ruleset_version), None),
                           scanned_at=datetime.now(timezone.utc))

    async def close(self) -> None:
        if self.reader is not None:
            self.reader.cancel()
        for client in (self.producer, self.consumer):
            if client is not None:
                await client.stop()
