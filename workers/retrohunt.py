"""Retro-hunt: artifacts scanned under an older ruleset are queued for a new scan with the current one."""
from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone

from modelscreen.schemas.events import Action, ArtifactEvent, StoreKind

RAW_TYPE = "io.modelscreen.retrohunt"
PAGE = 500


def stale_artifacts(es, index: str, ruleset_version: str, *, store: str | None = None, name: str | None = None,
                    verdict: str | None = None, include_current: bool = False) -> Iterator[dict]:
    """Artifact-state documents not yet scanned with `ruleset_version` (all of them with include_current)."""
    filters: list[dict] = []
    if store:
        filters.append({"term": {"stores": store}})
    if name:
        filters.append({"wildcard": {"names": {"value": name}}})
    if verdict:
        filters.append({"term": {"verdict": verdict}})
    query: dict = {"bool": {"filter": filters}}
    if not include_current:
        query["bool"]["must_not"] = [{"term": {"ruleset_version": ruleset_version}}]
    after = None
    while True:
        kw = {"index": index, "query": query, "size": PAGE, "sort": [{"sha256": "asc"}]}
        if after:
            kw["search_after"] = after
        hits = es.options(ignore_status=404).search(**kw).get("hits", {}).get("hits", [])
        if not hits:
            return
        for h in hits:
            yield h["_source"]
        after = hits[-1]["sort"]


def event_for(doc: dict, ruleset_version: str) -> ArtifactEvent | None:
    uris = doc.get("uris") or []
    if not uris or not doc.get("sha256"):
        return None
    stores = doc.get("stores") or ["local"]
    try:
        store = StoreKind(stores[0])
    except ValueError:
        store = StoreKind.local
    names, versions = doc.get("names") or [], doc.get("versions") or []
    return ArtifactEvent(
        action=Action.uploaded, store=store, uri=uris[0], name=names[0] if names else None,
        version=versions[0] if versions else None, expected_sha256=doc["sha256"], size=doc.get("size"),
        actor="modelscreen-retrohunt", time=datetime.now(timezone.utc),
        source_event_id=f"retrohunt:{ruleset_version}:{doc['sha256']}", raw_type=RAW_TYPE,
    )


def plan(es, index: str, ruleset_version: str, **filters) -> list[ArtifactEvent]:
    return [e for e in (event_for(d, ruleset_version) for d in stale_artifacts(es, index, ruleset_version, **filters))
            if e is not None]
