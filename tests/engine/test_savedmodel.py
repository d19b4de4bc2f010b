"""TensorFlow SavedModel / frozen GraphDef / keras_metadata.pb, read with the bounded wire reader
(TensorFlow is never imported). The protobufs are written by hand (tests/fixtures/make_formats.py)."""
from __future__ import annotations

import sys

import pytest

from tests.fixtures import make_formats as mf
from modelscreen.engine import scan_bytes
from modelscreen.engine.sniff import sniff


def findings(report, rule):
    return [f for f in report.findings if f.rule_id == rule]


def test_hand_written_protobuf_matches_the_real_schema():
    protobuf = pytest.importorskip("google.protobuf")
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    # A two-message subset of tensorflow/core/framework/{node_def,graph_def}.proto, enough to check the writer.
    fd = descriptor_pb2.FileDescriptorProto(name="tf_subset.proto", package="tfsub")
    node = fd.message_type.add(name="NodeDef")
    node.field.add(name="name", number=1, type=9, label=1)
    node.field.add(name="op", number=2, type=9, label=1)
    node.field.add(name="input", number=3, type=9, label=3)
    graph = fd.message_type.add(name="GraphDef")
    graph.field.add(name="node", number=1, type=11, label=3, type_name=".tfsub.NodeDef")
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fd)
    cls = message_factory.GetMessageClass(pool.FindMessageTypeByName("tfsub.GraphDef"))
    g = cls.FromString(mf.pb_len(1, mf.tf_node("a", "MatMul", ["x", "y"])) + mf.pb_len(1, mf.tf_node("b", "Relu")))
    assert [(n.name, n.op, list(n.input)) for n in g.node] == [("a", "MatMul", ["x", "y"]), ("b", "Relu", [])]
    assert protobuf


def test_tf2_savedmodel_is_sniffed_and_clean():
    data = mf.benign_saved_model()
    assert sniff(data[:65536], b"", len(data)) == "tf-savedmodel"
    [report] = scan_bytes(data, "saved_model.pb")
    assert report.format == "tf-savedmodel"
    assert report.verdict.value == "clean", report.findings
    saver = findings(report, "SAVEDMODEL-SAVER-OP")
    assert saver and all(f.severity.value == "info" for f in saver)
    ops = findings(report, "SAVEDMODEL-OPS")
    assert ops and "MatMul" in ops[0].detail and "SaveV2" in ops[0].detail


def test_tf1_saver_scope_is_normal():
    [report] = scan_bytes(mf.benign_tf1_saved_model(), "saved_model.pb")
    assert report.verdict.value == "clean", report.findings
    assert {f.location for f in findings(report, "SAVEDMODEL-SAVER-OP")} <= {
        "meta_graph[0]/graph/node save/SaveV2", "meta_graph[0]/graph/node save/RestoreV2"}


def test_malicious_savedmodel_names_every_node():
    [report] = scan_bytes(mf.malicious_saved_model(), "saved_model.pb")
    assert report.verdict.value == "malicious"
    got = {(f.rule_id, f.severity.value, f.location) for f in report.findings if f.severity.value != "info"}
    expected = {
        ("SAVEDMODEL-PYTHON-OP", "critical", "function __inference_serving_default_99/node py_hook"),
        ("SAVEDMODEL-PYTHON-OP", "critical", "function __inference_serving_default_99/node eager_hook"),
        ("SAVEDMODEL-FILE-OP", "high", "meta_graph[0]/graph/node dump/write"),
        ("SAVEDMODEL-FILE-OP", "high", "meta_graph[0]/graph/node leak/read"),
        ("SAVEDMODEL-FILE-OP", "high", "meta_graph[0]/graph/node sneaky_save"),
        ("SAVEDMODEL-FILE-OP", "high", "meta_graph[0]/graph/node debug"),
        ("SAVEDMODEL-CUSTOM-OP", "medium", "meta_graph[0]/graph/node addon"),
        ("SAVEDMODEL-ASSET-TRAVERSAL", "high", "meta_graph[0]/asset ../../../etc/passwd"),
    }
    assert expected <= got, got - expected


def test_checkpoint_restore_outside_the_saver_is_medium():
    data = mf.saved_model_bytes([mf.tf_node("x", "Placeholder"), mf.tf_node("peek", "RestoreV2", ["x"])])
    [report] = scan_bytes(data, "saved_model.pb")
    hit = findings(report, "SAVEDMODEL-FILE-OP")
    assert hit and hit[0].severity.value == "medium" and hit[0].location == "meta_graph[0]/graph/node peek"


def test_frozen_graphdef_by_name():
    data = mf.tf_graph([mf.tf_node("x", "Placeholder"), mf.tf_node("w", "WriteFile", ["x"])])
    [report] = scan_bytes(data, "frozen_graph.pb")
    assert report.format == "tf-graphdef"
    hit = findings(report, "SAVEDMODEL-FILE-OP")
    assert hit and hit[0].location == "graph_def/graph/node w"


def test_malformed_savedmodel_is_a_finding():
    data = mf.malicious_saved_model()
    [report] = scan_bytes(data[:len(data) // 2], "saved_model.pb")
    assert report.error is None
    assert findings(report, "SAVEDMODEL-MALFORMED")


def test_keras_metadata_lambda():
    data = mf.keras_metadata_bytes([{"class_name": "Dense", "config": {"name": "dense", "units": 2}},
                                    mf.keras2_lambda_layer()])
    [report] = scan_bytes(data, "keras_metadata.pb")
    hit = findings(report, "KERAS-LAMBDA-BYTECODE")
    assert hit and hit[0].severity.value == "critical" and hit[0].location == "root.layer-1: layer lambda_1"


def test_tensorflow_is_never_imported():
    scan_bytes(mf.malicious_saved_model(), "saved_model.pb")
    assert "tensorflow" not in sys.modules
