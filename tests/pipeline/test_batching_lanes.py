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


def test_tails_overlap_the_next_batch_run_in_order_and_ack_after_they_finished():
    """A handler's tail (its writes) runs while the next batch is handled; tails keep batch order, a failing
    tail is retried, and no event is acknowledged before its batch's tail finished."""
    stream = Stream([Event(0, i) for i in range(6)])
    log: list = []
    failed = set()

    async def handle(batch):
        first = batch[0].message.offset
        log.append(("handle", first))

        async def tail():
            log.append(("tail start", first))
            await asyncio.sleep(0.2)
            if first == 2 and first not in failed:
                failed.add(first)
                raise RuntimeError("a bug the retry gets past")
            assert [e.message.offset for e in stream.acked] == list(range(first))  # earlier batches only
            log.append(("tail end", first))

        return tail

    async def main():
        task = asyncio.create_task(run_batched(stream, handle, stage="t", max_batch=2, within=0.01))
        await asyncio.sleep(3)  # the failed tail is retried after a backoff of at most 0.4 s
        task.cancel()

    asyncio.run(main())
    assert [e.message.offset for e in stream.acked] == list(range(6))
    ends = [first for what, first in log if what == "tail end"]
    assert ends == [0, 2, 4]
    # batch 2 was handled before the tail of batch 0 ended
    assert log.index(("handle", 2)) < log.index(("tail end", 0))

