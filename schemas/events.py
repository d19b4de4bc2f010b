"""Artifact events: the one normalised event every store notification becomes, and dead letters.

Store notifications (S3/MinIO, Harbor, Hugging Face, Artifactory, Nexus, CloudEvents) are turned into
`ArtifactEvent`s by `modelscreen.sources`; anything that cannot be turned into one becomes a `DeadLetter`.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import re
from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from modelscreen.schemas.times import as_utc

if TYPE_CHECKING:  # report.py imports this module; DeadLetter is completed there (model_rebuild)
    from modelscreen.schemas.report import ArtifactReport

EVENT_ID_VERSION = "1"

SHA256_RE = re.compile(r"[0-9a-f]{64}")
# Digest algorithms with a fixed hex length; other keys are accepted with a bounded, printable value.
HEX_DIGEST_LENGTHS = {"md5": 32, "sha1": 40, "git-sha1": 40, "sha256": 64, "sha512": 128}
OCI_DIGEST_RE = re.compile(r"sha256:[0-9a-f]{64}|sha512:[0-9a-f]{128}")
DIGEST_KEY_RE = re.compile(r"[a-z0-9][a-z0-9.+-]{0,31}")
URI_SCHEME_RE = re.compile(r"([a-z][a-z0-9+.-]*)://")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")

# URI schemes an ArtifactEvent may carry (see modelscreen.sources for which store emits which).
URI_SCHEMES = frozenset(
    {"s3", "https", "http", "file", "oci", "hf", "artifactory", "nexus", "nexus-component"}
)
MAX_URI = 4096
MAX_TEXT = 1024


class Action(str, Enum):
    uploaded = "uploaded"
    downloaded = "downloaded"
    deleted = "deleted"


class ArtifactType(str, Enum):
    """What an OCI manifest holds, told from its media types (modelscreen.fetch.oci_models)."""

    model_package = "model-package"  # CNCF ModelPack, KitOps ModelKit, Docker Model Runner, Ollama
    container_image = "container-image"
    unknown = "unknown"


class StoreKind(str, Enum):
    s3 = "s3"
    minio = "minio"
    harbor = "harbor"
    huggingface = "huggingface"
    artifactory = "artifactory"
    nexus = "nexus"
    cloudevents = "cloudevents"
    local = "local"


def compute_event_id(store: str, source_event_id: str, uri: str, action: str) -> str:
    """Deterministic id: the same raw event (redelivered, or re-normalised) always gets the same id."""
    material = "\x1f".join((EVENT_ID_VERSION, store, source_event_id, uri, action)).encode("utf-8", "surrogatepass")
    return hashlib.sha256(material).hexdigest()[:32]


def _no_control(value: str | None, what: str) -> str | None:
    if value is not None and _CONTROL_RE.search(value):
        raise ValueError(f"{what} contains control characters")
    return value


def _decode_b64(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return base64.b64decode(value.encode("ascii"), validate=True)
        except (binascii.Error, UnicodeEncodeError, ValueError) as exc:
            raise ValueError(f"invalid base64: {exc}") from None
    return value


B64Bytes = Annotated[
    bytes,
    BeforeValidator(_decode_b64),
    PlainSerializer(lambda b: base64.b64encode(b).decode("ascii"), return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "contentEncoding": "base64"}),
]

Text = Annotated[str, Field(min_length=1, max_length=MAX_TEXT)]


def _lower(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


def _no_bool(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError("size must be an integer")
    return value


Sha256Hex = Annotated[str, BeforeValidator(_lower), Field(pattern=r"^[0-9a-f]{64}$")]
ByteSize = Annotated[int, BeforeValidator(_no_bool), Field(ge=0, le=2**63 - 1)]


class ArtifactEvent(BaseModel):
    """One artifact was uploaded to, downloaded from or deleted from one store."""

    model_config = ConfigDict(extra="forbid")

    event_id: str = Field(
        default="",
        description="Deterministic id: hash over store, source_event_id, uri and action (computed when omitted)",
    )
    action: Action
    store: StoreKind = Field(description="Kind of store the event came from")
    store_name: Text | None = Field(default=None, description="Bucket, registry host or repository key")
    uri: str = Field(
        min_length=1,
        max_length=MAX_URI,
        description="Where to fetch the artifact: s3://bucket/key, oci://host/repo@digest, hf://models/name@sha, ...",
    )
    name: Text | None = Field(default=None, description="Artifact name within the store, where known")
    version: Text | None = Field(default=None, description="Version, tag, commit or object version, where known")
    path: Text | None = Field(
        default=None,
        description="The file within a multi-file artifact (a repository at a commit) when the event names one",
    )
    expected_sha256: Sha256Hex | None = Field(default=None, description="SHA-256 of the content as stated by the store")
    expected_digests: dict[str, str] = Field(
        default_factory=dict,
        description="Other digests the store states: md5, sha1, git-sha1, oci-manifest (sha256:...)",
    )
    size: ByteSize | None = Field(default=None, description="Size in bytes as stated by the store")
    artifact_type: ArtifactType | None = Field(
        default=None, description="For a file of an OCI artifact: whether the artifact is a model package, "
                                  "a container image or unknown (from the manifest's media types)")
    actor: Text | None = Field(default=None, description="Who caused the event, as the store names them")
    time: datetime = Field(description="When the store says the event happened (UTC)")
    source_event_id: str = Field(
        min_length=1, max_length=MAX_TEXT, description="The raw event's own id (or a content hash when it has none)"
    )
    raw_type: str = Field(min_length=1, max_length=MAX_TEXT, description="The store's own event type string")

    @field_validator("time")
    @classmethod
    def _time_utc(cls, value: datetime) -> datetime:
        return as_utc(value)

    @field_validator("uri")
    @classmethod
    def _check_uri(cls, value: str) -> str:
        _no_control(value, "uri")
        m = URI_SCHEME_RE.match(value)
        if not m:
            raise ValueError("uri must start with scheme://")
        if m.group(1) not in URI_SCHEMES:
            raise ValueError(f"unsupported uri scheme {m.group(1)!r}")
        if len(value) == m.end():
            raise ValueError("uri has nothing after the scheme")
        return value

    @field_validator("store_name", "name", "version", "path", "actor", "source_event_id", "raw_type")
    @classmethod
    def _check_text(cls, value: str | None) -> str | None:
        return _no_control(value, "field")

    @field_validator("expected_digests")
    @classmethod
    def _check_digests(cls, value: dict[str, str]) -> dict[str, str]:
        if len(value) > 16:
            raise ValueError("too many digests")
        out: dict[str, str] = {}
        for key, digest in value.items():
            if not DIGEST_KEY_RE.fullmatch(key):
                raise ValueError(f"bad digest name {key!r}")
            digest = digest.lower()
            if key in HEX_DIGEST_LENGTHS:
                if not re.fullmatch(rf"[0-9a-f]{{{HEX_DIGEST_LENGTHS[key]}}}", digest):
                    raise ValueError(f"bad {key} digest")
            elif key == "oci-manifest":
                if not OCI_DIGEST_RE.fullmatch(digest):
                    raise ValueError("bad oci-manifest digest")
            elif not digest or len(digest) > 256 or _CONTROL_RE.search(digest):
                raise ValueError(f"bad {key} digest")
            out[key] = digest
        return out

    @model_validator(mode="after")
    def _event_id(self) -> ArtifactEvent:
        expected = compute_event_id(self.store.value, self.source_event_id, self.uri, self.action.value)
        if not self.event_id:
            self.event_id = expected
        elif self.event_id != expected:
            raise ValueError("event_id does not match store, source_event_id, uri and action")
        return self


class ModelscreenCloudEventData(BaseModel):
    """`data` of the project's own CloudEvents types io.modelscreen.artifact.{uploaded,downloaded}."""

    model_config = ConfigDict(extra="forbid")

    uri: str = Field(min_length=1, max_length=MAX_URI)
    name: Text | None = None
    version: Text | None = None
    sha256: Sha256Hex | None = None
    size: ByteSize | None = None
    actor: Text | None = None


class DeadLetter(BaseModel):
    """A raw message that could not be processed, kept byte for byte so it can be replayed."""

    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, description="Why it was dead-lettered")
    stage: str = Field(min_length=1, description="Pipeline stage that gave up: intake, fetch, scan, publish, ...")
    original: B64Bytes = Field(description="The original message value (base64 in JSON)")
    key: B64Bytes | None = Field(default=None, description="The original message key (base64), kept so a "
                                 "replay lands on the same partition")
    headers: list[tuple[str, B64Bytes]] = Field(
        default_factory=list, description="The original message headers as [key, base64 value] pairs"
    )
    topic: str | None = None
    partition: int | None = Field(default=None, ge=0)
    offset: int | None = Field(default=None, ge=0)
    time: datetime = Field(description="When it was dead-lettered (UTC)")
    attempts: int = Field(default=1, ge=0, description="How many times processing was tried")
    report: ArtifactReport | None = Field(
        default=None, description="The artifact's `error` report when its scan gave up (e.g. ENGINE-CRASH, "
                                  "LIMIT-MEMORY or LIMIT-TIME from the sandbox)")

    @field_validator("time")
    @classmethod
    def _time_utc(cls, value: datetime) -> datetime:
        return as_utc(value)
