"""A bounded shutdown: after SIGTERM/SIGINT the worker stops cleanly (Faust commits the offsets of what was
acknowledged) or, when something hangs (a fetch stuck in a socket, a scan thread), exits anyway after a grace
period. Unacknowledged events are delivered again to whoever takes the partitions over (at-least-once)."""
from __future__ import annotations

import logging
import os
import sys
import threading

import faust

log = logging.getLogger("modelscreen.agents.shutdown")


def exit_after(grace: float, code: int = 0) -> threading.Thread:
    """Start a daemon thread that ends the process after `grace` seconds unless it ended before."""

    def watchdog() -> None:
        if stopped.wait(grace):
            return
        log.error("shutdown took longer than %.0fs: exiting anyway (unacknowledged events will be redelivered)",
                  grace)
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        os._exit(code)

    stopped = threading.Event()
    thread = threading.Thread(target=watchdog, name="shutdown-watchdog", daemon=True)
    thread.stopped = stopped  # type: ignore[attr-defined]
    thread.start()
    return thread


class BoundedWorker(faust.Worker):
    """A Faust worker whose signal-initiated shutdown ends within `shutdown_grace` seconds."""

    def __init__(self, *args, shutdown_grace: float, **kwargs):
        super().__init__(*args, **kwargs)
        self.shutdown_grace = shutdown_grace
        self._watchdog: threading.Thread | None = None

    def _schedule_shutdown(self, signal) -> None:  # mode.Worker's hook for SIGTERM and SIGINT
        if self._watchdog is None:
            log.info("%s: stopping (at most %.0fs)", getattr(signal, "name", signal), self.shutdown_grace)
            self._watchdog = exit_after(self.shutdown_grace)
        super()._schedule_shutdown(signal)
