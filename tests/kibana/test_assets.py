"""The Kibana assets refer only to fields the index templates map, with types that fit their use, and
follow Kibana's import format."""
from __future__ import annotations

import json
import re
import uuid
from collections import Counter

import pytest

from tests.kibana import kql
from tests.kibana.assets import (
    DETECTION_RULES,
    KEYWORDISH,
    NUMERIC,
    SAVED_OBJECTS,
    data_views,
    detection_rules,
    mapping_for_pattern,
    mappings,
    reference,
    saved_objects,
    saved_search_query,
    url_format_links,
)

OBJECTS = saved_objects()
RULES = detection_rules()
BY_KEY = {(o["type"], o["id"]): o for o in OBJECTS}
SEARCHES = [o for o in OBJECTS if o["type"] == "search"]
LENSES = [o for o in OBJECTS if o["type"] == "lens"]
DASHBOARDS = [o for o in OBJECTS if o["type"] == "dashboard"]
SEMVER = re.compile(r"^\d+\.\d+\.\d+$")


def dv_mapping(data_view_id: str):
    return mapping_for_pattern(data_views()[data_view_id]["attributes"]["title"])


def field_type(data_view_id: str, field: str, where: str) -> str:
    t = dv_mapping(data_view_id).type_of(field)
    assert t is not None, f"{where}: field {field!r} is not in the index template for data view {data_view_id}"
    return t


def check_kql(query: str, data_view_id: str, where: str) -> None:
    for field, how in kql.uses(query):
        t = field_type(data_view_id, field, where)
        if how == "range":
            assert t in NUMERIC or t == "date", f"{where}: range on {field} ({t})"
        elif how == "wildcard":
            assert t in KEYWORDISH, f"{where}: wildcard on {field} ({t}) needs a keyword field"
        elif how == "match":
            assert t in KEYWORDISH | NUMERIC | {"boolean", "date", "text"}, f"{where}: {field} ({t})"


def _labels_written() -> set[str]:
    """labels.* keys workers/sinks/ecs.py writes for an event with every optional attribute set."""
    from datetime import datetime, timezone

    from modelscreen.schemas import ArtifactReport, Finding, Severity, Verdict
    from modelscreen.schemas.events import ArtifactEvent
    from modelscreen.schemas.results import ScanResult
    from modelscreen.sinks.ecs import finding_document

    now = datetime(2026, 1, 1, tzinfo=timezone.utc)
    event = ArtifactEvent(action="downloaded", store="s3", store_name="bucket", uri="s3://bucket/m.pt", name="m.pt",
                          version="v1", actor="alice", time=now, source_event_id="x", raw_type="t")
    report = ArtifactReport(path="m.pt", sha256="a" * 64, format="pickle", verdict=Verdict.malicious)
    result = ScanResult(event=event, sha256="a" * 64, verdict=Verdict.malicious, reports=[report],
                        engine_version="0", scanned_at=now)
    doc = finding_document(result, report, Finding(rule_id="R", severity=Severity.high, title="t"), observer={})
    return {f"labels.{k}" for k in doc["labels"]}


def _all_referenced_fields() -> set[str]:
    out: set[str] = set()
    for o in SEARCHES:
        out |= set(kql.fields(saved_search_query(o)[0])) | set(o["attributes"]["columns"])
    for lens in LENSES:
        for layer in lens_layers(lens).values():
            out |= {c.get("sourceField") for c in layer["columns"].values()}
    for dv in data_views().values():
        out |= set(json.loads(dv["attributes"].get("fieldFormatMap") or "{}"))
    for r in RULES:
        out |= set(kql.fields(r["query"]))
        if r["type"] == "threshold":
            out |= set(r["threshold"]["field"])
    return out


def test_labels_fields_used_are_ones_the_workers_write():
    """labels.* is dynamic (any key maps as keyword), so check the keys against the ECS writer instead."""
    used = {f for f in _all_referenced_fields() if f and f.startswith("labels.")}
    assert used, "the assets use labels.store / labels.action / labels.actor"
    assert used <= _labels_written(), f"no document ever has {sorted(used - _labels_written())}"


# ----------------------------------------------------------------------------- import format
@pytest.mark.parametrize("path", [SAVED_OBJECTS, DETECTION_RULES], ids=lambda p: p.name)
def test_ndjson_one_json_object_per_line(path):
    text = path.read_text()
    assert text.endswith("\n") and "\r" not in text
    lines = text.split("\n")[:-1]
    assert lines and all(line.strip() for line in lines), "no blank lines"
    for n, line in enumerate(lines, 1):
        obj = json.loads(line)
        assert isinstance(obj, dict), f"line {n}"
        assert json.loads(json.dumps(obj)) == obj


def test_saved_objects_have_the_import_shape_and_stable_unique_ids():
    keys = Counter((o["type"], o["id"]) for o in OBJECTS)
    assert [k for k, n in keys.items() if n > 1] == []
    for o in OBJECTS:
        assert set(o) >= {"type", "id", "attributes", "references", "coreMigrationVersion", "typeMigrationVersion"}
        assert o["type"] in {"index-pattern", "search", "lens", "dashboard"}
        assert re.fullmatch(r"modelscreen-[a-z0-9-]+", o["id"]), f"{o['id']}: stable, readable ids"
        assert SEMVER.match(o["coreMigrationVersion"]) and SEMVER.match(o["typeMigrationVersion"])
        assert isinstance(o["attributes"], dict) and o["attributes"].get("title")
        assert "migrationVersion" not in o and "namespaces" not in o and "updated_at" not in o
        for ref in o["references"]:
            assert set(ref) == {"type", "id", "name"}
    assert {t for t, _ in keys} == {"index-pattern", "search", "lens", "dashboard"}


def test_every_reference_resolves_to_an_object_in_the_files_or_a_known_data_view():
    known_data_views = set(data_views())
    for o in OBJECTS:
        for ref in o["references"]:
            key = (ref["type"], ref["id"])
            assert key in BY_KEY or (ref["type"] == "index-pattern" and ref["id"] in known_data_views), \
                f"{o['type']}/{o['id']}: reference {ref} resolves nowhere"
        names = [r["name"] for r in o["references"]]
        assert len(names) == len(set(names)), f"{o['id']}: duplicate reference names"


def test_data_views_match_the_index_templates_and_time_fields_are_dates():
    dvs = data_views()
    assert {dv["attributes"]["title"]: dv["attributes"]["timeFieldName"] for dv in dvs.values()} == {
        "logs-modelscreen.findings-*": "@timestamp", "modelscreen-artifacts*": "last_seen"}
    for dv_id, dv in dvs.items():
        attrs = dv["attributes"]
        assert mapping_for_pattern(attrs["title"]) is not None
        assert field_type(dv_id, attrs["timeFieldName"], dv_id) == "date"
        for key in ("fields", "fieldFormatMap", "fieldAttrs", "runtimeFieldMap", "sourceFilters", "typeMeta"):
            if key in attrs:
                json.loads(attrs[key])  # stored as JSON strings
        for field in json.loads(attrs.get("fieldFormatMap") or "{}"):
            field_type(dv_id, field, f"{dv_id} field format")
        for field in json.loads(attrs.get("fieldAttrs") or "{}"):
            field_type(dv_id, field, f"{dv_id} field attrs")
    # the concrete names the workers write to are covered too
    assert mappings()["findings"].covers("logs-modelscreen.findings-default")
    assert mappings()["artifacts"].covers("modelscreen-artifacts")


def test_sha256_links_open_the_artifact_record_and_back():
    links = {(dv, field): (target, query) for dv in data_views()
             for field, target, query in url_format_links(data_views()[dv])}
    assert links[("modelscreen-findings", "modelscreen.artifact_sha256")] == (
        "modelscreen-artifacts", "sha256:{{value}}")
    assert links[("modelscreen-findings", "file.hash.sha256")][0] == "modelscreen-artifacts"
    assert links[("modelscreen-artifacts", "sha256")] == (
        "modelscreen-findings", "modelscreen.artifact_sha256:{{value}}")
    for (dv, field), (target, query) in links.items():
        assert target in data_views()
        assert field_type(dv, field, f"{dv} link") in KEYWORDISH
        check_kql(query.replace("{{value}}", "0" * 64), target, f"{dv}.{field} link")
    for dv in data_views().values():
        for spec in json.loads(dv["attributes"]["fieldFormatMap"]).values():
            template = spec["params"]["urlTemplate"]
            # relative links must start with ../app/ so Kibana keeps its base path and the current space
            assert template.startswith(("../app/", "{{rawValue}}")), template


# ----------------------------------------------------------------------------- saved searches
EXPECTED_SEARCHES = {
    "modelscreen-search-high-critical", "modelscreen-search-by-store", "modelscreen-search-unapproved-downloads",
    "modelscreen-search-pinned-changes", "modelscreen-search-yara-hits", "modelscreen-search-recent-critical",
}


def test_the_saved_searches_the_analysts_need_are_there():
    assert EXPECTED_SEARCHES <= {o["id"] for o in SEARCHES}
    query = {o["id"]: saved_search_query(o)[0] for o in SEARCHES}
    assert "PROVENANCE-UNAPPROVED-DOWNLOAD" in query["modelscreen-search-unapproved-downloads"]
    assert kql.fields(query["modelscreen-search-unapproved-downloads"]) == ["rule.id", "labels.action"]
    assert "PINNED-ARTIFACT-CHANGED" in query["modelscreen-search-pinned-changes"]
    yara = next(o for o in SEARCHES if o["id"] == "modelscreen-search-yara-hits")
    assert kql.fields(query["modelscreen-search-yara-hits"]) == ["rule.ruleset"]
    assert yara["attributes"]["columns"][:2] == ["rule.version", "rule.id"]


@pytest.mark.parametrize("search", SEARCHES, ids=lambda o: o["id"])
def test_saved_search_fields_exist_with_usable_types(search):
    query, dv = saved_search_query(search)
    assert dv in data_views()
    check_kql(query, dv, search["id"])
    attrs = search["attributes"]
    assert attrs["columns"]
    for col in attrs["columns"]:
        field_type(dv, col, f"{search['id']} column")
    for field, direction in attrs["sort"]:
        assert direction in ("asc", "desc")
        t = field_type(dv, field, f"{search['id']} sort")
        assert t != "text", f"{search['id']}: cannot sort on text field {field}"
        if "." in field and field.startswith("labels."):
            pytest.fail("do not sort on dynamic labels.*: unmapped until the first document has it")


# ----------------------------------------------------------------------------- Lens
OPERATION_TYPES = {
    "date_histogram": lambda t: t == "date",
    "terms": lambda t: t in KEYWORDISH,
    "sum": lambda t: t in NUMERIC, "average": lambda t: t in NUMERIC, "median": lambda t: t in NUMERIC,
    "min": lambda t: t in NUMERIC or t == "date", "max": lambda t: t in NUMERIC or t == "date",
    "unique_count": lambda t: t in KEYWORDISH | NUMERIC,
    "count": lambda t: True,
}
DATA_TYPES = {"date": {"date"}, "string": KEYWORDISH, "number": NUMERIC}


def lens_layers(lens):
    state = lens["attributes"]["state"]
    assert set(state["datasourceStates"]) <= {"formBased", "textBased"}, "Kibana 8 Lens: formBased layers"
    return state["datasourceStates"]["formBased"]["layers"]


@pytest.mark.parametrize("lens", LENSES, ids=lambda o: o["id"])
def test_lens_layers_use_mapped_fields_of_the_right_type(lens):
    attrs = lens["attributes"]
    assert attrs["visualizationType"] in {"lnsXY", "lnsDatatable", "lnsPie", "lnsMetric"}
    layers = lens_layers(lens)
    assert layers
    for layer_id, layer in layers.items():
        dv = reference(lens, f"indexpattern-datasource-layer-{layer_id}")["id"]
        assert dv in data_views()
        assert set(layer["columnOrder"]) == set(layer["columns"])
        for col_id, col in layer["columns"].items():
            op = col["operationType"]
            assert op in OPERATION_TYPES, f"{lens['id']}/{col_id}: {op}"
            if op == "count":
                assert col["sourceField"] == "___records___" or field_type(dv, col["sourceField"], lens["id"])
                continue
            t = field_type(dv, col["sourceField"], f"{lens['id']}/{col_id}")
            assert OPERATION_TYPES[op](t), f"{lens['id']}/{col_id}: {op} on {col['sourceField']} ({t})"
            assert t in DATA_TYPES[col["dataType"]], f"{lens['id']}/{col_id}: dataType {col['dataType']} vs {t}"
            if op == "terms":
                order = col["params"]["orderBy"]
                assert order["type"] != "column" or order["columnId"] in layer["columns"]
        vis = attrs["state"]["visualization"]
        accessors = []
        if attrs["visualizationType"] == "lnsXY":
            for vl in vis["layers"]:
                assert vl["layerId"] in layers
                accessors += vl["accessors"] + [vl.get("xAccessor"), vl.get("splitAccessor")]
        elif attrs["visualizationType"] == "lnsDatatable":
            assert vis["layerId"] in layers
            accessors += [c["columnId"] for c in vis["columns"]]
        assert set(filter(None, accessors)) <= set(layer["columns"])
        if attrs["visualizationType"] == "lnsDatatable":
            assert {c["columnId"] for c in vis["columns"]} == set(layer["columns"])


def test_lens_visualizations_cover_the_dashboard_charts():
    by_id = {o["id"]: o for o in LENSES}

    def fields_of(lens_id):
        return {c.get("sourceField") for layer in lens_layers(by_id[lens_id]).values()
                for c in layer["columns"].values()}

    assert {"@timestamp", "modelscreen.severity_label"} <= fields_of("modelscreen-lens-findings-over-time")
    assert "rule.id" in fields_of("modelscreen-lens-top-rules")
    assert "labels.store" in fields_of("modelscreen-lens-top-stores")
    assert {"verdict", "finding_count"} <= fields_of("modelscreen-lens-artifacts-by-verdict")


# ----------------------------------------------------------------------------- dashboard
def test_dashboard_panels_resolve_to_the_objects_in_the_file():
    assert len(DASHBOARDS) == 1
    dash = DASHBOARDS[0]
    panels = json.loads(dash["attributes"]["panelsJSON"])
    json.loads(dash["attributes"]["optionsJSON"])
    json.loads(dash["attributes"]["kibanaSavedObjectMeta"]["searchSourceJSON"])
    seen = set()
    for p in panels:
        ref = reference(dash, f"{p['panelIndex']}:{p['panelRefName']}")
        assert ref["type"] == p["type"] and (ref["type"], ref["id"]) in BY_KEY
        assert p["gridData"]["i"] == p["panelIndex"]
        assert 0 <= p["gridData"]["x"] and p["gridData"]["x"] + p["gridData"]["w"] <= 48
        seen.add((ref["type"], ref["id"]))
    assert ("search", "modelscreen-search-recent-critical") in seen
    assert {("lens", o["id"]) for o in LENSES} <= seen
    assert len(dash["references"]) == len(panels)


# ----------------------------------------------------------------------------- detection rules
def test_detection_rules_are_importable_and_well_formed():
    ids = [r["rule_id"] for r in RULES]
    assert len(ids) == len(set(ids)) == 4
    names = {r["name"] for r in RULES}
    assert len(names) == 4
    for r in RULES:
        assert str(uuid.UUID(r["rule_id"])) == r["rule_id"]
        assert r["enabled"] is True and r["language"] == "kuery"
        assert r["index"] == ["logs-modelscreen.findings-*"]
        assert r["type"] in ("query", "threshold")
        assert r["severity"] in ("low", "medium", "high", "critical")
        low, high = {"low": (0, 21), "medium": (22, 47), "high": (48, 73), "critical": (74, 100)}[r["severity"]]
        assert low <= r["risk_score"] <= high, f"{r['name']}: risk_score {r['risk_score']} vs {r['severity']}"
        assert len(r["description"]) > 80
        assert "id" not in r and "immutable" not in r  # custom rules, identified by rule_id
        assert r["interval"].endswith("m") and r["from"].startswith("now-")


def _rule(fragment):
    return next(r for r in RULES if fragment in r["name"])


def test_the_rules_the_soc_asked_for():
    assert "event.severity >= 99" in _rule("critical finding")["query"]
    assert kql.fields(_rule("pinned")["query"]) == ["rule.id"] and "PINNED-ARTIFACT-CHANGED" in _rule("pinned")["query"]
    sig = _rule("signature")["query"]
    assert "SIGNATURE-INVALID" in sig and "SIGNATURE-TAMPERED-FILE" in sig
    burst = _rule("burst")
    assert burst["type"] == "threshold" and "MODELSCREEN-ANALYSIS-ERROR" in burst["query"]
    assert burst["threshold"]["value"] >= 2


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r["name"])
def test_rule_fields_exist_with_usable_types(rule):
    mapping = mapping_for_pattern(rule["index"][0])
    for field, how in kql.uses(rule["query"]):
        t = mapping.type_of(field)
        assert t is not None, f"{rule['name']}: {field} is not mapped"
        if how == "range":
            assert t in NUMERIC or t == "date"
        elif how == "wildcard":
            assert t in KEYWORDISH
    if rule["type"] == "threshold":
        fields = rule["threshold"]["field"]
        for f in [fields] if isinstance(fields, str) else fields:
            assert mapping.type_of(f) in KEYWORDISH, f"threshold field {f} must be a keyword (terms aggregation)"
    if "timestamp_override" in rule:
        assert mapping.type_of(rule["timestamp_override"]) == "date"
    for req in rule.get("required_fields", []):
        t = mapping.type_of(req["name"])
        assert t == req["type"], f"{rule['name']}: required field {req['name']} is {t}, rule says {req['type']}"


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r["name"])
def test_rules_map_to_mitre_supply_chain_compromise(rule):
    assert rule["threat"]
    for threat in rule["threat"]:
        assert threat["framework"] == "MITRE ATT&CK"
        assert threat["tactic"] == {"id": "TA0001", "name": "Initial Access",
                                    "reference": "https://attack.mitre.org/tactics/TA0001/"}
        techniques = {t["id"]: t for t in threat["technique"]}
        assert "T1195" in techniques
        assert techniques["T1195"]["reference"] == "https://attack.mitre.org/techniques/T1195/"
        assert [s["id"] for s in techniques["T1195"]["subtechnique"]] == ["T1195.001"]
