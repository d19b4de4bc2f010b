"""FindingsWriter against a fake asynchronous client: a document refused for good loses its own event only."""
from __future__ import annotations

import asyncio

import pytest

from modelscreen.schemas import Finding, Severity, Verdict
from modelscreen.sinks.elasticsearch import FindingsWriter, PermanentIndexError, TransientIndexError
from tests.provenance.conftest import make_result


class FakeES:
    """bulk/mget/search as the writer calls them; `refuse` maps a document's event id to a bulk status."""

    def __init__(self, refuse: dict[str, int] | None = None):
        self.refuse = refuse or {}
        self.docs: dict[str, dict] = {}
        self.calls: list[str] = []

    async def bulk(self, operations, **_kw):
        self.calls.append("bulk")
        items = []
        for head, doc in zip(operations[::2], operations[1::2]):
            op, meta = next(iter(head.items()))
            status = self.refuse.get((doc.get("modelscreen") or {}).get("event_id"), 201)
            if status < 300:
                self.docs[meta["_id"]] = doc
            items.append({op: {"status": status, **({"error": {"type": "mapper_parsing_exception"}}
                                                     if status >= 300 else {})}})
        return {"errors": any(next(iter(i.values()))["status"] >= 300 for i in items), "items": items}

    async def mget(self, index, ids):
        self.calls.append("mget")
        return {"docs": [{"_id": i, "found": False} for i in ids]}

    async def search(self, **_kw):
        self.calls.append("search")
        return {"hits": {"hits": []}}


def results():
    finding = Finding(rule_id="PICKLE-DANGEROUS-CALL", severity=Severity.critical, title="os.system", analyzer="pickle")
    return [make_result(content=c, verdict=Verdict.malicious, fmt="pickle", findings=[finding]) for c in (b"a", b"b")]


def writer(es):
    return FindingsWriter(es, findings_target="findings", artifacts_index="artifacts", observer={"name": "t"})


def test_a_refused_document_loses_only_its_own_event():
    a, b = results()
    es = FakeES(refuse={b.event.event_id: 400})
    with pytest.raises(PermanentIndexError) as info:
        asyncio.run(writer(es).write([a, b]))
    assert list(info.value.reasons) == [b.event.event_id]
    assert "mapper_parsing_exception" in info.value.reasons[b.event.event_id]
    assert a.sha256 in es.docs and b.sha256 not in es.docs  # the other's artifact state is written all the same
    assert es.calls == ["bulk", "mget", "bulk", "search"]


def test_a_busy_node_retries_the_whole_batch():
    a, b = results()
    with pytest.raises(TransientIndexError):
        asyncio.run(writer(FakeES(refuse={b.event.event_id: 429})).write([a, b]))


def test_all_accepted():
    es = FakeES()
    assert asyncio.run(writer(es).write(results())) == 2


def test_documents_built_with_a_batch_memo_equal_those_built_alone():
    """Results of one cached scan share report and finding objects; the memo shares only the scan's part."""
    from modelscreen.sinks.ecs import finding_documents

    findings = [Finding(rule_id="PICKLE-DANGEROUS-CALL", severity=Severity.critical, title="os.system",
                        analyzer="pickle", location="op 3"),
                Finding(rule_id="YARA-X", severity=Severity.medium, title="a rule", analyzer="yara")]
    base = make_result(verdict=Verdict.malicious, fmt="pickle", findings=findings, members=[("a/data.pkl", "pickle")])
    copies = [base.model_copy(update={"event": base.event.model_copy(update={
        "event_id": f"e{i}", "actor": f"user{i}", "name": f"org/m{i}.pt", "uri": f"https://store/m{i}.pt"})})
        for i in range(3)]
    copies.append(copies[0].model_copy(update={"verdict": Verdict.suspicious}))  # same reports, another verdict
    shared: dict = {}

    def strip(docs):
        for _id, doc in docs:
            doc["event"].pop("ingested")
        return docs

    for r in copies:
        assert strip(finding_documents(r, observer={"name": "w"}, scan_parts=shared)) == strip(
            finding_documents(r, observer={"name": "w"}))
    assert len(shared) == 4  # two findings, two verdicts
