"""The provenance commands through click's CliRunner: inventory, verify (exit 0/1/2), diff."""
from __future__ import annotations

import json

import click
import numpy as np
import pytest
from click.testing import CliRunner
from safetensors.numpy import save_file

from modelscreen.schemas import Verdict
from tests.provenance.conftest import make_result, malicious_finding, sha
from modelscreen.commands.provenance import diff, inventory, verify
from modelscreen.provenance.sqlite_inventory import SqliteInventory

IDENT = "s3/models:org/model.safetensors@v1"


@click.group()
def cli() -> None:
    """The commands as workers/cli.py registers them."""


cli.add_command(inventory)
cli.add_command(verify)
cli.add_command(diff)


@pytest.fixture
def db(tmp_path, monkeypatch):
    path = tmp_path / "findings.db"
    monkeypatch.setenv("MODELSCREEN_DB", str(path))
    monkeypatch.delenv("MODELSCREEN_INVENTORY_BACKEND", raising=False)
    monkeypatch.setenv("MODELSCREEN_USER", "tester")
    with SqliteInventory(path) as inv:
        inv.record(make_result(content=b"good"))
        inv.record(make_result(content=b"evil", verdict=Verdict.malicious, findings=[malicious_finding()]))
    return path


def run(*args):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_list_and_show(db):
    out = run("inventory", "list", "--format", "json")
    assert out.exit_code == 0
    assert {r["sha256"] for r in json.loads(out.output)} == {sha(b"good"), sha(b"evil")}
    table = run("inventory", "list", "--format", "table")
    assert table.exit_code == 0 and "IDENTITY" in table.output and IDENT in table.output
    shown = run("inventory", "show", IDENT, sha(b"good"))
    assert shown.exit_code == 0 and json.loads(shown.output)["sha256"] == sha(b"good")
    assert run("inventory", "show", "s3/models:nope@v1").exit_code == 1
    assert run("inventory", "show", "not an identity").exit_code == 2


def test_approve_refuse_force_revoke(db):
    ok = run("inventory", "approve", IDENT, sha(b"good"), "--reason", "reviewed")
    assert ok.exit_code == 0 and json.loads(ok.output)["by"] == "tester"
    refused = run("inventory", "approve", IDENT, "--sha256", sha(b"evil"))
    assert refused.exit_code == 1 and "refused" in refused.output
    forced = run("inventory", "approve", IDENT, sha(b"evil"), "--force", "--reason", "accepted risk")
    assert forced.exit_code == 0 and json.loads(forced.output)["forced"] is True
    listed = json.loads(run("inventory", "list", "--approval", "approved", "--format", "json").output)
    assert len(listed) == 2
    revoked = run("inventory", "revoke", IDENT, sha(b"evil"), "--reason", "no")
    assert revoked.exit_code == 0 and json.loads(revoked.output)["revoked"][0]["sha256"] == sha(b"evil")
    assert run("inventory", "approve", IDENT).exit_code == 2  # no sha256
    assert run("inventory", "approve", IDENT, "xyz").exit_code == 2


def test_approve_records_lineage_from_a_config(db, tmp_path):
    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps({"base_model": "org/base", "datasets": ["org/data"]}))
    assert run("inventory", "approve", IDENT, sha(b"good"), "--model-config", str(cfg)).exit_code == 0
    rec = json.loads(run("inventory", "show", IDENT, sha(b"good")).output)
    assert rec["base_model"] == "org/base" and rec["datasets"] == ["org/data"]


def test_pin_and_unpin(db):
    assert run("inventory", "pin", IDENT, sha(b"good")).exit_code == 0
    assert json.loads(run("inventory", "list", "--pinned", "--format", "json").output)[0]["sha256"] == sha(b"good")
    assert run("inventory", "pin", IDENT, sha(b"evil")).exit_code == 1  # malicious: refused
    assert run("inventory", "pin", IDENT, "--remove").exit_code == 0
    assert json.loads(run("inventory", "list", "--pinned", "--format", "json").output) == []


def test_export_cyclonedx(db, tmp_path):
    from modelscreen.provenance.bom import validate_bom

    out = tmp_path / "bom.json"
    res = run("inventory", "export", "--format", "cyclonedx", "-o", str(out))
    assert res.exit_code == 0
    assert validate_bom(out.read_text()) is None
    assert json.loads(run("inventory", "export").output)["specVersion"] == "1.6"


@pytest.fixture
def signed(tmp_path):
    pytest.importorskip("model_signing")
    from tests.provenance.test_signatures import sign_with_key, write_key
    from cryptography.hazmat.primitives.asymmetric import ec

    model = tmp_path / "model"
    model.mkdir()
    (model / "weights.bin").write_bytes(b"weights")
    priv, pub = write_key(tmp_path / "k.pem", ec.generate_private_key(ec.SECP256R1()))
    _, other = write_key(tmp_path / "o.pem", ec.generate_private_key(ec.SECP256R1()))
    sig = tmp_path / "model.sig"
    sign_with_key(model, sig, priv)
    return model, sig, pub, other


def test_verify_exit_codes(signed, db):
    model, sig, pub, other = signed
    ok = run("verify", str(model), "--signature", str(sig), "--public-key", str(pub), "--format", "json")
    assert ok.exit_code == 0 and json.loads(ok.output)["verified"] is True
    wrong = run("verify", str(model), "--signature", str(sig), "--public-key", str(other), "--format", "json")
    assert wrong.exit_code == 1
    assert [f["rule_id"] for f in json.loads(wrong.output)["findings"]] == ["SIGNATURE-UNEXPECTED-SIGNER"]
    (model / "weights.bin").write_bytes(b"changed")
    tampered = run("verify", str(model), "--signature", str(sig), "--public-key", str(pub), "--format", "table")
    assert tampered.exit_code == 1 and "SIGNATURE-TAMPERED-FILE" in tampered.output and "FAILED" in tampered.output
    # usage errors and unusable inputs: 2
    assert run("verify", str(model), "--public-key", str(pub)).exit_code == 2
    assert run("verify", str(model), "--signature", str(sig)).exit_code == 2
    assert run("verify", str(model), "--signature", str(sig), "--sigstore-identity", "a@b.c",
               "--sigstore-issuer", "https://issuer.example").exit_code == 2
    assert run("verify", str(model) + "-missing", "--signature", str(sig), "--public-key", str(pub)).exit_code == 2


def test_verify_records_the_signer_in_the_inventory(signed, db):
    model, sig, pub, _ = signed
    res = run("verify", str(model), "--signature", str(sig), "--public-key", str(pub),
              "--record", "local:team/model", "--format", "json")
    assert res.exit_code == 0
    signer = json.loads(res.output)["signer"]
    with SqliteInventory(db) as inv:
        [rec] = inv.search(sha256=sha(b"weights"))
    assert rec.identity == "local:team/model#weights.bin"
    assert rec.signature.status.value == "verified" and rec.signature.signer == signer


def test_verify_against_the_hub(tmp_path, monkeypatch):
    from tests.provenance import hub_fixture
    from modelscreen.provenance import hf

    snap = hub_fixture.write_snapshot(tmp_path / "snap")
    monkeypatch.setattr(hf, "urllib_getter", lambda *a, **k: hub_fixture.Recorded())
    ref = f"{hub_fixture.REPO}@{hub_fixture.COMMIT}"
    args = ["verify", str(snap), "--hf", ref, "--endpoint", hub_fixture.ENDPOINT, "--format", "json"]
    assert run(*args).exit_code == 0
    (snap / "config.json").write_text("{}")
    res = run(*args)
    assert res.exit_code == 1 and json.loads(res.output)["findings"][0]["rule_id"] == "HF-PIN-DIGEST-MISMATCH"
    missing_rev = ["verify", str(snap), "--hf", f"{hub_fixture.REPO}@{'f' * 40}", "--endpoint",
                   hub_fixture.ENDPOINT]
    assert run(*missing_rev).exit_code == 2


def test_pin_from_the_hub(db, monkeypatch):
    from tests.provenance import hub_fixture
    from modelscreen.provenance import hf

    monkeypatch.setattr(hf, "urllib_getter", lambda *a, **k: hub_fixture.Recorded())
    res = run("inventory", "pin", "--hf", f"{hub_fixture.REPO}@{hub_fixture.COMMIT}", "--endpoint",
              hub_fixture.ENDPOINT)
    assert res.exit_code == 0 and len(json.loads(res.output)["pinned"]) == 4


def test_diff_command(tmp_path):
    a, b = tmp_path / "a.safetensors", tmp_path / "b.safetensors"
    save_file({"w": np.zeros((2, 2), dtype=np.float32)}, str(a))
    save_file({"w": np.ones((2, 2), dtype=np.float32), "x": np.zeros(1, dtype=np.int8)}, str(b))
    res = run("diff", str(a), str(b), "--format", "json")
    assert res.exit_code == 1
    changes = {c["tensor"]: c["kind"] for c in json.loads(res.output)["files"][0]["changes"]}
    assert changes == {"w": "changed", "x": "added"}
    table = run("diff", str(a), str(b), "--format", "table")
    assert "changed" in table.output and "added" in table.output
    assert run("diff", str(a), str(a)).exit_code == 0
    assert run("diff", str(a), str(tmp_path)).exit_code == 2
