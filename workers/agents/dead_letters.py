"""The dead-letter message for a consumed Kafka message, as every agent produces it."""
from __future__ import annotations

from modelscreen import metrics, topics
from modelscreen.schemas import ArtifactReport
from modelscreen.sources.base import InvalidEvent
from modelscreen.sources.intake import dead_letter


def dead_letter_for(msg, reason: InvalidEvent | str, stage: str, *, attempts: int = 1,
                    report: ArtifactReport | None = None) -> tuple[str, None, bytes]:
    """(topic, key, value) ready for Runtime.send_many; keeps the original bytes and headers (and the
    artifact's error `report`, when its scan gave up)."""
    metrics.DEAD_LETTERS.labels(stage).inc()
    dl = dead_letter(reason, msg.value, list(msg.headers or []), stage=stage, topic=msg.topic,
                     partition=msg.partition, offset=msg.offset, attempts=attempts, key=msg.key, report=report)
    return topics.DEAD_LETTER, None, dl.model_dump_json().encode()
