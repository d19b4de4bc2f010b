"""The `modelscreen` command."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from schemas import Severity, Verdict
from workers import __version__

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
def scan(paths: tuple[Path, ...], fmt: str | None, fail_on: str, output: Path | None,
         max_seconds: float | None, no_progress: bool) -> None:
    """Scan files and directories (recursively).

    Exit status: 0 nothing at or above --fail-on, 1 findings at or above it, 2 usage or analysis errors.
    """
    from workers.engine import Limits
    from workers.engine.scanner import iter_files, scan_paths
    from workers.reporters import RENDERERS

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

            reports = list(scan_paths(files, limits=limits, progress=advance))
    else:
        reports = list(scan_paths(files, limits=limits))

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


@main.group()
def schemas() -> None:
    """JSON Schema of the typed boundaries, for producers in other languages."""


@schemas.command("export")
@click.option("--dir", "directory", type=click.Path(file_okay=False, path_type=Path), default=None)
def schemas_export(directory: Path | None) -> None:
    """Write schemas/json/*.schema.json."""
    from schemas.export import SCHEMA_DIR, export

    for p in export(directory or SCHEMA_DIR):
        click.echo(str(p))


if __name__ == "__main__":  # pragma: no cover
    main()
