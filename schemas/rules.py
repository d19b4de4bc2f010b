"""YARA rule metadata and the versioned rule bundle."""
from __future__ import annotations

import base64

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_serializer, field_validator, model_validator

from modelscreen.schemas.findings import Severity

Scope = Literal["pickle", "header", "config", "template", "metadata", "code", "member", "small-file", "tensor-data"]
SCOPES: tuple[str, ...] = Scope.__args__  # type: ignore[attr-defined]

NAME_PREFIXES = ("MAL_", "SUSP_", "EXPL_", "INFO_")

# Score bands per severity: a rule's score must fall in the band of its severity.
SCORE_BANDS: dict[Severity, tuple[int, int]] = {
    Severity.info: (0, 19),
    Severity.low: (20, 39),
    Severity.medium: (40, 69),
    Severity.high: (70, 89),
    Severity.critical: (90, 100),
}


class RuleMeta(BaseModel):
    """The metadata every rule in rules/yara carries in its `meta:` section (`name` is the rule identifier)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^MSY-[A-Z]{2,5}-\d{3}$", description="Stable rule id, e.g. MSY-PKL-001; never reused")
    name: str = Field(pattern=r"^(MAL|SUSP|EXPL|INFO)_[A-Za-z0-9_]+$", description="YARA rule identifier")
    description: str = Field(min_length=10)
    author: str = Field(min_length=1)
    date: dt.date
    reference: str = Field(pattern=r"^https://\S+$", description="Public write-up of the technique or indicator")
    severity: Severity
    score: int = Field(ge=0, le=100)
    category: str = Field(pattern=r"^[a-z][a-z0-9-]*$")
    version: int = Field(ge=1)
    scope: tuple[Scope, ...] = Field(min_length=1)

    @field_validator("scope", mode="before")
    @classmethod
    def _split_scope(cls, v: object) -> object:
        if isinstance(v, str):
            return tuple(s.strip() for s in v.split(",") if s.strip())
        return v

    @model_validator(mode="after")
    def _score_matches_severity(self) -> "RuleMeta":
        lo, hi = SCORE_BANDS[self.severity]
        if not lo <= self.score <= hi:
            raise ValueError(f"score {self.score} is outside the {self.severity.value} band {lo}-{hi}")
        if len(set(self.scope)) != len(self.scope):
            raise ValueError("scope lists a value twice")
        return self

    @classmethod
    def from_yara(cls, name: str, meta: dict[str, object]) -> "RuleMeta":
        """Build from a rule identifier and its raw `meta:` values (strings, ints, bools)."""
        return cls(name=name, **meta)


class RuleSource(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: str = Field(description="Path relative to the rules directory, e.g. pickle/imports.yar")
    sha256: str
    text: str


class RuleSample(BaseModel):
    """A sample shipped with a bundle: scanned whole with every rule, it must match exactly `expect`."""

    model_config = ConfigDict(extra="forbid")

    name: str
    data: bytes = Field(description="Sample bytes (base64 in JSON)")
    expect: list[str] = Field(default_factory=list, description="Rule ids that must match, and no others")

    @field_serializer("data", when_used="json")
    def _b64(self, data: bytes) -> str:
        return base64.b64encode(data).decode("ascii")

    @field_validator("data", mode="before")
    @classmethod
    def _unb64(cls, value):
        if isinstance(value, str):
            return base64.b64decode(value.encode("ascii"), validate=True)
        return value


class RuleBundle(BaseModel):
    """A self-contained, versioned copy of the rule library (what `modelscreen rules bundle` writes)."""

    model_config = ConfigDict(extra="forbid")

    format: Literal["modelscreen-yara-bundle/1"] = "modelscreen-yara-bundle/1"
    version: str = Field(description="Ruleset version: content hash of the sorted sources and metadata")
    rules: list[RuleMeta]
    sources: list[RuleSource]
    samples: list[RuleSample] = Field(default_factory=list,
                                      description="Samples a worker checks before it swaps the bundle in")
