"""Hugging Face Hub webhooks.

`repo.content` create/update -> uploaded, one event per commit a ref now points at (`updatedRefs[].newSha`,
so pushes to branches and PR refs are screened too), falling back to `repo.headSha`. `repo` create ->
uploaded at headSha, `repo` delete -> deleted. Discussions, comments, config changes and moves carry no
new content and yield nothing. URI: `hf://<type>s/<namespace>/<name>@<commit sha>`.
The Hub sends no event time, so the time is when the event was normalised.
"""
from __future__ import annotations

import re

from modelscreen.schemas.events import Action, ArtifactEvent

from modelscreen.sources.base import InvalidEvent, build, dedupe, get_dict, get_list, get_str, now

REPO_TYPES = {"model", "dataset", "space"}
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)?")
_SHA_RE = re.compile(r"[0-9a-f]{40}")


def recognise(payload: dict, headers: dict[str, bytes]) -> bool:
    event = payload.get("event")
    repo = payload.get("repo")
    return (
        isinstance(event, dict)
        and isinstance(event.get("action"), str)
        and isinstance(event.get("scope"), str)
        and isinstance(repo, dict)
    )


def _sha(value: object, where: str) -> str:
    if not isinstance(value, str) or not _SHA_RE.fullmatch(value.lower()):
        raise InvalidEvent(f"{where} is not a commit sha")
    return value.lower()


def normalise(payload: dict, headers: dict[str, bytes]) -> list[ArtifactEvent]:
    event = get_dict(payload, "event")
    action_name = get_str(event, "action", where="event.")
    scope = get_str(event, "scope", where="event.")
    if scope == "repo.content" and action_name in ("create", "update"):
        action = Action.uploaded
    elif scope == "repo" and action_name == "create":
        action = Action.uploaded
    elif scope == "repo" and action_name == "delete":
        action = Action.deleted
    else:
        return []
    repo = get_dict(payload, "repo")
    repo_type = get_str(repo, "type", where="repo.")
    if repo_type not in REPO_TYPES:
        raise InvalidEvent(f"repo.type {repo_type!r} is not model, dataset or space")
    name = get_str(repo, "name", where="repo.")
    if not _NAME_RE.fullmatch(name) or ".." in name:
        raise InvalidEvent("repo.name is not a Hub repository name")
    repo_id = get_str(repo, "id", required=False, where="repo.") or name
    head = repo.get("headSha")

    targets: list[tuple[str, str | None]] = []  # (commit sha, ref)
    if action is Action.uploaded:
        refs = get_list(payload, "updatedRefs", required=False) or []
        for i, ref in enumerate(refs):
            if not isinstance(ref, dict):
                raise InvalidEvent(f"updatedRefs[{i}] must be an object")
            new = ref.get("newSha")
            if new is None:
                continue  # ref deleted
            targets.append((_sha(new, f"updatedRefs[{i}].newSha"), get_str(ref, "ref", required=False)))
        if not targets:
            if head is None:
                raise InvalidEvent("repo.headSha is missing")
            targets.append((_sha(head, "repo.headSha"), None))
    else:
        targets.append((_sha(head, "repo.headSha") if head is not None else "", None))

    when = now()
    raw_type = f"{scope}.{action_name}"
    events = []
    for sha, ref in targets:
        uri = f"hf://{repo_type}s/{name}@{sha}" if sha else f"hf://{repo_type}s/{name}"
        events.append(
            build(
                action=action,
                store="huggingface",
                store_name=f"{repo_type}s",
                uri=uri,
                name=name,
                version=sha or None,
                expected_digests={},
                time=when,
                # The Hub sends no event id: the repo id, action and target commit identify the change.
                source_event_id=f"{repo_id}:{raw_type}:{ref or 'head'}:{sha or '-'}",
                raw_type=raw_type,
            )
        )
    return dedupe(events)
