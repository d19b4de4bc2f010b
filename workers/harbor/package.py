"""Scan one OCI artifact the way Harbor asks: pull its manifest with the robot credentials Harbor passed,
classify it (modelscreen.fetch.oci_models), pull every layer under its real file name, scan each file in
the sandbox (no network there), and verify a `model.sig` shipped in the package against the reassembled
file set.

Pulling happens in the calling process (it needs the network); parsing hostile bytes happens only in the
sandbox, one child per file, so a file that crashes or exhausts its child costs that file an error verdict
and nothing else. What could not be fetched or analysed is `error`, never clean.
"""
from __future__ import annotations

import logging
import tempfile
import urllib.parse
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from modelscreen.engine import ENGINE_VERSION, Limits, scan_stream
from modelscreen.engine.verdict import verdict_for, worst_verdict
from modelscreen.fetch import fetch_limits
from modelscreen.fetch.base import FetchError
from modelscreen.fetch.oci import DIGEST_RE, INDEX_TYPES, Registry
from modelscreen.fetch.oci_models import PackageFile, classify
from modelscreen.provenance.checks import requirements_for
from modelscreen.provenance.pipeline_checks import pipeline_policy, verify_package
from modelscreen.sandbox import SandboxError, SandboxLimits, run_sandboxed
from modelscreen.schemas import ArtifactReport, Verdict
from modelscreen.schemas.events import Action, ArtifactEvent, ArtifactType, StoreKind
from modelscreen.schemas.harbor import PackageFileScan, PackageScan, ScanRequest
from modelscreen.settings import Settings, apply_engine_settings

log = logging.getLogger("modelscreen.harbor.package")

SIGNATURE_NAME = "model.sig"
BATCH_FILES = 16  # files scanned in one sandbox child
BATCH_BYTES = 64 << 20  # ... up to this many bytes together; a larger file gets a child of its own


class ArtifactNotFound(Exception):
    """The registry has no such manifest (Harbor asked for a digest that does not exist)."""


@dataclass(frozen=True)
class Target:
    host: str
    plain_http: bool
    repository: str
    digest: str
    tag: str | None
    mime_type: str | None
    authorization: str | None

    @property
    def uri(self) -> str:
        return f"oci://{self.host}/{self.repository}@{self.digest}"


def target_of(request: ScanRequest) -> Target:
    """Where to pull from. Raises ValueError for a registry URL that is not http(s)://host[:port]."""
    url = urllib.parse.urlsplit(request.registry.url.strip())
    if url.scheme not in ("http", "https") or not url.netloc or url.username or url.password:
        raise ValueError("registry.url must be http(s)://host[:port]")
    return Target(host=url.netloc, plain_http=url.scheme == "http", repository=request.artifact.repository,
                  digest=request.artifact.digest, tag=request.artifact.tag, mime_type=request.artifact.mime_type,
                  authorization=request.registry.authorization)


def _scan_one(path: str, name: str, limits: Limits | None = None) -> list[dict]:
    with open(path, "rb", buffering=0) as fh:
        return [r.model_dump(mode="json") for r in scan_stream(fh, name, name=name.rsplit("/", 1)[-1],
                                                                  limits=limits)]


def scan_file(path: str, name: str, limits: Limits | None = None) -> list[dict]:
    """Scan one fetched file (runs in the sandbox, a fresh interpreter): its reports as JSON-ready dicts."""
    apply_engine_settings()  # the rules directory and YARA engine the parent was configured with
    return _scan_one(path, name, limits)


def manifests(registry: Registry, target: Target, max_files: int) -> list[tuple[str, dict, str]]:
    """(digest, manifest, media type) of the artifact, or of each manifest an index lists."""
    try:
        manifest, media_type = registry.manifest(target.repository, target.digest)
    except FetchError as exc:
        if " 404 " in exc.reason or "HTTP 404" in exc.reason:
            raise ArtifactNotFound(f"{target.repository}@{target.digest} is not in the registry") from None
        raise
    if media_type not in INDEX_TYPES and "manifests" not in manifest:
        return [(target.digest, manifest, media_type)]
    children = manifest.get("manifests") if isinstance(manifest.get("manifests"), list) else []
    digests = [d["digest"] for d in children if isinstance(d, dict) and isinstance(d.get("digest"), str)
               and DIGEST_RE.fullmatch(d["digest"])]
    if len(digests) != len(children) or len(digests) > max_files:
        raise FetchError(f"index {target.digest} lists manifests without digests or too many", transient=False)
    return [(d, *registry.manifest(target.repository, d)) for d in digests]


def scan_files(items: list[tuple[str, str]]) -> list[list[dict]]:
    """scan_file for several files in one sandbox child."""
    apply_engine_settings()
    return [_scan_one(path, name) for path, name in items]


def _batches(pulled: list[tuple[PackageFile, Path]]) -> list[list[tuple[PackageFile, Path]]]:
    out: list[list[tuple[PackageFile, Path]]] = []
    size = 0
    for item in pulled:
        n = item[1].stat().st_size
        if not out or len(out[-1]) >= BATCH_FILES or size + n > BATCH_BYTES:
            out.append([])
            size = 0
        out[-1].append(item)
        size += n
    return out


def _scan_sandboxed(pulled: list[tuple[PackageFile, Path]], limits: SandboxLimits):
    """(file, path, reports as dicts or the reason there are none) for every pulled file. Small files share
    a child (a child costs a process start); when a shared child fails, each of its files is scanned again
    alone, so a file that crashes or exhausts its child costs that file only."""
    for batch in _batches(pulled):
        if len(batch) > 1:
            shared = limits.model_copy(update={"wall_seconds": limits.wall_seconds * len(batch),
                                               "cpu_seconds": limits.cpu_seconds * len(batch)})
            try:
                results = run_sandboxed(scan_files, [(str(p), f.name) for f, p in batch], limits=shared)
            except SandboxError as exc:
                log.info("a shared sandbox failed (%s): scanning its %d files one by one", exc, len(batch))
            else:
                yield from ((f, p, r) for (f, p), r in zip(batch, results))
                continue
        for f, p in batch:
            try:
                yield f, p, run_sandboxed(scan_file, str(p), f.name, limits=limits)
            except SandboxError as exc:
                yield f, p, f"the scan of {f.name} failed in the sandbox: {exc}"


def _error_file(f: PackageFile, reason: str) -> PackageFileScan:
    return PackageFileScan(name=f.name, digest=f.digest, size=f.size, media_type=f.media_type, role=f.role,
                           verdict=Verdict.error, error=reason)


def _signature(files: dict[str, Path], scans: list[PackageFileScan], target: Target, settings: Settings,
               workdir: Path) -> dict | None:
    """Verify model.sig against the other files, reassembled by name under one directory."""
    if SIGNATURE_NAME not in files:
        return None
    tree = workdir / "package"
    for name, path in files.items():
        dest = tree / name
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.hardlink_to(path)
    event = ArtifactEvent(action=Action.uploaded, store=StoreKind.harbor, store_name=target.host, uri=target.uri,
                          name=target.repository, version=target.tag or target.digest,
                          time=datetime.now(timezone.utc), source_event_id=target.digest, raw_type="harbor-scan")
    req = requirements_for(event, pipeline_policy(settings))
    if req.signing is None:
        return {"bundle": SIGNATURE_NAME, "verified": None,
                "reason": "the provenance policy configures no signing trust: not verified"}
    ev = verify_package(tree, tree / SIGNATURE_NAME, req, where=SIGNATURE_NAME)
    findings = list(ev.findings) + (list(ev.signature.findings) if ev.signature is not None else [])
    sig = next(s for s in scans if s.name == SIGNATURE_NAME)
    if findings and sig.reports:
        top = sig.reports[0]
        top.findings = [*top.findings, *findings]
        top.verdict = worst_verdict([top.verdict, verdict_for(findings)])
        sig.verdict = worst_verdict([sig.verdict, top.verdict])
    out = ev.signature.to_json() if ev.signature is not None else {"bundle": SIGNATURE_NAME, "verified": False}
    out["findings"] = sorted({f.rule_id for f in findings})
    return out


def scan_package(request: ScanRequest, settings: Settings, *, sandbox: SandboxLimits | None = None,
                 ruleset_version: str | None = None) -> PackageScan:
    """Pull and scan the artifact Harbor named. Raises ArtifactNotFound, and FetchError when the manifest
    cannot be had (a layer that cannot be pulled is that file's error, not the artifact's)."""
    target = target_of(request)
    registry = Registry(target.host, plain_http=target.plain_http, timeout=settings.fetch_timeout,
                        authorization=target.authorization)
    found_manifests = manifests(registry, target, settings.expand_max_files)
    kinds, families, wanted = [], [], {}
    for _digest, doc, media_type in found_manifests:
        found = classify(doc, media_type)
        kinds.append(found.artifact_type)
        families.append(found.family)
        for f in found.files:
            wanted.setdefault(f.digest, f)
    if len(wanted) > settings.expand_max_files:
        raise FetchError(f"{target.uri} lists {len(wanted)} files, more than expand_max_files", transient=False)
    kind = ArtifactType.model_package if ArtifactType.model_package in kinds else (
        kinds[0] if len(set(kinds)) == 1 else ArtifactType.unknown)
    limits = fetch_limits(settings)
    scans: dict[str, PackageFileScan] = {}
    fetched: dict[str, Path] = {}
    with tempfile.TemporaryDirectory(prefix="modelscreen-harbor-") as tmp:
        workdir = Path(tmp)
        pulled: list[tuple[PackageFile, Path]] = []
        for i, f in enumerate(wanted.values()):
            blob = workdir / f"blob-{i}"
            try:
                registry.download_blob(target.repository, f.digest, blob, limits)
            except FetchError as exc:
                scans[f.digest] = _error_file(f, f"cannot pull {f.digest}: {exc.reason}")
                continue
            pulled.append((f, blob))
        for f, blob, outcome in _scan_sandboxed(pulled, sandbox or SandboxLimits()):
            if isinstance(outcome, str):
                scans[f.digest] = _error_file(f, outcome)
                continue
            reports = [ArtifactReport.model_validate(r) for r in outcome]
            for r in reports:
                r.artifact_type = kind
            top = reports[0]
            if top.sha256 and f"sha256:{top.sha256}" != f.digest:
                scans[f.digest] = _error_file(f, f"layer {f.digest} hashed to sha256:{top.sha256}")
                continue
            fetched[f.name] = blob
            scans[f.digest] = PackageFileScan(name=f.name, digest=f.digest, size=f.size, media_type=f.media_type,
                                              role=f.role, verdict=worst_verdict(r.verdict for r in reports),
                                              reports=reports, error=top.error)
        scans = [scans[d] for d in wanted if d in scans]  # manifest order
        signature = _signature(fetched, scans, target, settings, workdir)
    return PackageScan(registry=request.registry.url, repository=target.repository, digest=target.digest,
                       tag=target.tag, mime_type=target.mime_type, artifact_type=kind,
                       package_format=next((f for f in families if f), None),
                       verdict=worst_verdict(s.verdict for s in scans) if scans else Verdict.clean,
                       files=scans, signature=signature, engine_version=ENGINE_VERSION,
                       ruleset_version=ruleset_version or next(
                           (r.ruleset_version for s in scans for r in s.reports if r.ruleset_version), None),
                       scanned_at=datetime.now(timezone.utc))


def failed_scan(request: ScanRequest, reason: str) -> PackageScan:
    """The report of an artifact that could not be fetched or analysed at all: error, never clean."""
    return PackageScan(registry=request.registry.url, repository=request.artifact.repository,
                       digest=request.artifact.digest, tag=request.artifact.tag, mime_type=request.artifact.mime_type,
                       artifact_type=ArtifactType.unknown, verdict=Verdict.error, error=reason,
                       engine_version=ENGINE_VERSION, scanned_at=datetime.now(timezone.utc))
