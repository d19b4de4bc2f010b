import json
import pickle

from click.testing import CliRunner

from modelscreen.cli import main
from modelscreen.embedded.watch import watch
from modelscreen.sinks.sqlite_store import SqliteStore


def test_watch_scans_new_and_changed_files_once(tmp_path):
    store_dir = tmp_path / "store"
    store_dir.mkdir()
    (store_dir / "a.pkl").write_bytes(pickle.dumps([1, 2, 3]))
    with SqliteStore(tmp_path / "f.db") as store:
        assert watch(store_dir, store, once=True) == 1
        assert watch(store_dir, store, once=True) == 0  # unchanged: not scanned again
        (store_dir / "w.safetensors").write_bytes(pickle.dumps({"x": 1}))  # disguised pickle: medium
        assert watch(store_dir, store, once=True) == 1
        found = list(store.search(rule="FORMAT-EXTENSION-*"))
        assert [f.path for f in found] == [(store_dir / "w.safetensors").resolve().as_uri()]
        assert found[0].action == "uploaded" and found[0].event_id


def test_rescanning_the_same_bytes_does_not_duplicate_findings(tmp_path):
    f = tmp_path / "w.safetensors"
    f.write_bytes(pickle.dumps({"x": 1}))
    from modelscreen.engine import scan_path

    with SqliteStore(tmp_path / "f.db") as store:
        for _ in range(3):
            store.record(scan_path(f))
        assert len(list(store.search())) == 1
        art = store.artifact(scan_path(f)[0].sha256)
        assert art["verdict"] == "suspicious" and art["paths"] == [str(f)]


def test_watch_and_findings_commands(tmp_path):
    d = tmp_path / "models"
    d.mkdir()
    (d / "x.json").write_bytes(pickle.dumps([1]))
    db = tmp_path / "f.db"
    runner = CliRunner()
    res = runner.invoke(main, ["watch", "--once", "--db", str(db), str(d)])
    assert res.exit_code == 0, res.output
    line = json.loads(res.output.strip().splitlines()[0])
    assert line["verdict"] == "suspicious"
    res = runner.invoke(main, ["findings", "--db", str(db), "--format", "json", "--severity", "medium"])
    assert [r["rule_id"] for r in json.loads(res.output)] == ["FORMAT-EXTENSION-MISMATCH"]
    res = runner.invoke(main, ["findings", "--db", str(db), "--format", "json", "nothing-like-this"])
    assert json.loads(res.output) == []


def test_watch_reports_tensor_drift_between_versions_of_a_file(tmp_path):
    import numpy as np
    from safetensors.numpy import save_file

    d = tmp_path / "models"
    d.mkdir()
    f = d / "clf.safetensors"
    save_file({"a": np.ones(4, dtype=np.float32), "b": np.zeros(2, dtype=np.float32)}, str(f))
    with SqliteStore(tmp_path / "f.db") as store:
        assert watch(d, store, once=True) == 1
        assert not list(store.search(rule="MODEL-TENSOR-DRIFT"))
        save_file({"a": np.ones(4, dtype=np.float32) * 2, "b": np.zeros(2, dtype=np.float32)}, str(f))
        assert watch(d, store, once=True) == 1
        drift = list(store.search(rule="MODEL-TENSOR-DRIFT"))
        assert len(drift) == 1 and "1 changed, 0 added, 0 removed" in drift[0].title
