"""The benign corpus (tests/fixtures/make_benign_corpus.py, committed under tests/fixtures/benign_corpus/):
artifacts people really ship. None may be malicious; at most 5% suspicious, each with a medium finding
that says why."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from modelscreen.engine import scan_bytes

ROOT = Path(__file__).resolve().parents[1] / "fixtures" / "benign_corpus"
MANIFEST = json.loads((ROOT / "MANIFEST.json").read_text())["files"]


def _scan(name: str):
    reports = scan_bytes((ROOT / name).read_bytes(), Path(name).name)
    return max(reports, key=lambda r: r.verdict.rank).verdict.value, [f for r in reports for f in r.findings]


def test_corpus_is_large_and_small():
    assert len(MANIFEST) >= 60
    assert sum((ROOT / n).stat().st_size for n in MANIFEST) < 5 << 20


@pytest.mark.parametrize("name", sorted(MANIFEST))
def test_never_malicious(name):
    verdict, findings = _scan(name)
    assert verdict != "malicious", [(f.rule_id, f.severity.value, f.title) for f in findings]


def test_few_suspicious_each_explained():
    suspicious = {}
    for name in MANIFEST:
        verdict, findings = _scan(name)
        if verdict == "suspicious":
            medium = [f for f in findings if f.severity.value == "medium"]
            assert medium and all(f.detail for f in medium), name
            suspicious[name] = [f.rule_id for f in medium]
    assert len(suspicious) <= 0.05 * len(MANIFEST), suspicious


@pytest.mark.parametrize("prefix, needles", [
    ("xgboost/", [b"xgboost.sklearn", b"XGBClassifier", b"XGBRegressor", b"Booster"]),
    ("onnx/contrib_", [b"com.microsoft", b"FusedMatMul", b"Gelu", b"Attention", b"SkipLayerNormalization"]),
])
def test_covers_xgboost_and_onnx_contrib_ops(prefix, needles):
    names = [n for n in MANIFEST if n.startswith(prefix)]
    blob = b"".join((ROOT / n).read_bytes() for n in names)
    assert all(n in blob for n in needles), prefix
    if prefix == "xgboost/":
        assert any(n.endswith(".joblib") for n in names) and any(n.endswith(".pkl") for n in names)
    assert [n for n in names if _scan(n)[0] != "clean"] == []
