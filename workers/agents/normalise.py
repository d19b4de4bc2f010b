"""store-events -> artifact-events: recognise each store's payload by shape; the rest is dead-lettered.

An event about bytes this worker scanned and indexed already goes no further than here: it is checked,
indexed and published at once (agents.results), one Kafka hop instead of two for a popular model's downloads.
"""
from __future__ import annotations

import logging
from collections import Counter
from dataclasses import replace
from typing import TYPE_CHECKING

from modelscreen import metrics, topics
from modelscreen.agents.batching import run_batched
from modelscreen.agents.results import conclude, settled_outcome
from modelscreen.provenance.pipeline_checks import pipeline_policy
from modelscreen.sources.base import InvalidEvent
from modelscreen.agents.dead_letters import dead_letter_for
from modelscreen.sources.intake import normalise_raw

if TYPE_CHECKING:
    from faust import App

    from modelscreen.app import Runtime

log = logging.getLogger("modelscreen.agents.normalise")


def artifact_key(event) -> bytes:
    """Same artifact, same partition: never scanned twice at once."""
    return (event.expected_sha256 or event.uri).encode()


def register(app: App, rt: Runtime) -> None:
    @app.agent(rt.topics[topics.STORE_EVENTS], name="normalise")
    async def normalise(stream):
        async def handle(batch):
            out = []
            settled = []
            policy = pipeline_policy(rt.settings)
            kinds: Counter[tuple[str, str]] = Counter()
            metrics.RAW_IN.inc(len(batch))
            for ev in batch:
                msg = ev.message
                headers = list(msg.headers or [])
                try:
                    events = normalise_raw(msg.value or b"", headers)
                except InvalidEvent as exc:
                    log.warning("dead-lettered %s:%s@%s: %s", msg.topic, msg.partition, msg.offset, exc)
                    out.append(dead_letter_for(msg, exc, "intake"))
                    continue
                for event in events:
                    kinds[(event.store.value, event.action.value)] += 1
                    outcome = settled_outcome(rt, event, policy)
                    if outcome is not None:
                        settled.append(replace(outcome, message=msg))
                    else:
                        out.append((topics.ARTIFACT_EVENTS, artifact_key(event), event.model_dump_json().encode()))
            for (store, action), n in kinds.items():
                metrics.EVENTS_IN.labels(store, action).inc(n)
            return await conclude(rt, settled, out)

        await run_batched(stream, handle, stage="normalise")
