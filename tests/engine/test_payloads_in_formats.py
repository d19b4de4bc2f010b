"""Payloads carried inside other formats: encoded pickles in Keras configs, Hydra `_target_` values in
YAML/JSON (also inside safetensors __metadata__ and GGUF metadata) judged like pickle globals."""
from __future__ import annotations

import base64
import json

from tests.fixtures import make_containers as mc
from tests.fixtures import make_formats as mf
from tests.fixtures.make_pickles import os_system
from modelscreen.engine import scan_bytes


def _rules(reports):
    return {(f.rule_id, f.severity.value) for r in reports for f in r.findings}


def _worst(reports):
    return max(reports, key=lambda r: r.verdict.rank).verdict.value


def test_base64_pickle_in_keras_config_is_scanned():
    payload = base64.b64encode(os_system("never-run")).decode()
    layer = mf.keras3_layer("MyLayer", "custom", {"blob": payload}, module="my_project.layers")
    layer["registered_name"] = "MyProject>MyLayer"
    reports = scan_bytes(mf.keras_zip(mf.keras3_config([layer])), "m.keras")
    assert ("KERAS-ENCODED-PAYLOAD", "medium") in _rules(reports)
    assert ("PICKLE-DANGEROUS-CALL", "critical") in _rules(reports)
    assert _worst(reports) == "malicious"


def test_hex_pickle_in_keras_config_is_scanned():
    layer = mf.keras3_layer("Dense", "d", {"units": 1, "note": os_system("never-run").hex()})
    reports = scan_bytes(mf.keras_zip(mf.keras3_config([layer])), "m.keras")
    assert _worst(reports) == "malicious"


def test_plain_base64_strings_are_not_payloads():
    layer = mf.keras3_layer("Dense", "d", {"units": 1, "note": base64.b64encode(b"just some text " * 4).decode()})
    reports = scan_bytes(mf.keras_zip(mf.keras3_config([layer])), "m.keras")
    assert "KERAS-ENCODED-PAYLOAD" not in {r for r, _ in _rules(reports)}


def test_target_resolved_like_a_pickle_name():
    for target, bad in [("tempfile._os.system", True), ("uuid._get_command_stdout", True),
                        ("pkgutil.resolve_name", True), ("torch.nn.Linear", False), ("my_pkg.models.Net", False)]:
        text = f"model:\n  _target_: {target}\n  hidden: 8\n"
        reports = scan_bytes(text.encode(), "config.yaml")
        assert (("CONFIG-DANGEROUS-TARGET", "high") in _rules(reports)) == bad, target


def test_target_inside_safetensors_metadata():
    cfg = json.dumps({"trainer": {"_target_": "logging.os.system", "command": "true"}})
    reports = scan_bytes(mc.safetensors_bytes({"config": cfg}), "m.safetensors")
    assert ("CONFIG-DANGEROUS-TARGET", "high") in _rules(reports)
    reports = scan_bytes(mc.safetensors_bytes({"config": json.dumps({"_target_": "torch.nn.Linear"})}),
                         "m.safetensors")
    assert "CONFIG-DANGEROUS-TARGET" not in {r for r, _ in _rules(reports)}


def test_target_inside_gguf_metadata():
    yaml_cfg = "model:\n  _target_: subprocess.run\n  args: [true]\n"
    data = mf.gguf_bytes(extra=lambda w: w.add_string("general.nemo_config", yaml_cfg))
    reports = scan_bytes(data, "m.gguf")
    assert ("CONFIG-DANGEROUS-TARGET", "high") in _rules(reports)


COMPUTED = '''
import os, builtins, importlib, base64
a = "sys" + "tem"
getattr(os, a)("true")
__builtins__["ev" + "al"]("1")
vars(builtins)["exec"]("x=1")
getattr(os, "metsys"[::-1])("true")
getattr(__import__(base64.b64decode("b3M=").decode()), "popen")("true")
f = getattr(importlib.import_module("subpro" + "cess"), "run")
globals()["__builtins__"]["eval"]("2")
getattr(__import__("tempfile"), "_os").system("true")
'''


def test_python_computed_names_are_resolved():
    report = scan_bytes(COMPUTED.encode(), "modeling_x.py")[0]
    lines = {f.location.rsplit(" ", 1)[-1] for f in report.findings if f.rule_id == "CODE-COMPUTED-CALL"}
    assert {"4", "5", "6", "7", "8", "10"} <= lines, lines
    assert report.verdict.value == "malicious"


def test_python_benign_computed_names_stay_quiet():
    text = 'import torch\nname = "Linear"\nlayer = getattr(torch.nn, name)(4, 4)\nact = getattr(torch, "relu")\n'
    report = scan_bytes(text.encode(), "modeling_y.py")[0]
    assert not [f for f in report.findings if f.rule_id == "CODE-COMPUTED-CALL"]
