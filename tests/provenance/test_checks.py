"""Verification of uploads and downloads: policy violations and inventory state as findings."""
from __future__ import annotations

from datetime import datetime, timezone

from modelscreen.schemas import Severity, Verdict
from modelscreen.schemas.inventory import ArtifactIdentity, SignatureInfo, SignatureStatus
from tests.provenance.conftest import make_result, sha
from modelscreen.provenance import ProvenanceChecker, apply_findings, check_event, parse_policy

IDENT = ArtifactIdentity(store="s3", store_name="prod-models", name="org/model.safetensors", version="v1")
PROD = parse_policy("""
rules:
  - store: s3/prod-models
    require_approval: true
    require_signature: true
    denied_formats: [pickle-based]
    allowed_signers: ["key:sha256:aaaa*"]
""")


def prod(**kw):
    return make_result(store_name="prod-models", **kw)


def rules(findings):
    return sorted(f.rule_id for f in findings)


def test_unapproved_download_in_a_store_that_requires_approval(inventory):
    r = prod(action="downloaded", actor="bob")
    found = check_event(r.event, r, inventory, PROD)
    assert rules(found) == ["PROVENANCE-UNAPPROVED-DOWNLOAD", "SIGNATURE-MISSING"]
    unapproved = next(f for f in found if f.rule_id == "PROVENANCE-UNAPPROVED-DOWNLOAD")
    assert unapproved.severity is Severity.high and unapproved.analyzer == "provenance"
    inventory.approve(IDENT, sha(b"weights"), by="alice", reason="ok")
    assert rules(check_event(r.event, r, inventory, PROD)) == ["SIGNATURE-MISSING"]


def test_approval_is_per_identity_and_bytes(inventory):
    inventory.approve(IDENT, sha(b"weights"), by="alice", reason="ok")
    other = prod(action="downloaded", content=b"other bytes")
    assert "PROVENANCE-UNAPPROVED-DOWNLOAD" in rules(check_event(other.event, other, inventory, PROD))
    other_name = prod(action="downloaded", name="org/other.safetensors")
    assert "PROVENANCE-UNAPPROVED-DOWNLOAD" in rules(check_event(other_name.event, other_name, inventory, PROD))


def test_without_a_policy_only_controlled_identities_need_approval(inventory):
    r = make_result(action="downloaded")
    assert check_event(r.event, r, inventory, None) == []
    ident = ArtifactIdentity(store="s3", store_name="models", name="org/model.safetensors", version="v1")
    inventory.approve(ident, sha(b"old bytes"), by="alice", reason="ok")
    assert rules(check_event(r.event, r, inventory, None)) == ["PROVENANCE-UNAPPROVED-DOWNLOAD"]


def test_revoked_bytes(inventory):
    inventory.approve(IDENT, sha(b"weights"), by="alice", reason="ok")
    inventory.revoke(IDENT, sha(b"weights"), by="carol", reason="CVE")
    r = prod(action="downloaded")
    found = check_event(r.event, r, inventory, PROD)
    assert "PROVENANCE-REVOKED-DOWNLOAD" in rules(found)
    assert "CVE" in next(f for f in found if f.rule_id == "PROVENANCE-REVOKED-DOWNLOAD").detail


def test_format_not_allowed_counts_members(inventory):
    r = prod(action="uploaded", fmt="zip", members=[("archive/data.pkl", "pickle")])
    found = check_event(r.event, r, inventory, PROD)
    fmt = [f for f in found if f.rule_id == "POLICY-FORMAT-NOT-ALLOWED"]
    assert len(fmt) == 1 and fmt[0].location.endswith("archive/data.pkl") and "pickle" in fmt[0].title
    ok = prod(action="uploaded")
    assert "POLICY-FORMAT-NOT-ALLOWED" not in rules(check_event(ok.event, ok, inventory, PROD))


def test_upload_in_an_approval_store_opens_a_pending_approval(inventory):
    checker = ProvenanceChecker(inventory, PROD)
    out = checker.process(prod(action="uploaded", actor="dave"))
    assert "PROVENANCE-PENDING-APPROVAL" in rules(out.reports[0].findings)
    rec = inventory.find(IDENT)[0]
    assert rec.approval.value == "pending" and rec.approvals[-1].by == "dave"


def test_signature_states(inventory):
    r = prod(action="downloaded")
    inventory.approve(IDENT, sha(b"weights"), by="alice", reason="ok")
    now = datetime.now(timezone.utc)
    inventory.set_signature(IDENT, sha(b"weights"), SignatureInfo(status=SignatureStatus.verified,
                                                                  method="key", signer="key:sha256:aaaa1111",
                                                                  checked_at=now))
    assert check_event(r.event, r, inventory, PROD) == []
    inventory.set_signature(IDENT, sha(b"weights"), SignatureInfo(status=SignatureStatus.verified, method="key",
                                                                  signer="key:sha256:bbbb", checked_at=now))
    assert rules(check_event(r.event, r, inventory, PROD)) == ["SIGNATURE-UNEXPECTED-SIGNER"]
    inventory.set_signature(IDENT, sha(b"weights"), SignatureInfo(
        status=SignatureStatus.failed, method="key", checked_at=now, findings=["SIGNATURE-TAMPERED-FILE"]))
    assert rules(check_event(r.event, r, inventory, PROD)) == ["SIGNATURE-TAMPERED-FILE"]


def test_a_signature_recorded_under_another_identity_counts_for_the_same_bytes(inventory):
    inventory.approve(IDENT, sha(b"weights"), by="alice", reason="ok")
    inventory.set_signature(ArtifactIdentity(store="local", name="model.safetensors"), sha(b"weights"),
                            SignatureInfo(status=SignatureStatus.verified, method="key", signer="key:sha256:aaaa",
                                          checked_at=datetime.now(timezone.utc)))
    r = prod(action="downloaded")
    assert check_event(r.event, r, inventory, PROD) == []


def test_deletes_are_not_checked(inventory):
    r = prod(action="deleted")
    assert check_event(r.event, r, inventory, PROD) == []


def test_apply_findings_raises_the_verdict_and_is_idempotent(inventory):
    inventory.pin(IDENT, sha(b"pinned"), by="alice")
    checker = ProvenanceChecker(inventory, PROD)
    r = prod(action="downloaded")
    once = checker.apply(r)
    assert once.verdict is Verdict.malicious and once.reports[0].verdict is Verdict.malicious
    twice = apply_findings(once, checker.check(once))
    assert len(twice.reports[0].findings) == len(once.reports[0].findings)


def test_a_group_of_results_reads_the_inventory_once_and_gets_the_same_findings(inventory, monkeypatch):
    group = [prod(action="downloaded", actor=f"user{i}", minutes=i) for i in range(20)]
    alone = [rules(check_event(r.event, r, inventory, PROD)) for r in group[:2]]
    calls = []
    real = inventory.search
    monkeypatch.setattr(inventory, "search", lambda **q: calls.append(q) or real(**q))
    checked = ProvenanceChecker(inventory, PROD).process_many(group)
    assert len(calls) == len({tuple(sorted(q.items())) for q in calls})  # each distinct query asked once
    assert len(calls) <= 3
    assert {tuple(rules(f for f in r.reports[0].findings if f.analyzer == "provenance")) for r in checked} == {
        tuple(alone[0])}
    rec = inventory.find(IDENT, sha(b"weights"))[0]
    assert {f"user{i}" for i in range(20)} <= set(rec.downloaded_by)


def test_a_group_answers_each_distinct_question_once_and_no_other(inventory, monkeypatch):
    """Results that differ only in event id and time share one check; an uploader named in a finding, or other
    reports, get their own."""
    import modelscreen.provenance.checks as checks

    shared = prod(action="downloaded", actor="bob")
    group = [shared.model_copy(update={"event": shared.event.model_copy(update={"event_id": f"e{i}"})})
             for i in range(10)]
    uploads = [prod(action="uploaded", actor=a) for a in ("carol", "dave")]
    asked = []
    real = checks.check_event
    monkeypatch.setattr(checks, "check_event", lambda ev, r, *a: asked.append(ev.event_id) or real(ev, r, *a))
    checked = ProvenanceChecker(inventory, PROD).process_many(group + uploads)
    assert len(asked) == 3  # one for the ten downloads, one per uploader
    pending = [next(f for f in r.reports[0].findings if f.rule_id == "PROVENANCE-PENDING-APPROVAL")
               for r in checked[10:]]
    assert ["carol" in f.detail for f in pending] == [True, False] and "dave" in pending[1].detail
