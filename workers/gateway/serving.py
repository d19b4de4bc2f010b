"""Serving the gateway app with bounds on what a client can hold: a connection limit (a connection over it
is answered 503 and closed at once), a time limit for the request head (aiohttp's keep-alive timer runs from
the moment a connection opens, so a client that never finishes its headers is closed when it fires) and, in
the handlers, one for the body (`gateway_body_timeout`)."""
from __future__ import annotations

import asyncio
import logging
import signal

from aiohttp import web

from modelscreen.gateway import metrics
from modelscreen.gateway.settings import GatewaySettings

log = logging.getLogger("modelscreen.gateway")

_BODY = b'{"accepted": false, "error": "too many connections"}'
OVER_LIMIT = (b"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nRetry-After: 5\r\n"
              b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(_BODY), _BODY))


class _Refuse(asyncio.Protocol):
    """A connection over the limit: answered 503 and closed without reading it."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        metrics.CONNECTIONS_REFUSED.inc()
        transport.write(OVER_LIMIT)  # type: ignore[attr-defined]
        transport.close()


class _Counted(asyncio.Protocol):
    """Passes everything to aiohttp's handler; tells the site when the connection is gone. (The accept loop
    creates protocols for a burst of connections before any of them is registered with the server, so the
    count is kept here, from creation on.)"""

    def __init__(self, inner: asyncio.Protocol, site: LimitedSite):
        self.inner = inner
        self.site = site

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self.inner.eof_received()

    def pause_writing(self) -> None:
        self.inner.pause_writing()

    def resume_writing(self) -> None:
        self.inner.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        self.site.open_connections -= 1
        self.inner.connection_lost(exc)


class LimitedSite(web.BaseSite):
    """A TCP site that keeps at most `max_connections` connections open."""

    __slots__ = ("_host", "_port", "_max_connections", "open_connections")

    def __init__(self, runner: web.BaseRunner, host: str, port: int, *, max_connections: int, backlog: int = 128):
        super().__init__(runner, backlog=backlog)
        self._host = host
        self._port = port
        self._max_connections = max_connections
        self.open_connections = 0

    @property
    def name(self) -> str:
        return f"http://{self._host}:{self._port}"

    def _protocol(self) -> asyncio.BaseProtocol:
        server = self._runner.server
        assert server is not None
        if self.open_connections >= self._max_connections:
            return _Refuse()
        self.open_connections += 1
        return _Counted(server(), self)

    async def start(self) -> None:
        await super().start()
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self._protocol, self._host, self._port, backlog=self._backlog,
                                                reuse_address=True)


def make_runner(app: web.Application, settings: GatewaySettings) -> web.AppRunner:
    return web.AppRunner(app, access_log=None, keepalive_timeout=settings.gateway_header_timeout,
                         shutdown_timeout=max(5.0, settings.gateway_send_timeout))


async def serve(app: web.Application, settings: GatewaySettings, host: str, port: int) -> None:
    """Run until SIGTERM or SIGINT, then stop accepting, finish what is in flight and clean up."""
    runner = make_runner(app, settings)
    await runner.setup()
    site = LimitedSite(runner, host, port, max_connections=settings.gateway_max_connections)
    await site.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    log.info("listening on %s:%d (at most %d connections)", host, port, settings.gateway_max_connections)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()
