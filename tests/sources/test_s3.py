from datetime import datetime, timezone

import pytest

from modelscreen.fetch import s3 as fetch_s3
from modelscreen.sources import s3
from modelscreen.sources.base import InvalidEvent
from modelscreen.sources.intake import normalise_raw


def test_object_created_put(raw):
    (ev,) = normalise_raw(raw("s3_object_created_put.json"), [])
    assert ev.action.value == "uploaded"
    assert ev.store.value == "s3"
    assert ev.store_name == "ml-models-prod"
    # `+` is a space and %28/%29 are parentheses in S3 notification keys
    assert ev.name == "team-a/resnet50/v3/my model (final).pt"
    # the URI is percent-encoded and pins the object version
    assert ev.uri == (
        "s3://ml-models-prod/team-a/resnet50/v3/my%20model%20%28final%29.pt?versionId=096fKKXTRTtl3on89fVO.nfljtsv6qko"
    )
    assert ev.version == "096fKKXTRTtl3on89fVO.nfljtsv6qko"
    assert ev.size == 102502400
    assert ev.expected_digests == {"md5": "d41d8cd98f00b204e9800998ecf8427e"}
    assert ev.expected_sha256 is None
    assert ev.actor == "AWS:AIDAJDPLRKLG7UEXAMPLE"
    assert ev.time == datetime(2024, 5, 14, 9, 21, 37, 512000, tzinfo=timezone.utc)
    assert ev.raw_type == "ObjectCreated:Put"
    assert ev.source_event_id == "C3D13FE58DE4C810:0055AED6DCD90281E5"


def test_multipart_etag_is_not_md5_and_delete(raw):
    up, gone = normalise_raw(raw("s3_multipart_and_delete.json"), [])
    assert up.action.value == "uploaded" and up.expected_digests == {}
    assert up.size == 9976578928
    assert gone.action.value == "deleted"
    assert gone.uri == "s3://ml-models-prod/old/model.pkl"
    assert gone.name == "old/model.pkl"
    assert gone.size is None


@pytest.mark.parametrize(
    "raw_key, key",
    [
        ("a+b.bin", "a b.bin"),
        ("a%2Bb.bin", "a+b.bin"),
        ("dir%2Fsub/x%20y.pt", "dir/sub/x y.pt"),
        ("%E6%A8%A1%E5%9E%8B.pt", "\u6a21\u578b.pt"),
        ("100%25.bin", "100%.bin"),
        ("what%3F%23.bin", "what?#.bin"),
    ],
)
def test_key_url_decoding(load, raw_key, key):
    payload = load("s3_object_created_put.json")
    payload["Records"][0]["s3"]["object"]["key"] = raw_key
    (ev,) = s3.normalise(payload, {})
    assert ev.name == key
    # what the S3 fetcher reads back out of the URI is the decoded key and the version
    assert fetch_s3.parse(ev.uri) == ("ml-models-prod", key, "096fKKXTRTtl3on89fVO.nfljtsv6qko")


def test_key_with_invalid_utf8_escape_is_invalid(load):
    payload = load("s3_object_created_put.json")
    payload["Records"][0]["s3"]["object"]["key"] = "bad%FF.bin"
    with pytest.raises(InvalidEvent):
        s3.normalise(payload, {})


def test_minio_put_is_store_minio(raw):
    (ev,) = normalise_raw(raw("minio_put.json"), [])
    assert ev.store.value == "minio"
    assert ev.store_name == "models"
    assert ev.uri == "s3://models/bert/pytorch_model.bin"  # %2F decoded
    assert ev.action.value == "uploaded"
    assert ev.raw_type == "s3:ObjectCreated:Put"
    assert ev.expected_digests == {"md5": "9b2cf535f27731c974343645a3985328"}
    assert ev.actor == "ci-uploader"


def test_minio_get_is_download_head_is_nothing(raw):
    (ev,) = normalise_raw(raw("minio_get.json"), [])
    assert ev.action.value == "downloaded" and ev.store.value == "minio"
    assert normalise_raw(raw("minio_head.json"), []) == []


def test_minio_detected_by_event_source_alone(load):
    payload = load("minio_put.json")
    del payload["EventName"], payload["Key"]
    del payload["Records"][0]["responseElements"]["x-minio-deployment-id"]
    del payload["Records"][0]["responseElements"]["x-minio-origin-endpoint"]
    assert s3.is_minio(payload)
    payload["Records"][0]["eventSource"] = "aws:s3"
    assert not s3.is_minio(payload)


@pytest.mark.parametrize(
    "name, action",
    [
        ("ObjectCreated:Put", "uploaded"),
        ("ObjectCreated:Copy", "uploaded"),
        ("ObjectCreated:CompleteMultipartUpload", "uploaded"),
        ("s3:ObjectCreated:PutRetention", None),
        ("s3:ObjectCreated:PutTagging", None),
        ("ObjectRemoved:Delete", "deleted"),
        ("ObjectRemoved:DeleteMarkerCreated", "deleted"),
        ("LifecycleExpiration:Delete", "deleted"),
        ("s3:ObjectAccessed:Get", "downloaded"),
        ("s3:ObjectAccessed:Head", None),
        ("ObjectRestore:Completed", None),
        ("ObjectTagging:Put", None),
    ],
)
def test_event_name_mapping(name, action):
    got = s3.action_for(name)
    assert (got.value if got else None) == action


def test_test_event_yields_nothing(raw):
    assert normalise_raw(raw("s3_test_event.json"), []) == []


def test_redelivery_same_event_id(raw):
    a = normalise_raw(raw("s3_object_created_put.json"), [])
    b = normalise_raw(raw("s3_object_created_put.json"), [])
    assert [e.event_id for e in a] == [e.event_id for e in b]


def test_missing_bucket_is_invalid(load):
    payload = load("s3_object_created_put.json")
    del payload["Records"][0]["s3"]["bucket"]
    with pytest.raises(InvalidEvent, match="bucket"):
        s3.normalise(payload, {})
