"""URI -> bounded local copy of the artifact (file, http(s), s3, hf, oci, artifactory, nexus).
One module per scheme (or family)."""
from __future__ import annotations

from pathlib import Path

from modelscreen.fetch.base import FetchError, FetchLimits
from modelscreen.settings import Settings


def fetch_limits(settings: Settings | None, *, max_bytes: int | None = None) -> FetchLimits:
    """The limits the settings give (their defaults without settings); `max_bytes` caps a smaller download."""
    defaults = Settings.model_fields
    return FetchLimits(
        max_bytes=max_bytes or getattr(settings, "fetch_max_bytes", defaults["fetch_max_bytes"].default),
        timeout=getattr(settings, "fetch_timeout", defaults["fetch_timeout"].default))


def fetch_to_file(uri: str, dest: Path, settings: Settings) -> Path:
    """Copy the artifact at `uri` to `dest` (or return the local path for file://). Raises FetchError."""
    limits = fetch_limits(settings)
    scheme = uri.split("://", 1)[0].lower() if "://" in uri else ""
    if scheme == "file":
        from modelscreen.fetch.local import resolve

        return resolve(uri, limits, roots=settings.fetch_file_roots)
    if scheme in ("http", "https"):
        from modelscreen.fetch.http import download

        return download(uri, dest, limits)
    if scheme == "s3":
        from modelscreen.fetch.s3 import download as s3_download

        return s3_download(uri, dest, limits, endpoint_url=settings.s3_endpoint_url, region=settings.s3_region)
    if scheme == "hf":
        from modelscreen.fetch.hf import fetch

        return fetch(uri, dest, limits, settings)
    if scheme == "oci":
        from modelscreen.fetch.oci import fetch as fetch_from_registry

        return fetch_from_registry(uri, dest, limits, settings)
    if scheme in ("artifactory", "nexus"):
        from modelscreen.fetch.repository import fetch as fetch_from_repository

        return fetch_from_repository(uri, dest, limits, settings)
    raise FetchError(f"no fetcher for {scheme or 'this'} URI", transient=False)


__all__ = ["FetchError", "FetchLimits", "fetch_to_file"]
