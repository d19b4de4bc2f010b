"""What every report renderer is, and the one rule for the default output format."""
from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Protocol

from modelscreen.schemas import ArtifactReport

FORMATS = ("table", "json", "sarif")


class Renderer(Protocol):
    """Scan reports -> text. `color`: the text goes to a terminal (formats without colour ignore it)."""

    def __call__(self, reports: Sequence[ArtifactReport], *, color: bool = False) -> str: ...


def output_format(requested: str | None, *, to_file: bool = False) -> str:
    """The format asked for; otherwise a table for a person at a terminal, JSON for pipes and files."""
    if requested:
        return requested
    return "table" if not to_file and sys.stdout.isatty() else "json"
