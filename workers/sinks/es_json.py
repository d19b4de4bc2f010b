"""JSON for the Elasticsearch clients: orjson, several times faster than the standard library on the bulk
bodies the pipeline sends per batch, and the standard library's encoder and decoder wherever orjson refuses
(lone surrogates in text that came from scanned bytes, integers wider than 64 bits), so a document always
serialises as before."""
from __future__ import annotations

from typing import Any

import orjson
from elasticsearch.serializer import JsonSerializer, NdjsonSerializer


class _Fast:
    def json_dumps(self, data: Any) -> bytes:
        try:
            return orjson.dumps(data, default=self.default)
        except TypeError:  # orjson.JSONEncodeError
            return super().json_dumps(data)

    def json_loads(self, data: bytes) -> Any:
        try:
            return orjson.loads(data)
        except ValueError:  # orjson.JSONDecodeError
            return super().json_loads(data)


class FastJsonSerializer(_Fast, JsonSerializer):
    pass


class FastNdjsonSerializer(_Fast, NdjsonSerializer):
    pass


def serializers() -> dict[str, Any]:
    """The `serializers` argument of Elasticsearch / AsyncElasticsearch."""
    return {FastJsonSerializer.mimetype: FastJsonSerializer(), FastNdjsonSerializer.mimetype: FastNdjsonSerializer()}
