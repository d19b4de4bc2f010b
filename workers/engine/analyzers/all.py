"""Every analyzer module, imported once: importing registers. One module per format family."""
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
from modelscreen.engine.analyzers.registry import ANALYZERS, analyzer_for

__all__ = ["ANALYZERS", "analyzer_for"]
