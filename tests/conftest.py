"""Before the first test: fetch and build the local services the selected integration tests need.

A fresh machine compiles the S3 server and the OCI registry from source and fetches Kafka and
Elasticsearch through Maven (minutes on 2 cores). That runs here, once, with progress on the terminal
and its own generous timeout, never inside a test's timeout. Later runs find everything built and go
on at once. A failure is reported by the integration fixtures (skip, or fail with
MODELSCREEN_REQUIRE_SERVICES=1) with the reason printed here.
"""
from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

SERVICES_SCRIPT = Path(__file__).resolve().parents[1] / "deploy" / "local" / "services"
BUILD_TIMEOUT_S = int(os.environ.get("MODELSCREEN_SERVICES_BUILD_TIMEOUT", "3600"))


def pytest_collection_finish(session: pytest.Session) -> None:
    if session.config.option.collectonly or not SERVICES_SCRIPT.is_file():
        return
    if not any(item.get_closest_marker("integration") for item in session.items):
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")

    def say(line: str) -> None:
        if reporter is not None:
            reporter.write_line(line)
        else:
            print(line, file=sys.stderr)

    say("local services: deploy/local/services build (first run fetches and compiles; later runs are instant)")
    try:
        proc = subprocess.Popen(["bash", str(SERVICES_SCRIPT), "build"], stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, errors="replace")
        watchdog = threading.Timer(BUILD_TIMEOUT_S, proc.kill)
        watchdog.start()
        try:
            for line in proc.stderr:
                if line.startswith("[services]"):
                    say("  " + line.rstrip())
            rc = proc.wait()
        finally:
            watchdog.cancel()
    except OSError as exc:
        say(f"local services: build did not finish: {exc}")
        return
    if rc != 0:
        say(f"local services: build failed (exit {rc}); the integration tests will say why they cannot run")
