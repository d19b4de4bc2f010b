"""artifact-events -> scan-results: fetch, scan (or reuse a cached scan of the same bytes), publish."""
from __future__ import annotations

import asyncio
import logging
import tempfile
import time
from pathlib import Path

from pydantic import ValidationError

from modelscreen.schemas.events import ArtifactEvent
from modelscreen.schemas.results import ScanResult
from modelscreen import metrics, topics
from modelscreen.agents.batching import retry_forever, run_batched
from modelscreen.fetch import FetchError
from modelscreen.logs import current_event_id
from modelscreen.sinks.ecs import identity
from modelscreen.pipeline.deadlines import RetryPolicy, attempt_until
from modelscreen.pipeline.expand import expand, is_multi_file
from modelscreen.pipeline.scanning import (check_announced, failed, fetch_artifact, from_cache, needs_scan,
                                           scan_local)
from modelscreen.agents.dead_letters import dead_letter_for
from modelscreen.agents.normalise import artifact_key

log = logging.getLogger("modelscreen.agents.scan")

# The scan stage verifies signature bundles found next to artifacts and reports tensor drift
# (modelscreen.provenance.pipeline_checks); tests key on this name.
PIPELINE_PROVENANCE_EVIDENCE = True


def _es_unavailable(exc: BaseException) -> bool:
    from elasticsearch import ApiError, ConnectionError, ConnectionTimeout

    if isinstance(exc, (ConnectionError, ConnectionTimeout)):
        return True
    return isinstance(exc, ApiError) and exc.status_code in (408, 429, 500, 502, 503, 504)


async def with_provenance(rt, items: list[tuple[ScanResult, object | None]]) -> list[ScanResult]:
    """Inventory, approvals, pins, policy, signatures and drift for results about one inventory record
    (`evidence`, pipeline_checks.LocalEvidence from the fetched copy, or None); checked one by one,
    recorded in one write. An inventory outage delays, never skips."""
    loop = asyncio.get_running_loop()

    def process() -> list[ScanResult]:
        if rt.provenance is None:
            from modelscreen.provenance import ProvenanceChecker, load_policy, open_inventory

            inventory = open_inventory("elasticsearch", settings=rt.settings, index=rt.settings.inventory_index)
            rt.provenance = ProvenanceChecker(inventory, load_policy(rt.settings.provenance_policy))
        from modelscreen.provenance.checks import apply_findings
        from modelscreen.provenance.pipeline_checks import evidence_findings

        todo = []
        shared: dict[tuple, list] = {}  # one group, same action and evidence: same findings, recorded once
        for result, evidence in items:
            if not result.error:
                key = (result.event.action, id(evidence))
                if key not in shared:
                    shared[key] = evidence_findings(result, evidence, inventory=rt.provenance.inventory,
                                                    policy=rt.provenance.policy)
                todo.append(apply_findings(result, shared[key]))
        done = iter(rt.provenance.process_many(todo) if todo else [])
        return [r if r.error else next(done) for r, _e in items]

    return await retry_forever("provenance checks", lambda: loop.run_in_executor(rt.io_executor, process),
                               is_transient=_es_unavailable,
                               on_retry=lambda exc, n: metrics.RETRIES.labels("provenance").inc())


def _scan_fetched(rt, event: ArtifactEvent, path: Path):
    """Scan the fetched copy and collect provenance evidence from it (no inventory read here)."""
    from modelscreen.provenance.pipeline_checks import collect_evidence, pipeline_policy

    policy = pipeline_policy(rt.settings)
    return scan_local(event, path, ruleset_version=rt.ruleset_version,
                      inspect=lambda result, local: collect_evidence(result, local, policy=policy,
                                                                     settings=rt.settings))


async def _attempts(rt, what: str, fn, *, executor=None) -> tuple[object | None, str | None, int]:
    """Run fn() in an executor (the I/O one by default) under the event's retry policy (pipeline.deadlines):
    a permanent fetch failure gives up at once, a transient one at the event's deadline, a crash after
    max_attempts. (value, None, attempts), or (None, reason, attempts) when it gave up."""
    loop = asyncio.get_running_loop()
    policy = RetryPolicy(deadline=rt.settings.fetch_deadline, max_attempts=rt.settings.max_attempts)
    outcome = await attempt_until(
        lambda: loop.run_in_executor(executor or rt.io_executor, fn), policy, what=what,
        on_retry=lambda reason, transient: metrics.RETRIES.labels("fetch" if transient else "scan").inc())
    return outcome.value, outcome.reason, outcome.attempts


async def _scan_or_cached(rt, event: ArtifactEvent) -> tuple[ScanResult, str | None, object | None]:
    """The result; when the event gave up after bounded retries, the dead-letter reason; and the provenance
    evidence from the fetched copy (pipeline_checks.LocalEvidence; None for cached and failed scans:
    _add_cached_evidence looks for signature bundles of cached ones)."""
    cached = rt.scan_cache.get(event.expected_sha256, rt.ruleset_version)
    if cached is not None:
        metrics.SCANS.labels(cached.verdict.value, "true").inc()
        return check_announced(from_cache(event, cached)), None, None
    return await _scan(rt, event)


async def _scan(rt, event: ArtifactEvent) -> tuple[ScanResult, str | None, object | None]:
    """Fetch in the I/O executor (many at once: a slow source holds up no other partition), then scan in the
    scan executor (one at a time)."""
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="modelscreen-fetch-") as tmp:
        path, reason, attempts = await _attempts(rt, f"fetch {event.uri}",
                                                 lambda: fetch_artifact(event, rt.settings, Path(tmp)))
        if reason is None:
            done, reason, scans = await _attempts(rt, f"scan {event.uri}", lambda: _scan_fetched(rt, event, path),
                                                  executor=rt.executor)
            attempts += scans - 1
    if reason is not None:
        return failed(event, reason, attempts=attempts, ruleset_version=rt.ruleset_version), reason, None
    result, evidence = done
    metrics.SCAN_SECONDS.observe(time.monotonic() - started)
    metrics.SCANS.labels(result.verdict.value, "false").inc()
    rt.scan_cache.put(result)
    return check_announced(result.model_copy(update={"attempts": attempts})), None, evidence


async def _add_cached_evidence(rt, items: list[list]) -> None:
    """items: [result, gave_up, evidence, message] of cached scans. A signature bundle next to the artifact is still
    verified (against the cached sha256, in one executor call for the batch); where its manifest needs the
    bytes hashed, the artifact is fetched and scanned after all."""
    from modelscreen.provenance.pipeline_checks import collect_cached_evidence, pipeline_policy
    from modelscreen.provenance.signatures import BytesNeeded

    if not items:
        return

    def collect() -> list:
        policy = pipeline_policy(rt.settings)
        seen: dict[tuple, object] = {}  # events about the same artifact and bytes: one lookup per batch
        out = []
        for item in items:
            result, ev = item[0], item[0].event
            key = (ev.uri, result.sha256, ev.action, ev.store, ev.store_name, ev.name)
            if key not in seen:
                try:
                    seen[key] = collect_cached_evidence(result, policy=policy, settings=rt.settings)
                except BytesNeeded:
                    seen[key] = None
            out.append(seen[key])
        return out

    loop = asyncio.get_running_loop()
    found = await retry_forever("signature bundles", lambda: loop.run_in_executor(rt.io_executor, collect),
                                is_transient=lambda exc: isinstance(exc, FetchError) and exc.transient,
                                on_retry=lambda exc, n: metrics.RETRIES.labels("fetch").inc())
    for item, evidence in zip(items, found):
        if evidence is None:
            item[:3] = await _scan(rt, item[0].event)
        else:
            item[2] = evidence


def register(app, rt) -> None:
    @app.agent(rt.topics[topics.ARTIFACT_EVENTS], name="scan")
    async def scan(stream):
        async def handle(batch):
            out = []
            scanned = []
            for ev in batch:  # scans one at a time: CPU-bound, bounded by the scan executor
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
                    if is_multi_file(event):  # one event per file, back onto this topic
                        files, gave_up, attempts = await _attempts(rt, f"list {event.uri}",
                                                                   lambda: expand(event, rt.settings))
                        if gave_up is None:
                            out.extend((topics.ARTIFACT_EVENTS, artifact_key(e), e.model_dump_json().encode())
                                       for e in files)
                            continue
                        result = failed(event, gave_up, attempts=attempts, ruleset_version=rt.ruleset_version)
                        evidence = None
                    else:
                        result, gave_up, evidence = await _scan_or_cached(rt, event)
                finally:
                    current_event_id.reset(token)
                scanned.append([result, gave_up, evidence, msg])
            await _add_cached_evidence(rt, [item for item in scanned if item[0].cached])
            for result, gave_up, _evidence, msg in scanned:
                if gave_up:
                    out.append(dead_letter_for(msg, gave_up, "fetch", attempts=result.attempts))
            # Provenance is inventory I/O: groups run side by side; events about the same inventory record
            # form one group (checked in order, recorded in one write) instead of overwriting each other.
            groups: dict[tuple[str, str | None], list] = {}
            for r, _gave_up, e, _msg in scanned:
                groups.setdefault((identity(r.event), r.sha256), []).append((r, e))

            checked = [r for done in await asyncio.gather(*(with_provenance(rt, g) for g in groups.values()))
                       for r in done]
            out.extend((topics.SCAN_RESULTS, r.event.event_id.encode(), r.model_dump_json().encode()) for r in checked)
            await rt.send_many(out)

        await run_batched(stream, handle, stage="scan", max_batch=200, per_partition=True)
