"""SARIF 2.1.0 for code-scanning tools: one result per finding, one rule per rule id."""
from __future__ import annotations

import json
from collections.abc import Sequence

from modelscreen.schemas import ArtifactReport, Severity
from modelscreen.engine import ENGINE_VERSION

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
_LEVEL = {Severity.info: "note", Severity.low: "note", Severity.medium: "warning",
          Severity.high: "error", Severity.critical: "error"}
_SCORE = {Severity.info: "0.0", Severity.low: "3.0", Severity.medium: "5.0",
          Severity.high: "8.0", Severity.critical: "9.5"}


def _uri(path: str) -> str:
    outer = path.split("!", 1)[0]
    return outer.lstrip("/") if not outer.startswith("/") else "file://" + outer


def render_sarif(reports: Sequence[ArtifactReport], *, color: bool = False) -> str:
    rules: dict[str, dict] = {}
    results = []
    for art in reports:
        for f in art.findings:
            rule = rules.setdefault(f.rule_id, {
                "id": f.rule_id,
                "name": f.rule_id.title().replace("-", ""),
                "shortDescription": {"text": f.title},
                "properties": {"security-severity": _SCORE[f.severity], "tags": ["security", "ml-model"]},
            })
            if f.remediation and "help" not in rule:
                rule["help"] = {"text": f.remediation}
            logical = art.path.split("!", 1)[1] if "!" in art.path else None
            location = {"physicalLocation": {"artifactLocation": {"uri": _uri(art.path)}}}
            if logical or f.location:
                location["logicalLocations"] = [
                    {"fullyQualifiedName": "!".join(x for x in (logical, f.location) if x)}
                ]
            results.append({
                "ruleId": f.rule_id,
                "level": _LEVEL[f.severity],
                "message": {"text": f"{f.title}: {f.detail}" if f.detail else f.title},
                "locations": [location],
                "properties": {"severity": f.severity.value, "verdict": art.verdict.value,
                               "sha256": art.sha256, "artifact": art.path},
            })
    doc = {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "modelscreen", "version": ENGINE_VERSION,
                                "rules": list(rules.values())}},
            "results": results,
            "invocations": [{
                "executionSuccessful": all(a.error is None for a in reports),
                "toolExecutionNotifications": [
                    {"level": "error", "message": {"text": f"{a.path}: {a.error}"}}
                    for a in reports if a.error
                ],
            }],
        }],
    }
    return json.dumps(doc, indent=2) + "\n"
