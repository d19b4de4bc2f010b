"""Amazon S3 and MinIO bucket notifications (the `Records` format).

eventName -> action: `ObjectCreated:*` uploaded, `ObjectRemoved:*` and `LifecycleExpiration:*` deleted,
MinIO `s3:ObjectAccessed:Get` downloaded. Everything else (HEAD, tagging, ACLs, restores, retention and
legal-hold changes that MinIO files under ObjectCreated) changes no content and yields no event.
Keys arrive URL-encoded with `+` for space and are decoded with unquote_plus; `name` is the decoded key,
the URI re-encodes it (percent-encoding, so `?`, `#` and `%` in keys survive) and pins the versionId.
"""
from __future__ import annotations

import re
from urllib.parse import unquote_plus

from modelscreen.schemas.events import Action, ArtifactEvent

from modelscreen.sources.base import (
    InvalidEvent,
    build,
    content_id,
    dedupe,
    get_dict,
    get_list,
    get_size,
    get_str,
    parse_time,
    quote_path,
)

# MinIO files these metadata-only operations under ObjectCreated; the content does not change.
_METADATA_ONLY = {"PutRetention", "PutLegalHold", "PutTagging", "DeleteTagging"}
_BUCKET_RE = re.compile(r"[A-Za-z0-9._-]{1,255}")


def object_uri(bucket: str, key: str, version: str | None = None) -> str:
    """`s3://bucket/<percent-encoded key>[?versionId=...]`: the exact object version the event is about
    (modelscreen.fetch.s3 un-quotes the path and reads versionId). `name` keeps the decoded key."""
    uri = f"s3://{bucket}/{quote_path(key, safe='/')}"
    if version:
        uri += f"?versionId={quote_path(version, safe='')}"
    return uri


def _is_record(rec: object) -> bool:
    return isinstance(rec, dict) and isinstance(rec.get("s3"), dict) and isinstance(rec.get("eventName"), str)


def _is_test_event(payload: dict) -> bool:
    return payload.get("Event") == "s3:TestEvent" and "Records" not in payload


def recognise(payload: dict, headers: dict[str, bytes]) -> bool:
    if _is_test_event(payload):
        return True
    records = payload.get("Records")
    return isinstance(records, list) and bool(records) and any(_is_record(r) for r in records)


def is_minio(payload: dict) -> bool:
    """MinIO adds top-level EventName/Key, `eventSource: minio:s3` and a `source` block per record."""
    if isinstance(payload.get("EventName"), str) and isinstance(payload.get("Key"), str):
        return True
    for rec in payload.get("Records") or ():
        if isinstance(rec, dict):
            if rec.get("eventSource") == "minio:s3":
                return True
            resp = rec.get("responseElements")
            if isinstance(resp, dict) and any(str(k).lower().startswith("x-minio-") for k in resp):
                return True
    return False


def action_for(event_name: str) -> Action | None:
    name = event_name.removeprefix("s3:")
    category, _, op = name.partition(":")
    if category == "ObjectCreated":
        return None if op in _METADATA_ONLY else Action.uploaded
    if category in ("ObjectRemoved", "LifecycleExpiration"):
        return Action.deleted
    if name == "ObjectAccessed:Get":
        return Action.downloaded
    return None


def _md5_from_etag(etag: object) -> str | None:
    # The ETag is the MD5 of the content only for single-part uploads (multipart ETags have "-N"), and
    # not for SSE-KMS/SSE-C objects, which the notification cannot tell us: treat it as advisory.
    if not isinstance(etag, str):
        return None
    etag = etag.strip().strip('"').lower()
    if len(etag) == 32 and all(c in "0123456789abcdef" for c in etag):
        return etag
    return None


def normalise(payload: dict, headers: dict[str, bytes]) -> list[ArtifactEvent]:
    if _is_test_event(payload):
        return []
    records = get_list(payload, "Records")
    if not records:
        raise InvalidEvent("Records is empty")
    store = "minio" if is_minio(payload) else "s3"
    events = []
    for i, rec in enumerate(records):
        where = f"Records[{i}]."
        if not isinstance(rec, dict):
            raise InvalidEvent(f"Records[{i}] must be an object")
        event_name = get_str(rec, "eventName", where=where)
        action = action_for(event_name)
        if action is None:
            continue
        s3 = get_dict(rec, "s3", where=where)
        bucket = get_str(get_dict(s3, "bucket", where=where + "s3."), "name", where=where + "s3.bucket.")
        obj = get_dict(s3, "object", where=where + "s3.")
        raw_key = get_str(obj, "key", where=where + "s3.object.")
        try:
            key = unquote_plus(raw_key, errors="strict")
        except UnicodeDecodeError:
            raise InvalidEvent(f"{where}s3.object.key is not URL-encoded UTF-8") from None
        if not key:
            raise InvalidEvent(f"{where}s3.object.key is empty")
        if not _BUCKET_RE.fullmatch(bucket):
            raise InvalidEvent(f"{where}s3.bucket.name is not a bucket name")
        version = get_str(obj, "versionId", required=False, where=where + "s3.object.")
        digests = {}
        if action is not Action.deleted and (md5 := _md5_from_etag(obj.get("eTag"))):
            digests["md5"] = md5
        identity = rec.get("userIdentity")
        actor = get_str(identity, "principalId", required=False, where=where + "userIdentity.") if isinstance(identity, dict) else None
        resp = rec.get("responseElements")
        request_id = resp.get("x-amz-request-id") if isinstance(resp, dict) else None
        sequencer = obj.get("sequencer")
        if isinstance(request_id, str) and request_id and isinstance(sequencer, str) and sequencer:
            source_event_id = f"{request_id}:{sequencer}"
        else:
            source_event_id = content_id(rec)
        events.append(
            build(
                action=action,
                store=store,
                store_name=bucket,
                uri=object_uri(bucket, key, version),
                name=key,
                version=version,
                expected_digests=digests,
                size=get_size(obj, "size", where=where + "s3.object.") if action is not Action.deleted else None,
                actor=actor,
                time=parse_time(rec.get("eventTime"), where=where + "eventTime"),
                source_event_id=source_event_id,
                raw_type=event_name,
            )
        )
    return dedupe(events)
