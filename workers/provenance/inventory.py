"""The inventory interface and the logic every backend shares (record, approve, revoke, pin).

A backend implements five storage primitives (`_load`, `_save`, `search`, `put_manifest`,
`get_manifest`); everything else lives here, so SQLite and Elasticsearch behave the same.
Writes are read-modify-write with optimistic concurrency: `_save` returns False when the record
changed meanwhile, and `update` merges again.
"""
from __future__ import annotations

import abc
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from modelscreen.schemas import Verdict
from modelscreen.schemas.behaviour import BehaviourBaseline, BehaviourEvaluation
from modelscreen.schemas.events import Action, ArtifactEvent
from modelscreen.schemas.inventory import (
    Approval,
    ApprovalStatus,
    ArtifactIdentity,
    InventoryRecord,
    Pin,
    SignatureInfo,
    TensorManifest,
    record_id,
)
from modelscreen.schemas.results import ScanResult
from modelscreen.engine.verdict import verdict_for, worst_verdict

PROVENANCE_ANALYZER = "provenance"
MAX_ACTORS = 100
PENDING_RULE = "PROVENANCE-PENDING-APPROVAL"


class InventoryError(Exception):
    """A request the inventory cannot carry out (unknown record, bad argument)."""


class ApprovalRefused(InventoryError):
    """Approval of bytes whose latest verdict is malicious, without --force and a reason."""


class ConcurrentUpdate(InventoryError):
    """The record kept changing under us."""


def now_utc() -> datetime:
    return datetime.now(timezone.utc)


def identity_for_event(event: ArtifactEvent) -> ArtifactIdentity:
    return ArtifactIdentity(store=event.store.value, store_name=event.store_name, name=event.name,
                            version=event.version, path=event.path, uri=event.uri)


def hf_purl(repo: str, commit: str | None, path: str | None = None) -> str:
    from packageurl import PackageURL

    namespace, _, name = repo.rpartition("/")
    return PackageURL(type="huggingface", namespace=namespace or None, name=name, version=commit,
                      subpath=path or None).to_string()


def default_purl(identity: ArtifactIdentity) -> str | None:
    """A package URL where the store has one: Hugging Face models (pkg:huggingface/<org>/<name>@<commit>)."""
    if identity.store == "huggingface" and identity.name and (identity.store_name in (None, "models")):
        return hf_purl(identity.name, identity.version, identity.path)
    return None


def content_verdict(result: ScanResult) -> Verdict:
    """The verdict of the bytes alone: provenance findings (which depend on the event) left out."""
    verdicts = []
    for rep in result.reports:
        own = [f for f in rep.findings if f.analyzer != PROVENANCE_ANALYZER]
        if len(own) == len(rep.findings):
            verdicts.append(rep.verdict)
        else:
            verdicts.append(verdict_for(own, rep.error))
    if not verdicts:
        return result.verdict
    return worst_verdict(verdicts)


def _add_actor(actors: list[str], actor: str | None) -> list[str]:
    if not actor:
        return actors
    out = [a for a in actors if a != actor] + [actor]
    return out[-MAX_ACTORS:]


def new_record(identity: ArtifactIdentity, sha256: str | None, digests: dict[str, str] | None = None
               ) -> InventoryRecord:
    digests = dict(digests or {})
    other = None if sha256 else next((f"{k}:{v}" for k, v in sorted(digests.items())), None)
    return InventoryRecord(
        id=record_id(identity.key, sha256, other), identity=identity.key, model_key=identity.model_key,
        store=identity.store, store_name=identity.store_name, name=identity.name, version=identity.version,
        path=identity.path, uri=identity.uri, sha256=sha256, digests=digests, purl=default_purl(identity))


class Inventory(abc.ABC):
    """One record per (identity, sha256); see modelscreen.schemas.inventory.InventoryRecord."""

    # storage primitives
    @abc.abstractmethod
    def _load(self, rid: str) -> tuple[InventoryRecord, Any] | None:
        """The record and an opaque concurrency token, or None."""

    @abc.abstractmethod
    def _save(self, record: InventoryRecord, token: Any, *, refresh: bool = True) -> bool:
        """Write; token None means create. False when someone else wrote (or created) it first."""

    @abc.abstractmethod
    def search(self, *, identity: str | None = None, model_key: str | None = None, sha256: str | None = None,
               store: str | None = None, name: str | None = None, pinned: bool | None = None,
               approval: ApprovalStatus | None = None, limit: int = 1000) -> list[InventoryRecord]:
        """Records matching every given filter (`name` may use * wildcards), latest seen first."""

    @abc.abstractmethod
    def put_manifest(self, manifest: TensorManifest) -> None:
        """Store a tensor manifest under its sha256."""

    @abc.abstractmethod
    def get_manifest(self, sha256: str) -> TensorManifest | None:
        """The tensor manifest of these bytes, if one was stored."""

    @abc.abstractmethod
    def put_baseline(self, baseline: BehaviourBaseline) -> None:
        """Store a behaviour baseline under its name (replacing the previous one)."""

    @abc.abstractmethod
    def get_baseline(self, name: str) -> BehaviourBaseline | None:
        """The behaviour baseline of this name (see ArtifactIdentity.baseline_key), if one was recorded."""

    def close(self) -> None:  # pragma: no cover - backends override when they hold resources
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # batches (the scan stage's StagedInventory); backends answer them in one request where they can
    def read_many(self, record_ids: list[str], manifest_shas: list[str]
                  ) -> tuple[dict[str, tuple[InventoryRecord, Any] | None], dict[str, TensorManifest | None]]:
        """Records (with their tokens, None when missing) and tensor manifests, by id and sha256."""
        return ({rid: self._load(rid) for rid in record_ids}, {sha: self.get_manifest(sha) for sha in manifest_shas})

    def search_many(self, queries: list[dict[str, Any]]) -> list[list[InventoryRecord]]:
        """`search(**query)` for each query, in order."""
        return [self.search(**q) for q in queries]

    def write_many(self, records: list[tuple[InventoryRecord, Any]], manifests: list[TensorManifest]) -> set[str]:
        """Save records read with the given tokens (None: create) and store manifests, waiting for no refresh.
        The ids of records not written: changed (or created) meanwhile, or refused for now (an overloaded
        node); the caller redoes their changes one by one."""
        for manifest in manifests:
            self.put_manifest(manifest)
        return {rec.id for rec, token in records if not self._save(rec, token, refresh=False)}

    # reading
    def get(self, rid: str) -> InventoryRecord | None:
        got = self._load(rid)
        return got[0] if got else None

    def find(self, identity: ArtifactIdentity | str, sha256: str | None = None) -> list[InventoryRecord]:
        key = identity if isinstance(identity, str) else identity.key
        return self.search(identity=key, sha256=sha256)

    def latest_verdict(self, sha256: str) -> Verdict | None:
        """The most recent content verdict recorded for these bytes, under any identity."""
        dated = [r for r in self.search(sha256=sha256) if r.verdict is not None]
        if not dated:
            return None
        epoch = datetime.min.replace(tzinfo=timezone.utc)
        return max(dated, key=lambda r: r.verdict_at or epoch).verdict

    # writing
    def update(self, identity: ArtifactIdentity, sha256: str | None,
               change: Callable[[InventoryRecord], InventoryRecord | None], *, digests: dict[str, str] | None = None,
               refresh: bool = True) -> InventoryRecord:
        """Load (or start) the record, apply `change` (which may mutate and return None), save; retry on conflict."""
        rid = new_record(identity, sha256, digests).id
        for _attempt in range(20):
            got = self._load(rid)
            if got is None:
                rec, token = new_record(identity, sha256, digests), None
            else:
                rec, token = got[0].model_copy(deep=True), got[1]
                # keep the freshest location of a named artifact
                if identity.uri and identity.name:
                    rec.uri = identity.uri
            changed = change(rec)
            rec = changed if changed is not None else rec
            rec = InventoryRecord.model_validate(rec.model_dump())
            if self._save(rec, token, refresh=refresh):
                return rec
        raise ConcurrentUpdate(f"record {rid} kept changing")

    def record(self, result: ScanResult, *, refresh: bool = False) -> InventoryRecord | None:
        """Record what a scan result says about its event: seen times, actors, verdict; and open a pending
        approval when the result carries a PROVENANCE-PENDING-APPROVAL finding. None when no bytes were seen."""
        return self.record_many([result], refresh=refresh)

    def record_many(self, results: list[ScanResult], *, refresh: bool = False) -> InventoryRecord | None:
        """`record` for several results about the same identity and bytes, in one write."""
        results = [r for r in results if r.sha256]
        if not results:
            return None
        first = results[0]
        identity = identity_for_event(first.event)
        changes = [self._record_change(r) for r in results]

        def change(rec: InventoryRecord) -> None:
            for apply in changes:
                apply(rec)

        return self.update(identity, first.sha256, change, refresh=refresh)

    def _record_change(self, result: ScanResult) -> Callable[[InventoryRecord], None]:
        ev = result.event
        verdict = content_verdict(result)
        top_findings = result.reports[0].findings if result.reports else []
        wants_pending = any(f.rule_id == PENDING_RULE for f in top_findings)

        def change(rec: InventoryRecord) -> None:
            rec.size = result.size if result.size is not None else rec.size
            rec.format = result.format or rec.format
            rec.first_seen = min(filter(None, (rec.first_seen, ev.time)))
            rec.last_seen = max(filter(None, (rec.last_seen, ev.time)))
            if ev.action is Action.uploaded:
                rec.uploaded_by = _add_actor(rec.uploaded_by, ev.actor)
            elif ev.action is Action.downloaded:
                rec.downloaded_by = _add_actor(rec.downloaded_by, ev.actor)
            if result.error is None or verdict is not Verdict.error or rec.verdict is None:
                if rec.verdict_at is None or result.scanned_at >= rec.verdict_at:
                    rec.verdict, rec.verdict_at = verdict, result.scanned_at
                    rec.engine_version = result.engine_version
            rec.last_event_id = ev.event_id
            if wants_pending and rec.approval in (ApprovalStatus.none, ApprovalStatus.revoked):
                rec.approvals.append(Approval(status=ApprovalStatus.pending, by=ev.actor or "unknown", at=ev.time,
                                              reason=f"{ev.action.value} of {identity_for_event(ev).key}",
                                              verdict=verdict,
                                              sha256=result.sha256))
                rec.approval = ApprovalStatus.pending

        return change

    def approve(self, identity: ArtifactIdentity, sha256: str, *, by: str, reason: str = "", force: bool = False,
                at: datetime | None = None) -> InventoryRecord:
        """Approve these bytes for this identity. Refused when their latest verdict is malicious, unless
        `force` with a reason (the approval then says it was forced)."""
        sha256 = _check_sha(sha256)
        latest = self.latest_verdict(sha256)
        forced = False
        if latest is Verdict.malicious:
            if not force:
                raise ApprovalRefused(f"the latest verdict of {sha256} is malicious: approval refused "
                                      "(use --force with --reason to override; it will be recorded)")
            if not reason.strip():
                raise ApprovalRefused("a forced approval needs a --reason")
            forced = True
        entry = Approval(status=ApprovalStatus.approved, by=by, at=at or now_utc(), reason=reason, forced=forced,
                         verdict=latest, sha256=sha256)

        def change(rec: InventoryRecord) -> None:
            rec.approvals.append(entry)
            rec.approval = ApprovalStatus.approved

        return self.update(identity, sha256, change)

    def request_approval(self, identity: ArtifactIdentity, sha256: str, *, by: str, reason: str = "",
                         at: datetime | None = None) -> InventoryRecord:
        sha256 = _check_sha(sha256)

        def change(rec: InventoryRecord) -> None:
            if rec.approval in (ApprovalStatus.approved, ApprovalStatus.pending):
                return
            rec.approvals.append(Approval(status=ApprovalStatus.pending, by=by, at=at or now_utc(), reason=reason,
                                          verdict=rec.verdict, sha256=sha256))
            rec.approval = ApprovalStatus.pending

        return self.update(identity, sha256, change)

    def revoke(self, identity: ArtifactIdentity, sha256: str | None = None, *, by: str, reason: str = "",
               at: datetime | None = None) -> list[InventoryRecord]:
        """Revoke the approval of these bytes (or of every approved or pending record of the identity)."""
        targets = self.find(identity, _check_sha(sha256) if sha256 else None)
        if sha256 and not targets:
            raise InventoryError(f"no record of {identity.key} with sha256 {sha256}")
        out = []
        for rec in targets:
            if rec.approval not in (ApprovalStatus.approved, ApprovalStatus.pending):
                continue

            def change(r: InventoryRecord) -> None:
                r.approvals.append(Approval(status=ApprovalStatus.revoked, by=by, at=at or now_utc(), reason=reason,
                                            verdict=r.verdict, sha256=r.sha256))
                r.approval = ApprovalStatus.revoked

            out.append(self.update(rec.identity_obj(), rec.sha256, change, digests=rec.digests))
        return out

    def pin(self, identity: ArtifactIdentity, sha256: str | None, *, by: str, reason: str = "",
            force: bool = False, digests: dict[str, str] | None = None, at: datetime | None = None
            ) -> InventoryRecord:
        """Pin the identity to these bytes (unpinning any other bytes of it). Pinned bytes are approved bytes:
        the same refusal as `approve` applies. `digests` pins by another digest when sha256 is unknown (HF)."""
        at = at or now_utc()
        if sha256:
            sha256 = _check_sha(sha256)
        elif not digests:
            raise InventoryError("a pin needs the expected sha256")
        if sha256:
            current = self.find(identity, sha256)
            if not (current and current[0].approval is ApprovalStatus.approved):
                self.approve(identity, sha256, by=by, reason=reason or "pinned", force=force, at=at)
        for other in self.search(identity=identity.key, pinned=True):
            if other.sha256 != sha256 or (not sha256 and other.digests != digests):
                def unpin(r: InventoryRecord) -> None:
                    r.pinned, r.pin = False, None

                self.update(other.identity_obj(), other.sha256, unpin, digests=other.digests)

        def change(rec: InventoryRecord) -> None:
            rec.pinned, rec.pin = True, Pin(by=by, at=at, reason=reason)
            if not sha256 and rec.approval is not ApprovalStatus.approved:
                rec.approvals.append(Approval(status=ApprovalStatus.approved, by=by, at=at,
                                              reason=reason or "pinned"))
                rec.approval = ApprovalStatus.approved

        return self.update(identity, sha256, change, digests=digests)

    def unpin(self, identity: ArtifactIdentity) -> list[InventoryRecord]:
        out = []
        for rec in self.search(identity=identity.key, pinned=True):
            def change(r: InventoryRecord) -> None:
                r.pinned, r.pin = False, None

            out.append(self.update(rec.identity_obj(), rec.sha256, change, digests=rec.digests))
        return out

    def set_signature(self, identity: ArtifactIdentity, sha256: str | None, info: SignatureInfo, *,
                      digests: dict[str, str] | None = None) -> InventoryRecord:
        def change(rec: InventoryRecord) -> None:
            rec.signature = info

        return self.update(identity, sha256, change, digests=digests)

    def annotate(self, identity: ArtifactIdentity, sha256: str | None, *, base_model: str | None = None,
                 datasets: list[str] | None = None, model_card: dict[str, Any] | None = None,
                 purl: str | None = None, size: int | None = None, fmt: str | None = None,
                 digests: dict[str, str] | None = None) -> InventoryRecord:
        """Record what is known about the model's lineage (base model, datasets, model card fragment)."""
        def change(rec: InventoryRecord) -> None:
            if base_model:
                rec.base_model = base_model
            if datasets:
                rec.datasets = sorted(set(rec.datasets) | set(datasets))
            if model_card:
                rec.model_card = {**(rec.model_card or {}), **model_card}
            if purl:
                rec.purl = purl
            if size is not None:
                rec.size = size
            if fmt:
                rec.format = fmt

        return self.update(identity, sha256, change, digests=digests)

    def set_behaviour(self, identity: ArtifactIdentity, sha256: str, evaluation: BehaviourEvaluation
                      ) -> InventoryRecord:
        """Keep the latest behaviour evaluation of these bytes on their record."""
        def change(rec: InventoryRecord) -> None:
            rec.behaviour = evaluation

        return self.update(identity, _check_sha(sha256), change)

    def store_manifest(self, manifest: TensorManifest) -> None:
        """Keep a tensor manifest as the baseline of its bytes, and mark the records of those bytes."""
        if not manifest.sha256:
            raise InventoryError("a manifest needs the sha256 of its file")
        self.put_manifest(manifest)
        for rec in self.search(sha256=manifest.sha256):
            if not rec.manifest:
                def change(r: InventoryRecord) -> None:
                    r.manifest = True

                self.update(rec.identity_obj(), rec.sha256, change, digests=rec.digests, refresh=False)


def _check_sha(value: str) -> str:
    value = (value or "").strip().lower()
    if len(value) != 64 or any(c not in "0123456789abcdef" for c in value):
        raise InventoryError(f"not a sha256: {value!r}")
    return value
