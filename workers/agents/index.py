"""scan-results -> Elasticsearch (findings + artifact state) -> alerts topic."""
from __future__ import annotations

import logging
from collections import Counter
from typing import TYPE_CHECKING

from pydantic import ValidationError

from modelscreen.schemas.results import ScanResult
from modelscreen import metrics, topics
from modelscreen.agents.batching import retry_forever, run_batched
from modelscreen.pipeline.alerting import alerts_for
from modelscreen.sinks.elasticsearch import FindingsWriter, PermanentIndexError, TransientIndexError
from modelscreen.agents.dead_letters import dead_letter_for
from modelscreen.sinks.es_setup import supports_data_streams

if TYPE_CHECKING:
    from faust import App

    from modelscreen.app import Runtime

log = logging.getLogger("modelscreen.agents.index")


async def writer_for(rt: Runtime) -> FindingsWriter:
    if rt.writer is None:
        from elasticsearch import AsyncElasticsearch

        sync = rt.settings.elasticsearch_client()
        data_stream = await retry_forever("elasticsearch capabilities",
                                          lambda: _in_thread(lambda: supports_data_streams(sync)),
                                          is_transient=lambda exc: True)
        sync.close()
        es = AsyncElasticsearch(**rt.settings.elasticsearch_kwargs())
        rt.writer = FindingsWriter(es, findings_target=rt.settings.findings_data_stream,
                                   artifacts_index=rt.settings.artifacts_index, observer=rt.observer,
                                   data_stream=data_stream)
    return rt.writer


async def _in_thread(fn):
    import asyncio

    return await asyncio.get_running_loop().run_in_executor(None, fn)


def register(app: App, rt: Runtime) -> None:
    @app.agent(rt.topics[topics.SCAN_RESULTS], name="index")
    async def index(stream):
        async def handle(batch):
            results: list[ScanResult] = []
            raw: dict[str, object] = {}
            out = []
            for ev in batch:
                msg = ev.message
                try:
                    result = ScanResult.model_validate_json(msg.value or b"")
                except ValidationError as exc:
                    out.append(dead_letter_for(msg, f"invalid scan result: {exc.errors()[0].get('msg')}", "index"))
                    continue
                results.append(result)
                raw[result.event.event_id] = msg
            writer = await writer_for(rt)
            try:
                await retry_forever("index to elasticsearch", lambda: writer.write(results),
                                    is_transient=lambda exc: isinstance(exc, TransientIndexError),
                                    on_retry=lambda exc, n: metrics.RETRIES.labels("index").inc())
            except PermanentIndexError as exc:
                for event_id, reason in exc.reasons.items():
                    out.append(dead_letter_for(raw[event_id], f"elasticsearch refused: {reason}", "index"))
            severities = Counter(f.severity.value for result in results for report in result.reports
                                 for f in report.findings)
            for severity, n in severities.items():
                metrics.FINDINGS.labels(severity).inc(n)
            for result in results:
                for alert in alerts_for(result, rt.settings.alert_min_severity):
                    metrics.ALERTS.labels(alert.severity.value).inc()
                    out.append((topics.ALERTS, alert.alert_id.encode(), alert.model_dump_json().encode()))
            await rt.send_many(out)

        await run_batched(stream, handle, stage="index", max_batch=500)
