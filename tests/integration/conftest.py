"""Fixtures for integration tests that need a real Kafka broker and Elasticsearch.

Endpoints come from MODELSCREEN_KAFKA_BOOTSTRAP / MODELSCREEN_ELASTICSEARCH_URL.
When they are unset or not reachable, the services are started on loopback
with ``deploy/local/services up`` (Kafka 4.x and Elasticsearch 8.x without
Docker; the first run downloads them through Maven, later runs start from the
cache in seconds). Each session takes a lease (``up --lease PID``) and releases
it at the end (``down --lease PID``): the services stop when the last session
that uses them ends, unless a developer started them with a plain ``up`` (e.g.
``eval "$(deploy/local/services up)"``) or MODELSCREEN_KEEP_SERVICES=1 is set.

Where the services cannot be had (no Java, no Maven, no network on the first
run) the tests are skipped with a one-line reason; with
MODELSCREEN_REQUIRE_SERVICES=1 they fail instead.
"""

from __future__ import annotations

import base64
import os
import re
import socket
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
SERVICES_SCRIPT = REPO_ROOT / "deploy" / "local" / "services"
INTEGRATION_DIR = Path(__file__).resolve().parent
START_TIMEOUT_S = int(os.environ.get("MODELSCREEN_SERVICES_START_TIMEOUT", "1200"))


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "integration: needs real Kafka/Elasticsearch (tests/integration)"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        try:
            Path(str(item.path)).resolve().relative_to(INTEGRATION_DIR)
        except ValueError:
            continue
        item.add_marker(pytest.mark.integration)


def _truthy(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


def _unavailable(reason: str) -> None:
    reason = " ".join(re.sub(r"\x1b\[[0-9;]*m", "", reason).split())  # one line
    if _truthy("MODELSCREEN_REQUIRE_SERVICES"):
        pytest.fail(f"required service unavailable: {reason}", pytrace=False)
    pytest.skip(reason)


def kafka_reachable(bootstrap: str, timeout: float = 3.0) -> bool:
    for server in bootstrap.split(","):
        server = server.strip()
        if not server:
            continue
        host, _, port = server.rpartition(":")
        host = host.strip("[]") or "127.0.0.1"
        try:
            with socket.create_connection((host, int(port)), timeout=timeout):
                return True
        except (OSError, ValueError):
            continue
    return False


def elasticsearch_auth_header() -> dict[str, str]:
    api_key = os.environ.get("MODELSCREEN_ELASTICSEARCH_API_KEY")
    if api_key:
        return {"Authorization": f"ApiKey {api_key}"}
    user = os.environ.get("MODELSCREEN_ELASTICSEARCH_USERNAME")
    if user:
        password = os.environ.get("MODELSCREEN_ELASTICSEARCH_PASSWORD", "")
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        return {"Authorization": f"Basic {token}"}
    return {}


def elasticsearch_reachable(url: str, timeout: float = 5.0) -> bool:
    request = urllib.request.Request(
        url.rstrip("/") + "/_cluster/health", headers=elasticsearch_auth_header()
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return response.status == 200
    except urllib.error.HTTPError:
        return False
    except (OSError, ValueError):
        return False


def _parse_endpoints(stdout: str) -> dict[str, str]:
    endpoints: dict[str, str] = {}
    for line in stdout.splitlines():
        key, sep, value = line.strip().partition("=")
        if sep and key.startswith("MODELSCREEN_"):
            endpoints[key] = value
    return endpoints


class _LocalServices:
    """Starts deploy/local/services at most once per session."""

    def __init__(self) -> None:
        self.endpoints: dict[str, str] = {}
        self.done: set[tuple[str, ...]] = set()  # the `up` options already run
        self.errors: dict[tuple[str, ...], str] = {}
        self.started_here = False

    def up(self, *options: str) -> dict[str, str]:
        """`up` (with options such as --with-s3) once per session and options; the endpoints it printed."""
        if options in self.done:
            return self.endpoints
        if options in self.errors:
            _unavailable(self.errors[options])
        if not SERVICES_SCRIPT.is_file():
            self.errors[options] = f"{SERVICES_SCRIPT.relative_to(REPO_ROOT)} is missing"
            _unavailable(self.errors[options])
        try:
            proc = subprocess.run(
                ["bash", str(SERVICES_SCRIPT), "up", "--lease", str(os.getpid()), *options],
                cwd=REPO_ROOT,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=START_TIMEOUT_S,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            self.errors[options] = f"could not start local services: {exc}"
            _unavailable(self.errors[options])
        if proc.returncode != 0:
            lines = [line for line in proc.stderr.splitlines() if line.strip()]
            last = lines[-1] if lines else f"exit code {proc.returncode}"
            self.errors[options] = f"deploy/local/services up {' '.join(options)} failed: {last}"
            _unavailable(self.errors[options])
        self.endpoints.update(_parse_endpoints(proc.stdout))
        self.done.add(options)
        self.started_here = True
        return self.endpoints

    def down(self) -> None:
        # Releases this session's lease; the script stops the services only
        # when no other test session still uses them and a test session (not
        # a developer's plain `up`) started them.
        if self.started_here and not _truthy("MODELSCREEN_KEEP_SERVICES"):
            subprocess.run(
                ["bash", str(SERVICES_SCRIPT), "down", "--lease", str(os.getpid())],
                cwd=REPO_ROOT,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=180,
                check=False,
            )


@pytest.fixture(scope="session")
def _local_services():
    services = _LocalServices()
    try:
        yield services
    finally:
        services.down()


def _endpoint(local: _LocalServices, key: str, reachable, *options: str) -> str:
    """From the environment when reachable there, else from `deploy/local/services up [options]`."""
    value = os.environ.get(key, "").strip()
    if value and reachable(value):
        return value
    started = local.up(*options)
    value = started.get(key, "")
    if not value:
        _unavailable(f"deploy/local/services up {' '.join(options)} printed no {key}")
    if not reachable(value):
        _unavailable(f"{key}={value} is not reachable after deploy/local/services up {' '.join(options)}")
    return value


@pytest.fixture(scope="session")
def kafka_bootstrap(_local_services: _LocalServices) -> str:
    """host:port list of a reachable Kafka 4.x broker."""
    return _endpoint(_local_services, "MODELSCREEN_KAFKA_BOOTSTRAP", kafka_reachable)


@pytest.fixture(scope="session")
def elasticsearch_url(_local_services: _LocalServices) -> str:
    """Base URL of a reachable Elasticsearch 8.x."""
    return _endpoint(_local_services, "MODELSCREEN_ELASTICSEARCH_URL", elasticsearch_reachable)


def s3_reachable(url: str, timeout: float = 5.0) -> bool:
    try:
        with urllib.request.urlopen(url.rstrip("/") + "/", timeout=timeout):  # noqa: S310
            return True
    except urllib.error.HTTPError:
        return True  # an S3 error document is still an S3 server answering
    except (OSError, ValueError):
        return False


@pytest.fixture(scope="session")
def s3_endpoint(_local_services: _LocalServices) -> str:
    """URL of a reachable S3-compatible server (SeaweedFS from `deploy/local/services up --with-s3`)."""
    return _endpoint(_local_services, "MODELSCREEN_S3_ENDPOINT", s3_reachable, "--with-s3")


def oci_reachable(registry: str, timeout: float = 5.0) -> bool:
    try:
        with urllib.request.urlopen(f"http://{registry}/v2/", timeout=timeout):  # noqa: S310
            return True
    except (OSError, ValueError):
        return False


@pytest.fixture(scope="session")
def oci_registry(_local_services: _LocalServices) -> str:
    """host:port of a reachable OCI registry over plain http (`deploy/local/services up --with-oci`)."""
    return _endpoint(_local_services, "MODELSCREEN_OCI_REGISTRY", oci_reachable, "--with-oci")
