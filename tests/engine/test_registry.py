"""The analyzer registry: one analyzer per format, all of them loaded by one import list."""
from __future__ import annotations

import pytest

from modelscreen.engine.analyzers import all as every
from modelscreen.engine.analyzers import text_code
from modelscreen.engine.analyzers.registry import ANALYZERS, DuplicateAnalyzer, analyzer_for, register


@pytest.fixture
def scratch():
    before = dict(ANALYZERS)
    yield
    ANALYZERS.clear()
    ANALYZERS.update(before)


def test_importing_all_registers_every_format():
    for fmt in ("pickle", "zip", "tar", "7z", "gzip", "safetensors", "gguf", "onnx", "hdf5", "numpy", "json",
                "yaml", "text", "tf-savedmodel", "pytorch-legacy", "unknown"):
        assert analyzer_for(fmt) is not None, fmt
    assert every.analyzer_for is analyzer_for


def test_a_second_analyzer_for_a_format_raises(scratch):
    @register("test-format")
    def first(stream, ctx):
        pass

    with pytest.raises(DuplicateAnalyzer, match="test-format"):
        @register("test-format")
        def second(stream, ctx):
            pass

    assert analyzer_for("test-format") is first


def test_the_same_function_registered_again_is_no_duplicate(scratch):
    def analyze(stream, ctx):
        pass

    register("test-format")(analyze)
    register("test-format")(analyze)  # a reloaded module
    assert analyzer_for("test-format") is analyze


def test_yaml_is_read_by_the_text_analyzer():
    assert analyzer_for("yaml") is text_code.analyze_yaml
