"""Probe suites, drift wording, metrics and the trigger scoring, without running a model."""
from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from modelscreen.evaluation import drift, triggers
from modelscreen.evaluation.metrics import OutputMismatch, classifier_metrics, embedding_metrics, lm_metrics
from modelscreen.evaluation.probes import ProbeSuiteError, parse_suite
from modelscreen.schemas.behaviour import BehaviourBaseline, ModelKind, ProbeOutput, RuntimeInfo
from modelscreen.schemas.findings import Severity
from modelscreen.schemas.policy import BehaviourThresholds

SHA_A, SHA_B = "a" * 64, "b" * 64


def test_suite_is_versioned_by_its_bytes_and_strict():
    text = "\n".join([json.dumps({"id": "p1", "inputs": {"x": [1, 2]}}), "# comment", "",
                      json.dumps({"id": "p2", "text": "hello"})]) + "\n"
    suite = parse_suite(text)
    assert [p.id for p in suite.probes] == ["p1", "p2"] and suite.needs_tokenizer
    assert parse_suite(text + "\n").sha256 != suite.sha256
    for bad, why in [('{"id": "p1"}', "exactly one"), ('{"id": "p1", "inputs": {"x": ["a"]}}', "not a number"),
                     ('{"id": "p1", "inputs": {"x": [1]}, "extra": 1}', "unknown keys"), ("[1]", "JSON object"),
                     ('{"id": "p1", "inputs": {"x": [1]}}\n{"id": "p1", "inputs": {"x": [1]}}', "duplicate"),
                     ("", "no probes"), ("{", "not JSON")]:
        with pytest.raises(ProbeSuiteError, match=why):
            parse_suite(bad)
    deep = {"id": "d", "inputs": {"x": [[[[[[[[[[1]]]]]]]]]]}}
    with pytest.raises(ProbeSuiteError, match="nested deeper"):
        parse_suite(json.dumps(deep))


def _baseline(version="1.0", sha=SHA_A):
    return BehaviourBaseline(name="local:m", model_sha256=sha, kind=ModelKind.classifier,
                             runtime=RuntimeInfo(name="onnxruntime", version=version), probe_suite_sha256=SHA_A,
                             probe_suite="", outputs=[], recorded_at=datetime.now(timezone.utc))


@pytest.mark.parametrize("sha, version, changed, words", [
    (SHA_A, "1.1", ["runtime-version"], "dependency update"),
    (SHA_B, "1.0", ["model-bytes"], "model bytes changed"),
    (SHA_B, "1.1", ["model-bytes", "runtime-version"], "both"),
])
def test_drift_says_what_changed(sha, version, changed, words):
    base = _baseline()
    got = drift.what_changed(base, sha, RuntimeInfo(name="onnxruntime", version=version))
    assert got == changed
    old = [ProbeOutput(id="p", values=[0.9, 0.1])]
    new = [ProbeOutput(id="p", values=[0.2, 0.8])]
    (f,) = drift.drift_findings(base, classifier_metrics(old, new), got, BehaviourThresholds(), Severity.high)
    assert words in f.detail and f.location == "p"


def test_metrics():
    old = [ProbeOutput(id=f"p{i}", values=[0.7, 0.3]) for i in range(4)]
    new = old[:3] + [ProbeOutput(id="p3", values=[0.4, 0.6])]
    m = classifier_metrics(old, new)
    assert m.label_change_share == 0.25 and m.max_probability_shift == pytest.approx(0.3)
    assert m.moved[0].id == "p3" and "0 -> 1" in m.moved[0].detail
    logits = [ProbeOutput(id="p", values=[2.0, -1.0])]  # not a distribution: softmax first
    assert classifier_metrics(logits, logits).max_probability_shift == 0
    e = embedding_metrics([ProbeOutput(id="p", values=[1, 0])], [ProbeOutput(id="p", values=[0, 1])])
    assert e.min_cosine == 0
    with pytest.raises(OutputMismatch):
        embedding_metrics([ProbeOutput(id="p", values=[1, 0])], [ProbeOutput(id="q", values=[1, 0])])
    lm_old = [ProbeOutput(id="l", top_ids=[1, 2], top_probs=[0.6, 0.3], greedy=[1, 1, 2])]
    lm_new = [ProbeOutput(id="l", top_ids=[3, 1], top_probs=[0.7, 0.2], greedy=[3, 1, 2])]
    lm = lm_metrics(lm_old, lm_new)
    assert lm.min_topk_overlap == 0.5 and lm.greedy_agreement == pytest.approx(2 / 3) and lm.max_kl > 0


def test_flip_share_counts_only_probes_not_already_at_the_target():
    assert triggers.flip_share([0, 0, 1, 2], [2, 2, 2, 2]) == (1.0, 2)
    assert triggers.flip_share([0, 1, 1], [0, 1, 1]) == (0.0, -1)


def test_vector_plan_edits_outside_the_probes_range():
    feeds = [{"x": [0.0, 1.0, 2.0, 3.0]}, {"x": [1.0, 0.0, -1.0, 3.0]}]
    plan = triggers.plan_sweep(feeds, [{"name": "x", "type": "tensor(float)", "shape": ["N", 4]}],
                               vocab_size=None, phrases={})
    assert plan.mode == "vector" and plan.candidates and len(plan.controls) == triggers.CONTROLS
    for edit in plan.candidates:
        for pos, value in zip(edit.positions, edit.values):
            column = [f["x"][pos] for f in feeds]
            assert value > max(column) or value < min(column)
    edited = triggers.apply(plan, plan.candidates[0])
    assert len(edited) == 2 and len(edited[0]["x"]) == 4


def test_token_plan_inserts_phrases_and_sweeps_the_vocabulary_within_budget():
    feeds = [{"input_ids": [[5, 6, 7]]}]
    meta = [{"name": "input_ids", "type": "tensor(int64)", "shape": [1, "S"]}]
    plan = triggers.plan_sweep(feeds, meta, vocab_size=100_000, phrases={"cf": [9]}, budget=50)
    assert plan.mode == "tokens" and len(plan.candidates) == 50 and plan.candidates[0].tokens == (9,)
    assert triggers.apply(plan, plan.candidates[0])[0]["input_ids"] == [[9, 5, 6, 7]]
    with pytest.raises(ValueError, match="vocabulary size"):
        triggers.plan_sweep(feeds, meta, vocab_size=None, phrases={})


def test_non_finite_outputs_count_as_moved_never_as_within_thresholds():
    old = [ProbeOutput(id="p", values=[0.9, 0.1])]
    new = [ProbeOutput(id="p", values=[float("nan"), 0.1])]
    m = classifier_metrics(old, new)
    assert m.label_change_share == 1.0 and m.max_probability_shift == 1.0
    lm_old = [ProbeOutput(id="l", top_ids=[1], top_probs=[1.0])]
    lm_new = [ProbeOutput(id="l", top_ids=[1], top_probs=[float("nan")])]
    assert lm_metrics(lm_old, lm_new).max_kl >= 1e6
