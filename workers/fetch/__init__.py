"""URI -> bounded local copy of the artifact (file, http(s), s3, hf, oci, artifactory, nexus).
One module per scheme (or family)."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from modelscreen.fetch import hf, http, local, oci, repository, s3
from modelscreen.fetch.base import FetchError, FetchLimits
from modelscreen.settings import Settings

# (uri, dest, limits, settings) -> the local copy; raises FetchError (transient= says whether to retry)
Fetcher = Callable[[str, Path, FetchLimits, Settings], Path]
FETCHERS: dict[str, Fetcher] = {
    "file": local.fetch,
    "http": http.fetch,
    "https": http.fetch,
    "s3": s3.fetch,
    "hf": hf.fetch,
    "oci": oci.fetch,
    "artifactory": repository.fetch,
    "nexus": repository.fetch,
}


def fetch_limits(settings: Settings | None, *, max_bytes: int | None = None) -> FetchLimits:
    """The limits the settings give (their defaults without settings); `max_bytes` caps a smaller download."""
    defaults = Settings.model_fields
    return FetchLimits(
        max_bytes=max_bytes or getattr(settings, "fetch_max_bytes", defaults["fetch_max_bytes"].default),
        timeout=getattr(settings, "fetch_timeout", defaults["fetch_timeout"].default))


def fetch_to_file(uri: str, dest: Path, settings: Settings) -> Path:
    """Copy the artifact at `uri` to `dest` (or return the local path for file://). Raises FetchError."""
    scheme = uri.split("://", 1)[0].lower() if "://" in uri else ""
    fetcher = FETCHERS.get(scheme)
    if fetcher is None:
        raise FetchError(f"no fetcher for {scheme or 'this'} URI", transient=False)
    return fetcher(uri, dest, fetch_limits(settings), settings)


__all__ = ["FETCHERS", "FetchError", "FetchLimits", "Fetcher", "fetch_to_file"]
