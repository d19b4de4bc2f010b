"""The pipeline's evaluate stage without Faust: which scan results to evaluate, and what to index.

A result is evaluated when its bytes were scanned as ONNX, were not found malicious, and its name has a
behaviour baseline whose probe suite the stage re-runs; bytes already evaluated against the same
baseline are skipped (redelivery). Whatever cannot be evaluated is a BEHAVIOUR-EVALUATION-ERROR finding.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from modelscreen.evaluation.probes import ProbeSuiteError, parse_suite
from modelscreen.evaluation.runtimes import ModelLoadError
from modelscreen.evaluation.service import EvaluationError, EvaluationOptions, evaluate, sha256_file
from modelscreen.provenance.inventory import Inventory, identity_for_event
from modelscreen.sandbox import SandboxLimits
from modelscreen.schemas import Verdict
from modelscreen.schemas.behaviour import BehaviourBaseline, BehaviourEvaluation
from modelscreen.schemas.events import Action
from modelscreen.schemas.findings import Finding
from modelscreen.schemas.policy import ProvenancePolicy
from modelscreen.schemas.report import ArtifactReport
from modelscreen.schemas.results import ScanResult

ERROR_RULE = "BEHAVIOUR-EVALUATION-ERROR"
EVALUATED_FORMATS = frozenset({"onnx"})


@dataclass(frozen=True)
class Outcome:
    result: ScanResult  # the scan result with the behaviour findings as its one report (for indexing)
    evaluation: BehaviourEvaluation | None  # None when it could not be evaluated


def due(result: ScanResult, inventory: Inventory) -> BehaviourBaseline | None:
    """The baseline to evaluate this result against, or None when the stage has nothing to do."""
    if (not result.sha256 or result.error or result.format not in EVALUATED_FORMATS
            or result.verdict is Verdict.malicious or result.event.action is Action.deleted):
        return None
    identity = identity_for_event(result.event)
    baseline = inventory.get_baseline(identity.baseline_key)
    if baseline is None or baseline.model_sha256 == result.sha256:
        return None
    for rec in inventory.find(identity, result.sha256):
        ev = rec.behaviour
        if ev and ev.baseline == baseline.name and ev.baseline_sha256 == baseline.model_sha256 \
                and ev.probe_suite_sha256 == baseline.probe_suite_sha256 and ev.evaluated_at >= baseline.recorded_at:
            return None
    return baseline


def as_result(result: ScanResult, findings: list[Finding], error: str | None) -> ScanResult:
    # a behaviour finding makes the bytes suspicious, not malicious: the scan's own verdict stays the artifact's
    verdict = Verdict.error if error else Verdict.suspicious if findings else Verdict.clean
    report = ArtifactReport(path=result.event.uri, sha256=result.sha256, size=result.size,
                            format=result.format or "onnx", verdict=verdict, findings=findings)
    return result.model_copy(update={"reports": [report], "cached": False,
                                     "scanned_at": datetime.now(timezone.utc), "error": None})


def error_finding(baseline: BehaviourBaseline, reason: str, severity) -> Finding:
    return Finding(rule_id=ERROR_RULE, severity=severity,
                   title=f"Behaviour could not be evaluated against baseline {baseline.name}",
                   detail=reason[:2000], analyzer="behaviour",
                   remediation="Treat as unevaluated: do not promote until it evaluates within thresholds.")


def run_stage(result: ScanResult, model: Path, baseline: BehaviourBaseline, policy: ProvenancePolicy,
              limits: SandboxLimits) -> Outcome:
    """Evaluate the fetched bytes at `model` against `baseline` (blocking: call from a worker thread)."""
    ident = identity_for_event(result.event)
    req = policy.for_artifact(ident.store, ident.store_name, ident.name or ident.uri or "")
    try:
        if sha256_file(model) != result.sha256:
            raise EvaluationError("the fetched bytes are not the scanned bytes (the artifact changed meanwhile)")
        suite = parse_suite(baseline.probe_suite)
        if baseline.tokenizer_sha256 or suite.needs_tokenizer:
            raise EvaluationError("the baseline's probes need a tokenizer, which the pipeline stage does not fetch")
        options = EvaluationOptions(kind=baseline.kind, limits=limits, format=result.format)
        ev = evaluate(model, suite, options, req, baseline=baseline, sha256=result.sha256)
    except (EvaluationError, ProbeSuiteError, ModelLoadError, OSError) as exc:
        finding = error_finding(baseline, str(exc), req.severity(ERROR_RULE))
        return Outcome(as_result(result, [finding], str(exc)), None)
    except Exception as exc:  # noqa: BLE001 - one model's surprise must not stall its partition
        reason = f"internal error: {type(exc).__name__}: {exc}"
        return Outcome(as_result(result, [error_finding(baseline, reason, req.severity(ERROR_RULE))], reason), None)
    return Outcome(as_result(result, list(ev.report.findings), None), ev.record)
