"""Scan requests accepted by the adapter: an id at once, the scan in the background, the result (or why
there is none) kept for the report polls.

A scanner is an async callable ScanRequest -> PackageScan: `InProcessScanner` pulls and scans here (each
file in the sandbox); `modelscreen.harbor.kafka_scan.KafkaScanner` goes through the pipeline. A result
already known for (manifest digest, engine version, ruleset version) is answered from the cache.
Bounded: at most `max_jobs` requests are kept (the oldest finished ones go first; when all are still
running the request is refused), finished ones for `ttl` seconds.
"""
from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from enum import Enum

from modelscreen.fetch.base import FetchError
from modelscreen.harbor.cache import ResultCache, key_for
from modelscreen.harbor.package import ArtifactNotFound, failed_scan, scan_package
from modelscreen.sandbox import SandboxLimits
from modelscreen.schemas.harbor import PackageScan, ScanRequest

log = logging.getLogger("modelscreen.harbor.jobs")

Scanner = Callable[[ScanRequest], Awaitable[PackageScan]]


class JobStatus(str, Enum):
    queued = "queued"
    running = "running"
    finished = "finished"
    failed = "failed"


class TooManyJobs(Exception):
    """Every kept request is still running: refuse rather than forget one."""


@dataclass
class Job:
    id: str
    request: ScanRequest
    status: JobStatus = JobStatus.queued
    created: float = field(default_factory=time.monotonic)
    done_at: float | None = None
    result: PackageScan | None = None
    error: str | None = None


class InProcessScanner:
    """Pull and scan in this process's threads; every file is parsed in the sandbox."""

    cacheable = True  # results depend on the digest, this engine and the ruleset loaded at start

    def __init__(self, settings, *, ruleset_version: str | None = None):
        self.settings = settings
        self.ruleset_version = ruleset_version
        self.sandbox = SandboxLimits(memory_bytes=settings.sandbox_memory_bytes,
                                     cpu_seconds=settings.sandbox_cpu_seconds,
                                     wall_seconds=settings.sandbox_wall_seconds)
        self.executor = ThreadPoolExecutor(max_workers=settings.harbor_scan_workers,
                                           thread_name_prefix="harbor-scan")

    async def __call__(self, request: ScanRequest) -> PackageScan:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, lambda: scan_package(
            request, self.settings, sandbox=self.sandbox, ruleset_version=self.ruleset_version))

    async def close(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)


class Jobs:
    def __init__(self, scanner: Scanner, cache: ResultCache, *, engine_version: str, ruleset_version: str | None,
                 ttl: float, max_jobs: int, timeout: float, workers: int):
        self.scanner, self.cache = scanner, cache
        self.engine_version, self.ruleset_version = engine_version, ruleset_version
        self.ttl, self.max_jobs, self.timeout = ttl, max_jobs, timeout
        self.slots = asyncio.Semaphore(workers)
        self.jobs: OrderedDict[str, Job] = OrderedDict()
        self.tasks: set[asyncio.Task] = set()

    def submit(self, request: ScanRequest) -> Job:
        self._prune()
        if len(self.jobs) >= self.max_jobs:
            raise TooManyJobs(f"{len(self.jobs)} scans are still running")
        job = Job(id=str(uuid.uuid4()), request=request)
        self.jobs[job.id] = job
        cached = self.cache.get(key_for(request.artifact.digest, self.engine_version, self.ruleset_version))
        if cached is not None:
            self._finish(job, cached.model_copy(update={"tag": request.artifact.tag,
                                                        "registry": request.registry.url}))
            return job
        task = asyncio.get_running_loop().create_task(self._run(job))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return job

    def get(self, job_id: str) -> Job | None:
        return self.jobs.get(job_id)

    async def _run(self, job: Job) -> None:
        async with self.slots:
            job.status = JobStatus.running
            request = job.request
            try:
                result = await asyncio.wait_for(self.scanner(request), self.timeout)
            except ArtifactNotFound as exc:
                self._fail(job, str(exc))
                return
            except FetchError as exc:
                self._fail(job, f"cannot pull {request.artifact.repository}@{request.artifact.digest}: {exc.reason}")
                return
            except asyncio.TimeoutError:
                self._fail(job, f"the scan took longer than {self.timeout:.0f} s")
                return
            except Exception as exc:  # noqa: BLE001 - one artifact's crash must not take the adapter down
                log.exception("scan %s of %s@%s failed", job.id, request.artifact.repository, request.artifact.digest)
                self._fail(job, f"{type(exc).__name__}: {exc}")
                return
            self.cache.put(key_for(request.artifact.digest, self.engine_version, self.ruleset_version), result)
            self._finish(job, result)

    def _finish(self, job: Job, result: PackageScan) -> None:
        job.result, job.status, job.done_at = result, JobStatus.finished, time.monotonic()

    def _fail(self, job: Job, reason: str) -> None:
        log.warning("scan %s failed: %s", job.id, reason)
        job.error, job.status, job.done_at = reason, JobStatus.failed, time.monotonic()
        job.result = failed_scan(job.request, reason)

    def _prune(self) -> None:
        now = time.monotonic()
        for job_id in [j.id for j in self.jobs.values() if j.done_at is not None and now - j.done_at > self.ttl]:
            del self.jobs[job_id]
        while len(self.jobs) >= self.max_jobs:
            oldest = next((j.id for j in self.jobs.values() if j.done_at is not None), None)
            if oldest is None:
                return
            del self.jobs[oldest]

    async def close(self) -> None:
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        close = getattr(self.scanner, "close", None)
        if close is not None:
            await close()
