"""The policy file: parsing, validation, rule matching."""
from __future__ import annotations

from pathlib import Path

import pytest

from modelscreen.schemas import Severity
from modelscreen.schemas.policy import ProvenancePolicy
from modelscreen.provenance import PolicyError, load_policy, parse_policy

EXAMPLE = Path(__file__).resolve().parents[2] / "deploy" / "policy.example.yaml"


def test_the_example_policy_validates():
    policy = load_policy(EXAMPLE)
    assert policy.version == 1 and len(policy.rules) == 3
    prod = policy.for_artifact("s3", "prod-models", "org/model.safetensors")
    assert prod.require_signature and prod.require_approval
    assert prod.format_refused("pickle") and prod.format_refused("pytorch-legacy")
    assert not prod.format_refused("safetensors")
    assert prod.severity("PROVENANCE-UNAPPROVED-DOWNLOAD") is Severity.critical
    assert prod.severity("PINNED-ARTIFACT-CHANGED") is Severity.critical
    other = policy.for_artifact("s3", "dev", "x.pkl")
    assert not other.require_signature and not other.format_refused("pickle") and other.matched_rules == []
    mirror = policy.for_artifact("artifactory", "remote", "hf-mirror/org/model.bin")
    assert mirror.require_approval and mirror.format_refused("pickle") and not mirror.format_refused("gguf")
    scratch = policy.for_artifact("s3", "scratch-42", "anything")
    assert scratch.severity("PROVENANCE-PENDING-APPROVAL") is Severity.info


def test_later_rules_override_only_what_they_set():
    policy = parse_policy("""
rules:
  - store: s3
    require_approval: true
    denied_formats: [pickle]
  - store: s3
    name: "scratch/*"
    require_approval: false
""")
    eff = policy.for_artifact("s3", None, "scratch/a.pkl")
    assert eff.require_approval is False and eff.format_refused("pickle") and eff.matched_rules == [0, 1]
    assert policy.for_artifact("s3", None, "prod/a.pkl").require_approval is True


@pytest.mark.parametrize("text, message", [
    ("rules: [{store: s3, requre_approval: true}]", "requre_approval"),
    ("defaults: {severities: {NOT-A-RULE: high}}", "unknown provenance finding"),
    ("defaults: {severities: {SIGNATURE-MISSING: urgent}}", "severities"),
    ("version: 2", "version"),
    ("- a list", "must be a mapping"),
    ("a: [unclosed", "not YAML"),
    ("!!python/object/apply:os.system ['true']", "not YAML"),
])
def test_invalid_policies_are_refused_with_a_reason(text, message):
    with pytest.raises(PolicyError, match=message):
        parse_policy(text)


def test_no_policy_is_permissive(monkeypatch):
    monkeypatch.delenv("MODELSCREEN_PROVENANCE_POLICY", raising=False)
    assert load_policy() == ProvenancePolicy()
    eff = ProvenancePolicy().for_artifact("s3", None, "x")
    assert not eff.require_approval and not eff.require_signature and not eff.format_refused("pickle")


def test_policy_from_environment(tmp_path, monkeypatch):
    p = tmp_path / "policy.yaml"
    p.write_text("defaults: {require_approval: true}\n")
    monkeypatch.setenv("MODELSCREEN_PROVENANCE_POLICY", str(p))
    assert load_policy().defaults.require_approval is True
    with pytest.raises(PolicyError):
        load_policy(tmp_path / "missing.yaml")
