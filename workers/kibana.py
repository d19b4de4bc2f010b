"""Kibana client: import the modelscreen saved objects and detection rules through Kibana's HTTP APIs.

- Saved objects (data views, saved searches, Lens visualizations, the dashboard):
  `POST [/s/{space}]/api/saved_objects/_import?overwrite=true`, multipart `file`.
- Detection rules for Elastic Security: `POST [/s/{space}]/api/detection_engine/rules/_import?overwrite=true`,
  multipart `file`.

Both imports overwrite objects with the same ids, so running them again is harmless. Standard library only.
"""
from __future__ import annotations

import json
import re
import ssl
import urllib.error
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from modelscreen.assets import kibana_dir
from modelscreen.settings import Settings

ASSET_DIR = kibana_dir()
SAVED_OBJECTS_FILE = ASSET_DIR / "saved-objects.ndjson"
DETECTION_RULES_FILE = ASSET_DIR / "detection-rules.ndjson"
_SPACE_RE = re.compile(r"^[a-z0-9_-]+$")


class KibanaSettings(Settings):
    """Kibana connection; when no Kibana credentials are set, the Elasticsearch ones are used."""

    kibana_url: str = "http://127.0.0.1:5601"
    kibana_username: str | None = None
    kibana_password: SecretStr | None = None
    kibana_api_key: SecretStr | None = None
    kibana_space: str | None = None
    kibana_ca_certs: Path | None = None
    kibana_verify_certs: bool = True
    kibana_timeout: float = 60.0

    def kibana_auth_header(self) -> dict[str, str]:
        """Authorization header: Kibana API key, Kibana user, then Elasticsearch API key, Elasticsearch user."""
        import base64

        def basic(user: str, password: SecretStr | None) -> dict[str, str]:
            secret = password.get_secret_value() if password else ""
            return {"Authorization": "Basic " + base64.b64encode(f"{user}:{secret}".encode()).decode()}

        if self.kibana_api_key:
            return {"Authorization": f"ApiKey {self.kibana_api_key.get_secret_value()}"}
        if self.kibana_username:
            return basic(self.kibana_username, self.kibana_password)
        if self.elasticsearch_api_key:
            return {"Authorization": f"ApiKey {self.elasticsearch_api_key.get_secret_value()}"}
        if self.elasticsearch_username:
            return basic(self.elasticsearch_username, self.elasticsearch_password)
        return {}

    def kibana_ssl_context(self) -> ssl.SSLContext | None:
        if not self.kibana_url.startswith("https"):
            return None
        cafile = self.kibana_ca_certs or self.elasticsearch_ca_certs
        ctx = ssl.create_default_context(cafile=str(cafile) if cafile else None)
        if not self.kibana_verify_certs:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        return ctx

    def kibana_client(self, *, url: str | None = None, space: str | None = None) -> KibanaClient:
        return KibanaClient(url or self.kibana_url, space=space if space is not None else self.kibana_space,
                            headers=self.kibana_auth_header(), ssl_context=self.kibana_ssl_context(),
                            timeout=self.kibana_timeout)


class KibanaError(Exception):
    """Kibana could not be reached, or refused the request as a whole (HTTP error status)."""

    def __init__(self, message: str, status: int | None = None, body: Any = None):
        super().__init__(message)
        self.status = status
        self.body = body


@dataclass
class ImportResult:
    """What one import call reported: counts and per-object errors from the API response."""

    kind: str  # saved_objects | detection_rules
    success: bool
    success_count: int
    total: int
    errors: list[dict[str, Any]] = field(default_factory=list)
    imported: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.success and not self.errors

    def summary(self) -> dict[str, Any]:
        return {"success": self.ok, "imported": self.success_count, "total": self.total,
                "errors": self.errors, "objects": self.imported}


def ndjson_objects(data: bytes | str) -> list[dict[str, Any]]:
    text = data.decode("utf-8") if isinstance(data, bytes) else data
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def _multipart(filename: str, content: bytes) -> tuple[bytes, str]:
    boundary = f"modelscreen-{uuid.uuid4().hex}"
    head = (f"--{boundary}\r\n"
            f'Content-Disposition: form-data; name="file"; filename="{filename}"\r\n'
            "Content-Type: application/ndjson\r\n\r\n").encode()
    body = head + content + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


class KibanaClient:
    def __init__(self, url: str, *, space: str | None = None, headers: dict[str, str] | None = None,
                 ssl_context: ssl.SSLContext | None = None, timeout: float = 60.0):
        parsed = urllib.parse.urlsplit(url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ValueError(f"not a Kibana URL: {url!r} (expected http(s)://host:port[/base-path])")
        if space is not None and space != "" and not _SPACE_RE.match(space):
            raise ValueError(f"invalid space id {space!r}: lowercase letters, digits, '_' and '-' only")
        self.url = url.rstrip("/")
        self.space = space or None
        self.headers = dict(headers or {})
        self.ssl_context = ssl_context
        self.timeout = timeout

    def api_url(self, path: str, **query: str) -> str:
        prefix = f"/s/{self.space}" if self.space and self.space != "default" else ""
        qs = f"?{urllib.parse.urlencode(query)}" if query else ""
        return f"{self.url}{prefix}{path}{qs}"

    def _post_file(self, path: str, filename: str, content: bytes, **query: str) -> dict[str, Any]:
        body, content_type = _multipart(filename, content)
        url = self.api_url(path, **query)
        headers = {**self.headers, "kbn-xsrf": "modelscreen", "Content-Type": content_type,
                   "Accept": "application/json"}
        request = urllib.request.Request(url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout, context=self.ssl_context) as resp:  # noqa: S310
                raw = resp.read()
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            try:
                detail = json.loads(raw)
            except ValueError:
                detail = raw.decode("utf-8", "replace")[:500]
            message = detail.get("message", detail) if isinstance(detail, dict) else detail
            hint = ""
            if exc.code == 401:
                hint = " (check MODELSCREEN_KIBANA_USERNAME/PASSWORD or MODELSCREEN_KIBANA_API_KEY)"
            elif exc.code == 404 and self.space:
                hint = f" (does the space {self.space!r} exist, and is the feature enabled?)"
            raise KibanaError(f"POST {path} failed: HTTP {exc.code}: {message}{hint}", exc.code, detail) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise KibanaError(f"cannot reach Kibana at {self.url}: {reason}") from None
        try:
            return json.loads(raw)
        except ValueError:
            raise KibanaError(f"POST {path}: the response is not JSON: {raw[:200]!r}") from None

    def import_saved_objects(self, content: bytes, *, filename: str = "saved-objects.ndjson",
                             overwrite: bool = True) -> ImportResult:
        total = len(ndjson_objects(content))
        query = {"overwrite": "true"} if overwrite else {}
        resp = self._post_file("/api/saved_objects/_import", filename, content, **query)
        errors = [{"type": e.get("type"), "id": e.get("id"), "title": e.get("title") or e.get("meta", {}).get("title"),
                   "error": e.get("error")} for e in resp.get("errors") or []]
        imported = [{"type": r.get("type"), "id": r.get("id"), "overwrite": bool(r.get("overwrite"))}
                    for r in resp.get("successResults") or []]
        return ImportResult("saved_objects", bool(resp.get("success")), int(resp.get("successCount", 0)), total,
                            errors, imported)

    def import_detection_rules(self, content: bytes, *, filename: str = "detection-rules.ndjson",
                               overwrite: bool = True) -> ImportResult:
        rules = ndjson_objects(content)
        query = {"overwrite": "true"} if overwrite else {}
        resp = self._post_file("/api/detection_engine/rules/_import", filename, content, **query)
        errors = [{"rule_id": e.get("rule_id") or e.get("id"), "error": e.get("error")}
                  for e in resp.get("errors") or []]
        for key in ("exceptions_errors", "action_connectors_errors"):
            errors += [{"kind": key, "error": e} for e in resp.get(key) or []]
        failed = {e.get("rule_id") for e in errors}
        imported = [{"rule_id": r.get("rule_id"), "name": r.get("name")} for r in rules
                    if r.get("rule_id") and r.get("rule_id") not in failed]
        return ImportResult("detection_rules", bool(resp.get("success")), int(resp.get("success_count", 0)),
                            int(resp.get("rules_count", len(rules))), errors, imported)
