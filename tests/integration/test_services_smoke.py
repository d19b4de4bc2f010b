"""Smoke tests of the backing services with the client libraries modelscreen uses.

They need a Kafka 4.x broker and an Elasticsearch 8.x (see conftest.py: they
are started with deploy/local/services when not given through the environment).
"""

from __future__ import annotations

import asyncio
import os
import uuid

import pytest

pytestmark = pytest.mark.integration


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


# ------------------------------------------------------------------ kafka ---


@pytest.fixture
def kafka_admin(kafka_bootstrap):
    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap, client_id="modelscreen-smoke")
    try:
        yield admin
    finally:
        admin.close()


@pytest.fixture
def kafka_topic(kafka_admin):
    from kafka.admin import NewTopic

    topic = _name("modelscreen-smoke")
    kafka_admin.create_topics([NewTopic(name=topic, num_partitions=1, replication_factor=1)])
    try:
        yield topic
    finally:
        try:
            kafka_admin.delete_topics([topic])
        except Exception:  # noqa: BLE001 - best-effort cleanup
            pass


def test_kafka_admin_creates_topic(kafka_admin, kafka_topic):
    assert kafka_topic in kafka_admin.list_topics()
    described = kafka_admin.describe_topics([kafka_topic])
    # kafka-python 3.x names the key "name", 2.x "topic".
    assert described[0].get("name", described[0].get("topic")) == kafka_topic
    assert len(described[0]["partitions"]) == 1


def _broker_api_version(admin, broker_id: int) -> tuple[int, ...]:
    """Broker version as inferred by kafka-python from ApiVersions."""
    if hasattr(admin, "get_broker_version_data"):  # kafka-python >= 3
        return tuple(admin.get_broker_version_data(broker_id).broker_version)
    return tuple(admin._client.check_version(broker_id))  # kafka-python 2.x


def test_kafka_cluster_is_kafka_4(kafka_admin):
    cluster = kafka_admin.describe_cluster()
    assert cluster["cluster_id"]
    assert len(cluster["brokers"]) >= 1
    broker_id = cluster["brokers"][0]["node_id" if "node_id" in cluster["brokers"][0] else "broker_id"]
    version = _broker_api_version(kafka_admin, broker_id)
    assert version >= (4, 0), f"expected a Kafka 4.x broker, ApiVersions says {version}"


def test_kafka_python_produce_consume(kafka_bootstrap, kafka_topic):
    from kafka import KafkaConsumer, KafkaProducer

    payload = uuid.uuid4().hex.encode()
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    try:
        metadata = producer.send(kafka_topic, key=b"k", value=payload).get(timeout=30)
    finally:
        producer.close()
    assert metadata.topic == kafka_topic

    consumer = KafkaConsumer(
        kafka_topic,
        bootstrap_servers=kafka_bootstrap,
        group_id=_name("smoke-group"),
        auto_offset_reset="earliest",
        consumer_timeout_ms=20_000,
    )
    values = []
    try:
        for message in consumer:  # ends after consumer_timeout_ms without messages
            if message.key == b"k":
                values.append(message.value)
                break
    finally:
        consumer.close()
    assert values == [payload]


def test_aiokafka_produce_consume(kafka_bootstrap, kafka_topic):
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

    payload = uuid.uuid4().hex.encode()

    async def roundtrip() -> bytes:
        producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
        await producer.start()
        try:
            await producer.send_and_wait(kafka_topic, value=payload, key=b"aio")
        finally:
            await producer.stop()

        consumer = AIOKafkaConsumer(
            kafka_topic,
            bootstrap_servers=kafka_bootstrap,
            group_id=_name("smoke-aio-group"),
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )
        await consumer.start()
        try:
            async for message in consumer:
                if message.key == b"aio":
                    return message.value
        finally:
            await consumer.stop()
        raise AssertionError("consumer ended without a message")

    assert asyncio.run(asyncio.wait_for(roundtrip(), timeout=60)) == payload


# ---------------------------------------------------------- elasticsearch ---


@pytest.fixture
def es(elasticsearch_url):
    from elasticsearch import Elasticsearch

    kwargs = {"request_timeout": 30}
    if os.environ.get("MODELSCREEN_ELASTICSEARCH_API_KEY"):
        kwargs["api_key"] = os.environ["MODELSCREEN_ELASTICSEARCH_API_KEY"]
    elif os.environ.get("MODELSCREEN_ELASTICSEARCH_USERNAME"):
        kwargs["basic_auth"] = (
            os.environ["MODELSCREEN_ELASTICSEARCH_USERNAME"],
            os.environ.get("MODELSCREEN_ELASTICSEARCH_PASSWORD", ""),
        )
    client = Elasticsearch(elasticsearch_url, **kwargs)
    try:
        yield client
    finally:
        client.close()


def test_elasticsearch_is_version_8(es):
    # _nodes rather than GET / : the minimal local distribution has no root
    # endpoint (see deploy/local/README.md).
    nodes = es.nodes.info(filter_path="nodes.*.version")["nodes"]
    versions = {node["version"] for node in nodes.values()}
    assert versions, "no nodes reported"
    assert all(v.startswith("8.") for v in versions), versions
    health = es.cluster.health(wait_for_status="yellow", timeout="30s")
    assert health["status"] in {"green", "yellow"}


def test_elasticsearch_index_and_search(es):
    index = _name("modelscreen-smoke")
    es.indices.create(
        index=index,
        settings={"number_of_shards": 1, "number_of_replicas": 0},
        mappings={
            "properties": {
                "sha256": {"type": "keyword"},
                "verdict": {"type": "keyword"},
                "summary": {"type": "text"},
                "scanned_at": {"type": "date"},
            }
        },
    )
    try:
        doc = {
            "sha256": "ab" * 32,
            "verdict": "malicious",
            "summary": "pickle opcode GLOBAL os.system found",
            "scanned_at": "2026-01-01T00:00:00Z",
        }
        result = es.index(index=index, id=doc["sha256"], document=doc, refresh="wait_for")
        assert result["result"] == "created"

        hits = es.search(index=index, query={"match": {"summary": "os.system"}})["hits"]
        assert hits["total"]["value"] == 1
        assert hits["hits"][0]["_source"]["verdict"] == "malicious"

        by_term = es.search(index=index, query={"term": {"verdict": "malicious"}})
        assert by_term["hits"]["hits"][0]["_id"] == doc["sha256"]
    finally:
        es.indices.delete(index=index, ignore_unavailable=True)
