"""Media-type classification of OCI manifests: model packages (ModelPack, KitOps, Docker Model Runner,
Ollama) with real file names, container images, and unknown artifacts. No registry needed."""
from __future__ import annotations

import pytest

from modelscreen.fetch.oci_models import classify, safe_name
from modelscreen.schemas.events import ArtifactType

D = [f"sha256:{c * 64}" for c in "0123456789abcdef"]
OCI = "application/vnd.oci.image.manifest.v1+json"


def layer(media_type: str, digest: str, **annotations) -> dict:
    d = {"mediaType": media_type, "digest": digest, "size": 10}
    if annotations:
        d["annotations"] = {k.replace("_", "."): v for k, v in annotations.items()}
    return d


def test_modelpack_layers_are_named_by_filepath_and_tar_layers_say_tar():
    manifest = {"mediaType": OCI, "artifactType": "application/vnd.cncf.model.manifest.v1+json",
                "config": {"mediaType": "application/vnd.cncf.model.config.v1+json", "digest": D[0], "size": 2},
                "layers": [
                    layer("application/vnd.cncf.model.weight.v1.raw", D[1], **{"org_cncf_model_filepath": "model.safetensors"}),
                    layer("application/vnd.cncf.model.weight.config.v1.raw", D[2], **{"org_cncf_model_filepath": "config.json"}),
                    layer("application/vnd.cncf.model.code.v1.tar+gzip", D[3], **{"org_cncf_model_filepath": "src"}),
                    layer("application/vnd.cncf.model.dataset.v1.tar+zstd", D[4]),
                    layer("application/vnd.cncf.model.doc.v1.tar", D[5], **{"org_cncf_model_filepath": "docs.tar"})]}
    found = classify(manifest, OCI)
    assert found.artifact_type is ArtifactType.model_package and found.family == "modelpack"
    assert [(f.name, f.role) for f in found.files] == [
        ("model.safetensors", "weight"), ("config.json", "weight.config"), ("src.tar.gz", "code"),
        ("dataset.tar.zst", "dataset"), ("docs.tar", "doc")]


def test_older_cnai_names_are_modelpack_too():
    manifest = {"config": {"mediaType": "application/vnd.cnai.model.config.v1+json", "digest": D[0]},
                "layers": [layer("application/vnd.cnai.model.weight.v1.raw", D[1],
                                 **{"org_cnai_model_filepath": "pytorch_model.bin"})]}
    found = classify(manifest)
    assert found.family == "modelpack" and found.files[0].name == "pytorch_model.bin"


def test_kitops_kitfile_config_is_a_file_and_layers_are_archives():
    manifest = {"config": {"mediaType": "application/vnd.kitops.modelkit.config.v1+json", "digest": D[0], "size": 9},
                "layers": [layer("application/vnd.kitops.modelkit.model.v1.tar", D[1]),
                           layer("application/vnd.kitops.modelkit.code.v1.tar+gzip", D[2],
                                 **{"org_cncf_model_filepath": "train"}),
                           layer("application/vnd.kitops.modelkit.docs.v1.tar+gzip", D[3])]}
    found = classify(manifest, OCI)
    assert found.family == "kitops"
    assert [f.name for f in found.files] == ["Kitfile", "model.tar", "train.tar.gz", "docs.tar.gz"]
    assert found.files[0].role == "config" and found.files[0].digest == D[0]


def test_docker_model_runner_chat_template_is_named_as_a_jinja_template():
    manifest = {"config": {"mediaType": "application/vnd.docker.ai.model.config.v0.1+json", "digest": D[0]},
                "layers": [layer("application/vnd.docker.ai.gguf.v3", D[1]),
                           layer("application/vnd.docker.ai.chat.template.jinja", D[2]),
                           layer("application/vnd.docker.ai.license", D[3]),
                           layer("application/vnd.docker.ai.safetensors", D[4],
                                 **{"org_cncf_model_filepath": "model-00001-of-00002.safetensors"})]}
    found = classify(manifest, OCI)
    assert found.family == "docker-model"
    assert {f.name: f.role for f in found.files} == {
        "model.gguf": "weight", "chat_template.jinja": "template", "LICENSE": "license",
        "model-00001-of-00002.safetensors": "weight"}


def test_ollama_layers_get_their_role_names():
    manifest = {"mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "digest": D[0]},
                "layers": [layer(f"application/vnd.ollama.image.{k}", D[i + 1])
                           for i, k in enumerate(("model", "template", "params", "license", "system"))]}
    found = classify(manifest)
    assert found.family == "ollama" and found.artifact_type is ArtifactType.model_package
    assert [f.name for f in found.files] == ["model.gguf", "template", "params.json", "LICENSE", "system"]


def test_container_image_and_unknown():
    image = {"config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": D[0]},
             "layers": [layer("application/vnd.oci.image.layer.v1.tar+gzip", D[1])]}
    assert classify(image).artifact_type is ArtifactType.container_image
    helm = {"config": {"mediaType": "application/vnd.cncf.helm.config.v1+json", "digest": D[0]},
            "layers": [layer("application/vnd.cncf.helm.chart.content.v1.tar+gzip", D[1], org_opencontainers_image_title="c.tgz")]}
    found = classify(helm)
    assert found.artifact_type is ArtifactType.unknown and found.family is None and found.files[0].name == "c.tgz"


def test_duplicate_names_are_made_unique_and_identical_names_never_collide():
    manifest = {"config": {"mediaType": "application/vnd.docker.ai.model.config.v0.2+json", "digest": D[0]},
                "layers": [layer("application/vnd.docker.ai.gguf.v3", D[1]), layer("application/vnd.docker.ai.gguf.v3", D[2])]}
    names = [f.name for f in classify(manifest).files]
    assert names[0] == "model.gguf" and names[1] == f"model-{'2' * 12}.gguf"


@pytest.mark.parametrize("bad", ["/etc/passwd", "../x", "a/../../x", "a\x00b", "", "x" * 300, "..", "a\\b", 5])
def test_hostile_file_paths_are_refused(bad):
    assert safe_name(bad) is None
    manifest = {"artifactType": "application/vnd.cncf.model.manifest.v1+json",
                "layers": [layer("application/vnd.cncf.model.weight.v1.raw", D[1], **{"org_cncf_model_filepath": bad})]}
    assert classify(manifest).files[0].name == D[1]


def test_nested_safe_paths_are_kept():
    assert safe_name("weights/./model.bin") == "weights/model.bin"


def test_expanded_events_carry_real_names_and_the_artifact_type():
    from modelscreen.pipeline.expand import package_files

    manifest = {"mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "digest": D[0]},
                "layers": [layer("application/vnd.ollama.image.model", D[1]),
                           layer("application/vnd.ollama.image.template", D[2])]}
    kit = {"config": {"mediaType": "application/vnd.kitops.modelkit.config.v1+json", "digest": D[3], "size": 4},
           "layers": [layer("application/vnd.kitops.modelkit.model.v1.tar", D[4])]}
    files = package_files("reg.example:5000", "ml/m", [(D[9], manifest, ""), (D[10], kit, OCI)])
    by_path = {f["path"]: f for f in files}
    assert set(by_path) == {"model.gguf", "template", "Kitfile", "model.tar"}
    assert by_path["model.gguf"]["uri"] == f"oci://reg.example:5000/ml/m@{D[9]}/{D[1]}"
    assert by_path["Kitfile"]["uri"] == f"oci://reg.example:5000/ml/m@{D[10]}/{D[3]}"
    assert {f["artifact_type"] for f in files} == {ArtifactType.model_package}
