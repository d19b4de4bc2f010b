"""The Harbor scanner adapter as its own process (`modelscreen harbor-adapter`), driven over HTTP exactly as
Harbor drives it (metadata, scan, poll the report with each Accept type), scanning ModelPack, KitOps,
Docker Model Runner and Ollama packages pushed to a real OCI registry (CNCF Distribution). Every answer is
checked against the JSON Schemas written from the spec (tests/harbor/schemas)."""
from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid

import pytest

from tests.fakes.oci_models import push_docker_model, push_kitops, push_modelpack, push_ollama
from tests.fixtures.make_formats import gguf_bytes
from tests.harbor.helpers import CANARY_PICKLE, SAFETENSORS, validate
from modelscreen.harbor import media

pytestmark = pytest.mark.integration

TOKEN = "integration-adapter-token"
ROBOT = "Basic " + base64.b64encode(b"robot$scanner:robot-secret").decode()
CHATML = ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
          "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
SSTI = "{{ ''.__class__.__mro__[1].__subclasses__() }}" + CHATML
PY = b"def tokenize(text):\n    return text.split()\n"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def signing_key(tmp_path_factory):
    """(private key path, public key path): the trust the adapter's provenance policy names."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    d = tmp_path_factory.mktemp("keys")
    key = ec.generate_private_key(ec.SECP256R1())
    (d / "signer.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                     serialization.NoEncryption()))
    (d / "signer.pub").write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                                 serialization.PublicFormat.SubjectPublicKeyInfo))
    return d / "signer.pem", d / "signer.pub"


def start_adapter(log_path, env: dict) -> tuple[subprocess.Popen, str]:
    """`modelscreen harbor-adapter` as its own process; (process, base URL) once it answers."""
    port = _free_port()
    log = open(log_path, "wb")
    proc = subprocess.Popen([sys.executable, "-m", "modelscreen", "harbor-adapter", "--port", str(port)],
                            env={**os.environ, "MODELSCREEN_HARBOR_ADAPTER_TOKEN": TOKEN,
                                 "MODELSCREEN_HARBOR_REFRESH_AFTER": "1", **env},
                            stdout=log, stderr=subprocess.STDOUT)
    log.close()
    base = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            with urllib.request.urlopen(base + "/probe/healthy", timeout=1):
                return proc, base
        except OSError:
            if proc.poll() is not None:
                pytest.fail(f"the adapter exited with {proc.returncode}: {open(log_path).read()[-2000:]}")
            time.sleep(0.1)
    proc.terminate()
    pytest.fail("the adapter did not start")


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


@pytest.fixture(scope="module")
def adapter(tmp_path_factory, signing_key):
    work = tmp_path_factory.mktemp("adapter")
    policy = work / "policy.yaml"
    policy.write_text(json.dumps({"version": 1, "defaults": {"signing": {"public_key": str(signing_key[1])}}}))
    proc, base = start_adapter(work / "adapter.log", {"MODELSCREEN_HARBOR_SCAN_MODE": "in-process",
                                                      "MODELSCREEN_PROVENANCE_POLICY": str(policy)})
    try:
        yield base
    finally:
        stop(proc)


def call(url: str, *, method: str = "GET", body: bytes | None = None, headers: dict | None = None):
    """(status, headers, body) without following redirects (Harbor does not)."""
    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *a, **k):
            return None

    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.build_opener(NoRedirect).open(req, timeout=60) as resp:
            return resp.status, resp.headers, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, exc.read()


def harbor_scan(base: str, registry: str, repo: str, digest: str, mime: str = media.OCI_MANIFEST,
                authorization: str = ROBOT) -> str:
    status, headers, _ = call(base + "/api/v1/metadata", headers={"Authorization": f"Bearer {TOKEN}",
                                                                 "Accept": media.METADATA_1_0})
    assert status == 200
    request = {"registry": {"url": f"http://{registry}", "authorization": authorization},
               "artifact": {"repository": repo, "digest": digest, "tag": "v1", "mime_type": mime}}
    status, headers, body = call(base + "/api/v1/scan", method="POST", body=json.dumps(request).encode(),
                                 headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": media.SCAN_REQUEST_1_0,
                                          "Accept": media.SCAN_RESPONSE})
    assert status == 202, body
    answer = json.loads(body)
    validate(answer, "scan-response")
    return answer["id"]


def report(base: str, scan_id: str, accept: str, query: str = "", timeout: float = 240) -> tuple[int, dict]:
    deadline = time.monotonic() + timeout
    while True:
        status, headers, body = call(f"{base}/api/v1/scan/{scan_id}/report{query}",
                                     headers={"Authorization": f"Bearer {TOKEN}", "Accept": accept})
        if status != 302:
            assert status == 200 and headers["Content-Type"] == accept or status != 200, headers
            return status, json.loads(body)
        assert 1 <= int(headers["Refresh-After"]) <= 127
        assert time.monotonic() < deadline, "the report never became ready"
        time.sleep(int(headers["Refresh-After"]) / 4)


def all_reports(base: str, scan_id: str) -> dict[str, dict]:
    out = {}
    for accept, query, schema in ((media.GENERIC_REPORT, "", "vulnerability-report"),
                                  (media.NATIVE_REPORT, "", "vulnerability-report"),
                                  (media.SBOM_REPORT, "?sbom_media_type=application%2Fvnd.cyclonedx%2Bjson", "sbom-report"),
                                  (media.SBOM_REPORT, "?sbom_media_type=application%2Fspdx%2Bjson", "sbom-report"),
                                  (media.MODEL_REPORT, "", "model-report"),
                                  (media.RAW_REPORT, "", None)):
        status, body = report(base, scan_id, accept, query)
        assert status == 200, body
        if schema:
            validate(body, schema)
        out[accept + query] = body
    return out


def _repo(kind: str) -> str:
    return f"harbor-it/{kind}-{uuid.uuid4().hex[:8]}"


def _packages(registry: str):
    """(family, clean digest, malicious digest, repo, the malicious file, the files expected)."""
    gguf = gguf_bytes(CHATML)
    out = []
    repo = _repo("modelpack")
    out.append(("modelpack", repo,
                push_modelpack(registry, repo, "clean", {"model.safetensors": SAFETENSORS, "config.json": b'{"a": 1}'},
                               {"tokenizer.py": PY}),
                push_modelpack(registry, repo, "evil", {"model.safetensors": SAFETENSORS, "pytorch_model.bin": CANARY_PICKLE}),
                "pytorch_model.bin", {"model.safetensors", "config.json", "src.tar.gz"}))
    repo = _repo("kitops")
    out.append(("kitops", repo,
                push_kitops(registry, repo, "clean", {"model.safetensors": SAFETENSORS}, {"README.md": b"# model\n"}),
                push_kitops(registry, repo, "evil", {"model.pkl": CANARY_PICKLE}, {"README.md": b"# model\n"}),
                "model.tar!model.pkl", {"Kitfile", "model.tar", "docs.tar.gz"}))
    repo = _repo("docker-model")
    out.append(("docker-model", repo,
                push_docker_model(registry, repo, "clean", gguf, CHATML, "MIT License\n"),
                push_docker_model(registry, repo, "evil", gguf, SSTI, "MIT License\n"),
                "chat_template.jinja", {"model.gguf", "chat_template.jinja", "LICENSE"}))
    repo = _repo("ollama")
    out.append(("ollama", repo,
                push_ollama(registry, repo, "clean", gguf, "{{ .System }}\n{{ .Prompt }}", {"stop": ["<|im_end|>"]},
                            "MIT License\n"),
                push_ollama(registry, repo, "evil", CANARY_PICKLE, "{{ .Prompt }}", {"stop": []}, "MIT License\n"),
                "model.gguf", {"model.gguf", "template", "params.json", "LICENSE"}))
    return out


def test_model_packages_scanned_through_the_adapter_as_harbor_would(adapter, oci_registry):
    for family, repo, clean, evil, bad_file, names in _packages(oci_registry):
        mime = media.DOCKER_MANIFEST if family == "ollama" else media.OCI_MANIFEST
        clean_reports = all_reports(adapter, harbor_scan(adapter, oci_registry, repo, clean, mime))
        evil_reports = all_reports(adapter, harbor_scan(adapter, oci_registry, repo, evil, mime))

        raw = clean_reports[media.RAW_REPORT]
        assert raw["artifact_type"] == "model-package" and raw["package_format"] == family, raw
        assert {f["name"] for f in raw["files"]} == names, family
        assert raw["verdict"] == "clean", (family, [(f["name"], f["verdict"]) for f in raw["files"]])
        vulns = clean_reports[media.GENERIC_REPORT]
        assert not [v for v in vulns["vulnerabilities"] if v["severity"] in ("Medium", "High", "Critical")], vulns
        assert clean_reports[media.MODEL_REPORT]["verdict"] == "clean"

        vulns = evil_reports[media.GENERIC_REPORT]
        assert vulns["severity"] in ("High", "Critical"), (family, vulns)
        worst = [v for v in vulns["vulnerabilities"] if v["severity"] in ("High", "Critical")]
        assert worst and {v["package"] for v in worst} == {bad_file}, (family, worst)
        assert evil_reports[media.NATIVE_REPORT]["vulnerabilities"] == vulns["vulnerabilities"]
        model = evil_reports[media.MODEL_REPORT]
        assert model["verdict"] == "malicious" and model["package_format"] == family
        assert evil_reports[media.RAW_REPORT]["digest"] == evil
        bom = evil_reports[media.SBOM_REPORT + "?sbom_media_type=application%2Fvnd.cyclonedx%2Bjson"]["sbom"]
        assert bom["bomFormat"] == "CycloneDX" and len(bom["components"]) == len(evil_reports[media.RAW_REPORT]["files"])


def test_legacy_cnai_modelpack_and_bearer_robot_token(adapter, oci_registry):
    repo = _repo("cnai")
    digest = push_modelpack(oci_registry, repo, "v1", {"pytorch_model.bin": CANARY_PICKLE}, legacy=True)
    scan_id = harbor_scan(adapter, oci_registry, repo, digest, authorization="Bearer robot-token-from-harbor")
    status, raw = report(adapter, scan_id, media.RAW_REPORT)
    assert status == 200 and raw["package_format"] == "modelpack" and raw["verdict"] == "malicious"
    assert [f["name"] for f in raw["files"]] == ["pytorch_model.bin"]


def test_bad_requests_get_the_spec_codes_and_bodies(adapter, oci_registry):
    auth = {"Authorization": f"Bearer {TOKEN}", "Content-Type": media.SCAN_REQUEST_1_1}

    def post(body: bytes, headers=auth):
        status, headers_, answer = call(adapter + "/api/v1/scan", method="POST", body=body, headers=headers)
        assert headers_["Content-Type"] == media.ERROR
        validate(json.loads(answer), "error")
        return status

    good = {"registry": {"url": f"http://{oci_registry}"}, "artifact": {"repository": "harbor-it/none",
                                                                        "digest": "sha256:" + "0" * 64}}
    assert post(b"{\"registry\": ") == 400
    assert post(json.dumps({**good, "artifact": {"repository": "x"}}).encode()) == 422
    assert post(json.dumps({**good, "artifact": {**good["artifact"], "mime_type": "application/vnd.acme.thing+json"}}).encode()) == 501
    assert post(json.dumps(good).encode(), headers={**auth, "Authorization": "Bearer wrong"}) == 401
    assert post(json.dumps(good).encode(), headers={"Content-Type": media.SCAN_REQUEST_1_0}) == 401
    # a digest the registry does not have: accepted, then the report ends the polling with 500
    scan_id = harbor_scan(adapter, oci_registry, "harbor-it/none", "sha256:" + "0" * 64)
    status, body = report(adapter, scan_id, media.GENERIC_REPORT)
    assert status == 500 and "not in the registry" in body["error"]["message"]
    validate(body, "error")
    status, _, body = call(adapter + "/api/v1/scan/no-such-id/report",
                           headers={"Authorization": f"Bearer {TOKEN}", "Accept": media.GENERIC_REPORT})
    assert status == 404
    status, _, body = call(f"{adapter}/api/v1/scan/{scan_id}/report",
                           headers={"Authorization": f"Bearer {TOKEN}", "Accept": "application/vnd.acme.report"})
    assert status == 501


def test_a_model_sig_in_the_package_is_verified_against_the_reassembled_files(adapter, oci_registry, signing_key,
                                                                             tmp_path):
    import model_signing

    files = {"model.safetensors": SAFETENSORS, "config.json": b'{"architectures": ["Tiny"]}'}
    model = tmp_path / "model"
    model.mkdir()
    for name, data in files.items():
        (model / name).write_bytes(data)
    model_signing.signing.Config().use_elliptic_key_signer(private_key=signing_key[0]).sign(model, tmp_path / "model.sig")
    sig = (tmp_path / "model.sig").read_bytes()
    repo = _repo("signed")
    signed = push_modelpack(oci_registry, repo, "v1", {**files, "model.sig": sig})
    tampered = push_modelpack(oci_registry, repo, "v2", {**files, "model.safetensors": SAFETENSORS[:-1] + b"\x01",
                                                         "model.sig": sig})
    status, raw = report(adapter, harbor_scan(adapter, oci_registry, repo, signed), media.RAW_REPORT)
    assert status == 200 and raw["signature"]["verified"] is True and raw["signature"]["files"] == 2, raw["signature"]
    assert raw["verdict"] == "clean"
    status, raw = report(adapter, harbor_scan(adapter, oci_registry, repo, tampered), media.RAW_REPORT)
    assert raw["signature"]["verified"] is False and "SIGNATURE-TAMPERED-FILE" in raw["signature"]["findings"]
    status, vulns = report(adapter, harbor_scan(adapter, oci_registry, repo, tampered), media.GENERIC_REPORT)
    tamper = [v for v in vulns["vulnerabilities"] if v["id"] == "SIGNATURE-TAMPERED-FILE"]
    assert tamper and tamper[0]["package"] == "model.sig"


def test_kafka_mode_scans_through_the_pipeline_workers(oci_registry, kafka_bootstrap, elasticsearch_url, tmp_path):
    from tests.integration.harness import Pipeline

    p = Pipeline(kafka_bootstrap, elasticsearch_url, tmp_path, MODELSCREEN_OCI_PLAIN_HTTP=json.dumps([oci_registry]))
    proc = None
    try:
        p.setup()
        p.start_worker()
        proc, base = start_adapter(tmp_path / "adapter.log", {**p.env, "MODELSCREEN_HARBOR_SCAN_MODE": "kafka"})
        repo = _repo("kafka")
        digest = push_ollama(oci_registry, repo, "v1", CANARY_PICKLE, "{{ .Prompt }}", {"stop": []}, "MIT License\n")
        scan_id = harbor_scan(base, oci_registry, repo, digest, media.DOCKER_MANIFEST)
        status, vulns = report(base, scan_id, media.GENERIC_REPORT, timeout=240)
        assert status == 200, vulns
        validate(vulns, "vulnerability-report")
        assert vulns["severity"] in ("High", "Critical")
        assert {v["package"] for v in vulns["vulnerabilities"] if v["severity"] in ("High", "Critical")} == {"model.gguf"}
        status, raw = report(base, scan_id, media.RAW_REPORT)
        assert {f["name"]: f["role"] for f in raw["files"]} == {"model.gguf": "weight", "template": "template",
                                                               "params.json": "params", "LICENSE": "license"}
        # the workers indexed the same findings as for any push
        docs = p.wait_for(lambda: [d for d in p.findings_docs() if d["file"]["name"] == "model.gguf"], timeout=60)
        assert docs and docs[0]["modelscreen"]["artifact_type"] == "model-package"
    finally:
        if proc is not None:
            stop(proc)
        p.close()
