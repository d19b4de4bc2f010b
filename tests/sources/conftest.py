import json
from pathlib import Path

import pytest

PAYLOADS = Path(__file__).parent / "payloads"


def _load(name: str) -> dict:
    return json.loads((PAYLOADS / name).read_text())


def _raw(name: str) -> bytes:
    return (PAYLOADS / name).read_bytes()


@pytest.fixture
def load():
    """load("s3_object_created_put.json") -> the parsed sample payload."""
    return _load


@pytest.fixture
def raw():
    """raw("s3_object_created_put.json") -> the sample payload's bytes."""
    return _raw
