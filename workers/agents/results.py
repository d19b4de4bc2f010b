"""What becomes of scan outcomes: provenance checks (inventory), findings and artifact state in Elasticsearch,
then the scan-results and alerts topics, and dead letters for events that gave up.

The scan stage ends here, and so does the normalise stage for a download of bytes this worker scanned and
indexed already (`settled_outcome`): a result is never consumed again just to be indexed, and a cached event
takes one hop instead of two. scan-results stays the stream other consumers read (behaviour evaluation,
anything downstream).
"""
from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING

from modelscreen import metrics, topics
from modelscreen.agents.batching import Tail, retry_forever
from modelscreen.agents.dead_letters import dead_letter_for
from modelscreen.pipeline.alerting import alerts_for
from modelscreen.pipeline.expand import is_multi_file
from modelscreen.pipeline.provenance import Group, ScanOutcome, check_batch, es_unavailable, open_checker
from modelscreen.pipeline.scanning import check_announced, from_cache, needs_scan
from modelscreen.provenance.pipeline_checks import bundle_wanted
from modelscreen.schemas.policy import ProvenancePolicy
from modelscreen.schemas.events import ArtifactEvent
from modelscreen.schemas.results import ScanResult
from modelscreen.sinks.ecs import identity
from modelscreen.sinks.elasticsearch import FindingsWriter, PermanentIndexError, TransientIndexError
from modelscreen.sinks.es_setup import supports_data_streams

if TYPE_CHECKING:
    from modelscreen.app import Runtime

log = logging.getLogger("modelscreen.agents.results")

Message = tuple[str, bytes | None, bytes]


def settled_outcome(rt: Runtime, event: ArtifactEvent, policy: ProvenancePolicy) -> ScanOutcome | None:
    """The outcome of an event about bytes this worker scanned and indexed before (a settled cache entry),
    when nothing else needs doing first: no listing, no signature bundle to look up under `policy` (the
    worker's, read once per batch). None otherwise (the event goes the whole way: artifact-events, scan
    stage)."""
    if not event.expected_sha256 or not needs_scan(event) or is_multi_file(event):
        return None
    cached = rt.scan_cache.get(event.expected_sha256, rt.ruleset_version, settled=True)
    if cached is None or bundle_wanted(event, policy):
        return None
    metrics.SCANS.labels(cached.verdict.value, "true").inc()
    return ScanOutcome(check_announced(from_cache(event, cached)))


async def conclude(rt: Runtime, outcomes: list[ScanOutcome], out: list[Message]) -> Tail:
    """Provenance checks of a batch's outcomes now (an outage delays, never skips); the batch's tail: index
    the results, then send `out`, the results, their alerts and the dead letters of events that gave up.
    Each outcome carries the message it was consumed from."""
    # Events about the same inventory record form one group (checked in order, recorded in one write);
    # the batch's groups are checked together (reads asked ahead, writes sent at once).
    groups: dict[tuple[str, str | None], Group] = {}
    for o in outcomes:
        groups.setdefault((identity(o.result.event), o.result.sha256), []).append((o.result, o.evidence))
    checked = await with_provenance(rt, list(groups.values())) if groups else []

    async def tail() -> None:
        messages = [*out, *(dead_letter_for(o.message, o.gave_up, "fetch", attempts=o.result.attempts,
                                            report=o.result.reports[0] if o.result.reports else None)
                            for o in outcomes if o.gave_up)]
        messages += await index_and_publish(rt, checked, {o.result.event.event_id: o.message for o in outcomes})
        await rt.send_many(messages)
        for result in checked:  # in the inventory, the index and scan-results: later events may skip a hop
            rt.scan_cache.settle(result)

    return tail


async def with_provenance(rt: Runtime, groups: list[Group]) -> list[ScanResult]:
    """Provenance checks of a batch's groups (pipeline.provenance.check_batch) in the I/O executor; an
    inventory outage delays, never skips."""
    loop = asyncio.get_running_loop()

    def process() -> list[ScanResult]:
        if rt.provenance is None:
            rt.provenance = open_checker(rt.settings)
        return [r for done in check_batch(rt.provenance, groups) for r in done]

    return await retry_forever("provenance checks", lambda: loop.run_in_executor(rt.io_executor, process),
                               is_transient=es_unavailable,
                               on_retry=lambda exc, n: metrics.RETRIES.labels("provenance").inc())


async def writer_for(rt: Runtime) -> FindingsWriter:
    if rt.writer is None:
        from elasticsearch import AsyncElasticsearch

        loop = asyncio.get_running_loop()
        sync = rt.settings.elasticsearch_client()
        data_stream = await retry_forever("elasticsearch capabilities",
                                          lambda: loop.run_in_executor(None, supports_data_streams, sync),
                                          is_transient=lambda exc: True)
        sync.close()
        es = AsyncElasticsearch(**rt.settings.elasticsearch_kwargs())
        rt.writer = FindingsWriter(es, findings_target=rt.settings.findings_data_stream,
                                   artifacts_index=rt.settings.artifacts_index, observer=rt.observer,
                                   data_stream=data_stream)
    return rt.writer


async def index_and_publish(rt: Runtime, results: Sequence[ScanResult],
                            originals: dict[str, object]) -> list[Message]:
    """Index the results (an outage is retried, never skipped), then the messages to send: each result on
    scan-results, its alerts (even where Elasticsearch refused its documents for good) and, for those, a dead
    letter of the original event (a replay scans and indexes it again). `originals`: event id -> the
    consumed message the result came from."""
    out: list[Message] = []
    if not results:
        return out
    writer = await writer_for(rt)
    try:
        await retry_forever("index to elasticsearch", lambda: writer.write(results),
                            is_transient=lambda exc: isinstance(exc, TransientIndexError),
                            on_retry=lambda exc, n: metrics.RETRIES.labels("index").inc())
    except PermanentIndexError as exc:
        for event_id, reason in exc.reasons.items():
            out.append(dead_letter_for(originals[event_id], f"elasticsearch refused: {reason}", "index"))
    severities = Counter(f.severity.value for result in results for report in result.reports
                         for f in report.findings)
    for severity, n in severities.items():
        metrics.FINDINGS.labels(severity).inc(n)
    for result in results:
        out.append((topics.SCAN_RESULTS, result.event.event_id.encode(), result.model_dump_json().encode()))
        for alert in alerts_for(result, rt.settings.alert_min_severity):
            metrics.ALERTS.labels(alert.severity.value).inc()
            out.append((topics.ALERTS, alert.alert_id.encode(), alert.model_dump_json().encode()))
    return out
