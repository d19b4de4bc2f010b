"""scan-results -> behaviour evaluation (sandboxed) -> findings in Elasticsearch, alerts, evaluations topic.

Its own Faust app (consumer group `<app_id>-evaluate`, `modelscreen worker --stage evaluate`), so heavy
evaluations never slow scanning; off unless `evaluate_enabled` is set.
"""
from __future__ import annotations

import asyncio
import logging
import tempfile
from pathlib import Path

from pydantic import ValidationError

from modelscreen import topics
from modelscreen.agents.batching import retry_forever, run_batched
from modelscreen.agents.dead_letters import dead_letter_for
from modelscreen.evaluation.stage import ERROR_RULE, Outcome, as_result, due, error_finding, run_stage
from modelscreen.fetch import fetch_to_file
from modelscreen.fetch.base import FetchError
from modelscreen.pipeline.alerting import alerts_for
from modelscreen.provenance import load_policy, open_inventory
from modelscreen.provenance.inventory import identity_for_event
from modelscreen.sandbox import SandboxLimits
from modelscreen.schemas.results import ScanResult
from modelscreen.sinks.ecs import finding_documents

log = logging.getLogger("modelscreen.agents.evaluate")


def _evaluate_one(rt, inventory, policy, result: ScanResult) -> Outcome | None:
    """Blocking: fetch, evaluate, record. None when there is nothing to do."""
    baseline = due(result, inventory)
    if baseline is None:
        return None
    settings = rt.settings
    limits = SandboxLimits(memory_bytes=settings.evaluate_max_memory_mb * 1024 * 1024,
                           wall_seconds=settings.evaluate_max_seconds,
                           cpu_seconds=max(1, int(settings.evaluate_max_seconds)))
    with tempfile.TemporaryDirectory(prefix="modelscreen-evaluate-") as tmp:
        try:
            model = fetch_to_file(result.event.uri, Path(tmp) / "model.onnx", settings)
        except FetchError as exc:
            if exc.transient:
                raise
            req = policy.for_artifact(result.event.store.value, result.event.store_name, result.event.name or "")
            finding = error_finding(baseline, f"could not fetch the artifact: {exc}",
                                    req.severity(ERROR_RULE))
            return Outcome(as_result(result, [finding], str(exc)), None)
        outcome = run_stage(result, model, baseline, policy, limits)
    if outcome.evaluation is not None:
        inventory.set_behaviour(identity_for_event(result.event), result.sha256, outcome.evaluation)
    return outcome


def _index(es, target: str, observer, outcomes: list[Outcome]) -> None:
    operations = []
    for outcome in outcomes:
        for doc_id, doc in finding_documents(outcome.result, observer=observer):
            operations += [{"create": {"_index": target, "_id": doc_id}}, doc]
    if not operations:
        return
    resp = es.bulk(operations=operations, refresh=False)
    if resp.get("errors"):
        bad = [i for i in resp["items"] if next(iter(i.values())).get("status", 200) not in range(200, 300)
               and next(iter(i.values())).get("status") != 409]
        if bad:
            raise RuntimeError(f"{len(bad)} behaviour finding(s) refused: {next(iter(bad[0].values())).get('error')}")


def register(app, rt) -> None:
    @app.agent(rt.topics[topics.SCAN_RESULTS], name="evaluate")
    async def evaluate(stream):
        loop = asyncio.get_running_loop()
        state: dict = {}

        def open_clients():
            if not state:
                state["inventory"] = open_inventory("elasticsearch", settings=rt.settings)
                state["policy"] = load_policy(rt.settings.provenance_policy)
                state["es"] = rt.settings.elasticsearch_client()
            return state

        async def handle(batch):
            s = await loop.run_in_executor(rt.executor, open_clients)
            outcomes: list[Outcome] = []
            messages = []
            for ev in batch:
                try:
                    result = ScanResult.model_validate_json(ev.message.value or b"")
                except ValidationError as exc:  # not written by a scan stage
                    reason = f"invalid scan result: {exc.errors()[0].get('msg') if exc.errors() else exc}"
                    messages.append(dead_letter_for(ev.message, reason, "evaluate"))
                    continue
                outcome = await retry_forever(
                    "behaviour evaluation",
                    lambda r=result: loop.run_in_executor(rt.executor, _evaluate_one, rt, s["inventory"],
                                                          s["policy"], r),
                    is_transient=lambda exc: isinstance(exc, FetchError) and exc.transient)
                if outcome is not None:
                    outcomes.append(outcome)
            if outcomes:
                await loop.run_in_executor(rt.io_executor, _index, s["es"], rt.settings.findings_data_stream,
                                           rt.observer, outcomes)
            for o in outcomes:
                for alert in alerts_for(o.result, rt.settings.alert_min_severity):
                    messages.append((topics.ALERTS, alert.alert_id.encode(), alert.model_dump_json().encode()))
                if o.evaluation is not None:
                    messages.append((topics.EVALUATIONS, o.evaluation.sha256.encode(),
                                     o.evaluation.model_dump_json().encode()))
            await rt.send_many(messages)

        await run_batched(stream, handle, stage="evaluate", max_batch=10)
