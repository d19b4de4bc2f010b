"""Model inventory: one record per artifact identity and content hash, with approvals, pins and signatures.

An identity is (store, store_name, name, version, path) where the store names the artifact, or the URI
where it does not. Its text form (`identity_key`) is what the CLI takes:

    STORE[/STORE_NAME]:NAME[@VERSION][#PATH]      e.g. huggingface/models:org/model@3f2a...#model.safetensors
    URI                                            e.g. s3://bucket/key.bin (artifacts without a name)
"""
from __future__ import annotations

import hashlib
import re
from datetime import datetime
from enum import Enum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from modelscreen.schemas.behaviour import BehaviourEvaluation
from modelscreen.schemas.findings import Verdict
from modelscreen.schemas.times import as_utc

INVENTORY_VERSION = "1"
_SHA256 = r"^[0-9a-f]{64}$"
_IDENTITY_RE = re.compile(r"^(?P<store>[a-z][a-z0-9-]*)(?:/(?P<store_name>[^:#@]+(?::\d+)?))?:(?P<rest>.+)$")


class ArtifactIdentity(BaseModel):
    """What the store calls the artifact (or where it is, when it has no name)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    store: str = Field(min_length=1, description="Store kind (modelscreen.schemas.events.StoreKind value)")
    store_name: str | None = Field(default=None, description="Bucket, registry or repository key")
    name: str | None = Field(default=None, description="Artifact name within the store")
    version: str | None = Field(default=None, description="Version, tag, commit or object version")
    path: str | None = Field(default=None, description="File within a named artifact (e.g. within a HF repo)")
    uri: str | None = Field(default=None, description="Where the artifact is: the identity when there is no name")

    @property
    def key(self) -> str:
        if not self.name:
            return self.uri or ""
        store = f"{self.store}/{self.store_name}" if self.store_name else self.store
        key = f"{store}:{self.name}"
        if self.version:
            key += f"@{self.version}"
        if self.path:
            key += f"#{self.path}"
        return key

    @property
    def model_key(self) -> str:
        """The identity without version and path: what `a pinned model` refers to."""
        if not self.name:
            return self.uri or ""
        store = f"{self.store}/{self.store_name}" if self.store_name else self.store
        return f"{store}:{self.name}"

    @property
    def baseline_key(self) -> str:
        """The identity without its version: what a behaviour baseline belongs to."""
        return self.model_copy(update={"version": None}).key

    @property
    def display_name(self) -> str:
        return self.name or (self.uri or "").rstrip("/").rsplit("/", 1)[-1]

    @classmethod
    def parse(cls, text: str, *, store: str = "local") -> ArtifactIdentity:
        """Parse the text form. A URI (scheme://) is a nameless identity of store `store`."""
        text = text.strip()
        if not text:
            raise ValueError("empty identity")
        if re.match(r"^[a-z][a-z0-9+.-]*://", text):
            return cls(store=store, uri=text)
        m = _IDENTITY_RE.match(text)
        if not m:
            raise ValueError(f"not an identity: {text!r} (expected STORE[/STORE_NAME]:NAME[@VERSION][#PATH] or a URI)")
        rest = m.group("rest")
        path = None
        if "#" in rest:
            rest, path = rest.split("#", 1)
        version = None
        if "@" in rest:
            rest, version = rest.rsplit("@", 1)
        if not rest:
            raise ValueError(f"identity {text!r} has no name")
        return cls(store=m.group("store"), store_name=m.group("store_name"), name=rest, version=version or None,
                   path=path or None)


def record_id(identity_key: str, sha256: str | None, other_digest: str | None = None) -> str:
    material = "\x1f".join((INVENTORY_VERSION, identity_key, sha256 or "", other_digest or ""))
    return hashlib.sha256(material.encode("utf-8", "surrogatepass")).hexdigest()[:40]


class ApprovalStatus(str, Enum):
    none = "none"
    pending = "pending"
    approved = "approved"
    revoked = "revoked"


class Approval(BaseModel):
    """One entry of the approval history of a record (the last entry is the current state)."""

    model_config = ConfigDict(extra="forbid")

    status: ApprovalStatus
    by: str = Field(min_length=1, description="Who approved, revoked or (for pending) whose upload opened it")
    at: datetime
    reason: str = ""
    forced: bool = Field(default=False, description="Approved although the latest verdict was malicious")
    verdict: Verdict | None = Field(default=None, description="Latest verdict of the bytes when this was recorded")
    sha256: str | None = Field(default=None, description="The bytes this entry is about")

    @field_validator("at")
    @classmethod
    def _at_utc(cls, value: datetime) -> datetime:
        return as_utc(value)


class Pin(BaseModel):
    model_config = ConfigDict(extra="forbid")

    by: str
    at: datetime
    reason: str = ""

    @field_validator("at")
    @classmethod
    def _at_utc(cls, value: datetime) -> datetime:
        return as_utc(value)


class SignatureStatus(str, Enum):
    unsigned = "unsigned"
    verified = "verified"
    failed = "failed"


class SignatureInfo(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: SignatureStatus
    method: str | None = Field(default=None, description="key, certificate or sigstore")
    signer: str | None = Field(default=None,
                               description="key:sha256:<hex>, cert:<subject>, or sigstore:<identity> (<issuer>)")
    bundle: str | None = Field(default=None, description="Where the signature bundle is (path or URI)")
    checked_at: datetime
    findings: list[str] = Field(default_factory=list, description="Rule ids of the failures, when failed")

    @field_validator("checked_at")
    @classmethod
    def _at_utc(cls, value: datetime) -> datetime:
        return as_utc(value)


class InventoryRecord(BaseModel):
    """One identity with one content hash."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(description="record_id(identity key, sha256)")
    identity: str = Field(description="Text form of the identity")
    model_key: str = Field(description="Identity without version and path")
    store: str
    store_name: str | None = None
    name: str | None = None
    version: str | None = None
    path: str | None = None
    uri: str | None = None
    sha256: str | None = Field(default=None, pattern=_SHA256)
    digests: dict[str, str] = Field(default_factory=dict, description="Other known digests (git-sha1, ...)")
    size: int | None = Field(default=None, ge=0)
    format: str | None = None
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    uploaded_by: list[str] = Field(default_factory=list, description="Who uploaded these bytes (latest last)")
    downloaded_by: list[str] = Field(default_factory=list, description="Who downloaded them (latest last)")
    last_event_id: str | None = None
    verdict: Verdict | None = Field(default=None, description="Latest content verdict of these bytes")
    verdict_at: datetime | None = None
    engine_version: str | None = None
    approval: ApprovalStatus = ApprovalStatus.none
    approvals: list[Approval] = Field(default_factory=list)
    pinned: bool = False
    pin: Pin | None = None
    signature: SignatureInfo | None = None
    purl: str | None = None
    base_model: str | None = Field(default=None, description="Model this one was derived from, where known")
    datasets: list[str] = Field(default_factory=list, description="Datasets it was trained on, where known")
    model_card: dict[str, Any] | None = Field(default=None,
                                              description="CycloneDX modelCard fragment (modelParameters, ...)")
    manifest: bool = Field(default=False, description="A tensor digest manifest is stored for these bytes")
    behaviour: BehaviourEvaluation | None = Field(default=None,
                                                  description="Latest behaviour evaluation of these bytes")

    def identity_obj(self) -> ArtifactIdentity:
        return ArtifactIdentity(store=self.store, store_name=self.store_name, name=self.name, version=self.version,
                                path=self.path, uri=self.uri)


class TensorDigest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    dtype: str
    shape: list[int]
    begin: int = Field(ge=0, description="Offset in the data section")
    end: int = Field(ge=0)
    sha256: str = Field(pattern=_SHA256)


class TensorManifest(BaseModel):
    """Per-tensor digests of one safetensors file: the baseline for drift."""

    model_config = ConfigDict(extra="forbid")

    sha256: str | None = Field(default=None, pattern=_SHA256, description="SHA-256 of the whole file")
    size: int | None = None
    header_sha256: str | None = Field(default=None, pattern=_SHA256)
    metadata: dict[str, str] = Field(default_factory=dict)
    tensors: list[TensorDigest] = Field(default_factory=list)
