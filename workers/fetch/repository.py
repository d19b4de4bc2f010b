"""artifactory:// and nexus:// URIs: files in a repository manager, fetched from its download URL.

    artifactory://<repo key>/<path>  ->  {artifactory_url}/<repo key>/<path>
    nexus://<repository>/<path>      ->  {nexus_url}/repository/<repository>/<path>

The path stays percent-encoded as the source normaliser wrote it. Artifactory takes a bearer access
token, Nexus a user and password (basic auth). A component event (`nexus-component://`) names no file:
Nexus sends an asset event for each of its files, and those are what is fetched.
"""
from __future__ import annotations

from pathlib import Path

from modelscreen.fetch.base import FetchError, FetchLimits
from modelscreen.fetch.http import basic_auth, download


def download_url(uri: str, *, artifactory_url: str | None, nexus_url: str | None) -> str:
    scheme, _, rest = uri.partition("://")
    repo, _, path = rest.partition("/")
    if not repo or not path or any(p in ("", ".", "..") for p in path.split("/")):
        raise FetchError(f"bad {scheme} URI: {uri}", transient=False)
    if scheme == "artifactory":
        if not artifactory_url:
            raise FetchError("artifactory:// URIs need the Artifactory URL (MODELSCREEN_ARTIFACTORY_URL)",
                             transient=False)
        return f"{artifactory_url.rstrip('/')}/{repo}/{path}"
    if scheme == "nexus":
        if not nexus_url:
            raise FetchError("nexus:// URIs need the Nexus URL (MODELSCREEN_NEXUS_URL)", transient=False)
        return f"{nexus_url.rstrip('/')}/repository/{repo}/{path}"
    raise FetchError(f"not a repository manager URI: {uri}", transient=False)


def fetch(uri: str, dest: Path, limits: FetchLimits, settings) -> Path:
    url = download_url(uri, artifactory_url=settings.artifactory_url, nexus_url=settings.nexus_url)
    auth = None
    if uri.startswith("artifactory:") and settings.artifactory_token:
        auth = f"Bearer {settings.secret('artifactory_token')}"
    elif uri.startswith("nexus:") and settings.nexus_username:
        auth = basic_auth(settings.nexus_username, settings.secret("nexus_password") or "")
    return download(url, dest, limits, auth=auth)
