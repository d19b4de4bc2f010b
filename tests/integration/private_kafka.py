"""A Kafka broker of a test's own, to stop and start again: the shared broker is never stopped.

One KRaft node (broker and controller) on two free loopback ports, with its config, data and logs in a
directory of its own, run from the jars `deploy/local/services build` installed (`services kafka-runtime`
says where they are). `stop()` kills the JVM (an outage, not a clean shutdown); `start()` again brings the
same node back on the same ports with the same data.

    with KafkaBroker(tmp_path / "kafka") as broker:
        ... broker.bootstrap ...   # "127.0.0.1:<port>"
        broker.stop(); ...; broker.start()
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

from tests.integration.harness import REPO_ROOT

SERVICES_SCRIPT = REPO_ROOT / "deploy" / "local" / "services"
HEAP = "-Xms128m -Xmx256m"  # small: the machine is shared
STARTED = "Kafka Server started"


class BrokerUnavailable(RuntimeError):
    """No Java or no Kafka jars (`deploy/local/services build` has not run)."""


def kafka_runtime() -> dict[str, str]:
    """JAVA, KAFKA_LIBS and KAFKA_LOG4J from `deploy/local/services kafka-runtime`."""
    proc = subprocess.run(["bash", str(SERVICES_SCRIPT), "kafka-runtime"], capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=60)
    if proc.returncode != 0:
        raise BrokerUnavailable(proc.stderr.strip() or f"services kafka-runtime: exit {proc.returncode}")
    return dict(line.split("=", 1) for line in proc.stdout.splitlines() if "=" in line)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class KafkaBroker:
    def __init__(self, home: Path, *, start_timeout: float = 180):
        self.home = Path(home)
        self.start_timeout = start_timeout
        self.runtime = kafka_runtime()
        self.port = free_port()
        self.controller_port = free_port()
        while self.controller_port == self.port:
            self.controller_port = free_port()
        self.bootstrap = f"127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None
        self.config = self.home / "server.properties"
        self.logs = self.home / "logs"
        self._java = [self.runtime["JAVA"], f"-Dlog4j2.configurationFile={self.runtime['KAFKA_LOG4J']}",
                      f"-Dkafka.logs.dir={self.logs}", "-cp", f"{self.runtime['KAFKA_LIBS']}/*"]
        self._write_config()
        self._format()

    def _write_config(self) -> None:
        (self.home / "data").mkdir(parents=True, exist_ok=True)
        self.logs.mkdir(parents=True, exist_ok=True)
        self.config.write_text("\n".join([
            "process.roles=broker,controller",
            "node.id=1",
            f"controller.quorum.bootstrap.servers=127.0.0.1:{self.controller_port}",
            f"listeners=PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}",
            f"advertised.listeners=PLAINTEXT://127.0.0.1:{self.port}",
            "controller.listener.names=CONTROLLER",
            "inter.broker.listener.name=PLAINTEXT",
            "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            f"log.dirs={self.home / 'data'}",
            "num.partitions=1",
            "offsets.topic.replication.factor=1",
            "offsets.topic.num.partitions=4",  # 50 by default: slow to create on a busy machine
            "transaction.state.log.replication.factor=1",
            "transaction.state.log.min.isr=1",
            "share.coordinator.state.topic.replication.factor=1",
            "share.coordinator.state.topic.min.isr=1",
            "group.initial.rebalance.delay.ms=0",
            "auto.create.topics.enable=true",
            "",
        ]))

    def _format(self) -> None:
        def tool(*args: str) -> str:
            out = subprocess.run([*self._java, "kafka.tools.StorageTool", *args], capture_output=True, text=True,
                                 stdin=subprocess.DEVNULL, timeout=180)
            if out.returncode != 0:
                raise RuntimeError(f"StorageTool {args[0]} failed: {out.stdout[-2000:]}{out.stderr[-2000:]}")
            return out.stdout

        cluster_id = tool("random-uuid").strip().splitlines()[-1]
        tool("format", "-t", cluster_id, "-c", str(self.config), "--standalone")

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self) -> float:
        """Start (again) on the same ports and data; wait until it serves. Seconds it took."""
        assert not self.running, "already running"
        log = self.logs / "server.log"
        offset = log.stat().st_size if log.exists() else 0
        started = time.monotonic()
        out = open(self.logs / "stdout.log", "ab")
        try:
            self.proc = subprocess.Popen([*self._java[:1], *HEAP.split(), "-XX:+UseG1GC", "-Djava.awt.headless=true",
                                          *self._java[1:], "kafka.Kafka", str(self.config)],
                                         stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        finally:
            out.close()
        deadline = started + self.start_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"private Kafka exited ({self.proc.returncode}): {self.tail()}")
            if log.exists():
                with open(log, "rb") as f:
                    f.seek(offset if log.stat().st_size >= offset else 0)
                    if STARTED.encode() in f.read():
                        return time.monotonic() - started
            time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"private Kafka not started after {self.start_timeout:.0f}s: {self.tail()}")

    def stop(self) -> None:
        """Kill the broker (SIGKILL: clients see it vanish, as in a crash or a network cut)."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(30)
        self.proc = None

    def tail(self, lines: int = 30) -> str:
        for name in ("server.log", "stdout.log"):
            path = self.logs / name
            if path.exists() and path.stat().st_size:
                return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
        return "(no log)"

    def __enter__(self) -> KafkaBroker:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
