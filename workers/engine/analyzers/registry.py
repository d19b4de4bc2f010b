"""The analyzer registry: which function reads which format.

An analyzer reads from a seekable binary stream positioned at 0, adds findings to `ctx`, and hands
nested artifacts (archive members, decompressed payloads) to `ctx.scan_member`. It may set
`ctx.notes["format"]` to refine the sniffed format (e.g. zip -> pytorch-zip).

Each format has exactly one analyzer: registering a second one for the same format raises
`DuplicateAnalyzer` when the module is imported, so two modules can never silently fight over a format.
Registration happens on import; `analyzers/all.py` is the one list of analyzer modules.

Adding a format:
1. Add its name to `schemas/formats.py` (`Format`); teach `engine/sniff.py` to recognise it and return it.
2. Write `analyzers/<format>_format.py`: a threat-model docstring, a module-level `ANALYZER` name used
   in every `ctx.add(..., analyzer=ANALYZER)`, and `@register(Format.<format>)` on `analyze(stream, ctx)`
   (a member of `schemas.formats.Format`, the one enumeration of format names).
   Stay within `ctx.limits`; never deserialize; what cannot be read is a finding, not silence.
3. Import the module in `analyzers/all.py`.
4. Declare its finding ids in the rule catalog, and give each one a test that makes it fire
   (`tests/engine/test_<format>.py`, with fixtures built by a script under `tests/fixtures/`).
5. Describe it in `docs/formats.md`.
"""
from __future__ import annotations

from typing import BinaryIO, Callable

from modelscreen.engine.context import ScanContext

Analyzer = Callable[[BinaryIO, ScanContext], None]
ANALYZERS: dict[str, Analyzer] = {}


class DuplicateAnalyzer(ValueError):
    """Two analyzers registered for one format."""


def _same(a: Analyzer, b: Analyzer) -> bool:
    # The same function seen again (a module reloaded) is not a second analyzer.
    return (a.__module__, a.__qualname__) == (b.__module__, b.__qualname__)


def register(*formats: str) -> Callable[[Analyzer], Analyzer]:
    """Register the decorated function as the analyzer of `formats` (names, or `Format` members)."""
    def deco(fn: Analyzer) -> Analyzer:
        for fmt in formats:
            held = ANALYZERS.get(fmt)
            if held is not None and not _same(held, fn):
                raise DuplicateAnalyzer(f"format {fmt!r} already has an analyzer: "
                                        f"{held.__module__}.{held.__qualname__}")
            ANALYZERS[fmt] = fn
        return fn

    return deco


def analyzer_for(fmt: str) -> Analyzer | None:
    """The analyzer registered for `fmt`; import `analyzers.all` first to have them all."""
    return ANALYZERS.get(fmt)
