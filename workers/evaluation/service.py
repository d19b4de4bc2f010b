"""Evaluate a model on a probe suite: run it (sandboxed), record a baseline, compare with one, sweep for
triggers. What the CLI and the pipeline's evaluate stage both call."""
from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from modelscreen.evaluation import drift, triggers
from modelscreen.evaluation.metrics import OutputMismatch, as_probabilities, compare
from modelscreen.evaluation.probes import ProbeSuite
from modelscreen.evaluation.runtimes import TOKENS, RunRequest, RunResult, runtime_for
from modelscreen.evaluation.tokenizer import tokenize
from modelscreen.sandbox import SandboxError, SandboxLimits
from modelscreen.schemas.behaviour import (
    BehaviourBaseline,
    BehaviourEvaluation,
    EvaluationReport,
    ModelKind,
    ProbeOutput,
    RuntimeInfo,
)
from modelscreen.schemas.findings import Severity
from modelscreen.schemas.policy import EffectiveRequirements

_HASH_CHUNK = 1024 * 1024
MAX_BASELINE_VALUES = 2_000_000  # numbers kept per baseline (it is one inventory document)


class EvaluationError(Exception):
    """The model could not be evaluated (load failure, probe mismatch, sandbox limit, bad baseline)."""


@dataclass
class EvaluationOptions:
    kind: ModelKind | None = None
    tokenizer: Path | None = None
    vocab_size: int | None = None
    output: str | None = None
    top_k: int = 20
    greedy_steps: int = 8
    trigger_budget: int = triggers.DEFAULT_BUDGET
    format: str | None = None  # the scanned format (pipeline); None: from the file name
    limits: SandboxLimits = field(default_factory=SandboxLimits)


@dataclass
class SuiteRun:
    kind: ModelKind
    runtime: RuntimeInfo
    outputs: list[ProbeOutput]
    feeds: list[dict[str, Any]]
    result: RunResult
    vocab_size: int | None = None
    tokenizer_sha256: str | None = None


@dataclass
class Evaluation:
    report: EvaluationReport
    record: BehaviourEvaluation


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_HASH_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _sandboxed(what: str, call, *args):
    try:
        return call(*args)
    except SandboxError as exc:
        reason = {"memory": "exceeded the sandbox's memory limit", "time": "exceeded the sandbox's time limit",
                  "crash": "crashed the sandboxed runtime"}.get(exc.kind)
        if reason:
            raise EvaluationError(f"{what}: {reason} ({exc})") from None
        text = str(exc)
        if exc.exc_type and f"{exc.exc_type}: " in text:  # the child's "module.Type: message" form
            text = text.split(f"{exc.exc_type}: ", 1)[1]
        if exc.exc_type in ("ImportError", "ModuleNotFoundError"):
            last = [line for line in text.splitlines() if line.strip()][-1:] or [""]
            raise EvaluationError(f"{what}: the runtime could not start in the sandbox (is the `evaluate` extra "
                                  f"installed? is the memory limit too low for it?): {last[0][:300]}") from None
        kind = {"ProbeMismatch": "a probe does not match the model's input signature",
                "ModelLoadError": "the model could not be loaded",
                "ModelRunError": "the model failed"}.get(exc.exc_type or "", "failed")
        raise EvaluationError(f"{what}: {kind}: {text}") from None


def build_feeds(suite: ProbeSuite, options: EvaluationOptions) -> tuple[list[dict[str, Any]], int | None, str | None]:
    """Feeds per probe, the vocabulary size (tokenizer or --vocab-size) and the tokenizer's sha256."""
    vocab, tok_sha = options.vocab_size, None
    texts = [p.text for p in suite.probes if p.text is not None]
    ids: list[list[int]] = []
    if options.tokenizer is not None:
        tok_sha = sha256_file(options.tokenizer)
        ids, tok_vocab = _sandboxed("tokenizer", tokenize, options.tokenizer, texts, options.limits)
        vocab = vocab or tok_vocab
    elif texts:
        raise EvaluationError("the probe suite has text probes: give the model's tokenizer.json with --tokenizer")
    it = iter(ids)
    feeds = [p.inputs if p.text is None else {TOKENS: next(it)} for p in suite.probes]
    if any(TOKENS in f and not f[TOKENS] for f in feeds):
        raise EvaluationError("a text probe tokenised to no tokens")
    return feeds, vocab, tok_sha


def _decide_kind(result: RunResult, wanted: ModelKind | None) -> ModelKind:
    if wanted:
        return wanted
    if result.lm:
        return ModelKind.lm
    name = result.output.lower()
    if result.label_output or "prob" in name or "softmax" in name:
        return ModelKind.classifier
    if result.values and all(len(v) > 1 and min(v) >= 0 and abs(sum(v) - 1) < 1e-3 for v in result.values):
        return ModelKind.classifier  # every output is a distribution
    return ModelKind.embedding


def run_suite(model: Path, suite: ProbeSuite, options: EvaluationOptions, *,
              kind: ModelKind | None = None) -> SuiteRun:
    runtime = runtime_for(model, options.format)
    feeds, vocab, tok_sha = build_feeds(suite, options)
    wanted = kind or options.kind
    request = RunRequest(feeds=feeds, lm=None if wanted is None else wanted is ModelKind.lm, top_k=options.top_k,
                         greedy_steps=options.greedy_steps, output=options.output,
                         ids=[p.id for p in suite.probes])
    result = _sandboxed("run", runtime.run, model, request, options.limits)
    kind = _decide_kind(result, wanted)
    outputs = []
    for n, probe in enumerate(suite.probes):
        if kind is ModelKind.lm:
            outputs.append(ProbeOutput(id=probe.id, top_ids=result.top_ids[n], top_probs=result.top_probs[n],
                                       greedy=result.greedy[n] if result.greedy else []))
        elif kind is ModelKind.classifier:
            outputs.append(ProbeOutput(id=probe.id, values=[float(v) for v in as_probabilities(result.values[n])]))
        else:
            outputs.append(ProbeOutput(id=probe.id, values=result.values[n]))
    return SuiteRun(kind, RuntimeInfo(name=result.runtime, version=result.version), outputs, feeds, result, vocab,
                    tok_sha)


def make_baseline(name: str, model: Path, suite: ProbeSuite, options: EvaluationOptions, *, by: str = "unknown"
                  ) -> BehaviourBaseline:
    run = run_suite(model, suite, options)
    if any(not math.isfinite(v) for o in run.outputs for v in (*o.values, *o.top_probs)):
        raise EvaluationError("the model returned non-finite outputs (NaN or infinity): not a usable baseline")
    kept = sum(len(o.values) + 2 * len(o.top_ids) + len(o.greedy) for o in run.outputs)
    if kept > MAX_BASELINE_VALUES:
        raise EvaluationError(f"the outputs ({kept} numbers) are too large to keep as a baseline "
                              f"(at most {MAX_BASELINE_VALUES}): use fewer probes")
    return BehaviourBaseline(name=name, model_sha256=sha256_file(model), kind=run.kind, runtime=run.runtime,
                             probe_suite_sha256=suite.sha256, probe_suite=suite.text,
                             tokenizer_sha256=run.tokenizer_sha256, outputs=run.outputs,
                             recorded_at=datetime.now(timezone.utc), recorded_by=by)


def _trigger_sweep(model: Path, run: SuiteRun, options: EvaluationOptions, req: EffectiveRequirements):
    if run.kind is ModelKind.embedding:
        raise EvaluationError("the trigger sweep needs a classifier or a language model (this is an embedding model)")
    phrases: dict[str, list[int]] = {}
    if options.tokenizer is not None:
        ids, _vocab = _sandboxed("tokenizer", tokenize, options.tokenizer, list(triggers.KNOWN_TRIGGERS),
                                 options.limits)
        phrases = dict(zip(triggers.KNOWN_TRIGGERS, ids))
    try:
        plan = triggers.plan_sweep(run.feeds, run.result.inputs, vocab_size=run.vocab_size, phrases=phrases,
                                   budget=options.trigger_budget)
    except ValueError as exc:
        raise EvaluationError(str(exc)) from None
    if run.kind is ModelKind.lm:
        base = [ids[0] for ids in run.result.top_ids[:len(plan.probes)]]
    else:
        base = [max(range(len(o.values)), key=o.values.__getitem__) for o in run.outputs[:len(plan.probes)]]
    feeds = [f for edit in plan.candidates + plan.controls for f in triggers.apply(plan, edit)]
    request = RunRequest(feeds=feeds, labels_only=True, lm=run.kind is ModelKind.lm, output=options.output)
    labels = _sandboxed("trigger sweep", runtime_for(model, options.format).run, model, request, options.limits).labels
    sweep = triggers.score(plan, base, labels, req.behaviour)
    return sweep, triggers.trigger_findings(sweep, req.severity(triggers.TRIGGER_RULE))


def evaluate(model: Path, suite: ProbeSuite, options: EvaluationOptions, requirements: EffectiveRequirements, *,
             baseline: BehaviourBaseline | None = None, trigger_scan: bool = False,
             fail_on: Severity = Severity.high, sha256: str | None = None) -> Evaluation:
    """Compare with `baseline` (when given) and/or sweep for triggers. Raises EvaluationError when it cannot."""
    if baseline is None and not trigger_scan:
        raise EvaluationError("nothing to do: give a baseline to compare with and/or ask for a trigger sweep")
    sha = sha256 or sha256_file(model)
    if baseline is not None and baseline.probe_suite_sha256 != suite.sha256:
        raise EvaluationError(f"the probe suite ({suite.sha256[:16]}) is not the baseline's "
                              f"({baseline.probe_suite_sha256[:16]}): compare with the same suite")
    run = run_suite(model, suite, options, kind=baseline.kind if baseline else None)
    if baseline is not None and baseline.tokenizer_sha256 and baseline.tokenizer_sha256 != run.tokenizer_sha256:
        raise EvaluationError("the tokenizer is not the baseline's: compare with the same tokenizer.json")
    findings, metrics, changed, sweep = [], None, [], None
    if baseline is not None:
        try:
            metrics = compare(run.kind, baseline.outputs, run.outputs)
        except OutputMismatch as exc:
            raise EvaluationError(f"cannot compare with baseline {baseline.name}: {exc}") from None
        changed = drift.what_changed(baseline, sha, run.runtime)
        findings += drift.drift_findings(baseline, metrics, changed, requirements.behaviour,
                                         requirements.severity(drift.DRIFT_RULE))
    if trigger_scan:
        sweep, found = _trigger_sweep(model, run, options, requirements)
        findings += found
    passed = not any(f.severity.rank >= fail_on.rank for f in findings)
    base_doc = None
    if baseline is not None:
        base_doc = {"name": baseline.name, "sha256": baseline.model_sha256, "runtime": baseline.runtime.model_dump(),
                    "probe_suite_sha256": baseline.probe_suite_sha256,
                    "recorded_at": baseline.recorded_at.isoformat(), "changed": changed}
    report = EvaluationReport(model=str(model), sha256=sha, runtime=run.runtime, kind=run.kind, baseline=base_doc,
                              metrics=metrics, trigger_sweep=sweep, findings=findings)
    record = BehaviourEvaluation(evaluated_at=datetime.now(timezone.utc), baseline=baseline.name if baseline else None,
                                 baseline_sha256=baseline.model_sha256 if baseline else None, sha256=sha,
                                 runtime=run.runtime, probe_suite_sha256=suite.sha256, passed=passed,
                                 changed=changed, metrics=metrics, trigger_sweep=sweep,
                                 findings=sorted({f.rule_id for f in findings}))
    return Evaluation(report, record)
