"""The Kibana saved searches, detection rules, Lens aggregations and sha256 links, run against a real
Elasticsearch holding documents the pipeline's ECS writer produced.

Every saved search's KQL (and every detection rule's) is translated to query DSL (tests/kibana/kql.py) and
must return exactly the documents its intent names; the intent is written here from the source findings
and events, not from the document fields the queries use.
"""
from __future__ import annotations

import hashlib
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import pytest

from modelscreen.schemas import ArtifactReport, Finding, Severity, Verdict
from modelscreen.schemas.events import ArtifactEvent
from modelscreen.schemas.results import ScanResult
from tests.fixtures import make_pickles
from tests.kibana import kql
from tests.kibana.assets import (data_views, detection_rules, saved_objects, saved_search_query,
                                 url_format_links)
from modelscreen.engine import scan_bytes
from modelscreen.pipeline.scanning import failed
from modelscreen.sinks.ecs import finding_documents, merge_artifact
from modelscreen.sinks.es_setup import install

pytestmark = pytest.mark.integration

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
OBSERVER = {"name": "worker-0", "type": "scanner", "vendor": "modelscreen", "product": "modelscreen",
            "version": "0.1.0"}


@dataclass
class Meta:
    """What a document is about, from the scan result that produced it."""

    case: str
    rule_id: str
    severity: Severity
    analyzer: str | None
    store: str
    action: str
    artifact_sha256: str | None
    file_sha256: str | None
    ruleset_version: str | None


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _event(case: str, *, store: str, action: str = "uploaded", actor: str | None = "alice",
           name: str | None = None, version: str | None = None, store_name: str | None = None,
           expected_sha256: str | None = None) -> ArtifactEvent:
    return ArtifactEvent(action=action, store=store, store_name=store_name, uri=f"s3://models/{case}.bin",
                         name=name or f"{case}.bin", version=version, actor=actor, time=T0,
                         expected_sha256=expected_sha256, source_event_id=f"src-{case}", raw_type="test")


def _result(case: str, event: ArtifactEvent, reports: list[ArtifactReport], *, n: int,
            ruleset: str | None = None) -> ScanResult:
    worst = max((r.verdict for r in reports), key=lambda v: v.rank, default=Verdict.error)
    top = reports[0]  # as modelscreen.pipeline.scanning.scan_event builds it
    return ScanResult(event=event, sha256=top.sha256, size=top.size, format=top.format, verdict=worst,
                      reports=reports, engine_version="0.1.0", ruleset_version=top.ruleset_version or ruleset,
                      scanned_at=T0 + timedelta(minutes=n))


def _report(path: str, findings: list[Finding], *, sha: str | None = None, fmt: str = "pickle") -> ArtifactReport:
    worst = max((f.severity for f in findings), key=lambda s: s.rank, default=Severity.info)
    verdict = Verdict.malicious if worst.rank >= Severity.high.rank else (
        Verdict.suspicious if worst is Severity.medium else Verdict.clean)
    return ArtifactReport(path=path, sha256=sha or _sha(path), size=100, format=fmt, verdict=verdict,
                          findings=findings)


def _f(rule_id: str, severity: Severity, *, analyzer: str = "provenance", **kw) -> Finding:
    return Finding(rule_id=rule_id, severity=severity, title=f"{rule_id} title", detail=f"{rule_id} detail",
                   analyzer=analyzer, **kw)


def build_results() -> list[tuple[str, ScanResult]]:
    out: list[tuple[str, ScanResult]] = []
    n = iter(range(1000))

    # a critical pickle, scanned by the real engine (the payload is crafted, never loaded)
    data = make_pickles.os_system()
    reports = scan_bytes(data, "pickle.pkl")
    out.append(("pickle", _result("pickle", _event("pickle", store="s3", store_name="models-prod"), reports,
                                  n=next(n))))
    simple = [
        ("medium", "harbor", "uploaded", _f("PROVENANCE-PENDING-APPROVAL", Severity.medium)),
        ("low", "nexus", "uploaded", _f("LIMIT-NESTING", Severity.low, analyzer="engine")),
        ("unapproved", "artifactory", "downloaded", _f("PROVENANCE-UNAPPROVED-DOWNLOAD", Severity.high)),
        ("unapproved-on-upload", "artifactory", "uploaded", _f("PROVENANCE-UNAPPROVED-DOWNLOAD", Severity.high)),
        ("revoked", "artifactory", "downloaded", _f("PROVENANCE-REVOKED-DOWNLOAD", Severity.high)),
        ("pinned", "huggingface", "downloaded", _f("PINNED-ARTIFACT-CHANGED", Severity.critical)),
        ("sig-invalid", "s3", "uploaded", _f("SIGNATURE-INVALID", Severity.critical, analyzer="signature")),
        ("sig-missing", "s3", "uploaded", _f("SIGNATURE-MISSING", Severity.high, analyzer="signature")),
        ("digest", "cloudevents", "downloaded", _f("ARTIFACT-DIGEST-MISMATCH", Severity.critical,
                                                   analyzer="pipeline")),
        ("drift", "s3", "uploaded", _f("BEHAVIOUR-DRIFT", Severity.high, analyzer="behaviour")),
        ("trigger", "minio", "uploaded", _f("BEHAVIOUR-TRIGGER-SENSITIVE", Severity.high, analyzer="behaviour")),
    ]
    for case, store, action, finding in simple:
        ev = _event(case, store=store, action=action, actor="bob" if action == "downloaded" else "alice",
                    version="v1")
        out.append((case, _result(case, ev, [_report(f"{case}.bin", [finding])], n=next(n))))

    # a signed archive whose member was tampered with: the finding is on the member
    outer = _report("model.zip", [], fmt="zip")
    member = _report("model.zip!weights.bin", [_f("SIGNATURE-TAMPERED-FILE", Severity.critical,
                                                  analyzer="signature", location="weights.bin",
                                                  evidence="sha256 expected 00.. got ff..")])
    out.append(("sig-tampered", _result("sig-tampered", _event("sig-tampered", store="minio"),
                                        [outer.model_copy(update={"verdict": Verdict.malicious}), member],
                                        n=next(n))))

    # YARA hits under two ruleset versions
    for case, rid, sev, rs, store in (("yara-1", "MSY-PKL-001", Severity.high, "rs-2026.01", "s3"),
                                      ("yara-2", "MSY-PKL-007", Severity.medium, "rs-2026.02", "minio")):
        finding = _f(rid, sev, analyzer="yara", location="offset 12", references=["https://example.org/r"])
        out.append((case, _result(case, _event(case, store=store), [_report(f"{case}.pkl", [finding])],
                                  n=next(n), ruleset=rs)))

    # a burst of artifacts that could not be fetched (s3) and two unrelated failures (nexus)
    # (what modelscreen.pipeline.scanning.failed records: no bytes, so the sha256 only when the store announced it)
    for i in range(12):
        store = "s3" if i < 10 else "nexus"
        case = f"error-{i}"
        ev = _event(case, store=store, expected_sha256=_sha(case) if i % 2 else None)
        result = failed(ev, "fetch: HTTP 503 from the store", attempts=5, ruleset_version="rs-2026.02")
        out.append((case, result.model_copy(update={"scanned_at": T0 + timedelta(minutes=next(n))})))
    return out


@pytest.fixture(scope="module")
def corpus(elasticsearch_url):
    from elasticsearch import Elasticsearch

    es = Elasticsearch(elasticsearch_url, request_timeout=30)
    tag = uuid.uuid4().hex[:10]
    findings, artifacts = f"logs-modelscreen.findings-k{tag}", f"modelscreen-artifacts-k{tag}"
    info = install(es, findings_target=findings, artifacts_index=artifacts)
    metas: dict[str, Meta] = {}
    ops: list[dict] = []
    states: dict[str, dict] = {}
    op = "create" if info["data_stream"] else "index"
    for case, result in build_results():
        for doc_id, doc in finding_documents(result, observer=OBSERVER):
            f_rule = doc["rule"]["id"]
            report = next((r for r in result.reports if r.sha256 == doc.get("file", {}).get("hash", {}).get("sha256")),
                          None)
            finding = next((f for r in result.reports for f in r.findings if f.rule_id == f_rule), None)
            metas[doc_id] = Meta(case=case, rule_id=f_rule,
                                 severity=finding.severity if finding else Severity.medium,
                                 analyzer=finding.analyzer if finding else "engine",
                                 store=result.event.store.value, action=result.event.action.value,
                                 artifact_sha256=result.sha256,
                                 file_sha256=report.sha256 if report else result.sha256,
                                 ruleset_version=result.ruleset_version)
            ops += [{op: {"_index": findings, "_id": doc_id}}, doc]
        if result.sha256:
            states[result.sha256] = merge_artifact(states.get(result.sha256), result)
    for sha, state in states.items():
        ops += [{"index": {"_index": artifacts, "_id": sha}}, state]
    resp = es.bulk(operations=ops, refresh=True)
    assert not resp["errors"], [i for i in resp["items"] if next(iter(i.values())).get("error")][:3]
    yield {"es": es, "findings": findings, "artifacts": artifacts, "meta": metas, "states": states}
    for index in (findings, artifacts):
        es.options(ignore_status=[400, 404, 405]).indices.delete_data_stream(name=index)
        es.options(ignore_status=[404]).indices.delete(index=index)
    es.close()


def search_ids(corpus, kql_query: str, index: str | None = None) -> set[str]:
    res = corpus["es"].search(index=index or corpus["findings"], query=kql.to_query_dsl(kql_query), size=1000,
                              source=False)
    assert res["hits"]["total"]["value"] < 1000
    return {h["_id"] for h in res["hits"]["hits"]}


def ids_where(corpus, predicate) -> set[str]:
    return {doc_id for doc_id, m in corpus["meta"].items() if predicate(m)}


HIGH = Severity.high.rank
SAVED_SEARCH_INTENT = {
    "modelscreen-search-high-critical": lambda m: m.severity.rank >= HIGH,
    "modelscreen-search-by-store": lambda m: True,
    "modelscreen-search-unapproved-downloads":
        lambda m: m.rule_id == "PROVENANCE-UNAPPROVED-DOWNLOAD" and m.action == "downloaded",
    "modelscreen-search-pinned-changes": lambda m: m.rule_id == "PINNED-ARTIFACT-CHANGED",
    "modelscreen-search-yara-hits": lambda m: (m.analyzer or "").startswith("yara"),
    "modelscreen-search-signature-problems": lambda m: m.rule_id.startswith("SIGNATURE-"),
    "modelscreen-search-analysis-errors": lambda m: m.rule_id == "MODELSCREEN-ANALYSIS-ERROR",
    "modelscreen-search-recent-critical": lambda m: m.severity is Severity.critical,
    "modelscreen-search-behaviour": lambda m: m.rule_id.startswith("BEHAVIOUR-"),
    "modelscreen-search-behaviour-triggers": lambda m: m.rule_id == "BEHAVIOUR-TRIGGER-SENSITIVE",
}
SEARCHES = {o["id"]: o for o in saved_objects() if o["type"] == "search"}


def test_every_saved_search_has_an_intent_here():
    assert set(SEARCHES) == set(SAVED_SEARCH_INTENT)


def test_the_corpus_covers_each_intent(corpus):
    for search_id, intent in SAVED_SEARCH_INTENT.items():
        expected = ids_where(corpus, intent)
        assert expected and expected != set(corpus["meta"]) or search_id == "modelscreen-search-by-store", search_id
    cases = Counter(m.case for m in corpus["meta"].values())
    assert cases["pickle"] >= 1 and any(m.rule_id == "PICKLE-DANGEROUS-CALL" and m.severity is Severity.critical
                                        for m in corpus["meta"].values())


@pytest.mark.parametrize("search_id", sorted(SAVED_SEARCH_INTENT))
def test_saved_search_returns_exactly_what_it_is_for(corpus, search_id):
    query, data_view = saved_search_query(SEARCHES[search_id])
    assert data_view == "modelscreen-findings"
    assert search_ids(corpus, query) == ids_where(corpus, SAVED_SEARCH_INTENT[search_id])


def test_yara_search_shows_the_ruleset_version_of_each_hit(corpus):
    query, _ = saved_search_query(SEARCHES["modelscreen-search-yara-hits"])
    res = corpus["es"].search(index=corpus["findings"], query=kql.to_query_dsl(query), size=100,
                              sort=[{"rule.version": "desc"}, {"@timestamp": "desc"}])
    got = [(h["_source"]["rule"]["version"], h["_source"]["rule"]["id"]) for h in res["hits"]["hits"]]
    yara = [m for m in corpus["meta"].values() if (m.analyzer or "").startswith("yara")]
    assert sorted(got) == sorted((m.ruleset_version, m.rule_id) for m in yara)
    assert [v for v, _ in got] == sorted((m.ruleset_version for m in yara), reverse=True)
    assert {("rs-2026.02", "MSY-PKL-007"), ("rs-2026.01", "MSY-PKL-001")} <= set(got)
    assert any(m.case == "pickle" for m in yara), "the engine's own YARA hits on the pickle are there too"


RULES = {r["name"]: r for r in detection_rules()}
SPECIFIC = {"PINNED-ARTIFACT-CHANGED", "SIGNATURE-INVALID", "SIGNATURE-TAMPERED-FILE"}
RULE_INTENT = {
    "critical finding": lambda m: m.severity is Severity.critical and m.rule_id not in SPECIFIC,
    "pinned": lambda m: m.rule_id == "PINNED-ARTIFACT-CHANGED",
    "signature": lambda m: m.rule_id in ("SIGNATURE-INVALID", "SIGNATURE-TAMPERED-FILE"),
    "burst": lambda m: m.rule_id == "MODELSCREEN-ANALYSIS-ERROR",
}


def _rule(fragment: str) -> dict:
    found = [r for name, r in RULES.items() if fragment in name]
    assert len(found) == 1
    return found[0]


@pytest.mark.parametrize("fragment", sorted(RULE_INTENT))
def test_detection_rule_query_matches_exactly_its_documents(corpus, fragment):
    rule = _rule(fragment)
    expected = ids_where(corpus, RULE_INTENT[fragment])
    assert expected
    assert search_ids(corpus, rule["query"]) == expected


def test_threshold_rule_fires_for_the_store_with_the_burst_only(corpus):
    rule = _rule("burst")
    field = rule["threshold"]["field"][0]
    res = corpus["es"].search(index=corpus["findings"], query=kql.to_query_dsl(rule["query"]), size=0,
                              aggs={"by": {"terms": {"field": field, "min_doc_count": rule["threshold"]["value"]}}})
    assert [(b["key"], b["doc_count"]) for b in res["aggregations"]["by"]["buckets"]] == [("s3", 10)]


def _lens(lens_id: str) -> dict:
    return next(o for o in saved_objects() if o["type"] == "lens" and o["id"] == lens_id)


def _columns(lens_id: str) -> dict:
    (layer,) = _lens(lens_id)["attributes"]["state"]["datasourceStates"]["formBased"]["layers"].values()
    return layer["columns"]


def test_lens_terms_aggregations_count_what_the_charts_show(corpus):
    es, index, metas = corpus["es"], corpus["findings"], corpus["meta"].values()
    for lens_id, expected in (("modelscreen-lens-top-rules", Counter(m.rule_id for m in metas)),
                              ("modelscreen-lens-top-stores", Counter(m.store for m in metas))):
        terms = next(c for c in _columns(lens_id).values() if c["operationType"] == "terms")
        res = es.search(index=index, size=0, aggs={"t": {"terms": {"field": terms["sourceField"], "size": 100}}})
        assert {b["key"]: b["doc_count"] for b in res["aggregations"]["t"]["buckets"]} == dict(expected), lens_id
    cols = _columns("modelscreen-lens-findings-over-time")
    time_col = next(c for c in cols.values() if c["operationType"] == "date_histogram")
    sev_col = next(c for c in cols.values() if c["operationType"] == "terms")
    res = es.search(index=index, size=0, aggs={"t": {
        "date_histogram": {"field": time_col["sourceField"], "fixed_interval": "1h"},
        "aggs": {"s": {"terms": {"field": sev_col["sourceField"]}}}}})
    got = Counter()
    for bucket in res["aggregations"]["t"]["buckets"]:
        for sb in bucket["s"]["buckets"]:
            got[sb["key"]] += sb["doc_count"]
    assert got == Counter(m.severity.value for m in metas)


def test_lens_artifacts_by_verdict_sums_over_the_artifact_records(corpus):
    cols = _columns("modelscreen-lens-artifacts-by-verdict")
    terms = next(c for c in cols.values() if c["operationType"] == "terms")
    sums = {c["sourceField"]: cid for cid, c in cols.items() if c["operationType"] == "sum"}
    res = corpus["es"].search(index=corpus["artifacts"], size=0, aggs={"v": {
        "terms": {"field": terms["sourceField"]},
        "aggs": {cid: {"sum": {"field": field}} for field, cid in sums.items()}}})
    got = {b["key"]: (b["doc_count"], b[sums["finding_count"]]["value"], b[sums["counts.critical"]]["value"])
           for b in res["aggregations"]["v"]["buckets"]}
    expected: dict[str, list[int]] = {}
    for state in corpus["states"].values():
        row = expected.setdefault(state["verdict"], [0, 0, 0])
        row[0] += 1
        row[1] += state["finding_count"]
        row[2] += state["counts"]["critical"]
    assert got == {k: tuple(v) for k, v in expected.items()}
    assert {"malicious", "suspicious", "error"} <= set(got)


def _links():
    return {(dv, field): (target, template) for dv, obj in data_views().items()
            for field, target, template in url_format_links(obj)}


def test_sha256_link_opens_exactly_the_artifact_record_and_back(corpus):
    links = _links()
    target, template = links[("modelscreen-findings", "modelscreen.artifact_sha256")]
    assert target == "modelscreen-artifacts"
    back_target, back_template = links[("modelscreen-artifacts", "sha256")]
    assert back_target == "modelscreen-findings"
    checked = 0
    for doc_id, m in corpus["meta"].items():
        if m.artifact_sha256 is None:  # failed before any byte was read, and no digest announced
            assert m.rule_id == "MODELSCREEN-ANALYSIS-ERROR"
            continue
        checked += 1
        hits = search_ids(corpus, template.replace("{{value}}", m.artifact_sha256), index=corpus["artifacts"])
        assert hits == {m.artifact_sha256}, m.case
        back = search_ids(corpus, back_template.replace("{{value}}", m.artifact_sha256))
        assert back == ids_where(corpus, lambda x, sha=m.artifact_sha256: x.artifact_sha256 == sha)
    assert checked >= len(corpus["meta"]) - 6


def test_file_hash_link_reaches_the_record_for_top_level_artifacts_only(corpus):
    _, template = _links()[("modelscreen-findings", "file.hash.sha256")]
    for m in corpus["meta"].values():
        if m.file_sha256 is None:
            continue
        hits = search_ids(corpus, template.replace("{{value}}", m.file_sha256), index=corpus["artifacts"])
        if m.file_sha256 == m.artifact_sha256:
            assert hits == {m.artifact_sha256}
        else:  # an archive member has its own hash; its record is the outer artifact's (artifact_sha256)
            assert m.case == "sig-tampered" and hits == set()
