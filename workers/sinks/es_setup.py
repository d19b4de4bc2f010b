"""Install index and component templates, and the findings data stream (or index) they shape.

Works on a minimal server (no data streams, no scripting, no ILM) and uses data streams where the
server has them.
"""
from __future__ import annotations

import json
from typing import Any

from modelscreen.assets import templates_dir

TEMPLATE_DIR = templates_dir()
COMPONENT = "modelscreen-findings-mappings"
SINCE_CREATED = {"modelscreen": {"properties": {"superseded": {"type": "boolean"}}}}


def load_template(name: str) -> dict[str, Any]:
    return json.loads((TEMPLATE_DIR / name).read_text())


def supports_data_streams(es) -> bool:
    from elasticsearch import ApiError

    try:
        es.indices.get_data_stream(name="*")
        return True
    except ApiError as exc:
        if exc.status_code in (400, 404, 405, 410):
            return False
        raise


def set_kibana_system_password(es, password: str) -> None:
    """Compose: Kibana logs in as kibana_system, whose password only the elastic superuser can set."""
    es.perform_request("POST", "/_security/user/kibana_system/_password",
                       headers={"content-type": "application/json", "accept": "application/json"},
                       body={"password": password})


def install(es, *, findings_target: str, artifacts_index: str) -> dict[str, Any]:
    """Idempotent. Returns what was installed and whether findings live in a data stream."""
    comp = load_template("component-findings-mappings.json")
    es.cluster.put_component_template(name=COMPONENT, template=comp["template"], meta=comp.get("_meta"),
                                      version=comp.get("version"))
    findings = load_template("index-template-findings.json")
    data_stream = supports_data_streams(es)
    body = {k: v for k, v in findings.items() if k != "_meta"}
    if not data_stream:
        body.pop("data_stream", None)
    es.indices.put_index_template(name="modelscreen-findings", meta=findings.get("_meta"), **body)
    artifacts = load_template("index-template-artifacts.json")
    es.indices.put_index_template(name="modelscreen-artifacts", meta=artifacts.get("_meta"),
                                  **{k: v for k, v in artifacts.items() if k != "_meta"})
    if data_stream:
        if not es.indices.exists(index=findings_target):
            es.indices.create_data_stream(name=findings_target)
    elif not es.indices.exists(index=findings_target):
        es.indices.create(index=findings_target)
    # fields added since the target was created (templates shape only indices created after them)
    es.indices.put_mapping(index=findings_target, properties=SINCE_CREATED)
    if not es.indices.exists(index=artifacts_index):
        es.indices.create(index=artifacts_index)
    return {"findings": findings_target, "data_stream": data_stream, "artifacts": artifacts_index}
