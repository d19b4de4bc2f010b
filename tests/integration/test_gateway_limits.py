"""The gateway process against a real Kafka broker: clients that hold connections without finishing their
request are closed in bounded time, and connections over the limit are refused at once."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid

import pytest

from tests.integration.harness import REPO_ROOT

pytestmark = pytest.mark.integration


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def gateway(kafka_bootstrap, tmp_path):
    port = _free_port()
    env = {**os.environ, "MODELSCREEN_KAFKA_BOOTSTRAP": kafka_bootstrap,
           "MODELSCREEN_TOPIC_PREFIX": f"t{uuid.uuid4().hex[:10]}.",
           "MODELSCREEN_GATEWAY_ALLOW_UNAUTHENTICATED": "1", "MODELSCREEN_GATEWAY_HEADER_TIMEOUT": "3",
           "MODELSCREEN_GATEWAY_BODY_TIMEOUT": "3", "MODELSCREEN_GATEWAY_MAX_CONNECTIONS": "60"}
    log = open(tmp_path / "gateway.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "modelscreen", "gateway", "--port", str(port)], env=env,
                            cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2)
            break
        except OSError:
            time.sleep(0.3)
    yield port
    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(30)


def _closed_within(sock: socket.socket, seconds: float) -> tuple[bool, bytes]:
    """(the server closed the connection within `seconds`, what it sent before)."""
    sock.settimeout(0.5)
    got = b""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            chunk = sock.recv(4096)
        except socket.timeout:
            continue
        except OSError:
            return True, got
        if not chunk:
            return True, got
        got += chunk
    return False, got


def test_slow_clients_are_closed_and_connections_over_the_limit_refused(gateway):
    port = gateway
    opened = time.monotonic()
    slow_body = []
    for _ in range(25):  # announce a body and never send it
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(b"POST /webhooks/cloudevents HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Content-Length: 1000\r\n\r\n{")
        slow_body.append(s)
    slow_head = []
    for _ in range(25):  # never finish the request head
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(b"POST /webhooks/cloudevents HTTP/1.1\r\nHost: x\r\n")
        slow_head.append(s)
    extra = [socket.create_connection(("127.0.0.1", port)) for _ in range(15)]  # 65 for a limit of 60
    time.sleep(1)
    answers = [_closed_within(s, 0.1) for s in extra]
    refused = [got for closed, got in answers if closed and got.startswith(b"HTTP/1.1 503")]
    assert len(refused) == 5  # the others are open, or already closed for sending no request head

    # 3 s for the head and 3 s for the body: all closed well within 15 s of opening (on a loaded machine)
    for s in slow_body:
        closed, got = _closed_within(s, 15 - (time.monotonic() - opened))
        assert closed and b" 408 " in got.split(b"\r\n", 1)[0]
    for s in slow_head + extra:
        closed, _got = _closed_within(s, 15 - (time.monotonic() - opened))
        assert closed
    print(f"all 65 connections closed {time.monotonic() - opened:.1f}s after they were opened")
    for s in slow_body + slow_head + extra:
        s.close()

    # the gateway still answers once they are gone
    assert urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5).status == 200
