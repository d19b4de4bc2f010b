"""Static checks of docker-compose.yml (no Docker needed)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

yaml = pytest.importorskip("yaml")

REPO_ROOT = Path(__file__).resolve().parents[1]
COMPOSE_FILE = REPO_ROOT / "docker-compose.yml"
ENV_EXAMPLE = REPO_ROOT / "deploy" / "compose.env.example"

WORKER_ENV_NAMES = {
    "MODELSCREEN_KAFKA_BOOTSTRAP",
    "MODELSCREEN_ELASTICSEARCH_URL",
    "MODELSCREEN_ELASTICSEARCH_USERNAME",
    "MODELSCREEN_ELASTICSEARCH_PASSWORD",
    "MODELSCREEN_KAFKA_SECURITY_PROTOCOL",
    "MODELSCREEN_KAFKA_SASL_MECHANISM",
    "MODELSCREEN_KAFKA_SASL_USERNAME",
    "MODELSCREEN_KAFKA_SASL_PASSWORD",
    "MODELSCREEN_KAFKA_SSL_CAFILE",
}

_VAR = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::?-(?P<default>[^}]*))?[^}]*\}")


def _interpolate(value: str) -> str:
    """Resolve ${VAR:-default} the way compose would with VAR unset."""
    return _VAR.sub(lambda m: m.group("default") or "", value)


@pytest.fixture(scope="module")
def compose() -> dict:
    with COMPOSE_FILE.open(encoding="utf-8") as fh:
        data = yaml.safe_load(fh)
    assert isinstance(data, dict)
    return data


@pytest.fixture(scope="module")
def services(compose) -> dict:
    return compose["services"]


def _env_names(service: dict) -> set[str]:
    env = service.get("environment") or {}
    if isinstance(env, dict):
        return set(env)
    return {item.split("=", 1)[0] for item in env}


def _env(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, dict):
        return {k: "" if v is None else str(v) for k, v in env.items()}
    return dict(item.split("=", 1) if "=" in item else (item, "") for item in env)


def _image_tag(image: str) -> str:
    return _interpolate(image).rsplit(":", 1)[1]


def test_expected_services_exist(services):
    assert {"kafka", "elasticsearch", "kibana", "worker", "setup"} <= set(services)


def test_worker_environment_names(services):
    names = _env_names(services["worker"])
    assert "MODELSCREEN_KAFKA_BOOTSTRAP" in names
    assert "MODELSCREEN_ELASTICSEARCH_URL" in names
    assert WORKER_ENV_NAMES <= names, WORKER_ENV_NAMES - names


def test_api_key_alternative_is_documented():
    text = COMPOSE_FILE.read_text(encoding="utf-8")
    assert re.search(r"^\s*#\s*MODELSCREEN_ELASTICSEARCH_API_KEY", text, re.M)


def test_worker_is_scalable_and_built_locally(services):
    worker = services["worker"]
    assert "container_name" not in worker
    assert "ports" not in worker
    assert "build" in worker
    assert worker["command"] in (["worker"], "worker")


def test_setup_is_one_shot(services):
    setup = services["setup"]
    assert setup["command"] in (["setup"], "setup")
    assert str(setup.get("restart", "no")) == "no"


def test_elasticsearch_and_kibana_versions_match(services):
    es_image = services["elasticsearch"]["image"]
    kibana_image = services["kibana"]["image"]
    assert "elasticsearch" in es_image and "kibana" in kibana_image
    es_tag, kibana_tag = _image_tag(es_image), _image_tag(kibana_image)
    assert es_tag == kibana_tag
    assert es_tag.startswith("8.")


def test_kafka_is_official_4x_kraft(services):
    kafka = services["kafka"]
    assert _interpolate(kafka["image"]).split(":")[0] == "apache/kafka"
    assert _image_tag(kafka["image"]).startswith("4.")
    env = _env(kafka)
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert "zookeeper" not in str(kafka).lower()


def test_security_is_on(services):
    es_env = _env(services["elasticsearch"])
    assert es_env.get("xpack.security.enabled") == "true"
    assert "ELASTIC_PASSWORD" in es_env
    kibana_env = _env(services["kibana"])
    assert kibana_env.get("ELASTICSEARCH_USERNAME") == "kibana_system"
    assert "ELASTICSEARCH_PASSWORD" in kibana_env


@pytest.mark.parametrize("name", ["kafka", "elasticsearch", "kibana"])
def test_healthchecks_exist(services, name):
    healthcheck = services[name].get("healthcheck")
    assert healthcheck and healthcheck.get("test"), f"{name} has no healthcheck"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("setup", {"kafka": "service_healthy", "elasticsearch": "service_healthy"}),
        (
            "worker",
            {
                "kafka": "service_healthy",
                "elasticsearch": "service_healthy",
                "setup": "service_completed_successfully",
            },
        ),
        (
            "kibana",
            {"elasticsearch": "service_healthy", "setup": "service_completed_successfully"},
        ),
    ],
)
def test_depends_on_conditions(services, name, expected):
    depends_on = services[name].get("depends_on")
    assert isinstance(depends_on, dict), f"{name}: depends_on needs conditions"
    for dependency, condition in expected.items():
        assert depends_on[dependency]["condition"] == condition


def test_published_ports_are_loopback_only(services):
    for name, service in services.items():
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port}"


def test_env_example_covers_required_variables(compose):
    text = COMPOSE_FILE.read_text(encoding="utf-8")
    required = set(re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*):\?", text))
    example = ENV_EXAMPLE.read_text(encoding="utf-8")
    defined = set(re.findall(r"^([A-Za-z_][A-Za-z0-9_]*)=", example, re.M))
    assert required <= defined, required - defined


def test_dockerfile_runs_modelscreen_as_non_root():
    dockerfile = (REPO_ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert re.search(r"^FROM python:3\.11-slim", dockerfile, re.M)
    # The image installs the built wheel and keeps no source tree or data-directory overrides.
    assert "pip wheel" in dockerfile and "modelscreen-*.whl" in dockerfile
    assert "MODELSCREEN_RULES_DIR" not in dockerfile and "MODELSCREEN_TEMPLATES_DIR" not in dockerfile
    user = re.findall(r"^USER\s+(\S+)", dockerfile, re.M)
    assert user and user[-1].split(":")[0] not in {"root", "0"}
    assert re.search(r'^ENTRYPOINT \["modelscreen"\]', dockerfile, re.M)
