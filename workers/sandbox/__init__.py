"""The scan sandbox: run a function in a child process with OS limits, so hostile bytes parsed by C code
we do not own can crash, hang or exhaust only that child.

`run_sandboxed(func, *args, limits=...)` is the one entry point; a crash, memory or time overrun becomes
a `SandboxError` subclass in the parent, never an outage of the caller. `SandboxPool` keeps warm children
for many calls; `modelscreen.sandbox.scanning` scans artifacts with it.
"""
from modelscreen.sandbox.limits import SandboxLimits
from modelscreen.sandbox.pool import SandboxPool
from modelscreen.sandbox.runner import (
    SandboxCrash,
    SandboxError,
    SandboxMemoryExceeded,
    SandboxTimeout,
    run_sandboxed,
)

__all__ = ["SandboxCrash", "SandboxError", "SandboxLimits", "SandboxMemoryExceeded", "SandboxPool",
           "SandboxTimeout", "run_sandboxed"]
