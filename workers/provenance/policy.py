"""Load a provenance policy file (YAML, safe_load only) into modelscreen.schemas.policy.ProvenancePolicy."""
from __future__ import annotations

import os
from pathlib import Path

import yaml
from pydantic import ValidationError

from modelscreen.schemas.policy import ProvenancePolicy
from modelscreen.settings import Settings



class PolicyError(ValueError):
    """The policy file cannot be read or does not validate."""


def parse_policy(text: str, *, source: str = "<policy>") -> ProvenancePolicy:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise PolicyError(f"{source}: not YAML: {exc}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise PolicyError(f"{source}: a policy must be a mapping")
    try:
        return ProvenancePolicy.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:10])
        raise PolicyError(f"{source}: {problems}") from None


def load_policy(path: str | os.PathLike | None = None) -> ProvenancePolicy:
    """The policy at `path`, else the configured one (Settings: MODELSCREEN_PROVENANCE_POLICY), else the empty
    (permissive) policy."""
    path = path or Settings().provenance_policy
    if not path:
        return ProvenancePolicy()
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise PolicyError(f"{p}: {exc.strerror or exc}") from None
    return parse_policy(text, source=str(p))
