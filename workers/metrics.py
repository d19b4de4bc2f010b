"""Prometheus metrics of the workers and the gateway."""
from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram, start_http_server

EVENTS_IN = Counter("modelscreen_events_total", "Artifact events normalised, by source store and action",
                    ["store", "action"])
RAW_IN = Counter("modelscreen_raw_events_total", "Raw store events consumed")
SCANS = Counter("modelscreen_scans_total", "Artifacts scanned, by verdict and whether the cache answered",
                ["verdict", "cached"])
SCAN_SECONDS = Histogram("modelscreen_scan_seconds", "Time to fetch and scan one artifact",
                         buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300))
FINDINGS = Counter("modelscreen_findings_total", "Findings indexed, by severity", ["severity"])
DEAD_LETTERS = Counter("modelscreen_dead_letters_total", "Messages sent to the dead-letter topic, by stage",
                       ["stage"])
RETRIES = Counter("modelscreen_retries_total", "Retries after transient failures, by stage", ["stage"])
ALERTS = Counter("modelscreen_alerts_total", "Alerts published, by severity", ["severity"])
WEBHOOK_FAILURES = Counter("modelscreen_webhook_failures_total", "Alert webhook deliveries that failed")
STAGE_SECONDS = Histogram("modelscreen_stage_batch_seconds", "Time to handle one batch (results written), by stage",
                          ["stage"], buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300))
STAGE_EVENTS = Counter("modelscreen_stage_events_total", "Records handled, by stage", ["stage"])
CONSUMER_LAG = Gauge("modelscreen_consumer_lag", "Messages behind the end of each partition", ["topic", "partition"])


def serve(port: int) -> None:
    if port:
        start_http_server(port)
