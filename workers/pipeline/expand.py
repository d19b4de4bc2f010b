"""Events that name a whole multi-file artifact -> one event per file.

A Hugging Face Hub event names a repository at a commit (`hf://models/<repo>@<commit>`): the Hub's tree API
lists its files with their digests (sha256 for LFS files, the git blob sha1 for the rest). A registry event
names a manifest (`oci://<host>/<repository>@sha256:...`): its layers (for an index: the layers of every
manifest it lists) are the files, each with its sha256 digest; a model package (ModelPack, KitOps, Docker
Model Runner, Ollama: modelscreen.fetch.oci_models) names each layer's file as the packager did, and every
file carries the artifact type. Each file becomes an event of its own
(`path` set, the store's digests as the expected ones), fetched, scanned and checked against pins one by
one. Everything else names one file already.
"""
from __future__ import annotations

from modelscreen.schemas.events import ArtifactEvent
from modelscreen.fetch import FetchError
from modelscreen.fetch import hf as hub_uris
from modelscreen.fetch.oci import DIGEST_RE, INDEX_TYPES, registry_for
from modelscreen.fetch.oci import parse as parse_oci
from modelscreen.fetch.oci_models import classify
from modelscreen.provenance.hf import HubClient, HubError, ignored
from modelscreen.settings import Settings


def is_multi_file(event: ArtifactEvent) -> bool:
    if event.path is not None or not event.uri.startswith(("hf://", "oci://")):
        return False
    return "/" not in event.uri.partition("@")[2]


def expand(event: ArtifactEvent, settings: Settings, *, getter=None) -> list[ArtifactEvent]:
    """One event per file of the repository or image the event names. Raises FetchError (transient when the
    store is unreachable or overloaded; permanent for an unknown repository, revision or manifest, or too
    many files)."""
    files = _hub_files(event, settings, getter) if event.uri.startswith("hf://") else _layers(event, settings)
    if len(files) > settings.expand_max_files:
        raise FetchError(f"{event.uri} lists {len(files)} files, more than expand_max_files="
                         f"{settings.expand_max_files}", transient=False)
    base = event.model_dump(exclude={"event_id", "uri", "path", "expected_sha256", "expected_digests", "size",
                                     "artifact_type"})
    return [ArtifactEvent(**base, **fields) for fields in files]


def _hub_files(event: ArtifactEvent, settings: Settings, getter) -> list[dict]:
    ref = hub_uris.parse(event.uri)
    if not ref.revision:
        raise FetchError(f"{event.uri} names no commit: nothing to pin the files to", transient=False)
    client = HubClient(settings.hf_endpoint or hub_uris.DEFAULT_ENDPOINT, getter=getter,
                       token=settings.secret("hf_token") or "")
    try:
        files = client.files(ref.repo, ref.revision, repo_type=ref.repo_type)
    except HubError as exc:
        raise FetchError(f"listing {event.uri}: {exc}", transient=exc.transient) from None
    return [dict(uri=ref.file_uri(path), path=path, expected_sha256=f.sha256, size=f.size,
                 expected_digests={"git-sha1": f.git_sha1} if f.git_sha1 else {})
            for path, f in sorted(files.items()) if not ignored(path)]


def _layers(event: ArtifactEvent, settings: Settings) -> list[dict]:
    ref = parse_oci(event.uri)
    registry = registry_for(ref.host, settings)
    manifest, media_type = registry.manifest(ref.repository, ref.manifest)
    manifests = [(ref.manifest, manifest, media_type)]
    if media_type in INDEX_TYPES or "manifests" in manifest:
        children = _descriptors(manifest, "manifests")
        if len(children) > settings.expand_max_files:
            raise FetchError(f"{event.uri} lists {len(children)} manifests", transient=False)
        manifests = [(d["digest"], *registry.manifest(ref.repository, d["digest"])) for d in children]
    return package_files(ref.host, ref.repository, manifests)


def package_files(host: str, repository: str, manifests: list[tuple[str, dict, str]]) -> list[dict]:
    """ArtifactEvent fields of each file of the manifests ((digest, parsed manifest, media type)): one per
    layer digest, named as the package names it (modelscreen.fetch.oci_models), with the artifact type."""
    out: dict[str, dict] = {}
    for digest, doc, media_type in manifests:
        _descriptors(doc, "layers")  # validates every layer descriptor
        found = classify(doc, media_type)
        for f in found.files:
            if f.role == "config":
                _descriptors({"config": [doc["config"]]}, "config")  # the Kitfile blob: same checks
            out.setdefault(f.digest, dict(
                uri=f"oci://{host}/{repository}@{digest}/{f.digest}", path=f.name,
                expected_sha256=f.digest.split(":", 1)[1], size=f.size,
                expected_digests={"oci-manifest": digest}, artifact_type=found.artifact_type))
    return list(out.values())


def _descriptors(doc: dict, key: str) -> list[dict]:
    items = doc.get(key)
    if not isinstance(items, list):
        raise FetchError(f"manifest has no {key} list", transient=False)
    out = []
    for d in items:
        if not isinstance(d, dict) or not isinstance(d.get("digest"), str) or not DIGEST_RE.fullmatch(d["digest"]):
            raise FetchError(f"manifest {key} entry without a sha256 digest", transient=False)
        if d.get("size") is not None and (not isinstance(d["size"], int) or isinstance(d["size"], bool)
                                          or d["size"] < 0):
            raise FetchError(f"manifest {key} entry with a bad size", transient=False)
        out.append(d)
    return out
