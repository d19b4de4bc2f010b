"""Thresholds applied to drift metrics: BEHAVIOUR-DRIFT findings, saying what changed since the baseline."""
from __future__ import annotations

from modelscreen.schemas.behaviour import BehaviourBaseline, BehaviourMetrics, ModelKind, RuntimeInfo
from modelscreen.schemas.findings import Finding, Severity
from modelscreen.schemas.policy import BehaviourThresholds

DRIFT_RULE = "BEHAVIOUR-DRIFT"
ANALYZER = "behaviour"


def what_changed(baseline: BehaviourBaseline, sha256: str, runtime: RuntimeInfo) -> list[str]:
    changed = []
    if baseline.model_sha256 != sha256:
        changed.append("model-bytes")
    if (baseline.runtime.name, baseline.runtime.version) != (runtime.name, runtime.version):
        changed.append("runtime-version")
    return changed


def breaches(metrics: BehaviourMetrics, t: BehaviourThresholds) -> list[str]:
    """Each threshold the metrics are over, in words."""
    out = []
    if metrics.kind is ModelKind.classifier:
        if (metrics.label_change_share or 0) > t.max_label_change_share:
            out.append(f"top label changed on {metrics.label_change_share:.1%} of probes "
                       f"(threshold {t.max_label_change_share:.1%})")
        if (metrics.max_probability_shift or 0) > t.max_probability_shift:
            out.append(f"a class probability moved by {metrics.max_probability_shift:.3f} "
                       f"(threshold {t.max_probability_shift:.3f})")
    elif metrics.kind is ModelKind.embedding:
        if metrics.min_cosine is not None and metrics.min_cosine < t.min_cosine:
            out.append(f"lowest cosine similarity {metrics.min_cosine:.4f} (threshold {t.min_cosine:.4f})")
    else:
        if (metrics.max_kl or 0) > t.max_kl:
            out.append(f"next-token KL divergence {metrics.max_kl:.4f} (threshold {t.max_kl:.4f})")
        if metrics.min_topk_overlap is not None and metrics.min_topk_overlap < t.min_topk_overlap:
            out.append(f"top-k overlap {metrics.min_topk_overlap:.2f} (threshold {t.min_topk_overlap:.2f})")
        if metrics.greedy_agreement is not None and metrics.greedy_agreement < t.min_greedy_agreement:
            out.append(f"greedy agreement {metrics.greedy_agreement:.2f} (threshold {t.min_greedy_agreement:.2f})")
    return out


def _changed_words(changed: list[str]) -> str:
    if changed == ["model-bytes", "runtime-version"]:
        return "both the model bytes and the runtime version changed since the baseline"
    if changed == ["model-bytes"]:
        return "the model bytes changed since the baseline (same runtime version)"
    if changed == ["runtime-version"]:
        return "the runtime version changed since the baseline (same model bytes): a dependency update"
    return "neither the model bytes nor the runtime version changed: the runtime is not deterministic here"


def drift_findings(baseline: BehaviourBaseline, metrics: BehaviourMetrics, changed: list[str],
                   thresholds: BehaviourThresholds, severity: Severity) -> list[Finding]:
    over = breaches(metrics, thresholds)
    if not over:
        return []
    moved = ", ".join(f"{m.id} ({m.detail})" for m in metrics.moved) or "-"
    return [Finding(
        rule_id=DRIFT_RULE, severity=severity,
        title=f"Behaviour drifted from baseline {baseline.name}: " + "; ".join(over),
        detail=(f"{_changed_words(changed)}. Baseline: sha256 {baseline.model_sha256}, "
                f"{baseline.runtime.name} {baseline.runtime.version}, probe suite {baseline.probe_suite_sha256[:16]} "
                f"({metrics.probes} probes). Probes that moved most: {moved}."),
        location=", ".join(m.id for m in metrics.moved) or None,
        evidence=", ".join(changed) or "unchanged",
        analyzer=ANALYZER,
        remediation="Review why the outputs changed before promoting these bytes; if the change is intended, "
                    "record a new baseline (modelscreen evaluate --record-baseline).")]
