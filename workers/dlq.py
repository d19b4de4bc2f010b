"""Replay dead letters to the topic they came from, with their original key, value and headers.

What was replayed is remembered per stage: each stage has its own committed offsets (consumer group
`modelscreen-dlq-replay.<stage>`), so replaying one stage never marks another stage's dead letters as done.
A run reads up to the end offsets it saw when it started, so it ends even when replayed events fail again
at once (their new dead letters lie beyond that end): each dead letter is replayed at most once per run.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

from pydantic import ValidationError

from modelscreen.schemas.events import DeadLetter
from modelscreen.settings import Settings
from modelscreen.topics import DEAD_LETTER, STORE_EVENTS

REPLAY_GROUP = "modelscreen-dlq-replay"


def stage_group(stage: str) -> str:
    return f"{REPLAY_GROUP}.{stage}"


class _StageOffsets:
    """The committed replay offsets of each stage, read once, committed after each replayed letter."""

    def __init__(self, cfg: dict, tps: list, *, commit: bool):
        self.cfg = cfg
        self.tps = tps
        self.commit_enabled = commit
        self._offsets: dict[str, dict] = {}
        self._committers: dict[str, object] = {}

    def _committer(self, stage: str):
        from kafka import KafkaConsumer

        if stage not in self._committers:
            consumer = KafkaConsumer(group_id=stage_group(stage), enable_auto_commit=False, **self.cfg)
            consumer.assign(self.tps)
            self._committers[stage] = consumer
        return self._committers[stage]

    def done_upto(self, stage: str, tp) -> int:
        """Offsets below this were replayed for this stage."""
        if stage not in self._offsets:
            consumer = self._committer(stage)
            self._offsets[stage] = {t: consumer.committed(t) or 0 for t in self.tps}
        return self._offsets[stage].get(tp, 0)

    def mark(self, stage: str, tp, next_offset: int) -> None:
        from kafka.structs import OffsetAndMetadata

        self._offsets.setdefault(stage, {})[tp] = next_offset
        if self.commit_enabled:
            self._committer(stage).commit({tp: OffsetAndMetadata(next_offset, "", -1)})

    def close(self) -> None:
        for consumer in self._committers.values():
            consumer.close()


class Replay:
    """`run()` yields one line per dead letter re-queued (or, with dry_run, that would be); `summary` counts
    what the run did, by stage."""

    def __init__(self, settings: Settings, *, stage: str | None = None, limit: int | None = None,
                 dry_run: bool = False, idle_timeout: float = 5.0):
        self.settings = settings
        self.stage = stage
        self.limit = limit
        self.dry_run = dry_run
        self.idle_timeout = idle_timeout
        self.counts: Counter = Counter()
        self.by_stage: Counter = Counter()

    @property
    def summary(self) -> dict:
        counts = {k: self.counts[k] for k in ("read", "replayed", "would_replay", "other_stages", "replayed_before",
                                               "not_a_dead_letter")}
        return {"stage": self.stage, "dry_run": self.dry_run, **counts, "stopped_idle": bool(self.counts["stopped_idle"]),
                "replayed_by_stage": dict(self.by_stage)}

    def run(self) -> Iterator[dict]:
        from kafka import KafkaConsumer, KafkaProducer, TopicPartition

        cfg = self.settings.kafka_python_config()
        topic = self.settings.topic(DEAD_LETTER)
        reader = KafkaConsumer(group_id=None, enable_auto_commit=False, **cfg)
        partitions = sorted(reader.partitions_for_topic(topic) or ())
        tps = [TopicPartition(topic, p) for p in partitions]
        offsets = _StageOffsets(cfg, tps, commit=not self.dry_run)
        producer = None if self.dry_run else KafkaProducer(acks="all", **cfg)
        try:
            if not tps:
                return
            reader.assign(tps)
            end = reader.end_offsets(tps)  # this run stops here
            begin = reader.beginning_offsets(tps)
            for tp in tps:
                start = offsets.done_upto(self.stage, tp) if self.stage else 0
                reader.seek(tp, max(start, begin[tp]))
            pending = {tp for tp in tps if reader.position(tp) < end[tp]}
            done = 0
            while pending:
                polled = reader.poll(timeout_ms=int(self.idle_timeout * 1000))
                if not polled:
                    self.counts["stopped_idle"] += 1
                    break
                for tp, messages in polled.items():
                    for msg in messages:
                        if msg.offset >= end[tp]:
                            pending.discard(tp)
                            break
                        line = self._one(msg, tp, offsets, producer)
                        if line is not None:
                            yield line
                            done += 1
                            if self.limit and done >= self.limit:
                                return
                    if reader.position(tp) >= end[tp]:
                        pending.discard(tp)
        finally:
            if producer is not None:
                producer.flush()
                producer.close()
            offsets.close()
            reader.close()

    def _one(self, msg, tp, offsets: _StageOffsets, producer) -> dict | None:
        self.counts["read"] += 1
        try:
            dl = DeadLetter.model_validate_json(msg.value)
        except ValidationError:
            self.counts["not_a_dead_letter"] += 1
            return None
        if self.stage and dl.stage != self.stage:
            self.counts["other_stages"] += 1
            return None
        if msg.offset < offsets.done_upto(dl.stage, tp):
            self.counts["replayed_before"] += 1
            return None
        target = dl.topic or self.settings.topic(STORE_EVENTS)
        line = {"offset": msg.offset, "stage": dl.stage, "reason": dl.reason, "to": target,
                "key": dl.key.decode("utf-8", "replace") if dl.key is not None else None}
        if producer is not None:
            producer.send(target, key=dl.key, value=dl.original,
                          headers=[(k, v) for k, v in dl.headers] or None).get(30)
            offsets.mark(dl.stage, tp, msg.offset + 1)
            line["replayed"] = True
        self.counts["replayed" if producer is not None else "would_replay"] += 1
        self.by_stage[dl.stage] += 1
        return line


def replay(settings: Settings, *, stage: str | None = None, limit: int | None = None, dry_run: bool = False,
           idle_timeout: float = 5.0) -> Iterator[dict]:
    """Replay(...).run(): the lines only."""
    yield from Replay(settings, stage=stage, limit=limit, dry_run=dry_run, idle_timeout=idle_timeout).run()
