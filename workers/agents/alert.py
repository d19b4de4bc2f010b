"""alerts -> webhook (generic JSON or Slack-compatible), with retries; undeliverable alerts are dead-lettered."""
from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

import aiohttp
from pydantic import ValidationError

from modelscreen.schemas.alerts import Alert
from modelscreen import metrics, topics
from modelscreen.agents.batching import run_batched
from modelscreen.pipeline.alerting import webhook_payload
from modelscreen.agents.dead_letters import dead_letter_for

if TYPE_CHECKING:
    from faust import App

    from modelscreen.app import Runtime

log = logging.getLogger("modelscreen.agents.alert")


async def deliver(session: aiohttp.ClientSession, url: str, payload: dict, attempts: int) -> str | None:
    """None when delivered, else the last failure."""
    last = "not tried"
    for attempt in range(attempts):
        try:
            async with session.post(url, json=payload, timeout=aiohttp.ClientTimeout(total=10)) as resp:
                if resp.status < 300:
                    return None
                last = f"HTTP {resp.status}"
                if resp.status < 500 and resp.status != 429:
                    return last
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            last = f"{type(exc).__name__}: {exc}"
        metrics.WEBHOOK_FAILURES.inc()
        await asyncio.sleep(min(0.5 * 2**attempt, 10))
    return last


def register(app: App, rt: Runtime) -> None:
    @app.agent(rt.topics[topics.ALERTS], name="alert")
    async def alert(stream):
        url = rt.settings.alert_webhook_url
        session: aiohttp.ClientSession | None = None

        async def handle(batch):
            nonlocal session
            if not url:
                return
            session = session or aiohttp.ClientSession()
            out = []
            for ev in batch:
                msg = ev.message
                try:
                    item = Alert.model_validate_json(msg.value or b"")
                except ValidationError:
                    continue
                failure = await deliver(session, url, webhook_payload(item, rt.settings.alert_webhook_format),
                                        rt.settings.max_attempts)
                if failure:
                    out.append(dead_letter_for(msg, f"webhook delivery failed: {failure}", "alert",
                                               attempts=rt.settings.max_attempts))
            await rt.send_many(out)

        try:
            await run_batched(stream, handle, stage="alert", max_batch=100)
        finally:
            if session:
                await session.close()
