"""Pulling and scanning one artifact as Harbor asks (modelscreen.harbor.package), against a loopback fake
registry: robot credentials, a layer that cannot be pulled or does not match its digest, a sandbox that
fails, an index, a digest the registry does not have. One file's failure is that file's error verdict,
never the artifact's silence and never another file's loss."""
from __future__ import annotations

import base64
import json

import pytest

from modelscreen.fetch.base import FetchError
from modelscreen.harbor.package import ArtifactNotFound, scan_package
from modelscreen.harbor.reports import ERROR_RULE, vulnerability_report
from modelscreen.sandbox import SandboxLimits
from modelscreen.schemas.harbor import ScanRequest
from modelscreen.settings import Settings
from tests.fakes.http_store import Route, StoreServer
from tests.harbor.helpers import CANARY_PICKLE, SAFETENSORS, digest

REPO = "ml/model"
ROBOT = "Basic " + base64.b64encode(b"robot$scan:pw").decode()
INDEX = "application/vnd.oci.image.index.v1+json"


@pytest.fixture
def registry():
    server = StoreServer()
    yield server
    server.close()


def serve_package(server: StoreServer, files: dict[str, bytes], *, auth: str | None = None,
                  broken: dict[str, Route] | None = None) -> str:
    layers = []
    for name, data in files.items():
        d = digest(data)
        server.routes[f"/v2/{REPO}/blobs/{d}"] = (broken or {}).get(name) or Route(body=data, auth=auth,
                                                                                    challenge='Basic realm="r"')
        layers.append({"mediaType": "application/vnd.cncf.model.weight.v1.raw", "digest": d, "size": len(data),
                       "annotations": {"org.cncf.model.filepath": name}})
    manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                           "artifactType": "application/vnd.cncf.model.manifest.v1+json",
                           "config": {"mediaType": "application/vnd.cncf.model.config.v1+json",
                                      "digest": digest(b"{}"), "size": 2},
                           "layers": layers}).encode()
    server.routes[f"/v2/{REPO}/manifests/{digest(manifest)}"] = Route(
        body=manifest, auth=auth, challenge='Basic realm="r"',
        headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"})
    return digest(manifest)


def request(server: StoreServer, manifest: str, authorization: str | None = ROBOT) -> ScanRequest:
    return ScanRequest.model_validate({"registry": {"url": server.url, "authorization": authorization},
                                       "artifact": {"repository": REPO, "digest": manifest, "tag": "v1"}})


def test_robot_credentials_answer_the_registry_challenge(registry):
    manifest = serve_package(registry, {"model.safetensors": SAFETENSORS, "pytorch_model.bin": CANARY_PICKLE},
                             auth=ROBOT)
    scan = scan_package(request(registry, manifest), Settings())
    assert scan.package_format == "modelpack" and scan.artifact_type.value == "model-package"
    assert {f.name: f.verdict.value for f in scan.files} == {"model.safetensors": "clean", "pytorch_model.bin": "malicious"}
    assert all(auth == ROBOT for path, auth in registry.requests if auth)
    with pytest.raises(FetchError) as refused:
        scan_package(request(registry, manifest, "Basic " + base64.b64encode(b"robot$scan:wrong").decode()), Settings())
    assert "401" in refused.value.reason


def test_one_layer_that_cannot_be_pulled_or_does_not_match_is_an_error_of_its_own(registry):
    manifest = serve_package(registry, {"model.safetensors": SAFETENSORS, "a.bin": b"a" * 10, "b.bin": b"b" * 10,
                                        "pytorch_model.bin": CANARY_PICKLE},
                             broken={"a.bin": Route(status=500, body=b"oops"), "b.bin": Route(body=b"c" * 10)})
    scan = scan_package(request(registry, manifest, None), Settings(fetch_timeout=5))
    by_name = {f.name: f for f in scan.files}
    assert by_name["a.bin"].verdict.value == "error" and "500" in by_name["a.bin"].error
    assert by_name["b.bin"].verdict.value == "error" and "hashed to" in by_name["b.bin"].error
    assert by_name["pytorch_model.bin"].verdict.value == "malicious" and by_name["model.safetensors"].verdict.value == "clean"
    assert scan.verdict.value == "malicious"  # the worst verdict; the errors stay on their files
    entries = {(e.id, e.package) for e in vulnerability_report(scan).vulnerabilities}
    assert {(ERROR_RULE, "a.bin"), (ERROR_RULE, "b.bin")} <= entries
    assert any(package == "pytorch_model.bin" for _id, package in entries)


def test_a_file_whose_sandbox_fails_is_an_error_not_clean(registry):
    # the shared child fails, then each file alone: every file ends as an error, none as clean
    manifest = serve_package(registry, {"model.safetensors": SAFETENSORS, "config.json": b"{}"})
    scan = scan_package(request(registry, manifest, None), Settings(),
                        sandbox=SandboxLimits(memory_bytes=32 * 1024**2, wall_seconds=60))
    assert [(f.name, f.verdict.value) for f in scan.files] == [("model.safetensors", "error"), ("config.json", "error")]
    assert all("sandbox" in f.error for f in scan.files)


def test_an_index_is_scanned_manifest_by_manifest(registry):
    a = serve_package(registry, {"a.safetensors": SAFETENSORS})
    b = serve_package(registry, {"b.bin": CANARY_PICKLE})
    index = json.dumps({"schemaVersion": 2, "mediaType": INDEX, "manifests": [
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": d, "size": 1} for d in (a, b)]}).encode()
    registry.routes[f"/v2/{REPO}/manifests/{digest(index)}"] = Route(body=index, headers={"Content-Type": INDEX})
    scan = scan_package(request(registry, digest(index), None), Settings())
    assert {f.name for f in scan.files} == {"a.safetensors", "b.bin"} and scan.verdict.value == "malicious"


def test_a_digest_the_registry_does_not_have(registry):
    with pytest.raises(ArtifactNotFound):
        scan_package(request(registry, "sha256:" + "0" * 64, None), Settings())


def test_registry_urls_that_are_not_http_are_refused():
    with pytest.raises(ValueError):
        scan_package(ScanRequest.model_validate({"registry": {"url": "file:///etc"},
                                                 "artifact": {"repository": REPO, "digest": "sha256:" + "0" * 64}}),
                     Settings())
