"""Per-format analyzers. Each module registers a function `analyze(stream, ctx)` for the formats it reads.

An analyzer reads from a seekable binary stream positioned at 0, adds findings to `ctx`, and hands
nested artifacts (archive members, decompressed payloads) to `ctx.scan_member`. It may set
`ctx.notes["format"]` to refine the sniffed format (e.g. zip -> pytorch-zip).
"""
from __future__ import annotations

from typing import BinaryIO, Callable

from modelscreen.engine.context import ScanContext
from modelscreen.schemas.formats import Format

Analyzer = Callable[[BinaryIO, ScanContext], None]
ANALYZERS: dict[Format, Analyzer] = {}


def register(*formats: Format) -> Callable[[Analyzer], Analyzer]:
    def deco(fn: Analyzer) -> Analyzer:
        for fmt in formats:
            ANALYZERS[fmt] = fn
        return fn

    return deco


def analyzer_for(fmt: Format | str) -> Analyzer | None:
    _load()
    return ANALYZERS.get(fmt)


_loaded = False


def _load() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    # Importing registers. One module per format family.
    from modelscreen.engine.analyzers import (  # noqa: F401
        compressed,
        configs,
        gguf_format,
        keras_format,
        numpy_format,
        onnx_format,
        pickle_format,
        safetensors_format,
        sevenzip,
        tar_format,
        text_code,
        tf_savedmodel,
        torch_legacy,
        zip_format,
    )
