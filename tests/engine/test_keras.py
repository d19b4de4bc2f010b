"""Keras: .keras v3 archives (config.json analysed by shape), legacy .h5 (root attributes via h5py),
Keras 2 keras_metadata.pb (test_savedmodel.py). Nothing is deserialized."""
from __future__ import annotations

import sys

import pytest

from tests.fixtures import make_containers as mk
from tests.fixtures import make_formats as mf
from modelscreen.engine import scan_bytes

h5py = pytest.importorskip("h5py")


def findings(reports, rule):
    return [(r, f) for r in reports for f in r.findings if f.rule_id == rule]


def config_member(reports):
    return [r for r in reports if r.path.endswith("!config.json")][0]


def test_benign_keras_v3_archive():
    reports = scan_bytes(mf.keras_zip(mf.benign_keras3_config()), "model.keras")
    assert reports[0].format == "keras"
    assert config_member(reports).format == "keras-config"
    assert all(r.verdict.value == "clean" for r in reports), [(r.path, r.findings) for r in reports]


def test_lambda_in_keras_v3_is_critical_and_located():
    reports = scan_bytes(mf.keras_zip(mf.keras3_lambda_config()), "model.keras")
    [(member, f)] = findings(reports, "KERAS-LAMBDA-BYTECODE")
    assert member.path == "model.keras!config.json"
    assert f.severity.value == "critical" and f.location == "layer sneaky_lambda"
    assert "system" in f.detail  # names spotted in the bytecode, without unmarshalling it
    assert reports[0].verdict.value == "malicious"


@pytest.mark.parametrize("module,class_name,config,sev", [
    ("os", "function", "system", "critical"),
    ("subprocess", "Popen", {}, "critical"),
    ("builtins", "function", "exec", "critical"),
    ("my_evil_pkg.layers", "Backdoor", {}, "high"),
])
def test_module_injection(module, class_name, config, sev):
    reports = scan_bytes(mf.keras_zip(mf.keras3_injection_config(module, class_name, config)), "m.keras")
    [(member, f)] = findings(reports, "KERAS-MODULE-INJECTION")
    assert f.severity.value == sev and f.location == "layer dense" and module in f.title


def test_unsafe_keras_functions():
    reports = scan_bytes(mf.keras_zip(mf.keras3_unsafe_function_config()), "m.keras")
    hits = {(f.location, f.severity.value, f.title) for _r, f in findings(reports, "KERAS-UNSAFE-FUNCTION")}
    assert ("layer dense", "critical", "Config calls keras.config.enable_unsafe_deserialization") in hits
    assert ("layer dense_1", "critical", "Config calls keras.utils.get_file") in hits


def test_registered_custom_object_is_custom_code():
    reports = scan_bytes(mf.keras_zip(mf.keras3_custom_object_config()), "m.keras")
    [(_m, f)] = findings(reports, "KERAS-CUSTOM-OBJECT")
    assert f.severity.value == "low" and f.location == "layer my_attention"
    assert not findings(reports, "KERAS-MODULE-INJECTION")
    assert reports[0].verdict.value == "clean"


def test_registered_custom_object_from_dangerous_module_is_critical():
    layer = mf.keras3_layer("Dense", "dense", {"units": 1, "activation": {
        "module": "tempfile._os", "class_name": "function", "config": "system", "registered_name": "MyPackage>system"}})
    reports = scan_bytes(mf.keras_zip(mf.keras3_config([layer])), "m.keras")
    [(_m, g)] = findings(reports, "KERAS-MODULE-INJECTION")
    assert g.severity.value == "critical"


def test_tfsmlayer_and_tfoplambda():
    layers = [mf.keras3_layer("TFSMLayer", "ext", {"filepath": "/tmp/other_model", "call_endpoint": "serve"}),
              {"class_name": "TFOpLambda", "config": {"name": "tf.io.write_file", "function": "io.write_file"}}]
    reports = scan_bytes(mf.keras_zip(mf.keras3_config(layers)), "m.keras")
    assert [f.location for _r, f in findings(reports, "KERAS-UNSAFE-FUNCTION")] == ["layer ext"]
    assert [f.location for _r, f in findings(reports, "KERAS-TFOP-DANGEROUS")] == ["layer tf.io.write_file"]


def test_lambda_by_function_name_is_high():
    layer = mf.keras3_layer("Lambda", "named_fn", {"function": {"module": "my_project.ops", "class_name": "function",
                                                                 "config": "scale", "registered_name": "function"}})
    reports = scan_bytes(mf.keras_zip(mf.keras3_config([layer])), "m.keras")
    [(_m, f)] = findings(reports, "KERAS-LAMBDA")
    assert f.severity.value == "high" and f.location == "layer named_fn"


def test_legacy_h5_benign_and_lambda():
    [report] = scan_bytes(mf.keras_h5(mf.keras2_model_config([])), "model.h5")
    assert report.format == "keras-h5" and report.verdict.value == "clean", report.findings
    reports = scan_bytes(mf.keras_h5(mf.keras2_model_config([mf.keras2_lambda_layer()])), "model.h5")
    [(_r, f)] = findings(reports, "KERAS-LAMBDA-BYTECODE")
    assert f.location == "model_config: layer lambda_1" and f.severity.value == "critical"


def test_legacy_h5_training_config_and_external_link():
    training = {"loss": {"module": "os", "class_name": "function", "config": "system"}}
    reports = scan_bytes(mf.keras_h5(mf.keras2_model_config([]), training_config=training, external_link=True),
                         "model.h5")
    assert [f.location for _r, f in findings(reports, "KERAS-MODULE-INJECTION")] == ["training_config: loss"]
    [(_r, link)] = findings(reports, "HDF5-EXTERNAL-LINK")
    assert link.location == "elsewhere" and link.severity.value == "medium"


def test_h5_without_keras_attributes_is_plain_hdf5():
    [report] = scan_bytes(mf.keras_weights_h5(), "weights.h5")
    assert report.format == "hdf5" and report.verdict.value == "clean"


def test_damaged_h5_is_a_finding_not_a_crash():
    data = mf.keras_h5(mf.keras2_model_config([]))
    [report] = scan_bytes(data[:600], "model.h5")
    assert report.error is None


def test_keras_json_outside_an_archive():
    [report] = scan_bytes(__import__("json").dumps(mf.keras3_lambda_config()).encode(), "config.json")
    assert report.format == "keras-config" and report.verdict.value == "malicious"


def test_keras_archive_nested_in_a_tar():
    data = mk.tar_of({"export/model.keras": mf.keras_zip(mf.keras3_lambda_config())})
    reports = scan_bytes(data, "bundle.tar")
    [(member, f)] = findings(reports, "KERAS-LAMBDA-BYTECODE")
    assert member.path == "bundle.tar!export/model.keras!config.json"
    assert reports[0].verdict.value == "malicious"


def test_keras_is_never_imported():
    scan_bytes(mf.keras_zip(mf.keras3_lambda_config()), "m.keras")
    assert "keras" not in sys.modules and "tensorflow" not in sys.modules
