"""Limits a sandboxed child runs under, and the code that applies them inside the child."""
from __future__ import annotations

import resource

from pydantic import BaseModel, ConfigDict, Field


class SandboxLimits(BaseModel):
    """OS limits set in the child before it reads a byte; the parent enforces `wall_seconds`."""

    model_config = ConfigDict(frozen=True)

    memory_bytes: int = Field(2 * 1024**3, gt=0, description="Address-space limit (RLIMIT_AS)")
    cpu_seconds: int = Field(60, gt=0, description="CPU-time limit (RLIMIT_CPU)")
    wall_seconds: float = Field(120.0, gt=0, description="Wall-clock budget; the parent kills the child after it")
    open_files: int = Field(256, gt=16, description="Open file descriptors (RLIMIT_NOFILE)")
    network: bool = Field(False, description="Allow sockets (False: no network where the platform can deny it)")


CPU_TASKS = 8  # a warm child retires once it has used this many tasks' worth of CPU seconds


def apply_limits(limits: SandboxLimits) -> None:
    """Resource limits, called in the child before it reads a task. The hard CPU limit leaves room for the
    per-task soft limits a warm pool child sets (isolation.cpu_budget)."""
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_AS, (limits.memory_bytes, limits.memory_bytes))
    resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_seconds, limits.cpu_seconds * CPU_TASKS + 1))
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    cap = min(limits.open_files, hard) if hard != resource.RLIM_INFINITY else limits.open_files
    resource.setrlimit(resource.RLIMIT_NOFILE, (cap, cap))
