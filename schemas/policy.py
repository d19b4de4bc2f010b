"""Provenance policy: what each store (and each name pattern in it) requires of an artifact.

A policy is a YAML file (see deploy/policy.example.yaml) loaded with `yaml.safe_load` and validated
by `ProvenancePolicy`. `defaults` apply everywhere; every rule whose `store` and `name` patterns
(fnmatch) match an artifact is applied in file order, each overriding only the fields it sets.
"""
from __future__ import annotations

from fnmatch import fnmatchcase
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator

from modelscreen.schemas.findings import Severity

# Every finding the provenance checks can produce, with its default severity.
DEFAULT_SEVERITIES: dict[str, Severity] = {
    "PINNED-ARTIFACT-CHANGED": Severity.critical,
    "PROVENANCE-UNAPPROVED-DOWNLOAD": Severity.high,
    "PROVENANCE-PENDING-APPROVAL": Severity.medium,
    "PROVENANCE-REVOKED-DOWNLOAD": Severity.high,
    "POLICY-FORMAT-NOT-ALLOWED": Severity.high,
    "SIGNATURE-MISSING": Severity.high,
    "SIGNATURE-INVALID": Severity.critical,
    "SIGNATURE-TAMPERED-FILE": Severity.critical,
    "SIGNATURE-EXTRA-FILE": Severity.high,
    "SIGNATURE-MISSING-FILE": Severity.high,
    "SIGNATURE-UNEXPECTED-SIGNER": Severity.critical,
    "HF-PIN-DIGEST-MISMATCH": Severity.critical,
    "HF-PIN-MISSING-FILE": Severity.medium,
    "HF-PIN-EXTRA-FILE": Severity.medium,
    "MODEL-TENSOR-DRIFT": Severity.info,
    "BEHAVIOUR-DRIFT": Severity.high,
    "BEHAVIOUR-TRIGGER-SENSITIVE": Severity.high,
    "BEHAVIOUR-EVALUATION-ERROR": Severity.medium,
}

# Formats whose loaders run pickle (directly or inside a container): `pickle-based` in a format list.
PICKLE_BASED_FORMATS = frozenset({"pickle", "pytorch-legacy", "joblib"})


def _rule_id(value: str) -> str:
    if value not in DEFAULT_SEVERITIES:
        raise ValueError(f"unknown provenance finding {value!r} (known: {', '.join(sorted(DEFAULT_SEVERITIES))})")
    return value


class SigningTrust(BaseModel):
    """How the pipeline verifies a signature bundle found next to an artifact (offline). Exactly one mode:
    `public_key`, `certificate` and/or `chain`, or `sigstore_identity` + `sigstore_issuer` + `trust_config`."""

    model_config = ConfigDict(extra="forbid")

    public_key: str | None = Field(default=None, description="PEM public key (ECDSA P-256/384/521) file")
    certificate: str | None = Field(default=None, description="PEM signing certificate file (pinned signer)")
    chain: str | None = Field(default=None, description="PEM CA chain file the signing certificate must chain to")
    sigstore_identity: str | None = Field(default=None, description="Sigstore keyless: expected identity")
    sigstore_issuer: str | None = Field(default=None, description="Sigstore keyless: expected OIDC issuer")
    trust_config: str | None = Field(default=None, description="Sigstore keyless: ClientTrustConfig or trusted root JSON file (not fetched)")


class BehaviourThresholds(BaseModel):
    """Where behaviour drift becomes a BEHAVIOUR-DRIFT finding, and what the trigger sweep calls a trigger.
    In a rule, only the fields it sets override the inherited ones."""

    model_config = ConfigDict(extra="forbid")

    max_label_change_share: float = Field(0.05, ge=0, le=1,
                                          description="Classifier: share of probes whose top label may change")
    max_probability_shift: float = Field(0.25, ge=0, le=1,
                                         description="Classifier: largest allowed change of a class probability")
    min_cosine: float = Field(0.98, ge=-1, le=1, description="Embedding: lowest allowed cosine similarity per probe")
    max_kl: float = Field(0.1, ge=0, description="LM: largest allowed next-token KL divergence (nats, top-k)")
    min_topk_overlap: float = Field(0.8, ge=0, le=1, description="LM: lowest allowed top-k next-token overlap")
    min_greedy_agreement: float = Field(0.9, ge=0, le=1,
                                        description="LM: lowest allowed greedy-continuation agreement")
    trigger_min_flip_share: float = Field(0.8, gt=0, le=1,
                                          description="Trigger sweep: share of probes a candidate must flip to one target")
    trigger_min_margin: float = Field(0.5, gt=0, le=1,
                                      description="Trigger sweep: how far above the random controls' 90th percentile")


class Requirements(BaseModel):
    """What an artifact must satisfy. Unset (null) fields inherit from `defaults` / earlier rules."""

    model_config = ConfigDict(extra="forbid")

    require_signature: bool | None = Field(
        default=None, description="A verified OpenSSF model signature must be recorded in the inventory")
    require_approval: bool | None = Field(
        default=None, description="Downloads need an approval of these exact bytes; uploads open a pending approval")
    allowed_formats: list[str] | None = Field(
        default=None, description="Only these formats (of the artifact and any member) are allowed; null: any")
    denied_formats: list[str] | None = Field(
        default=None, description="Formats refused (artifact or member). `pickle-based` names every pickle format")
    allowed_signers: list[str] | None = Field(
        default=None,
        description="Accepted signer identities (fnmatch): key fingerprints `key:sha256:<hex>`, certificate "
                    "subjects `cert:<rfc4514 subject>`, Sigstore identities `sigstore:<identity>`")
    signing: SigningTrust | None = Field(
        default=None, description="Trust used to verify a signature bundle found next to the artifact "
                                  "(`<artifact>.sig`, or `model.sig` in its directory); replaces inherited trust")
    require_behaviour_baseline: bool | None = Field(
        default=None, description="`inventory approve` needs a behaviour baseline of the name and a passing "
                                  "evaluation of these bytes (or these bytes being the baseline's)")
    behaviour: BehaviourThresholds | None = Field(default=None, description="Behaviour drift and trigger thresholds")
    severities: dict[str, Severity] = Field(default_factory=dict,
                                            description="Severity per provenance finding rule id")

    @field_validator("severities")
    @classmethod
    def _known_rules(cls, value: dict[str, Severity]) -> dict[str, Severity]:
        for key in value:
            _rule_id(key)
        return value

    @field_validator("allowed_formats", "denied_formats")
    @classmethod
    def _lower(cls, value: list[str] | None) -> list[str] | None:
        return [v.strip().lower() for v in value] if value is not None else None


class PolicyRule(Requirements):
    """Requirements for the artifacts whose store and name match the patterns."""

    store: str = Field(default="*", min_length=1,
                       description="fnmatch pattern on the store kind, or `kind/store_name` (e.g. `s3/prod-*`)")
    name: str = Field(default="*", min_length=1,
                      description="fnmatch pattern on the artifact name (the URI when it has none)")
    description: str | None = None

    def matches(self, store: str, store_name: str | None, name: str) -> bool:
        stores = [store] + ([f"{store}/{store_name}"] if store_name else [])
        return any(fnmatchcase(s, self.store) for s in stores) and fnmatchcase(name, self.name)


class EffectiveRequirements(BaseModel):
    """Requirements after defaults and matching rules are applied (no nulls left)."""

    model_config = ConfigDict(extra="forbid")

    require_signature: bool = False
    require_approval: bool = False
    allowed_formats: list[str] | None = None
    denied_formats: list[str] = Field(default_factory=list)
    allowed_signers: list[str] | None = None
    signing: SigningTrust | None = None
    require_behaviour_baseline: bool = False
    behaviour: BehaviourThresholds = Field(default_factory=BehaviourThresholds)
    severities: dict[str, Severity] = Field(default_factory=lambda: dict(DEFAULT_SEVERITIES))
    matched_rules: list[int] = Field(default_factory=list, description="Indices of the rules applied, in order")

    def severity(self, rule_id: str) -> Severity:
        return self.severities.get(rule_id, DEFAULT_SEVERITIES.get(rule_id, Severity.medium))

    def format_refused(self, fmt: str) -> bool:
        fmt = fmt.lower()
        denied = set(self.denied_formats)
        if "pickle-based" in denied:
            denied |= PICKLE_BASED_FORMATS
        if fmt in denied:
            return True
        if self.allowed_formats is None:
            return False
        allowed = set(self.allowed_formats)
        if "pickle-based" in allowed:
            allowed |= PICKLE_BASED_FORMATS
        return fmt not in allowed


class ProvenancePolicy(BaseModel):
    """The policy file."""

    model_config = ConfigDict(extra="forbid")

    version: Literal[1] = 1
    defaults: Requirements = Field(default_factory=Requirements)
    rules: list[PolicyRule] = Field(default_factory=list)

    _resolved: dict[tuple, EffectiveRequirements] = PrivateAttr(default_factory=dict)

    def for_artifact(self, store: str, store_name: str | None, name: str) -> EffectiveRequirements:
        """The requirements for one artifact; asked per artifact on the pipeline's hot path, so answers are
        kept (a policy is never changed after loading: a new file is a new policy). Read the answer, never
        change it."""
        key = (store, store_name, name)
        found = self._resolved.get(key)
        if found is None:
            if len(self._resolved) >= 4096:
                self._resolved.clear()
            found = self._resolved[key] = self._resolve(store, store_name, name)
        return found

    def _resolve(self, store: str, store_name: str | None, name: str) -> EffectiveRequirements:
        eff = EffectiveRequirements()
        layers: list[tuple[int | None, Requirements]] = [(None, self.defaults)]
        layers += [(i, r) for i, r in enumerate(self.rules) if r.matches(store, store_name, name)]
        for index, layer in layers:
            for field in ("require_signature", "require_approval", "allowed_formats", "denied_formats",
                          "allowed_signers", "signing", "require_behaviour_baseline"):
                value = getattr(layer, field)
                if value is not None:
                    setattr(eff, field, list(value) if isinstance(value, list) else value)
            if layer.behaviour is not None:
                eff.behaviour = eff.behaviour.model_copy(update=layer.behaviour.model_dump(exclude_unset=True))
            eff.severities.update(layer.severities)
            if index is not None:
                eff.matched_rules.append(index)
        return eff
