"""`modelscreen evaluate MODEL --probes FILE`: behaviour baselines, drift and trigger sweeps (sandboxed).

Exit status: 0 within thresholds and no finding at or above --fail-on, 1 otherwise, 2 could not evaluate.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from modelscreen.commands.provenance import _open, _whoami, backend_options
from modelscreen.evaluation.probes import ProbeSuiteError, load_suite
from modelscreen.evaluation.runtimes import ModelLoadError
from modelscreen.evaluation.service import EvaluationError, EvaluationOptions, make_baseline, sha256_file
from modelscreen.evaluation.service import evaluate as run_evaluation
from modelscreen.provenance import PolicyError, load_policy
from modelscreen.reporters.stdout import reserved_stdout
from modelscreen.sandbox import SandboxLimits
from modelscreen.schemas.behaviour import ModelKind
from modelscreen.schemas.findings import Severity
from modelscreen.schemas.inventory import ArtifactIdentity

EXIT_OK, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2


def inventory_identity(name: str) -> ArtifactIdentity:
    """NAME as an inventory identity; a bare name (no `store:`) is a local one."""
    try:
        return ArtifactIdentity.parse(name)
    except ValueError:
        return ArtifactIdentity(store="local", name=name)


def _failure(message: str, fmt: str, model: Path) -> tuple[str, int]:
    click.echo(f"could not evaluate: {message}", err=True)
    text = json.dumps({"model": str(model), "error": message, "findings": []}) + "\n" if fmt == "json" else ""
    return text, EXIT_ERROR


def _render_text(report) -> str:
    lines = [f"model    {report.model}", f"sha256   {report.sha256}",
             f"runtime  {report.runtime.name} {report.runtime.version}  kind {report.kind.value}"]
    if report.baseline:
        lines.append(f"baseline {report.baseline['name']} ({report.baseline['sha256'][:16]}, "
                     f"changed: {', '.join(report.baseline['changed']) or 'nothing'})")
    if report.metrics:
        shown = report.metrics.model_dump(exclude_none=True, exclude={"moved", "kind"})
        lines.append("metrics  " + ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                                             for k, v in shown.items()))
    if report.trigger_sweep:
        t = report.trigger_sweep
        lines.append(f"triggers {t.candidates} candidates, {t.controls} controls, control p90 {t.control_share_p90:.2f}, "
                     f"{len(t.hits)} hit(s)")
    for f in report.findings:
        lines.append(f"{f.severity.value.upper():8} {f.rule_id}: {f.title}")
    if not report.findings:
        lines.append("no behaviour findings")
    return "\n".join(lines) + "\n"


@click.command()
@click.argument("model", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--probes", "probes_file", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Probe suite (JSON Lines).")
@click.option("--record-baseline", "record", metavar="NAME", help="Record the outputs as the baseline of NAME.")
@click.option("--against", metavar="NAME", help="Compare with the baseline of NAME.")
@click.option("--trigger-scan", is_flag=True, help="Sweep for backdoor triggers (classifiers and language models).")
@click.option("--tokenizer", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="tokenizer.json for text probes, known trigger phrases and the vocabulary size.")
@click.option("--vocab-size", type=click.IntRange(1, 10_000_000), help="Vocabulary size for the token sweep.")
@click.option("--trigger-budget", type=click.IntRange(1, 100_000), default=2048, show_default=True,
              help="Most trigger candidates tried.")
@click.option("--kind", type=click.Choice([k.value for k in ModelKind]), default=None,
              help="Model kind (default: from the outputs, or the baseline's).")
@click.option("--output", "output_name", help="Graph output to compare (default: the first floating-point one).")
@click.option("--policy", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Provenance policy with the thresholds (default: $MODELSCREEN_PROVENANCE_POLICY).")
@click.option("--fail-on", type=click.Choice([s.value for s in Severity]), default="high", show_default=True)
@click.option("--max-seconds", type=float, default=120.0, show_default=True, help="Sandbox wall-clock budget per run.")
@click.option("--max-memory-mb", type=int, default=2048, show_default=True, help="Sandbox address-space limit.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@backend_options
def evaluate(model: Path, probes_file: Path, record: str | None, against: str | None, trigger_scan: bool,
             tokenizer: Path | None, vocab_size: int | None, trigger_budget: int, kind: str | None,
             output_name: str | None, policy: Path | None, fail_on: str, max_seconds: float, max_memory_mb: int,
             fmt: str, backend, db, config, index) -> None:
    """Run MODEL (ONNX, sandboxed) on a probe suite: record a baseline, compare with one, sweep for triggers."""
    if not (record or against or trigger_scan):
        raise click.UsageError("give --record-baseline NAME, --against NAME and/or --trigger-scan")
    if record and against:
        raise click.UsageError("--record-baseline and --against are separate runs")
    with reserved_stdout() as out:
        text, code = _evaluate(model, probes_file, record, against, trigger_scan, tokenizer, vocab_size,
                               trigger_budget, kind, output_name, policy, fail_on, max_seconds, max_memory_mb, fmt,
                               backend, db, config, index)
        out.write(text)
    sys.exit(code)


def _evaluate(model, probes_file, record, against, trigger_scan, tokenizer, vocab_size, trigger_budget, kind,
              output_name, policy, fail_on, max_seconds, max_memory_mb, fmt, backend, db, config, index
              ) -> tuple[str, int]:
    try:
        suite = load_suite(probes_file)
        limits = SandboxLimits(memory_bytes=max_memory_mb * 1024 * 1024, wall_seconds=max_seconds,
                               cpu_seconds=max(1, int(max_seconds) + 1))
        options = EvaluationOptions(kind=ModelKind(kind) if kind else None, tokenizer=tokenizer,
                                    vocab_size=vocab_size, output=output_name, trigger_budget=trigger_budget,
                                    limits=limits)
        ident = inventory_identity(record or against or model.name)
        requirements = load_policy(policy).for_artifact(ident.store, ident.store_name, ident.name or "")
        sha = sha256_file(model)
        if record:
            baseline = make_baseline(ident.baseline_key, model, suite, options, by=_whoami())
            with _open(backend, db, config, index) as inv:
                inv.put_baseline(baseline)
            if not trigger_scan:
                return json.dumps({"baseline": baseline.name, "sha256": baseline.model_sha256,
                                   "kind": baseline.kind.value, "runtime": baseline.runtime.model_dump(),
                                   "probe_suite_sha256": baseline.probe_suite_sha256,
                                   "probes": len(baseline.outputs)}) + "\n", EXIT_OK
        baseline = None
        if against:
            with _open(backend, db, config, index) as inv:
                baseline = inv.get_baseline(ident.baseline_key)
            if baseline is None:
                raise EvaluationError(f"no behaviour baseline recorded for {ident.baseline_key}")
        result = run_evaluation(model, suite, options, requirements, baseline=baseline, trigger_scan=trigger_scan,
                                fail_on=Severity(fail_on), sha256=sha)
        if against:
            with _open(backend, db, config, index) as inv:
                inv.set_behaviour(ident, sha, result.record)
    except (ProbeSuiteError, EvaluationError, ModelLoadError, PolicyError, OSError) as exc:
        return _failure(str(exc), fmt, model)
    report = result.report
    text = report.model_dump_json(indent=2, exclude_none=True) + "\n" if fmt == "json" else _render_text(report)
    return text, EXIT_OK if result.record.passed else EXIT_FINDINGS
