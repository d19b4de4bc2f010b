"""artifact-events -> Elasticsearch and scan-results: fetch, scan (or reuse a cached scan of the same bytes), check
provenance, index, publish."""
from __future__ import annotations

import asyncio
import logging
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from dataclasses import replace
from typing import TYPE_CHECKING

from faust import App
from pydantic import ValidationError

from modelscreen.schemas.events import ArtifactEvent
from modelscreen import metrics, topics
from modelscreen.agents.batching import run_batched
from modelscreen.fetch import FetchError
from modelscreen.logs import current_event_id
from modelscreen.pipeline.deadlines import Outcome, RetryPolicy, attempt_until
from modelscreen.pipeline.expand import expand, is_multi_file
from modelscreen.pipeline.provenance import (
    ScanOutcome,
    cached_evidence,
    scan_fetched_copy,
)
from modelscreen.pipeline.scanning import ScanFailed, check_announced, failed, fetch_artifact, from_cache, needs_scan
from modelscreen.provenance.pipeline_checks import LocalEvidence
from modelscreen.agents.dead_letters import dead_letter_for
from modelscreen.agents.results import conclude
from modelscreen.agents.normalise import artifact_key

if TYPE_CHECKING:
    from modelscreen.app import Runtime

log = logging.getLogger("modelscreen.agents.scan")


async def _attempt(rt: Runtime, what: str, fn: Callable[[], object], *, executor=None) -> Outcome:
    """Run fn() in an executor (the I/O one by default) under the event's retry policy (pipeline.deadlines):
    a permanent fetch failure gives up at once, a transient one at the event's deadline, a crash after
    max_attempts."""
    loop = asyncio.get_running_loop()
    policy = RetryPolicy(deadline=rt.settings.fetch_deadline, max_attempts=rt.settings.max_attempts)
    return await attempt_until(
        lambda: loop.run_in_executor(executor or rt.io_executor, fn), policy, what=what,
        on_retry=lambda reason, transient: metrics.RETRIES.labels("fetch" if transient else "scan").inc())


async def _attempts(rt: Runtime, what: str, fn: Callable[[], object], *,
                    executor=None) -> tuple[object | None, str | None, int]:
    """_attempt as (value, None, attempts), or (None, reason, attempts) when it gave up."""
    outcome = await _attempt(rt, what, fn, executor=executor)
    return outcome.value, outcome.reason, outcome.attempts


async def _scan_or_cached(rt: Runtime, event: ArtifactEvent) -> ScanOutcome:
    """A cached scan of the same bytes (its evidence is looked up later, in _add_cached_evidence), or a scan."""
    cached = rt.scan_cache.get(event.expected_sha256, rt.ruleset_version)
    if cached is not None:
        metrics.SCANS.labels(cached.verdict.value, "true").inc()
        return ScanOutcome(check_announced(from_cache(event, cached)))
    return await _scan(rt, event)


async def _scan(rt: Runtime, event: ArtifactEvent) -> ScanOutcome:
    """Fetch in the I/O executor (many at once: a slow source holds up no other partition), then scan in the
    scan executor (one at a time)."""
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="modelscreen-fetch-") as tmp:
        path, reason, attempts = await _attempts(rt, f"fetch {event.uri}",
                                                 lambda: fetch_artifact(event, rt.settings, Path(tmp)))
        report = None
        if reason is None:
            scan = await _attempt(
                rt, f"scan {event.uri}", lambda: scan_fetched_copy(event, path, rt.settings, rt.ruleset_version,
                                                 rt.scanner),
                executor=rt.executor)
            reason, attempts = scan.reason, attempts + scan.attempts - 1
            if isinstance(scan.error, ScanFailed):  # the sandbox's ENGINE-CRASH / LIMIT-* report of the last try
                report = scan.error.report
    if reason is not None:
        return ScanOutcome(failed(event, reason, attempts=attempts, ruleset_version=rt.ruleset_version,
                                  report=report), reason)
    result, evidence = scan.value
    metrics.SCAN_SECONDS.observe(time.monotonic() - started)
    metrics.SCANS.labels(result.verdict.value, "false").inc()
    rt.scan_cache.put(result)
    return ScanOutcome(check_announced(result.model_copy(update={"attempts": attempts})), None, evidence)


async def _add_cached_evidence(rt: Runtime, outcomes: list[ScanOutcome]) -> list[ScanOutcome]:
    """Signature bundles of cached scans, verified in one I/O-executor call for the batch; a bundle whose
    store was unreachable is tried again under its event's deadline (then the event gives up, like a fetch);
    where a bundle's manifest needs the bytes hashed, the artifact is fetched and scanned after all."""
    cached = [o for o in outcomes if o.result.cached]
    if not cached:
        return outcomes
    loop = asyncio.get_running_loop()
    found = await loop.run_in_executor(rt.io_executor, cached_evidence, [o.result for o in cached], rt.settings,
                                       rt.scanner)
    evidence = {id(o): e for o, e in zip(cached, found)}
    out = []
    for o in outcomes:
        if id(o) not in evidence:
            out.append(o)
            continue
        got = evidence[id(o)]
        if isinstance(got, FetchError):
            got = await _bundle_until_deadline(rt, o)
        if isinstance(got, ScanOutcome):  # gave up
            out.append(got)
        elif got is None:
            out.append(replace(await _scan(rt, o.result.event), message=o.message))
        else:
            out.append(replace(o, evidence=got))
    return out


async def _bundle_until_deadline(rt: Runtime, o: ScanOutcome) -> LocalEvidence | ScanOutcome | None:
    """The signature bundle of one cached scan whose store was unreachable, retried under the event's retry
    policy; the event's failed outcome when it gives up."""
    def lookup():
        [got] = cached_evidence([o.result], rt.settings, rt.scanner)
        if isinstance(got, FetchError):
            raise got
        return got

    outcome = await _attempt(rt, f"signature bundle of {o.result.event.uri}", lookup)
    if outcome.gave_up:
        result = failed(o.result.event, outcome.reason, attempts=outcome.attempts,
                        ruleset_version=rt.ruleset_version)
        return ScanOutcome(result, outcome.reason, message=o.message)
    return outcome.value


async def _outcome(rt: Runtime, event: ArtifactEvent, out: list) -> ScanOutcome | None:
    """Scan one event; a multi-file event becomes one event per file, back onto this topic (None)."""
    if not is_multi_file(event):
        return await _scan_or_cached(rt, event)
    files, gave_up, attempts = await _attempts(rt, f"list {event.uri}", lambda: expand(event, rt.settings))
    if gave_up is None:
        out.extend((topics.ARTIFACT_EVENTS, artifact_key(e), e.model_dump_json().encode()) for e in files)
        return None
    return ScanOutcome(failed(event, gave_up, attempts=attempts, ruleset_version=rt.ruleset_version), gave_up)


def register(app: App, rt: Runtime) -> None:
    @app.agent(rt.topics[topics.ARTIFACT_EVENTS], name="scan")
    async def scan(stream):
        async def handle(batch):
            out = []
            scanned: list[ScanOutcome] = []
            for ev in batch:  # in order within the partition; partitions run side by side (run_batched)
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
                    outcome = await _outcome(rt, event, out)
                finally:
                    current_event_id.reset(token)
                if outcome is not None:
                    scanned.append(replace(outcome, message=msg))
            return await conclude(rt, await _add_cached_evidence(rt, scanned), out)

        await run_batched(stream, handle, stage="scan", max_batch=200, per_partition=True)
