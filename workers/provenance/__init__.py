"""Provenance: the model inventory, approvals and pins, signatures, Hugging Face pins, BOM, drift.

API for the pipeline (all synchronous; in async code run them in a worker thread, e.g.
`await loop.run_in_executor(executor, checker.process, result)`):

    from modelscreen.provenance import ProvenanceChecker, load_policy, open_inventory

    inventory = open_inventory("elasticsearch", settings=settings)   # or "sqlite" (embedded mode)
    checker = ProvenanceChecker(inventory, load_policy(path_or_None))
    result = checker.process(result)   # check_event + apply_findings + inventory.record(result)

or in two steps: `findings = checker.check(result)` (reads only), `result = apply_findings(result, findings)`,
`inventory.record(result)` (seen times, uploaders/downloaders, content verdict, pending approvals).
Call it on the result after check_announced and after the scan cache was filled, so cached results
never carry event-specific provenance findings.

Also: `store_baseline(inventory, path)` keeps a safetensors tensor manifest per sha256;
`verify_model(...)` checks an OpenSSF model signature; `HubClient` / `pin_repo` pin Hugging Face revisions.
"""
from __future__ import annotations

from pathlib import Path

from modelscreen.provenance.backend import default_backend, open_inventory
from modelscreen.provenance.checks import ProvenanceChecker, apply_findings, check_event
from modelscreen.provenance.inventory import (
    ApprovalRefused,
    Inventory,
    InventoryError,
    content_verdict,
    identity_for_event,
)
from modelscreen.provenance.policy import PolicyError, load_policy, parse_policy
from modelscreen.provenance.signatures import verify_model
from modelscreen.provenance.tensors import tensor_manifest


def store_baseline(inventory: Inventory, path: str | Path):
    """Build the tensor manifest of a safetensors file and keep it in the inventory under its sha256."""
    manifest = tensor_manifest(path)
    inventory.store_manifest(manifest)
    return manifest


__all__ = [
    "ApprovalRefused", "Inventory", "InventoryError", "PolicyError", "ProvenanceChecker", "apply_findings",
    "check_event", "content_verdict", "default_backend", "identity_for_event", "load_policy", "open_inventory",
    "parse_policy", "store_baseline", "verify_model",
]
