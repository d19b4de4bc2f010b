"""What an OCI manifest holds, told from its media types: a model package, a container image, or unknown;
and, for a model package, the real file name of each layer.

Model package families (each layer becomes one file, named as the packager named it):

- CNCF ModelPack: artifactType/config `application/vnd.cncf.model.{manifest,config}.v1+json`, layers
  `application/vnd.cncf.model.{weight,weight.config,doc,code,dataset}.v1.{raw,tar,tar+gzip,tar+zstd}` named
  by the `org.cncf.model.filepath` annotation; the older `vnd.cnai.*` / `org.cnai.model.filepath` names too.
- KitOps ModelKit: config `application/vnd.kitops.modelkit.config.v1+json` (the Kitfile, kept as a file
  named `Kitfile`), layers `application/vnd.kitops.modelkit.{model,modelpart,dataset,code,docs,prompts}.v1.tar[+gzip]`.
- Docker Model Runner: config `application/vnd.docker.ai.model.config.*`, layers `application/vnd.docker.ai.*`
  (GGUF, safetensors, the Jinja chat template named `chat_template.jinja` so it is analysed as a template).
- Ollama: layers `application/vnd.ollama.image.{model,adapter,projector,template,system,params,messages,license}`.

A tar layer keeps a name that says tar (`<path>.tar`, `.tar.gz`, `.tar.zst`), so the engine opens it as
an archive and its members are scanned under `<layer name>!<member>`. Names come from the manifest, which
anyone who can push controls: absolute paths, `..`, control characters and over-long names are refused
for a name derived from the digest. Nothing here touches the network.
"""
from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass, field

from modelscreen.schemas.events import ArtifactType

TITLE = "org.opencontainers.image.title"
FILEPATH_KEYS = ("org.cncf.model.filepath", "org.cnai.model.filepath", TITLE)
MAX_NAME = 255

MODELPACK_MANIFEST = "application/vnd.cncf.model.manifest.v1+json"
MODELPACK_CONFIG = "application/vnd.cncf.model.config.v1+json"
KITOPS_MANIFEST = "application/vnd.kitops.modelkit.manifest.v1+json"
KITOPS_CONFIG = "application/vnd.kitops.modelkit.config.v1+json"
DOCKER_MODEL_CONFIG_PREFIX = "application/vnd.docker.ai.model.config."
IMAGE_CONFIGS = ("application/vnd.oci.image.config.v1+json", "application/vnd.docker.container.image.v1+json")
IMAGE_LAYER_PREFIXES = ("application/vnd.oci.image.layer.", "application/vnd.docker.image.rootfs.")

_MODELPACK_LAYER = re.compile(
    r"application/vnd\.(?:cncf|cnai)\.model\.(weight\.config|weight|doc|code|dataset)\.v1\.(raw|tar|tar\+gzip|tar\+zstd)")
_KITOPS_LAYER = re.compile(r"application/vnd\.kitops\.modelkit\.([a-z]+)\.v1\.(tar|tar\+gzip|tar\+zstd)")
_OLLAMA_LAYER = re.compile(r"application/vnd\.ollama\.image\.([a-z]+)")
_DOCKER_LAYER = re.compile(r"application/vnd\.docker\.ai\.([a-z0-9.]+)")
_TAR_SUFFIX = {"raw": "", "tar": ".tar", "tar+gzip": ".tar.gz", "tar+zstd": ".tar.zst"}

# Docker Model Runner layer kinds -> default file name (annotations, where present, win).
DOCKER_NAMES = {
    "gguf.v3": "model.gguf", "gguf.v3.lora": "adapter.gguf", "gguf.v3.mmproj": "mmproj.gguf",
    "mmproj": "mmproj.gguf", "safetensors": "model.safetensors", "dduf": "model.dduf",
    "chat.template.jinja": "chat_template.jinja", "license": "LICENSE", "vllm.config.tar": "config.tar",
    "dir.tar": "files.tar", "model.file": "model.file",
}
OLLAMA_NAMES = {
    "model": "model.gguf", "adapter": "adapter.gguf", "projector": "projector.gguf", "template": "template",
    "system": "system", "params": "params.json", "messages": "messages.json", "license": "LICENSE",
}


@dataclass(frozen=True)
class PackageFile:
    """One file of the artifact: a layer (or the config blob, for a Kitfile)."""

    name: str
    digest: str
    size: int | None
    media_type: str
    role: str  # weight, weight.config, doc, code, dataset, template, params, license, config, layer, ...


@dataclass(frozen=True)
class Classification:
    artifact_type: ArtifactType
    family: str | None  # modelpack, kitops, docker-model, ollama; None for images and unknown
    files: list[PackageFile] = field(default_factory=list)


def _media(d: object) -> str:
    return d.get("mediaType", "") if isinstance(d, dict) and isinstance(d.get("mediaType"), str) else ""


def _layers(manifest: dict) -> list[dict]:
    layers = manifest.get("layers")
    return [d for d in layers if isinstance(d, dict)] if isinstance(layers, list) else []


def family_of(manifest: dict, media_type: str = "") -> str | None:
    """The model-package family of a manifest, or None."""
    artifact = manifest.get("artifactType") if isinstance(manifest.get("artifactType"), str) else ""
    config = _media(manifest.get("config"))
    layer_types = [_media(d) for d in _layers(manifest)]
    if MODELPACK_MANIFEST in (artifact, media_type) or config == MODELPACK_CONFIG or config.startswith(
            "application/vnd.cnai.model.config.") or any(_MODELPACK_LAYER.fullmatch(t) for t in layer_types):
        return "modelpack"
    if artifact == KITOPS_MANIFEST or config == KITOPS_CONFIG or any(
            t.startswith("application/vnd.kitops.") for t in layer_types):
        return "kitops"
    if config.startswith(DOCKER_MODEL_CONFIG_PREFIX) or any(_DOCKER_LAYER.fullmatch(t) for t in layer_types):
        return "docker-model"
    if any(t.startswith("application/vnd.ollama.image.") for t in layer_types):
        return "ollama"
    return None


def artifact_type_of(manifest: dict, media_type: str = "") -> ArtifactType:
    if family_of(manifest, media_type):
        return ArtifactType.model_package
    config = _media(manifest.get("config"))
    layers = [_media(d) for d in _layers(manifest)]
    if config in IMAGE_CONFIGS and all(t.startswith(IMAGE_LAYER_PREFIXES) for t in layers):
        return ArtifactType.container_image
    return ArtifactType.unknown


def safe_name(name: object) -> str | None:
    """A relative POSIX path without `..`, control characters or a leading `/`; None when refused."""
    if not isinstance(name, str) or not name or len(name) > MAX_NAME or re.search(r"[\x00-\x1f\x7f\\]", name):
        return None
    norm = posixpath.normpath(name)
    if norm.startswith(("/", "../")) or norm in (".", "..") or "/../" in f"/{norm}/":
        return None
    return norm


def _annotated(d: dict) -> str | None:
    ann = d.get("annotations") if isinstance(d.get("annotations"), dict) else {}
    for key in FILEPATH_KEYS:
        name = safe_name(ann.get(key))
        if name:
            return name
    return None


def _modelpack(d: dict) -> tuple[str, str | None]:
    m = _MODELPACK_LAYER.fullmatch(_media(d)) or _KITOPS_LAYER.fullmatch(_media(d))
    if not m:
        return "layer", None
    role, packing = m.group(1), m.group(2)
    name = _annotated(d)
    suffix = _TAR_SUFFIX[packing]
    if name and suffix and not name.endswith(suffix):
        name += suffix
    return role, name or (f"{role}{suffix}" if suffix else None)


def _docker(d: dict) -> tuple[str, str | None]:
    m = _DOCKER_LAYER.fullmatch(_media(d))
    kind = m.group(1) if m else ""
    role = {"chat.template.jinja": "template", "license": "license"}.get(kind, "weight" if kind else "layer")
    return role, _annotated(d) or DOCKER_NAMES.get(kind)


def _ollama(d: dict) -> tuple[str, str | None]:
    m = _OLLAMA_LAYER.fullmatch(_media(d))
    kind = m.group(1) if m else ""
    role = "weight" if kind in ("model", "adapter", "projector") else (kind or "layer")
    return role, OLLAMA_NAMES.get(kind) or _annotated(d)


_NAMERS = {"modelpack": _modelpack, "kitops": _modelpack, "docker-model": _docker, "ollama": _ollama}


def _unique(name: str, digest: str, taken: set[str]) -> str:
    if name not in taken:
        return name
    stem, dot, ext = name.rpartition(".") if "." in name.rsplit("/", 1)[-1] else (name, "", "")
    return f"{stem}-{digest.split(':', 1)[-1][:12]}{dot}{ext}"


def classify(manifest: dict, media_type: str = "") -> Classification:
    """The artifact type, the model-package family, and one PackageFile per layer (a KitOps Kitfile too).
    Layers without a digest are left to the caller's validation (modelscreen.pipeline.expand)."""
    family = family_of(manifest, media_type)
    kind = ArtifactType.model_package if family else artifact_type_of(manifest, media_type)
    namer = _NAMERS.get(family)
    files: list[PackageFile] = []
    taken: set[str] = set()
    descriptors = _layers(manifest)
    config = manifest.get("config")
    if family == "kitops" and isinstance(config, dict) and _media(config) == KITOPS_CONFIG:
        descriptors = [{**config, "annotations": {TITLE: "Kitfile"}}, *descriptors]
    for d in descriptors:
        digest = d.get("digest")
        if not isinstance(digest, str):
            continue
        if d is descriptors[0] and family == "kitops" and _media(d) == KITOPS_CONFIG:
            role, name = "config", "Kitfile"
        elif namer is not None:
            role, name = namer(d)
        else:
            role, name = "layer", _annotated(d)
        name = _unique(name or digest, digest, taken)
        taken.add(name)
        size = d.get("size") if isinstance(d.get("size"), int) and not isinstance(d.get("size"), bool) else None
        files.append(PackageFile(name=name, digest=digest, size=size, media_type=_media(d), role=role))
    return Classification(kind, family, files)
