"""Load the Kibana assets (deploy/kibana) and the Elasticsearch mappings they are meant for (deploy/elasticsearch)."""
from __future__ import annotations

import json
import re
from fnmatch import fnmatchcase
from functools import lru_cache
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
KIBANA_DIR = REPO / "deploy" / "kibana"
ES_DIR = REPO / "deploy" / "elasticsearch"
SAVED_OBJECTS = KIBANA_DIR / "saved-objects.ndjson"
DETECTION_RULES = KIBANA_DIR / "detection-rules.ndjson"

NUMERIC = {"long", "integer", "short", "byte", "double", "float", "half_float", "scaled_float", "unsigned_long"}
KEYWORDISH = {"keyword", "constant_keyword", "wildcard"}


def read_ndjson(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


class Mapping:
    """Leaf fields of an index template (component templates resolved) and its dynamic templates."""

    def __init__(self, name: str, index_patterns: list[str], mappings: list[dict]):
        self.name = name
        self.index_patterns = index_patterns
        self.fields: dict[str, str] = {}
        self.dynamic: list[tuple[str, str | None, str]] = []  # (path_match, match_mapping_type, type)
        for m in mappings:
            self._flatten(m.get("properties", {}), "")
            for entry in m.get("dynamic_templates", []):
                for spec in entry.values():
                    self.dynamic.append((spec.get("path_match", spec.get("match", "*")),
                                         spec.get("match_mapping_type"), spec["mapping"]["type"]))

    def _flatten(self, props: dict, prefix: str) -> None:
        for key, spec in props.items():
            path = f"{prefix}{key}"
            if "properties" in spec or spec.get("type") in (None, "object", "nested"):
                self._flatten(spec.get("properties", {}), path + ".")
                continue
            self.fields[path] = spec["type"]
            for sub, sub_spec in spec.get("fields", {}).items():
                self.fields[f"{path}.{sub}"] = sub_spec["type"]

    def type_of(self, field: str) -> str | None:
        """Mapped type; string fields under a dynamic template (labels.*) get the template's type."""
        if field in self.fields:
            return self.fields[field]
        for path_match, mapping_type, type_ in self.dynamic:
            if fnmatchcase(field, path_match) and mapping_type in (None, "string", "*"):
                return type_
        return None

    def covers(self, index_pattern: str) -> bool:
        """Does this template apply to the indices the (Kibana) pattern names?"""
        concrete = index_pattern.replace("*", "default")
        return any(fnmatchcase(concrete, p) for p in self.index_patterns)


@lru_cache(maxsize=1)
def mappings() -> dict[str, Mapping]:
    components = {}
    for path in ES_DIR.glob("component-*.json"):
        body = json.loads(path.read_text())
        # the component's name is what install() registers it as: modelscreen-<rest of the file name>
        components["modelscreen-" + path.stem.removeprefix("component-")] = body["template"].get("mappings", {})
    out = {}
    for path in ES_DIR.glob("index-template-*.json"):
        body = json.loads(path.read_text())
        parts = [components[name] for name in body.get("composed_of", [])]
        parts.append(body.get("template", {}).get("mappings", {}))
        out[path.stem.removeprefix("index-template-")] = Mapping(path.stem, body["index_patterns"], parts)
    return out


def mapping_for_pattern(index_pattern: str) -> Mapping:
    found = [m for m in mappings().values() if m.covers(index_pattern)]
    assert len(found) == 1, f"{index_pattern}: no single index template applies ({[m.name for m in found]})"
    return found[0]


def saved_objects() -> list[dict]:
    return read_ndjson(SAVED_OBJECTS)


def detection_rules() -> list[dict]:
    return read_ndjson(DETECTION_RULES)


def data_views() -> dict[str, dict]:
    return {o["id"]: o for o in saved_objects() if o["type"] == "index-pattern"}


def search_source(obj: dict) -> dict:
    return json.loads(obj["attributes"]["kibanaSavedObjectMeta"]["searchSourceJSON"])


def reference(obj: dict, name: str) -> dict:
    refs = [r for r in obj["references"] if r["name"] == name]
    assert len(refs) == 1, f"{obj['type']}/{obj['id']}: {len(refs)} references named {name!r}"
    return refs[0]


def saved_search_query(obj: dict) -> tuple[str, str]:
    """(KQL, data view id) of a saved search."""
    source = search_source(obj)
    assert source["query"]["language"] == "kuery", obj["id"]
    return source["query"]["query"], reference(obj, source["indexRefName"])["id"]


def url_format_links(data_view: dict) -> list[tuple[str, str, str]]:
    """(field, target data view id, KQL template) of every URL field format linking into Discover."""
    fmt = json.loads(data_view["attributes"].get("fieldFormatMap") or "{}")
    out = []
    for field, spec in fmt.items():
        template = (spec.get("params") or {}).get("urlTemplate") or ""
        if spec.get("id") == "url" and "/app/discover" in template:
            target = re.search(r"index:'([^']+)'", template)
            query = re.search(r"query:\(language:kuery,query:'([^']*)'\)", template)
            assert target and query, f"{field}: cannot read the Discover link {template}"
            out.append((field, target.group(1), query.group(1)))
    return out
