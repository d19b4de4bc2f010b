"""hf:// URIs that name one file of a Hugging Face Hub repository at a commit, fetched over the Hub's HTTP API.

    hf://models/<repo>@<commit>/<path>    ->  {endpoint}/<repo>/resolve/<commit>/<path>
    hf://datasets/<repo>@<commit>/<path>  ->  {endpoint}/datasets/<repo>/resolve/<commit>/<path>
    hf://spaces/<repo>@<commit>/<path>    ->  {endpoint}/spaces/<repo>/resolve/<commit>/<path>

A URI without a path names the whole repository; modelscreen.pipeline.expand lists its files.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from modelscreen.fetch.base import FetchError, FetchLimits
from modelscreen.fetch.http import download

DEFAULT_ENDPOINT = "https://huggingface.co"
_PREFIX = {"models": "", "datasets": "datasets/", "spaces": "spaces/"}


@dataclass(frozen=True)
class HubRef:
    kind: str  # models, datasets, spaces
    repo: str
    revision: str | None
    path: str | None  # percent-encoded, as in the URI

    @property
    def repo_type(self) -> str:
        return self.kind[:-1]

    def file_uri(self, path: str) -> str:
        return f"hf://{self.kind}/{self.repo}@{self.revision}/{quote(path, safe='/')}"


def parse(uri: str) -> HubRef:
    if not uri.startswith("hf://"):
        raise FetchError(f"not an hf:// URI: {uri}", transient=False)
    kind, _, rest = uri[len("hf://"):].partition("/")
    if kind not in _PREFIX or not rest:
        raise FetchError(f"bad hf URI (expected hf://models|datasets|spaces/<repo>@<commit>[/<path>]): {uri}",
                         transient=False)
    repo, at, tail = rest.partition("@")
    revision, _, path = tail.partition("/") if at else ("", "", "")
    if not repo or ".." in repo.split("/") or (at and not revision):
        raise FetchError(f"bad hf URI: {uri}", transient=False)
    if path and any(p in ("", ".", "..") for p in path.split("/")):
        raise FetchError(f"bad path in hf URI: {uri}", transient=False)
    return HubRef(kind, repo, revision or None, path or None)


def resolve_url(ref: HubRef, endpoint: str | None) -> str:
    if not ref.revision or not ref.path:
        raise FetchError(f"hf://{ref.kind}/{ref.repo} names a repository, not a file", transient=False)
    base = (endpoint or DEFAULT_ENDPOINT).rstrip("/")
    return f"{base}/{_PREFIX[ref.kind]}{ref.repo}/resolve/{quote(ref.revision, safe='')}/{ref.path}"


def fetch(uri: str, dest: Path, limits: FetchLimits, settings) -> Path:
    url = resolve_url(parse(uri), settings.hf_endpoint)
    token = settings.secret("hf_token")
    return download(url, dest, limits, auth=f"Bearer {token}" if token else None)
