"""Verify OpenSSF model signing bundles (package `model-signing`) with distinct findings.

The library verifies the bundle's signature and returns the signed manifest, then raises one
generic error for any file mismatch. To say *what* is wrong we split the two steps: the library's
verifier checks the signature and yields the signed manifest (the DSSE payload's in-toto statement:
one resource per file, with its digest); the model is then hashed with the library's hashing
configured as the manifest says, and the two are compared file by file.

Modes: a public key (ECDSA P-256/384/521: what the library supports), a signing certificate checked
against a CA chain, offline; Sigstore keyless only with an explicit trust configuration (a Sigstore
ClientTrustConfig JSON, or a bare trusted root), so nothing is fetched from the network.
"""
from __future__ import annotations

import hashlib
import json
import re
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from modelscreen.schemas import Finding, Severity
from modelscreen.schemas.inventory import SignatureInfo, SignatureStatus
from modelscreen.schemas.policy import DEFAULT_SEVERITIES
from modelscreen.provenance.checks import signer_allowed
from modelscreen.provenance.inventory import PROVENANCE_ANALYZER


class SignatureUsageError(Exception):
    """Bad arguments or unusable key material: not a verdict about the model."""


class BytesNeeded(Exception):
    """The signed manifest cannot be checked from a known sha256 and the model's bytes are not at hand."""


@dataclass
class SignatureCheck:
    method: str
    signer: str | None = None
    model_name: str | None = None
    files: int = 0
    findings: list[Finding] = field(default_factory=list)
    bundle: str | None = None

    @property
    def verified(self) -> bool:
        return not self.findings

    def info(self, *, bundle: str | None = None) -> SignatureInfo:
        return SignatureInfo(status=SignatureStatus.verified if self.verified else SignatureStatus.failed,
                             method=self.method, signer=self.signer, bundle=bundle or self.bundle,
                             checked_at=datetime.now(timezone.utc),
                             findings=sorted({f.rule_id for f in self.findings}))

    def to_json(self) -> dict[str, Any]:
        return {"verified": self.verified, "method": self.method, "signer": self.signer,
                "model_name": self.model_name, "files": self.files, "bundle": self.bundle,
                "findings": [f.model_dump(mode="json", exclude_none=True) for f in self.findings]}


def _f(rule_id: str, title: str, detail: str, severities: dict[str, Severity] | None, *,
       location: str | None = None) -> Finding:
    sev = (severities or {}).get(rule_id) or DEFAULT_SEVERITIES[rule_id]
    return Finding(rule_id=rule_id, severity=sev, title=title, detail=detail, location=location,
                   analyzer=PROVENANCE_ANALYZER)


def key_fingerprint(public_key) -> str:
    """The bundle's key hint: sha256 of the SubjectPublicKeyInfo PEM."""
    from cryptography.hazmat.primitives import serialization

    pem = public_key.public_bytes(encoding=serialization.Encoding.PEM,
                                  format=serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(pem).hexdigest()


def _load_ec_public_key(path: Path):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    try:
        key = serialization.load_pem_public_key(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise SignatureUsageError(f"{path}: not a PEM public key ({exc})") from None
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name not in ("secp256r1", "secp384r1",
                                                                               "secp521r1"):
        raise SignatureUsageError(f"{path}: model signing supports ECDSA keys on P-256, P-384 and P-521 only")
    return key


def _load_certs(path: Path):
    from cryptography import x509

    try:
        certs = x509.load_pem_x509_certificates(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise SignatureUsageError(f"{path}: not PEM certificates ({exc})") from None
    if not certs:
        raise SignatureUsageError(f"{path}: no certificate")
    return certs


def verify_model(model_path: str | Path, signature_path: str | Path, *, public_key: str | Path | None = None,
                 certificate: str | Path | None = None, chain: str | Path | None = None,
                 sigstore_identity: str | None = None, sigstore_issuer: str | None = None,
                 trust_config: str | Path | None = None, allowed_signers: list[str] | None = None,
                 severities: dict[str, Severity] | None = None, only: str | None = None,
                 sha256: str | None = None) -> SignatureCheck:
    """Verify `model_path` (a file or a directory) against the bundle at `signature_path`.

    `only` (a path relative to the directory `model_path`): check that one file against the signed
    manifest of the directory (the pipeline sees one file per event); the directory's other files are
    only checked for being there. `sha256`: that file's (or the single-file model's) sha256, when the
    caller hashed it already: a manifest of per-file sha256 digests is then checked without reading it
    again (BytesNeeded when another kind of manifest needs the bytes and they are not there).

    Raises SignatureUsageError for bad arguments; every problem with the model or the signature is
    a finding in the returned SignatureCheck (verified when there is none).
    """
    model_path, signature_path = Path(model_path), Path(signature_path)
    modes = [m for m, on in (("key", public_key), ("certificate", certificate or chain),
                             ("sigstore", sigstore_identity or sigstore_issuer)) if on]
    if len(modes) != 1:
        raise SignatureUsageError("give exactly one of: a public key, a certificate (and chain), or a Sigstore "
                                  "identity and issuer")
    if not model_path.exists() and sha256 is None:
        raise SignatureUsageError(f"{model_path}: no such file or directory")
    method = modes[0]
    check = SignatureCheck(method=method, bundle=str(signature_path))
    if method == "key":
        manifest = _verify_key(check, signature_path, Path(public_key), severities)
    elif method == "certificate":
        manifest = _verify_certificate(check, signature_path, Path(certificate) if certificate else None,
                                       Path(chain) if chain else None, severities)
    else:
        if not (sigstore_identity and sigstore_issuer):
            raise SignatureUsageError("Sigstore verification needs both an identity and an issuer")
        if not trust_config:
            raise SignatureUsageError("Sigstore keyless verification needs a trust configuration file "
                                      "(--trust-config): the public-good trust root is not fetched")
        manifest = _verify_sigstore(check, signature_path, sigstore_identity, sigstore_issuer, Path(trust_config),
                                    severities)
    if manifest is None:
        return check
    check.model_name = manifest.model_name
    if not signer_allowed(check.signer, allowed_signers):
        check.findings.append(_f("SIGNATURE-UNEXPECTED-SIGNER", "Signed by a signer the policy does not accept",
                                 f"signer {check.signer} is not one of {', '.join(allowed_signers or [])}",
                                 severities))
    check.findings.extend(compare_manifest(model_path, signature_path, manifest, severities, only=only,
                                           sha256=sha256))
    check.files = sum(1 for _ in manifest.resource_descriptors())
    return check


def _read_bundle(check: SignatureCheck, signature_path: Path, severities, *, sigstore: bool = False):
    try:
        if sigstore:
            from model_signing._signing import sign_sigstore as impl
        else:
            from model_signing._signing import sign_sigstore_pb as impl
        return impl.Signature.read(signature_path)
    except Exception as exc:  # noqa: BLE001 - any parse failure means: not a usable bundle
        check.findings.append(_f("SIGNATURE-INVALID", "Signature bundle cannot be read",
                                 f"{signature_path}: {type(exc).__name__}: {exc}"[:1000], severities))
        return None


def _verify_key(check: SignatureCheck, signature_path: Path, public_key: Path, severities):
    from model_signing._signing import sign_ec_key

    key = _load_ec_public_key(public_key)
    fingerprint = key_fingerprint(key)
    check.signer = f"key:sha256:{fingerprint}"
    sig = _read_bundle(check, signature_path, severities)
    if sig is None:
        return None
    material = sig.bundle.verification_material
    hint = getattr(getattr(material, "public_key", None), "hint", None)
    if hint and hint != fingerprint:
        check.signer = f"key:sha256:{hint}"
        check.findings.append(_f("SIGNATURE-UNEXPECTED-SIGNER", "Signed with a different key",
                                 f"the bundle was signed by key sha256:{hint}, not by the key given "
                                 f"(sha256:{fingerprint})", severities))
        return None
    try:
        return sign_ec_key.Verifier(public_key).verify(sig)
    except Exception as exc:  # noqa: BLE001 - InvalidSignature, ValueError, malformed envelopes
        check.findings.append(_f("SIGNATURE-INVALID", "Signature does not verify",
                                 f"{type(exc).__name__}: {exc}"[:1000] if str(exc) else type(exc).__name__,
                                 severities))
        return None


def _verify_certificate(check: SignatureCheck, signature_path: Path, certificate: Path | None, chain: Path | None,
                        severities):
    from cryptography import x509
    from OpenSSL import crypto
    from model_signing._signing import sign_certificate

    expected = _load_certs(certificate)[0] if certificate else None
    trust = [chain] if chain else [certificate]  # the CA chain when given, else a self-signed signing certificate
    for p in trust:
        _load_certs(p)
    sig = _read_bundle(check, signature_path, severities)
    if sig is None:
        return None
    try:
        leaf = x509.load_der_x509_certificate(sig.bundle.verification_material.x509_certificate_chain
                                              .certificates[0].raw_bytes)
    except Exception as exc:  # noqa: BLE001
        check.findings.append(_f("SIGNATURE-INVALID", "Signature bundle carries no signing certificate",
                                 f"{type(exc).__name__}: {exc}"[:1000], severities))
        return None
    check.signer = f"cert:{leaf.subject.rfc4514_string()}"
    if expected is not None and leaf != expected:
        check.findings.append(_f("SIGNATURE-UNEXPECTED-SIGNER", "Signed with a different certificate",
                                 f"the bundle's signing certificate is {leaf.subject.rfc4514_string()} (serial "
                                 f"{leaf.serial_number:x}), not the certificate given", severities))
        return None
    try:
        return sign_certificate.Verifier(trust).verify(sig)
    except crypto.X509StoreContextError as exc:
        check.findings.append(_f("SIGNATURE-UNEXPECTED-SIGNER", "Signing certificate is not trusted",
                                 f"{leaf.subject.rfc4514_string()} does not chain to a trusted certificate: "
                                 f"{exc}"[:1000],
                                 severities))
    except Exception as exc:  # noqa: BLE001
        check.findings.append(_f("SIGNATURE-INVALID", "Signature does not verify",
                                 f"{type(exc).__name__}: {exc}"[:1000] if str(exc) else type(exc).__name__,
                                 severities))
    return None


TRUST_MAX_BYTES = 4 << 20
_TRUSTED_ROOT_TYPE = "application/vnd.dev.sigstore.trustedroot+json"


def _client_trust_config(path: Path, tmp: Path) -> Path:
    """`path` itself when it is a ClientTrustConfig; a bare trusted root (what Sigstore's TUF repositories
    publish) wrapped into one with an empty signing config (verification reads only the root)."""
    with open(path, "rb") as fh:
        raw = fh.read(TRUST_MAX_BYTES + 1)
    if len(raw) > TRUST_MAX_BYTES:
        raise SignatureUsageError(f"{path}: larger than {TRUST_MAX_BYTES} bytes")
    doc = json.loads(raw)
    if not (isinstance(doc, dict) and str(doc.get("mediaType", "")).startswith(_TRUSTED_ROOT_TYPE)):
        return path
    wrapped = tmp / "client-trust-config.json"
    wrapped.write_text(json.dumps({
        "mediaType": "application/vnd.dev.sigstore.clienttrustconfig.v0.1+json", "trustedRoot": doc,
        "signingConfig": {"mediaType": "application/vnd.dev.sigstore.signingconfig.v0.2+json", "caUrls": [],
                          "oidcUrls": [], "rekorTlogUrls": [], "rekorTlogConfig": {"selector": "ANY"},
                          "tsaUrls": [], "tsaConfig": {"selector": "ANY"}}}))
    return wrapped


# sigstore's identity policy failures: "Certificate's SANs do not match ...", "... OIDCIssuer does not match ..."
_POLICY_FAILURE = re.compile(r"\b(SANs?|identity|issuer|OIDCIssuer\w*)\b.*\b(do|does) not match\b", re.IGNORECASE)


def _verify_sigstore(check: SignatureCheck, signature_path: Path, identity: str, issuer: str, trust_config: Path,
                     severities):
    from model_signing._signing import sign_sigstore

    check.signer = f"sigstore:{identity}"
    sig = _read_bundle(check, signature_path, severities, sigstore=True)
    if sig is None:
        return None
    try:
        with tempfile.TemporaryDirectory(prefix="modelscreen-trust-") as tmp:
            verifier = sign_sigstore.Verifier(identity=identity, oidc_issuer=issuer,
                                              trust_config=_client_trust_config(trust_config, Path(tmp)))
    except Exception as exc:  # noqa: BLE001
        raise SignatureUsageError(f"{trust_config}: unusable trust configuration (a Sigstore ClientTrustConfig "
                                  f"or trusted root JSON): {str(exc)[:300]}") from None
    try:
        return verifier.verify(sig)
    except Exception as exc:  # noqa: BLE001
        text = str(exc)
        unexpected = bool(_POLICY_FAILURE.search(text))  # the certificate verified; its identity did not match
        check.findings.append(_f("SIGNATURE-UNEXPECTED-SIGNER" if unexpected else "SIGNATURE-INVALID",
                                 "Sigstore verification failed", f"{type(exc).__name__}: {text}"[:1000], severities))
        return None


def _file_of(identifier: str, method: str) -> str:
    return identifier.rsplit(":", 2)[0] if method == "shards" else identifier


def compare_manifest(model_path: Path, signature_path: Path, expected, severities=None, *,
                     only: str | None = None, sha256: str | None = None) -> list[Finding]:
    """Hash the model as the signed manifest says and report tampered, extra and missing files
    (with `only`: compare that one file of the directory, and report signed files that are gone;
    `sha256`: see verify_model)."""
    from model_signing import hashing

    ser = dict(expected.serialization_type)
    method = ser.get("method", "files")
    allow_symlinks = ser.get("allow_symlinks") in (True, "true", "True")
    cfg = hashing.Config()
    try:
        if method == "shards":
            cfg.use_shard_serialization(hashing_algorithm=ser.get("hash_type", "sha256"),
                                        shard_size=int(ser["shard_size"]), allow_symlinks=allow_symlinks)
        else:
            cfg.use_file_serialization(hashing_algorithm=ser.get("hash_type", "sha256"),
                                       allow_symlinks=allow_symlinks)
    except (KeyError, ValueError) as exc:
        return [_f("SIGNATURE-INVALID", "Signed manifest uses an unknown serialization",
                   f"{json.dumps(ser, default=str)[:500]}: {exc}", severities)]
    ignored = [str(p) for p in ser.get("ignore_paths", [])]
    if model_path.is_dir():
        try:
            ignored.append(str(signature_path.resolve().relative_to(model_path.resolve())))
        except ValueError:
            pass
    cfg.set_ignored_paths(paths=ignored)

    def by_file(manifest) -> dict[str, dict[str, str]]:
        out: dict[str, dict[str, str]] = {}
        for rd in manifest.resource_descriptors():
            out.setdefault(_file_of(rd.identifier, method), {})[rd.identifier] = rd.digest.digest_hex
        return out

    single = only if only is not None else "." if not model_path.is_dir() else None
    if sha256 and single and method == "files" and ser.get("hash_type", "sha256") == "sha256":
        got = {single: {single: sha256}}  # a files/sha256 manifest holds each file's plain sha256
    elif not model_path.exists():
        raise BytesNeeded(f"{ser.get('method')}/{ser.get('hash_type')} manifest: the bytes must be hashed")
    else:
        try:
            got = by_file(cfg.hash(model_path, files_to_hash=[model_path / only]) if only is not None
                          else cfg.hash(model_path))
        except Exception as exc:  # noqa: BLE001 - symlinks refused, unreadable files
            raise SignatureUsageError(f"cannot hash {model_path}: {exc}") from None

    want = by_file(expected)
    gone: list[str] = []
    if only is not None:
        gone = sorted(k for k in want if k != only and not (model_path / k).is_file())
        want = {k: v for k, v in want.items() if k == only}
    findings = []
    for name in sorted(set(want) & set(got)):
        if want[name] != got[name]:
            parts = sorted(set(want[name].items()) ^ set(got[name].items()))
            findings.append(_f("SIGNATURE-TAMPERED-FILE", f"File changed after signing: {name}",
                               f"{name}: signed digest {next(iter(want[name].values()))[:16]}..., now "
                               f"{next(iter(got[name].values()))[:16]}... ({len(parts)} differing digests)",
                               severities, location=name))
    for name in sorted(set(got) - set(want)):
        findings.append(_f("SIGNATURE-EXTRA-FILE", f"File not covered by the signature: {name}",
                           f"{name} is in the model but not in the signed manifest", severities, location=name))
    for name in sorted(set(want) - set(got)) + gone:
        findings.append(_f("SIGNATURE-MISSING-FILE", f"Signed file is missing: {name}",
                           f"{name} is in the signed manifest but not in the model", severities, location=name))
    return findings
