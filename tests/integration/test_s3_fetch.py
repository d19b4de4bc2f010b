"""s3:// fetching against a real S3-compatible server (SeaweedFS), and an S3 bucket notification end to end."""
from __future__ import annotations

import json
import pickle
from pathlib import Path
from urllib.parse import quote

import pytest

from tests.integration.harness import S3_CREDS, Pipeline, own_bucket
from modelscreen.fetch import FetchError
from modelscreen.fetch.base import FetchLimits
from modelscreen.fetch.s3 import client, download

pytestmark = pytest.mark.integration

CREDS = S3_CREDS


class Payload:
    def __reduce__(self):
        import os

        return (os.system, ("touch /nonexistent/s3-canary",))


@pytest.fixture(scope="module")
def _bucket_name(s3_endpoint):
    # one bucket for the module: SeaweedFS grows volumes per bucket
    import os

    os.environ.update(CREDS)
    with own_bucket(client(s3_endpoint, None, 10), "models") as name:
        yield name


@pytest.fixture
def bucket(s3_endpoint, _bucket_name, monkeypatch):
    for k, v in CREDS.items():
        monkeypatch.setenv(k, v)
    return client(s3_endpoint, None, 10), _bucket_name


def test_download_streams_the_object(bucket, s3_endpoint, tmp_path):
    s3, name = bucket
    s3.put_object(Bucket=name, Key="org/model v1/weights.bin", Body=b"x" * 100_000)
    out = download(f"s3://{name}/{quote('org/model v1/weights.bin')}", tmp_path / "a",
                   FetchLimits(max_bytes=1 << 20, timeout=10), endpoint_url=s3_endpoint)
    assert out.read_bytes() == b"x" * 100_000


def test_missing_object_is_permanent_and_oversize_is_refused(bucket, s3_endpoint, tmp_path):
    s3, name = bucket
    with pytest.raises(FetchError) as err:
        download(f"s3://{name}/nope", tmp_path / "a", FetchLimits(max_bytes=1 << 20, timeout=10),
                 endpoint_url=s3_endpoint)
    assert not err.value.transient
    s3.put_object(Bucket=name, Key="big", Body=b"y" * 5000)
    with pytest.raises(FetchError) as err:
        download(f"s3://{name}/big", tmp_path / "b", FetchLimits(max_bytes=1000, timeout=10), endpoint_url=s3_endpoint)
    assert "limit" in err.value.reason and not err.value.transient


def test_unreachable_endpoint_is_transient(tmp_path, monkeypatch):
    for k, v in CREDS.items():
        monkeypatch.setenv(k, v)
    with pytest.raises(FetchError) as err:
        download("s3://b/k", tmp_path / "a", FetchLimits(max_bytes=100, timeout=2), endpoint_url="http://127.0.0.1:9")
    assert err.value.transient


def test_bucket_notification_end_to_end(bucket, s3_endpoint, kafka_bootstrap, elasticsearch_url, tmp_path):
    s3, name = bucket
    key = "team a/model+final.pkl"
    s3.put_object(Bucket=name, Key=key, Body=pickle.dumps(Payload(), protocol=2))
    record = json.loads((Path(__file__).parents[1] / "sources" / "payloads" / "s3_object_created_put.json").read_text())
    rec = record["Records"][0]
    rec["s3"]["bucket"]["name"] = name
    rec["s3"]["bucket"]["arn"] = f"arn:aws:s3:::{name}"
    rec["s3"]["object"]["key"] = quote(key, safe="/").replace("%20", "+")
    rec["s3"]["object"]["size"] = len(pickle.dumps(Payload(), protocol=2))
    rec["s3"]["object"].pop("eTag", None)
    rec["s3"]["object"].pop("versionId", None)
    p = Pipeline(kafka_bootstrap, elasticsearch_url, tmp_path, MODELSCREEN_S3_ENDPOINT_URL=s3_endpoint, **CREDS)
    try:
        p.setup()
        p.start_worker()
        p.send([json.dumps(record).encode()])
        docs = p.wait_for(lambda: [d for d in p.findings_docs() if d["rule"]["id"] == "PICKLE-DANGEROUS-CALL"],
                          timeout=120)
        assert docs, "no finding"
        assert docs[0]["labels"]["store"] == "s3" and docs[0]["modelscreen"]["artifact_uri"].startswith(f"s3://{name}/")
        assert docs[0]["labels"]["artifact_name"] == key
    finally:
        p.close()
