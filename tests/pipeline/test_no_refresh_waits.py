"""The scan stage's inventory writes never wait for an index refresh (safetensors uploads and pending approvals
included)."""
from __future__ import annotations

from datetime import datetime, timezone

from modelscreen.pipeline.provenance import check_batch
from modelscreen.provenance import ProvenanceChecker
from modelscreen.provenance.es_inventory import ElasticsearchInventory
from modelscreen.provenance.pipeline_checks import LocalEvidence, evidence_findings
from modelscreen.provenance.policy import ProvenancePolicy
from modelscreen.schemas import ArtifactReport, Verdict
from modelscreen.schemas.events import Action, ArtifactEvent, StoreKind
from modelscreen.schemas.inventory import TensorManifest
from modelscreen.schemas.results import ScanResult

SHA = "a" * 64


class RecordingES:
    """Just enough of the synchronous client for the inventory; remembers every write's refresh."""

    def __init__(self):
        self.docs: dict[str, dict] = {}
        self.refreshes: list = []
        self.seq = 0

    def options(self, **_kw):
        return self

    def get(self, index, id):
        doc = self.docs.get(id)
        return {"found": doc is not None, "_source": doc, "_seq_no": self.seq, "_primary_term": 1}

    def index(self, index, id, document, refresh=False, **_kw):
        self.refreshes.append(refresh)
        self.docs[id] = document
        self.seq += 1

    def search(self, **_kw):
        return {"hits": {"hits": []}}


def safetensors_upload() -> ScanResult:
    event = ArtifactEvent(action=Action.uploaded, store=StoreKind.s3, uri="s3://b/m/model.safetensors",
                          name="m/model.safetensors", time=datetime(2026, 12, 1, tzinfo=timezone.utc),
                          source_event_id="e1", raw_type="test", actor="alice")
    report = ArtifactReport(path=event.uri, sha256=SHA, size=10, format="safetensors", verdict=Verdict.clean)
    return ScanResult(event=event, sha256=SHA, size=10, format="safetensors", verdict=Verdict.clean,
                      reports=[report], engine_version="t", scanned_at=datetime(2026, 12, 1, tzinfo=timezone.utc))


def test_a_safetensors_upload_writes_its_manifest_and_record_without_waiting_for_a_refresh():
    es = RecordingES()
    inventory = ElasticsearchInventory(es, "inv", ensure=False)
    result = safetensors_upload()
    evidence = LocalEvidence(manifest=TensorManifest(sha256=SHA, size=10))
    evidence_findings(result, evidence, inventory=inventory, policy=ProvenancePolicy())
    ProvenanceChecker(inventory, ProvenancePolicy()).process_many([result])
    assert len(es.refreshes) >= 3  # manifest, record marked, record of the upload
    assert "wait_for" not in es.refreshes and True not in es.refreshes


class BatchRecordingES(RecordingES):
    """The batch requests too (mget, msearch, bulk)."""

    def mget(self, index, ids):
        return {"docs": [{"_id": i, **self.get(index, i)} for i in ids]}

    def msearch(self, searches):
        return {"responses": [self.search() for _ in searches[::2]]}

    def bulk(self, index, operations, refresh=False):
        self.refreshes.append(refresh)
        for head, doc in zip(operations[::2], operations[1::2]):
            self.docs[next(iter(head.values()))["_id"]] = doc
        return {"items": [{op: {"_id": head[op]["_id"], "status": 201}} for head in operations[::2] for op in head]}


def test_a_batch_opening_a_pending_approval_waits_for_no_refresh():
    es = BatchRecordingES()
    inventory = ElasticsearchInventory(es, "inv", ensure=False)
    result = safetensors_upload()
    policy = ProvenancePolicy.model_validate({"defaults": {"require_approval": True}})
    evidence = LocalEvidence(manifest=TensorManifest(sha256=SHA, size=10))
    [[checked]] = check_batch(ProvenanceChecker(inventory, policy), [[(result, evidence)]])
    assert any(f.rule_id == "PROVENANCE-PENDING-APPROVAL" for f in checked.reports[0].findings)
    assert es.refreshes == [False]  # one bulk request for the record and the manifest, no refresh
    assert {d.get("approval") for d in es.docs.values() if d.get("doc_type") == "record"} == {"pending"}
