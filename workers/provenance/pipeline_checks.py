"""Provenance checks the pipeline runs on the fetched bytes: signature bundles found next to an artifact,
and tensor drift from the previous version of the same model.

Two steps, because the fetched copy only exists during the fetch and the inventory may be down:

    evidence = collect_evidence(result, local_path, policy=policy, settings=settings)
        # while the fetched copy exists; reads no inventory. Verifies a bundle found next to the
        # artifact and builds the safetensors tensor manifest. Raises FetchError (transient) only when
        # the store holding the bundle is unreachable.
    findings = evidence_findings(result, evidence, inventory=inventory, policy=policy)
        # reads and writes the inventory (signature status and signer, tensor manifest); inventory
        # outages propagate (the caller retries). `evidence` may be None (a cached scan: drift then
        # uses the manifest stored for these bytes).

`extra_provenance_findings(result, local_path, inventory=..., policy=..., settings=...)` does both.
`collect_cached_evidence(result, ...)` is step 1 for a scan reused from the cache: the bundle is still
looked for and verified, against the cached sha256.
A missing, unreadable or non-verifying bundle is never an exception: it is a finding (or, when
missing, nothing here: `check_event` reports SIGNATURE-MISSING where the policy requires a signature).

Where a bundle is looked for:
  file://.../<artifact>      `<artifact>.sig` (a single-file signature), else `model.sig` in its directory
                             or the nearest parent inside the allowed roots (a directory signature: this
                             artifact's file is compared, the other signed files are checked for being there)
  s3://bucket/<key>          the object `<key>.sig` (at most SIGNATURE_MAX_BYTES; a missing object is
                             no signature)
  oci://host/repo@<manifest>/<layer>   a `model.sig` layer of the same model package: a directory
                             signature over the package's files (this layer's file is compared, the
                             others are checked for being in the package); not for scans reused from
                             the cache
A non-LFS file of a Hub repository (hf://...@<commit>/<path>) is also checked against its git blob sha1
(HF-PIN-DIGEST-MISMATCH); LFS files carry a sha256, which the scan stage compares itself.
"""
from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from modelscreen.schemas import Finding
from modelscreen.schemas.events import Action, ArtifactEvent
from modelscreen.schemas.inventory import InventoryRecord, TensorManifest, record_id
from modelscreen.schemas.policy import EffectiveRequirements, ProvenancePolicy
from modelscreen.schemas.results import ScanResult
from modelscreen.fetch import fetch_limits
from modelscreen.fetch.base import FetchError
from modelscreen.provenance.checks import _finding, requirements_for
from modelscreen.provenance.inventory import Inventory, identity_for_event
from modelscreen.fetch.local import resolve
from modelscreen.fetch.oci import parse as parse_oci
from modelscreen.fetch.oci import registry_for
from modelscreen.fetch.oci_models import classify
from modelscreen.fetch.s3 import download, parse
from modelscreen.provenance.hf import HubFile, check_file
from modelscreen.provenance.policy import load_policy
from modelscreen.settings import Settings
from modelscreen.provenance.signatures import BytesNeeded, SignatureUsageError, verify_model
from modelscreen.provenance.tensors import diff_manifests, tensor_manifest
from modelscreen.sandbox import SandboxCrash, SandboxError, SandboxMemoryExceeded, SandboxTimeout, run_sandboxed
from modelscreen.sandbox.runner import reason as raised_reason
from modelscreen.sandbox.scanning import failure_finding

log = logging.getLogger("modelscreen.provenance.pipeline")

SIGNATURE_MAX_BYTES = 1 << 20
SIBLING_SUFFIX = ".sig"
DIRECTORY_BUNDLE = "model.sig"
DRIFT_NAMES = 10  # tensor names listed in a drift finding
DRIFT_CANDIDATES = 5  # previous versions tried for a stored manifest
DRIFT_RULE = "MODEL-TENSOR-DRIFT"

# Runs a module-level function in a sandboxed child and returns its value, or raises a SandboxError:
# run_sandboxed (the default), or a SandboxPool's run.
Runner = Callable[..., Any]


@dataclass
class LocalEvidence:
    """What the fetched copy showed; no inventory was read to get it."""

    bundle: str | None = None  # where the bundle was found (path or URI)
    signature: object | None = None  # modelscreen.provenance.signatures.SignatureCheck, when verified (or not)
    findings: list[Finding] = field(default_factory=list)  # bundle unreadable or not verifiable at all
    manifest: TensorManifest | None = None


# --- policy -----------------------------------------------------------------------------------------

@lru_cache(maxsize=8)
def _policy_at(path: str, mtime_ns: int) -> ProvenancePolicy:
    return load_policy(path)


_NO_POLICY = ProvenancePolicy()  # shared, never changed


def pipeline_policy(settings) -> ProvenancePolicy:
    """The policy the worker is configured with (settings.provenance_policy; without a Settings object, the
    environment's), re-read when the file changes. Called per artifact: reads no environment when given
    Settings."""
    path = getattr(settings, "provenance_policy", None)
    if path is None and not isinstance(settings, Settings):
        path = Settings().provenance_policy
    if not path:
        return _NO_POLICY
    try:
        mtime = Path(path).stat().st_mtime_ns
    except OSError:
        return load_policy(path)  # raises PolicyError with the reason
    return _policy_at(str(path), mtime)


# --- step 1: the fetched copy -------------------------------------------------------------------------

def _scheme(uri: str) -> str:
    return uri.split("://", 1)[0].lower() if "://" in uri else ""


def _unreadable(req: EffectiveRequirements, where: str, reason: str) -> Finding:
    return _finding(req, "SIGNATURE-INVALID", "Signature bundle cannot be read", f"{where}: {reason}"[:1000],
                    location=where)


def _local_bundle(local_path: Path, settings, req: EffectiveRequirements, ev: LocalEvidence
                  ) -> tuple[Path, Path, str | None] | None:
    """(model path, bundle path, `only`) for a file:// artifact, or None when there is no bundle."""
    limits = fetch_limits(settings, max_bytes=SIGNATURE_MAX_BYTES)
    roots = list(getattr(settings, "fetch_file_roots", None) or [local_path.parent])
    candidates = [(local_path.with_name(local_path.name + SIBLING_SUFFIX), local_path, None)]
    for directory in _directories_up(local_path, roots):
        candidates.append((directory / DIRECTORY_BUNDLE, directory, local_path.relative_to(directory).as_posix()))
    for bundle, model, only in candidates:
        if bundle == local_path or not os.path.lexists(bundle):
            continue
        ev.bundle = str(bundle)
        try:
            resolve(bundle.as_uri(), limits, roots=roots)  # inside the allowed roots, a regular file, bounded
        except FetchError as exc:
            if exc.transient:
                raise
            ev.findings.append(_unreadable(req, str(bundle), exc.reason))
            return None
        return model, bundle, only
    return None


def _directories_up(path: Path, roots: list[Path]) -> list[Path]:
    """The file's directory and its parents up to the allowed root that holds it (nearest first)."""
    top = next((Path(r) for r in roots if path.is_relative_to(Path(r))), path.parent)
    out, d = [], path.parent
    while d.is_relative_to(top):
        out.append(d)
        if d == top:
            break
        d = d.parent
    return out


def _s3_bundle(uri: str, tmp: Path, settings, req: EffectiveRequirements, ev: LocalEvidence) -> Path | None:
    bucket, key, _version = parse(uri)
    sig_uri = f"s3://{bucket}/{key}{SIBLING_SUFFIX}"
    limits = fetch_limits(settings, max_bytes=SIGNATURE_MAX_BYTES)
    try:
        path = download(sig_uri, tmp / "bundle.sig", limits, endpoint_url=getattr(settings, "s3_endpoint_url", None),
                        region=getattr(settings, "s3_region", None))
    except FetchError as exc:
        if exc.transient:
            raise
        # S3 answers 403 instead of 404 for a missing key when the reader may not list the bucket
        if any(code in exc.reason for code in ("NoSuchKey", " 404 ", "S3 404", "AccessDenied", "S3 403")):
            return None
        ev.bundle = sig_uri
        ev.findings.append(_unreadable(req, sig_uri, exc.reason))
        return None
    ev.bundle = sig_uri
    return path


def verify_bundle(model: str, bundle: str, options: dict) -> tuple[str, Any]:
    """In the sandboxed child: verify_model(model, bundle, **options), its two expected refusals returned as
    values ("bytes-needed" / "usage", message) beside ("checked", SignatureCheck)."""
    try:
        return "checked", verify_model(model, bundle, **options)
    except BytesNeeded as exc:
        return "bytes-needed", str(exc)
    except SignatureUsageError as exc:
        return "usage", str(exc)


def _verify(model: Path, bundle: Path, only: str | None, req: EffectiveRequirements, ev: LocalEvidence,
            sha256: str | None = None, run: Runner | None = None) -> None:
    """Verify the fetched bundle in a sandboxed child (`run`, default a fresh one): the bundle's parsers read
    hostile bytes; a child that crashes or runs over a limit is a finding here, never a crash of the caller."""
    trust = req.signing
    if trust is None:
        log.warning("signature bundle %s found, but the policy configures no signing trust for it: not verified",
                    ev.bundle)
        return
    options = dict(public_key=trust.public_key, certificate=trust.certificate, chain=trust.chain,
                   sigstore_identity=trust.sigstore_identity, sigstore_issuer=trust.sigstore_issuer,
                   trust_config=trust.trust_config, allowed_signers=req.allowed_signers, severities=req.severities,
                   only=only, sha256=sha256)
    try:
        kind, value = (run or run_sandboxed)(verify_bundle, str(model), str(bundle), options)
    except (SandboxCrash, SandboxMemoryExceeded, SandboxTimeout) as exc:  # the child did not return
        failure = failure_finding(exc).model_copy(update={"location": ev.bundle})
        ev.findings.append(_finding(req, "SIGNATURE-INVALID", "Signature cannot be verified",
                                    f"{ev.bundle}: verifying the bundle stopped its sandboxed child "
                                    f"({failure.rule_id}: {exc})"[:1000], location=ev.bundle))
        ev.findings.append(failure)
        return
    except SandboxError as exc:  # raised by the verifier: a garbled bundle is a finding, never a crash
        ev.findings.append(_finding(req, "SIGNATURE-INVALID", "Signature cannot be verified",
                                    f"{ev.bundle}: {exc.exc_type or 'Error'}: {raised_reason(exc)}"[:1000]))
        return
    if kind == "bytes-needed":
        raise BytesNeeded(value)
    if kind == "usage":
        ev.findings.append(_finding(req, "SIGNATURE-INVALID", "Signature cannot be verified",
                                    f"{ev.bundle}: {value} (check the policy's signing trust)"[:1000]))
        return
    value.bundle = ev.bundle
    ev.signature = value


def _signature_evidence(uri: str, local_path: Path | None, req: EffectiveRequirements, settings, ev: LocalEvidence,
                        sha256: str | None = None, run: Runner | None = None) -> None:
    scheme = _scheme(uri)
    if scheme == "file":
        found = _local_bundle(local_path, settings, req, ev)
        if found:
            _verify(*found, req, ev, sha256=sha256, run=run)
    elif scheme == "s3":
        with tempfile.TemporaryDirectory(prefix="modelscreen-sig-") as tmp:  # only S3 downloads the bundle
            bundle = _s3_bundle(uri, Path(tmp), settings, req, ev)
            if bundle is not None:
                _verify(local_path or Path(tmp, "not-fetched"), bundle, None, req, ev, sha256=sha256, run=run)
    elif scheme == "oci" and local_path is not None and req.signing is not None:  # else nothing to verify with
        with tempfile.TemporaryDirectory(prefix="modelscreen-sig-") as tmp:
            found = _oci_bundle(uri, local_path, Path(tmp), settings, req, ev)
            if found:
                _verify(*found, req, ev, sha256=sha256, run=run)


def _oci_bundle(uri: str, local_path: Path, tmp: Path, settings, req: EffectiveRequirements, ev: LocalEvidence
                ) -> tuple[Path, Path, str] | None:
    """For a layer of an OCI model package that ships a `model.sig` layer: (a directory standing for the
    package: this file at its name, the other files as empty placeholders, so the signed set can be checked
    for being there; the bundle; this file's name), or None."""
    ref = parse_oci(uri)
    if ref.blob is None:
        return None
    registry = registry_for(ref.host, settings)
    manifest, media_type = registry.manifest(ref.repository, ref.manifest)
    files = classify(manifest, media_type).files
    bundle = next((f for f in files if f.name == DIRECTORY_BUNDLE), None)
    own = next((f for f in files if f.digest == ref.blob), None)
    if bundle is None or own is None or own is bundle:
        return None
    ev.bundle = f"oci://{ref.host}/{ref.repository}@{ref.manifest}/{bundle.digest}"
    try:
        registry.download_blob(ref.repository, bundle.digest, tmp / "bundle.sig",
                               fetch_limits(settings, max_bytes=SIGNATURE_MAX_BYTES))
    except FetchError as exc:
        if exc.transient:
            raise
        ev.findings.append(_unreadable(req, ev.bundle, exc.reason))
        return None
    tree = tmp / "package"
    for f in files:
        if f is bundle:
            continue
        dest = tree / f.name
        dest.parent.mkdir(parents=True, exist_ok=True)
        if f is own:
            try:
                os.link(local_path, dest)
            except OSError:  # another filesystem
                shutil.copyfile(local_path, dest)
        elif not dest.exists():
            dest.touch()
    return tree, tmp / "bundle.sig", own.name


def verify_package(directory: Path, bundle: Path, req: EffectiveRequirements, *, where: str,
                   run: Runner | None = None) -> LocalEvidence:
    """A `model.sig` shipped inside a multi-file package (an OCI model package), checked against the
    package's files reassembled under `directory` in a sandboxed child (`run`); `where` names the bundle."""
    ev = LocalEvidence(bundle=where)
    _verify(directory, bundle, None, req, ev, run=run)
    return ev


def bundle_wanted(event: ArtifactEvent, policy: ProvenancePolicy) -> bool:
    """Whether an upload or download has a signature bundle to look up: the policy gives trust to verify one
    with."""
    return event.action in (Action.uploaded, Action.downloaded) and requirements_for(event, policy).signing is not None


def collect_cached_evidence(result: ScanResult, *, policy: ProvenancePolicy | None = None,
                            settings=None, run: Runner | None = None) -> LocalEvidence:
    """For a scan reused from the cache (the bytes are not fetched again): the signature bundle that
    accompanies this event's artifact, checked against the cached sha256. Raises BytesNeeded when the
    bundle's manifest can only be checked by hashing the bytes (the caller then fetches and scans)."""
    ev = LocalEvidence()
    event = result.event
    policy = policy or ProvenancePolicy()
    if not result.sha256 or result.error or not bundle_wanted(event, policy):
        return ev  # nothing to look up on this hot path
    req = requirements_for(event, policy)
    if _scheme(event.uri) == "file":
        try:
            local = resolve(event.uri, fetch_limits(settings), roots=list(getattr(settings, "fetch_file_roots", None) or []))
        except FetchError:
            return ev  # gone or outside the roots: the cached scan stands, no bundle can be read
        _signature_evidence(event.uri, local, req, settings, ev, sha256=result.sha256, run=run)
    elif _scheme(event.uri) == "s3":
        _signature_evidence(event.uri, None, req, settings, ev, sha256=result.sha256, run=run)
    return ev


def collect_evidence(result: ScanResult, local_path: Path | None, *, policy: ProvenancePolicy | None = None,
                     settings=None, run: Runner | None = None) -> LocalEvidence:
    """Look at the fetched copy at `local_path` (call while it exists). Reads no inventory. Fetching stays
    here; a bundle's bytes are parsed and verified in a sandboxed child (`run`, default: a fresh one)."""
    ev = LocalEvidence()
    event = result.event
    if local_path is None or result.error or event.action not in (Action.uploaded, Action.downloaded):
        return ev
    local_path = Path(local_path)
    req = requirements_for(event, policy or ProvenancePolicy())
    scheme = _scheme(event.uri)
    _signature_evidence(event.uri, local_path, req, settings, ev, run=run)
    git_sha1 = event.expected_digests.get("git-sha1")
    if scheme == "hf" and git_sha1 and not event.expected_sha256:
        # a non-LFS file of a Hub repository: the git blob id is the only digest the Hub gives
        expected = HubFile(path=event.path or event.uri, size=event.size or 0, sha256=None, git_sha1=git_sha1)
        ev.findings.extend(check_file(local_path, expected, severities=req.severities))
    from_scan = result.reports[0].tensor_manifest if result.reports else None
    if from_scan is not None:
        ev.manifest = from_scan  # digested in the scan's own pass
    elif (result.format or "").lower() == "safetensors" and local_path.is_file():
        try:  # the header is parsed in a sandboxed child too
            ev.manifest = (run or run_sandboxed)(tensor_manifest, str(local_path))
        except SandboxError as exc:  # the scan reports malformed files itself; a drift baseline is optional
            log.info("no tensor manifest for %s: %s", event.uri, exc)
    return ev


# --- step 2: the inventory ----------------------------------------------------------------------------

def _previous_versions(inventory: Inventory, result: ScanResult) -> list[InventoryRecord]:
    """Records of earlier bytes of the same file of the same model, latest seen first: the drift baselines
    to try (at most DRIFT_CANDIDATES)."""
    identity = identity_for_event(result.event)
    if not identity.model_key or not identity.name:
        return []  # a nameless artifact has no versions
    out: dict[str, InventoryRecord] = {}
    for rec in inventory.search(model_key=identity.model_key):  # latest seen first
        if rec.sha256 and rec.sha256 != result.sha256 and rec.sha256 not in out and rec.path == identity.path:
            out[rec.sha256] = rec
            if len(out) >= DRIFT_CANDIDATES:
                break
    return list(out.values())


def _previous_manifest(inventory: Inventory, result: ScanResult) -> tuple[InventoryRecord, TensorManifest] | None:
    for rec in _previous_versions(inventory, result):
        manifest = inventory.get_manifest(rec.sha256)
        if manifest is not None:
            return rec, manifest
    return None


def _checked(result: ScanResult) -> bool:
    return bool(result.sha256) and not result.error and result.event.action in (Action.uploaded, Action.downloaded)


def _fresh_manifest(result: ScanResult, evidence: LocalEvidence | None) -> TensorManifest | None:
    manifest = evidence.manifest if evidence is not None else None
    return manifest if manifest is not None and manifest.sha256 == result.sha256 else None


def inventory_reads(result: ScanResult, evidence: LocalEvidence | None, policy: ProvenancePolicy) -> dict:
    """What evidence_findings and checks.check_event will read for this result, as StagedInventory.read_ahead
    arguments: its record, the searches by model and by bytes, the stored manifest of these bytes."""
    if not _checked(result):
        return {}
    identity = identity_for_event(result.event)
    searches = [{"model_key": identity.model_key}] if identity.model_key else []
    manifests = []
    if _fresh_manifest(result, evidence) is not None or requirements_for(result.event, policy).require_signature:
        searches.append({"sha256": result.sha256})  # store_manifest marks every record of these bytes
    elif (result.format or "").lower() == "safetensors":
        manifests.append(result.sha256)
    return {"record_ids": [record_id(identity.key, result.sha256)], "searches": searches, "manifests": manifests}


def drift_reads(inventory: Inventory, result: ScanResult) -> list[str]:
    """The stored manifests a drift check of this result will read (after inventory_reads were read ahead)."""
    if not _checked(result) or (result.format or "").lower() != "safetensors":
        return []
    return [rec.sha256 for rec in _previous_versions(inventory, result)]


def drift_finding(req: EffectiveRequirements, key: str, previous: InventoryRecord, old: TensorManifest,
                  new: TensorManifest) -> Finding | None:
    changes = diff_manifests(old, new)
    meta = old.metadata != new.metadata
    if not changes and not meta:
        return None
    counts = {"changed": 0, "added": 0, "removed": 0}
    for c in changes:
        counts["changed" if c.kind in ("changed", "dtype", "shape") else c.kind] += 1
    modified = [c for c in changes if c.kind in ("changed", "dtype", "shape")]
    first = (modified or changes or [None])[0]
    listed = ", ".join(f"{c.name} ({c.kind})" for c in changes[:DRIFT_NAMES])
    more = f" and {len(changes) - DRIFT_NAMES} more" if len(changes) > DRIFT_NAMES else ""
    summary = f"{counts['changed']} changed, {counts['added']} added, {counts['removed']} removed"
    return _finding(
        req, DRIFT_RULE, f"Tensors differ from the previous version: {summary}",
        f"{key} ({new.sha256}) compared with the previous version {previous.identity} ({old.sha256}): "
        f"{summary} of {len(new.tensors)} tensors"
        + (f"; {listed}{more}" if changes else "")
        + ("; __metadata__ changed" if meta else ""),
        location=first.name if first is not None else None,
        remediation="Check that the change is expected (fine-tuning, a new release) and not a tampered update.")


def evidence_findings(result: ScanResult, evidence: LocalEvidence | None, *, inventory: Inventory,
                      policy: ProvenancePolicy | None = None) -> list[Finding]:
    """Findings from the evidence, recorded in the inventory. Inventory errors propagate."""
    event = result.event
    if not _checked(result):
        return []
    policy = policy or ProvenancePolicy()
    req = requirements_for(event, policy)
    identity = identity_for_event(event)
    out: list[Finding] = []
    evidence = evidence or LocalEvidence()

    out.extend(evidence.findings)
    check = evidence.signature
    if check is not None:
        inventory.set_signature(identity, result.sha256, check.info(bundle=evidence.bundle))
        out.extend(check.findings)

    manifest = _fresh_manifest(result, evidence)  # None when the file changed between the scan and the manifest
    if manifest is None and (result.format or "").lower() == "safetensors":
        manifest = inventory.get_manifest(result.sha256)
    elif manifest is not None:
        inventory.store_manifest(manifest)

        def mark(rec: InventoryRecord) -> None:
            rec.manifest = True

        inventory.update(identity, result.sha256, mark, refresh=False)  # the hot path waits for no refresh
    if manifest is not None:
        prev = _previous_manifest(inventory, result)
        if prev is not None:
            found = drift_finding(req, identity.key, prev[0], prev[1], manifest)
            if found is not None:
                out.append(found)
    return out


def extra_provenance_findings(result: ScanResult, local_path: Path | None, *, inventory: Inventory,
                              policy: ProvenancePolicy | None = None, settings=None,
                              run: Runner | None = None) -> list[Finding]:
    """Both steps at once (the fetched copy must still exist). Add the findings with checks.apply_findings
    before ProvenanceChecker.process, so a failed pipeline verification replaces SIGNATURE-MISSING."""
    evidence = collect_evidence(result, local_path, policy=policy, settings=settings, run=run)
    return evidence_findings(result, evidence, inventory=inventory, policy=policy)


__all__ = ["DRIFT_RULE", "LocalEvidence", "Runner", "SIGNATURE_MAX_BYTES", "bundle_wanted", "collect_cached_evidence",
           "collect_evidence", "drift_finding", "drift_reads", "evidence_findings", "extra_provenance_findings",
           "inventory_reads", "pipeline_policy", "verify_bundle"]
