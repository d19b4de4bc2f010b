"""The `modelscreen` command."""
from __future__ import annotations

import dataclasses
import json
import os
import sys
from pathlib import Path

import click
from rich.console import Console

from modelscreen.schemas import Severity, Verdict
from modelscreen.settings import apply_engine_settings
from modelscreen import __version__
from modelscreen.commands import gateway, harbor, pipeline
from modelscreen.commands.evaluate import evaluate
from modelscreen.commands.kibana import kibana
from modelscreen.commands.provenance import diff, inventory, verify
from modelscreen.commands.rules_list import list_rules
from modelscreen.embedded.watch import watch as run_watch
from modelscreen.engine import Limits
from modelscreen.engine.scanner import iter_files
from modelscreen.engine.yara.loader import default_rules_dir, default_ruleset
from modelscreen.pipeline.alerting import alerts_for
from modelscreen.reporters import FORMATS, RENDERERS, output_format, serialisable
from modelscreen.reporters.stdout import reserved_stdout
from modelscreen.reporters.tables import stored_findings_table
from modelscreen.rules_cli import rules
from modelscreen.sandbox.scanning import scan_paths_sandboxed
from modelscreen.schemas.export import SCHEMA_DIR, export
from modelscreen.schemas.text import printable_text, raw_hex
from modelscreen.sinks.sqlite_store import SqliteStore, default_db_path

EXIT_OK, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2


def _print_version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    """`--version`: the engine version and the version of the rule library it would load."""
    if not value or ctx.resilient_parsing:
        return
    apply_engine_settings()
    ruleset, reason = default_ruleset()
    rules = (f"ruleset {ruleset.version} ({len(ruleset.rules)} rules, {ruleset.engine_name}, {default_rules_dir()})"
             if ruleset else f"ruleset unavailable: {reason}")
    click.echo(f"modelscreen {__version__}\n{rules}")
    ctx.exit(0 if ruleset else EXIT_ERROR)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--version", is_flag=True, expose_value=False, is_eager=True, callback=_print_version,
              help="Show the engine and ruleset versions and exit.")
def main() -> None:
    """Screen AI model artifacts (pickles, checkpoints, safetensors, archives, ...) without loading them."""
    apply_engine_settings()


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(FORMATS), default=None,
              help="Output format (default: table on a terminal, json otherwise).")
@click.option("--fail-on", type=click.Choice([s.value for s in Severity]), default="high", show_default=True,
              help="Exit 1 when any finding is at or above this severity.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True, path_type=Path),
              help="Write the report to a file instead of standard output.")
@click.option("--max-seconds", type=float, default=None, help="Time budget per artifact.")
@click.option("--no-progress", is_flag=True, help="Never show a progress bar.")
@click.option("-j", "--jobs", type=click.IntRange(min=1), default=None,
              help="Sandboxed scans side by side (default: the number of cores).")
def scan(paths: tuple[Path, ...], fmt: str | None, fail_on: str, output: Path | None,
         max_seconds: float | None, no_progress: bool, jobs: int | None) -> None:
    """Scan files and directories (recursively), each file in a sandboxed child process.

    Exit status: 0 nothing at or above --fail-on, 1 findings at or above it, 2 usage or analysis errors.
    """
    fmt = output_format(fmt, to_file=output is not None)
    limits = Limits(max_seconds=max_seconds) if max_seconds else Limits()
    files = list(iter_files(paths))
    show_progress = not no_progress and sys.stderr.isatty()
    reports = []
    if show_progress:
        from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

        total = sum(_size(f) for f in files)
        with Progress(TextColumn("[bold]scanning"), BarColumn(), DownloadColumn(), TimeRemainingColumn(),
                      TextColumn("{task.description}"), transient=True) as bar:
            task = bar.add_task("", total=total)

            def advance(f: Path, size: int) -> None:
                bar.update(task, advance=size, description=f.name[:40])

            with reserved_stdout():
                reports = scan_paths_sandboxed(files, jobs=jobs, limits=limits, progress=advance)
    else:
        with reserved_stdout():
            reports = scan_paths_sandboxed(files, jobs=jobs, limits=limits)

    reports = serialisable(reports)
    _warn_rules_unavailable(reports)
    text = RENDERERS[fmt](reports, color=output is None and sys.stdout.isatty())
    if output:
        output.write_text(text, encoding="utf-8")
    else:
        click.echo(text, nl=False)

    threshold = Severity(fail_on).rank
    if any(f.severity.rank >= threshold for r in reports for f in r.findings):
        sys.exit(EXIT_FINDINGS)
    if any(r.verdict is Verdict.error for r in reports):
        sys.exit(EXIT_ERROR)
    sys.exit(EXIT_OK)


def _warn_rules_unavailable(reports) -> None:
    for r in reports:
        for f in r.findings:
            if f.rule_id == "YARA-RULES-UNAVAILABLE":
                click.echo(f"modelscreen: warning: {f.detail}; no artifact is reported clean", err=True)
                return


def _size(p: Path) -> int:
    try:
        return os.stat(p).st_size
    except OSError:
        return 0


@main.command()
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--db", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="SQLite findings database (default: $MODELSCREEN_DB or ~/.local/share/modelscreen/findings.db).")
@click.option("--interval", type=float, default=2.0, show_default=True, help="Seconds between sweeps.")
@click.option("--settle", type=float, default=2.0, show_default=True,
              help="A file must keep its size and mtime this long before it is scanned.")
@click.option("--once", is_flag=True, help="One sweep, then exit.")
def watch(directory: Path, db: Path | None, interval: float, settle: float, once: bool) -> None:
    """Watch a directory as an artifact store (embedded mode: no Kafka, no Elasticsearch).

    New or changed files are upload events; findings and artifact state go to SQLite.
    Prints one JSON line per scanned file.
    """
    def emit(change, result) -> None:
        path = os.fspath(change.path)
        out.write(json.dumps({"event_id": result.event.event_id, "action": result.event.action.value,
                              "path": printable_text(path), "path_hex": raw_hex(path), "sha256": result.sha256,
                              "verdict": result.verdict.value,
                              "findings": sum(len(r.findings) for r in result.reports),
                              "alerts": [printable_text(a.message) for a in alerts_for(result, Severity.high)]})
                  + "\n")

    with SqliteStore(db) as store, reserved_stdout() as out:
        try:
            run_watch(directory, store, interval=interval, settle=settle, once=once, on_result=emit)
        except KeyboardInterrupt:
            pass


@main.command()
@click.argument("text", required=False)
@click.option("--db", type=click.Path(dir_okay=False, path_type=Path), default=None)
@click.option("--severity", "min_severity", type=click.Choice([s.value for s in Severity]), default=None,
              help="At or above this severity.")
@click.option("--rule", help="Rule id (* wildcards).")
@click.option("--hash", "sha256", help="SHA-256 or a prefix of it.")
@click.option("--path", help="Part of the artifact path.")
@click.option("--limit", type=click.IntRange(1, 1_000_000), default=100, show_default=True)
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default=None)
def findings(text: str | None, db: Path | None, min_severity: str | None, rule: str | None,
             sha256: str | None, path: str | None, limit: int, fmt: str | None) -> None:
    """List and search findings stored by the embedded mode (free TEXT matches title, detail, path, rule, evidence)."""
    target = db or default_db_path()
    if not target.exists():
        raise click.UsageError(f"no findings database at {target}; run `modelscreen watch DIR` first")
    with SqliteStore(target) as store:
        try:
            rows = list(store.search(min_severity=Severity(min_severity) if min_severity else None, rule=rule,
                                     sha256=sha256, path=path, text=text, limit=limit))
        except ValueError as exc:  # text that is not UTF-8, too long, a limit out of range: usage errors
            raise click.UsageError(str(exc)) from None
    if output_format(fmt) == "json":
        click.echo(json.dumps([dataclasses.asdict(r) for r in rows], indent=2))
        return
    Console().print(stored_findings_table(rows))


@main.group()
def schemas() -> None:
    """JSON Schema of the typed boundaries, for producers in other languages."""


@schemas.command("export")
@click.option("--dir", "directory", type=click.Path(file_okay=False, path_type=Path), default=None)
def schemas_export(directory: Path | None) -> None:
    """Write schemas/json/*.schema.json."""
    for p in export(directory or SCHEMA_DIR):
        click.echo(str(p))


def _register() -> None:
    main.add_command(pipeline.setup)
    main.add_command(pipeline.worker)
    main.add_command(pipeline.send)
    main.add_command(pipeline.dlq)
    main.add_command(pipeline.retrohunt)
    main.add_command(gateway.gateway)
    rules.add_command(list_rules)
    main.add_command(rules)
    main.add_command(kibana)
    main.add_command(inventory)
    main.add_command(verify)
    main.add_command(diff)
    main.add_command(evaluate)
    main.add_command(harbor.harbor_adapter)


_register()

if __name__ == "__main__":  # pragma: no cover
    main()
