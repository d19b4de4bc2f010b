"""Process hardening applied inside a sandboxed child before it reads its first task.

What each platform gets:
- Linux: resource limits, core dumps off, a session of its own, PR_SET_NO_NEW_PRIVS, a new (empty)
  network namespace when the process may create one (root, or unprivileged user namespaces), and a
  seccomp filter that denies creating any socket but AF_UNIX when `pyseccomp` and libseccomp are installed.
- macOS and other POSIX systems: resource limits, core dumps off and a session of their own; network is
  not denied.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
import resource
import socket
import sys

from modelscreen.sandbox.limits import SandboxLimits, apply_limits

PR_SET_NO_NEW_PRIVS = 38
PR_GET_NO_NEW_PRIVS = 39
CLONE_NEWUSER = 0x10000000
CLONE_NEWNET = 0x40000000


def _libc():
    name = ctypes.util.find_library("c")
    return ctypes.CDLL(name, use_errno=True) if name else None


def cpu_used() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def cpu_budget(limits: SandboxLimits) -> bool:
    """Before a task: the soft CPU limit is this task's share on top of what was used. False when the hard
    limit leaves less than one task's share (the child should retire)."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_CPU)
    want = int(cpu_used()) + limits.cpu_seconds + 1
    if hard != resource.RLIM_INFINITY and want > hard:
        return False
    resource.setrlimit(resource.RLIMIT_CPU, (want, hard))
    return True


def no_new_privs() -> bool:
    if not sys.platform.startswith("linux"):
        return False
    libc = _libc()
    if libc is None:
        return False
    return libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0


def _unshare_net(libc) -> bool:
    if libc.unshare(CLONE_NEWNET) == 0:
        return True
    # unprivileged: a user namespace of our own first (allowed only while single-threaded)
    return libc.unshare(CLONE_NEWUSER | CLONE_NEWNET) == 0


def _seccomp_no_sockets() -> bool:
    try:
        import pyseccomp  # optional (Linux with libseccomp): imported only where it can load
    except (ImportError, OSError):
        return False
    try:
        f = pyseccomp.SyscallFilter(pyseccomp.ALLOW)
        f.add_rule(pyseccomp.ERRNO(errno.EPERM), "socket", pyseccomp.Arg(0, pyseccomp.NE, socket.AF_UNIX))
        try:  # io_uring can open sockets without socket(2)
            f.add_rule(pyseccomp.ERRNO(errno.EPERM), "io_uring_setup")
        except (RuntimeError, ValueError, OSError):
            pass
        f.load()
        return True
    except (RuntimeError, ValueError, OSError):
        return False


def deny_network() -> dict[str, bool]:
    """Linux: empty network namespace and/or seccomp socket filter. Returns what was applied."""
    if not sys.platform.startswith("linux"):
        return {"netns": False, "seccomp": False}
    libc = _libc()
    netns = libc is not None and _unshare_net(libc)
    return {"netns": netns, "seccomp": _seccomp_no_sockets()}


def _new_session() -> bool:
    """A session of its own: no controlling terminal to read from or signal; terminal signals reach the
    parent, which stops its children itself."""
    try:
        os.setsid()
        return True
    except (AttributeError, OSError):
        return False


def stdout_to_stderr() -> None:
    """A child's results travel over its pipe: whatever it prints (Python or C writing to file descriptor
    1) goes to standard error, never into a report on the parent's standard output."""
    try:
        sys.stdout.flush()
        os.dup2(2, 1)
    except (AttributeError, OSError, ValueError):
        pass
    sys.stdout = sys.stderr


def harden(limits: SandboxLimits) -> dict[str, bool]:
    """Everything, in an order that works: namespaces need a single thread and come before seccomp."""
    status = {"netns": False, "seccomp": False}
    if not limits.network:
        status = deny_network()
    status["no_new_privs"] = no_new_privs()
    status["session"] = _new_session()
    stdout_to_stderr()
    apply_limits(limits)
    return status
