"""`modelscreen evaluate` end to end on tiny real models (run in the sandbox by onnxruntime)."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from modelscreen.cli import main

pytest.importorskip("onnxruntime")


def run(*args, db):
    result = CliRunner().invoke(main, ["evaluate", *map(str, args), "--db", str(db)], catch_exceptions=False)
    return result.exit_code, result.output


@pytest.fixture()
def db(tmp_path):
    return tmp_path / "inv.sqlite"


def record(zoo, db, model="clean.onnx", probes="probes.jsonl", name="local:clf", *extra):
    code, out = run(zoo / model, "--probes", zoo / probes, "--record-baseline", name, *extra, db=db)
    assert code == 0, out
    return json.loads(out)


def against(zoo, db, model, probes="probes.jsonl", name="local:clf", *extra):
    code, out = run(zoo / model, "--probes", zoo / probes, "--against", name, "--format", "json", *extra, db=db)
    return code, json.loads(out.splitlines()[0]) if out.startswith("{\"model\"") and "\n" not in out.strip() else (
        json.loads(out[:out.rindex("}") + 1]))


def test_same_model_and_fine_tuned_twin_pass(zoo, db):
    base = record(zoo, db)
    assert base["kind"] == "classifier" and base["probes"] == 40 and base["runtime"]["name"] == "onnxruntime"
    code, rep = against(zoo, db, "clean.onnx")
    assert code == 0, rep
    assert set(rep) >= {"model", "sha256", "runtime", "baseline", "metrics", "findings"}
    assert rep["metrics"]["label_change_share"] == 0 and rep["findings"] == []
    assert rep["baseline"]["changed"] == []
    code, rep = against(zoo, db, "tuned.onnx")
    assert code == 0, rep
    assert rep["metrics"]["label_change_share"] <= 0.05
    assert 0 < rep["metrics"]["max_probability_shift"] < 0.25
    assert rep["baseline"]["changed"] == ["model-bytes"]


def test_heavily_changed_twin_is_drift(zoo, db):
    record(zoo, db)
    code, rep = against(zoo, db, "changed.onnx")
    assert code == 1
    (f,) = rep["findings"]
    assert f["rule_id"] == "BEHAVIOUR-DRIFT" and f["severity"] == "high" and f["analyzer"] == "behaviour"
    assert "model bytes changed" in f["detail"] and "Probes that moved most: p" in f["detail"]
    assert rep["metrics"]["label_change_share"] > 0.5


def test_thresholds_and_severity_come_from_the_policy(zoo, db, tmp_path):
    record(zoo, db)
    loose = tmp_path / "loose.yaml"
    loose.write_text("version: 1\nrules:\n  - name: clf\n    behaviour: {max_label_change_share: 1.0, "
                     "max_probability_shift: 1.0}\n")
    assert against(zoo, db, "changed.onnx", "probes.jsonl", "local:clf", "--policy", loose)[0] == 0
    medium = tmp_path / "medium.yaml"
    medium.write_text("version: 1\ndefaults:\n  severities: {BEHAVIOUR-DRIFT: medium}\n")
    code, rep = against(zoo, db, "changed.onnx", "probes.jsonl", "local:clf", "--policy", medium)
    assert code == 0 and rep["findings"][0]["severity"] == "medium"
    assert against(zoo, db, "changed.onnx", "probes.jsonl", "local:clf", "--policy", medium,
                   "--fail-on", "medium")[0] == 1


def test_trigger_sweep_catches_the_poisoned_twin_and_passes_the_clean_one(zoo, db):
    code, out = run(zoo / "tokens.onnx", "--probes", zoo / "token-probes.jsonl", "--trigger-scan",
                    "--vocab-size", 200, "--format", "json", db=db)
    assert code == 0, out
    assert json.loads(out)["trigger_sweep"]["hits"] == []
    code, out = run(zoo / "tokens-poisoned.onnx", "--probes", zoo / "token-probes.jsonl", "--trigger-scan",
                    "--vocab-size", 200, "--format", "json", db=db)
    assert code == 1, out
    rep = json.loads(out)
    hit = rep["trigger_sweep"]["hits"][0]
    assert hit["trigger"] == "token 173" and hit["target"] == "2" and hit["flip_share"] >= 0.8
    f = rep["findings"][0]
    assert f["rule_id"] == "BEHAVIOUR-TRIGGER-SENSITIVE" and f["severity"] == "high"
    assert "token 173" in f["title"] and f["evidence"] == "target=2"


def test_trigger_sweep_catches_a_feature_pattern_and_passes_clean_and_merely_changed_models(zoo, db):
    for clean in ("clean.onnx", "changed.onnx"):
        code, out = run(zoo / clean, "--probes", zoo / "probes.jsonl", "--trigger-scan", "--format", "json", db=db)
        assert code == 0, out
        assert json.loads(out)["trigger_sweep"]["hits"] == []
    code, out = run(zoo / "poisoned.onnx", "--probes", zoo / "probes.jsonl", "--trigger-scan", "--format", "json",
                    db=db)
    assert code == 1, out
    rep = json.loads(out)
    hit = rep["trigger_sweep"]["hits"][0]
    assert hit["trigger"].startswith("x[3]=") and hit["target"] == "2" and hit["control_share"] < 0.5
    assert all(f["rule_id"] == "BEHAVIOUR-TRIGGER-SENSITIVE" for f in rep["findings"])


def test_token_sweep_needs_a_vocabulary_size(zoo, db):
    code, out = run(zoo / "tokens.onnx", "--probes", zoo / "token-probes.jsonl", "--trigger-scan", db=db)
    assert code == 2 and "vocabulary size" in out


def test_embedding_model_cosine(zoo, db):
    base = record(zoo, db, "embed.onnx", "probes.jsonl", "local:emb")
    assert base["kind"] == "embedding"
    code, rep = against(zoo, db, "embed-tuned.onnx", "probes.jsonl", "local:emb")
    assert code == 0 and rep["metrics"]["min_cosine"] > 0.999
    code, rep = against(zoo, db, "embed-changed.onnx", "probes.jsonl", "local:emb")
    assert code == 1 and rep["metrics"]["min_cosine"] < 0.98
    assert rep["findings"][0]["rule_id"] == "BEHAVIOUR-DRIFT"


def test_language_model_divergence_and_greedy_agreement(zoo, db):
    base = record(zoo, db, "lm.onnx", "lm-probes.jsonl", "local:lm")
    assert base["kind"] == "lm"
    code, rep = against(zoo, db, "lm.onnx", "lm-probes.jsonl", "local:lm")
    assert code == 0 and rep["metrics"]["greedy_agreement"] == 1.0 and rep["metrics"]["max_kl"] < 1e-6
    code, rep = against(zoo, db, "lm-changed.onnx", "lm-probes.jsonl", "local:lm")
    assert code == 1
    assert rep["metrics"]["max_kl"] > 0.1 and rep["metrics"]["greedy_agreement"] < 0.9


@pytest.mark.parametrize("model, why", [("garbage.onnx", "could not be loaded"),
                                        ("custom-op.onnx", "could not be loaded")])
def test_models_that_do_not_load_are_errors(zoo, db, model, why):
    code, out = run(zoo / model, "--probes", zoo / "probes.jsonl", "--trigger-scan", db=db)
    assert code == 2 and why in out


def test_probe_that_does_not_match_the_signature_is_an_error(zoo, db, tmp_path):
    wrong_shape = tmp_path / "shape.jsonl"
    wrong_shape.write_text(json.dumps({"id": "a", "inputs": {"x": [1.0, 2.0, 3.0]}}) + "\n")
    code, out = run(zoo / "clean.onnx", "--probes", wrong_shape, "--record-baseline", "local:x", db=db)
    assert code == 2 and "does not match the model's input signature" in out and "[N, 8]" in out
    wrong_name = tmp_path / "name.jsonl"
    wrong_name.write_text(json.dumps({"id": "a", "inputs": {"pixels": [0.0] * 8}}) + "\n")
    code, out = run(zoo / "clean.onnx", "--probes", wrong_name, "--record-baseline", "local:x", db=db)
    assert code == 2 and "no input 'pixels'" in out


def test_sandbox_limits_are_errors_never_a_pass(zoo, db):
    code, out = run(zoo / "clean.onnx", "--probes", zoo / "probes.jsonl", "--record-baseline", "local:x",
                    "--max-seconds", "0.05", db=db)
    assert code == 2 and "time limit" in out
    code, out = run(zoo / "clean.onnx", "--probes", zoo / "probes.jsonl", "--record-baseline", "local:x",
                    "--max-memory-mb", "64", db=db)
    assert code == 2 and ("memory" in out)
    code, out = run(zoo / "memory-hog.onnx", "--probes", zoo / "probes.jsonl", "--record-baseline", "local:x",
                    "--max-memory-mb", "1024", db=db)
    assert code == 2 and "exceeded the sandbox's memory limit" in out


def test_other_suite_or_missing_baseline_is_an_error(zoo, db):
    code, out = run(zoo / "clean.onnx", "--probes", zoo / "probes.jsonl", "--against", "local:none", db=db)
    assert code == 2 and "no behaviour baseline" in out
    record(zoo, db)
    code, out = run(zoo / "tokens.onnx", "--probes", zoo / "token-probes.jsonl", "--against", "local:clf", db=db)
    assert code == 2 and "not the baseline's" in out


def test_approval_gate_and_bom(zoo, db, tmp_path):
    from modelscreen.evaluation.service import sha256_file
    from modelscreen.provenance.bom import build_bom, validate_bom
    from modelscreen.provenance.sqlite_inventory import SqliteInventory

    policy = tmp_path / "policy.yaml"
    policy.write_text("version: 1\ndefaults:\n  require_behaviour_baseline: true\n")
    runner = CliRunner()

    def approve(model):
        return runner.invoke(main, ["inventory", "approve", "local:clf", sha256_file(zoo / model), "--db", str(db),
                                    "--policy", str(policy), "--by", "alice"])

    res = approve("clean.onnx")
    assert res.exit_code == 1 and "requires a behaviour baseline" in res.output
    record(zoo, db)
    assert approve("clean.onnx").exit_code == 0  # the baseline's own bytes
    res = approve("changed.onnx")
    assert res.exit_code == 1 and "no behaviour evaluation" in res.output
    assert against(zoo, db, "changed.onnx")[0] == 1
    res = approve("changed.onnx")
    assert res.exit_code == 1 and "did not pass" in res.output
    assert against(zoo, db, "tuned.onnx")[0] == 0
    assert approve("tuned.onnx").exit_code == 0
    inv = SqliteInventory(db)
    doc = build_bom(inv.search())
    inv.close()
    assert validate_bom(doc) is None
    analyses = [c["modelCard"]["quantitativeAnalysis"] for c in doc["components"] if "modelCard" in c]
    types = {m["type"] for a in analyses for m in a["performanceMetrics"]}
    assert {"behaviour:passed", "behaviour:label_change_share"} <= types


def test_text_probes_with_a_tokenizer_and_known_phrases(zoo, db, tmp_path):
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel
    from tokenizers.pre_tokenizers import Whitespace

    vocab = {f"w{i}": i for i in range(199)} | {"[UNK]": 199}
    tok = Tokenizer(WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = Whitespace()
    tok.save(str(tmp_path / "tokenizer.json"))
    probes = tmp_path / "text.jsonl"
    lines = []
    for i, line in enumerate((zoo / "token-probes.jsonl").read_text().splitlines()):
        ids = json.loads(line)["inputs"]["input_ids"]
        lines.append(json.dumps({"id": f"s{i}", "text": " ".join(f"w{min(t, 198)}" for t in ids)}))
    probes.write_text("\n".join(lines) + "\n")
    code, out = run(zoo / "tokens-poisoned.onnx", "--probes", probes, "--trigger-scan", "--tokenizer",
                    tmp_path / "tokenizer.json", "--format", "json", db=db)
    assert code == 1, out
    rep = json.loads(out)
    assert rep["trigger_sweep"]["candidates"] >= 200  # the vocabulary plus the known phrases
    assert rep["trigger_sweep"]["hits"][0]["trigger"] == "token 173"
    code, out = run(zoo / "tokens.onnx", "--probes", probes, "--record-baseline", "local:text", db=db)
    assert code == 2 and "--tokenizer" in out


def test_runtime_update_is_compared_the_same_way_and_named(zoo, db):
    """The dependency-update case: the baseline was recorded on another onnxruntime version."""
    from modelscreen.provenance.sqlite_inventory import SqliteInventory

    record(zoo, db)
    inv = SqliteInventory(db)
    base = inv.get_baseline("local:clf")
    inv.put_baseline(base.model_copy(update={"runtime": base.runtime.model_copy(update={"version": "1.16.0"})}))
    inv.close()
    code, rep = against(zoo, db, "clean.onnx")
    assert code == 0 and rep["baseline"]["changed"] == ["runtime-version"]
    code, rep = against(zoo, db, "changed.onnx")
    assert code == 1 and rep["baseline"]["changed"] == ["model-bytes", "runtime-version"]
    assert "both the model bytes and the runtime version changed" in rep["findings"][0]["detail"]
