"""`modelscreen rules ...`: test and bundle the YARA rule library.

    rules test [PATH]        compile with YARA-X and yara-python, check metadata and ids, run every rule
                             against its samples under both engines, flag slow rules; exit 1 on failure
    rules bundle [-o FILE]   write the versioned bundle (RuleBundle JSON: version, sources, metadata)
"""
from __future__ import annotations

import json
import random
import struct
import time
from collections import defaultdict
from pathlib import Path

import click
from rich.console import Console

from modelscreen.schemas.rules import RuleBundle
from modelscreen.engine.yara.loader import (
    ENGINES,
    RulesetError,
    assemble,
    default_rules_dir,
    load_ruleset,
    make_engine,
    parse_rules,
)
from modelscreen.engine.yara.matcher import match
from modelscreen.reporters.tables import RuleTestRow, rules_test_table
from modelscreen.rule_bundles import SamplesError, load_samples, publish, validate, with_samples
from modelscreen.settings import load_settings

DEFAULT_RULE_BUDGET_MS = 250.0
CORPUS_FLOAT_BYTES = 4 * 1024 * 1024
# engine warnings that make a rule fail `rules test` (the rest are shown)
SLOW_MARKERS = ("slow", "potentially_slow")


def benign_corpus(negatives: list[bytes]) -> bytes:
    """A fixed benign corpus for timing: the negative samples plus seeded random float32 tensor bytes."""
    rng = random.Random(20240601)
    floats = struct.pack(f"<{CORPUS_FLOAT_BYTES // 4}f", *(rng.gauss(0.0, 0.05) for _ in range(CORPUS_FLOAT_BYTES // 4)))
    return b"".join(negatives) + floats


@click.group("rules", context_settings={"help_option_names": ["-h", "--help"]})
def rules() -> None:
    """Develop, test and ship the YARA rule library (rules/yara)."""


@rules.command("test")
@click.argument("path", required=False, type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--samples", "samples_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Samples module (default: samples.py beside the rules directory).")
@click.option("--rule-budget-ms", type=float, default=DEFAULT_RULE_BUDGET_MS, show_default=True,
              help="Slowest acceptable time for one rule over the benign corpus, per engine.")
def test_cmd(path: Path | None, samples_path: Path | None, rule_budget_ms: float) -> None:
    """Compile with both engines, check metadata, run every rule against its samples, flag slow rules."""
    console = Console(width=200, highlight=False)
    root = path or default_rules_dir()
    failures: dict[str, list[str]] = defaultdict(list)  # rule name (or "*") -> reasons
    general: list[str] = []

    parsed, _sources, problems = parse_rules(root)
    general.extend(problems)
    rulesets = {}
    for eng in ENGINES:
        try:
            rulesets[eng] = load_ruleset(root, eng)
        except RulesetError as exc:
            general.extend(f"{eng}: {p}" for p in exc.problems)
        except ImportError as exc:
            general.append(f"{eng}: not installed ({exc})")

    by_name = {r.name: r for r in parsed}
    samples_path = samples_path or (root.parent / "samples.py")
    samples = []
    if samples_path.is_file():
        samples = list(_samples(samples_path).build_samples())
    else:
        general.append(f"no samples module at {samples_path}")

    positives: dict[str, int] = defaultdict(int)
    sample_rows: list[tuple[str, str]] = []
    if len(rulesets) == len(ENGINES):
        id_to_name = {r.meta.id: r.name for r in parsed}
        for s in samples:
            unknown = set(s.expect) - set(id_to_name)
            if unknown:
                general.append(f"sample {s.name} expects unknown rule ids {sorted(unknown)}")
            got = {eng: {m.rule_id for m in match(rs, s.data)} for eng, rs in rulesets.items()}
            for rid in s.expect:
                positives[rid] += 1
            x, y = got["yara-x"], got["yara-python"]
            if x != y:
                general.append(f"engines disagree on {s.name}: yara-x only {sorted(x - y)}, yara-python only {sorted(y - x)}")
            for eng, ids in got.items():
                for rid in sorted(set(s.expect) - ids):
                    failures[id_to_name.get(rid, rid)].append(f"{eng} missed positive {s.name}")
                for rid in sorted(ids - set(s.expect)):
                    failures[id_to_name.get(rid, rid)].append(f"{eng} matched {s.name} (not in manifest)")
            sample_rows.append((s.name, "ok" if x == y == set(s.expect) else "FAIL"))

    # per rule: engine warnings when compiled alone, and time over the benign corpus
    corpus = benign_corpus([s.data for s in samples if not s.expect])
    timings: dict[str, dict[str, float]] = defaultdict(dict)
    warned: dict[str, list[str]] = defaultdict(list)
    for eng in ENGINES:
        try:
            engine = make_engine(eng)
        except (RulesetError, ImportError):
            continue
        for r in parsed:
            try:
                compiled, warnings = engine.compile(assemble([r]))
            except RulesetError as exc:
                failures[r.name].append(f"{eng}: does not compile alone: {exc}")
                continue
            for w in warnings:
                first = w.splitlines()[0]
                warned[r.name].append(f"{eng}: {first}")
                if any(m in w.lower() for m in SLOW_MARKERS):
                    failures[r.name].append(f"{eng} warns: {first}")
            start = time.perf_counter()
            engine.scan(compiled, corpus, 60)
            ms = (time.perf_counter() - start) * 1000
            timings[r.name][eng] = ms
            if ms > rule_budget_ms:
                failures[r.name].append(f"{eng}: {ms:.0f} ms over the benign corpus (budget {rule_budget_ms:.0f} ms)")

    for r in parsed:
        if not positives.get(r.meta.id):
            failures[r.name].append("no positive sample in the manifest")

    console.print(rules_test_table(
        f"YARA rules in {root} ({len(parsed)} rules, {len(samples)} samples, corpus {len(corpus) >> 10} KiB)",
        [RuleTestRow(r.meta.id, r.name, r.meta.category, r.meta.severity.value, positives.get(r.meta.id, 0),
                     timings.get(r.name, {}), sorted(set(failures.get(r.name, []))), warned.get(r.name, []))
         for r in sorted(parsed, key=lambda r: r.meta.id)]))
    stray = {k: v for k, v in failures.items() if k not in by_name}
    for k, v in stray.items():
        general.extend(f"{k}: {reason}" for reason in v)
    bad_samples = [n for n, st in sample_rows if st != "ok"]
    for line in general:
        console.print(f"[red]FAIL[/] {line}")
    n_fail = sum(1 for r in parsed if failures.get(r.name))
    version = next(iter(rulesets.values())).version if rulesets else "-"
    console.print(f"ruleset {version}: {len(parsed) - n_fail}/{len(parsed)} rules pass, "
                  f"{len(sample_rows) - len(bad_samples)}/{len(sample_rows)} samples as declared, "
                  f"{len(general)} general problems")
    if n_fail or general or bad_samples:
        raise SystemExit(1)


def _samples(path: Path):
    try:
        return load_samples(path)
    except SamplesError as exc:
        raise click.ClickException(str(exc)) from None


def _build_bundle(path: Path | None, engine: str | None, samples_path: Path | None):
    root = path or default_rules_dir()
    try:
        rs = load_ruleset(root, engine)
    except RulesetError as exc:
        raise click.ClickException("the rules do not load:\n  " + "\n  ".join(exc.problems)) from exc
    try:
        return with_samples(rs.bundle(), samples_path or (root.parent / "samples.py"))
    except SamplesError as exc:
        raise click.ClickException(str(exc)) from None


_bundle_options = [
    click.argument("path", required=False, type=click.Path(exists=True, file_okay=False, path_type=Path)),
    click.option("--engine", type=click.Choice(list(ENGINES)), default=None,
                 help="Engine that must compile the bundle (default: MODELSCREEN_YARA_ENGINE or yara-x)."),
    click.option("--samples", "samples_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
                 help="Samples module shipped in the bundle (default: samples.py beside the rules directory)."),
]


def bundle_options(fn):
    for opt in reversed(_bundle_options):
        fn = opt(fn)
    return fn


@rules.command("bundle")
@bundle_options
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True, path_type=Path),
              help="Write the bundle here instead of standard output.")
def bundle_cmd(path: Path | None, engine: str | None, samples_path: Path | None, output: Path | None) -> None:
    """Write the versioned rule bundle: JSON with the version (content hash), sources, metadata and samples."""
    bundle = _build_bundle(path, engine, samples_path)
    doc = bundle.model_dump_json(indent=2)
    if output:
        output.write_text(doc + "\n", "utf-8")
        click.echo(f"bundle {bundle.version}: {len(bundle.rules)} rules, {len(bundle.sources)} files, "
                   f"{len(bundle.samples)} samples -> {output}", err=True)
    else:
        click.echo(doc)


@rules.command("publish")
@bundle_options
@click.option("--bundle", "bundle_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Publish this bundle file instead of building one from PATH.")
@click.option("--config", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None)
def publish_cmd(path: Path | None, engine: str | None, samples_path: Path | None, bundle_file: Path | None,
                config: Path | None) -> None:
    """Publish a bundle to the compacted rule-bundles topic; running workers validate it and swap it in."""
    bundle = (RuleBundle.model_validate_json(bundle_file.read_bytes()) if bundle_file
              else _build_bundle(path, engine, samples_path))
    try:
        validate(bundle, engine)
    except RulesetError as exc:
        raise click.ClickException("the bundle does not validate:\n  " + "\n  ".join(exc.problems)) from exc
    click.echo(json.dumps(publish(load_settings(config), bundle)))
