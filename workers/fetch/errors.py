"""Which fetch failures a retry may cure (transient) and which it never will (permanent).

Transient: the source is down, refuses or drops connections, times out, is overloaded (HTTP 408/425/429,
5xx), or sent fewer bytes than it announced. Permanent: the artifact is not there or not ours to read
(missing file, path outside the allowed roots, HTTP 4xx such as 401/403/404/410), or it can never be
accepted (bad URI, digest the store did not sign, over the size limit).
"""
from __future__ import annotations

import http.client
import socket
import ssl
import urllib.error



class FetchError(Exception):
    def __init__(self, reason: str, *, transient: bool):
        super().__init__(reason)
        self.reason = reason
        self.transient = transient  # True: source down or overloaded, retry; False: retrying will not help

PERMANENT_OS_ERRORS = (FileNotFoundError, NotADirectoryError, IsADirectoryError, PermissionError)
# aborted, reset or refused connections, timeouts, name lookups that may recover
TRANSIENT_OS_ERRORS = (ConnectionError, TimeoutError, socket.timeout, socket.gaierror, http.client.HTTPException,
                       ssl.SSLEOFError)


def transient_status(status: int) -> bool:
    """HTTP statuses after which asking again may help: timeouts, rate limits and server errors."""
    return status in (408, 425, 429) or 500 <= status <= 599


class ShortRead(FetchError):
    """The source closed the transfer before it sent the bytes it announced."""

    def __init__(self, received: int, announced: int, what: str = "the source"):
        super().__init__(f"short read: {what} announced {announced} bytes and sent {received}", transient=True)
        self.received = received
        self.announced = announced


def classify(exc: BaseException, what: str = "the source") -> FetchError:
    """The FetchError for any exception a fetch raised: FetchErrors keep their own class; an exception of
    no known kind is permanent (a retry of the same code on the same bytes fails the same way)."""
    if isinstance(exc, FetchError):
        return exc
    if isinstance(exc, urllib.error.HTTPError):
        return FetchError(f"HTTP {exc.code} from {what}", transient=transient_status(exc.code))
    if isinstance(exc, urllib.error.URLError):
        return classify(exc.reason, what) if isinstance(exc.reason, BaseException) else FetchError(
            f"cannot reach {what}: {exc.reason}", transient=True)
    if isinstance(exc, http.client.IncompleteRead):
        return ShortRead(len(exc.partial), len(exc.partial) + (exc.expected or 0), what)
    if isinstance(exc, PERMANENT_OS_ERRORS):
        return FetchError(f"cannot read {what}: {exc}", transient=False)
    if isinstance(exc, TRANSIENT_OS_ERRORS):
        return FetchError(f"cannot reach {what}: {type(exc).__name__}: {exc}", transient=True)
    if isinstance(exc, OSError):  # other I/O errors (EIO, ENOSPC on the scratch disk): may recover
        return FetchError(f"I/O error fetching from {what}: {exc}", transient=True)
    return FetchError(f"{type(exc).__name__}: {exc}", transient=False)


def check_complete(received: int, announced: int | None, what: str = "the source") -> None:
    """Raise ShortRead when fewer bytes arrived than were announced."""
    if announced is not None and received < announced:
        raise ShortRead(received, announced, what)
