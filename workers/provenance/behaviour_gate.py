"""The promotion gate of `require_behaviour_baseline`: a name needs a behaviour baseline, and the bytes being
approved need to be the baseline's own or to have passed their latest evaluation against it."""
from __future__ import annotations

from modelscreen.provenance.inventory import Inventory
from modelscreen.schemas.inventory import ArtifactIdentity
from modelscreen.schemas.policy import EffectiveRequirements


def behaviour_refusal(inventory: Inventory, identity: ArtifactIdentity, sha256: str,
                      requirements: EffectiveRequirements) -> str | None:
    """Why approval is refused, or None when the gate is off or satisfied."""
    if not requirements.require_behaviour_baseline:
        return None
    key = identity.baseline_key
    baseline = inventory.get_baseline(key)
    if baseline is None:
        return (f"the policy requires a behaviour baseline for {key} and none is recorded "
                "(modelscreen evaluate MODEL --probes FILE --record-baseline NAME)")
    if baseline.model_sha256 == sha256:
        return None
    for rec in inventory.find(identity, sha256):
        ev = rec.behaviour
        if ev is not None and ev.sha256 == sha256 and ev.baseline == key:
            if ev.passed:
                return None
            return (f"the latest behaviour evaluation of these bytes against {key} did not pass "
                    f"({', '.join(ev.findings) or 'findings'})")
    return (f"these bytes have no behaviour evaluation against {key} "
            "(modelscreen evaluate MODEL --probes FILE --against NAME)")
