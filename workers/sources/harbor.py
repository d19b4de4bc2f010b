"""Harbor webhooks (the "Default" payload format; the CloudEvents format is unwrapped by cloudevents.py).

One ArtifactEvent per entry of event_data.resources. The URI pins the manifest digest
(`oci://<registry host>/<repo_full_name>@sha256:...`), never the mutable tag. The digest is that of the
OCI manifest, not of a file, so it goes to expected_digests["oci-manifest"], not expected_sha256.

The webhook names only that digest, not what the artifact is: the scan stage fetches the manifest
(modelscreen.pipeline.expand), recognises a model package (ModelPack, KitOps, Docker Model Runner, Ollama)
by its media types (modelscreen.fetch.oci_models) and scans each layer under its real file name, with the
artifact type on every result, as the Harbor scanner adapter (modelscreen.harbor) does.
"""
from __future__ import annotations

import re

from modelscreen.schemas.events import Action, ArtifactEvent

from modelscreen.sources.base import (
    InvalidEvent,
    build,
    content_id,
    dedupe,
    get_dict,
    get_list,
    get_str,
    parse_time,
)

ACTIONS = {
    "PUSH_ARTIFACT": Action.uploaded,
    "PULL_ARTIFACT": Action.downloaded,
    "DELETE_ARTIFACT": Action.deleted,
}
_TYPE_RE = re.compile(r"[A-Z][A-Z_]{2,63}")
_HOST_RE = re.compile(r"[A-Za-z0-9.-]+(:[0-9]{1,5})?")
_REPO_RE = re.compile(r"[a-z0-9]+(?:[._/-][a-z0-9]+)*")
_DIGEST_RE = re.compile(r"sha256:[0-9a-f]{64}")


def recognise(payload: dict, headers: dict[str, bytes]) -> bool:
    kind = payload.get("type")
    return (
        isinstance(kind, str)
        and bool(_TYPE_RE.fullmatch(kind))
        and isinstance(payload.get("event_data"), dict)
        and "specversion" not in payload
    )


def normalise(payload: dict, headers: dict[str, bytes], *, source_event_id: str | None = None) -> list[ArtifactEvent]:
    kind = get_str(payload, "type")
    action = ACTIONS.get(kind)
    data = get_dict(payload, "event_data")
    if action is None:
        return []  # scanning, quota, replication, retention, ...: not a content change
    repo = get_dict(data, "repository", where="event_data.")
    full_name = get_str(repo, "repo_full_name", required=False, where="event_data.repository.")
    if full_name is None:
        namespace = get_str(repo, "namespace", where="event_data.repository.")
        full_name = f"{namespace}/{get_str(repo, 'name', where='event_data.repository.')}"
    if not _REPO_RE.fullmatch(full_name):
        raise InvalidEvent("event_data.repository.repo_full_name is not a repository name")
    resources = get_list(data, "resources", where="event_data.")
    if not resources:
        raise InvalidEvent("event_data.resources is empty")
    when = parse_time(payload.get("occur_at"), where="occur_at")
    actor = get_str(payload, "operator", required=False)
    event_id = source_event_id or content_id(payload)
    events = []
    for i, res in enumerate(resources):
        where = f"event_data.resources[{i}]."
        if not isinstance(res, dict):
            raise InvalidEvent(f"event_data.resources[{i}] must be an object")
        digest = get_str(res, "digest", where=where).lower()
        if not _DIGEST_RE.fullmatch(digest):
            raise InvalidEvent(f"{where}digest is not sha256:<hex>", code="bad-sha256")
        resource_url = get_str(res, "resource_url", where=where)
        host = resource_url.split("/", 1)[0]
        if not _HOST_RE.fullmatch(host) or "/" not in resource_url:
            raise InvalidEvent(f"{where}resource_url has no registry host")
        tag = get_str(res, "tag", required=False, where=where)
        events.append(
            build(
                action=action,
                store="harbor",
                store_name=host,
                uri=f"oci://{host}/{full_name}@{digest}",
                name=full_name,
                version=tag or digest,
                expected_digests={"oci-manifest": digest},
                actor=actor,
                time=when,
                source_event_id=event_id,
                raw_type=kind,
            )
        )
    return dedupe(events)
