"""Model packages shaped as the four packagers write them (CNCF ModelPack, KitOps, Docker Model Runner,
Ollama), pushed to a real registry with tests/fakes/oci_push.py. Each builder takes the files to ship and
returns the manifest digest; the bytes come from the tests (harmless canary payloads for the malicious ones)."""
from __future__ import annotations

import gzip
import io
import json
import tarfile

from tests.fakes.oci_push import MANIFEST, push_blob, push_manifest

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"


def tar_of(files: dict[str, bytes], *, gz: bool = False) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    return gzip.compress(buf.getvalue(), mtime=0) if gz else buf.getvalue()


def _layer(registry: str, repo: str, media_type: str, data: bytes, annotations: dict | None = None) -> dict:
    d = {"mediaType": media_type, "digest": push_blob(registry, repo, data), "size": len(data)}
    if annotations:
        d["annotations"] = annotations
    return d


def _config(registry: str, repo: str, media_type: str, doc: dict) -> dict:
    data = json.dumps(doc, sort_keys=True).encode()
    return {"mediaType": media_type, "digest": push_blob(registry, repo, data), "size": len(data)}


def push_modelpack(registry: str, repo: str, tag: str, raw: dict[str, bytes], code: dict[str, bytes] | None = None,
                   *, legacy: bool = False) -> str:
    """Raw weight files named by org.cncf.model.filepath (org.cnai.* with `legacy`), code as a tar+gzip layer."""
    ns, key = ("cnai", "org.cnai.model.filepath") if legacy else ("cncf", "org.cncf.model.filepath")
    layers = [_layer(registry, repo, f"application/vnd.{ns}.model.{'weight.config' if n.endswith('.json') else 'weight'}.v1.raw",
                     data, {key: n}) for n, data in raw.items()]
    if code:
        layers.append(_layer(registry, repo, f"application/vnd.{ns}.model.code.v1.tar+gzip", tar_of(code, gz=True),
                             {key: "src"}))
    manifest = {"schemaVersion": 2, "mediaType": MANIFEST, "artifactType": f"application/vnd.{ns}.model.manifest.v1+json",
                "config": _config(registry, repo, f"application/vnd.{ns}.model.config.v1+json",
                                  {"descriptor": {"name": repo}, "config": {"format": "safetensors"},
                                   "modelfs": {"type": "layers", "diffIds": [layer["digest"] for layer in layers]}}),
                "layers": layers}
    return push_manifest(registry, repo, tag, manifest)[0]


def push_kitops(registry: str, repo: str, tag: str, model: dict[str, bytes], docs: dict[str, bytes]) -> str:
    """A Kitfile config, the model as a tar layer, docs as a tar+gzip layer."""
    kitfile = {"manifestVersion": "1.0.0", "package": {"name": repo.rsplit("/", 1)[-1]},
               "model": {"name": "model", "path": next(iter(model))}, "docs": [{"path": n} for n in docs]}
    manifest = {"schemaVersion": 2, "mediaType": MANIFEST, "artifactType": "application/vnd.kitops.modelkit.manifest.v1+json",
                "config": _config(registry, repo, "application/vnd.kitops.modelkit.config.v1+json", kitfile),
                "layers": [_layer(registry, repo, "application/vnd.kitops.modelkit.model.v1.tar", tar_of(model)),
                           _layer(registry, repo, "application/vnd.kitops.modelkit.docs.v1.tar+gzip",
                                  tar_of(docs, gz=True))]}
    return push_manifest(registry, repo, tag, manifest)[0]


def push_docker_model(registry: str, repo: str, tag: str, gguf: bytes, template: str, license_text: str) -> str:
    manifest = {"schemaVersion": 2, "mediaType": MANIFEST,
                "config": _config(registry, repo, "application/vnd.docker.ai.model.config.v0.1+json",
                                  {"config": {"format": "gguf", "architecture": "llama"}, "files": []}),
                "layers": [_layer(registry, repo, "application/vnd.docker.ai.gguf.v3", gguf),
                           _layer(registry, repo, "application/vnd.docker.ai.chat.template.jinja", template.encode()),
                           _layer(registry, repo, "application/vnd.docker.ai.license", license_text.encode())]}
    return push_manifest(registry, repo, tag, manifest)[0]


def push_ollama(registry: str, repo: str, tag: str, model: bytes, template: str, params: dict, license_text: str) -> str:
    """Docker v2 manifest, a container-image config, and application/vnd.ollama.image.* layers."""
    manifest = {"schemaVersion": 2, "mediaType": DOCKER_MANIFEST,
                "config": _config(registry, repo, "application/vnd.docker.container.image.v1+json",
                                  {"model_format": "gguf", "model_family": "llama", "rootfs": {"type": "layers"}}),
                "layers": [_layer(registry, repo, "application/vnd.ollama.image.model", model),
                           _layer(registry, repo, "application/vnd.ollama.image.template", template.encode()),
                           _layer(registry, repo, "application/vnd.ollama.image.params", json.dumps(params).encode()),
                           _layer(registry, repo, "application/vnd.ollama.image.license", license_text.encode())]}
    return push_manifest(registry, repo, tag, manifest, DOCKER_MANIFEST)[0]
