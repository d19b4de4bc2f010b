"""Test-only analyzer, installed in sandbox children by the tests (SandboxPool initializer): a text file
whose first line is `MODELSCREEN-TEST <ACTION> [arg]` makes the child misbehave the way hostile bytes in a
C parser could. Every other file is analysed as usual."""
from __future__ import annotations

import ctypes
import os
import signal
import time

from modelscreen.engine.analyzers.all import analyzer_for
from modelscreen.engine.analyzers.registry import ANALYZERS

MARK = b"MODELSCREEN-TEST "


def _segv() -> None:
    ctypes.string_at(0)  # a NULL read inside C: SIGSEGV


def _hang_in_c() -> None:
    ctypes.CDLL(None).pause()  # blocks in libc; Python's own time checks never run again


def _memory_bomb() -> None:
    hoard = []
    while True:
        hoard.append(bytearray(64 * 1024 * 1024))


def _wait(pidfile: str) -> None:
    with open(pidfile, "w") as fh:
        fh.write(str(os.getpid()))
    time.sleep(60)


def _spin() -> None:
    while True:
        pass


def _abort() -> None:
    os.abort()


def _signal() -> None:
    os.kill(os.getpid(), signal.SIGSEGV)


ACTIONS = {"SEGV": _segv, "HANG": _hang_in_c, "BOMB": _memory_bomb, "ABORT": _abort, "SIGNAL": _signal,
           "SPIN": _spin}


def install() -> None:
    """Pool initializer: wrap the text analyzer."""
    plain = analyzer_for("text")

    def analyze(stream, ctx):
        head = stream.read(200)
        if head.startswith(MARK):
            words = head[len(MARK):].split(b"\n", 1)[0].decode().split()
            if words[0] == "WAIT":
                _wait(words[1])
            else:
                ACTIONS[words[0]]()
        stream.seek(0)
        plain(stream, ctx)

    ANALYZERS["text"] = analyze


def probe(port: int) -> dict:
    """What a task sees inside a child: its limits and whether it can reach the network."""
    import resource
    import socket

    libc = ctypes.CDLL(None, use_errno=True)
    out = {"no_new_privs": libc.prctl(39, 0, 0, 0, 0), "as": resource.getrlimit(resource.RLIMIT_AS)[0],
           "core": resource.getrlimit(resource.RLIMIT_CORE)[1],
           "nofile": resource.getrlimit(resource.RLIMIT_NOFILE)[0], "pid": os.getpid()}
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=2)
        s.close()
        out["network"] = "connected"
    except OSError as exc:
        out["network"] = f"{type(exc).__name__}: {exc}"
    return out


def echo(x):
    return x


def raise_value_error():
    raise ValueError("bad input")


def pid() -> int:
    return os.getpid()


def crash_bundle_verifier() -> None:
    """Pool initializer: the signature-bundle verifier dies in C (SIGSEGV) on every bundle, as a hostile bundle
    could make a parser do."""
    from modelscreen.provenance import pipeline_checks

    def verify_bundle(model, bundle, options):
        _segv()

    pipeline_checks.verify_bundle = verify_bundle  # the parent's task names it; this child resolves it here
