"""oci:// URIs: artifacts in an OCI registry (Harbor, Distribution, ...), over the OCI distribution API.

    oci://<host>/<repository>@sha256:<manifest>                  an image or model artifact: its layers are
                                                                 listed by modelscreen.pipeline.expand
    oci://<host>/<repository>@sha256:<manifest>/sha256:<blob>    one layer, fetched as a blob

Registries answer 401 with a `WWW-Authenticate` challenge: Bearer (a token from the named realm, asked
with the configured user and password, or anonymously) or Basic. Credentials go to the registry host
only, never along a redirect (blob downloads are often redirected to object storage). Hosts listed in
`oci_plain_http` are reached over http (a local registry); every other over https.
"""
from __future__ import annotations

import base64
import hashlib
import json
import re
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from modelscreen import __version__
from modelscreen.fetch.base import TRANSIENT_HTTP, FetchError, FetchLimits, save_bounded
from modelscreen.fetch.http import basic_auth

MANIFEST_MAX_BYTES = 4 << 20
MANIFEST_TYPES = (
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
)
INDEX_TYPES = ("application/vnd.oci.image.index.v1+json",
               "application/vnd.docker.distribution.manifest.list.v2+json")
DIGEST_RE = re.compile(r"sha256:[0-9a-f]{64}")
_REPO_RE = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*")


@dataclass(frozen=True)
class OciRef:
    host: str
    repository: str
    manifest: str  # sha256:...
    blob: str | None = None


def parse(uri: str) -> OciRef:
    if not uri.startswith("oci://"):
        raise FetchError(f"not an oci:// URI: {uri}", transient=False)
    name, at, tail = uri[len("oci://"):].partition("@")
    host, _, repository = name.partition("/")
    manifest, _, blob = tail.partition("/")
    if not at or not host or not _REPO_RE.fullmatch(repository) or not DIGEST_RE.fullmatch(manifest) or (
            blob and not DIGEST_RE.fullmatch(blob)):
        raise FetchError(f"bad oci URI (expected oci://host/repository@sha256:<digest>[/sha256:<blob>]): {uri}",
                         transient=False)
    return OciRef(host, repository, manifest, blob or None)


class _NoRedirectAuth(urllib.request.HTTPRedirectHandler):
    """Follow redirects, but never with the Authorization header."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        new = super().redirect_request(req, fp, code, msg, headers, newurl)
        if new is not None:
            new.remove_header("Authorization")
        return new


class Registry:
    def __init__(self, host: str, *, username: str | None = None, password: str | None = None,
                 plain_http: bool = False, timeout: float = 60.0, authorization: str | None = None):
        """`authorization`: a ready Authorization header value (what Harbor hands a scanner: `Basic <robot
        credentials>`, answering challenges like a username and password, or `Bearer <token>`, sent as is)."""
        self.base = f"{'http' if plain_http else 'https'}://{host}"
        self.username, self.password, self.timeout = username, password, timeout
        self.auth: str | None = None
        scheme, _, value = (authorization or "").strip().partition(" ")
        if scheme.lower() == "basic" and value:
            try:
                self.username, _, self.password = base64.b64decode(value, validate=True).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                raise FetchError("the registry authorization is not valid Basic credentials", transient=False) from None
        elif scheme.lower() == "bearer" and value:
            self.auth = f"Bearer {value.strip()}"
        elif authorization:
            raise FetchError("the registry authorization must be Basic or Bearer", transient=False)
        self.opener = urllib.request.build_opener(_NoRedirectAuth)

    def _open(self, path: str, accept: str | None = None):
        """The response to GET path, answering one authentication challenge. Raises FetchError."""
        for attempt in (1, 2):
            req = urllib.request.Request(self.base + path, headers={"User-Agent": f"modelscreen/{__version__}"})
            if accept:
                req.add_header("Accept", accept)
            if self.auth:
                req.add_unredirected_header("Authorization", self.auth)
            try:
                return self.opener.open(req, timeout=self.timeout)
            except urllib.error.HTTPError as exc:
                if exc.code == 401 and attempt == 1 and self._authenticate(exc.headers.get("WWW-Authenticate", "")):
                    continue
                raise FetchError(f"registry answered HTTP {exc.code} for {self.base}{path}",
                                 transient=exc.code in TRANSIENT_HTTP) from None
            except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
                raise FetchError(f"cannot reach {self.base}: {getattr(exc, 'reason', exc)}", transient=True) from None
        raise AssertionError("unreachable")

    def _basic(self) -> str | None:
        return basic_auth(self.username, self.password or "") if self.username else None

    def _authenticate(self, challenge: str) -> bool:
        scheme, _, params = challenge.partition(" ")
        if scheme.lower() == "basic":
            self.auth = self._basic()
            return self.auth is not None
        if scheme.lower() != "bearer":
            return False
        fields = dict(re.findall(r'(\w+)="([^"]*)"', params))
        realm = fields.pop("realm", None)
        if not realm or not realm.startswith(("https://", "http://")):
            return False
        url = realm + "?" + urllib.parse.urlencode({k: v for k, v in fields.items() if k in ("service", "scope")})
        req = urllib.request.Request(url, headers={"User-Agent": f"modelscreen/{__version__}"})
        basic = self._basic()
        if basic:
            req.add_unredirected_header("Authorization", basic)
        try:
            with self.opener.open(req, timeout=self.timeout) as resp:
                body = json.loads(resp.read(1 << 20))
        except urllib.error.HTTPError as exc:
            raise FetchError(f"token service answered HTTP {exc.code} for {realm}",
                             transient=exc.code in TRANSIENT_HTTP) from None
        except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
            raise FetchError(f"cannot reach the token service {realm}: {getattr(exc, 'reason', exc)}",
                             transient=True) from None
        except ValueError:
            raise FetchError(f"token service {realm} answered no JSON", transient=False) from None
        token = body.get("token") or body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            raise FetchError(f"token service {realm} gave no token", transient=False)
        self.auth = f"Bearer {token}"
        return True

    def manifest(self, repository: str, digest: str) -> tuple[dict, str]:
        """The manifest (parsed) and its media type; its bytes must hash to `digest`."""
        with self._open(f"/v2/{repository}/manifests/{digest}", accept=", ".join(MANIFEST_TYPES)) as resp:
            data = resp.read(MANIFEST_MAX_BYTES + 1)
            content_type = (resp.headers.get("Content-Type") or "").split(";")[0].strip()
        if len(data) > MANIFEST_MAX_BYTES:
            raise FetchError(f"manifest {digest} is larger than {MANIFEST_MAX_BYTES} bytes", transient=False)
        actual = "sha256:" + hashlib.sha256(data).hexdigest()
        if actual != digest:
            raise FetchError(f"the registry served a manifest whose digest is {actual}, not {digest}: refusing it",
                             transient=False)
        try:
            doc = json.loads(data)
        except ValueError:
            raise FetchError(f"manifest {digest} is not JSON", transient=False) from None
        if not isinstance(doc, dict):
            raise FetchError(f"manifest {digest} is not a JSON object", transient=False)
        return doc, doc.get("mediaType") or content_type

    def download_blob(self, repository: str, digest: str, dest: Path, limits: FetchLimits) -> Path:
        with self._open(f"/v2/{repository}/blobs/{digest}") as resp:
            return save_bounded(resp.read, dest, limits, announced=resp.headers.get("Content-Length"))


def registry_for(host: str, settings) -> Registry:
    return Registry(host, username=settings.oci_username,
                    password=settings.secret("oci_password"),
                    plain_http=host in settings.oci_plain_http, timeout=settings.fetch_timeout)


def fetch(uri: str, dest: Path, limits: FetchLimits, settings) -> Path:
    ref = parse(uri)
    if ref.blob is None:
        raise FetchError(f"{uri} names a manifest, not a file", transient=False)
    return registry_for(ref.host, settings).download_blob(ref.repository, ref.blob, dest, limits)
