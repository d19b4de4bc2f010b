"""A pipeline under test: its own topic prefix, consumer group and indices on the shared services."""
from __future__ import annotations

import contextlib
import json
import os
import pickle
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


class Pipeline:
    def __init__(self, kafka_bootstrap: str, elasticsearch_url: str, tmp: Path, **extra_env: str):
        tag = uuid.uuid4().hex[:10]
        self.tag = tag
        self.tmp = tmp
        self.kafka = kafka_bootstrap
        self.es_url = elasticsearch_url
        self.prefix = f"t{tag}."
        self.findings = f"logs-modelscreen.findings-t{tag}"
        self.artifacts = f"modelscreen-artifacts-t{tag}"
        self.inventory = f"modelscreen-inventory-t{tag}"
        self.env = {
            **os.environ,
            "MODELSCREEN_KAFKA_BOOTSTRAP": kafka_bootstrap,
            "MODELSCREEN_ELASTICSEARCH_URL": elasticsearch_url,
            "MODELSCREEN_TOPIC_PREFIX": self.prefix,
            "MODELSCREEN_TOPIC_PARTITIONS": "4",
            "MODELSCREEN_APP_ID": f"modelscreen-t{tag}",
            "MODELSCREEN_FINDINGS_DATA_STREAM": self.findings,
            "MODELSCREEN_ARTIFACTS_INDEX": self.artifacts,
            "MODELSCREEN_INVENTORY_INDEX": self.inventory,
            "MODELSCREEN_METRICS_PORT": "0",
            **extra_env,
        }
        self.workers: list[subprocess.Popen] = []
        from elasticsearch import Elasticsearch

        self.es = Elasticsearch(elasticsearch_url, request_timeout=30)

    def topic(self, name: str) -> str:
        return self.prefix + name

    def cli(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "modelscreen", *args], env=self.env, cwd=REPO_ROOT,
                              capture_output=True, text=True, timeout=timeout)

    def setup(self) -> dict:
        out = self.cli("setup")
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout)

    def start_worker(self, *args: str, **env: str) -> subprocess.Popen:
        log = open(self.tmp / f"worker-{len(self.workers)}.log", "wb")
        env = {"MODELSCREEN_OBSERVER_NAME": f"worker-{len(self.workers)}", **env}
        proc = subprocess.Popen([sys.executable, "-m", "modelscreen", "worker", *args], env={**self.env, **env},
                                cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.workers.append(proc)
        return proc

    def stop_worker(self, proc: subprocess.Popen, *, kill: bool = False, timeout: float = 60) -> None:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL if kill else signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)

    def close(self) -> None:
        for proc in self.workers:
            self.stop_worker(proc, kill=True)
        try:
            from kafka.admin import KafkaAdminClient

            admin = KafkaAdminClient(bootstrap_servers=self.kafka)
            admin.delete_topics([t for t in admin.list_topics() if t.startswith(self.prefix)])
            admin.close()
        except Exception:
            pass
        for index in (self.findings, self.artifacts, self.inventory):
            try:
                self.es.options(ignore_status=[400, 404, 405]).indices.delete_data_stream(name=index)
                self.es.options(ignore_status=[404]).indices.delete(index=index)
            except Exception:
                pass
        self.es.close()

    # producing and reading
    def send(self, values: list[bytes], headers: list[tuple[str, bytes]] | None = None) -> None:
        from kafka import KafkaProducer

        producer = KafkaProducer(bootstrap_servers=self.kafka, acks="all")
        for v in values:
            producer.send(self.topic("store-events"), value=v, headers=headers)
        producer.flush()
        producer.close()

    def read(self, name: str, *, expect: int, timeout: float = 60) -> list:
        from kafka import KafkaConsumer

        consumer = KafkaConsumer(self.topic(name), bootstrap_servers=self.kafka, auto_offset_reset="earliest",
                                 group_id=None, consumer_timeout_ms=1000)
        out = []
        deadline = time.monotonic() + timeout
        while len(out) < expect and time.monotonic() < deadline:
            out.extend(consumer)
        consumer.close()
        return out

    def findings_docs(self, query: dict | None = None, size: int = 1000) -> list[dict]:
        self.es.options(ignore_status=[404]).indices.refresh(index=self.findings)
        res = self.es.options(ignore_status=[404]).search(index=self.findings, query=query or {"match_all": {}},
                                                            size=size)
        return [h["_source"] for h in res.get("hits", {}).get("hits", [])]

    def artifact_doc(self, sha256: str) -> dict | None:
        res = self.es.options(ignore_status=[404]).get(index=self.artifacts, id=sha256)
        return res.get("_source") if res.get("found") else None

    def wait_for(self, predicate, timeout: float = 60, interval: float = 0.5):
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            last = predicate()
            if last:
                return last
            time.sleep(interval)
        return last


def upload_event(path: Path, *, event_id: str | None = None, name: str | None = None, sha256: str | None = None,
                 action: str = "uploaded", actor: str = "alice", version: str | None = None) -> bytes:
    data = {"uri": path.resolve().as_uri(), "name": name or path.name, "actor": actor}
    if version:
        data["version"] = version
    if sha256:
        data["sha256"] = sha256
    return json.dumps({"specversion": "1.0", "type": f"io.modelscreen.artifact.{action}", "source": "/tests",
                       "id": event_id or uuid.uuid4().hex, "time": "2026-11-26T10:00:00Z",
                       "datacontenttype": "application/json", "data": data}).encode()


class TcpProxy:
    """Forwards a local port to a target; `pause()` makes the target look down, `resume()` brings it back."""

    def __init__(self, target_host: str, target_port: int):
        self.target = (target_host, target_port)
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.paused = threading.Event()
        self.conns: list[socket.socket] = []
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            if self.paused.is_set():
                client.close()
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            with self.lock:
                self.conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(a: socket.socket, b: socket.socket) -> None:
        try:
            while True:
                data = a.recv(65536)
                if not data:
                    break
                b.sendall(data)
        except OSError:
            pass
        finally:
            for s in (a, b):
                try:
                    s.close()
                except OSError:
                    pass

    def pause(self) -> None:
        self.paused.set()
        with self.lock:
            for s in self.conns:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                    s.close()
                except OSError:
                    pass
            self.conns.clear()

    def resume(self) -> None:
        self.paused.clear()

    def close(self) -> None:
        self.pause()
        self.sock.close()


# SeaweedFS from deploy/local/services checks no credentials; boto3 only needs some.
S3_CREDS = {"AWS_ACCESS_KEY_ID": "modelscreen-test", "AWS_SECRET_ACCESS_KEY": "modelscreen-test"}


@contextlib.contextmanager
def own_bucket(s3, prefix: str):
    """A bucket of its own, emptied and deleted afterwards (SeaweedFS keeps volumes for every bucket until
    it is deleted). A create that boto3 retried after its first try went through is fine."""
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    try:
        s3.create_bucket(Bucket=name)
    except s3.exceptions.BucketAlreadyOwnedByYou:
        pass
    try:
        yield name
    finally:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=name):
            for obj in page.get("Contents", []):
                s3.delete_object(Bucket=name, Key=obj["Key"])
        s3.delete_bucket(Bucket=name)


@contextlib.contextmanager
def file_store_pipeline(kafka_bootstrap: str, elasticsearch_url: str, tmp: Path, **extra_env: str):
    """A set-up pipeline whose fetcher may read files under `tmp/store` (`p.store`); closed afterwards."""
    store = tmp / "store"
    store.mkdir()
    p = Pipeline(kafka_bootstrap, elasticsearch_url, tmp, MODELSCREEN_FETCH_FILE_ROOTS=json.dumps([str(store)]),
                 **extra_env)
    p.store = store
    p.setup()
    try:
        yield p
    finally:
        p.close()


class Payload:
    """A pickle that would run os.system if loaded (it never is here)."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        import os

        return (os.system, (f"touch /nonexistent/{self.marker}",))


def malicious(path, marker="x"):
    path.write_bytes(pickle.dumps(Payload(marker), protocol=2))
    return path
