"""`modelscreen rules list`: the finding ids an analyst can meet, from the rule catalog and the YARA library.

    rules list [--builtin] [--yara] [--format table|json|markdown] [--replace FILE]
"""
from __future__ import annotations

from pathlib import Path

import click

from modelscreen.engine.catalog import CATALOG
from modelscreen.engine.yara.loader import default_rules_dir, parse_rules
from modelscreen.reporters.rule_catalog import (
    render_catalog_json,
    render_catalog_markdown,
    render_catalog_table,
    replace_catalog_section,
)
from modelscreen.schemas.rules import RuleMeta

RENDERERS = {"table": render_catalog_table, "json": render_catalog_json, "markdown": render_catalog_markdown}


def bundled_yara_rules(root: Path | None = None) -> list[RuleMeta]:
    """Metadata of the YARA rule library (parsed, not compiled)."""
    rules, _sources, _problems = parse_rules(root or default_rules_dir())
    return [r.meta for r in rules]


def listing(fmt: str, *, builtin: bool = True, yara: bool = True) -> str:
    return RENDERERS[fmt](CATALOG.values() if builtin else (), bundled_yara_rules() if yara else [])


@click.command("list")
@click.option("--builtin", is_flag=True, help="Only the engine, pipeline and provenance ids (the catalog)")
@click.option("--yara", "yara_only", is_flag=True, help="Only the YARA library's rules")
@click.option("--format", "fmt", type=click.Choice(sorted(RENDERERS)), default="table", show_default=True)
@click.option("--replace", "replace", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Write the Markdown listing into FILE between its catalog markers (docs/formats.md)")
def list_rules(builtin: bool, yara_only: bool, fmt: str, replace: Path | None) -> None:
    """List every finding id with its severity, title and description."""
    both = builtin == yara_only
    if replace is not None:
        section = listing("markdown", builtin=both or builtin, yara=both or yara_only)
        replace.write_text(replace_catalog_section(replace.read_text("utf-8"), section), "utf-8")
        click.echo(f"updated {replace}")
        return
    click.echo(listing(fmt, builtin=both or builtin, yara=both or yara_only), nl=False)
