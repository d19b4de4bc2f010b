"""http(s):// URIs: streamed to a file, size-capped, checked against Content-Length, with timeouts and retries
on transient failures."""
from __future__ import annotations

import base64
import http.client
import time
import urllib.error
import urllib.request
from pathlib import Path

from modelscreen import __version__
from modelscreen.fetch.base import FetchError, FetchLimits, save_bounded
from modelscreen.fetch.errors import classify, transient_status

RETRIES = 3


def basic_auth(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def download(uri: str, dest: Path, limits: FetchLimits, *, retries: int = RETRIES,
             auth: str | None = None) -> Path:
    """`auth`: an Authorization header value, sent to `uri`'s host only (never along a redirect)."""
    last: FetchError | None = None
    for attempt in range(retries):
        try:
            req = urllib.request.Request(uri, headers={"User-Agent": f"modelscreen/{__version__}"})
            if auth:
                req.add_unredirected_header("Authorization", auth)
            with urllib.request.urlopen(req, timeout=limits.timeout) as resp:
                return save_bounded(resp.read, dest, limits, announced=resp.headers.get("Content-Length"))
        except FetchError as exc:
            last = exc
        except urllib.error.HTTPError as exc:
            last = FetchError(f"HTTP {exc.code} for {uri}", transient=transient_status(exc.code))
        except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
            last = classify(exc, uri)
        if not last.transient or attempt == retries - 1:
            raise last
        time.sleep(min(2**attempt * 0.5, 5))
    assert last is not None
    raise last


def fetch(uri: str, dest: Path, limits: FetchLimits, settings) -> Path:
    """The fetcher signature (fetch.FETCHERS)."""
    return download(uri, dest, limits)
