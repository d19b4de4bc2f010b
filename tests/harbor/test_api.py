"""The adapter's HTTP API against a fake scanner (no registry): what Harbor sends, the spec's answers."""
from __future__ import annotations

import asyncio
import base64
import json

import pytest
from aiohttp.test_utils import TestClient, TestServer

from modelscreen.harbor import media
from modelscreen.harbor.auth import API_KEY_HEADER, AdapterAuth, NoCredentials
from modelscreen.harbor.package import ArtifactNotFound
from modelscreen.harbor.service import build_app
from modelscreen.harbor.settings import AdapterSettings
from tests.harbor.helpers import CANARY_PICKLE, SAFETENSORS, digest, package_scan, validate

TOKEN = "adapter-token-for-tests"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
DIGEST = digest(b"manifest")


class FakeScanner:
    def __init__(self, *, fail: Exception | None = None):
        self.gate = asyncio.Event()
        self.calls = []
        self.fail = fail

    async def __call__(self, request):
        self.calls.append(request)
        await self.gate.wait()
        if self.fail:
            raise self.fail
        return package_scan({"model.safetensors": SAFETENSORS, "pytorch_model.bin": CANARY_PICKLE})


def scan_request(**artifact) -> dict:
    return {"registry": {"url": "https://harbor.example", "authorization": "Basic cm9ib3Q6c2VjcmV0"},
            "artifact": {"repository": "ml/model", "digest": DIGEST, "tag": "v1",
                         "mime_type": media.OCI_MANIFEST, **artifact}}


def settings(**kw) -> AdapterSettings:
    return AdapterSettings(harbor_adapter_token=TOKEN, harbor_refresh_after=3, **kw)


async def _client(scanner, **kw) -> TestClient:
    client = TestClient(TestServer(build_app(settings(**kw), scanner=scanner)))
    await client.start_server()
    return client


def run(coro):
    return asyncio.run(coro)


async def _post(client, body, headers=AUTH, content_type=media.SCAN_REQUEST_1_0):
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return await client.post("/api/v1/scan", data=data, headers={**headers, "Content-Type": content_type,
                                                                  "Accept": media.SCAN_RESPONSE})


async def _error(resp, status):
    assert resp.status == status, await resp.text()
    assert resp.headers["Content-Type"] == media.ERROR
    body = await resp.json(content_type=None)
    validate(body, "error")
    return body["error"]["message"]


def test_metadata_as_harbor_reads_it():
    async def go():
        client = await _client(FakeScanner(), harbor_registry_authorization="Bearer")
        try:
            resp = await client.get("/api/v1/metadata", headers={**AUTH, "Accept": media.METADATA_1_0})
            assert resp.status == 200 and resp.headers["Content-Type"] == media.METADATA_1_0
            body = await resp.json(content_type=None)
            validate(body, "metadata")
            assert body["properties"]["harbor.scanner-adapter/registry-authorization-type"] == "Bearer"
            types = {c["type"]: c for c in body["capabilities"]}
            assert media.GENERIC_REPORT in types["vulnerability"]["produces_mime_types"]
            assert media.CYCLONEDX in types["sbom"]["additional_attributes"]["sbom_media_types"]
        finally:
            await client.close()
    run(go())


def test_scan_answers_202_then_302_until_ready_then_each_report_type():
    async def go():
        scanner = FakeScanner()
        client = await _client(scanner)
        try:
            resp = await _post(client, scan_request())
            assert resp.status == 202 and resp.headers["Content-Type"] == media.SCAN_RESPONSE
            body = await resp.json(content_type=None)
            validate(body, "scan-response")
            url = f"/api/v1/scan/{body['id']}/report"
            pending = await client.get(url, headers={**AUTH, "Accept": media.GENERIC_REPORT}, allow_redirects=False)
            assert pending.status == 302 and pending.headers["Refresh-After"] == "3"
            scanner.gate.set()
            for _ in range(100):
                resp = await client.get(url, headers={**AUTH, "Accept": media.NATIVE_REPORT}, allow_redirects=False)
                if resp.status != 302:
                    break
                await asyncio.sleep(0.02)
            assert resp.status == 200 and resp.headers["Content-Type"] == media.NATIVE_REPORT
            validate(await resp.json(content_type=None), "vulnerability-report")
            resp = await client.get(url + "?sbom_media_type=application/vnd.cyclonedx%2Bjson",
                                    headers={**AUTH, "Accept": media.SBOM_REPORT})
            assert resp.status == 200
            validate(await resp.json(content_type=None), "sbom-report")
            resp = await client.get(url, headers={**AUTH, "Accept": media.MODEL_REPORT})
            validate(await resp.json(content_type=None), "model-report")
            resp = await client.get(url, headers={**AUTH, "Accept": media.RAW_REPORT})
            assert resp.status == 200 and (await resp.json(content_type=None))["verdict"] == "malicious"
            # the same digest again under the same engine and rules: from the cache, no second scan
            again = await (await _post(client, scan_request())).json(content_type=None)
            resp = await client.get(f"/api/v1/scan/{again['id']}/report", headers={**AUTH, "Accept": media.GENERIC_REPORT})
            assert resp.status == 200 and len(scanner.calls) == 1
        finally:
            await client.close()
    run(go())


@pytest.mark.parametrize("body, status, words", [
    (b"{not json", 400, "not valid JSON"),
    (b"[1, 2]", 400, "JSON object"),
    ({"registry": "https://harbor.example", "artifact": {}}, 400, "registry"),
    ({"registry": {"url": "https://harbor.example"}, "artifact": {"repository": "ml/model"}}, 422, "digest"),
    ({"registry": {"url": "https://harbor.example"}, "artifact": {"repository": "ml/model", "digest": "md5:abc"}},
     422, "digest"),
    ({"registry": {"url": "ftp://harbor.example"}, "artifact": {"repository": "ml/model", "digest": DIGEST}},
     422, "registry.url"),
    ({"registry": {"url": "https://harbor.example"},
      "artifact": {"repository": "ml/model", "digest": DIGEST, "mime_type": "application/vnd.cncf.helm.config.v1+json"}},
     501, "not handled"),
    ({**scan_request(), "enabled_capabilities": [{"type": "secret-scan"}]}, 501, "capabilities"),
])
def test_bad_scan_requests_get_the_spec_codes(body, status, words):
    async def go():
        client = await _client(FakeScanner())
        try:
            message = await _error(await _post(client, body), status)
            assert words in message
        finally:
            await client.close()
    run(go())


def test_wrong_credentials_are_refused_in_every_form():
    async def go():
        client = await _client(FakeScanner(), harbor_adapter_username="harbor", harbor_adapter_password="pw")
        try:
            for headers in ({}, {"Authorization": "Bearer wrong"}, {API_KEY_HEADER: "wrong"},
                            {"Authorization": "Basic " + base64.b64encode(b"harbor:nope").decode()},
                            {"Authorization": "Basic !!!"}):
                await _error(await client.get("/api/v1/metadata", headers=headers), 401)
                await _error(await _post(client, scan_request(), headers=headers), 401)
            for headers in (AUTH, {API_KEY_HEADER: TOKEN},
                            {"Authorization": "Basic " + base64.b64encode(b"harbor:pw").decode()}):
                assert (await client.get("/api/v1/metadata", headers=headers)).status == 200
            assert (await client.get("/probe/healthy")).status == 200
        finally:
            await client.close()
    run(go())


def test_unknown_id_unknown_report_type_and_missing_sbom_type():
    async def go():
        scanner = FakeScanner()
        scanner.gate.set()
        client = await _client(scanner)
        try:
            await _error(await client.get("/api/v1/scan/nope/report", headers={**AUTH, "Accept": media.GENERIC_REPORT}), 404)
            job = await (await _post(client, scan_request())).json(content_type=None)
            url = f"/api/v1/scan/{job['id']}/report"
            await _error(await client.get(url, headers={**AUTH, "Accept": "application/vnd.acme.report+json"}), 501)
            await _error(await client.get(url, headers={**AUTH, "Accept": media.SBOM_REPORT}), 400)
            await _error(await client.get(url + "?sbom_media_type=text/plain", headers={**AUTH, "Accept": media.SBOM_REPORT}), 400)
        finally:
            await client.close()
    run(go())


def test_a_digest_the_registry_does_not_have_ends_polling_with_500():
    async def go():
        scanner = FakeScanner(fail=ArtifactNotFound(f"ml/model@{DIGEST} is not in the registry"))
        scanner.gate.set()
        client = await _client(scanner)
        try:
            job = await (await _post(client, scan_request())).json(content_type=None)
            for _ in range(100):
                resp = await client.get(f"/api/v1/scan/{job['id']}/report",
                                        headers={**AUTH, "Accept": media.GENERIC_REPORT}, allow_redirects=False)
                if resp.status != 302:
                    break
                await asyncio.sleep(0.02)
            assert "not in the registry" in await _error(resp, 500)
        finally:
            await client.close()
    run(go())


def test_the_adapter_does_not_start_open_by_accident():
    with pytest.raises(NoCredentials):
        AdapterAuth.from_settings(AdapterSettings())
    assert AdapterAuth.from_settings(AdapterSettings(harbor_adapter_allow_unauthenticated=True)).allows({})


def test_accept_negotiation():
    offered = media.REPORT_TYPES
    assert media.accepted(None, offered) == offered[0]
    assert media.accepted("application/vnd.security.vulnerability.report;version=1.1", offered) == media.GENERIC_REPORT
    assert media.accepted("text/html, application/vnd.scanner.adapter.vuln.report.raw;q=0.5", offered) == media.RAW_REPORT
    assert media.accepted("application/vnd.security.sbom.report+json; version=9.9", offered) is None
    assert media.accepted("*/*", offered) == offered[0]
