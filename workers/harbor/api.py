"""The adapter's HTTP API (Harbor pluggable scanner spec v1.2), under /api/v1:

    GET  /api/v1/metadata                  scanner, capabilities, properties (Harbor pings it before scans)
    POST /api/v1/scan                      202 {"id"} at once; the scan runs in the background
    GET  /api/v1/scan/{id}/report          negotiated by Accept; 302 + Refresh-After while not ready
    GET  /probe/healthy, /probe/ready      liveness and readiness (no credentials)

Errors carry the spec's body `{"error": {"message": ...}}` as application/vnd.scanner.adapter.error+json:
400 malformed JSON or a JSON value of the wrong type (or an SBOM report asked without a valid
sbom_media_type), 401 wrong or missing adapter credentials, 404 unknown scan id, 422 a missing or invalid
field (no digest, a digest that is not sha256:<hex>, a registry URL that is not http(s)), 500 a scan that
failed (an artifact not in the registry, a registry that refused the robot credentials) or an internal
error, 501 an artifact MIME type or report type the adapter does not handle.
"""
from __future__ import annotations

import json
import logging

from aiohttp import web
from pydantic import ValidationError

from modelscreen import __version__
from modelscreen.engine import ENGINE_VERSION
from modelscreen.harbor import media
from modelscreen.harbor.auth import API_KEY_HEADER, AdapterAuth
from modelscreen.harbor.jobs import Job, Jobs, JobStatus, TooManyJobs
from modelscreen.harbor.package import target_of
from modelscreen.harbor.reports import SCANNER, render
from modelscreen.schemas.harbor import ScanRequest

log = logging.getLogger("modelscreen.harbor.api")

JOBS_KEY = web.AppKey("jobs", Jobs)
AUTH_KEY = web.AppKey("auth", AdapterAuth)
OPTIONS_KEY = web.AppKey("options", dict)

CONSUMES = [media.OCI_MANIFEST, media.DOCKER_MANIFEST]
VULNERABILITY_REPORTS = [media.NATIVE_REPORT, media.GENERIC_REPORT]
# Pydantic error kinds that mean "a field is missing or has an invalid value" (422); other kinds mean a
# JSON value of the wrong type (400).
_INVALID_FIELD = {"missing", "string_pattern_mismatch", "string_too_short", "string_too_long", "value_error",
                  "too_long"}


def error(status: int, message: str, **headers: str) -> web.Response:
    return web.Response(status=status, body=json.dumps({"error": {"message": message}}).encode(),
                        headers={"Content-Type": media.ERROR, **headers})


def _json(status: int, body: str, content_type: str, **headers: str) -> web.Response:
    return web.Response(status=status, body=body.encode(), headers={"Content-Type": content_type, **headers})


def metadata(*, registry_authorization: str, ruleset_version: str | None, model_capability: bool) -> dict:
    """Every capability lists the Docker v2 manifest type (Harbor refuses metadata where one does not) and
    a report type Harbor knows."""
    capabilities = [
        {"type": "vulnerability", "consumes_mime_types": CONSUMES, "produces_mime_types": VULNERABILITY_REPORTS},
        {"type": "sbom", "consumes_mime_types": CONSUMES, "produces_mime_types": [media.SBOM_REPORT],
         "additional_attributes": {"sbom_media_types": list(media.SBOM_MEDIA_TYPES)}},
    ]
    if model_capability:  # Harbor's proposed model-security scan type (not in the spec's enum yet)
        capabilities.append({"type": "model-security",
                             "consumes_mime_types": [*CONSUMES, media.MODEL_MANIFEST],
                             "produces_mime_types": [media.MODEL_REPORT, media.GENERIC_REPORT]})
    properties = {
        "harbor.scanner-adapter/scanner-type": "model-security",
        "harbor.scanner-adapter/registry-authorization-type": registry_authorization,
        "org.label-schema.version": __version__,
        "org.label-schema.vendor": "modelscreen",
        "modelscreen/engine-version": ENGINE_VERSION,
        "modelscreen/ruleset-version": ruleset_version,
        "modelscreen/report-types": ", ".join(media.REPORT_TYPES),
    }
    return {"scanner": SCANNER.model_dump(), "capabilities": capabilities,
            "properties": {k: v for k, v in properties.items() if v}}  # Harbor rejects empty values


@web.middleware
async def _guard(request: web.Request, handler):
    if request.path.startswith("/api/") and not request.app[AUTH_KEY].allows(request.headers):
        return error(401, "missing or wrong adapter credentials (Bearer, Basic or " + API_KEY_HEADER + ")",
                     **{"WWW-Authenticate": 'Bearer realm="modelscreen"'})
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status >= 400:
            return error(exc.status, exc.reason)
        raise
    except Exception:  # noqa: BLE001 - the spec's 500 body, never a bare traceback page
        log.exception("%s %s failed", request.method, request.path)
        return error(500, "internal error")


async def get_metadata(request: web.Request) -> web.Response:
    opts = request.app[OPTIONS_KEY]
    wanted = media.accepted(request.headers.get("Accept"), (media.METADATA_1_1, media.METADATA_1_0))
    body = metadata(registry_authorization=opts["registry_authorization"], ruleset_version=opts["ruleset_version"],
                    model_capability=opts["model_capability"])
    return _json(200, json.dumps(body), wanted or media.METADATA_1_1)


def _validation_status(exc: ValidationError) -> int:
    return 422 if all(e["type"] in _INVALID_FIELD for e in exc.errors()) else 400


def _describe(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors()[:5])


async def post_scan(request: web.Request) -> web.Response:
    opts = request.app[OPTIONS_KEY]
    if request.content_length is not None and request.content_length > opts["max_body"]:
        return error(400, f"the scan request is larger than {opts['max_body']} bytes")
    raw = await request.content.read(opts["max_body"] + 1)
    if len(raw) > opts["max_body"]:
        return error(400, f"the scan request is larger than {opts['max_body']} bytes")
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        return error(400, f"the scan request is not valid JSON: {exc}")
    if not isinstance(body, dict):
        return error(400, "the scan request must be a JSON object")
    try:
        scan = ScanRequest.model_validate(body)
    except ValidationError as exc:
        return error(_validation_status(exc), f"invalid scan request: {_describe(exc)}")
    try:
        target_of(scan)
    except ValueError as exc:
        return error(422, f"invalid scan request: {exc}")
    mime = scan.artifact.mime_type
    if mime and media.normalise(mime) not in {media.normalise(m) for m in opts["consumes"]}:
        return error(501, f"artifacts of MIME type {mime!r} are not handled; handled: {', '.join(opts['consumes'])}")
    if scan.enabled_capabilities is not None and not any(
            c.type in opts["capability_types"] for c in scan.enabled_capabilities):
        return error(501, "none of the enabled capabilities is offered: "
                          + ", ".join(sorted({c.type for c in scan.enabled_capabilities})))
    try:
        job = request.app[JOBS_KEY].submit(scan)
    except TooManyJobs as exc:
        return error(500, f"too many scans in progress: {exc}")
    return _json(202, json.dumps({"id": job.id}), media.SCAN_RESPONSE)


async def get_report(request: web.Request) -> web.Response:
    job: Job | None = request.app[JOBS_KEY].get(request.match_info["scan_id"])
    if job is None:
        return error(404, "no scan request with this id (unknown, or its report has expired)")
    accept = request.headers.get("Accept")
    mime = media.accepted(accept, media.REPORT_TYPES)
    if mime is None:
        return error(501, f"report type {accept!r} is not produced; produced: {', '.join(media.REPORT_TYPES)}")
    sbom_type = None
    if mime == media.SBOM_REPORT:
        sbom_type = request.query.get("sbom_media_type")
        if sbom_type not in media.SBOM_MEDIA_TYPES:
            return error(400, "an SBOM report needs ?sbom_media_type= one of " + ", ".join(media.SBOM_MEDIA_TYPES))
    if job.status in (JobStatus.queued, JobStatus.running):
        return web.Response(status=302, headers={"Refresh-After": str(request.app[OPTIONS_KEY]["refresh_after"])})
    if job.status is JobStatus.failed or job.result is None:
        return error(500, f"the scan failed: {job.error or 'no result'}")
    return _json(200, render(job.result, mime, sbom_media_type=sbom_type), mime)


async def healthy(request: web.Request) -> web.Response:
    return web.Response(text="ok\n")


def create_app(jobs: Jobs, auth: AdapterAuth, *, registry_authorization: str = "Basic",
               ruleset_version: str | None = None, refresh_after: int = 5, max_body: int = 64 * 1024,
               model_capability: bool = False) -> web.Application:
    app = web.Application(middlewares=[_guard], client_max_size=max_body)
    consumes = [*CONSUMES, media.MODEL_MANIFEST]
    types = {"vulnerability", "sbom"} | ({"model-security"} if model_capability else set())
    app[JOBS_KEY], app[AUTH_KEY] = jobs, auth
    app[OPTIONS_KEY] = dict(registry_authorization=registry_authorization, ruleset_version=ruleset_version,
                            refresh_after=refresh_after, max_body=max_body, model_capability=model_capability,
                            consumes=consumes, capability_types=types)
    app.router.add_get("/api/v1/metadata", get_metadata)
    app.router.add_post("/api/v1/scan", post_scan)
    app.router.add_get("/api/v1/scan/{scan_id}/report", get_report)
    app.router.add_get("/probe/healthy", healthy)
    app.router.add_get("/probe/ready", healthy)

    async def _close(app: web.Application) -> None:
        await app[JOBS_KEY].close()

    app.on_cleanup.append(_close)
    return app
