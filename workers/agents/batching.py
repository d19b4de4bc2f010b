"""Consume a Faust stream in batches and acknowledge each event only after its batch was handled.

Faust acknowledges an event when the agent's loop moves past it, even when the loop is cancelled
mid-batch at shutdown. Here the stream runs with acks disabled; a separate task handles batches and
acks them after the handler returned, so an offset is committed only after its results are written.
Whatever is unacknowledged when the worker stops is delivered again (at-least-once).

A handler may return a tail: the rest of its batch's work (index writes, produce). The lane starts on the
next batch while the tail runs, so one batch's Elasticsearch and Kafka round trips overlap the next batch's
work; tails run one at a time in batch order, and a batch is acknowledged after its tail finished.
"""
from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from faust.types import EventT, StreamT

from modelscreen import metrics

log = logging.getLogger("modelscreen.agents")

Tail = Callable[[], Awaitable[None]]
Handler = Callable[[Sequence[EventT]], Awaitable[Tail | None]]


async def run_batched(stream: StreamT, handle: Handler, *, stage: str, max_batch: int = 500,
                      within: float = 0.2, per_partition: bool = False) -> None:
    """Hand the stream to `handle` in batches, acknowledging each event after its batch was handled.

    `per_partition`: each partition is a lane of its own (batches never mix partitions and lanes run side
    by side), so an event whose handling takes long holds up the later events of its own partition only,
    until `LANE_BACKLOG` batches of them wait; then the stream waits for that lane (bounded memory)."""
    stream = stream.noack()
    lanes: dict[Any, _Lane] = {}

    def lane_for(event: EventT) -> _Lane:
        key = event.message.tp if per_partition else None
        lane = lanes.get(key)
        if lane is None:
            lane = lanes[key] = _Lane(key, stream, handle, stage=stage, max_batch=max_batch, within=within,
                                      backlog=max_batch * (LANE_BACKLOG if per_partition else 2))
        return lane

    try:
        async for event in stream.events():
            await lane_for(event).put(event)
            for lane in lanes.values():
                lane.check()
    finally:
        for lane in lanes.values():
            lane.task.cancel()


LANE_BACKLOG = 5  # batches a partition's lane may hold before the stream waits for it
FILL_NAP = 0.005  # seconds a filling batch waits for more events at a time


class _Lane:
    """One queue of events and the task that handles them in batches."""

    def __init__(self, key, stream: StreamT, handle: Handler, *, stage: str, max_batch: int, within: float,
                 backlog: int):
        self.key = key
        self.stream = stream
        self.handle = handle
        self.stage = stage
        self.max_batch = max_batch
        self.within = within
        self.queue: asyncio.Queue[EventT] = asyncio.Queue(maxsize=backlog)
        self.task = asyncio.create_task(self._drain())
        self.task.add_done_callback(self._stopped)

    def _stopped(self, task: asyncio.Task) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error("%s: the batch loop of %s stopped: %r", self.stage, self.key or "the stream", task.exception(),
                      exc_info=task.exception())

    async def put(self, event: EventT) -> None:
        await self.queue.put(event)

    def check(self) -> None:
        if self.task.done():
            self.task.result()  # re-raise what stopped the lane

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        queue = self.queue
        tail: asyncio.Task | None = None  # the previous batch's tail, then its acknowledgements
        try:
            while True:
                batch = [await queue.get()]
                deadline = loop.time() + self.within
                while len(batch) < self.max_batch:
                    if not queue.empty():
                        batch.append(queue.get_nowait())
                        continue
                    remaining = deadline - loop.time()
                    if remaining <= 0:
                        break
                    # A short nap, then whatever arrived meanwhile: a wait per event would cost a task and a
                    # timer each.
                    await asyncio.sleep(min(remaining, FILL_NAP))
                # A handler failure (an outage it did not retry itself, a bug) retries the same batch with
                # backoff: nothing is acknowledged before it was handled, nothing is skipped.
                started = loop.time()
                rest = await self._retried(len(batch), lambda: self.handle(batch))
                if tail is not None:
                    await tail
                tail = asyncio.create_task(self._finish(batch, rest, started))
        finally:
            if tail is not None:
                tail.cancel()

    async def _retried(self, n: int, fn: Callable[[], Awaitable]):
        return await retry_forever(f"handling a batch of {n}", fn, is_transient=lambda exc: True)

    async def _finish(self, batch: list[EventT], rest: Tail | None, started: float) -> None:
        if rest is not None:
            await self._retried(len(batch), rest)
        metrics.STAGE_SECONDS.labels(self.stage).observe(asyncio.get_running_loop().time() - started)
        metrics.STAGE_EVENTS.labels(self.stage).inc(len(batch))
        for event in batch:
            await self.stream.ack(event)


# Longest wait between retries during an outage: work resumes within this long after the service is back.
OUTAGE_MAX_DELAY = 3.0


async def retry_forever(what: str, fn: Callable[[], Awaitable], *, is_transient: Callable[[BaseException], bool],
                        on_retry: Callable[[BaseException, int], None] | None = None,
                        max_delay: float = OUTAGE_MAX_DELAY):
    """Await fn() until it succeeds; transient failures back off (with jitter) and retry without limit."""
    attempt = 0
    while True:
        try:
            return await fn()
        except Exception as exc:
            if not is_transient(exc):
                raise
            attempt += 1
            delay = min(max_delay, 0.2 * 2 ** min(attempt, 8)) * (0.5 + random.random() / 2)
            log.warning("%s failed (%s), retry %d in %.1fs", what, exc, attempt, delay)
            if on_retry:
                on_retry(exc, attempt)
            await asyncio.sleep(delay)
