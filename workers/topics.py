"""Topic names (prefix configurable) and their creation."""
from __future__ import annotations

from dataclasses import dataclass

from modelscreen.settings import Settings

STORE_EVENTS = "store-events"
ARTIFACT_EVENTS = "artifact-events"
SCAN_RESULTS = "scan-results"
ALERTS = "alerts"
DEAD_LETTER = "dead-letter"
RULE_BUNDLES = "rule-bundles"
EVALUATIONS = "evaluations"  # behaviour evaluations (BehaviourEvaluation JSON), keyed by sha256


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    config: dict[str, str]


def topic_specs(settings: Settings) -> list[TopicSpec]:
    p = settings.topic_partitions
    week = str(7 * 24 * 3600 * 1000)
    return [
        # webhooks up to the gateway's 1 MiB body limit, plus headers
        TopicSpec(settings.topic(STORE_EVENTS), p, {"retention.ms": week, "max.message.bytes": str(2 * 1024 * 1024)}),
        TopicSpec(settings.topic(ARTIFACT_EVENTS), p, {"retention.ms": week}),
        TopicSpec(settings.topic(SCAN_RESULTS), p, {"retention.ms": week}),
        TopicSpec(settings.topic(ALERTS), p, {"retention.ms": week}),
        TopicSpec(settings.topic(DEAD_LETTER), 1, {"retention.ms": str(30 * 24 * 3600 * 1000),
                                                   "max.message.bytes": str(8 * 1024 * 1024)}),
        TopicSpec(settings.topic(EVALUATIONS), p, {"retention.ms": str(30 * 24 * 3600 * 1000)}),
        TopicSpec(settings.topic(RULE_BUNDLES), 1, {"cleanup.policy": "compact",
                                                    "max.message.bytes": str(17 * 1024 * 1024)}),
    ]


def create_topics(settings: Settings) -> dict[str, str]:
    """Create missing topics; existing ones are left as they are. Returns name -> created|exists."""
    from kafka.admin import KafkaAdminClient, NewTopic
    from kafka.errors import TopicAlreadyExistsError

    admin = KafkaAdminClient(client_id="modelscreen-setup", **settings.kafka_python_config())
    try:
        existing = set(admin.list_topics())
        status: dict[str, str] = {}
        for spec in topic_specs(settings):
            if spec.name in existing:
                status[spec.name] = "exists"
                continue
            try:
                admin.create_topics([NewTopic(spec.name, spec.partitions, settings.topic_replication,
                                              topic_configs=spec.config)])
                status[spec.name] = "created"
            except TopicAlreadyExistsError:
                status[spec.name] = "exists"
        return status
    finally:
        admin.close()
