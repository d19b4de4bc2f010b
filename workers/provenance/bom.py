"""CycloneDX 1.6 ML-BOM of the inventory (cyclonedx-python-lib), modelCard added to the JSON document.

One `machine-learning-model` component per inventory record (identity + bytes): SHA-256 hash, purl
where one exists (pkg:huggingface/<org>/<name>@<commit>), external references (distribution = where it
is, attestation = its signature bundle), pedigree (the base model as ancestor), and `data` components
for the datasets it was trained on, referenced from the component's modelCard. Inventory state
(verdict, approval, pin, signer) is carried as `modelscreen:*` properties.
"""
from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from modelscreen.schemas.inventory import InventoryRecord
from modelscreen import __version__
from modelscreen.provenance.inventory import hf_purl

_HF_NAME_OK = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./")


def _purl(text: str | None):
    from packageurl import PackageURL

    if not text:
        return None
    try:
        return PackageURL.from_string(text)
    except ValueError:
        return None


def _base_model_purl(name: str) -> str | None:
    """A base model named like a Hub repo (org/name, optionally @revision) gets a Hugging Face purl."""
    repo, _, rev = name.partition("@")
    if repo.count("/") == 1 and set(repo) <= _HF_NAME_OK and not repo.startswith(("/", ".")):
        return hf_purl(repo, rev or None)
    return None


def _ref(prefix: str, key: str) -> str:
    import hashlib

    return f"{prefix}-{hashlib.sha256(key.encode()).hexdigest()[:20]}"


def _props(rec: InventoryRecord) -> list[tuple[str, str]]:
    props = [("modelscreen:identity", rec.identity), ("modelscreen:approval", rec.approval.value),
             ("modelscreen:pinned", "true" if rec.pinned else "false")]
    if rec.verdict is not None:
        props.append(("modelscreen:verdict", rec.verdict.value))
    if rec.format:
        props.append(("modelscreen:format", rec.format))
    if rec.store:
        props.append(("modelscreen:store", rec.store + (f"/{rec.store_name}" if rec.store_name else "")))
    if rec.signature is not None:
        props.append(("modelscreen:signature", rec.signature.status.value))
        if rec.signature.signer:
            props.append(("modelscreen:signer", rec.signature.signer))
    if rec.approvals and rec.approvals[-1].forced:
        props.append(("modelscreen:forced-approval", "true"))
    for k, v in sorted(rec.digests.items()):
        props.append((f"modelscreen:digest:{k}", v))
    return props


def behaviour_analysis(rec: InventoryRecord) -> dict[str, Any]:
    """The latest behaviour evaluation as modelCard quantitativeAnalysis performance metrics."""
    ev = rec.behaviour
    metrics = []
    if ev.metrics is not None:
        for key, value in ev.metrics.model_dump(exclude_none=True, exclude={"moved", "kind", "probes"}).items():
            metrics.append({"type": f"behaviour:{key}", "value": f"{value:.6g}",
                            "slice": f"probe suite {ev.probe_suite_sha256} ({ev.metrics.probes} probes)"})
    if ev.trigger_sweep is not None:
        metrics.append({"type": "behaviour:trigger-hits", "value": str(len(ev.trigger_sweep.hits)),
                        "slice": f"{ev.trigger_sweep.candidates} candidates"})
    metrics.append({"type": "behaviour:passed", "value": "true" if ev.passed else "false",
                    "slice": f"baseline {ev.baseline or '-'} on {ev.runtime.name} {ev.runtime.version}, "
                             f"{ev.evaluated_at.isoformat()}"})
    return {"performanceMetrics": metrics}


def build_bom(records: Iterable[InventoryRecord], *, serial_number: str | None = None) -> dict[str, Any]:
    """The BOM as a JSON-ready dict (CycloneDX 1.6)."""
    from cyclonedx.model import ExternalReference, ExternalReferenceType, HashAlgorithm, HashType, Property, XsUri
    from cyclonedx.model.bom import Bom
    from cyclonedx.model.component import Component, ComponentType, Pedigree
    from cyclonedx.output.json import JsonV1Dot6

    bom = Bom()
    if serial_number:
        import uuid

        bom.serial_number = uuid.UUID(serial_number)
    cards: dict[str, dict[str, Any]] = {}
    datasets: dict[str, Component] = {}
    bom.metadata.component = Component(type=ComponentType.APPLICATION, name="modelscreen-inventory",
                                       version=__version__, bom_ref="modelscreen-inventory")
    for rec in records:
        ref = f"model-{rec.id}"
        name = rec.name or rec.identity_obj().display_name
        if rec.path:
            name = f"{name}/{rec.path}"
        hashes = [HashType(alg=HashAlgorithm.SHA_256, content=rec.sha256)] if rec.sha256 else []
        if rec.digests.get("sha1"):
            hashes.append(HashType(alg=HashAlgorithm.SHA_1, content=rec.digests["sha1"]))
        refs = []
        if rec.uri:
            refs.append(ExternalReference(type=ExternalReferenceType.DISTRIBUTION, url=XsUri(rec.uri)))
        if rec.signature is not None and rec.signature.bundle:
            refs.append(ExternalReference(type=ExternalReferenceType.ATTESTATION, url=XsUri(rec.signature.bundle),
                                          comment=f"OpenSSF model signature ({rec.signature.status.value}"
                                                  + (f", {rec.signature.signer}" if rec.signature.signer else "")
                                                  + ")"))
        pedigree = None
        if rec.base_model:
            ancestor = Component(type=ComponentType.MACHINE_LEARNING_MODEL, name=rec.base_model,
                                 bom_ref=_ref("base", f"{rec.id}:{rec.base_model}"),
                                 purl=_purl(_base_model_purl(rec.base_model)))
            pedigree = Pedigree(ancestors=[ancestor])
        comp = Component(type=ComponentType.MACHINE_LEARNING_MODEL, name=name, version=rec.version,
                         bom_ref=ref, hashes=hashes, purl=_purl(rec.purl), external_references=refs,
                         pedigree=pedigree,
                         properties=[Property(name=k, value=v) for k, v in _props(rec)])
        bom.components.add(comp)
        card: dict[str, Any] = {k: v for k, v in (rec.model_card or {}).items() if k != "bom-ref"}
        if rec.datasets:
            params = dict(card.get("modelParameters") or {})
            listed = list(params.get("datasets") or [])
            for ds in rec.datasets:
                if ds not in datasets:
                    datasets[ds] = Component(type=ComponentType.DATA, name=ds, bom_ref=_ref("dataset", ds))
                listed.append({"ref": datasets[ds].bom_ref.value})
            params["datasets"] = listed
            card["modelParameters"] = params
        if rec.behaviour is not None:
            card["quantitativeAnalysis"] = behaviour_analysis(rec)
        if card:
            cards[ref] = card
    for ds in datasets.values():
        bom.components.add(ds)
    # the inventory "contains" every model: a complete (flat) dependency graph
    bom.register_dependency(bom.metadata.component, list(bom.components))
    doc = json.loads(JsonV1Dot6(bom).output_as_string())
    # cyclonedx-python-lib has no modelCard support: add it to the document.
    for comp in doc.get("components", []):
        card = cards.get(comp.get("bom-ref"))
        if card:
            comp["modelCard"] = {"bom-ref": f"{comp['bom-ref']}-card", **card}
    return doc


def export_cyclonedx(records: Iterable[InventoryRecord]) -> str:
    return json.dumps(build_bom(records), indent=2, sort_keys=False) + "\n"


def validate_bom(doc: dict[str, Any] | str) -> str | None:
    """None when the document is valid CycloneDX 1.6 JSON (strict schema), else the first error."""
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    text = doc if isinstance(doc, str) else json.dumps(doc)
    error = JsonStrictValidator(SchemaVersion.V1_6).validate_str(text)
    return None if error is None else str(error)
