"""Provenance in the scan stage, apart from Faust: evidence from the fetched copy, signature bundles of
cached scans, and the inventory checks of one group of results. All synchronous; the scan agent runs them
in its executors and retries what is transient."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from elasticsearch import ApiError, ConnectionError, ConnectionTimeout

from modelscreen.fetch import FetchError
from modelscreen.schemas.events import ArtifactEvent
from modelscreen.schemas.results import ScanResult
from modelscreen.pipeline.scanning import scan_fetched, scan_local
from modelscreen.sandbox.scanning import SandboxScanner, shared_scanner
from modelscreen.provenance import ProvenanceChecker, load_policy, open_inventory
from modelscreen.provenance.checks import apply_findings
from modelscreen.provenance.pipeline_checks import (
    LocalEvidence,
    collect_cached_evidence,
    collect_evidence,
    drift_reads,
    evidence_findings,
    inventory_reads,
    pipeline_policy,
)
from modelscreen.provenance.staged import StagedInventory
from modelscreen.provenance.signatures import BytesNeeded
from modelscreen.settings import Settings


@dataclass(frozen=True)
class ScanOutcome:
    """One event's way through the scan stage."""

    result: ScanResult
    gave_up: str | None = None  # the dead-letter reason, when the event gave up after bounded retries
    evidence: LocalEvidence | None = None  # from the fetched copy; None for failed scans and cached ones
    message: Any = None  # the consumed Kafka message, for its dead letter


def es_unavailable(exc: BaseException) -> bool:
    """An inventory outage (Elasticsearch unreachable or overloaded): delays, never skips."""
    if isinstance(exc, (ConnectionError, ConnectionTimeout)):
        return True
    return isinstance(exc, ApiError) and exc.status_code in (408, 429, 500, 502, 503, 504)


def fetch_and_scan(event: ArtifactEvent, settings: Settings, ruleset_version: str | None,
                   scanner: SandboxScanner | None = None) -> tuple[ScanResult, LocalEvidence | None]:
    """Fetch, scan (in a sandboxed child of `scanner`, default the process's pool), and collect provenance
    evidence from the fetched copy (no inventory read here; a signature bundle is verified in a child of the
    same pool). Raises ScanFailed when the scan's child died."""
    policy = pipeline_policy(settings)
    scanner = scanner or shared_scanner()
    return scan_fetched(event, settings, ruleset_version=ruleset_version, scanner=scanner,
                        inspect=lambda result, path: collect_evidence(result, path, policy=policy, settings=settings,
                                                                      run=scanner.pool.run))


def scan_fetched_copy(event: ArtifactEvent, path: Path, settings: Settings, ruleset_version: str | None,
                      scanner: SandboxScanner | None = None) -> tuple[ScanResult, LocalEvidence | None]:
    """fetch_and_scan for a copy fetched already (scanning.fetch_artifact)."""
    policy = pipeline_policy(settings)
    scanner = scanner or shared_scanner()
    return scan_local(event, path, ruleset_version=ruleset_version, scanner=scanner,
                      inspect=lambda result, local: collect_evidence(result, local, policy=policy, settings=settings,
                                                                     run=scanner.pool.run))


def open_checker(settings: Settings) -> ProvenanceChecker:
    """The pipeline's checker: the Elasticsearch inventory and the configured policy."""
    inventory = open_inventory("elasticsearch", settings=settings, index=settings.inventory_index)
    return ProvenanceChecker(inventory, load_policy(settings.provenance_policy))


Group = list[tuple[ScanResult, LocalEvidence | None]]  # results about one inventory record, in order


def check_batch(checker: ProvenanceChecker, groups: list[Group]) -> list[list[ScanResult]]:
    """check_group for each group of a batch through one StagedInventory: what the groups read is asked
    ahead (records and manifests in one request, searches in another, drift baselines in a third), what they
    write goes in one bulk request that waits for no refresh. A group whose records changed meanwhile is
    checked again on its own (the record changes are idempotent)."""
    staged = StagedInventory(checker.inventory)
    firsts = [_distinct(items) for items in groups]
    reads = [inventory_reads(r, e, checker.policy) for items in firsts for r, e in items]
    staged.read_ahead(record_ids=[i for x in reads for i in x.get("record_ids", ())],
                      searches=[q for x in reads for q in x.get("searches", ())],
                      manifests=[m for x in reads for m in x.get("manifests", ())])
    staged.read_ahead(manifests=[m for items in firsts for r, _e in items for m in drift_reads(staged, r)])
    view = ProvenanceChecker(staged, checker.policy)
    done = []
    for i, items in enumerate(groups):
        staged.writer = i
        done.append(check_group(view, items))
    for i in sorted({i for rid in staged.flush() for i in staged.touched.get(rid, ())}):
        done[i] = check_group(checker, groups[i])
    return done


def _distinct(items: Group) -> Group:
    """A group's results share identity and bytes: what they read differs only by action and evidence."""
    first: dict[tuple, tuple] = {}
    for result, evidence in items:
        first.setdefault((result.event.action, id(evidence)), (result, evidence))
    return list(first.values())


def check_group(checker: ProvenanceChecker, items: Group) -> list[ScanResult]:
    """Inventory, approvals, pins, policy, signatures and drift for results about one inventory record
    (`evidence` from the fetched copy, or None); checked one by one, recorded in one write."""
    todo = []
    shared: dict[tuple, list] = {}  # one group, same action and evidence: same findings, recorded once
    for result, evidence in items:
        if not result.error:
            key = (result.event.action, id(evidence))
            if key not in shared:
                shared[key] = evidence_findings(result, evidence, inventory=checker.inventory,
                                                policy=checker.policy)
            todo.append(apply_findings(result, shared[key]))
    done = iter(checker.process_many(todo) if todo else [])
    return [r if r.error else next(done) for r, _e in items]


def cached_evidence(results: list[ScanResult], settings: Settings,
                    scanner: SandboxScanner | None = None) -> list[LocalEvidence | FetchError | None]:
    """For cached scans: the signature bundle next to each artifact, verified against the cached sha256 in a
    sandboxed child of `scanner` (default: the process's pool). None where the bundle's manifest needs the
    bytes hashed (the caller fetches and scans after all); the FetchError where the bundle's store could not
    be reached (the caller retries that one under its event's deadline)."""
    policy = pipeline_policy(settings)
    run = (scanner or shared_scanner()).pool.run
    seen: dict[tuple, LocalEvidence | None] = {}  # events about the same artifact and bytes: one lookup
    out = []
    for result in results:
        ev = result.event
        key = (ev.uri, result.sha256, ev.action, ev.store, ev.store_name, ev.name)
        if key not in seen:
            try:
                seen[key] = collect_cached_evidence(result, policy=policy, settings=settings, run=run)
            except BytesNeeded:
                seen[key] = None
            except FetchError as exc:
                if not exc.transient:
                    raise
                seen[key] = exc
        out.append(seen[key])
    return out
