"""Retry one event's work until it succeeds, fails for good, or runs out of time.

A permanent fetch failure gives up at once. A transient one (source down, timing out, short read) backs off
and retries until the event's deadline, then gives up with the last reason. Anything else (a crash in the
scan) is tried `max_attempts` times, within the same deadline. The caller dead-letters what gave up.
"""
from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from modelscreen.fetch.errors import FetchError, classify

log = logging.getLogger("modelscreen.pipeline.deadlines")


@dataclass(frozen=True)
class RetryPolicy:
    deadline: float  # seconds from the first try after which a transient failure gives up
    max_attempts: int  # tries of work that crashed (not a fetch failure)
    first_delay: float = 0.5
    max_delay: float = 10.0

    def delay(self, attempt: int) -> float:
        """Backoff before try `attempt + 1`, with jitter."""
        return min(self.max_delay, self.first_delay * 2 ** min(attempt - 1, 10)) * (0.5 + random.random() / 2)


@dataclass(frozen=True)
class Outcome:
    value: Any = None
    reason: str | None = None  # set when it gave up
    attempts: int = 0
    transient: bool = False  # the last failure was transient (it ran out of time)
    error: BaseException | None = None  # the last failure, when it gave up after one

    @property
    def gave_up(self) -> bool:
        return self.reason is not None


def failure_reason(exc: BaseException) -> tuple[str, bool | None]:
    """(reason, transient) for a fetch failure; (reason, None) for anything else."""
    if isinstance(exc, (FetchError, OSError)):
        err = classify(exc)
        return err.reason, err.transient
    return f"{type(exc).__name__}: {exc}", None


async def attempt_until(call: Callable[[], Awaitable[Any]], policy: RetryPolicy, *, what: str,
                        on_retry: Callable[[str, bool | None], None] | None = None,
                        clock: Callable[[], float] | None = None) -> Outcome:
    """Await call() (a fresh awaitable per try) under `policy`. Never raises for the call's failures;
    cancellation propagates."""
    loop = asyncio.get_running_loop()
    now = clock or loop.time
    give_up_at = now() + policy.deadline
    attempts = 0
    last: str | None = None
    last_exc: BaseException | None = None
    while True:
        attempts += 1
        remaining = give_up_at - now()
        try:
            value = await asyncio.wait_for(call(), timeout=max(remaining, 0.001))
            return Outcome(value=value, attempts=attempts)
        except asyncio.TimeoutError:
            cut = f"no result within the deadline of {policy.deadline:g}s"
            return Outcome(reason=f"{last} ({cut}, {attempts} attempts)" if last else cut, attempts=attempts,
                           transient=True, error=last_exc)
        except Exception as exc:
            reason, transient = failure_reason(exc)
            last, last_exc = reason, exc
        if transient is False:
            return Outcome(reason=reason, attempts=attempts, error=last_exc)
        if transient is None and attempts >= policy.max_attempts:
            log.error("giving up on %s after %d attempts: %s", what, attempts, reason)
            return Outcome(reason=reason, attempts=attempts, error=last_exc)
        delay = policy.delay(attempts)
        if now() + delay >= give_up_at:
            log.error("giving up on %s after %d attempts: %s", what, attempts, reason)
            return Outcome(reason=f"{reason} (still failing after {attempts} attempts, deadline "
                                  f"{policy.deadline:g}s)", attempts=attempts, transient=bool(transient),
                           error=last_exc)
        if on_retry:
            on_retry(reason, transient)
        log.warning("%s failed (%s), retry %d in %.1fs", what, reason, attempts, delay)
        await asyncio.sleep(delay)
