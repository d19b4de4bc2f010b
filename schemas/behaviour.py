"""Behaviour evaluation: baselines of what a model outputs on a probe suite, and evaluations against them.

A baseline belongs to an inventory name (the identity without its version: `baseline_key`), so every new
version of the model is compared with it. It records the bytes, the runtime and the probe suite it was
made with, the suite itself (so the pipeline can re-run it) and the outputs per probe.
"""
from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from modelscreen.schemas.findings import Finding
from modelscreen.schemas.times import as_utc

_SHA256 = r"^[0-9a-f]{64}$"


class ModelKind(str, Enum):
    classifier = "classifier"
    embedding = "embedding"
    lm = "lm"


class RuntimeInfo(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(description="Runtime that executed the model, e.g. onnxruntime")
    version: str = Field(description="Its version")


class ProbeOutput(BaseModel):
    """What the model returned for one probe (reduced to what the metrics compare)."""

    model_config = ConfigDict(extra="forbid")

    id: str
    values: list[float] = Field(default_factory=list,
                                description="Class probabilities (classifier) or the embedding vector")
    top_ids: list[int] = Field(default_factory=list, description="LM: most likely next tokens, best first")
    top_probs: list[float] = Field(default_factory=list, description="LM: their probabilities")
    greedy: list[int] = Field(default_factory=list, description="LM: greedy continuation (token ids)")


class BehaviourBaseline(BaseModel):
    """The known-good outputs of a model on a probe suite."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="Baseline key: the inventory identity without its version")
    model_sha256: str = Field(pattern=_SHA256)
    kind: ModelKind
    runtime: RuntimeInfo
    probe_suite_sha256: str = Field(pattern=_SHA256)
    probe_suite: str = Field(description="The probe suite (JSON Lines) the outputs were made with")
    tokenizer_sha256: str | None = Field(default=None, pattern=_SHA256)
    outputs: list[ProbeOutput]
    recorded_at: datetime
    recorded_by: str = "unknown"

    @field_validator("recorded_at")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return as_utc(value)


class ProbeMove(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    score: float = Field(description="How far this probe moved (metric of the model kind; larger is further)")
    detail: str = ""


class BehaviourMetrics(BaseModel):
    """Drift between a baseline and a new run of the same probe suite."""

    model_config = ConfigDict(extra="forbid")

    kind: ModelKind
    probes: int
    label_change_share: float | None = Field(default=None, description="Classifier: share of probes whose top label changed")
    max_probability_shift: float | None = Field(default=None, description="Classifier: largest change of any class probability")
    min_cosine: float | None = Field(default=None, description="Embedding: lowest cosine similarity to the baseline")
    mean_cosine: float | None = None
    max_kl: float | None = Field(default=None, description="LM: largest next-token KL divergence (baseline || new), top-k")
    min_topk_overlap: float | None = Field(default=None, description="LM: lowest overlap of the top-k next tokens")
    greedy_agreement: float | None = Field(default=None, description="LM: share of greedy continuation tokens that agree")
    moved: list[ProbeMove] = Field(default_factory=list, description="Probes that moved most, furthest first")


class TriggerHit(BaseModel):
    model_config = ConfigDict(extra="forbid")

    trigger: str = Field(description="What was inserted: token id/text, or feature=value pattern")
    target: str = Field(description="The output the probes flipped to")
    flip_share: float
    control_share: float = Field(description="Highest flip-to-one-target share among the random controls")


class TriggerSweep(BaseModel):
    model_config = ConfigDict(extra="forbid")

    candidates: int
    controls: int
    control_share_p90: float
    hits: list[TriggerHit] = Field(default_factory=list)


class BehaviourEvaluation(BaseModel):
    """The latest evaluation of one record's bytes (kept on the inventory record and in the BOM)."""

    model_config = ConfigDict(extra="forbid")

    evaluated_at: datetime
    baseline: str | None = Field(default=None, description="Baseline key compared against (none: a sweep only)")
    baseline_sha256: str | None = None
    sha256: str = Field(pattern=_SHA256)
    runtime: RuntimeInfo
    probe_suite_sha256: str = Field(pattern=_SHA256)
    passed: bool = Field(description="No behaviour finding at or above the gate's severity")
    changed: list[str] = Field(default_factory=list, description="model-bytes and/or runtime-version")
    metrics: BehaviourMetrics | None = None
    trigger_sweep: TriggerSweep | None = None
    findings: list[str] = Field(default_factory=list, description="Rule ids of the behaviour findings")

    @field_validator("evaluated_at")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return as_utc(value)


class EvaluationReport(BaseModel):
    """What `modelscreen evaluate --format json` prints."""

    model_config = ConfigDict(extra="forbid")

    model: str
    sha256: str
    runtime: RuntimeInfo
    kind: ModelKind
    baseline: dict[str, Any] | None = None
    metrics: BehaviourMetrics | None = None
    trigger_sweep: TriggerSweep | None = None
    findings: list[Finding] = Field(default_factory=list, description="Findings shaped like the scan report's")
    error: str | None = None
