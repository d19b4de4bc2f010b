"""Consume a Faust stream in batches and acknowledge each event only after its batch was handled.

Faust acknowledges an event when the agent's loop moves past it, even when the loop is cancelled
mid-batch at shutdown. Here the stream runs with acks disabled; a separate task handles batches and
acks them after the handler returned, so an offset is committed only after its results are written.
Whatever is unacknowledged when the worker stops is delivered again (at-least-once).
"""
from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Sequence

from faust.types import EventT, StreamT

from modelscreen import metrics

log = logging.getLogger("modelscreen.agents")

Handler = Callable[[Sequence[EventT]], Awaitable[None]]


async def run_batched(stream: StreamT, handle: Handler, *, stage: str, max_batch: int = 500,
                      within: float = 0.2) -> None:
    stream = stream.noack()
    queue: asyncio.Queue[EventT] = asyncio.Queue(maxsize=max_batch * 2)
    loop = asyncio.get_running_loop()

    async def drain() -> None:
        while True:
            batch = [await queue.get()]
            deadline = loop.time() + within
            while len(batch) < max_batch:
                if not queue.empty():
                    batch.append(queue.get_nowait())
                    continue
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                try:
                    batch.append(await asyncio.wait_for(queue.get(), remaining))
                except asyncio.TimeoutError:
                    break
            # A handler failure (an outage it did not retry itself, a bug) retries the same batch with
            # backoff: nothing is acknowledged before it was handled, nothing is skipped.
            started = loop.time()
            await retry_forever(f"handling a batch of {len(batch)}", lambda: handle(batch),
                                is_transient=lambda exc: True)
            metrics.STAGE_SECONDS.labels(stage).observe(loop.time() - started)
            metrics.STAGE_EVENTS.labels(stage).inc(len(batch))
            for event in batch:
                await stream.ack(event)

    worker = asyncio.create_task(drain())
    try:
        async for event in stream.events():
            await queue.put(event)
            if worker.done():
                worker.result()
    finally:
        worker.cancel()


async def retry_forever(what: str, fn: Callable[[], Awaitable], *, is_transient: Callable[[BaseException], bool],
                        on_retry: Callable[[BaseException, int], None] | None = None, max_delay: float = 30.0):
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
