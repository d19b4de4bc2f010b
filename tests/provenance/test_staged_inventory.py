"""The scan stage's batched provenance checks (pipeline.provenance.check_batch over a StagedInventory) give
what checking each group on its own gives, in a few requests per batch, and lose no concurrent change."""
from __future__ import annotations

from collections import Counter

import pytest

np = pytest.importorskip("numpy")
safetensors_numpy = pytest.importorskip("safetensors.numpy")

from modelscreen.schemas.policy import ProvenancePolicy  # noqa: E402
from modelscreen.pipeline.provenance import check_batch, check_group  # noqa: E402
from modelscreen.provenance import ProvenanceChecker, identity_for_event  # noqa: E402
from modelscreen.provenance.pipeline_checks import collect_evidence  # noqa: E402
from modelscreen.provenance.sqlite_inventory import SqliteInventory  # noqa: E402
from modelscreen.provenance.staged import StagedInventory  # noqa: E402
from tests.provenance.conftest import make_result  # noqa: E402
from tests.provenance.test_pipeline_checks import in_process, scan, settings, store, weights  # noqa: E402,F401

POLICY = ProvenancePolicy.model_validate({"rules": [{"store": "*", "name": "org/gated*", "require_approval": True}]})


def provenance_rules(result):
    return sorted(f.rule_id for f in result.reports[0].findings if f.analyzer == "provenance")


def seed(inv):
    """Bytes pinned for one model, an approval revoked for another."""
    pinned = make_result(name="org/pinned", content=b"pinned-v1")
    inv.record(pinned)
    inv.pin(identity_for_event(pinned.event), pinned.sha256, by="ops")
    revoked = make_result(name="org/revoked", content=b"bad")
    inv.record(revoked)
    inv.approve(identity_for_event(revoked.event), revoked.sha256, by="ops")
    inv.revoke(identity_for_event(revoked.event), revoked.sha256, by="ops", reason="leaked")


def batch_of_groups(store, settings):
    """Groups as the scan agent forms them: events about one record together, in order."""
    gated_up = make_result(name="org/gated-model", content=b"gated", minutes=1)
    gated_down = make_result(name="org/gated-model", content=b"gated", action="downloaded", actor="bob", minutes=2)
    swapped = make_result(name="org/pinned", content=b"pinned-v2", action="downloaded", minutes=3)
    new_version = make_result(name="org/pinned", content=b"pinned-v3", version="v3", minutes=4)
    revoked = make_result(name="org/revoked", content=b"bad", action="downloaded", minutes=5)
    plain = [make_result(name=f"team/m{i}", content=f"m{i}".encode(), fmt="pickle", minutes=6) for i in range(5)]
    f = weights(store / "clf.safetensors", a=[1, 2], b=[3])
    v1 = scan(f, settings, version="v1", minutes=7)
    e1 = collect_evidence(v1, f, policy=POLICY, settings=settings, run=in_process)
    weights(f, a=[1, 2], b=[30])
    v2 = scan(f, settings, version="v2", minutes=8)
    e2 = collect_evidence(v2, f, policy=POLICY, settings=settings, run=in_process)
    return [[(gated_up, None), (gated_down, None)], [(swapped, None)], [(new_version, None)], [(revoked, None)],
            *[[(p, None)] for p in plain], [(v1, e1)], [(v2, e2)]]


def state(inv):
    return sorted((r.id, r.approval.value, r.pinned, r.manifest, r.verdict, r.last_seen, tuple(r.uploaded_by),
                   tuple(r.downloaded_by), len(r.approvals)) for r in inv.search(limit=10000))


def test_a_batch_gives_what_checking_each_group_alone_gives(tmp_path, store, settings):
    batched, alone = SqliteInventory(tmp_path / "a.db"), SqliteInventory(tmp_path / "b.db")
    seed(batched)
    seed(alone)
    groups = batch_of_groups(store, settings)
    got = check_batch(ProvenanceChecker(batched, POLICY), groups)
    want = [check_group(ProvenanceChecker(alone, POLICY), g) for g in groups]
    assert [[provenance_rules(r) for r in g] for g in got] == [[provenance_rules(r) for r in g] for g in want]
    assert [[r.verdict for r in g] for g in got] == [[r.verdict for r in g] for g in want]
    assert state(batched) == state(alone)
    # what the scenarios are about
    rules = [provenance_rules(g[0]) for g in got]
    assert rules[0] == ["PROVENANCE-PENDING-APPROVAL"]
    assert provenance_rules(got[0][1]) == ["PROVENANCE-UNAPPROVED-DOWNLOAD"]
    assert rules[1] == ["PINNED-ARTIFACT-CHANGED"] and rules[2] == ["PROVENANCE-PENDING-APPROVAL"]
    assert rules[3] == ["PROVENANCE-REVOKED-DOWNLOAD"]
    assert rules[-2] == [] and rules[-1] == ["MODEL-TENSOR-DRIFT"]  # v2 compared with v1 of the same batch


class Counted(SqliteInventory):
    """Counts the calls that reach the backend from outside it (a call's own inner calls are not counted)."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.calls: Counter = Counter()
        self._depth = 0

    def __getattribute__(self, name):
        value = super().__getattribute__(name)
        if name not in ("_load", "_save", "search", "get_manifest", "put_manifest", "read_many", "search_many",
                        "write_many"):
            return value

        def counted(*a, **kw):
            if self._depth == 0:
                self.calls[name] += 1
            self._depth += 1
            try:
                return value(*a, **kw)
            finally:
                self._depth -= 1

        return counted


def test_a_batch_reads_ahead_and_writes_once(tmp_path, store, settings):
    inv = Counted(tmp_path / "c.db")
    seed(inv)
    groups = batch_of_groups(store, settings)
    check_batch(ProvenanceChecker(inv, POLICY), groups)  # v1's manifest and record now exist
    inv.calls.clear()
    weights(store / "clf.safetensors", a=[1, 2], b=[31])
    v3 = scan(store / "clf.safetensors", settings, version="v3", minutes=9)
    e3 = collect_evidence(v3, store / "clf.safetensors", policy=POLICY, settings=settings, run=in_process)
    more = [[(make_result(name=f"team/n{i}", content=f"n{i}".encode(), minutes=10), None)] for i in range(30)]
    done = check_batch(ProvenanceChecker(inv, POLICY), [*more, [(v3, e3)]])
    assert provenance_rules(done[-1][0]) == ["MODEL-TENSOR-DRIFT"]
    assert inv.calls == Counter(read_many=2, search_many=1, write_many=1)  # 31 groups, 4 requests


def test_a_record_changed_meanwhile_is_checked_again_and_both_changes_stay(tmp_path):
    inv = SqliteInventory(tmp_path / "d.db")
    policy = ProvenancePolicy.model_validate({"defaults": {"require_approval": True}})
    first = make_result(name="org/m", content=b"w", minutes=1)
    inv.record(first)
    again = make_result(name="org/m", content=b"w", action="downloaded", actor="bob", minutes=2)
    write_many = inv.write_many

    def approve_meanwhile(records, manifests):  # someone approves between the batch's read and its write
        inv.approve(identity_for_event(first.event), first.sha256, by="ops", reason="reviewed")
        return write_many(records, manifests)

    inv.write_many = approve_meanwhile
    [[checked]] = check_batch(ProvenanceChecker(inv, policy), [[(again, None)]])
    [rec] = inv.find(identity_for_event(first.event), first.sha256)
    assert rec.approval.value == "approved" and rec.downloaded_by == ["bob"]  # neither change lost
    assert provenance_rules(checked) == []  # checked again: the bytes are approved now


def test_a_search_sees_the_batch_s_own_writes_and_current_records(tmp_path):
    inv = SqliteInventory(tmp_path / "e.db")
    old = make_result(name="org/m", content=b"old", minutes=1)
    inv.record(old)
    staged = StagedInventory(inv)
    staged.read_ahead(searches=[{"model_key": identity_for_event(old.event).model_key}],
                      record_ids=[inv.search()[0].id])
    new = make_result(name="org/m", content=b"new", minutes=2)
    staged.record(new)
    found = staged.search(model_key=identity_for_event(new.event).model_key)
    assert [r.sha256 for r in found] == [new.sha256, old.sha256]  # latest seen first, the staged one included
    assert [r.sha256 for r in inv.search(model_key=identity_for_event(new.event).model_key)] == [old.sha256]
    assert staged.flush() == set()
    assert {r.sha256 for r in inv.search(model_key=identity_for_event(new.event).model_key)} == {old.sha256, new.sha256}
