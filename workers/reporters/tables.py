"""Tables the CLI prints besides scan reports: inventory records, tensor diffs, verification findings, and
findings stored by the embedded mode."""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from rich.table import Table

from modelscreen.schemas import Finding
from modelscreen.schemas.inventory import InventoryRecord

INVENTORY_HEADER = ["IDENTITY", "SHA256", "FORMAT", "VERDICT", "APPROVAL", "PINNED", "SIGNATURE", "LAST SEEN"]
DIFF_HEADER = ["FILE", "CHANGE", "TENSOR", "DETAIL"]
STORED_FINDINGS_COLUMNS = ("seen", "severity", "rule", "path", "finding", "location")


def text_table(rows: Sequence[Sequence[str]], header: Sequence[str]) -> str:
    """Plain columns padded to their widest cell: greppable, no colour."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip() for r in [header, *rows]]
    return "\n".join(lines) + "\n"


def _inventory_row(rec: InventoryRecord) -> list[str]:
    return [rec.identity, (rec.sha256 or next(iter(rec.digests.values()), "-"))[:16], rec.format or "-",
            rec.verdict.value if rec.verdict else "-", rec.approval.value, "yes" if rec.pinned else "",
            rec.signature.status.value if rec.signature else "-",
            rec.last_seen.strftime("%Y-%m-%d %H:%M") if rec.last_seen else "-"]


def inventory_table(records: Iterable[InventoryRecord]) -> str:
    return text_table([_inventory_row(r) for r in records], INVENTORY_HEADER)


def tensor_diff_table(diffs) -> str:
    """provenance.tensors.diff_paths results: one row per changed, added or removed tensor."""
    rows = []
    for d in diffs:
        if d.status in ("same", "added", "removed", "error") and not d.changes:
            rows.append([d.path, d.status, "", d.error or ""])
        if d.metadata_changed:
            rows.append([d.path, "metadata", "", "__metadata__ differs"])
        for c in d.changes:
            if c.kind in ("dtype", "shape"):
                what = f"{c.old[c.kind]} -> {c.new[c.kind]}"
            elif c.kind == "changed":
                what = f"sha256 {c.old['sha256'][:12]} -> {c.new['sha256'][:12]}"
            else:
                t = c.new or c.old
                what = f"{t['dtype']} {t['shape']}"
            rows.append([d.path, c.kind, c.name, what])
    return text_table(rows, DIFF_HEADER) if rows else "no safetensors files\n"


def findings_text(findings: Iterable[Finding], header: str) -> str:
    lines = [header]
    for f in findings:
        lines.append(f"  {f.severity.value.upper():<8} {f.rule_id:<28} {f.title}")
        if f.detail:
            lines.append(f"           {f.detail}")
    return "\n".join(lines) + "\n"


def stored_findings_table(rows) -> Table:
    """sinks.sqlite_store search rows, for a rich console."""
    table = Table()
    for col in STORED_FINDINGS_COLUMNS:
        table.add_column(col, overflow="fold")
    for r in rows:
        table.add_row(r.seen[:19], r.severity, r.rule_id, r.path, r.title, r.location or "")
    return table


@dataclass(frozen=True)
class RuleTestRow:
    """One YARA rule's outcome in `rules test`."""

    id: str
    name: str
    category: str
    severity: str
    positives: int
    ms: dict[str, float]  # engine -> time over the benign corpus
    failures: list[str]
    warnings: list[str]


def rules_test_table(title: str, rows: Iterable[RuleTestRow]) -> Table:
    table = Table(title=title)
    for col in ("id", "rule", "category", "severity", "pos", "yara-x ms", "yara-python ms", "result"):
        table.add_column(col, no_wrap=col != "result")
    for r in rows:
        result = "[green]PASS[/]" if not r.failures else "[red]FAIL[/] " + "; ".join(r.failures)
        if not r.failures and r.warnings:
            result += " [yellow](" + "; ".join(r.warnings) + ")[/]"
        table.add_row(r.id, r.name, r.category, r.severity, str(r.positives),
                      f"{r.ms.get('yara-x', 0):.1f}", f"{r.ms.get('yara-python', 0):.1f}", result)
    return table
