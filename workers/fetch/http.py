"""http(s):// URIs: streamed to a file, size-capped, with timeouts and retries on transient failures."""
from __future__ import annotations

import base64
import time
import urllib.error
import urllib.request
from pathlib import Path

from modelscreen import __version__
from modelscreen.fetch.base import TRANSIENT_HTTP, FetchError, FetchLimits, save_bounded

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
        except urllib.error.HTTPError as exc:
            last = FetchError(f"HTTP {exc.code} for {uri}", transient=exc.code in TRANSIENT_HTTP)
        except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
            last = FetchError(f"cannot reach {uri}: {getattr(exc, 'reason', exc)}", transient=True)
        if not last.transient:
            raise last
        time.sleep(min(2**attempt * 0.5, 5))
    assert last is not None
    raise last


def fetch(uri: str, dest: Path, limits: FetchLimits, settings) -> Path:
    """The fetcher signature (fetch.FETCHERS)."""
    return download(uri, dest, limits)
