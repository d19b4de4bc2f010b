"""Sigstore keyless model signatures, verified offline against a private Sigstore trust root.

The bundles come from tests/provenance/sigstore_fixture.py: a Fulcio-style CA, CT log and Rekor-style log
made at test time. The verifier (model-signing's Sigstore verifier, i.e. sigstore-python's) runs unchanged:
certificate chain at the log's integrated time, SCT, identity policy, inclusion proof and signed checkpoint,
signed entry timestamp, DSSE signature, log entry consistency.
"""
from __future__ import annotations

import base64
import json
from datetime import datetime, timedelta, timezone

import click
import pytest

pytest.importorskip("model_signing")
pytest.importorskip("sigstore")

from click.testing import CliRunner  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402

from tests.provenance.sigstore_fixture import OIDC_ISSUER, PrivateSigstore, TransparencyLog  # noqa: E402
from tests.provenance.test_signatures import flip_byte, model  # noqa: E402,F401 - the same model directory fixture
from modelscreen.commands.provenance import verify  # noqa: E402
from modelscreen.provenance.signatures import SignatureUsageError, verify_model  # noqa: E402

SIGNER = "alice@example.test"


@pytest.fixture(scope="module")
def sigstore_instance():
    return PrivateSigstore()


@pytest.fixture
def trust_config(tmp_path, sigstore_instance):
    return sigstore_instance.write_trust_config(tmp_path / "trust_config.json")


@pytest.fixture
def signed(tmp_path, model, sigstore_instance, trust_config):
    sig = sigstore_instance.sign_model(model, tmp_path / "model.sig", SIGNER)
    return model, sig, trust_config


def keyless(model, sig, trust_config, identity=SIGNER, issuer=OIDC_ISSUER, **kwargs):
    return verify_model(model, sig, sigstore_identity=identity, sigstore_issuer=issuer, trust_config=trust_config,
                        **kwargs)


def rules(check):
    return [f.rule_id for f in check.findings]


def test_the_bundle_is_a_sigstore_keyless_bundle(signed):
    _, sig, _ = signed
    bundle = json.loads(sig.read_text())
    assert bundle["mediaType"] == "application/vnd.dev.sigstore.bundle.v0.3+json"
    entry = bundle["verificationMaterial"]["tlogEntries"][0]
    assert entry["kindVersion"] == {"kind": "dsse", "version": "0.0.1"}
    assert entry["inclusionPromise"]["signedEntryTimestamp"] and entry["inclusionProof"]["hashes"]
    assert "publicKey" not in bundle["verificationMaterial"]  # a certificate, not a key


def test_verified_with_the_right_identity_issuer_and_trust_config(signed):
    model, sig, trust = signed
    check = keyless(model, sig, trust)
    assert check.verified and check.findings == [] and check.method == "sigstore"
    assert check.signer == f"sigstore:{SIGNER}" and check.files == 3 and check.model_name == "model"
    assert check.info().status.value == "verified"


@pytest.mark.parametrize("identity, issuer", [("mallory@example.test", OIDC_ISSUER),
                                              (SIGNER, "https://accounts.other.test")])
def test_wrong_identity_or_issuer_is_an_unexpected_signer(signed, identity, issuer):
    model, sig, trust = signed
    check = keyless(model, sig, trust, identity=identity, issuer=issuer)
    assert rules(check) == ["SIGNATURE-UNEXPECTED-SIGNER"] and not check.verified


def test_certificate_from_another_oidc_issuer_is_an_unexpected_signer(tmp_path, model, sigstore_instance, trust_config):
    sig = sigstore_instance.sign_model(model, tmp_path / "other-issuer.sig", SIGNER,
                                       issuer="https://accounts.other.test")
    check = keyless(model, sig, trust_config)
    assert rules(check) == ["SIGNATURE-UNEXPECTED-SIGNER"]
    assert "https://accounts.other.test" in check.findings[0].detail


def test_flipped_byte_is_a_tampered_file(signed):
    model, sig, trust = signed
    flip_byte(model / "model.safetensors")
    check = keyless(model, sig, trust)
    assert rules(check) == ["SIGNATURE-TAMPERED-FILE"] and check.findings[0].location == "model.safetensors"
    assert check.signer == f"sigstore:{SIGNER}"  # the signature itself verified


def test_added_and_removed_files(signed):
    model, sig, trust = signed
    (model / "config.json").unlink()
    (model / "sub" / "payload.pkl").write_bytes(b"\x80\x04N.")
    assert sorted(rules(keyless(model, sig, trust))) == ["SIGNATURE-EXTRA-FILE", "SIGNATURE-MISSING-FILE"]


def test_short_lived_certificate_verifies_after_it_expired(tmp_path, model):
    # The certificate was valid for ten minutes a month ago; the log's signed integration time says the
    # signature was made then, which is what keyless verification checks.
    old = PrivateSigstore(now=datetime.now(timezone.utc).replace(microsecond=0) - timedelta(days=30))
    sig = old.sign_model(model, tmp_path / "old.sig", SIGNER)
    check = keyless(model, sig, old.write_trust_config(tmp_path / "old-trust.json"))
    assert check.verified, check.findings


def _forge_payload(sig, out):
    bundle = json.loads(sig.read_text())
    payload = json.loads(base64.b64decode(bundle["dsseEnvelope"]["payload"]))
    payload["predicate"]["resources"][0]["digest"] = "0" * 64
    bundle["dsseEnvelope"]["payload"] = base64.b64encode(json.dumps(payload).encode()).decode()
    out.write_text(json.dumps(bundle))
    return out


@pytest.mark.parametrize("defect", ["another Sigstore instance", "no SCT", "SCT from an unknown CT log",
                                    "entry in an unknown transparency log", "integrated after the certificate expired",
                                    "integrated before the certificate was valid", "forged payload"])
def test_each_verification_step_is_enforced(tmp_path, model, sigstore_instance, trust_config, defect):
    sig = tmp_path / "defect.sig"
    if defect == "another Sigstore instance":
        PrivateSigstore().sign_model(model, sig, SIGNER)
    elif defect == "no SCT":
        sigstore_instance.sign_model(model, sig, SIGNER, sct=False)
    elif defect == "SCT from an unknown CT log":
        sigstore_instance.sign_model(model, sig, SIGNER, ct_key=ec.generate_private_key(ec.SECP256R1()))
    elif defect == "entry in an unknown transparency log":
        sigstore_instance.sign_model(model, sig, SIGNER, log=TransparencyLog())
    elif defect == "integrated after the certificate expired":
        sigstore_instance.sign_model(model, sig, SIGNER, integrated_at=sigstore_instance.now + timedelta(hours=1))
    elif defect == "integrated before the certificate was valid":
        sigstore_instance.sign_model(model, sig, SIGNER, integrated_at=sigstore_instance.now - timedelta(hours=1))
    else:
        sig = _forge_payload(sigstore_instance.sign_model(model, tmp_path / "good.sig", SIGNER), sig)
    check = keyless(model, sig, trust_config)
    assert rules(check) == ["SIGNATURE-INVALID"], check.findings


def test_allowed_signers(signed):
    model, sig, trust = signed
    assert keyless(model, sig, trust, allowed_signers=["sigstore:*@example.test"]).verified
    check = keyless(model, sig, trust, allowed_signers=["sigstore:release@example.test"])
    assert rules(check) == ["SIGNATURE-UNEXPECTED-SIGNER"]


def test_keyless_needs_a_trust_configuration(signed, tmp_path, sigstore_instance):
    model, sig, _ = signed
    with pytest.raises(SignatureUsageError, match="trust configuration"):
        keyless(model, sig, None)
    with pytest.raises(SignatureUsageError, match="identity and an issuer"):
        verify_model(model, sig, sigstore_identity=SIGNER, trust_config=tmp_path / "x.json")
    garbage = tmp_path / "garbage.json"
    garbage.write_text("{}")
    with pytest.raises(SignatureUsageError, match="unusable trust configuration"):
        keyless(model, sig, garbage)


def test_a_bare_trusted_root_is_accepted_as_trust(signed, tmp_path, sigstore_instance):
    model, sig, _ = signed
    root = tmp_path / "trusted_root.json"
    root.write_text(json.dumps(sigstore_instance.trusted_root()))
    assert keyless(model, sig, root).verified
    other = tmp_path / "other_root.json"
    other.write_text(json.dumps(PrivateSigstore().trusted_root()))
    assert rules(keyless(model, sig, other)) == ["SIGNATURE-INVALID"]
    (tmp_path / "not.json").write_text("not json")
    with pytest.raises(SignatureUsageError, match="unusable trust configuration"):
        keyless(model, sig, tmp_path / "not.json")


# --- the CLI ---------------------------------------------------------------------------------------------

@click.group()
def cli() -> None:
    """The verify command as workers/cli.py registers it."""


cli.add_command(verify)


def run(*args):
    return CliRunner().invoke(cli, ["verify", *map(str, args)], catch_exceptions=False)


def test_cli_keyless_exit_codes(signed):
    model, sig, trust = signed
    base = [model, "--signature", sig, "--trust-config", trust, "--sigstore-issuer", OIDC_ISSUER]
    ok = run(*base, "--sigstore-identity", SIGNER, "--format", "json")
    assert ok.exit_code == 0, ok.output
    out = json.loads(ok.output)
    assert out["verified"] and out["method"] == "sigstore" and out["signer"] == f"sigstore:{SIGNER}"

    wrong = run(*base, "--sigstore-identity", "mallory@example.test", "--format", "json")
    assert wrong.exit_code == 1
    assert [f["rule_id"] for f in json.loads(wrong.output)["findings"]] == ["SIGNATURE-UNEXPECTED-SIGNER"]

    assert run(model, "--signature", sig, "--sigstore-identity", SIGNER,
               "--sigstore-issuer", OIDC_ISSUER).exit_code == 2  # no trust configuration: nothing is fetched

    (model / "config.json").write_text('{"base_model": "org/evil"}')
    tampered = run(*base, "--sigstore-identity", SIGNER, "--format", "table")
    assert tampered.exit_code == 1
    assert "FAILED" in tampered.output and "SIGNATURE-TAMPERED-FILE" in tampered.output
