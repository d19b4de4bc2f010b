"""`modelscreen gateway`: the HTTP webhook gateway in front of Kafka (see docs/gateway.md)."""
from __future__ import annotations

import logging
from pathlib import Path

import click

from modelscreen.gateway.settings import load_gateway_settings
from modelscreen.logs import configure
from modelscreen.topics import STORE_EVENTS


@click.command()
@click.option("--host", default=None, help="Address to listen on (default: the gateway_host setting, 127.0.0.1).")
@click.option("--port", type=click.IntRange(0, 65535), default=None,
              help="Port to listen on (default: the gateway_port setting, 8080).")
@click.option("--config", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="YAML settings file (environment variables MODELSCREEN_* win over it).")
@click.option("--loglevel", default="info", show_default=True)
def gateway(host: str | None, port: int | None, config: Path | None, loglevel: str) -> None:
    """Receive artifact-store webhooks over HTTP and produce them to the store-events topic.

    Answers 202 only once Kafka acknowledged the event, 503 while Kafka is unreachable.
    """
    import asyncio

    # lazy: aiohttp, for this command only
    from modelscreen.gateway.server import GatewayProducer, create_app
    from modelscreen.gateway.serving import serve

    configure(loglevel)
    settings = load_gateway_settings(config)
    host = host or settings.gateway_host
    port = settings.gateway_port if port is None else port
    app = create_app(settings, GatewayProducer(settings))
    logging.getLogger("modelscreen.gateway").info("producing to %s", settings.topic(STORE_EVENTS))
    asyncio.run(serve(app, settings, host, port))
