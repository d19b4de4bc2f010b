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
