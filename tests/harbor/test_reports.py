"""Findings mapped to Harbor's report types (no services): every report validates against the JSON Schema
written from the spec, findings become ranked vulnerability entries, and what could not be analysed is
never an empty report."""
from __future__ import annotations

import json

import pytest

from modelscreen.harbor import media
from modelscreen.harbor.reports import ERROR_RULE, model_report, render, sbom_report, vulnerability_report
from modelscreen.provenance.bom import validate_bom
from modelscreen.schemas.findings import Verdict
from modelscreen.schemas.harbor import PackageScan
from tests.harbor.helpers import CANARY_PICKLE, SAFETENSORS, package_scan, validate


def test_a_malicious_file_becomes_ranked_entries_naming_the_file():
    scan = package_scan({"model.safetensors": SAFETENSORS, "pytorch_model.bin": CANARY_PICKLE})
    report = json.loads(render(scan, media.GENERIC_REPORT))
    validate(report, "vulnerability-report")
    assert report["severity"] in ("High", "Critical")
    assert report["artifact"]["digest"] == scan.digest and report["scanner"]["name"] == "modelscreen"
    entries = report["vulnerabilities"]
    assert entries and {e["package"] for e in entries} == {"pytorch_model.bin"}
    worst = max(entries, key=lambda e: ["Unknown", "Negligible", "Low", "Medium", "High", "Critical"].index(e["severity"]))
    assert worst["severity"] in ("High", "Critical") and worst["version"].startswith("sha256:")
    assert worst["id"].startswith("PICKLE") and worst["description"]
    assert worst["vendor_attributes"]["artifact_type"] == "model-package"
    assert json.loads(render(scan, media.NATIVE_REPORT)) == report | {"generated_at": report["generated_at"]}


def test_a_clean_package_has_no_entries():
    report = vulnerability_report(package_scan({"model.safetensors": SAFETENSORS}))
    validate(json.loads(report.model_dump_json(exclude_none=True)), "vulnerability-report")
    assert report.vulnerabilities == [] and report.severity.value == "Unknown"


def test_what_could_not_be_analysed_is_an_entry_not_silence():
    scan = package_scan({"model.safetensors": SAFETENSORS})
    scan.files[0].reports = []
    scan.files[0].verdict, scan.files[0].error = Verdict.error, "cannot pull: HTTP 500"
    failed = PackageScan.model_validate(scan.model_dump() | {"verdict": "error"})
    entries = vulnerability_report(failed).vulnerabilities
    assert [(e.id, e.package, e.severity.value) for e in entries] == [(ERROR_RULE, "model.safetensors", "Medium")]
    whole = scan.model_copy(update={"files": [], "error": "registry refused the robot credentials", "verdict": Verdict.error})
    assert vulnerability_report(whole).vulnerabilities[0].id == ERROR_RULE


def test_archive_members_are_named_file_bang_member():
    import io
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("archive/data.pkl", CANARY_PICKLE)
    report = vulnerability_report(package_scan({"model.pt": buf.getvalue()}))
    assert any(e.package.startswith("model.pt!") for e in report.vulnerabilities)


@pytest.mark.parametrize("sbom_type", [media.CYCLONEDX, media.SPDX])
def test_sbom_report_carries_the_bom(sbom_type):
    scan = package_scan({"model.safetensors": SAFETENSORS, "pytorch_model.bin": CANARY_PICKLE})
    report = json.loads(render(scan, media.SBOM_REPORT, sbom_media_type=sbom_type))
    validate(report, "sbom-report")
    assert report["media_type"] == sbom_type
    if sbom_type == media.CYCLONEDX:
        assert validate_bom(report["sbom"]) is None
        names = {c["name"] for c in report["sbom"]["components"]}
        assert {"ml/model/model.safetensors", "ml/model/pytorch_model.bin"} <= names
        assert {c["type"] for c in report["sbom"]["components"]} == {"machine-learning-model"}
    else:
        assert report["sbom"]["spdxVersion"] == "SPDX-2.3"
        assert {p["name"] for p in report["sbom"]["packages"]} == {"model.safetensors", "pytorch_model.bin"}
    assert sbom_report(scan, sbom_type).vendor_attributes["verdict"] == "malicious"


def test_model_report_and_raw_report():
    scan = package_scan({"model.safetensors": SAFETENSORS, "pytorch_model.bin": CANARY_PICKLE}, family="ollama")
    model = json.loads(render(scan, media.MODEL_REPORT))
    validate(model, "model-report")
    assert model["verdict"] == "malicious" and model["package_format"] == "ollama"
    assert {f["name"]: f["verdict"] for f in model["files"]} == {"model.safetensors": "clean",
                                                                 "pytorch_model.bin": "malicious"}
    assert sum(model["summary"].values()) == len(model["findings"]) == len(model_report(scan).findings)
    raw = PackageScan.model_validate_json(render(scan, media.RAW_REPORT))
    assert raw == scan


def test_unknown_report_type_is_refused():
    with pytest.raises(ValueError):
        render(package_scan({}), "application/json")
