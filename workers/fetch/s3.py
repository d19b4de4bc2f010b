"""s3:// URIs with boto3: AWS S3, and S3-compatible stores through a configurable endpoint."""
from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlparse

from modelscreen.fetch.base import FetchError, FetchLimits, save_bounded

_TRANSIENT_CODES = {"SlowDown", "InternalError", "ServiceUnavailable", "RequestTimeout", "503", "500"}


def parse(uri: str) -> tuple[str, str, str | None]:
    """s3://bucket/key[?versionId=...] -> (bucket, key, version)."""
    parsed = urlparse(uri)
    if not parsed.netloc or not parsed.path.strip("/"):
        raise FetchError(f"bad s3 URI: {uri}", transient=False)
    version = None
    for part in parsed.query.split("&"):
        if part.startswith("versionId="):
            version = unquote(part.split("=", 1)[1])
    return parsed.netloc, unquote(parsed.path.lstrip("/")), version


def client(endpoint_url: str | None, region: str | None, timeout: float):
    import boto3
    from botocore.config import Config

    cfg = Config(connect_timeout=timeout, read_timeout=timeout, retries={"max_attempts": 3, "mode": "standard"},
                 s3={"addressing_style": "path"} if endpoint_url else None)
    return boto3.client("s3", endpoint_url=endpoint_url, region_name=region or "us-east-1", config=cfg)


def download(uri: str, dest: Path, limits: FetchLimits, *, endpoint_url: str | None = None,
             region: str | None = None) -> Path:
    from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError

    bucket, key, version = parse(uri)
    try:
        s3 = client(endpoint_url, region, limits.timeout)
        kw = {"Bucket": bucket, "Key": key}
        if version:
            kw["VersionId"] = version
        obj = s3.get_object(**kw)
        return save_bounded(obj["Body"].read, dest, limits, announced=obj.get("ContentLength"))
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        raise FetchError(f"S3 {code} for {uri}", transient=code in _TRANSIENT_CODES) from exc
    except (EndpointConnectionError, BotoCoreError) as exc:
        raise FetchError(f"cannot reach S3 for {uri}: {exc}", transient=True) from exc


def fetch(uri: str, dest: Path, limits: FetchLimits, settings) -> Path:
    """The fetcher signature (fetch.FETCHERS): the endpoint and region come from the settings."""
    return download(uri, dest, limits, endpoint_url=settings.s3_endpoint_url, region=settings.s3_region)
