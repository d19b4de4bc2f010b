"""Human-readable table for a terminal."""
from __future__ import annotations

import io
from collections.abc import Sequence

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from modelscreen.schemas import ArtifactReport, Verdict
from modelscreen.schemas.text import printable_text

_STYLE = {Verdict.clean: "green", Verdict.suspicious: "yellow", Verdict.malicious: "bold red", Verdict.error: "magenta"}


def render_table(reports: Sequence[ArtifactReport], *, color: bool = False, width: int | None = None,
                 members: bool = False) -> str:
    """Top-level artifacts always; archive members only when they have findings (or with members=True)."""
    if width is None:
        import shutil

        width = max(100, shutil.get_terminal_size((140, 24)).columns)
    buf = io.StringIO()
    console = Console(file=buf, force_terminal=color, width=width, color_system="standard" if color else None)
    table = Table(show_lines=False, expand=False)
    for col in ("verdict", "artifact", "format", "severity", "rule", "finding", "location"):
        table.add_column(col, overflow="fold")
    shown = [a for a in reports if members or a.parent is None or any(f.severity.rank >= 1 for f in a.findings)
             or a.error]
    for art in shown:
        style = _STYLE[art.verdict]
        findings = [f for f in art.findings if f.severity.rank >= 1] or art.findings[:1]
        if not findings:
            table.add_row(f"[{style}]{art.verdict.value}[/]", _cell(art.path), _cell(art.format), "", "",
                          _cell(art.error or ""), "")
        for i, f in enumerate(findings):
            table.add_row(
                f"[{style}]{art.verdict.value}[/]" if i == 0 else "",
                _cell(art.path) if i == 0 else "",
                _cell(art.format) if i == 0 else "",
                f.severity.value, _cell(f.rule_id), _cell(f.title), _cell(f.location or ""),
            )
    console.print(table)
    top = [a for a in reports if a.parent is None]
    counts = {v: sum(1 for a in top if a.verdict is v) for v in Verdict}
    console.print(", ".join(f"{n} {v.value}" for v, n in counts.items())
                  + f" ({len(top)} artifacts, {len(reports) - len(top)} archive members)")
    return buf.getvalue()


def _cell(text: str) -> str:
    """Text from scanned bytes as a table cell: no markup, no terminal control characters."""
    text = printable_text(text)
    if not text.isprintable():
        text = "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)
    return escape(text)
