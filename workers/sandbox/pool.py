"""A warm pool of sandboxed children: each runs task after task under the limits it set on itself at start.

Children are started with `spawn` (never forked from the parent, whose asyncio loop, threads and locks
stay out of them). `run` takes an idle child, sends it one task and waits at most the wall-clock budget;
a child that crashes, runs out of memory or over time is killed and replaced, and the call raises the
matching `SandboxError`. Thread-safe: N threads calling `run` use N children side by side.
"""
from __future__ import annotations

import multiprocessing
import os
import queue
import threading
import traceback
from multiprocessing.reduction import ForkingPickler
from collections.abc import Callable
from typing import Any

from modelscreen.sandbox.isolation import cpu_budget, harden
from modelscreen.sandbox.limits import SandboxLimits
from modelscreen.sandbox.runner import SandboxError, SandboxMemoryExceeded, SandboxTimeout, died


def _serve(conn, limits: SandboxLimits, initializer: Callable | None, initargs: tuple) -> None:
    """The child's main loop: limits first, then the initializer, then tasks until told to stop."""
    status = harden(limits)
    if initializer is not None:
        initializer(*initargs)
    conn.send(("ready", status))
    while True:
        try:
            task = conn.recv()
        except EOFError:
            return
        if task is None:
            return
        func, args, kwargs = task
        retire = not cpu_budget(limits)
        try:
            reply = ("ok", func(*args, **kwargs))
        except MemoryError:
            reply, retire = ("memory", "MemoryError", "the child ran out of memory"), True
        except BaseException as exc:  # noqa: BLE001 - everything crosses back as a reason
            reply = ("raised", type(exc).__name__, "".join(traceback.format_exception_only(exc)).strip())
        try:
            conn.send((*reply[:1], retire, *reply[1:]))
        except BaseException as exc:  # noqa: BLE001 - e.g. an unpicklable result
            conn.send(("raised", retire, type(exc).__name__, str(exc)))
        if retire:
            return


def _dumps(task: tuple) -> bytes:
    """The task as the child's `recv` reads it; a task that cannot be pickled never reaches (or costs) a child."""
    try:
        return bytes(ForkingPickler.dumps(task))
    except Exception as exc:  # noqa: BLE001 - pickling raises many types
        raise SandboxError(f"the task cannot be sent to a sandbox child: {exc}", type(exc).__name__) from None


class _Child:
    def __init__(self, ctx, limits: SandboxLimits, initializer, initargs):
        self.conn, child_end = ctx.Pipe(duplex=True)
        self.proc = ctx.Process(target=_serve, args=(child_end, limits, initializer, initargs), daemon=True)
        self.proc.start()
        child_end.close()
        self.status: dict | None = None

    def kill(self) -> None:
        if self.proc.is_alive():
            self.proc.kill()
        self.proc.join()
        self.conn.close()

    def stop(self) -> None:
        try:
            self.conn.send(None)
        except OSError:
            pass
        self.proc.join(timeout=2)
        self.kill()


class SandboxPool:
    """`size` warm children (default: the number of cores) under `limits`. `initializer(*initargs)` runs in
    each child after its limits are set and before its first task (e.g. to register extra analyzers)."""

    def __init__(self, size: int | None = None, limits: SandboxLimits | None = None, *,
                 initializer: Callable[..., Any] | None = None, initargs: tuple = (), start_timeout: float = 60.0):
        self.size = max(1, size or os.cpu_count() or 1)
        self.limits = limits or SandboxLimits()
        self._ctx = multiprocessing.get_context("spawn")
        self._init = (initializer, initargs)
        self._start_timeout = start_timeout
        self._idle: queue.Queue[_Child] = queue.Queue()
        self._lock = threading.Lock()
        self._closed = False
        self.replaced = 0
        for _ in range(self.size):
            self._idle.put(self._spawn())

    def _spawn(self) -> _Child:
        return _Child(self._ctx, self.limits, *self._init)

    def _replace(self, child: _Child) -> None:
        child.kill()
        with self._lock:
            self.replaced += 1
            if self._closed:
                return
        self._idle.put(self._spawn())

    def _release(self, child: _Child) -> None:
        if self._closed:
            child.stop()
        else:
            self._idle.put(child)

    def _ready(self, child: _Child) -> None:
        """Wait for a fresh child's hello (its limits are set); a child that dies starting is an error."""
        if child.status is not None:
            return
        if not child.conn.poll(self._start_timeout):
            raise SandboxTimeout(f"a sandbox child did not start within {self._start_timeout:g} s")
        try:
            tag, child.status = child.conn.recv()
        except EOFError:
            child.proc.join()
            raise died(child.proc.exitcode) from None
        if tag != "ready":
            raise SandboxError(f"unexpected hello from a sandbox child: {tag!r}")

    def run(self, func: Callable[..., Any], *args: Any, wall_seconds: float | None = None, **kwargs: Any) -> Any:
        """func(*args, **kwargs) in a child: its return value, or a SandboxError subclass."""
        if self._closed:
            raise RuntimeError("the sandbox pool is closed")
        wall = wall_seconds if wall_seconds is not None else self.limits.wall_seconds
        task = _dumps((func, args, kwargs))
        child = self._idle.get()
        try:
            self._ready(child)
            child.conn.send_bytes(task)
            if not child.conn.poll(wall):
                raise SandboxTimeout(f"no result within {wall:g} s: the child was killed")
            message = child.conn.recv()
        except EOFError:
            child.proc.join()
            exc = died(child.proc.exitcode)
            self._replace(child)
            raise exc from None
        except BaseException:
            self._replace(child)
            raise
        status, retire = message[0], message[1]
        if retire:
            self._replace(child)
        else:
            self._release(child)
        if status == "ok":
            return message[2]
        if status == "memory":
            raise SandboxMemoryExceeded(message[3], message[2])
        raise SandboxError(message[3], message[2])

    def isolation(self) -> dict:
        """What one child reports it applied (netns, seccomp, no_new_privs)."""
        child = self._idle.get()
        try:
            self._ready(child)
        except BaseException:
            self._replace(child)
            raise
        self._release(child)
        return dict(child.status or {})

    def close(self) -> None:
        with self._lock:
            self._closed = True
        while True:
            try:
                self._idle.get_nowait().stop()
            except queue.Empty:
                return

    def __enter__(self) -> SandboxPool:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
