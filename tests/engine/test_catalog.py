"""The rule catalog: every id the code emits is declared, every declared id has a test that makes it fire,
ScanContext.add refuses what is not declared, and the docs are generated from it."""
from __future__ import annotations

import ast
import io
import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from modelscreen.cli import main
from modelscreen.commands.rules_list import bundled_yara_rules, listing
from modelscreen.engine import Limits, scan_bytes
from modelscreen.engine import scanner
from modelscreen.engine.catalog import CATALOG, YARA_ID, Rule, UndeclaredRule, is_yara_id
from modelscreen.engine.context import ScanContext
from modelscreen.engine.limits import Budget
from modelscreen.reporters.rule_catalog import DOC_END, DOC_START
from modelscreen.schemas import Severity
from modelscreen.schemas.policy import DEFAULT_SEVERITIES
from modelscreen.schemas.rules import RuleMeta

REPO = Path(__file__).resolve().parents[2]
ID = re.compile(r"^[A-Z][A-Z0-9]*(-[A-Z0-9]+)+$")
THIS_FILE = Path(__file__).resolve()


def _emitted() -> dict[str, list[str]]:
    """Id-shaped string literals passed to any call in workers/ (ctx.add, Finding(rule_id=...), helpers)."""
    found: dict[str, list[str]] = {}
    for path in sorted((REPO / "workers").rglob("*.py")):
        tree = ast.parse(path.read_text("utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                args = list(node.args) + [k.value for k in node.keywords if k.arg == "rule_id"]
            elif isinstance(node, ast.Assign) and any(
                    isinstance(t, ast.Name) and t.id.endswith("_RULE") for t in node.targets):
                args = [node.value]  # DRIFT_RULE = "MODEL-TENSOR-DRIFT"
            else:
                continue
            for a in args:
                if isinstance(a, ast.Constant) and isinstance(a.value, str) and ID.match(a.value):
                    found.setdefault(a.value, []).append(f"{path.relative_to(REPO)}:{a.lineno}")
    return found


def test_every_emitted_id_is_declared():
    emitted = _emitted()
    assert len(emitted) > 150  # the scan sees the code
    undeclared = {k: v for k, v in emitted.items() if k not in CATALOG}
    assert not undeclared, f"declare these in modelscreen/engine/catalog.py: {undeclared}"


def test_every_declared_id_is_emitted_somewhere():
    emitted = _emitted()
    assert sorted(set(CATALOG) - set(emitted)) == []


def test_every_declared_id_is_made_to_fire_by_a_test():
    texts = [p.read_text("utf-8") for p in (REPO / "tests").rglob("*.py") if p.resolve() != THIS_FILE]
    corpus = "\n".join(texts)
    missing = [rid for rid in CATALOG if rid not in corpus]
    assert not missing, f"no test names (and so none makes fire) {missing}"


def test_rules_are_well_formed():
    for rid, r in CATALOG.items():
        assert isinstance(r, Rule) and r.id == rid and ID.match(rid)
        assert r.title and not r.title[0].islower() and len(r.doc) > 40 and r.doc.endswith((".", ")")), rid
        assert r.severity not in r.also, rid
        assert not is_yara_id(rid)


def test_provenance_defaults_match_the_policy_schema():
    provenance = {rid: r.severity for rid, r in CATALOG.items() if r.policy}
    assert provenance == DEFAULT_SEVERITIES


def test_yara_id_pattern_is_the_rule_metadata_pattern():
    assert RuleMeta.model_fields["id"].metadata[0].pattern == YARA_ID.pattern
    yara = bundled_yara_rules()
    assert yara and all(is_yara_id(m.id) for m in yara)


# --- ScanContext.add --------------------------------------------------------------------------------------
def _ctx() -> ScanContext:
    limits = Limits()
    return ScanContext(path="t", limits=limits, budget=Budget(limits))


def test_undeclared_id_raises():
    with pytest.raises(UndeclaredRule, match="NOT-A-RULE"):
        _ctx().add("NOT-A-RULE", Severity.high, "x")


def test_undeclared_severity_raises():
    with pytest.raises(UndeclaredRule, match="TAR-SETUID"):
        _ctx().add("TAR-SETUID", Severity.critical, "x")


def test_severity_and_title_default_to_the_catalog():
    f = _ctx().add("TAR-SETUID", detail="bin/tool mode 4755")
    assert (f.severity, f.title) == (CATALOG["TAR-SETUID"].severity, CATALOG["TAR-SETUID"].title)
    g = _ctx().add("ZIP-SIZE-MISMATCH", Severity.low, "Member decompresses to fewer bytes than declared")
    assert g.severity is Severity.low


def test_yara_ids_are_taken_from_the_rule_metadata():
    f = _ctx().add("MSY-PKL-001", Severity.critical, "MAL_Pickle_OS_Command_Execution: ...")
    assert f.rule_id == "MSY-PKL-001"
    with pytest.raises(ValueError):
        _ctx().add("MSY-PKL-001")


def test_an_analyzer_emitting_an_undeclared_id_is_an_engine_error(monkeypatch):
    def analyzer(stream, ctx):
        ctx.add("MADE-UP-ID", Severity.high, "not declared")

    monkeypatch.setattr(scanner, "analyzer_for", lambda fmt: analyzer)
    [report] = scan_bytes(b"hello world", "a.txt")
    assert report.verdict.value == "error"
    assert [f.rule_id for f in report.findings] == ["ENGINE-ERROR"]
    assert "MADE-UP-ID" in report.findings[0].detail


# --- listings and docs ------------------------------------------------------------------------------------
def _section(text: str) -> str:
    return text[text.index(DOC_START):text.index(DOC_END) + len(DOC_END)] + "\n"


def test_docs_formats_findings_table_is_generated_from_the_catalog():
    doc = (REPO / "docs" / "formats.md").read_text("utf-8")
    assert _section(doc) == listing("markdown"), \
        "regenerate: modelscreen rules list --replace docs/formats.md"
    for rid in CATALOG:
        assert f"`{rid}`" in doc


def test_docs_rules_json_is_generated_from_the_catalog():
    assert (REPO / "docs" / "rules.json").read_text("utf-8") == listing("json"), \
        "regenerate: modelscreen rules list --format json > docs/rules.json"


@pytest.mark.parametrize("fmt", ["table", "json", "markdown"])
def test_rules_list_command(fmt):
    res = CliRunner().invoke(main, ["rules", "list", "--builtin", "--format", fmt])
    assert res.exit_code == 0, res.output
    assert "ZIP-HEADER-MISMATCH" in res.output and "MSY-PKL-001" not in res.output
    if fmt == "json":
        data = json.loads(res.output)
        assert {r["id"] for r in data["rules"]} == set(CATALOG) and data["yara"] == []


def test_rules_list_yara_only():
    res = CliRunner().invoke(main, ["rules", "list", "--yara", "--format", "json"])
    data = json.loads(res.output)
    assert data["rules"] == [] and any(m["id"] == "MSY-PKL-001" for m in data["yara"])


def test_rules_list_replace_writes_between_the_markers(tmp_path):
    doc = tmp_path / "formats.md"
    doc.write_text(f"# Formats\n\nintro\n\n{DOC_START}\nold\n{DOC_END}\n")
    res = CliRunner().invoke(main, ["rules", "list", "--replace", str(doc)])
    assert res.exit_code == 0, res.output
    text = doc.read_text()
    assert text.startswith("# Formats\n\nintro\n\n") and "\nold\n" not in text and _section(text) == listing("markdown")
    assert io.StringIO(text).read().count(DOC_START) == 1
