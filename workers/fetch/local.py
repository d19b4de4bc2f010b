"""file:// URIs: the file is scanned where it lies."""
from __future__ import annotations

import os
import stat
from pathlib import Path
from urllib.parse import unquote_to_bytes, urlparse

from modelscreen.fetch.base import FetchError, FetchLimits


def resolve(uri: str, limits: FetchLimits, *, roots: list[Path]) -> Path:
    parsed = urlparse(uri)
    if parsed.netloc not in ("", "localhost"):
        raise FetchError(f"file URI names another host: {parsed.netloc}", transient=False)
    path = Path(os.fsdecode(unquote_to_bytes(parsed.path)))  # names that are not UTF-8 too
    real = path.resolve()
    if not any(real.is_relative_to(Path(r).resolve()) for r in roots):
        raise FetchError(f"{path} is outside the directories file:// URIs may name (fetch_file_roots)",
                         transient=False)
    try:
        st = path.stat()
    except FileNotFoundError:
        raise FetchError(f"no such file: {path}", transient=False) from None
    except OSError as exc:
        raise FetchError(f"cannot read {path}: {exc}", transient=True) from exc
    if not stat.S_ISREG(st.st_mode):
        raise FetchError(f"not a regular file: {path}", transient=False)
    if st.st_size > limits.max_bytes:
        raise FetchError(f"artifact larger than the fetch limit of {limits.max_bytes} bytes", transient=False)
    return path


def fetch(uri: str, dest: Path, limits: FetchLimits, settings) -> Path:
    """The fetcher signature (fetch.FETCHERS): file:// is read in place, inside settings.fetch_file_roots."""
    return resolve(uri, limits, roots=settings.fetch_file_roots)
