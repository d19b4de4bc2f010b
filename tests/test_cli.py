import json
import pickle
import subprocess
import sys

from click.testing import CliRunner

from modelscreen.cli import main


def _write(tmp_path, name, data):
    p = tmp_path / name
    p.write_bytes(data)
    return p


def test_scan_json_report_has_the_stable_keys(tmp_path):
    _write(tmp_path, "a.pkl", pickle.dumps({"w": [1.0, 2.0]}, protocol=4))
    (tmp_path / "sub").mkdir()
    _write(tmp_path / "sub", "notes.txt", b"hello\n")
    res = CliRunner().invoke(main, ["scan", "--format", "json", str(tmp_path)])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    assert set(doc) >= {"version", "artifacts"}
    paths = [a["path"] for a in doc["artifacts"]]
    assert paths == [str(tmp_path / "a.pkl"), str(tmp_path / "sub" / "notes.txt")]
    for art in doc["artifacts"]:
        assert set(art) >= {"path", "sha256", "size", "format", "verdict", "findings"}
        assert art["verdict"] == "clean"


def test_fail_on_sets_exit_code(tmp_path):
    p = _write(tmp_path, "weights.safetensors", pickle.dumps([1, 2, 3]))  # a pickle in disguise: medium
    runner = CliRunner()
    assert runner.invoke(main, ["scan", "--format", "json", str(p)]).exit_code == 0
    assert runner.invoke(main, ["scan", "--format", "json", "--fail-on", "medium", str(p)]).exit_code == 1
    assert runner.invoke(main, ["scan", "--fail-on", "nonsense", str(p)]).exit_code == 2
    assert runner.invoke(main, ["scan", str(tmp_path / "missing")]).exit_code == 2


def test_sarif_output_is_2_1_0(tmp_path):
    p = _write(tmp_path, "weights.safetensors", pickle.dumps([1, 2, 3]))
    res = CliRunner().invoke(main, ["scan", "--format", "sarif", str(p)])
    doc = json.loads(res.output)
    assert doc["version"] == "2.1.0"
    run = doc["runs"][0]
    assert run["tool"]["driver"]["name"] == "modelscreen"
    assert {r["ruleId"] for r in run["results"]} == {"FORMAT-EXTENSION-MISMATCH"}
    assert {r["id"] for r in run["tool"]["driver"]["rules"]} == {"FORMAT-EXTENSION-MISMATCH"}


def test_table_output(tmp_path):
    p = _write(tmp_path, "a.pkl", pickle.dumps([1]))
    res = CliRunner().invoke(main, ["scan", "--format", "table", str(p)])
    assert res.exit_code == 0
    assert "clean" in res.output and "a.pkl" in res.output


def test_console_script_runs(tmp_path):
    p = _write(tmp_path, "a.pkl", pickle.dumps([1]))
    out = subprocess.run([sys.executable, "-m", "modelscreen", "scan", "--format", "json", str(p)],
                         capture_output=True, text=True, check=True)
    assert json.loads(out.stdout)["artifacts"][0]["format"] == "pickle"
