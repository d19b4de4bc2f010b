"""A private Sigstore instance, made at test time, to verify keyless model signatures offline.

What the public-good instance provides, made here with `cryptography`:

* a Fulcio-style CA (a root and an intermediate) that issues short-lived code-signing certificates
  to an OIDC identity: the identity as a SAN (an email), the OIDC issuer as Fulcio's extensions
  (1.3.6.1.4.1.57264.1.1, raw, and .1.8, a DER UTF8String), and an embedded SCT;
* a certificate transparency log key that signs that SCT (RFC 6962, over the precertificate);
* a Rekor-style transparency log (RFC 6962 Merkle tree) that records the signature as a
  `dsse/0.0.1` entry and returns a signed entry timestamp (the inclusion promise, whose
  integrated time is the verifier's source of time) and an inclusion proof with a signed
  checkpoint;
* a client trust configuration (`ClientTrustConfig` JSON: the trusted root and a signing
  configuration) that names those keys and certificates.

No timestamp authority: with a Rekor v1 entry's inclusion promise the verifier has its one
source of verified time.

`PrivateSigstore.sign_model` signs a model with model-signing: its hashing makes the manifest,
its `Payload` the in-toto statement, and a model-signing `Signer` (here: the private Fulcio and
Rekor in process instead of an OIDC flow and network services) makes the Sigstore bundle that
model-signing writes. The bundle is the Sigstore bundle v0.3 format, as the public-good services
would return it; nothing in the verifier is replaced.

The host names are reserved `.test` names; nothing is ever contacted.
"""
from __future__ import annotations

import base64
import hashlib
import json
import secrets
import struct
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

OIDC_ISSUER = "https://oauth2.sigstore.test/auth"
FULCIO_URL = "https://fulcio.sigstore.test"
REKOR_URL = "https://rekor.sigstore.test"
CTLOG_URL = "https://ctfe.sigstore.test/test"

OID_FULCIO_ISSUER = ObjectIdentifier("1.3.6.1.4.1.57264.1.1")      # raw bytes of the issuer URL
OID_FULCIO_ISSUER_V2 = ObjectIdentifier("1.3.6.1.4.1.57264.1.8")   # DER UTF8String
OID_SCT_LIST = ObjectIdentifier("1.3.6.1.4.1.11129.2.4.2")          # RFC 6962 embedded SCTs

DSSE_PAYLOAD_TYPE = "application/vnd.in-toto+json"
BUNDLE_MEDIA_TYPE = "application/vnd.dev.sigstore.bundle.v0.3+json"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def spki_der(public_key) -> bytes:
    return public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def key_id(public_key) -> bytes:
    """RFC 6962 key ID (what Sigstore calls a log ID): sha256 of the SubjectPublicKeyInfo."""
    return hashlib.sha256(spki_der(public_key)).digest()


def rfc3339(t: datetime) -> str:
    return t.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _der(tag: int, content: bytes) -> bytes:
    n = len(content)
    if n < 0x80:
        length = bytes([n])
    else:
        raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
        length = bytes([0x80 | len(raw)]) + raw
    return bytes([tag]) + length + content


def _u24(n: int) -> bytes:
    return n.to_bytes(3, "big")


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE v1 pre-authentication encoding."""
    t = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(t), t, len(payload), payload)


def _ecdsa(key: ec.EllipticCurvePrivateKey, data: bytes) -> bytes:
    return key.sign(data, ec.ECDSA(hashes.SHA256()))


# --- RFC 6962 Merkle tree ---------------------------------------------------------------------------------

def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def _node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than n (n > 1)."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def merkle_root(leaves: list[bytes]) -> bytes:
    if len(leaves) == 1:
        return leaves[0]
    k = _split(len(leaves))
    return _node(merkle_root(leaves[:k]), merkle_root(leaves[k:]))


def inclusion_path(index: int, leaves: list[bytes]) -> list[bytes]:
    """RFC 6962 PATH(m, D[n]): the audit path of leaf `index`, bottom up."""
    if len(leaves) == 1:
        return []
    k = _split(len(leaves))
    if index < k:
        return inclusion_path(index, leaves[:k]) + [merkle_root(leaves[k:])]
    return inclusion_path(index - k, leaves[k:]) + [merkle_root(leaves[:k])]


@dataclass
class TransparencyLog:
    """A Rekor v1-style log: entries are leaves of one Merkle tree; a P-256 key signs promises and checkpoints."""

    name: str = "rekor.sigstore.test"
    key: ec.EllipticCurvePrivateKey = field(default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))
    tree_id: int = field(default_factory=lambda: secrets.randbits(62))
    leaves: list[bytes] = field(default_factory=list)

    def __post_init__(self) -> None:
        # Other people's entries, so that the proof of ours is a real path through the tree.
        for i in range(5):
            self.leaves.append(leaf_hash(b"earlier entry %d" % i))

    @property
    def log_id(self) -> bytes:
        return key_id(self.key.public_key())

    def checkpoint(self, size: int, root: bytes) -> str:
        """A signed note (transparency-dev checkpoint format) over the tree head."""
        note = f"{self.name} - {self.tree_id}\n{size}\n{b64(root)}\n"
        sig = self.log_id[:4] + _ecdsa(self.key, note.encode())
        return f"{note}\n\u2014 {self.name} {b64(sig)}\n"

    def add(self, body: bytes, integrated_time: int, *, extra_leaves: int = 2) -> dict:
        """Append `body` (canonicalized entry JSON); return the bundle's `tlogEntries` item."""
        index = len(self.leaves)
        self.leaves.append(leaf_hash(body))
        for i in range(extra_leaves):  # entries integrated after ours, before the checkpoint
            self.leaves.append(leaf_hash(b"later entry %d.%d" % (index, i)))
        size = len(self.leaves)
        root = merkle_root(self.leaves)
        # The signed entry timestamp: RFC 8785 JSON of these four members (ASCII strings and integers:
        # sorted keys and no whitespace is that canonical form).
        promise = json.dumps({"body": b64(body), "integratedTime": integrated_time, "logID": self.log_id.hex(),
                              "logIndex": index}, sort_keys=True, separators=(",", ":")).encode()
        return {
            "logIndex": str(index),
            "logId": {"keyId": b64(self.log_id)},
            "kindVersion": {"kind": "dsse", "version": "0.0.1"},
            "integratedTime": str(integrated_time),
            "inclusionPromise": {"signedEntryTimestamp": b64(_ecdsa(self.key, promise))},
            "inclusionProof": {
                "logIndex": str(index),
                "rootHash": b64(root),
                "treeSize": str(size),
                "hashes": [b64(h) for h in inclusion_path(index, self.leaves)],
                "checkpoint": {"envelope": self.checkpoint(size, root)},
            },
            "canonicalizedBody": b64(body),
        }


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "sigstore.test"),
                      x509.NameAttribute(NameOID.COMMON_NAME, cn)])


class PrivateSigstore:
    """A self-made Sigstore instance: Fulcio CA, CT log, Rekor log and the trust configuration naming them."""

    def __init__(self, *, now: datetime | None = None) -> None:
        self.now = now or datetime.now(timezone.utc).replace(microsecond=0)
        self.start = self.now - timedelta(days=1)
        self.root_key = ec.generate_private_key(ec.SECP384R1())
        self.intermediate_key = ec.generate_private_key(ec.SECP384R1())
        self.ct_key = ec.generate_private_key(ec.SECP256R1())
        self.log = TransparencyLog()
        end = self.now + timedelta(days=365)
        self.root = self._ca_cert(_name("sigstore"), self.root_key, _name("sigstore"), self.root_key, end,
                                  path_length=1)
        self.intermediate = self._ca_cert(_name("sigstore-intermediate"), self.intermediate_key, self.root.subject,
                                          self.root_key, end, path_length=0, code_signing=True)

    def _ca_cert(self, subject, key, issuer, issuer_key, end, *, path_length, code_signing=False):
        b = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(key.public_key())
             .serial_number(x509.random_serial_number()).not_valid_before(self.start).not_valid_after(end)
             .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
             .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                          data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                          crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
             .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False))
        if issuer_key is not key:
            b = b.add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
                                critical=False)
        if code_signing:
            b = b.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), critical=False)
        return b.sign(issuer_key, hashes.SHA384())

    # --- trust configuration --------------------------------------------------------------------------------

    def _tlog(self, url: str, public_key) -> dict:
        return {"baseUrl": url, "hashAlgorithm": "SHA2_256",
                "publicKey": {"rawBytes": b64(spki_der(public_key)), "keyDetails": "PKIX_ECDSA_P256_SHA_256",
                              "validFor": {"start": rfc3339(self.start)}},
                "logId": {"keyId": b64(key_id(public_key))}}

    def trusted_root(self) -> dict:
        return {
            "mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
            "tlogs": [self._tlog(REKOR_URL, self.log.key.public_key())],
            "certificateAuthorities": [{
                "subject": {"organization": "sigstore.test", "commonName": "sigstore"},
                "uri": FULCIO_URL,
                "certChain": {"certificates": [{"rawBytes": b64(c.public_bytes(serialization.Encoding.DER))}
                                               for c in (self.intermediate, self.root)]},
                "validFor": {"start": rfc3339(self.start)},
            }],
            "ctlogs": [self._tlog(CTLOG_URL, self.ct_key.public_key())],
            "timestampAuthorities": [],
        }

    def signing_config(self) -> dict:
        valid = {"start": rfc3339(self.start)}
        return {
            "mediaType": "application/vnd.dev.sigstore.signingconfig.v0.2+json",
            "caUrls": [{"url": FULCIO_URL, "majorApiVersion": 1, "validFor": valid, "operator": "sigstore.test"}],
            "oidcUrls": [{"url": OIDC_ISSUER, "majorApiVersion": 1, "validFor": valid, "operator": "sigstore.test"}],
            "rekorTlogUrls": [{"url": REKOR_URL, "majorApiVersion": 1, "validFor": valid,
                               "operator": "sigstore.test"}],
            "rekorTlogConfig": {"selector": "ANY"},
            "tsaUrls": [],
            "tsaConfig": {"selector": "ANY"},
        }

    def trust_config(self) -> dict:
        return {"mediaType": "application/vnd.dev.sigstore.clienttrustconfig.v0.1+json",
                "trustedRoot": self.trusted_root(), "signingConfig": self.signing_config()}

    def write_trust_config(self, path: Path) -> Path:
        path.write_text(json.dumps(self.trust_config(), indent=2))
        return path

    # --- Fulcio ---------------------------------------------------------------------------------------------

    def _sct_extension(self, tbs_precert: bytes, timestamp_ms: int, ct_key) -> x509.UnrecognizedExtension:
        """An RFC 6962 SCT for the precertificate `tbs_precert`, as the embedded SCT list extension."""
        issuer_key_hash = key_id(self.intermediate_key.public_key())
        signed = (struct.pack("!BBQH", 0, 0, timestamp_ms, 1)  # v1, certificate_timestamp, time, precert_entry
                  + issuer_key_hash + _u24(len(tbs_precert)) + tbs_precert
                  + struct.pack("!H", 0))  # no CT extensions
        sig = _ecdsa(ct_key, signed)
        sct = (bytes([0]) + key_id(ct_key.public_key()) + struct.pack("!QH", timestamp_ms, 0)
               + bytes([4, 3]) + struct.pack("!H", len(sig)) + sig)  # sha256, ecdsa
        sct_list = struct.pack("!H", len(sct) + 2) + struct.pack("!H", len(sct)) + sct
        return x509.UnrecognizedExtension(OID_SCT_LIST, _der(0x04, sct_list))

    def issue_certificate(self, public_key, identity: str, *, issuer: str = OIDC_ISSUER,
                          not_before: datetime | None = None, lifetime: timedelta = timedelta(minutes=10),
                          sct: bool = True, ct_key=None) -> x509.Certificate:
        """A Fulcio-style short-lived code-signing certificate for an OIDC identity (an email address)."""
        not_before = not_before or self.now - timedelta(minutes=1)
        b = (x509.CertificateBuilder().subject_name(x509.Name([])).issuer_name(self.intermediate.subject)
             .public_key(public_key).serial_number(x509.random_serial_number())
             .not_valid_before(not_before).not_valid_after(not_before + lifetime)
             .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                          data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                          crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
             .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), critical=False)
             .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
             .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self.intermediate_key.public_key()),
                            critical=False)
             .add_extension(x509.SubjectAlternativeName([x509.RFC822Name(identity)]), critical=True)
             .add_extension(x509.UnrecognizedExtension(OID_FULCIO_ISSUER, issuer.encode()), critical=False)
             .add_extension(x509.UnrecognizedExtension(OID_FULCIO_ISSUER_V2, _der(0x0C, issuer.encode())),
                            critical=False))
        if not sct:
            return b.sign(self.intermediate_key, hashes.SHA384())
        # The precertificate's TBS is the final TBS without the SCT list: build it first, then log it.
        tbs = b.sign(self.intermediate_key, hashes.SHA384()).tbs_certificate_bytes
        ext = self._sct_extension(tbs, int(not_before.timestamp() * 1000), ct_key or self.ct_key)
        cert = b.add_extension(ext, critical=False).sign(self.intermediate_key, hashes.SHA384())
        assert cert.tbs_precertificate_bytes == tbs
        return cert

    # --- signing: the bundle Fulcio + Rekor would give a Sigstore client ------------------------------------

    def bundle(self, statement: bytes, identity: str, *, issuer: str = OIDC_ISSUER,
               integrated_at: datetime | None = None, log: TransparencyLog | None = None, **cert_options) -> dict:
        """Sign the in-toto `statement` keylessly: ephemeral key, certificate, DSSE envelope, log entry."""
        key = ec.generate_private_key(ec.SECP256R1())
        cert = self.issue_certificate(key.public_key(), identity, issuer=issuer, **cert_options)
        sig = _ecdsa(key, pae(DSSE_PAYLOAD_TYPE, statement))
        envelope = {"payload": b64(statement), "payloadType": DSSE_PAYLOAD_TYPE,
                    "signatures": [{"sig": b64(sig)}]}
        # The entry body Rekor stores for a dsse/0.0.1 proposal (hashes of the envelope and payload, and
        # the signatures with the PEM certificate as their verifier), canonicalized.
        pem = cert.public_bytes(serialization.Encoding.PEM)
        body = json.dumps({
            "apiVersion": "0.0.1", "kind": "dsse",
            "spec": {
                "envelopeHash": {"algorithm": "sha256",
                                 "value": hashlib.sha256(json.dumps(envelope, sort_keys=True,
                                                                    separators=(",", ":")).encode()).hexdigest()},
                "payloadHash": {"algorithm": "sha256", "value": hashlib.sha256(statement).hexdigest()},
                "signatures": [{"signature": b64(sig), "verifier": b64(pem)}],
            },
        }, sort_keys=True, separators=(",", ":")).encode()
        integrated = int((integrated_at or self.now).timestamp())
        entry = (log or self.log).add(body, integrated)
        return {
            "mediaType": BUNDLE_MEDIA_TYPE,
            "verificationMaterial": {
                "certificate": {"rawBytes": b64(cert.public_bytes(serialization.Encoding.DER))},
                "tlogEntries": [entry],
                "timestampVerificationData": {},
            },
            "dsseEnvelope": envelope,
        }

    def signer(self, identity: str, **options):
        """A model-signing `Signer` that signs with this instance (no OIDC flow, no network)."""
        from google.protobuf import json_format
        from model_signing._signing import sign_sigstore, signing
        from sigstore import models as sigstore_models

        instance = self

        class PrivateSigstoreSigner(signing.Signer):
            def sign(self, payload: signing.Payload) -> sign_sigstore.Signature:
                # As model-signing's Sigstore signer: the statement as protobuf JSON, signed as DSSE.
                statement = json_format.MessageToJson(payload.statement.pb).encode()
                bundle = instance.bundle(statement, identity, **options)
                return sign_sigstore.Signature(sigstore_models.Bundle.from_json(json.dumps(bundle)))

        return PrivateSigstoreSigner()

    def sign_model(self, model_path: Path, signature_path: Path, identity: str, **options) -> Path:
        """Sign a model file or directory as `model_signing.signing.Config().sign` does, with this instance."""
        from model_signing import hashing
        from model_signing._signing import signing

        manifest = hashing.Config().hash(model_path)
        self.signer(identity, **options).sign(signing.Payload(manifest)).write(Path(signature_path))
        return Path(signature_path)
