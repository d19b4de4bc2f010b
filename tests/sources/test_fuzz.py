"""Whatever arrives, intake either returns ArtifactEvents or raises InvalidEvent: nothing else escapes."""
import json
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modelscreen.schemas.events import ArtifactEvent
from modelscreen.sources import InvalidEvent, normalise_raw
from modelscreen.sources.intake import RECOGNISERS

PAYLOADS = Path(__file__).parent / "payloads"
SAMPLES = [json.loads(p.read_text()) for p in sorted(PAYLOADS.glob("*.json"))]
KEYS = sorted(
    {"specversion", "type", "id", "source", "data", "event_data", "resources", "Records", "s3", "eventName",
     "event", "repo", "domain", "event_type", "nodeId", "initiator", "asset", "action", "scope", "bucket",
     "object", "key", "digest", "resource_url", "repository", "updatedRefs", "headSha", "name", "sha256"}
)

scalars = st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70) | st.floats(
    allow_nan=False, allow_infinity=False
) | st.text(max_size=40) | st.sampled_from(["1.0", "PUSH_ARTIFACT", "artifact", "deployed", "repo.content",
                                            "ObjectCreated:Put", "sha256:" + "a" * 64, "a" * 64, "s3://b/k"])
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=10), children, max_size=5),
    max_leaves=25,
)
json_objects = st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=10), json_values, max_size=8)
header_lists = st.lists(
    st.tuples(
        st.sampled_from(["ce_specversion", "ce_type", "ce_id", "ce_source", "ce_time", "content-type",
                         "x-nexus-webhook-id"]) | st.text(max_size=12),
        st.binary(max_size=30) | st.sampled_from([b"1.0", b"io.modelscreen.artifact.uploaded", b"application/json"]),
    ),
    max_size=6,
)


def _check(value: bytes, headers) -> None:
    try:
        events = normalise_raw(value, headers)
    except InvalidEvent as exc:
        assert exc.code and exc.reason
        return
    assert isinstance(events, list)
    assert all(isinstance(e, ArtifactEvent) for e in events)


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=300), header_lists)
def test_random_bytes(value, headers):
    _check(value, headers)


@settings(max_examples=400, deadline=None)
@given(json_objects, header_lists)
def test_random_json_objects(obj, headers):
    _check(json.dumps(obj).encode(), headers)
    for _name, module in RECOGNISERS:
        assert module.recognise(obj, {}) in (True, False)


def _paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _paths(v, prefix + (i,))


def _replace(node, path, value):
    if not path:
        return value
    node = json.loads(json.dumps(node))
    cursor = node
    for step in path[:-1]:
        cursor = cursor[step]
    cursor[path[-1]] = value
    return node


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_mutated_samples(data):
    """Realistic payloads with one subtree replaced by random JSON: still only events or InvalidEvent."""
    sample = data.draw(st.sampled_from(SAMPLES))
    path = data.draw(st.sampled_from(list(_paths(sample))))
    mutated = _replace(sample, path, data.draw(json_values))
    _check(json.dumps(mutated).encode(), [])


@settings(max_examples=200, deadline=None)
@given(json_values, header_lists)
def test_binary_cloudevents_with_random_data(value, headers):
    ce = [("ce_specversion", b"1.0"), ("ce_id", b"1"), ("ce_source", b"/x"),
          ("ce_type", b"io.modelscreen.artifact.uploaded")]
    _check(json.dumps(value).encode(), ce + headers)
