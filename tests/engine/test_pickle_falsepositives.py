"""Things people ship that used to read as attacks, and their malicious neighbours."""
from __future__ import annotations

import pickle

import pytest

from tests.fixtures.make_pickles import call, p4, s, sg
from modelscreen.engine import scan_bytes


def _scan(data: bytes, name: str = "x.pkl"):
    r = scan_bytes(data, name)[0]
    return r.verdict.value, {f.rule_id: f for f in r.findings}


def test_main_class_is_low_and_main_traversal_is_malicious():
    body = sg("copyreg", "_reconstructor") + b"(" + sg("__main__", "MyNet") + sg("builtins", "object") + b"Nt" + b"R}b"
    verdict, rules = _scan(p4(body))
    assert verdict == "clean" and rules["PICKLE-SCRIPT-CLASS"].severity.value == "low"
    verdict, _ = _scan(p4(call(sg("__main__", "os.system"), s("true"))))
    assert verdict == "malicious"


def test_cloudpickled_function_is_suspicious_unless_its_code_calls_a_sink():
    import cloudpickle

    def benign(rows):
        return [r.strip() for r in rows]

    verdict, rules = _scan(cloudpickle.dumps(benign))
    assert verdict == "suspicious" and "PICKLE-CLOUDPICKLE-FUNCTION" in rules

    import os

    def evil(cmd):
        return os.system(cmd)

    verdict, rules = _scan(cloudpickle.dumps(evil))
    assert verdict == "malicious" and "PICKLE-FUNCTION-CODE-SINK" in rules

    def evaluates(text):
        return eval(text)  # noqa: S307 - never run: only pickled and scanned

    verdict, rules = _scan(cloudpickle.dumps(evaluates))
    assert verdict == "malicious"


def test_torchscript_classes_are_not_imports():
    body = sg("__torch__.torch.nn.modules.linear", "Linear") + b")\x81}b"
    verdict, _ = _scan(p4(body))
    assert verdict == "clean"


def test_known_reconstructors_have_sources():
    from modelscreen.engine.pickle import tables

    assert tables.KNOWN_SAFE["pandas._libs.internals._unpickle_block"].startswith("pickle of pandas")
    assert "weights_only" in tables.KNOWN_SAFE["torch._utils._rebuild_tensor_v2"]
    assert {"python", "numpy", "sklearn"} <= set(tables.MADE_FROM)


def test_pandas_frame_is_clean():
    pd = pytest.importorskip("pandas")

    verdict, rules = _scan(pickle.dumps(pd.DataFrame({"a": [1, 2], "b": ["x", "y"]})))
    assert verdict == "clean", rules
