"""What every fetcher shares: limits and the error that says whether a retry may help."""
from __future__ import annotations

from dataclasses import dataclass

from modelscreen.fetch.errors import FetchError, check_complete


@dataclass(frozen=True)
class FetchLimits:
    max_bytes: int
    timeout: float
    chunk: int = 1 << 20


# HTTP statuses after which asking again may help (fetch.errors.transient_status: also the other 5xx)
TRANSIENT_HTTP = frozenset({408, 425, 429, *range(500, 600)})


def too_large(limits: FetchLimits) -> FetchError:
    return FetchError(f"artifact larger than the fetch limit of {limits.max_bytes} bytes", transient=False)


def save_bounded(read, dest, limits: FetchLimits, *, announced: int | str | None = None):
    """Write what read(n) yields to `dest`, refusing an announced or actual size above max_bytes; fewer bytes
    than announced is a short read (transient: the transfer broke off), never a file to scan."""
    if isinstance(announced, str):
        announced = int(announced) if announced.strip().isdigit() else None
    if announced is not None and announced > limits.max_bytes:
        raise too_large(limits)
    with open(dest, "wb") as out:
        received = copy_bounded(read, out.write, limits)
    check_complete(received, announced)
    return dest


def copy_bounded(read, write, limits: FetchLimits) -> int:
    """Copy from a read(n) callable to a write callable, refusing more than max_bytes."""
    total = 0
    while True:
        chunk = read(limits.chunk)
        if not chunk:
            return total
        total += len(chunk)
        if total > limits.max_bytes:
            raise too_large(limits)
        write(chunk)
