"""Sonatype Nexus Repository webhooks: repository asset and component events.

`action` CREATED / UPDATED -> uploaded, DELETED -> deleted. Asset events name one file:
`nexus://<repositoryName>/<asset name>` (percent-encoded). Component events name a component (a set of files), so they
get their own scheme, `nexus-component://<repositoryName>/<componentId>`, with name (group:name) and
version filled in. Global repository and audit events are recognised and yield nothing.
Nexus sends no checksum; the initiator ("user/ip") is kept whole as the actor.
"""
from __future__ import annotations

import re

from modelscreen.schemas.events import Action, ArtifactEvent

from modelscreen.sources.base import InvalidEvent, build, get_dict, get_str, header, parse_time, quote_path

ACTIONS = {"CREATED": Action.uploaded, "UPDATED": Action.uploaded, "DELETED": Action.deleted}
_REPO_RE = re.compile(r"[A-Za-z0-9_.-]{1,255}")
_ID_RE = re.compile(r"[A-Za-z0-9_=+-]{1,128}")


def recognise(payload: dict, headers: dict[str, bytes]) -> bool:
    if not (isinstance(payload.get("nodeId"), str) and isinstance(payload.get("initiator"), str)):
        return False
    return any(isinstance(payload.get(k), dict) for k in ("asset", "component", "audit", "repository"))


def _clean_path(path: str) -> str:
    path = path.lstrip("/")
    if not path or any(p in ("", ".", "..") for p in path.split("/")):
        raise InvalidEvent("asset.name is not a clean repository path")
    return path


def normalise(payload: dict, headers: dict[str, bytes]) -> list[ArtifactEvent]:
    kind = "asset" if isinstance(payload.get("asset"), dict) else "component" if isinstance(payload.get("component"), dict) else None
    if kind is None:
        return []  # rm:global:repository / rm:global:audit
    action_name = get_str(payload, "action")
    action = ACTIONS.get(action_name)
    if action is None:
        return []
    repo = get_str(payload, "repositoryName")
    if not _REPO_RE.fullmatch(repo):
        raise InvalidEvent("repositoryName is not a repository name")
    webhook_id = header(headers, "X-Nexus-Webhook-Id")
    if webhook_id and webhook_id not in (f"rm:repository:{kind}",):
        raise InvalidEvent(f"X-Nexus-Webhook-Id {webhook_id!r} does not match a {kind} payload")
    node = get_str(payload, "nodeId")
    initiator = get_str(payload, "initiator")
    when = parse_time(payload.get("timestamp"), where="timestamp")
    body = get_dict(payload, kind)
    ident = get_str(body, "id", where=f"{kind}.")
    if not _ID_RE.fullmatch(ident):
        raise InvalidEvent(f"{kind}.id is not an id")
    if kind == "asset":
        path = _clean_path(get_str(body, "name", where="asset."))
        uri, name, version = f"nexus://{repo}/{quote_path(path, safe='/')}", path, None
    else:
        component_id = get_str(body, "componentId", required=False, where="component.") or ident
        if not _ID_RE.fullmatch(component_id):
            raise InvalidEvent("component.componentId is not an id")
        short = get_str(body, "name", where="component.")
        group = get_str(body, "group", required=False, where="component.")
        uri = f"nexus-component://{repo}/{component_id}"
        name = f"{group}:{short}" if group else short
        version = get_str(body, "version", required=False, where="component.")
    return [
        build(
            action=action,
            store="nexus",
            store_name=repo,
            uri=uri,
            name=name,
            version=version,
            actor=initiator,
            time=when,
            source_event_id=f"{node}:{kind}:{ident}:{action_name}:{when.isoformat()}",
            raw_type=f"{kind}.{action_name}",
        )
    ]
