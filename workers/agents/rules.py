"""Every worker follows the compacted rule-bundles topic: validate a new bundle, swap it in, or keep the old one.

Not a consumer-group agent: each worker must see every bundle, so it reads the single partition itself.
The leader then queues a retro-hunt of artifacts scanned with an older ruleset.
"""
from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from aiokafka import AIOKafkaConsumer, TopicPartition

from modelscreen.schemas.rules import RuleBundle
from modelscreen import topics
from modelscreen.engine.yara.loader import RulesetError, set_default_ruleset
from modelscreen.rule_bundles import MAX_BUNDLE_BYTES, validate
from modelscreen.sources.intake import dead_letter
from modelscreen.retrohunt import plan

if TYPE_CHECKING:
    from faust import App

    from modelscreen.app import Runtime

log = logging.getLogger("modelscreen.agents.rules")


async def apply_bundle(rt, value: bytes) -> str | None:
    """Validate and swap in; returns the new version, or None when the bundle was rejected (and reported)."""
    loop = asyncio.get_running_loop()
    try:
        bundle = RuleBundle.model_validate_json(value)
        ruleset = await loop.run_in_executor(rt.executor, validate, bundle)
    except (RulesetError, ValueError) as exc:
        problems = exc.problems if isinstance(exc, RulesetError) else [str(exc)]
        reason = "rule bundle rejected: " + "; ".join(problems)[:2000]
        log.error("%s (keeping ruleset %s)", reason, rt.ruleset_version)
        dl = dead_letter(reason, value, [], stage="rule-bundle", topic=rt.settings.topic(topics.RULE_BUNDLES))
        await rt.send_many([(topics.DEAD_LETTER, None, dl.model_dump_json().encode())])
        return None
    if ruleset.version != rt.ruleset_version:
        set_default_ruleset(ruleset)
        log.info("rule bundle %s in force (%d rules), was %s", ruleset.version, len(ruleset.rules),
                 rt.ruleset_version)
        rt.ruleset_version = ruleset.version
    return ruleset.version


async def retrohunt(rt, version: str) -> int:
    loop = asyncio.get_running_loop()
    es = rt.settings.elasticsearch_client()
    try:
        events = await loop.run_in_executor(None, lambda: plan(es, rt.settings.artifacts_index, version))
    finally:
        es.close()
    await rt.send_many([(topics.ARTIFACT_EVENTS, e.expected_sha256.encode(), e.model_dump_json().encode())
                        for e in events])
    log.info("retro-hunt for ruleset %s queued %d artifacts", version, len(events))
    return len(events)


def register(app: App, rt: Runtime) -> None:
    rt.topics[topics.RULE_BUNDLES] = app.topic(rt.settings.topic(topics.RULE_BUNDLES), partitions=1)

    @app.task
    async def follow_rule_bundles() -> None:
        tp = TopicPartition(rt.settings.topic(topics.RULE_BUNDLES), 0)
        consumer = AIOKafkaConsumer(group_id=None, enable_auto_commit=False, auto_offset_reset="earliest",
                                    max_partition_fetch_bytes=MAX_BUNDLE_BYTES + 65536,
                                    fetch_max_bytes=MAX_BUNDLE_BYTES + 65536,
                                    **rt.settings.kafka_python_config())
        await consumer.start()
        try:
            consumer.assign([tp])
            await consumer.seek_to_beginning(tp)
            started_with = rt.ruleset_version
            async for msg in consumer:
                version = await apply_bundle(rt, msg.value)
                caught_up = consumer.highwater(tp) == msg.offset + 1
                if version and caught_up and version != started_with and app.is_leader():
                    started_with = version
                    await asyncio.sleep(2)  # let the other workers swap the bundle in first
                    try:
                        await retrohunt(rt, version)
                    except Exception:  # the hunt can be rerun by hand: `modelscreen retrohunt`
                        log.exception("retro-hunt for ruleset %s failed", version)
        finally:
            await consumer.stop()
