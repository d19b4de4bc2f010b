"""Hugging Face Hub pins: the expected digest of every file of `repo@commit`, from the Hub's HTTP API.

`GET {endpoint}/api/{type}s/{repo}/tree/{revision}?recursive=true&expand=true` lists every file;
LFS files carry `lfs.oid` (= sha256 of the content), other files carry `oid` (= git blob sha1, i.e.
sha1(b"blob <size>\\0" + content)). Pagination follows the `Link: <...>; rel="next"` header.

No huggingface_hub dependency; the HTTP getter is injectable (tests replay recorded responses).
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from modelscreen.schemas import Finding, Severity
from modelscreen.schemas.inventory import ArtifactIdentity, InventoryRecord
from modelscreen.schemas.policy import DEFAULT_SEVERITIES
from modelscreen.fetch.base import TRANSIENT_HTTP
from modelscreen.fetch.hf import DEFAULT_ENDPOINT
from modelscreen.provenance.inventory import PROVENANCE_ANALYZER, Inventory, hf_purl

COMMIT_RE = re.compile(r"^[0-9a-f]{40}$")
CHUNK = 1 << 20
IGNORED = (".git/", ".gitattributes", ".gitignore", ".cache/", ".huggingface/")


class HubError(Exception):
    """The Hub could not be asked, or answered something unusable; `transient`: asking again may help."""

    def __init__(self, message: str, *, transient: bool = False):
        super().__init__(message)
        self.transient = transient


@dataclass(frozen=True)
class HttpResponse:
    status: int
    headers: dict[str, str]
    body: bytes


# (method, url, body, headers) -> response
Getter = Callable[[str, str, bytes | None, dict[str, str]], HttpResponse]


def urllib_getter(timeout: float = 30.0, max_bytes: int = 64 << 20) -> Getter:
    def get(method: str, url: str, body: bytes | None, headers: dict[str, str]) -> HttpResponse:
        req = urllib.request.Request(url, data=body, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 - https endpoint from config
                data = resp.read(max_bytes + 1)
                if len(data) > max_bytes:
                    raise HubError(f"{url}: response larger than {max_bytes} bytes")
                return HttpResponse(resp.status, {k.lower(): v for k, v in resp.headers.items()}, data)
        except urllib.error.HTTPError as exc:
            return HttpResponse(exc.code, {k.lower(): v for k, v in (exc.headers or {}).items()}, exc.read()[:65536])
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            raise HubError(f"{url}: {exc}", transient=True) from None

    return get


@dataclass(frozen=True)
class HubFile:
    path: str
    size: int
    sha256: str | None  # LFS files
    git_sha1: str | None  # the git blob id (every file has one; the only digest of non-LFS files)

    @property
    def lfs(self) -> bool:
        return self.sha256 is not None


def _next_link(headers: dict[str, str]) -> str | None:
    for part in (headers.get("link") or "").split(","):
        m = re.match(r'\s*<([^>]+)>\s*;\s*rel="?next"?', part)
        if m:
            return m.group(1)
    return None


class HubClient:
    def __init__(self, endpoint: str | None = None, *, getter: Getter | None = None, token: str | None = None):
        self.endpoint = (endpoint or os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")
        self.get = getter or urllib_getter()
        self.token = token if token is not None else os.environ.get("HF_TOKEN")

    def _headers(self) -> dict[str, str]:
        h = {"Accept": "application/json", "User-Agent": "modelscreen"}
        if self.token:
            h["Authorization"] = f"Bearer {self.token}"
        return h

    def _json(self, method: str, url: str, body: bytes | None = None, *, content_type: str = "application/json"
              ) -> tuple[object, dict[str, str]]:
        headers = self._headers()
        if body is not None:
            headers["Content-Type"] = content_type
        resp = self.get(method, url, body, headers)
        if resp.status != 200:
            detail = resp.body[:300].decode("utf-8", "replace")
            raise HubError(f"{method} {url}: HTTP {resp.status} {detail}",
                           transient=resp.status in TRANSIENT_HTTP)
        try:
            return json.loads(resp.body), resp.headers
        except ValueError:
            raise HubError(f"{method} {url}: not JSON") from None

    def _base(self, repo: str, repo_type: str) -> str:
        return f"{self.endpoint}/api/{repo_type}s/{urllib.parse.quote(repo, safe='/')}"

    def files(self, repo: str, revision: str, *, repo_type: str = "model") -> dict[str, HubFile]:
        """Every file of the repository at `revision`, by path."""
        url = (f"{self._base(repo, repo_type)}/tree/{urllib.parse.quote(revision, safe='')}"
               "?recursive=true&expand=true")
        out: dict[str, HubFile] = {}
        for _page in range(10000):
            data, headers = self._json("GET", url)
            if not isinstance(data, list):
                raise HubError(f"{url}: expected a list of entries")
            for entry in data:
                f = _entry(entry)
                if f is not None:
                    out[f.path] = f
            nxt = _next_link(headers)
            if not nxt:
                return out
            url = urllib.parse.urljoin(url, nxt)
        raise HubError(f"{repo}@{revision}: too many pages")

    def paths_info(self, repo: str, revision: str, paths: Iterable[str], *, repo_type: str = "model"
                   ) -> dict[str, HubFile]:
        """Only the named files (POST paths-info with expand)."""
        url = f"{self._base(repo, repo_type)}/paths-info/{urllib.parse.quote(revision, safe='')}"
        # form-encoded, as the Hub's own client sends it: paths=a&paths=b&expand=True
        body = urllib.parse.urlencode([("paths", p) for p in paths] + [("expand", "True")]).encode()
        data, _ = self._json("POST", url, body, content_type="application/x-www-form-urlencoded")
        if not isinstance(data, list):
            raise HubError(f"{url}: expected a list of entries")
        return {f.path: f for f in (_entry(e) for e in data) if f is not None}


def _entry(entry: object) -> HubFile | None:
    if not isinstance(entry, dict) or entry.get("type") != "file":
        return None
    path, size, oid = entry.get("path"), entry.get("size"), entry.get("oid")
    if not isinstance(path, str) or not isinstance(size, int):
        raise HubError(f"malformed tree entry: {str(entry)[:200]}")
    lfs = entry.get("lfs")
    sha256 = None
    if isinstance(lfs, dict):
        sha256 = str(lfs.get("oid") or lfs.get("sha256") or "").lower() or None
        if sha256 and not re.fullmatch(r"[0-9a-f]{64}", sha256):
            raise HubError(f"{path}: malformed lfs oid")
        size = int(lfs.get("size", size))
    # For LFS files `oid` is the blob id of the pointer file, not of the content: only lfs.oid counts.
    git_sha1 = (str(oid).lower() if sha256 is None and isinstance(oid, str) and re.fullmatch(r"[0-9a-fA-F]{40}", oid)
                else None)
    return HubFile(path=path, size=size, sha256=sha256, git_sha1=git_sha1)


def git_blob_sha1(path: str | os.PathLike) -> str:
    """The git blob id of a file: sha1(b"blob <size>\\0" + content), streamed."""
    p = Path(path)
    size = p.stat().st_size
    h = hashlib.sha1(b"blob %d\0" % size)  # noqa: S324 - git's object id, not a security digest
    with open(p, "rb") as fh:
        while chunk := fh.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


def file_sha256(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _sev(rule: str, severities: dict[str, Severity] | None) -> Severity:
    return (severities or {}).get(rule) or DEFAULT_SEVERITIES[rule]


def check_file(local: str | os.PathLike, expected: HubFile, *, severities: dict[str, Severity] | None = None
               ) -> list[Finding]:
    """One local file against the Hub's digest for it (sha256 for LFS files, git blob sha1 otherwise)."""
    if expected.sha256:
        actual, algo, want = file_sha256(local), "sha256", expected.sha256
    elif expected.git_sha1:
        actual, algo, want = git_blob_sha1(local), "git blob sha1", expected.git_sha1
    else:
        return []
    if actual == want:
        return []
    return [Finding(rule_id="HF-PIN-DIGEST-MISMATCH", severity=_sev("HF-PIN-DIGEST-MISMATCH", severities),
                    title=f"File differs from the pinned Hub revision: {expected.path}",
                    detail=f"{expected.path}: the Hub says {algo} {want}, the local file has {actual}",
                    location=expected.path, analyzer=PROVENANCE_ANALYZER,
                    remediation="Download the file again from the pinned commit; do not load this copy.")]


def ignored(rel: str) -> bool:
    return any(rel == p.rstrip("/") or rel.startswith(p) for p in IGNORED)


def verify_directory(directory: str | os.PathLike, expected: dict[str, HubFile], *,
                     severities: dict[str, Severity] | None = None, extra_files: bool = True) -> list[Finding]:
    """A local snapshot against the Hub's files: mismatched, missing and (optionally) extra files."""
    root = Path(directory)
    findings: list[Finding] = []
    for path, hub in sorted(expected.items()):
        local = root / path
        if not local.is_file():
            findings.append(Finding(
                rule_id="HF-PIN-MISSING-FILE", severity=_sev("HF-PIN-MISSING-FILE", severities),
                title=f"File of the pinned revision is missing: {path}",
                detail=f"{path} is in the pinned revision but not in {root}", location=path,
                analyzer=PROVENANCE_ANALYZER))
            continue
        findings.extend(check_file(local, hub, severities=severities))
    if extra_files:
        for local in sorted(p for p in root.rglob("*") if p.is_file()):
            rel = local.relative_to(root).as_posix()
            if rel not in expected and not ignored(rel):
                findings.append(Finding(
                    rule_id="HF-PIN-EXTRA-FILE", severity=_sev("HF-PIN-EXTRA-FILE", severities),
                    title=f"File not in the pinned revision: {rel}",
                    detail=f"{rel} is in {root} but not in the pinned revision", location=rel,
                    analyzer=PROVENANCE_ANALYZER))
    return findings


def parse_repo_ref(text: str) -> tuple[str, str]:
    """`org/name@revision` -> (repo, revision); an `hf://models/` prefix is accepted."""
    text = text.strip()
    for prefix in ("hf://models/", "hf://"):
        if text.startswith(prefix):
            text = text[len(prefix):]
    repo, sep, revision = text.rpartition("@")
    if not sep or not repo or not revision:
        raise ValueError(f"expected REPO@REVISION, got {text!r}")
    return repo, revision


def pin_repo(inventory: Inventory, repo: str, commit: str, *, client: HubClient, by: str, reason: str = "",
             force: bool = False) -> list[InventoryRecord]:
    """Pin every file of `repo@commit` in the inventory, at the Hub's digests (sha256 for LFS files, the git
    blob sha1 for others). The revision must be a full commit id: a branch can move."""
    if not COMMIT_RE.match(commit):
        raise ValueError(f"pin a full 40-hex commit id, not {commit!r}")
    out = []
    for path, f in sorted(client.files(repo, commit).items()):
        identity = ArtifactIdentity(store="huggingface", store_name="models", name=repo, version=commit, path=path,
                                    uri=f"hf://models/{repo}@{commit}/{path}")
        digests = {"git-sha1": f.git_sha1} if f.git_sha1 else {}
        rec = inventory.pin(identity, f.sha256, by=by, reason=reason or f"pinned {repo}@{commit}", force=force,
                            digests=None if f.sha256 else digests)
        rec = inventory.annotate(identity, f.sha256, size=f.size, purl=hf_purl(repo, commit, path),
                                 digests=None if f.sha256 else digests)
        if f.sha256 and digests:
            # keep the git blob id alongside the sha256
            rec = inventory.update(identity, f.sha256, lambda r: r.digests.update(digests))
        out.append(rec)
    return out
