"""OpenSSF model signatures: each way a verification fails is its own finding."""
from __future__ import annotations

import datetime as dt
import json
import shutil

import pytest

pytest.importorskip("model_signing")

from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from cryptography.x509.oid import NameOID  # noqa: E402

from modelscreen.provenance.signatures import SignatureUsageError, verify_model  # noqa: E402


def write_key(path, key):
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    pub = path.with_suffix(".pub")
    pub.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                  serialization.PublicFormat.SubjectPublicKeyInfo))
    return path, pub


def sign_with_key(model, sig, key_path):
    import model_signing

    model_signing.signing.Config().use_elliptic_key_signer(private_key=key_path).sign(model, sig)


@pytest.fixture
def keys(tmp_path):
    k1 = write_key(tmp_path / "signer.pem", ec.generate_private_key(ec.SECP256R1()))
    k2 = write_key(tmp_path / "other.pem", ec.generate_private_key(ec.SECP256R1()))
    return k1, k2


@pytest.fixture
def model(tmp_path):
    d = tmp_path / "model"
    (d / "sub").mkdir(parents=True)
    (d / "model.safetensors").write_bytes(b"\x00" * 64 + b"weights")
    (d / "config.json").write_text('{"base_model": "org/base"}')
    (d / "sub" / "tokenizer.json").write_text("{}")
    return d


@pytest.fixture
def signed(tmp_path, model, keys):
    (priv, pub), _ = keys
    sig = tmp_path / "model.sig"
    sign_with_key(model, sig, priv)
    return model, sig, pub


def rules(check):
    return [f.rule_id for f in check.findings]


def test_verified_with_the_right_key(signed):
    model, sig, pub = signed
    check = verify_model(model, sig, public_key=pub)
    assert check.verified and check.findings == [] and check.files == 3 and check.method == "key"
    assert check.signer.startswith("key:sha256:") and len(check.signer) == len("key:sha256:") + 64
    assert check.info().status.value == "verified"


def flip_byte(path, at: int = 3) -> None:
    data = bytearray(path.read_bytes())
    data[at] ^= 0x01
    path.write_bytes(bytes(data))


def test_flipped_byte_is_a_tampered_file(signed):
    model, sig, pub = signed
    flip_byte(model / "model.safetensors")
    check = verify_model(model, sig, public_key=pub)
    assert rules(check) == ["SIGNATURE-TAMPERED-FILE"]
    assert check.findings[0].location == "model.safetensors" and check.findings[0].severity.value == "critical"
    assert check.info().findings == ["SIGNATURE-TAMPERED-FILE"]


def test_added_file_is_an_extra_file(signed):
    model, sig, pub = signed
    (model / "sub" / "payload.pkl").write_bytes(b"\x80\x04N.")
    check = verify_model(model, sig, public_key=pub)
    assert rules(check) == ["SIGNATURE-EXTRA-FILE"] and check.findings[0].location == "sub/payload.pkl"


def test_removed_file_is_a_missing_file(signed):
    model, sig, pub = signed
    (model / "config.json").unlink()
    check = verify_model(model, sig, public_key=pub)
    assert rules(check) == ["SIGNATURE-MISSING-FILE"] and check.findings[0].location == "config.json"


def test_wrong_key_is_an_unexpected_signer(signed, keys):
    model, sig, _ = signed
    _, (_, other_pub) = keys
    check = verify_model(model, sig, public_key=other_pub)
    assert rules(check) == ["SIGNATURE-UNEXPECTED-SIGNER"]


def test_forged_signature_is_invalid(signed, tmp_path):
    model, sig, pub = signed
    bundle = json.loads(sig.read_text())
    import base64

    payload = json.loads(base64.b64decode(bundle["dsseEnvelope"]["payload"]))
    payload["predicate"]["resources"][0]["digest"] = "0" * 64
    bundle["dsseEnvelope"]["payload"] = base64.b64encode(json.dumps(payload).encode()).decode()
    forged = tmp_path / "forged.sig"
    forged.write_text(json.dumps(bundle))
    assert rules(verify_model(model, forged, public_key=pub)) == ["SIGNATURE-INVALID"]
    garbage = tmp_path / "garbage.sig"
    garbage.write_text("not a bundle")
    assert rules(verify_model(model, garbage, public_key=pub)) == ["SIGNATURE-INVALID"]


def test_several_problems_at_once(signed):
    model, sig, pub = signed
    (model / "config.json").unlink()
    (model / "extra.bin").write_bytes(b"x")
    (model / "model.safetensors").write_bytes(b"changed")
    assert sorted(rules(verify_model(model, sig, public_key=pub))) == [
        "SIGNATURE-EXTRA-FILE", "SIGNATURE-MISSING-FILE", "SIGNATURE-TAMPERED-FILE"]


def test_signature_inside_the_model_directory_is_not_an_extra_file(model, keys, tmp_path):
    (priv, pub), _ = keys
    staging = tmp_path / "sig-staging.sig"
    sign_with_key(model, staging, priv)
    shutil.move(staging, model / "model.sig")
    assert verify_model(model, model / "model.sig", public_key=pub).verified


def test_single_file_model(model, keys, tmp_path):
    (priv, pub), _ = keys
    f = model / "model.safetensors"
    sig = tmp_path / "file.sig"
    sign_with_key(f, sig, priv)
    assert verify_model(f, sig, public_key=pub).verified
    f.write_bytes(b"other")
    assert rules(verify_model(f, sig, public_key=pub)) == ["SIGNATURE-TAMPERED-FILE"]


def test_allowed_signers(signed):
    model, sig, pub = signed
    ok = verify_model(model, sig, public_key=pub, allowed_signers=["key:sha256:*"])
    assert ok.verified
    bad = verify_model(model, sig, public_key=pub, allowed_signers=["cert:CN=release*"])
    assert rules(bad) == ["SIGNATURE-UNEXPECTED-SIGNER"]


def _name(cn):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn), x509.NameAttribute(NameOID.ORGANIZATION_NAME,
                                                                                      "Example Corp")])


def _cert(subject, issuer, pub, signer_key, *, ca):
    now = dt.datetime.now(dt.timezone.utc)
    b = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(pub)
         .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
         .not_valid_after(now + dt.timedelta(days=30))
         .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
         .add_extension(x509.KeyUsage(digital_signature=not ca, content_commitment=False, key_encipherment=False,
                                      data_encipherment=False, key_agreement=False, key_cert_sign=ca,
                                      crl_sign=ca, encipher_only=False, decipher_only=False), critical=True))
    return b.sign(signer_key, hashes.SHA256())


@pytest.fixture
def pki(tmp_path):
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _cert(_name("Example Root CA"), _name("Example Root CA"), ca_key.public_key(), ca_key, ca=True)
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    leaf = _cert(_name("ml-release"), ca.subject, leaf_key.public_key(), ca_key, ca=False)
    other_ca_key = ec.generate_private_key(ec.SECP256R1())
    other_ca = _cert(_name("Other CA"), _name("Other CA"), other_ca_key.public_key(), other_ca_key, ca=True)
    paths = {}
    for name, obj in (("ca", ca), ("leaf", leaf), ("other_ca", other_ca)):
        paths[name] = tmp_path / f"{name}.crt"
        paths[name].write_bytes(obj.public_bytes(serialization.Encoding.PEM))
    paths["leaf_key"], _ = write_key(tmp_path / "leaf.pem", leaf_key)
    return paths


def test_certificate_signing_offline(model, pki, tmp_path):
    import model_signing

    sig = tmp_path / "cert.sig"
    model_signing.signing.Config().use_certificate_signer(
        private_key=pki["leaf_key"], signing_certificate=pki["leaf"], certificate_chain=[pki["ca"]]).sign(model, sig)
    check = verify_model(model, sig, certificate=pki["leaf"], chain=pki["ca"])
    assert check.verified and check.method == "certificate"
    assert check.signer.startswith("cert:") and "CN=ml-release" in check.signer
    from modelscreen.provenance import load_policy
    from modelscreen.provenance.checks import signer_allowed
    from tests.provenance.test_policy import EXAMPLE

    prod = load_policy(EXAMPLE).for_artifact("s3", "prod-models", "x")
    assert signer_allowed(check.signer, prod.allowed_signers)
    assert verify_model(model, sig, chain=pki["ca"]).verified
    untrusted = verify_model(model, sig, chain=pki["other_ca"])
    assert rules(untrusted) == ["SIGNATURE-UNEXPECTED-SIGNER"]
    not_this_cert = verify_model(model, sig, certificate=pki["ca"], chain=pki["ca"])
    assert rules(not_this_cert) == ["SIGNATURE-UNEXPECTED-SIGNER"]
    (model / "config.json").write_text("{}")
    assert rules(verify_model(model, sig, certificate=pki["leaf"], chain=pki["ca"])) == ["SIGNATURE-TAMPERED-FILE"]


def test_usage_errors(signed, tmp_path):
    model, sig, pub = signed
    with pytest.raises(SignatureUsageError):
        verify_model(model, sig)  # no mode
    with pytest.raises(SignatureUsageError):
        verify_model(model, sig, public_key=pub, chain=pub)  # two modes
    with pytest.raises(SignatureUsageError, match="trust configuration"):
        verify_model(model, sig, sigstore_identity="a@example.com", sigstore_issuer="https://issuer.example")
    ed = tmp_path / "ed.pub"
    from cryptography.hazmat.primitives.asymmetric import ed25519

    ed.write_bytes(ed25519.Ed25519PrivateKey.generate().public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    with pytest.raises(SignatureUsageError, match="P-256"):
        verify_model(model, sig, public_key=ed)
