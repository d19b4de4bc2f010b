"""Standard output carries only the report, whatever a library prints while scanning."""
import json
import os
import subprocess
import sys
import textwrap


def _su(s: str) -> bytes:
    b = s.encode()
    return b"\x8c" + bytes([len(b)]) + b


# STACK_GLOBAL whose module name is computed (fetched from the memo): fickling cannot follow it and warns.
COMPUTED_STACK_GLOBAL = (b"\x80\x04" + _su("builtins") + b"\x94" + b"0" + b"h\x00" + _su("len") + b"\x93"
                         + _su("abc") + b"\x85R.")

# Any dependency that prints, at the Python level and straight to file descriptor 1 (as C code would):
# installed by a sitecustomize module, so in the command and in the sandboxed children that scan.
NOISY_SITE = textwrap.dedent("""
    import os
    import modelscreen.engine.pickle.second_opinion as so
    real = so.fickling_opinion
    def noisy(*a, **k):
        print("Warning: malformed pickle file (python print)")
        os.write(1, b"raw write to fd 1 from C\\n")
        return real(*a, **k)
    so.fickling_opinion = noisy
""")
NOISY = textwrap.dedent("""
    import sys
    from modelscreen.cli import main
    sys.argv = ["modelscreen"] + sys.argv[1:]
    main()
""")


def _run(args, tmp_path):
    site = tmp_path / "site"
    site.mkdir(exist_ok=True)
    (site / "sitecustomize.py").write_text(NOISY_SITE)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")]))}
    return subprocess.run([sys.executable, "-c", NOISY, *args], capture_output=True, cwd=tmp_path, timeout=120,
                          env=env)


def test_json_report_parses_although_dependencies_print(tmp_path):
    (tmp_path / "a.pkl").write_bytes(COMPUTED_STACK_GLOBAL)
    (tmp_path / "b.pkl").write_bytes(COMPUTED_STACK_GLOBAL + b"")
    out = _run(["scan", "--format", "json", str(tmp_path)], tmp_path)
    doc = json.loads(out.stdout)  # nothing but the report
    assert {a["path"].rsplit("/", 1)[-1] for a in doc["artifacts"]} >= {"a.pkl", "b.pkl"}
    assert b"raw write to fd 1" in out.stderr and b"python print" in out.stderr


def test_sarif_report_parses_although_dependencies_print(tmp_path):
    (tmp_path / "a.pkl").write_bytes(COMPUTED_STACK_GLOBAL)
    out = _run(["scan", "--format", "sarif", str(tmp_path / "a.pkl")], tmp_path)
    assert json.loads(out.stdout)["version"] == "2.1.0"


def test_output_file_holds_only_the_report(tmp_path):
    (tmp_path / "a.pkl").write_bytes(COMPUTED_STACK_GLOBAL)
    report = tmp_path / "r.json"
    out = _run(["scan", "--format", "json", "-o", str(report), str(tmp_path / "a.pkl")], tmp_path)
    assert out.stdout == b""
    assert json.loads(report.read_text())["artifacts"]


def test_watch_json_lines_stay_json(tmp_path):
    store = tmp_path / "store"
    store.mkdir()
    (store / "a.pkl").write_bytes(COMPUTED_STACK_GLOBAL)
    out = _run(["watch", "--once", "--settle", "0", "--db", str(tmp_path / "f.db"), str(store)], tmp_path)
    lines = [json.loads(line) for line in out.stdout.decode().splitlines()]
    assert [line["path"].rsplit("/", 1)[-1] for line in lines] == ["a.pkl"]
