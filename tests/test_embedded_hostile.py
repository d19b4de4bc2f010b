"""Embedded mode on hostile names and hostile search arguments: `watch` records and goes on,
`findings` gives usage errors (exit 2) and matches its text literally."""
from __future__ import annotations

import json
import os

from click.testing import CliRunner

from modelscreen.cli import main
from modelscreen.embedded.watch import watch
from modelscreen.sinks.sqlite_store import SqliteStore
from tests.corpus.hostile import generate as g


def _store_with_undecodable_names(tmp_path):
    d = g.undecodable_names_dir(tmp_path / "models", (b"caf\xe9.pkl", b"\xff\xfe.pt", b"good.pkl"))
    (d / "100%_sure.pkl").write_bytes(g.mp.os_system(g.CANARY))
    return d


def test_watch_records_undecodable_names_and_goes_on(tmp_path):
    d = _store_with_undecodable_names(tmp_path)
    with SqliteStore(tmp_path / "f.db") as store:
        assert watch(d, store, once=True) == 5
        assert watch(d, store, once=True) == 0  # recorded: a restart does not trip over them again
        paths = {f.path for f in store.search(rule="PICKLE-DANGEROUS-CALL")}
    assert len(paths) == 4 and any("%E9" in p or "\\udce9" in p for p in paths)


def test_watch_command_prints_json_lines_for_every_file(tmp_path):
    d = _store_with_undecodable_names(tmp_path)
    res = CliRunner().invoke(main, ["watch", "--once", "--db", str(tmp_path / "f.db"), str(d)])
    assert res.exit_code == 0, res.output
    lines = [json.loads(line) for line in res.stdout.splitlines()]
    assert len(lines) == 5
    raw = {bytes.fromhex(x["path_hex"]) for x in lines if x["path_hex"]}
    assert os.fsencode(d) + b"/caf\xe9.pkl" in raw


def test_findings_usage_errors_and_literal_matching(tmp_path):
    d = _store_with_undecodable_names(tmp_path)
    db = tmp_path / "f.db"
    runner = CliRunner()
    assert runner.invoke(main, ["watch", "--once", "--db", str(db), str(d)]).exit_code == 0
    for args in (["x" * 100_000], ["--path", "a\udcff"], ["--limit", str(10**30)], ["--limit", "0"],
                 ["--rule", "R" * 5000]):
        res = runner.invoke(main, ["findings", "--db", str(db), "--format", "json", *args])
        assert res.exit_code == 2, (args, res.output)
        assert "Traceback" not in res.output
    def paths(*args):
        res = runner.invoke(main, ["findings", "--db", str(db), "--format", "json", *args])
        assert res.exit_code == 0, res.output
        return {r["path"].rsplit("/", 1)[-1] for r in json.loads(res.output)}

    assert paths("--path", "0%25_sure") == {"100%25_sure.pkl"}  # the URI's own %25, matched literally
    assert paths("--path", "0_25") == set()  # `_` is no wildcard
    assert paths("--path", "%") == {"100%25_sure.pkl"} | {p for p in paths() if "%" in p}
