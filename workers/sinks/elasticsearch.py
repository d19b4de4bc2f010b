"""Write scan results to Elasticsearch: ECS finding documents and the latest state per artifact.

Idempotent: finding ids are derived from (event, artifact, finding), so a redelivered result
creates no duplicate; artifact state is merged with optimistic concurrency control. A result that analysed
its artifact supersedes the "could not be analysed" findings of earlier results for the same event (a
replay after a fix): they get `modelscreen.superseded: true`, which the current views exclude.
"""
from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from modelscreen.schemas import Severity
from modelscreen.schemas.results import ScanResult
from modelscreen.sinks.ecs import ANALYSIS_ERROR, finding_documents, merge_artifacts

log = logging.getLogger("modelscreen.sinks.elasticsearch")


class PermanentIndexError(Exception):
    """Documents the server refuses for reasons a retry will not fix (mapping, parsing)."""

    def __init__(self, reasons: dict[str, str]):
        super().__init__("; ".join(f"{k}: {v}" for k, v in list(reasons.items())[:5]))
        self.reasons = reasons  # event_id -> reason


class TransientIndexError(Exception):
    """The server is unavailable or overloaded: retry later, drop nothing."""


_TRANSIENT_STATUS = {408, 429, 500, 502, 503, 504}
_BULK_FIELDS = ["errors", "items.*.status", "items.*.error"]  # all a bulk answer is read for (and much shorter)


class FindingsWriter:
    def __init__(self, es, *, findings_target: str, artifacts_index: str, observer: dict[str, Any],
                 min_severity: Severity = Severity.low, data_stream: bool = True):
        self.es = es  # AsyncElasticsearch
        self.findings_target = findings_target
        self.artifacts_index = artifacts_index
        self.observer = observer
        self.min_severity = min_severity
        self.data_stream = data_stream

    async def write(self, results: Sequence[ScanResult]) -> int:
        """Index findings and artifact state for a batch. Returns the number of finding documents written."""
        from elasticsearch import ApiError, ConnectionError, ConnectionTimeout, TransportError

        try:
            written, ids, refused = await self._write_findings(results)
            if refused:  # the others' artifact state is still written
                results = [r for r in results if r.event.event_id not in refused]
            await self._write_artifacts(results)
            await self._supersede_errors(results, keep=ids)
        except (ConnectionError, ConnectionTimeout) as exc:
            raise TransientIndexError(str(exc)) from exc
        except ApiError as exc:
            if exc.status_code in _TRANSIENT_STATUS:
                raise TransientIndexError(str(exc)) from exc
            raise
        except TransportError as exc:
            raise TransientIndexError(str(exc)) from exc
        if refused:
            raise PermanentIndexError(refused)
        return written

    async def _write_findings(self, results: Sequence[ScanResult]) -> tuple[int, set[str], dict[str, str]]:
        """(documents written, their ids, event id -> reason for the events whose documents were refused)."""
        operations: list[dict] = []
        owners: list[str] = []
        op = "create" if self.data_stream else "index"
        scan_parts: dict = {}  # the results stay alive meanwhile: ids in its keys are not reused
        for result in results:
            for doc_id, doc in finding_documents(result, observer=self.observer, min_severity=self.min_severity,
                                                 scan_parts=scan_parts):
                operations.append({op: {"_index": self.findings_target, "_id": doc_id}})
                operations.append(doc)
                owners.append(result.event.event_id)
        if not operations:
            return 0, set(), {}
        ids = {op_[next(iter(op_))]["_id"] for op_ in operations[::2]}
        resp = await self.es.bulk(operations=operations, refresh=False, filter_path=_BULK_FIELDS)
        if not resp.get("errors"):
            return len(owners), ids, {}
        permanent: dict[str, str] = {}
        transient = False
        for owner, item in zip(owners, resp["items"]):
            res = item.get(op, {})
            status = res.get("status", 200)
            if status < 300 or status == 409:  # 409: already there (redelivery) - that is success
                continue
            if status in _TRANSIENT_STATUS:
                transient = True
            else:
                permanent[owner] = str(res.get("error"))[:500]
        if transient:
            raise TransientIndexError("some documents were refused with a retryable status")
        return len(owners) - sum(1 for o in owners if o in permanent), ids, permanent

    async def _supersede_errors(self, results: Sequence[ScanResult], *, keep: set[str]) -> None:
        """Mark the analysis-error findings of these events superseded when a result now analysed them
        (a search filtered on keywords and one bulk write, no refresh; ids this batch wrote are kept)."""
        event_ids = sorted({r.event.event_id for r in results if not r.error})
        if not event_ids:
            return
        resp = await self.es.search(
            index=self.findings_target, size=10000, seq_no_primary_term=True, ignore_unavailable=True,
            query={"bool": {"filter": [{"terms": {"modelscreen.event_id": event_ids}},
                                       {"term": {"rule.id": ANALYSIS_ERROR}}],
                            "must_not": [{"term": {"modelscreen.superseded": True}}]}},
            filter_path=["hits.hits._index", "hits.hits._id", "hits.hits._seq_no", "hits.hits._primary_term",
                         "hits.hits._source"])
        operations: list[dict] = []
        for hit in resp.get("hits", {}).get("hits", []):
            if hit["_id"] in keep:
                continue
            doc = dict(hit["_source"])
            doc["modelscreen"] = {**(doc.get("modelscreen") or {}), "superseded": True}
            operations.append({"index": {"_index": hit["_index"], "_id": hit["_id"], "if_seq_no": hit["_seq_no"],
                                         "if_primary_term": hit["_primary_term"]}})
            operations.append(doc)
        if not operations:
            return
        resp = await self.es.bulk(operations=operations, refresh=False, filter_path=_BULK_FIELDS)
        for item in resp.get("items", []) if resp.get("errors") else []:
            status = next(iter(item.values())).get("status", 200)
            if status in _TRANSIENT_STATUS:
                raise TransientIndexError(f"superseding an analysis error refused with {status}")
            # 409: changed meanwhile; the next result for the event looks again

    async def _write_artifacts(self, results: Sequence[ScanResult]) -> None:
        pending: dict[str, list[ScanResult]] = {}
        for result in results:
            if result.sha256:
                pending.setdefault(result.sha256, []).append(result)
        for _attempt in range(10):
            if not pending:
                return
            got = await self.es.mget(index=self.artifacts_index, ids=list(pending))
            operations: list[dict] = []
            ids: list[str] = []
            for item in got["docs"]:
                sha = item["_id"]
                doc = merge_artifacts(item.get("_source") if item.get("found") else None, pending[sha])
                if item.get("found"):
                    meta = {"_index": self.artifacts_index, "_id": sha,
                            "if_seq_no": item["_seq_no"], "if_primary_term": item["_primary_term"]}
                    operations.append({"index": meta})
                else:
                    operations.append({"create": {"_index": self.artifacts_index, "_id": sha}})
                operations.append(doc)
                ids.append(sha)
            resp = await self.es.bulk(operations=operations, filter_path=_BULK_FIELDS)
            conflicted = set()
            for sha, item in zip(ids, resp["items"]):
                res = next(iter(item.values()))
                status = res.get("status", 200)
                if status == 409:
                    conflicted.add(sha)  # written meanwhile by someone else: merge again
                elif status in _TRANSIENT_STATUS:
                    raise TransientIndexError(f"artifact state refused with {status}")
                elif status >= 300:
                    log.error("artifact state for %s refused: %s", sha, res.get("error"))
            pending = {sha: rs for sha, rs in pending.items() if sha in conflicted}
        raise TransientIndexError("artifact state kept conflicting")
