"""Bounds on the work spent on one artifact. Exceeding one is a finding, never a crash or a hang."""
from __future__ import annotations

import time

from pydantic import BaseModel, Field

KiB = 1024
MiB = 1024 * KiB
GiB = 1024 * MiB


class Limits(BaseModel):
    max_file_bytes: int = Field(default=64 * GiB, description="Largest artifact scanned at all")
    max_pickle_bytes: int = Field(default=8 * GiB, description="Longest pickle stream walked opcode by opcode")
    max_inline_bytes: int = Field(default=64 * MiB, description="Largest argument or member held in memory")
    max_decompressed_bytes: int = Field(default=16 * GiB, description="Total bytes produced by decompression per artifact")
    max_compression_ratio: float = Field(default=1000.0, description="Ratio above which a member is a zip-bomb suspect")
    max_entries: int = Field(default=10_000, description="Archive members per archive")
    max_depth: int = Field(default=6, description="Nesting of archives and embedded pickles")
    max_header_bytes: int = Field(default=100_000_000, description="Largest safetensors/npy header")
    max_seconds: float = Field(default=300.0, description="Wall-clock budget per top-level artifact")
    max_pickle_ops: int = Field(default=500_000_000, description="Opcodes walked per pickle stream")
    max_findings: int = Field(default=500, description="Findings kept per artifact (the rest are counted)")
    max_temp_bytes: int = Field(default=2 * GiB, description="Temporary disk (and spool memory) held at once by "
                                "decompressed members of one top-level artifact")


class LimitExceeded(Exception):
    """Raised inside an analyzer when a bound trips; the scanner turns it into a finding."""

    def __init__(self, limit: str, detail: str):
        super().__init__(f"{limit}: {detail}")
        self.limit = limit
        self.detail = detail


class Budget:
    """Deadline shared by an artifact and everything nested in it."""

    def __init__(self, limits: Limits):
        self.limits = limits
        self.deadline = time.monotonic() + limits.max_seconds
        self.decompressed = 0
        self.temp = 0  # bytes held in spools (memory or temporary files) right now

    def temp_room(self) -> int:
        return max(self.limits.max_temp_bytes - self.temp, 0)

    def add_temp(self, n: int) -> None:
        if self.temp + n > self.limits.max_temp_bytes:
            raise LimitExceeded("max_temp_bytes", f"decompressed members would hold more than "
                                f"{self.limits.max_temp_bytes} bytes of temporary storage at once")
        self.temp += n

    def release_temp(self, n: int) -> None:
        self.temp = max(self.temp - n, 0)

    def check_time(self) -> None:
        if time.monotonic() > self.deadline:
            raise LimitExceeded("max_seconds", f"analysis exceeded {self.limits.max_seconds:g}s")

    def add_decompressed(self, n: int) -> None:
        self.decompressed += n
        if self.decompressed > self.limits.max_decompressed_bytes:
            raise LimitExceeded(
                "max_decompressed_bytes",
                f"decompressed data exceeds {self.limits.max_decompressed_bytes} bytes",
            )
