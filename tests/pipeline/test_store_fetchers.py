"""Hub repositories expand into one event per file; hf://, artifactory:// and nexus:// files are fetched from
the store's download API (a loopback server in the shape of each API)."""
from __future__ import annotations

import hashlib
import pickle
from datetime import datetime, timezone

import pytest

from modelscreen.schemas.events import Action, ArtifactEvent, StoreKind
from tests.fakes.http_store import Route, StoreServer, git_blob_sha1, serve_hub_repo
from modelscreen.fetch import FetchError, fetch_to_file
from modelscreen.fetch.hf import parse, resolve_url
from modelscreen.fetch.http import basic_auth
from modelscreen.fetch.repository import download_url
from modelscreen.pipeline.expand import expand, is_multi_file
from modelscreen.pipeline.scanning import display_name, needs_scan, scan_fetched
from modelscreen.provenance.pipeline_checks import collect_evidence
from modelscreen.settings import Settings

REPO = "acme-research/tiny-bert"
COMMIT = "8c2e5f1a9d3b7e6c4a0f2d8b1e9c7a5d3f6b4e2a"
CONFIG = b'{"architectures": ["BertModel"]}\n'
WEIGHTS = b"\x10\x00\x00\x00\x00\x00\x00\x00{}              " + bytes(range(256)) * 4
FILES = {
    ".gitattributes": (b"*.safetensors filter=lfs diff=lfs merge=lfs -text\n", False),
    "config.json": (CONFIG, False),
    "model.safetensors": (WEIGHTS, True),
    "tokenizer/vocab list.txt": (b"[PAD]\n[UNK]\nhello\n", False),
}


@pytest.fixture
def hub():
    server = StoreServer()
    yield server
    server.close()


def _repo_event(uri: str = f"hf://models/{REPO}@{COMMIT}", **kw) -> ArtifactEvent:
    return ArtifactEvent(action=kw.pop("action", Action.uploaded), store=StoreKind.huggingface, store_name="models",
                         uri=uri, name=REPO, version=COMMIT, time=datetime(2026, 12, 5, tzinfo=timezone.utc),
                         source_event_id="6643a1f0:repo.content.update:refs/heads/main:" + COMMIT,
                         raw_type="repo.content.update", **kw)


def _settings(tmp_path, hub=None, **kw) -> Settings:
    return Settings(fetch_file_roots=[tmp_path], hf_endpoint=hub.url if hub else None, **kw)


def test_a_repository_event_expands_into_one_event_per_file(hub, tmp_path):
    serve_hub_repo(hub, REPO, COMMIT, FILES)
    parent = _repo_event(actor="alice")
    assert is_multi_file(parent)
    events = expand(parent, _settings(tmp_path, hub))
    by_path = {e.path: e for e in events}
    assert sorted(by_path) == ["config.json", "model.safetensors", "tokenizer/vocab list.txt"]  # no .gitattributes
    weights = by_path["model.safetensors"]
    assert weights.expected_sha256 == hashlib.sha256(WEIGHTS).hexdigest() and weights.expected_digests == {}
    assert weights.uri == f"hf://models/{REPO}@{COMMIT}/model.safetensors" and weights.size == len(WEIGHTS)
    config = by_path["config.json"]
    assert config.expected_sha256 is None and config.expected_digests == {"git-sha1": git_blob_sha1(CONFIG)}
    assert by_path["tokenizer/vocab list.txt"].uri.endswith("/tokenizer/vocab%20list.txt")
    for e in events:
        assert not is_multi_file(e)
        assert (e.name, e.version, e.actor, e.source_event_id, e.action) == (
            REPO, COMMIT, "alice", parent.source_event_id, Action.uploaded)
    assert len({e.event_id for e in events}) == 3
    assert [e.event_id for e in expand(parent, _settings(tmp_path, hub))] == [e.event_id for e in events]


def test_listing_failures_say_whether_a_retry_may_help(hub, tmp_path):
    serve_hub_repo(hub, REPO, COMMIT, FILES)
    with pytest.raises(FetchError) as missing:
        expand(_repo_event(f"hf://models/{REPO}@{'f' * 40}"), _settings(tmp_path, hub))
    assert not missing.value.transient and "404" in missing.value.reason
    hub.fail_next = 1
    with pytest.raises(FetchError) as busy:
        expand(_repo_event(), _settings(tmp_path, hub))
    assert busy.value.transient
    with pytest.raises(FetchError) as many:
        expand(_repo_event(), _settings(tmp_path, hub, expand_max_files=2))
    assert not many.value.transient and "3 files" in many.value.reason
    with pytest.raises(FetchError) as unpinned:
        expand(_repo_event(f"hf://models/{REPO}"), _settings(tmp_path, hub))
    assert not unpinned.value.transient


def test_hub_files_are_fetched_with_the_token_which_never_follows_a_redirect(hub, tmp_path):
    serve_hub_repo(hub, REPO, COMMIT, FILES, token="hf_secret")
    settings = _settings(tmp_path, hub, hf_token="hf_secret")
    events = {e.path: e for e in expand(_repo_event(), settings)}
    got = fetch_to_file(events["model.safetensors"].uri, tmp_path / "w", settings)
    assert got.read_bytes() == WEIGHTS
    assert fetch_to_file(events["tokenizer/vocab list.txt"].uri, tmp_path / "v", settings).read_bytes() == \
        FILES["tokenizer/vocab list.txt"][0]
    auth = dict(hub.requests)
    assert auth[f"/{REPO}/resolve/{COMMIT}/model.safetensors"] == "Bearer hf_secret"
    assert auth[f"/cdn/{hashlib.sha256(WEIGHTS).hexdigest()}"] is None  # the CDN never sees the token
    with pytest.raises(FetchError) as denied:
        fetch_to_file(events["config.json"].uri, tmp_path / "c", _settings(tmp_path, hub))
    assert not denied.value.transient and "401" in denied.value.reason


@pytest.mark.parametrize("uri,url", [
    (f"hf://models/{REPO}@{COMMIT}/a/b.bin", f"https://huggingface.co/{REPO}/resolve/{COMMIT}/a/b.bin"),
    (f"hf://datasets/{REPO}@{COMMIT}/x.parquet", f"https://huggingface.co/datasets/{REPO}/resolve/{COMMIT}/x.parquet"),
    (f"hf://spaces/gpt2@{COMMIT}/app.py", f"https://huggingface.co/spaces/gpt2/resolve/{COMMIT}/app.py"),
])
def test_hub_resolve_urls(uri, url):
    assert resolve_url(parse(uri), None) == url


@pytest.mark.parametrize("uri", ["hf://models/", "hf://buckets/a@b/c", f"hf://models/a/../b@{COMMIT}/x",
                                 f"hf://models/{REPO}@{COMMIT}/a/../../x", f"hf://models/{REPO}@/x"])
def test_bad_hub_uris_are_permanent_failures(uri, tmp_path):
    with pytest.raises(FetchError) as exc:
        fetch_to_file(uri, tmp_path / "x", _settings(tmp_path))
    assert not exc.value.transient


def test_a_file_of_a_repository_is_scanned_under_its_own_name(hub, tmp_path):
    payload = pickle.dumps({"w": [1.0]})
    serve_hub_repo(hub, REPO, COMMIT, {"pytorch_model.bin": (payload, True)})
    settings = _settings(tmp_path, hub)
    [event] = expand(_repo_event(), settings)
    assert display_name(event) == "pytorch_model.bin"
    result, _ = scan_fetched(event, settings)
    assert result.sha256 == hashlib.sha256(payload).hexdigest() and result.format == "pickle"


def test_a_non_lfs_file_is_checked_against_its_git_blob_id(hub, tmp_path):
    serve_hub_repo(hub, REPO, COMMIT, FILES, served={"config.json": CONFIG.replace(b"Bert", b"Evil")})
    settings = _settings(tmp_path, hub)
    events = {e.path: e for e in expand(_repo_event(), settings)}
    _, ev = scan_fetched(events["config.json"], settings, inspect=lambda r, p: collect_evidence(r, p, settings=settings))
    assert [f.rule_id for f in ev.findings] == ["HF-PIN-DIGEST-MISMATCH"]
    assert git_blob_sha1(CONFIG) in ev.findings[0].detail
    _, ev = scan_fetched(events["tokenizer/vocab list.txt"], settings,
                         inspect=lambda r, p: collect_evidence(r, p, settings=settings))
    assert ev.findings == []


# --- Artifactory and Nexus ---------------------------------------------------------------------------

def test_repository_manager_urls():
    kw = {"artifactory_url": "https://acme.example/artifactory/", "nexus_url": "https://nexus.example"}
    assert download_url("artifactory://ml-local/models/bert%20v2/w.bin", **kw) == \
        "https://acme.example/artifactory/ml-local/models/bert%20v2/w.bin"
    assert download_url("nexus://raw-models/team/w.safetensors", **kw) == \
        "https://nexus.example/repository/raw-models/team/w.safetensors"
    for uri in ("artifactory://ml-local/", "nexus://raw/a/../b", "artifactory://ml-local"):
        with pytest.raises(FetchError):
            download_url(uri, **kw)
    with pytest.raises(FetchError, match="MODELSCREEN_NEXUS_URL"):
        download_url("nexus://raw/a", artifactory_url=None, nexus_url=None)


def test_artifactory_and_nexus_downloads_authenticate(tmp_path):
    server = StoreServer()
    try:
        server.routes["/artifactory/ml-local/team/w.bin"] = Route(200, b"weights-a", auth="Bearer akey")
        server.routes["/repository/raw-models/team/w.bin"] = Route(200, b"weights-n", auth=basic_auth("ci", "pw"))
        settings = _settings(tmp_path, artifactory_url=server.url + "/artifactory", artifactory_token="akey",
                             nexus_url=server.url, nexus_username="ci", nexus_password="pw")
        assert fetch_to_file("artifactory://ml-local/team/w.bin", tmp_path / "a", settings).read_bytes() == b"weights-a"
        assert fetch_to_file("nexus://raw-models/team/w.bin", tmp_path / "n", settings).read_bytes() == b"weights-n"
        with pytest.raises(FetchError) as missing:
            fetch_to_file("nexus://raw-models/team/gone.bin", tmp_path / "g", settings)
        assert not missing.value.transient
        wrong = _settings(tmp_path, nexus_url=server.url, nexus_username="ci", nexus_password="nope")
        with pytest.raises(FetchError, match="401"):
            fetch_to_file("nexus://raw-models/team/w.bin", tmp_path / "x", wrong)
    finally:
        server.close()


# --- OCI registries (a real registry is in tests/integration/test_oci_registry.py) ---------------------

def _oci_manifest(server, repo, layers, *, auth=None, challenge=None, serve=None):
    import json

    doc = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
           "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": "sha256:" + "4" * 64, "size": 2},
           "layers": [{"mediaType": "application/octet-stream", "digest": "sha256:" + hashlib.sha256(d).hexdigest(),
                       "size": len(d), "annotations": {"org.opencontainers.image.title": name}}
                      for name, d in layers.items()]}
    body = json.dumps(doc).encode()
    digest = "sha256:" + hashlib.sha256(body).hexdigest()
    server.routes[f"/v2/{repo}/manifests/{digest}"] = Route(200, serve or body, {
        "Content-Type": "application/vnd.oci.image.manifest.v1+json"}, auth=auth, challenge=challenge)
    for d in layers.values():
        blob = f"/v2/{repo}/blobs/sha256:{hashlib.sha256(d).hexdigest()}"
        server.routes[blob] = Route(307, b"", {"Location": f"{server.url}/storage/{hashlib.sha256(d).hexdigest()}"},
                                    auth=auth, challenge=challenge)
        server.routes[f"/storage/{hashlib.sha256(d).hexdigest()}"] = Route(200, d)
    return digest


def _oci_event(host, repo, digest):
    return ArtifactEvent(action=Action.uploaded, store=StoreKind.harbor, store_name=host,
                         uri=f"oci://{host}/{repo}@{digest}", name=repo, version="v1",
                         time=datetime(2026, 12, 5, tzinfo=timezone.utc), source_event_id="h-1",
                         raw_type="PUSH_ARTIFACT")


def test_registry_bearer_token_challenge_and_no_credentials_on_redirects(tmp_path):
    server = StoreServer()
    try:
        host = server.url.split("://", 1)[1]
        realm = f"{server.url}/service/token"
        server.routes["/service/token?service=harbor-registry&scope=repository%3Aml%2Fbert%3Apull"] = Route(
            200, b'{"token": "tok-1"}', auth=basic_auth("robot$ci", "pw"))
        challenge = f'Bearer realm="{realm}",service="harbor-registry",scope="repository:ml/bert:pull"'
        digest = _oci_manifest(server, "ml/bert", {"w.bin": b"weights"}, auth="Bearer tok-1", challenge=challenge)
        settings = _settings(tmp_path, oci_plain_http=[host], oci_username="robot$ci", oci_password="pw")
        [layer] = expand(_oci_event(host, "ml/bert", digest), settings)
        assert layer.path == "w.bin" and layer.expected_digests == {"oci-manifest": digest}
        assert fetch_to_file(layer.uri, tmp_path / "w", settings).read_bytes() == b"weights"
        auth = dict(server.requests)
        assert auth[f"/storage/{hashlib.sha256(b'weights').hexdigest()}"] is None  # storage never sees the token
        with pytest.raises(FetchError) as denied:  # wrong password: the token service refuses
            expand(_oci_event(host, "ml/bert", digest), _settings(tmp_path, oci_plain_http=[host],
                                                                  oci_username="robot$ci", oci_password="no"))
        assert not denied.value.transient and "401" in denied.value.reason
    finally:
        server.close()


def test_a_manifest_that_does_not_hash_to_its_digest_is_refused(tmp_path):
    server = StoreServer()
    try:
        host = server.url.split("://", 1)[1]
        digest = _oci_manifest(server, "ml/bert", {"w.bin": b"weights"}, serve=b'{"schemaVersion": 2, "layers": []}')
        with pytest.raises(FetchError, match="not " + digest) as exc:
            expand(_oci_event(host, "ml/bert", digest), _settings(tmp_path, oci_plain_http=[host]))
        assert not exc.value.transient
    finally:
        server.close()


@pytest.mark.parametrize("uri", ["oci://reg.example/ml/bert:v1", "oci://reg.example/ml/bert@sha256:abc",
                                 "oci://reg.example/ML/Bert@sha256:" + "a" * 64,
                                 "oci://reg.example/ml/bert@sha256:" + "a" * 64 + "/../x"])
def test_bad_oci_uris_are_permanent_failures(uri, tmp_path):
    with pytest.raises(FetchError) as exc:
        fetch_to_file(uri, tmp_path / "x", _settings(tmp_path))
    assert not exc.value.transient


def test_nexus_component_events_are_not_fetched_their_asset_events_are():
    def nexus(uri):
        return ArtifactEvent(action=Action.uploaded, store=StoreKind.nexus, store_name="raw-models", uri=uri,
                             time=datetime(2026, 12, 5, tzinfo=timezone.utc), source_event_id="n-1",
                             raw_type="component.CREATED")

    assert not needs_scan(nexus("nexus-component://raw-models/Y29tcG9uZW50"))
    assert needs_scan(nexus("nexus://raw-models/team/w.bin"))
