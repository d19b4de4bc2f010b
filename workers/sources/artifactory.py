"""JFrog Artifactory webhooks, domain "artifact".

Accepts the documented top-level form (`domain`, `event_type`, `data`, `jpd_origin`, `source`) and the
newer form wrapped in `event` with an `id`; in the newer form `data` is a JSON string and is parsed.
deployed / copied / cached -> uploaded, moved -> uploaded at the target plus deleted at the source,
deleted -> deleted, downloaded -> downloaded. URI: `artifactory://<repo_key>/<path>` (percent-encoded; `name` is the plain path).
Artifactory sends no event time, so the time is when the event was normalised.
"""
from __future__ import annotations

import json

from modelscreen.schemas.events import Action, ArtifactEvent

from modelscreen.sources.base import (
    InvalidEvent,
    build,
    content_id,
    dedupe,
    get_size,
    get_str,
    now,
    quote_path,
    sha256_hex,
)

ACTIONS = {
    "deployed": Action.uploaded,
    "copied": Action.uploaded,
    "cached": Action.uploaded,
    "moved": Action.uploaded,
    "deleted": Action.deleted,
    "downloaded": Action.downloaded,
}
MAX_DATA_STRING = 512 * 1024


def _envelope(payload: dict) -> dict | None:
    if isinstance(payload.get("domain"), str) and isinstance(payload.get("event_type"), str) and "data" in payload:
        return payload
    inner = payload.get("event")
    if (
        isinstance(inner, dict)
        and isinstance(inner.get("domain"), str)
        and isinstance(inner.get("event_type"), str)
        and "data" in inner
    ):
        return inner
    return None


def recognise(payload: dict, headers: dict[str, bytes]) -> bool:
    return _envelope(payload) is not None


def _data(envelope: dict) -> dict:
    data = envelope.get("data")
    if isinstance(data, str):
        if len(data) > MAX_DATA_STRING:
            raise InvalidEvent("data string is too large", code="too-large")
        try:
            data = json.loads(data, parse_constant=_reject_constant)
        except (ValueError, RecursionError):
            raise InvalidEvent("data is a string but not JSON", code="not-json") from None
    if not isinstance(data, dict):
        raise InvalidEvent("data must be an object (or a JSON string of one)")
    return data


def _reject_constant(name: str):
    raise ValueError(f"{name} is not JSON")


def _clean_path(path: str, where: str) -> str:
    path = path.lstrip("/")
    parts = path.split("/")
    if not path or any(p in ("", ".", "..") for p in parts):
        raise InvalidEvent(f"{where} is not a clean repository path")
    return path


def _location(repo_path: str | None, repo_key: str, path: str, where: str) -> tuple[str, str]:
    """`repo/path` strings of moved/copied events; a bare repo key keeps the artifact's path."""
    if repo_path is None:
        return repo_key, path
    repo_path = repo_path.strip("/")
    if "/" in repo_path:
        repo, _, rest = repo_path.partition("/")
        return repo, _clean_path(rest, where)
    if not repo_path:
        raise InvalidEvent(f"{where} is empty")
    return repo_path, path


def normalise(payload: dict, headers: dict[str, bytes]) -> list[ArtifactEvent]:
    envelope = _envelope(payload)
    if envelope is None:
        raise InvalidEvent("not an Artifactory webhook", code="unrecognised")
    if envelope["domain"] != "artifact":
        return []  # build, release bundle, docker-tag, ... domains
    event_type = envelope["event_type"]
    action = ACTIONS.get(event_type)
    if action is None:
        return []
    data = _data(envelope)
    repo_key = get_str(data, "repo_key", where="data.")
    if "/" in repo_key or repo_key in (".", ".."):
        raise InvalidEvent("data.repo_key is not a repository key")
    path = _clean_path(get_str(data, "path", where="data."), "data.path")
    sha256 = sha256_hex(data.get("sha256"), where="data.sha256")
    digests = {}
    for algo in ("sha1", "md5"):
        value = data.get(algo)
        if isinstance(value, str) and value:
            digests[algo] = value.lower()
    size = get_size(data, "size", where="data.")
    actor = (
        get_str(data, "modified_by", required=False, where="data.")
        or get_str(data, "created_by", required=False, where="data.")
    )
    source_event_id = get_str(envelope, "id", required=False) or content_id(payload)
    when = now()

    def event(act: Action, repo: str, rel: str) -> ArtifactEvent:
        return build(
            action=act,
            store="artifactory",
            store_name=repo,
            uri=f"artifactory://{quote_path(repo, safe='')}/{quote_path(rel, safe='/')}",
            name=rel,
            expected_sha256=sha256,
            expected_digests=digests,
            size=size,
            actor=actor,
            time=when,
            source_event_id=source_event_id,
            raw_type=f"artifact.{event_type}",
        )

    if event_type in ("moved", "copied"):
        target = get_str(data, "target_repo_path", required=False, where="data.")
        repo, rel = _location(target, repo_key, path, "data.target_repo_path")
        events = [event(Action.uploaded, repo, rel)]
        if event_type == "moved":
            source = get_str(data, "source_repo_path", required=False, where="data.")
            src_repo, src_rel = _location(source, repo_key, path, "data.source_repo_path")
            if (src_repo, src_rel) != (repo, rel):
                events.append(event(Action.deleted, src_repo, src_rel))
        return dedupe(events)
    return [event(action, repo_key, path)]
