"""artifact-events -> scan-results: fetch, scan (or reuse a cached scan of the same bytes), publish."""
from __future__ import annotations

import asyncio
import logging
import time

from pydantic import ValidationError

from schemas.events import ArtifactEvent
from schemas.results import ScanResult
from workers import metrics, topics
from workers.agents.batching import retry_forever, run_batched
from workers.fetch import FetchError
from workers.logs import current_event_id
from workers.pipeline.scanning import check_announced, failed, from_cache, needs_scan, scan_event
from workers.agents.dead_letters import dead_letter_for

log = logging.getLogger("modelscreen.agents.scan")


def _es_unavailable(exc: BaseException) -> bool:
    from elasticsearch import ApiError, ConnectionError, ConnectionTimeout

    if isinstance(exc, (ConnectionError, ConnectionTimeout)):
        return True
    return isinstance(exc, ApiError) and exc.status_code in (408, 429, 500, 502, 503, 504)


async def with_provenance(rt, result: ScanResult) -> ScanResult:
    """Inventory, approvals, pins and policy for this event; an inventory outage delays, never skips."""
    if result.error:
        return result
    loop = asyncio.get_running_loop()

    def process() -> ScanResult:
        if rt.provenance is None:
            from workers.provenance import ProvenanceChecker, load_policy, open_inventory

            inventory = open_inventory("elasticsearch", settings=rt.settings, index=rt.settings.inventory_index)
            rt.provenance = ProvenanceChecker(inventory, load_policy(rt.settings.provenance_policy))
        return rt.provenance.process(result)

    return await retry_forever("provenance checks", lambda: loop.run_in_executor(rt.executor, process),
                               is_transient=_es_unavailable,
                               on_retry=lambda exc, n: metrics.RETRIES.labels("provenance").inc())


async def scan_one(rt, event: ArtifactEvent) -> tuple[ScanResult, str | None]:
    """Returns the result and, when the event gave up after bounded retries, the dead-letter reason."""
    result, gave_up = await _scan_or_cached(rt, event)
    return await with_provenance(rt, result), gave_up


async def _scan_or_cached(rt, event: ArtifactEvent) -> tuple[ScanResult, str | None]:
    cached = rt.scan_cache.get(event.expected_sha256, rt.ruleset_version)
    if cached is not None:
        metrics.SCANS.labels(cached.verdict.value, "true").inc()
        return check_announced(from_cache(event, cached)), None
    loop = asyncio.get_running_loop()
    attempts = 0
    while True:
        attempts += 1
        started = time.monotonic()
        try:
            result = await retry_forever(
                f"fetch {event.uri}",
                lambda: loop.run_in_executor(rt.executor, lambda: scan_event(
                    event, rt.settings, ruleset_version=rt.ruleset_version)),
                is_transient=lambda exc: isinstance(exc, FetchError) and exc.transient,
                on_retry=lambda exc, n: metrics.RETRIES.labels("fetch").inc(),
            )
        except Exception as exc:  # permanent fetch failure or an unexpected crash: bounded retries
            reason = exc.reason if isinstance(exc, FetchError) else f"{type(exc).__name__}: {exc}"
            if attempts < rt.settings.max_attempts:
                metrics.RETRIES.labels("scan").inc()
                await asyncio.sleep(min(0.2 * 2**attempts, 5))
                continue
            log.error("giving up on %s after %d attempts: %s", event.uri, attempts, reason)
            return failed(event, reason, attempts=attempts, ruleset_version=rt.ruleset_version), reason
        metrics.SCAN_SECONDS.observe(time.monotonic() - started)
        metrics.SCANS.labels(result.verdict.value, "false").inc()
        rt.scan_cache.put(result)
        return check_announced(result.model_copy(update={"attempts": attempts})), None


def register(app, rt) -> None:
    @app.agent(rt.topics[topics.ARTIFACT_EVENTS], name="scan")
    async def scan(stream):
        async def handle(batch):
            out = []
            for ev in batch:
                msg = ev.message
                try:
                    event = ArtifactEvent.model_validate_json(msg.value or b"")
                except ValidationError as exc:
                    reason = f"invalid artifact event: {exc.errors()[0].get('msg') if exc.errors() else exc}"
                    out.append(dead_letter_for(msg, reason, "scan"))
                    continue
                if not needs_scan(event):
                    continue
                token = current_event_id.set(event.event_id)
                try:
                    result, gave_up = await scan_one(rt, event)
                finally:
                    current_event_id.reset(token)
                if gave_up:
                    out.append(dead_letter_for(msg, gave_up, "fetch", attempts=result.attempts))
                out.append((topics.SCAN_RESULTS, event.event_id.encode(), result.model_dump_json().encode()))
            await rt.send_many(out)

        await run_batched(stream, handle, max_batch=200)
