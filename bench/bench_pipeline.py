"""End-to-end pipeline throughput and latency against the same machine's raw Kafka rates.

Needs the services (`eval "$(deploy/local/services up)"`). Prints, in one run:
  raw Kafka produce and consume rates (aiokafka), the rate of a Faust agent that does nothing (the ceiling of
  any Faust stage; run before and after the cached downloads), events/s end to end for cached downloads, for fresh small pickle uploads and for a realistic
  mix of fresh uploads (pickles, safetensors, zips of small models, some malicious), the ratio of the cached
  rate to the no-op agent's rate, where the worker's time went (CPU per event, and each stage's batch
  handling time per record, from its metrics), upload-to-searchable latency percentiles, and the worker's
  memory over a long cached run.

    python bench/bench_pipeline.py [--cached 20000] [--fresh 500] [--mix 1000] [--latency 50] [--long 100000]
                                   [--workers 1]
"""
from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import pickle
import re
import socket
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.integration.harness import Pipeline, upload_event  # noqa: E402


async def raw_rates(bootstrap: str, topic: str, n: int, size: int = 400) -> tuple[float, float]:
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

    payload = os.urandom(size // 2).hex().encode()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5, max_batch_size=262144)
    await producer.start()
    t0 = time.perf_counter()
    futs = [await producer.send(topic, payload) for _ in range(n)]
    await asyncio.gather(*futs)
    produce = n / (time.perf_counter() - t0)
    await producer.stop()
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                                group_id=f"bench-{time.time_ns()}", enable_auto_commit=False)
    await consumer.start()
    got = 0
    t0 = time.perf_counter()
    while got < n:
        batch = await consumer.getmany(timeout_ms=1000, max_records=10000)
        got += sum(len(v) for v in batch.values())
    consume = n / (time.perf_counter() - t0)
    await consumer.stop()
    return produce, consume


def faust_noop_rate(bootstrap: str, topic: str, n: int) -> float:
    """Events/s of a Faust agent that does nothing, on the same topic: the ceiling of any Faust stage."""
    import subprocess

    here = Path(__file__).resolve().parent
    out = subprocess.run([sys.executable, str(here / "faust_noop.py"), "worker", "-l", "warn"], cwd=tempfile.mkdtemp(),
                         env={**os.environ, "MODELSCREEN_KAFKA_BOOTSTRAP": bootstrap, "FAUST_NOOP_TOPIC": topic,
                              "FAUST_NOOP_COUNT": str(n)},
                         capture_output=True, text=True, timeout=600)
    found = re.search(r"faust-noop (\d+)", out.stdout + out.stderr)  # Faust logs its stdout
    if not found:
        raise SystemExit(f"the Faust no-op agent failed:\n{out.stdout[-2000:]}{out.stderr[-2000:]}")
    return float(found.group(1))


def rss_mb(pid: int) -> float:
    total = 0
    for p in [pid, *_children(pid)]:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


def _children(pid: int) -> list[int]:
    try:
        return [int(x) for x in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU of a process (Linux)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def workers_cpu(workers) -> float | None:
    used = [cpu_seconds(w.pid) for w in workers]
    return None if None in used else sum(used)


def workers_stages(ports: list[int]) -> dict[str, tuple[float, float]]:
    total: dict[str, tuple[float, float]] = {}
    for port in ports:
        for stage, (records, seconds) in stage_totals(port).items():
            had = total.get(stage, (0.0, 0.0))
            total[stage] = (had[0] + records, had[1] + seconds)
    return total


def stage_totals(port: int) -> dict[str, tuple[float, float]]:
    """stage -> (records handled, seconds spent handling batches), from the worker's metrics."""
    try:
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    except OSError:
        return {}
    seconds = dict(re.findall(r'modelscreen_stage_batch_seconds_sum\{stage="(\w+)"\} (\S+)', text))
    records = dict(re.findall(r'modelscreen_stage_events_total\{stage="(\w+)"\} (\S+)', text))
    return {k: (float(records[k]), float(seconds.get(k, 0))) for k in records}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def mix_file(store: Path, i: int) -> tuple[Path, str]:
    """The i-th fresh upload of the mix (unique bytes): 4 in 10 pickles, 3 safetensors, 2 zips of a small
    model (a PyTorch-style archive with data.pkl), 1 malicious pickle (a harmless canary-touching payload)."""
    import struct
    import zipfile

    kind = ("pickle", "safetensors", "pickle", "zip", "safetensors", "pickle", "malicious", "safetensors", "zip",
            "pickle")[i % 10]
    if kind == "pickle":
        path = store / f"mix-{i}.pkl"
        path.write_bytes(pickle.dumps({"w": [float(i)] * 64, "step": i}, protocol=4))
    elif kind == "malicious":
        path = store / f"mix-{i}.pt"
        cmd = f"touch /tmp/modelscreen-canary-never-created-{i}".encode()
        path.write_bytes(b"\x80\x02cos\nsystem\nX" + struct.pack("<I", len(cmd)) + cmd + b"\x85R.")
    elif kind == "safetensors":
        path = store / f"mix-{i}.safetensors"
        data = struct.pack("<256f", *([float(i)] * 256)) + struct.pack("<64f", *range(64))
        header = json.dumps({"__metadata__": {"format": "pt", "n": str(i)},
                             "w": {"dtype": "F32", "shape": [16, 16], "data_offsets": [0, 1024]},
                             "b": {"dtype": "F32", "shape": [64], "data_offsets": [1024, 1280]}}).encode()
        header += b" " * (-len(header) % 8)
        path.write_bytes(struct.pack("<Q", len(header)) + header + data)
    else:
        path = store / f"mix-{i}.zip"
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
            z.writestr("model/data.pkl", pickle.dumps({"layer": [float(i)] * 32}, protocol=2))
            z.writestr("model/version", "3\n")
            z.writestr("model/config.json", json.dumps({"hidden": 16, "i": i}))
    return path, kind


def artifacts(p: Pipeline) -> int:
    p.es.indices.refresh(index=p.artifacts)
    return p.es.count(index=p.artifacts)["count"]


def count(p: Pipeline) -> int:
    p.es.indices.refresh(index=p.findings)
    return p.es.count(index=p.findings)["count"]


def wait_count(p: Pipeline, target: int, timeout: float, on_tick=None) -> float:
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout:
        if count(p) >= target:
            return time.perf_counter() - t0
        if on_tick:
            on_tick()
        time.sleep(0.25)
    raise SystemExit(f"timed out waiting for {target} findings (have {count(p)})")


def send_many(p: Pipeline, values: list[bytes]) -> None:
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=p.kafka, acks="all", linger_ms=5, batch_size=262144)
    for v in values:
        producer.send(p.topic("store-events"), value=v)
    producer.flush()
    producer.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cached", type=int, default=20000)
    ap.add_argument("--fresh", type=int, default=500)
    ap.add_argument("--mix", type=int, default=1000, help="fresh uploads of the realistic mix")
    ap.add_argument("--latency", type=int, default=50)
    ap.add_argument("--long", type=int, default=0, help="events in the memory run (e.g. 100000)")
    ap.add_argument("--workers", type=int, default=1, help="worker processes in the consumer group")
    args = ap.parse_args()
    kafka = os.environ.get("MODELSCREEN_KAFKA_BOOTSTRAP", "127.0.0.1:9092")
    es = os.environ.get("MODELSCREEN_ELASTICSEARCH_URL", "http://127.0.0.1:9200")
    tmp = Path(tempfile.mkdtemp(prefix="bench-pipeline-"))
    store = tmp / "store"
    store.mkdir()
    p = Pipeline(kafka, es, tmp, MODELSCREEN_FETCH_FILE_ROOTS=json.dumps([str(store)]),
                 MODELSCREEN_ALERT_MIN_SEVERITY="critical")
    try:
        p.setup()
        from kafka.admin import KafkaAdminClient, NewTopic

        admin = KafkaAdminClient(bootstrap_servers=kafka)
        admin.create_topics([NewTopic(p.topic("raw-bench"), 1, 1)])
        admin.close()
        n_raw = max(args.cached, 50000)
        produce, consume = asyncio.run(raw_rates(kafka, p.topic("raw-bench"), n_raw))
        print(f"raw kafka (aiokafka, 1 partition, {n_raw} x 400 B): produce {produce:,.0f}/s, consume {consume:,.0f}/s")
        noop = faust_noop_rate(kafka, p.topic("raw-bench"), n_raw)
        print(f"faust agent doing nothing, same topic: {noop:,.0f} events/s (ratio to raw consume {noop / consume:.4f}): "
              "the ceiling of any stage that is a Faust agent")

        ports = [free_port() for _ in range(args.workers)]
        workers = [p.start_worker(MODELSCREEN_METRICS_PORT=str(port)) for port in ports]
        worker = workers[0]
        # one artifact with one medium finding (a pickle named .json): every event yields one finding document
        art = store / "model.json"
        art.write_bytes(pickle.dumps({"w": [0.5] * 10}))
        sha = hashlib.sha256(art.read_bytes()).hexdigest()
        send_many(p, [upload_event(art, event_id="warm", sha256=sha)])
        wait_count(p, 1, 120)

        base = count(p)
        events = [upload_event(art, event_id=f"dl-{i}", sha256=sha, action="downloaded") for i in range(args.cached)]
        cpu0, stages0 = workers_cpu(workers), workers_stages(ports)
        t0 = time.perf_counter()
        send_many(p, events)
        wait_count(p, base + args.cached, 600)
        elapsed = time.perf_counter() - t0
        cpu1, stages1 = workers_cpu(workers), workers_stages(ports)
        cached_rate = args.cached / elapsed
        # This machine's speed drifts between minutes: the no-op agent runs again right after, and the ratio
        # is to the mean of both runs.
        noop_after = faust_noop_rate(kafka, p.topic("raw-bench"), n_raw)
        ceiling = (noop + noop_after) / 2
        print(f"cached downloads, {args.workers} worker(s): {args.cached} events in {elapsed:.1f}s = "
              f"{cached_rate:,.0f} events/s (ratio to the no-op Faust agent {cached_rate / ceiling:.3f}, target >= 0.2; "
              "the agent ran at "
              f"{noop:,.0f}/s before and {noop_after:,.0f}/s after; to raw consume {cached_rate / consume:.4f})")
        if cpu0 is not None and cpu1 is not None:
            print(f"  worker CPU {(cpu1 - cpu0) / args.cached * 1e3:.3f} ms per cached event (all workers)")
        for stage, (records, seconds) in stages1.items():
            records -= stages0.get(stage, (0, 0))[0]
            seconds -= stages0.get(stage, (0, 0))[1]
            if records:
                print(f"  stage {stage}: {records:.0f} records, batch handling {seconds / records * 1e6:.0f} us/record "
                      "(wall, overlapping the other stages)")

        files = []
        for i in range(args.fresh):
            f = store / f"fresh-{i}.json"
            f.write_bytes(pickle.dumps({"w": [float(i)] * 8}))
            files.append(f)
        base = count(p)
        t0 = time.perf_counter()
        send_many(p, [upload_event(f, event_id=f"up-{i}") for i, f in enumerate(files)])
        wait_count(p, base + args.fresh, 600)
        fresh_rate = args.fresh / (time.perf_counter() - t0)
        print(f"fresh small uploads: {args.fresh} events = {fresh_rate:,.0f} events/s")

        if args.mix:
            made = [mix_file(store, i) for i in range(args.mix)]
            kinds = {k: sum(1 for _p, kk in made if kk == k) for k in sorted({k for _p, k in made})}
            base = artifacts(p)
            cpu0 = workers_cpu(workers)
            t0 = time.perf_counter()
            send_many(p, [upload_event(f, event_id=f"mix-{i}") for i, (f, _k) in enumerate(made)])
            while artifacts(p) < base + args.mix:
                if time.perf_counter() - t0 > 900:
                    raise SystemExit(f"timed out waiting for the mix ({artifacts(p) - base} of {args.mix})")
                time.sleep(0.25)
            elapsed = time.perf_counter() - t0
            cpu1 = workers_cpu(workers)
            mix_rate = args.mix / elapsed
            cpu_note = (f", worker CPU {(cpu1 - cpu0) / args.mix * 1e3:.2f} ms per event"
                        if cpu0 is not None and cpu1 is not None else "")
            print(f"fresh uploads, realistic mix {kinds}: {args.mix} events = {mix_rate:,.0f} events/s "
                  f"(target >= 100 with one worker){cpu_note}")

        lat = []
        for i in range(args.latency if args.latency >= 2 else 0):  # percentiles need two runs
            f = store / f"lat-{i}.json"
            f.write_bytes(pickle.dumps({"lat": i}))
            base = count(p)
            t0 = time.perf_counter()
            send_many(p, [upload_event(f, event_id=f"lat-{i}")])
            while count(p) < base + 1:
                time.sleep(0.02)
            lat.append(time.perf_counter() - t0)
        if lat:
            q = statistics.quantiles(lat, n=100)
            print(f"upload -> searchable latency over {len(lat)}: p50 {statistics.median(lat):.2f}s "
                  f"p90 {q[89]:.2f}s p99 {q[98]:.2f}s max {max(lat):.2f}s (target p50 <= 2s)")

        if args.long:
            samples = []
            stop = threading.Event()

            def sample() -> None:
                while not stop.is_set():
                    samples.append((time.perf_counter(), rss_mb(worker.pid)))
                    time.sleep(1)

            threading.Thread(target=sample, daemon=True).start()
            base = count(p)
            chunk = 10000
            for start in range(0, args.long, chunk):
                send_many(p, [upload_event(art, event_id=f"long-{i}", sha256=sha, action="downloaded")
                              for i in range(start, min(args.long, start + chunk))])
            wait_count(p, base + args.long, 3600)
            stop.set()
            rss = [r for _, r in samples]
            tenth = max(1, len(rss) // 10)
            tenths = [statistics.mean(rss[i * tenth:(i + 1) * tenth]) for i in range(len(rss) // tenth)][:10]
            print(f"worker memory (first of {args.workers}) over {args.long} cached events, avg per tenth of the run: "
                  f"{' '.join(f'{m:.0f}' for m in tenths)} MB; max {max(rss):.0f} MB")
    finally:
        p.close()


if __name__ == "__main__":
    main()
