"""One call in a fresh `spawn`ed child (never forked from a running event loop)."""
from __future__ import annotations

import multiprocessing
import signal
import traceback
from typing import Any, Callable

from modelscreen.sandbox.isolation import harden
from modelscreen.sandbox.limits import SandboxLimits


class SandboxError(Exception):
    """The sandboxed call did not return a value; `kind` says why."""

    kind = "error"

    def __init__(self, message: str, exc_type: str | None = None):
        super().__init__(message)
        self.exc_type = exc_type


class SandboxCrash(SandboxError):
    kind = "crash"


class SandboxMemoryExceeded(SandboxError):
    kind = "memory"


class SandboxTimeout(SandboxError):
    kind = "time"


def _child(conn, limits: SandboxLimits, func: Callable, args: tuple, kwargs: dict) -> None:
    try:
        harden(limits)
        result = ("ok", func(*args, **kwargs))
    except MemoryError:
        result = ("memory", "MemoryError", "the child ran out of memory")
    except BaseException as exc:  # noqa: BLE001 - everything crosses back as a reason
        result = ("raised", type(exc).__name__, "".join(traceback.format_exception_only(exc)).strip())
    try:
        conn.send(result)
    except BaseException as exc:  # noqa: BLE001 - e.g. an unpicklable result
        conn.send(("raised", type(exc).__name__, str(exc)))
    finally:
        conn.close()


def run_sandboxed(func: Callable[..., Any], *args: Any, limits: SandboxLimits | None = None, **kwargs: Any) -> Any:
    limits = limits or SandboxLimits()
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(child, limits, func, args, kwargs), daemon=True)
    proc.start()
    child.close()
    try:
        if not parent.poll(limits.wall_seconds):
            proc.kill()
            proc.join()
            if proc.exitcode is not None and proc.exitcode < 0 and proc.exitcode != -signal.SIGKILL:
                raise SandboxCrash(f"the child died with signal {-proc.exitcode}")
            raise SandboxTimeout(f"no result within {limits.wall_seconds:g} s")
        try:
            message = parent.recv()
        except EOFError:
            proc.join()
            raise died(proc.exitcode) from None
    finally:
        parent.close()
        proc.join(timeout=5)
        if proc.is_alive():
            proc.kill()
            proc.join()
    status = message[0]
    if status == "ok":
        return message[1]
    if status == "memory":
        raise SandboxMemoryExceeded(message[2], message[1])
    raise SandboxError(message[2], message[1])


def died(exitcode: int | None) -> SandboxError:
    """The error for a child that exited without a result."""
    if exitcode is not None and exitcode < 0:
        sig = -exitcode
        if sig == signal.SIGXCPU:
            return SandboxTimeout("the child was stopped by SIGXCPU (CPU-time limit)")
        if sig == signal.SIGKILL:
            return SandboxCrash("the child was killed (SIGKILL: from outside the sandbox, e.g. the kernel's "
                                "out-of-memory killer, or past its hard CPU limit)")
        return SandboxCrash(f"the child died with signal {sig}{_signame(sig)}")
    return SandboxCrash(f"the child exited with status {exitcode} without a result")


def _signame(sig: int) -> str:
    try:
        return f" ({signal.Signals(sig).name})"
    except ValueError:
        return ""


def command_limits() -> SandboxLimits:
    """For one-shot commands that parse a whole model (verify, diff): memory, files and no network as for
    scans; time as long as hashing a large model directory may take."""
    return SandboxLimits(cpu_seconds=6 * 3600, wall_seconds=6 * 3600)


def reason(exc: SandboxError) -> str:
    """The message of an error raised by the sandboxed function, without its type name."""
    text = str(exc)
    prefix = f"{exc.exc_type}: " if exc.exc_type else ""
    return text[len(prefix):] if prefix and text.startswith(prefix) else text
