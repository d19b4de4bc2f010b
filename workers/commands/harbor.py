"""`modelscreen harbor-adapter`: Harbor's pluggable scanner API in front of the engine (see docs/harbor.md)."""
from __future__ import annotations

import logging
from pathlib import Path

import click

from modelscreen.harbor.auth import NoCredentials
from modelscreen.harbor.settings import load_adapter_settings
from modelscreen.logs import configure


@click.command("harbor-adapter")
@click.option("--host", default=None, help="Address to listen on (default: harbor_adapter_host, 127.0.0.1).")
@click.option("--port", type=click.IntRange(0, 65535), default=None,
              help="Port to listen on (default: harbor_adapter_port, 8090).")
@click.option("--config", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="YAML settings file (environment variables MODELSCREEN_* win over it).")
@click.option("--loglevel", default="info", show_default=True)
def harbor_adapter(host: str | None, port: int | None, config: Path | None, loglevel: str) -> None:
    """Serve Harbor's pluggable scanner API v1.2 (/api/v1/metadata, /scan, /scan/{id}/report).

    Register the URL in Harbor under Interrogation Services > Scanners. Scans run in-process (each file
    in the sandbox) or through the Kafka pipeline (harbor_scan_mode).
    """
    from aiohttp import web

    from modelscreen.harbor.service import build_app  # lazy: aiohttp, for this command only

    configure(loglevel)
    settings = load_adapter_settings(config)
    host = host or settings.harbor_adapter_host
    port = settings.harbor_adapter_port if port is None else port
    try:
        app = build_app(settings)
    except NoCredentials as exc:
        raise click.UsageError(str(exc)) from None
    logging.getLogger("modelscreen.harbor").info("Harbor scanner adapter on %s:%d (%s scans)", host, port,
                                                 settings.harbor_scan_mode)
    web.run_app(app, host=host, port=port, access_log=None, print=None)
