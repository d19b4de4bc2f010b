"""Fetch failure classes, short reads, and the per-event retry deadline (no services)."""
from __future__ import annotations

import asyncio
import http.client
import http.server
import socket
import threading
import urllib.error
from pathlib import Path

import pytest

from modelscreen.fetch.base import FetchLimits, save_bounded
from modelscreen.fetch.errors import FetchError, ShortRead, check_complete, classify, transient_status
from modelscreen.fetch.http import download
from modelscreen.fetch.local import resolve
from modelscreen.pipeline.deadlines import RetryPolicy, attempt_until

LIMITS = FetchLimits(max_bytes=1 << 20, timeout=5)


@pytest.mark.parametrize("status,transient", [(400, False), (401, False), (403, False), (404, False),
                                              (410, False), (408, True), (425, True), (429, True), (500, True),
                                              (502, True), (503, True), (504, True), (507, True)])
def test_http_statuses(status, transient):
    assert transient_status(status) is transient
    err = classify(urllib.error.HTTPError("http://h/x", status, "x", {}, None))
    assert err.transient is transient and str(status) in err.reason


@pytest.mark.parametrize("exc,transient", [
    (ConnectionRefusedError(111, "refused"), True), (ConnectionResetError(), True), (TimeoutError(), True),
    (socket.gaierror(-3, "temporary failure in name resolution"), True),
    (urllib.error.URLError(ConnectionRefusedError(111, "refused")), True), (urllib.error.URLError("down"), True),
    (http.client.RemoteDisconnected("closed"), True), (http.client.IncompleteRead(b"abc", 10), True),
    (FileNotFoundError(2, "no such file"), False), (PermissionError(13, "denied"), False),
    (ValueError("bad digest"), False),
])
def test_exceptions_are_classified(exc, transient):
    assert classify(exc).transient is transient


def test_fetch_errors_keep_their_class():
    err = FetchError("digest mismatch", transient=False)
    assert classify(err) is err


def test_short_read_is_transient():
    check_complete(10, 10)
    check_complete(10, None)
    with pytest.raises(ShortRead) as caught:
        check_complete(52, 2 * 1024**3)
    assert caught.value.transient and "52" in caught.value.reason


def test_save_bounded_refuses_fewer_bytes_than_announced(tmp_path):
    chunks = iter([b"x" * 52, b""])
    with pytest.raises(ShortRead):
        save_bounded(lambda n: next(chunks), tmp_path / "a", LIMITS, announced="100")
    chunks = iter([b"x" * 100, b""])
    assert save_bounded(lambda n: next(chunks), tmp_path / "b", LIMITS, announced="100").stat().st_size == 100


def test_missing_files_and_paths_outside_the_roots_are_permanent(tmp_path):
    with pytest.raises(FetchError) as missing:
        resolve((tmp_path / "nope").as_uri(), LIMITS, roots=[tmp_path])
    assert not missing.value.transient
    with pytest.raises(FetchError) as outside:
        resolve(Path("/etc/hostname").as_uri(), LIMITS, roots=[tmp_path])
    assert not outside.value.transient


class _Truncating(http.server.BaseHTTPRequestHandler):
    """Announces a large body, sends a few bytes, closes."""

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", str(2 * 1024**3))
        self.end_headers()
        self.wfile.write(b"\x80\x02}q\x00." + b"A" * 46)
        self.wfile.flush()
        self.connection.shutdown(socket.SHUT_RDWR)

    def log_message(self, *args):
        pass


def test_http_download_of_a_truncated_body_is_a_short_read(tmp_path):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Truncating)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with pytest.raises(FetchError) as caught:
            download(f"http://127.0.0.1:{server.server_port}/m.pkl", tmp_path / "m",
                     FetchLimits(max_bytes=4 * 1024**3, timeout=5), retries=1)
        assert caught.value.transient and "short read" in caught.value.reason
    finally:
        server.shutdown()


def test_http_download_from_a_refusing_host_is_transient(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: connections are refused
    with pytest.raises(FetchError) as caught:
        download(f"http://127.0.0.1:{port}/m.pkl", tmp_path / "m", LIMITS, retries=1)
    assert caught.value.transient


def _run(coro):
    return asyncio.run(coro)


def _failing(exc_factory, calls: list):
    async def call():
        calls.append(1)
        raise exc_factory()
    return call


def test_permanent_failures_give_up_at_once():
    calls: list = []
    out = _run(attempt_until(_failing(lambda: FetchError("HTTP 404", transient=False), calls),
                             RetryPolicy(deadline=60, max_attempts=5), what="t"))
    assert out.gave_up and out.attempts == 1 and calls == [1] and "404" in out.reason


def test_transient_failures_retry_until_the_deadline():
    calls: list = []
    policy = RetryPolicy(deadline=0.6, max_attempts=2, first_delay=0.05, max_delay=0.1)
    out = _run(attempt_until(_failing(lambda: ConnectionRefusedError(111, "refused"), calls), policy, what="t"))
    assert out.gave_up and out.transient and len(calls) > 2  # not bounded by max_attempts: by time
    assert "deadline" in out.reason and "refused" in out.reason


def test_a_call_that_hangs_is_cut_at_the_deadline():
    async def hang():
        await asyncio.sleep(30)

    out = _run(asyncio.wait_for(attempt_until(hang, RetryPolicy(deadline=0.3, max_attempts=5), what="t"), 5))
    assert out.gave_up and out.transient and "deadline" in out.reason


def test_crashes_are_tried_max_attempts_times():
    calls: list = []
    policy = RetryPolicy(deadline=60, max_attempts=3, first_delay=0.01, max_delay=0.02)
    out = _run(attempt_until(_failing(lambda: RuntimeError("bug"), calls), policy, what="t"))
    assert out.gave_up and out.attempts == 3 and "RuntimeError" in out.reason


def test_success_after_transient_failures():
    calls: list = []

    async def flaky():
        calls.append(1)
        if len(calls) < 3:
            raise FetchError("short read", transient=True)
        return "done"

    out = _run(attempt_until(flaky, RetryPolicy(deadline=10, max_attempts=1, first_delay=0.01), what="t"))
    assert out.value == "done" and out.attempts == 3 and not out.gave_up


def test_a_try_cut_at_the_deadline_keeps_the_last_failure_as_the_reason():
    calls: list = []

    async def short_then_hang():
        calls.append(1)
        if len(calls) == 1:
            raise FetchError("short read: the source announced 100 bytes and sent 52", transient=True)
        await asyncio.sleep(30)

    policy = RetryPolicy(deadline=0.5, max_attempts=1, first_delay=0.01, max_delay=0.02)
    out = _run(asyncio.wait_for(attempt_until(short_then_hang, policy, what="t"), 5))
    assert out.gave_up and "short read" in out.reason and "deadline" in out.reason
