"""Per-partition lanes: batches never mix partitions, a slow partition holds up only itself."""
from __future__ import annotations

import asyncio
from collections import namedtuple

from faust.types import TP

from modelscreen.agents.batching import run_batched

KafkaTP = namedtuple("KafkaTP", "topic partition")  # what a message may carry: not Faust's TP class


class Event:
    def __init__(self, partition: int, offset: int):
        self.message = type("M", (), {"tp": KafkaTP("t", partition), "offset": offset})()


class Consumer:
    def __init__(self):
        self.paused: list = []
        self.resumed: list = []

    def pause_partitions(self, tps):
        assert all(isinstance(tp, TP) for tp in tps)
        self.paused.extend(tps)

    def resume_partitions(self, tps):
        assert all(isinstance(tp, TP) for tp in tps)
        self.resumed.extend(tps)


class Stream:
    def __init__(self, events):
        self._events = events
        self.acked: list = []
        self.app = type("App", (), {"consumer": Consumer()})()

    def noack(self):
        return self

    async def events(self):
        for e in self._events:
            yield e
            await asyncio.sleep(0)
        await asyncio.sleep(3600)

    async def ack(self, event):
        self.acked.append(event)


def test_a_slow_partition_holds_up_only_itself():
    events = [Event(0, 0)] + [Event(1, i) for i in range(30)] + [Event(0, i) for i in range(1, 30)]
    stream = Stream(events)
    batches: list = []

    async def handle(batch):
        if batch[0].message.tp.partition == 0:
            await asyncio.sleep(0.5)  # partition 0 is slow
        batches.append(batch)

    async def main():
        task = asyncio.create_task(run_batched(stream, handle, stage="t", max_batch=5, within=0.01,
                                               per_partition=True))
        await asyncio.sleep(0.3)
        done_early = [e for b in batches for e in b]
        await asyncio.sleep(3)
        task.cancel()
        return done_early

    done_early = asyncio.run(main())
    assert len(done_early) == 30 and {e.message.tp.partition for e in done_early} == {1}
    assert all(len({e.message.tp for e in b}) == 1 for b in batches)
    assert len(stream.acked) == len(events)
