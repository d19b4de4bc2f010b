"""ECS documents for findings and the latest state of each artifact. Pure functions: no client here."""
from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime, timezone
from functools import lru_cache
from typing import Any

from modelscreen.schemas import ArtifactReport, Finding, Severity, Verdict
from modelscreen.schemas.inventory import ArtifactIdentity
from modelscreen.schemas.results import ScanResult
from modelscreen.schemas.text import printable_text

DATASET = "modelscreen.findings"
# Supply chain compromise (MITRE ATT&CK), the tactic every model-artifact finding serves.
_THREAT = {
    "framework": "MITRE ATT&CK",
    "tactic": {"id": ["TA0001"], "name": ["Initial Access"],
               "reference": ["https://attack.mitre.org/tactics/TA0001/"]},
    "technique": {"id": ["T1195"], "name": ["Supply Chain Compromise"],
                  "reference": ["https://attack.mitre.org/techniques/T1195/"],
                  "subtechnique": {"id": ["T1195.001"],
                                   "name": ["Compromise Software Dependencies and Development Tools"],
                                   "reference": ["https://attack.mitre.org/techniques/T1195/001/"]}},
}
_CONSTANT = {"ecs": {"version": "8.11.0"}, "data_stream": {"type": "logs", "dataset": DATASET, "namespace": "default"}}
_RISK = {Severity.info: 0.0, Severity.low: 21.0, Severity.medium: 47.0, Severity.high: 73.0, Severity.critical: 99.0}
_DEFAULT_REMEDIATION = {
    Severity.critical: "Do not load this artifact. Quarantine it, revoke any approval, and find out who uploaded it.",
    Severity.high: "Do not load this artifact until it is reviewed; prefer a safetensors copy from a trusted source.",
    Severity.medium: "Review the finding before approving the artifact.",
    Severity.low: "No action needed unless it adds to other findings on the same artifact.",
}


def identity(ev) -> str:
    """The artifact identity the inventory commands take: store[/store_name]:name[@version][#path], else the URI."""
    return _identity_key(ev.store.value, ev.store_name, ev.name, ev.version, ev.path, ev.uri)


@lru_cache(maxsize=4096)  # a popular artifact's events share it
def _identity_key(store: str, store_name: str | None, name: str | None, version: str | None, path: str | None,
                  uri: str) -> str:
    return ArtifactIdentity(store=store, store_name=store_name, name=name, version=version, path=path, uri=uri).key


def one_line(text: str, limit: int = 1024) -> str:
    """Text from inside an artifact may carry newlines and control characters: escape them."""
    if len(text) <= limit and text.isprintable():
        return text
    out = "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)
    return out if len(out) <= limit else out[: limit - 3] + "..."


def finding_doc_id(event_id: str, artifact_path: str, f: Finding) -> str:
    key = "\x1f".join((event_id, artifact_path, f.rule_id, f.location or "", f.title))
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:40]


def _iso(dt: datetime) -> str:
    return dt.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def _labels(result: ScanResult) -> dict[str, str]:
    ev = result.event
    labels = {"store": ev.store.value, "action": ev.action.value}
    for key, value in (("actor", ev.actor), ("artifact_name", ev.name), ("artifact_version", ev.version),
                       ("store_name", ev.store_name)):
        if value:
            labels[key] = value
    return labels


def _file_name(path: str) -> str:
    return path.rsplit("!", 1)[-1].rsplit("/", 1)[-1]


def _artifact_name(ev) -> str | None:
    return f"{ev.name}/{ev.path}" if ev.name and ev.path else ev.name


def finding_document(result: ScanResult, report: ArtifactReport, f: Finding, *, observer: dict[str, Any],
                     scan_part: dict | None = None) -> dict:
    """The ECS document of one finding. `scan_part`: _scan_part(result, report, f), when the caller has it."""
    ev = result.event
    severity = f.severity
    part = scan_part or _scan_part(result, report, f)
    where = f" at {f.location}" if f.location else ""
    member = f"{_artifact_name(ev)}!{report.path.split('!', 1)[1]}" if ev.name and "!" in report.path else None
    message = one_line(f"{severity.value.upper()} {f.rule_id}: {f.title} in {member or _artifact_name(ev) or report.path}"
                       f"{where} ({ev.action.value} via {ev.store.value})")
    scanned_at = _iso(result.scanned_at)
    doc: dict[str, Any] = _prune({
        "@timestamp": scanned_at,
        "message": message,
        "event": {
            "action": ev.action.value,
            "id": finding_doc_id(ev.event_id, report.path, f),
            "created": scanned_at,
            "ingested": _iso(datetime.now(timezone.utc)),
        },
        "file": {"name": _file_name(report.path if "!" in report.path or not ev.path else ev.path)},
        "related": {"user": [ev.actor] if ev.actor else None},
        "observer": observer,
        "labels": _labels(result),
        "url": {"full": ev.uri} if ev.uri.startswith(("http://", "https://")) else None,
        "user": {"name": ev.actor} if ev.actor else None,
        "modelscreen": {
            "artifact_uri": ev.uri,
            "event_id": ev.event_id,
            "source_event_id": ev.source_event_id,
            "artifact_type": ev.artifact_type.value if ev.artifact_type else None,
            "identity": identity(ev),
            "cached": result.cached,
        },
    })
    for key in ("event", "file", "related", "modelscreen"):  # the event's fields next to the scan's
        doc[key] = {**part[key], **doc[key]}
    doc["rule"] = part["rule"]
    doc.update(_CONSTANT)
    if severity.rank >= Severity.high.rank:
        doc["threat"] = _THREAT
    return doc


def _scan_part(result: ScanResult, report: ArtifactReport, f: Finding) -> dict:
    """What a finding's document takes from the scan alone (the same for every event of a cached scan), pruned."""
    severity = f.severity
    yara = bool(f.analyzer and f.analyzer.startswith("yara"))
    return _prune({
        "event": {
            "kind": "alert",
            "category": ["intrusion_detection", "file"] + (["malware"] if severity.rank >= Severity.high.rank else []),
            "type": ["info"],
            "severity": severity.ecs_severity,
            "risk_score": _RISK[severity],
            "dataset": DATASET,
            "module": "modelscreen",
            "provider": "modelscreen",
            "reference": f.references[0] if f.references else None,
        },
        "rule": {
            "id": f.rule_id,
            "name": one_line(f.title, 256),
            "description": f.detail[:2048] if f.detail else f.title,
            "version": result.ruleset_version if yara else result.engine_version,
            "ruleset": "yara" if yara else "modelscreen-engine",
            "category": f.analyzer or "engine",
            "reference": f.references[0] if f.references else None,
            "author": ["modelscreen"],
        },
        "file": {"path": report.path, "size": report.size, "hash": {"sha256": report.sha256}, "type": "file"},
        "related": {"hash": sorted({h for h in (report.sha256, result.sha256) if h})},
        "modelscreen": {
            "verdict": report.verdict.value,
            "artifact_verdict": result.verdict.value,
            "artifact_sha256": result.sha256,
            "format": report.format,
            "member": report.path.split("!", 1)[1] if "!" in report.path else None,
            "location": f.location,
            "evidence": one_line(f.evidence, 512) if f.evidence else None,
            "remediation": f.remediation or _DEFAULT_REMEDIATION.get(severity),
            "analyzer": f.analyzer,
            "engine_version": result.engine_version,
            "ruleset_version": result.ruleset_version,
            "severity_label": severity.value,
        },
    })


def _prune(value: Any) -> Any:
    """Drop None values so the mapping never sees an explicit null object; text from scanned bytes that
    UTF-8 cannot encode (lone surrogates) gets its visible escapes, so the document always serialises."""
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if v is None:
                continue
            t = type(v)
            if t is str:  # the common case first, with no call: ascii needs no escaping
                out[k] = v if v.isascii() else printable_text(v)
            elif t is int or t is float or t is bool:
                out[k] = v
            else:
                out[k] = _prune(v)
        return out
    if isinstance(value, list):
        return [_prune(v) for v in value]
    if isinstance(value, str):
        return value if type(value) is str and value.isascii() else printable_text(value)
    return value


ANALYSIS_ERROR = "MODELSCREEN-ANALYSIS-ERROR"


def error_finding(report: ArtifactReport) -> Finding:
    return Finding(rule_id=ANALYSIS_ERROR, severity=Severity.medium,
                   title="Artifact could not be analysed", detail=report.error or "unknown error",
                   analyzer="engine", remediation="Treat as unscanned: do not approve until it scans cleanly.")


def finding_documents(result: ScanResult, *, observer: dict[str, Any], min_severity: Severity = Severity.low,
                      scan_parts: dict | None = None) -> list[tuple[str, dict]]:
    """(id, document) for every finding at or above min_severity, errors included. `scan_parts`: a dict the
    caller keeps for one batch, so results of one cached scan (which share their report and finding objects)
    build the scan's part of their documents once."""
    docs = []
    for report in result.reports:
        for f in report.findings:
            if f.severity.rank < min_severity.rank:
                continue
            part = None
            if scan_parts is not None:
                key = (id(f), id(report), result.verdict, result.sha256, result.engine_version, result.ruleset_version)
                part = scan_parts.get(key)
                if part is None:
                    part = scan_parts[key] = _scan_part(result, report, f)
            doc = finding_document(result, report, f, observer=observer, scan_part=part)
            docs.append((doc["event"]["id"], doc))
        if report.error:
            doc = finding_document(result, report, error_finding(report), observer=observer)
            docs.append((doc["event"]["id"], doc))
    if result.error and not result.reports:
        pseudo = ArtifactReport(path=result.event.uri, sha256=result.sha256, format="unfetched",
                                verdict=Verdict.error, error=result.error)
        doc = finding_document(result, pseudo, error_finding(pseudo), observer=observer)
        docs.append((doc["event"]["id"], doc))
    return docs


MAX_LIST = 1000


def merge_artifact(existing: dict | None, result: ScanResult) -> dict | None:
    """Latest state of one artifact (modelscreen-artifacts, document id = sha256) after this result.

    Merged in the worker rather than by a server-side script, so it works on servers without scripting.
    """
    return merge_artifacts(existing, [result]) if result.sha256 else None


def merge_artifacts(existing: dict | None, results: Sequence[ScanResult]) -> dict | None:
    """merge_artifact applied for each result in turn (results about one sha256), copying the document once."""
    if not results or not all(r.sha256 for r in results):
        for result in results:
            existing = merge_artifact(existing, result)
        return existing
    # The same bytes: a result that could not analyse them says nothing new about them, so it never
    # replaces a verdict from a scan that could; it is kept as last_error until one succeeds.
    analysed = [r for r in results if not r.error]
    last = (analysed or results)[-1]
    doc = dict(existing or {})
    if analysed or doc.get("verdict") in (None, Verdict.error.value):
        counts = {s.value: 0 for s in Severity}
        for report in last.reports:
            for f in report.findings:
                counts[f.severity.value] += 1
        doc.update(sha256=last.sha256, verdict=last.verdict.value, counts=counts,
                   finding_count=sum(counts.values()), format=last.format, size=last.size,
                   engine_version=last.engine_version, ruleset_version=last.ruleset_version,
                   last_event_id=last.event.event_id)
        if last.event.artifact_type is not None:
            doc["artifact_type"] = last.event.artifact_type.value
    if analysed:
        doc.pop("last_error", None)
    else:
        doc["last_error"] = one_line(last.error or "unknown error")
    seen = {_iso(r.event.time) for r in results}
    doc["first_seen"] = min(filter(None, (doc.get("first_seen"), *seen)))
    doc["last_seen"] = max(filter(None, (doc.get("last_seen"), *seen)))
    for field, value_of in (("names", lambda ev: ev.name), ("versions", lambda ev: ev.version),
                            ("stores", lambda ev: ev.store.value), ("uris", lambda ev: ev.uri),
                            ("actors", lambda ev: ev.actor)):
        values = list(doc.get(field) or [])
        have = set(values)
        for result in results:
            value = value_of(result.event)
            if value and value not in have and len(values) < MAX_LIST:
                values.append(value)
                have.add(value)
        doc[field] = values
    return _prune(doc)
