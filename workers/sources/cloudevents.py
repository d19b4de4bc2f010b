"""CloudEvents 1.0, structured mode (a JSON object with `specversion`) and Kafka binary mode
(`ce_*` headers, the value is the data).

The project's own types `io.modelscreen.artifact.uploaded|downloaded` carry
`{"uri", "name", "version", "sha256", "size", "actor"}` (ModelscreenCloudEventData); their store is
"local" for file:// URIs, else "cloudevents", and store_name is the CloudEvents `source`.
Harbor's CloudEvents format (`harbor.artifact.pushed|pulled|deleted`) is unwrapped into Harbor's default
format; any other type whose `data` one of the store recognisers accepts is delegated to that store.
"""
from __future__ import annotations

import base64
import binascii
import json

from pydantic import ValidationError

from modelscreen.schemas.events import Action, ArtifactEvent, ModelscreenCloudEventData

from modelscreen.sources import harbor
from modelscreen.sources.base import InvalidEvent, build, get_str, header, now, parse_time
from modelscreen.sources.registry import STORE_RECOGNISERS

OWN_TYPES = {
    "io.modelscreen.artifact.uploaded": Action.uploaded,
    "io.modelscreen.artifact.downloaded": Action.downloaded,
}
HARBOR_TYPES = {
    "harbor.artifact.pushed": "PUSH_ARTIFACT",
    "harbor.artifact.pulled": "PULL_ARTIFACT",
    "harbor.artifact.deleted": "DELETE_ARTIFACT",
}
STRUCTURED_CONTENT_TYPE = "application/cloudevents+json"


def is_binary(headers: dict[str, bytes]) -> bool:
    return "ce_specversion" in headers


def recognise(payload: dict, headers: dict[str, bytes]) -> bool:
    return "specversion" in payload or is_binary(headers)


def _is_json_type(content_type: str | None) -> bool:
    if content_type is None:
        return True  # CloudEvents: absent datacontenttype means application/json
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or media.endswith("+json") or media == "text/json"


def _attributes(payload: dict, headers: dict[str, bytes]) -> tuple[dict, object]:
    """(context attributes, data) from either mode."""
    if is_binary(headers) and not (
        (header(headers, "content-type") or "").lower().startswith(STRUCTURED_CONTENT_TYPE)
    ):
        attrs = {}
        for key in headers:
            if key.startswith("ce_") and len(key) > 3:
                attrs[key[3:]] = header(headers, key)
        attrs["datacontenttype"] = header(headers, "content-type")
        return attrs, payload
    attrs = {k: v for k, v in payload.items() if k not in ("data", "data_base64")}
    if "data_base64" in payload:
        if "data" in payload:
            raise InvalidEvent("both data and data_base64 are present")
        encoded = payload["data_base64"]
        if not isinstance(encoded, str):
            raise InvalidEvent("data_base64 must be a string")
        try:
            raw = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidEvent("data_base64 is not base64") from None
        if not _is_json_type(attrs.get("datacontenttype")):
            raise InvalidEvent("data_base64 is not JSON", code="unsupported")
        try:
            data = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
        except (UnicodeDecodeError, ValueError, RecursionError):
            raise InvalidEvent("data_base64 does not hold JSON", code="not-json") from None
        return attrs, data
    return attrs, payload.get("data")


def _reject_constant(name: str):
    raise ValueError(f"{name} is not JSON")


def normalise(payload: dict, headers: dict[str, bytes]) -> list[ArtifactEvent]:
    attrs, data = _attributes(payload, headers)
    if attrs.get("specversion") != "1.0":
        raise InvalidEvent("specversion must be 1.0")
    ce_type = get_str(attrs, "type")
    ce_id = get_str(attrs, "id")
    ce_source = get_str(attrs, "source")
    content_type = attrs.get("datacontenttype")
    if content_type is not None and not isinstance(content_type, str):
        raise InvalidEvent("datacontenttype must be a string")
    if not _is_json_type(content_type):
        raise InvalidEvent(f"data content type {content_type!r} is not JSON", code="unsupported")
    time = attrs.get("time")
    when = parse_time(time) if time is not None else now()

    if ce_type in OWN_TYPES:
        if not isinstance(data, dict):
            raise InvalidEvent(f"{ce_type} data must be an object")
        try:
            body = ModelscreenCloudEventData.model_validate(data)
        except ValidationError as exc:
            err = exc.errors()[0]
            loc = ".".join(str(p) for p in err.get("loc", ())) or "data"
            code = "bad-sha256" if loc == "sha256" else "invalid"
            raise InvalidEvent(f"data.{loc}: {err.get('msg')}", code=code) from None
        return [
            build(
                action=OWN_TYPES[ce_type],
                store="local" if body.uri.startswith("file://") else "cloudevents",
                store_name=ce_source,
                uri=body.uri,
                name=body.name,
                version=body.version,
                expected_sha256=body.sha256,
                size=body.size,
                actor=body.actor,
                time=when,
                source_event_id=ce_id,
                raw_type=ce_type,
            )
        ]
    if ce_type.startswith("io.modelscreen."):
        raise InvalidEvent(f"unknown modelscreen event type {ce_type!r}", code="unsupported")

    if ce_type in HARBOR_TYPES or ce_type.startswith("harbor."):
        if not isinstance(data, dict):
            raise InvalidEvent("harbor data must be an object")
        if ce_type not in HARBOR_TYPES:
            return []  # harbor.scan.completed, quota, replication, ...
        default_format = {
            "type": HARBOR_TYPES[ce_type],
            "occur_at": time if time is not None else when.isoformat(),
            "operator": attrs.get("operator"),
            "event_data": data,
        }
        return harbor.normalise(default_format, headers, source_event_id=ce_id)

    if isinstance(data, dict):
        for _name, module in STORE_RECOGNISERS:
            if module.recognise(data, headers):
                return module.normalise(data, headers)
    raise InvalidEvent(f"CloudEvents type {ce_type!r} carries no recognised artifact payload", code="unrecognised")
