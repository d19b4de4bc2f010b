"""Behaviour every inventory backend must have; run on SQLite here and on Elasticsearch in the integration tests."""
from __future__ import annotations

import pytest

from modelscreen.schemas import Severity, Verdict
from modelscreen.schemas.inventory import ApprovalStatus, ArtifactIdentity
from modelscreen.schemas.policy import ProvenancePolicy
from tests.provenance.conftest import make_result, malicious_finding, sha
from modelscreen.provenance import ApprovalRefused, ProvenanceChecker

IDENT = ArtifactIdentity(store="s3", store_name="models", name="org/model.safetensors", version="v1")


def records_and_seen(inv) -> None:
    r1 = make_result(action="uploaded", actor="alice", minutes=0)
    r2 = make_result(action="downloaded", actor="bob", minutes=5)
    r3 = make_result(action="downloaded", actor="carol", minutes=9)
    for r in (r1, r2, r3):
        inv.record(r)
    recs = inv.find(IDENT)
    assert len(recs) == 1
    rec = recs[0]
    assert rec.identity == "s3/models:org/model.safetensors@v1"
    assert rec.sha256 == sha(b"weights") and rec.size == 7 and rec.format == "safetensors"
    assert rec.uploaded_by == ["alice"] and rec.downloaded_by == ["bob", "carol"]
    assert rec.first_seen == r1.event.time and rec.last_seen == r3.event.time
    assert rec.verdict is Verdict.clean and rec.approval is ApprovalStatus.none
    # other bytes under the same identity: a second record
    inv.record(make_result(content=b"other", minutes=20))
    assert {r.sha256 for r in inv.find(IDENT)} == {sha(b"weights"), sha(b"other")}
    assert [r.sha256 for r in inv.search(model_key=IDENT.model_key)][0] == sha(b"other")  # latest first


def approve_refuse_force(inv) -> None:
    bad = make_result(content=b"evil", verdict=Verdict.malicious, findings=[malicious_finding()])
    inv.record(bad)
    digest = sha(b"evil")
    with pytest.raises(ApprovalRefused):
        inv.approve(IDENT, digest, by="alice", reason="looks fine")
    with pytest.raises(ApprovalRefused):
        inv.approve(IDENT, digest, by="alice", force=True)  # a forced approval needs a reason
    assert inv.find(IDENT, digest)[0].approval is ApprovalStatus.none
    rec = inv.approve(IDENT, digest, by="alice", reason="false positive, reviewed in TICKET-1", force=True)
    assert rec.approval is ApprovalStatus.approved
    last = rec.approvals[-1]
    assert last.forced and last.by == "alice" and last.verdict is Verdict.malicious and "TICKET-1" in last.reason
    # clean bytes: approved without force
    inv.record(make_result(content=b"good"))
    rec = inv.approve(IDENT, sha(b"good"), by="bob", reason="ok")
    assert rec.approval is ApprovalStatus.approved and not rec.approvals[-1].forced
    revoked = inv.revoke(IDENT, sha(b"good"), by="carol", reason="superseded")
    assert [r.approval for r in revoked] == [ApprovalStatus.revoked]
    assert inv.find(IDENT, sha(b"good"))[0].approvals[-1].by == "carol"


def pin_swap_download(inv) -> None:
    inv.record(make_result(content=b"v1 bytes"))
    inv.pin(IDENT, sha(b"v1 bytes"), by="alice", reason="release 1")
    rec = inv.find(IDENT, sha(b"v1 bytes"))[0]
    assert rec.pinned and rec.approval is ApprovalStatus.approved and rec.pin.by == "alice"
    checker = ProvenanceChecker(inv, ProvenancePolicy())
    # the same bytes: nothing to say
    assert checker.check(make_result(action="downloaded", content=b"v1 bytes", actor="bob")) == []
    # somebody swapped the bytes behind the same name and version
    swapped = checker.process(make_result(action="downloaded", content=b"swapped!", actor="bob", minutes=3))
    found = [f for f in swapped.reports[0].findings if f.rule_id == "PINNED-ARTIFACT-CHANGED"]
    assert len(found) == 1 and found[0].severity is Severity.critical
    assert "pinned-artifact-changed" in found[0].title
    assert swapped.verdict is Verdict.malicious
    # the content verdict of the swapped bytes stays what the engine said
    assert inv.find(IDENT, sha(b"swapped!"))[0].verdict is Verdict.clean
    # moving the pin
    inv.pin(IDENT, sha(b"swapped!"), by="alice", reason="release 1.1")
    assert [r.sha256 for r in inv.search(identity=IDENT.key, pinned=True)] == [sha(b"swapped!")]
    assert inv.unpin(IDENT) and not inv.search(identity=IDENT.key, pinned=True)


def pending_on_new_version(inv) -> None:
    inv.record(make_result(content=b"v1 bytes", version="v1"))
    inv.pin(IDENT, sha(b"v1 bytes"), by="alice")
    checker = ProvenanceChecker(inv)
    up = checker.process(make_result(content=b"v2 bytes", version="v2", actor="mallory", minutes=10))
    pend = [f for f in up.reports[0].findings if f.rule_id == "PROVENANCE-PENDING-APPROVAL"]
    assert len(pend) == 1 and pend[0].severity in (Severity.info, Severity.medium)
    assert not any(f.rule_id == "PINNED-ARTIFACT-CHANGED" for f in up.reports[0].findings)
    v2 = ArtifactIdentity(store="s3", store_name="models", name="org/model.safetensors", version="v2")
    rec = inv.find(v2, sha(b"v2 bytes"))[0]
    assert rec.approval is ApprovalStatus.pending and rec.approvals[-1].by == "mallory"
    pending = inv.search(approval=ApprovalStatus.pending)
    assert [r.identity for r in pending] == [v2.key]
    # approving resolves it; a download of v2 is then clean of provenance findings
    inv.approve(v2, sha(b"v2 bytes"), by="alice", reason="reviewed")
    assert checker.check(make_result(action="downloaded", content=b"v2 bytes", version="v2")) == []
    # new bytes under the pinned identity itself: critical, and a pending approval too
    up = checker.process(make_result(content=b"v1 replaced", version="v1", minutes=20))
    rules = {f.rule_id for f in up.reports[0].findings}
    assert {"PINNED-ARTIFACT-CHANGED", "PROVENANCE-PENDING-APPROVAL"} <= rules
    assert inv.find(IDENT, sha(b"v1 replaced"))[0].approval is ApprovalStatus.pending


ALL = [records_and_seen, approve_refuse_force, pin_swap_download, pending_on_new_version]
