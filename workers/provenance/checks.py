"""Verification of uploads and downloads against the inventory and the policy.

`check_event` is a pure function of (event, scan result, inventory contents, policy): it reads the
inventory and returns findings. `ProvenanceChecker.process` is what the pipeline calls: check, add
the findings to the result (top report, verdict recomputed), then record the result in the inventory
(which opens a pending approval when the findings ask for one).
"""
from __future__ import annotations

from fnmatch import fnmatchcase

from modelscreen.schemas import Finding, Severity
from modelscreen.schemas.events import Action, ArtifactEvent
from modelscreen.schemas.inventory import ApprovalStatus, InventoryRecord, SignatureStatus
from modelscreen.schemas.policy import EffectiveRequirements, ProvenancePolicy
from modelscreen.schemas.results import ScanResult
from modelscreen.engine.verdict import verdict_for, worst_verdict
from modelscreen.provenance.inventory import PROVENANCE_ANALYZER, Inventory, identity_for_event


def _finding(req: EffectiveRequirements, rule_id: str, title: str, detail: str, *, location: str | None = None,
             remediation: str | None = None, severity: Severity | None = None) -> Finding:
    return Finding(rule_id=rule_id, severity=severity or req.severity(rule_id), title=title, detail=detail,
                   location=location, analyzer=PROVENANCE_ANALYZER, remediation=remediation)


def requirements_for(event: ArtifactEvent, policy: ProvenancePolicy) -> EffectiveRequirements:
    return policy.for_artifact(event.store.value, event.store_name, event.name or event.uri)


def signer_allowed(signer: str | None, allowed: list[str] | None) -> bool:
    if allowed is None:
        return True
    return bool(signer) and any(fnmatchcase(signer, pattern) for pattern in allowed)


def check_event(event: ArtifactEvent, result: ScanResult, inventory: Inventory,
                policy: ProvenancePolicy | None = None) -> list[Finding]:
    """Provenance findings for one upload or download (nothing for deletes)."""
    if event.action not in (Action.uploaded, Action.downloaded):
        return []
    policy = policy or ProvenancePolicy()
    req = requirements_for(event, policy)
    identity = identity_for_event(event)
    out: list[Finding] = []

    # formats the store does not allow, in the artifact or any member
    refused: dict[str, str] = {}
    for rep in result.reports:
        if rep.format and req.format_refused(rep.format):
            refused.setdefault(rep.format, rep.path)
    for fmt, where in refused.items():
        out.append(_finding(
            req, "POLICY-FORMAT-NOT-ALLOWED", f"Format {fmt} is not allowed in this store",
            f"the policy for {identity.model_key or event.uri} does not allow {fmt} artifacts "
            f"(allowed: {', '.join(req.allowed_formats) if req.allowed_formats is not None else 'any'}; "
            f"denied: {', '.join(req.denied_formats) or 'none'})",
            location=where, remediation="Convert the model to an allowed format (e.g. safetensors) and upload again."))

    sha = result.sha256
    if not sha:
        return out
    same_model = inventory.search(model_key=identity.model_key) if identity.model_key else []
    same_identity = [r for r in same_model if r.identity == identity.key]
    this = next((r for r in same_identity if r.sha256 == sha), None)
    pinned_here = [r for r in same_identity if r.pinned]
    pinned_model = [r for r in same_model if r.pinned]
    approved = this is not None and this.approval is ApprovalStatus.approved
    pinned_bytes = any(r.sha256 == sha for r in pinned_here)

    changed = bool(pinned_here) and not pinned_bytes
    if changed:
        expected = ", ".join(sorted({r.sha256 or f"{k}:{v}" for r in pinned_here for k, v in
                                     ([("sha256", r.sha256)] if r.sha256 else r.digests.items())}))
        out.append(_finding(
            req, "PINNED-ARTIFACT-CHANGED", f"pinned-artifact-changed: {identity.key}",
            f"{identity.key} is pinned to {expected}, but the bytes {event.action.value} hash to {sha}: "
            "the artifact was replaced after it was pinned",
            remediation="Block the artifact; compare it with the pinned bytes and find out who replaced it."))

    if event.action is Action.downloaded:
        if this is not None and this.approval is ApprovalStatus.revoked:
            out.append(_finding(
                req, "PROVENANCE-REVOKED-DOWNLOAD", f"Download of revoked bytes of {identity.key}",
                f"the approval of {sha} for {identity.key} was revoked"
                + (f" by {this.approvals[-1].by}: {this.approvals[-1].reason}" if this.approvals else ""),
                remediation="Stop using this artifact."))
        elif not approved and not changed:
            controlled = any(r.approvals or r.pinned for r in same_identity)
            if req.require_approval or controlled:
                state = this.approval.value if this is not None else "unknown"
                out.append(_finding(
                    req, "PROVENANCE-UNAPPROVED-DOWNLOAD", f"Download of unapproved bytes of {identity.key}",
                    f"{sha} is not approved for {identity.key} (approval: {state})"
                    + ("; the policy requires approval" if req.require_approval else ""),
                    remediation=f"Review the artifact, then `modelscreen inventory approve {identity.key} {sha}`."))
    else:
        new_bytes_of_pinned = bool(pinned_model) and not pinned_bytes
        if not approved and (new_bytes_of_pinned or req.require_approval):
            pinned_versions = sorted({r.version or r.identity for r in pinned_model})
            why = (f"{identity.model_key} is pinned ({', '.join(pinned_versions)})" if new_bytes_of_pinned
                   else "the policy requires approval")
            out.append(_finding(
                req, "PROVENANCE-PENDING-APPROVAL", f"Approval pending for {identity.key}",
                f"new bytes {sha} uploaded by {event.actor or 'unknown'}: {why}; an approval request is open",
                remediation=f"Review, then `modelscreen inventory approve {identity.key} {sha}` "
                            f"(or `inventory pin` to move the pin)."))

    if req.require_signature and not _has_signature_findings(result):
        out.extend(_signature_findings(req, identity.key, sha, this, inventory))
    return out


def _has_signature_findings(result: ScanResult) -> bool:
    """The pipeline already verified a bundle found next to the artifact and reported why it failed."""
    return any(f.analyzer == PROVENANCE_ANALYZER and f.rule_id.startswith("SIGNATURE-")
               for rep in result.reports[:1] for f in rep.findings)


def _signature_findings(req: EffectiveRequirements, key: str, sha: str, this: InventoryRecord | None,
                        inventory: Inventory) -> list[Finding]:
    candidates = [this] if this is not None and this.signature is not None else []
    if not candidates:
        candidates = [r for r in inventory.search(sha256=sha) if r.signature is not None]
    verified = [r for r in candidates if r.signature.status is SignatureStatus.verified]
    if verified:
        if not any(signer_allowed(r.signature.signer, req.allowed_signers) for r in verified):
            signers = ", ".join(sorted({r.signature.signer or "?" for r in verified}))
            return [_finding(req, "SIGNATURE-UNEXPECTED-SIGNER", f"Signed by an unexpected signer: {key}",
                             f"{sha} is signed by {signers}, not by any of {', '.join(req.allowed_signers or [])}")]
        return []
    failed = [r for r in candidates if r.signature.status is SignatureStatus.failed]
    if failed:
        sig = failed[0].signature
        rules = [r for r in sig.findings if r.startswith("SIGNATURE-")] or ["SIGNATURE-INVALID"]
        return [_finding(req, rules[0], f"Signature verification failed: {key}",
                         f"the signature recorded for {sha} did not verify ({', '.join(rules)})"
                         + (f"; bundle {sig.bundle}" if sig.bundle else ""))]
    return [_finding(req, "SIGNATURE-MISSING", f"No verified signature: {key}",
                     f"the policy requires a verified model signature and none is recorded for {sha}",
                     remediation="Sign the model (OpenSSF model signing) and record it with `modelscreen verify "
                                 "--identity ...`.")]


def apply_findings(result: ScanResult, findings: list[Finding]) -> ScanResult:
    """The result with extra findings on its top report, verdicts recomputed (like check_announced)."""
    if not findings or not result.reports:
        return result
    top = result.reports[0]
    have = {(f.rule_id, f.title, f.location) for f in top.findings}
    findings = [f for f in findings if (f.rule_id, f.title, f.location) not in have]
    if not findings:
        return result
    top = top.model_copy(update={"findings": [*top.findings, *findings]})
    top.verdict = worst_verdict([verdict_for(top.findings, top.error), top.verdict])
    verdict = worst_verdict([top.verdict, result.verdict])
    return result.model_copy(update={"reports": [top, *result.reports[1:]], "verdict": verdict})


class ProvenanceChecker:
    """What the pipeline calls for each scan result (synchronous: run it in a worker thread).

        checker = ProvenanceChecker(inventory, policy)
        result = checker.process(result)      # check + apply + inventory.record(result)
    """

    def __init__(self, inventory: Inventory, policy: ProvenancePolicy | None = None):
        self.inventory = inventory
        self.policy = policy or ProvenancePolicy()

    def check(self, result: ScanResult) -> list[Finding]:
        return check_event(result.event, result, self.inventory, self.policy)

    def apply(self, result: ScanResult) -> ScanResult:
        return apply_findings(result, self.check(result))

    def record(self, result: ScanResult) -> InventoryRecord | None:
        return self.inventory.record(result)

    def process(self, result: ScanResult) -> ScanResult:
        return self.process_many([result])[0]

    def process_many(self, results: list[ScanResult]) -> list[ScanResult]:
        """Results about the same identity and bytes: checked one by one, recorded in one write.

        Nothing is written between the checks, so they all see the same inventory state: each distinct
        inventory query is asked once for the whole group."""
        reads = _ReadOnce(self.inventory)
        answers: dict[tuple, list[Finding]] = {}  # the same question (a popular model's downloads): one answer

        def findings(r: ScanResult) -> list[Finding]:
            ev = r.event
            key = (ev.action, ev.store, ev.store_name, ev.name, ev.version, ev.path, ev.uri, ev.actor, r.sha256,
                   id(r.reports))  # all check_event reads of the event and result (reports: the same list)
            if key not in answers:
                answers[key] = check_event(ev, r, reads, self.policy)
            return answers[key]

        checked = [apply_findings(r, findings(r)) for r in results]
        self.inventory.record_many(checked)
        return checked


class _ReadOnce:
    """The inventory's `search`, each distinct query answered once (what check_event reads)."""

    def __init__(self, inventory: Inventory):
        self._inventory = inventory
        self._answers: dict[tuple, list[InventoryRecord]] = {}

    def __getattr__(self, name: str):
        return getattr(self._inventory, name)

    def search(self, **query) -> list[InventoryRecord]:
        key = tuple(sorted(query.items()))
        if key not in self._answers:
            self._answers[key] = self._inventory.search(**query)
        return self._answers[key]
