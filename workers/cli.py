"""The `modelscreen` command."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from modelscreen.schemas import Severity, Verdict
from modelscreen import __version__

EXIT_OK, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="modelscreen")
def main() -> None:
    """Screen AI model artifacts (pickles, checkpoints, safetensors, archives, ...) without loading them."""


def _default_format() -> str:
    return "table" if sys.stdout.isatty() else "json"


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["table", "json", "sarif"]), default=None,
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
    from modelscreen.engine import Limits
    from modelscreen.engine.scanner import iter_files
    from modelscreen.sandbox.scanning import scan_paths_sandboxed
    from modelscreen.reporters import RENDERERS

    fmt = fmt or ("table" if output is None and sys.stdout.isatty() else "json")
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

            reports = scan_paths_sandboxed(files, jobs=jobs, limits=limits, progress=advance)
    else:
        reports = scan_paths_sandboxed(files, jobs=jobs, limits=limits)

    render = RENDERERS[fmt]
    text = render(reports, color=output is None and sys.stdout.isatty()) if fmt == "table" else render(reports)
    if output:
        output.write_text(text)
    else:
        click.echo(text, nl=False)

    threshold = Severity(fail_on).rank
    if any(f.severity.rank >= threshold for r in reports for f in r.findings):
        sys.exit(EXIT_FINDINGS)
    if any(r.verdict is Verdict.error for r in reports):
        sys.exit(EXIT_ERROR)
    sys.exit(EXIT_OK)


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
    import json

    from modelscreen.embedded.watch import watch as run_watch
    from modelscreen.sinks.sqlite_store import SqliteStore

    from modelscreen.schemas import Severity as _Severity
    from modelscreen.pipeline.alerting import alerts_for

    def emit(change, result) -> None:
        click.echo(json.dumps({"event_id": result.event.event_id, "action": result.event.action.value,
                               "path": str(change.path), "sha256": result.sha256, "verdict": result.verdict.value,
                               "findings": sum(len(r.findings) for r in result.reports),
                               "alerts": [a.message for a in alerts_for(result, _Severity.high)]}))

    with SqliteStore(db) as store:
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
@click.option("--limit", type=int, default=100, show_default=True)
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default=None)
def findings(text: str | None, db: Path | None, min_severity: str | None, rule: str | None,
             sha256: str | None, path: str | None, limit: int, fmt: str | None) -> None:
    """List and search findings stored by the embedded mode (free TEXT matches title, detail, path, rule, evidence)."""
    import dataclasses
    import json

    from modelscreen.sinks.sqlite_store import SqliteStore, default_db_path

    target = db or default_db_path()
    if not target.exists():
        raise click.UsageError(f"no findings database at {target}; run `modelscreen watch DIR` first")
    with SqliteStore(target) as store:
        rows = list(store.search(min_severity=Severity(min_severity) if min_severity else None, rule=rule,
                                 sha256=sha256, path=path, text=text, limit=limit))
    fmt = fmt or ("table" if sys.stdout.isatty() else "json")
    if fmt == "json":
        click.echo(json.dumps([dataclasses.asdict(r) for r in rows], indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table()
    for col in ("seen", "severity", "rule", "path", "finding", "location"):
        table.add_column(col, overflow="fold")
    for r in rows:
        table.add_row(r.seen[:19], r.severity, r.rule_id, r.path, r.title, r.location or "")
    Console().print(table)


@main.group()
def schemas() -> None:
    """JSON Schema of the typed boundaries, for producers in other languages."""


@schemas.command("export")
@click.option("--dir", "directory", type=click.Path(file_okay=False, path_type=Path), default=None)
def schemas_export(directory: Path | None) -> None:
    """Write schemas/json/*.schema.json."""
    from modelscreen.schemas.export import SCHEMA_DIR, export

    for p in export(directory or SCHEMA_DIR):
        click.echo(str(p))


def _register() -> None:
    from modelscreen.commands import gateway, pipeline
    from modelscreen.commands.kibana import kibana
    from modelscreen.commands.provenance import diff, inventory, verify
    from modelscreen.rules_cli import rules

    main.add_command(pipeline.setup)
    main.add_command(pipeline.worker)
    main.add_command(pipeline.send)
    main.add_command(pipeline.dlq)
    main.add_command(pipeline.retrohunt)
    main.add_command(gateway.gateway)
    main.add_command(rules)
    main.add_command(kibana)
    main.add_command(inventory)
    main.add_command(verify)
    main.add_command(diff)


_register()

if __name__ == "__main__":  # pragma: no cover
    main()
