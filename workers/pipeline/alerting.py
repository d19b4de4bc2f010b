"""Which findings become alerts, and how a webhook receives them (generic JSON or Slack-compatible)."""
from __future__ import annotations

from modelscreen.schemas import Severity
from modelscreen.schemas.alerts import Alert
from modelscreen.schemas.results import ScanResult
from modelscreen.sinks.ecs import error_finding, finding_doc_id


def alerts_for(result: ScanResult, min_severity: Severity) -> list[Alert]:
    ev = result.event
    out = []
    for report in result.reports:
        findings = list(report.findings)
        if report.error:
            findings.append(error_finding(report))
        for f in findings:
            if f.severity.rank < min_severity.rank:
                continue
            out.append(Alert(
                alert_id=finding_doc_id(ev.event_id, report.path, f),
                time=result.scanned_at,
                message=f"{f.severity.value.upper()} {f.rule_id}: {f.title} in {ev.name or report.path} "
                        f"({ev.action.value} via {ev.store.value}{', by ' + ev.actor if ev.actor else ''})",
                severity=f.severity, rule_id=f.rule_id, title=f.title, detail=f.detail, location=f.location,
                remediation=f.remediation, artifact_path=report.path, artifact_uri=ev.uri, sha256=report.sha256,
                verdict=report.verdict, store=ev.store.value, action=ev.action.value, actor=ev.actor,
                name=ev.name, version=ev.version, event_id=ev.event_id,
            ))
    return out


def webhook_payload(alert: Alert, style: str) -> dict:
    if style == "slack":
        return {"text": f":rotating_light: {alert.message}",
                "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text":
                            f"*{alert.severity.value.upper()}* `{alert.rule_id}` {alert.title}\n"
                            f"artifact: `{alert.artifact_path}`\nsha256: `{alert.sha256}`\n"
                            f"{alert.remediation or ''}"}}]}
    return alert.model_dump(mode="json")
