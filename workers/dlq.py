"""Replay dead letters to the topic they came from."""
from __future__ import annotations

import uuid
from collections.abc import Iterator

from pydantic import ValidationError

from modelscreen.schemas.events import DeadLetter
from modelscreen.settings import Settings
from modelscreen.topics import DEAD_LETTER, STORE_EVENTS

REPLAY_GROUP = "modelscreen-dlq-replay"


def replay(settings: Settings, *, stage: str | None = None, limit: int | None = None, dry_run: bool = False,
           idle_timeout: float = 5.0) -> Iterator[dict]:
    from kafka import KafkaConsumer, KafkaProducer

    cfg = settings.kafka_python_config()
    group = f"{REPLAY_GROUP}-dry-{uuid.uuid4().hex[:8]}" if dry_run else REPLAY_GROUP
    consumer = KafkaConsumer(settings.topic(DEAD_LETTER), group_id=group, enable_auto_commit=False,
                             auto_offset_reset="earliest", consumer_timeout_ms=int(idle_timeout * 1000), **cfg)
    producer = None if dry_run else KafkaProducer(acks="all", **cfg)
    done = 0
    try:
        for msg in consumer:
            try:
                dl = DeadLetter.model_validate_json(msg.value)
            except ValidationError:
                yield {"offset": msg.offset, "skipped": "not a dead letter"}
                continue
            if stage and dl.stage != stage:
                continue
            target = dl.topic or settings.topic(STORE_EVENTS)
            line = {"offset": msg.offset, "stage": dl.stage, "reason": dl.reason, "to": target}
            if not dry_run:
                producer.send(target, value=dl.original, headers=[(k, v) for k, v in dl.headers] or None).get(30)
                consumer.commit()
                line["replayed"] = True
            yield line
            done += 1
            if limit and done >= limit:
                break
    finally:
        if producer:
            producer.flush()
            producer.close()
        consumer.close()
