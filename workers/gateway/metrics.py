"""Prometheus metrics of the webhook gateway (served on its own /metrics)."""
from __future__ import annotations

from prometheus_client import Counter, Histogram

REQUESTS = Counter("modelscreen_gateway_requests_total", "Webhook requests answered, by store path and HTTP status",
                   ["store", "status"])
AUTH_FAILURES = Counter("modelscreen_gateway_auth_failures_total",
                        "Webhook requests refused for authentication, by store and reason "
                        "(rejected: bad or missing credential; not_configured: no secret set)",
                        ["store", "reason"])
PRODUCE_ERRORS = Counter("modelscreen_gateway_produce_errors_total",
                         "Webhooks not acknowledged by Kafka, by error class", ["error"])
PRODUCE_SECONDS = Histogram("modelscreen_gateway_produce_seconds", "Time from produce to Kafka's acknowledgement",
                            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
BODY_BYTES = Histogram("modelscreen_gateway_body_bytes", "Size of accepted webhook bodies",
                       buckets=(256, 1024, 4096, 16384, 65536, 262144, 1048576))
CONNECTIONS_REFUSED = Counter("modelscreen_gateway_connections_refused_total",
                              "Connections answered 503 and closed because the connection limit was reached")
SLOW_CLIENTS = Counter("modelscreen_gateway_slow_clients_total",
                       "Requests closed because their body did not arrive within gateway_body_timeout")
