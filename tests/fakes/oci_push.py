"""Push blobs and manifests to an OCI registry over the distribution API (plain http, no auth): how the
tests put model artifacts into a real registry."""
from __future__ import annotations

import hashlib
import json
import urllib.request

MODEL_CONFIG = "application/vnd.cncf.model.config.v1+json"
MANIFEST = "application/vnd.oci.image.manifest.v1+json"
INDEX = "application/vnd.oci.image.index.v1+json"


def digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _request(method: str, url: str, data: bytes | None = None, headers: dict | None = None):
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    return urllib.request.urlopen(req, timeout=30)  # noqa: S310 - a loopback test registry


def push_blob(registry: str, repo: str, data: bytes) -> str:
    d = digest(data)
    with _request("POST", f"http://{registry}/v2/{repo}/blobs/uploads/", b"") as resp:
        location = resp.headers["Location"]
    if location.startswith("/"):
        location = f"http://{registry}{location}"
    sep = "&" if "?" in location else "?"
    with _request("PUT", f"{location}{sep}digest={d}", data,
                  {"Content-Type": "application/octet-stream", "Content-Length": str(len(data))}):
        pass
    return d


def push_manifest(registry: str, repo: str, ref: str, manifest: dict, media_type: str = MANIFEST) -> tuple[str, bytes]:
    body = json.dumps(manifest, sort_keys=True).encode()
    with _request("PUT", f"http://{registry}/v2/{repo}/manifests/{ref}", body, {"Content-Type": media_type}):
        pass
    return digest(body), body


def push_model(registry: str, repo: str, tag: str, files: dict[str, bytes]) -> str:
    """A model artifact: one layer per file (title annotation = file name). Returns the manifest digest."""
    config = b"{}"
    layers = []
    for name, data in files.items():
        layers.append({"mediaType": "application/vnd.cncf.model.weight.v1.raw", "digest": push_blob(registry, repo, data),
                       "size": len(data), "annotations": {"org.opencontainers.image.title": name}})
    manifest = {"schemaVersion": 2, "mediaType": MANIFEST, "artifactType": "application/vnd.cncf.model.manifest.v1+json",
                "config": {"mediaType": MODEL_CONFIG, "digest": push_blob(registry, repo, config), "size": len(config)},
                "layers": layers}
    return push_manifest(registry, repo, tag, manifest)[0]
