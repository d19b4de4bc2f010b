"""A fake Kibana for the import APIs, in a thread: checks requests the way Kibana does and keeps state.

It implements only what `modelscreen kibana setup` calls:
- POST [/s/{space}]/api/saved_objects/_import[?overwrite=true]
- POST [/s/{space}]/api/detection_engine/rules/_import[?overwrite=true]
and answers like Kibana 8.x: 400 without `kbn-xsrf`, 401 without the expected Authorization header,
404 for an unknown space, 400 for a non-multipart body or a file not named *.ndjson; per-object
`conflict` errors without overwrite, `missing_references` for references that resolve nowhere, and
per-rule errors for rules missing required fields.
"""
from __future__ import annotations

import json
import threading
from email import policy
from email.parser import BytesParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

RULE_REQUIRED = ("rule_id", "name", "description", "risk_score", "severity", "type")


class FakeKibana:
    def __init__(self, *, authorization: str | None, spaces: tuple[str, ...] = ("default",)):
        self.authorization = authorization
        self.spaces = set(spaces) | {"default"}
        self.saved_objects: dict[str, dict[tuple[str, str], dict]] = {}
        self.rules: dict[str, dict[str, dict]] = {}
        self.requests: list[dict] = []
        self.problems: list[str] = []  # request defects that Kibana would also reject
        self.reject_rule_ids: set[str] = set()
        self.lock = threading.Lock()
        handler = self._handler()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeKibana:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    # ------------------------------------------------------------------ request handling
    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def _reply(self, status: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                self._reply(404, {"statusCode": 404, "error": "Not Found", "message": "Not Found"})

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                status, reply = fake.handle(self.path, dict(self.headers.items()), body)
                self._reply(status, reply)

        return Handler

    def _error(self, status: int, message: str) -> tuple[int, dict]:
        self.problems.append(message)
        names = {400: "Bad Request", 401: "Unauthorized", 404: "Not Found"}
        return status, {"statusCode": status, "error": names.get(status, "Error"), "message": message}

    def handle(self, raw_path: str, headers: dict[str, str], body: bytes) -> tuple[int, dict]:
        headers = {k.lower(): v for k, v in headers.items()}
        parts = urlsplit(raw_path)
        query = parse_qs(parts.query)
        path = parts.path
        space = "default"
        if path.startswith("/s/"):
            _, _, space, rest = path.split("/", 3)
            path = "/" + rest
        with self.lock:
            self.requests.append({"path": parts.path, "api": path, "space": space, "query": query,
                                  "headers": headers, "body": body})
        if "kbn-xsrf" not in headers:
            return self._error(400, "Request must contain a kbn-xsrf header.")
        if self.authorization is not None and headers.get("authorization") != self.authorization:
            return self._error(401, "[security_exception]: unable to authenticate user")
        if space not in self.spaces:
            return self._error(404, f"Saved object [space/{space}] not found")
        ctype = headers.get("content-type", "")
        if not ctype.startswith("multipart/form-data") or "boundary=" not in ctype:
            return self._error(400, "[request body]: expected multipart/form-data")
        msg = BytesParser(policy=policy.default).parsebytes(
            f"Content-Type: {ctype}\r\nMIME-Version: 1.0\r\n\r\n".encode() + body)
        files = [p for p in msg.iter_parts() if p.get_param("name", header="content-disposition") == "file"]
        if len(files) != 1:
            return self._error(400, "[request body.file]: expected exactly one file field")
        filename = files[0].get_filename() or ""
        if not filename.endswith(".ndjson"):
            return self._error(400, f"Invalid file extension {filename.rsplit('.', 1)[-1]}")
        content = files[0].get_payload(decode=True) or b""
        try:
            objects = [json.loads(line) for line in content.decode().splitlines() if line.strip()]
        except ValueError as exc:
            return self._error(400, f"Unexpected token in NDJSON: {exc}")
        overwrite = query.get("overwrite") == ["true"]
        if path == "/api/saved_objects/_import":
            return 200, self._import_saved_objects(space, objects, overwrite)
        if path == "/api/detection_engine/rules/_import":
            return 200, self._import_rules(space, objects, overwrite)
        return self._error(404, f"no route {path}")

    def _import_saved_objects(self, space: str, objects: list[dict], overwrite: bool) -> dict:
        store = self.saved_objects.setdefault(space, {})
        batch = {(o.get("type"), o.get("id")) for o in objects}
        errors, results = [], []
        for o in objects:
            key = (o.get("type"), o.get("id"))
            title = (o.get("attributes") or {}).get("title")
            if not o.get("type") or not o.get("id") or not isinstance(o.get("attributes"), dict):
                errors.append({"id": o.get("id"), "type": o.get("type"), "title": title,
                               "error": {"type": "unknown", "message": "invalid saved object"}})
                continue
            missing = [{"type": r["type"], "id": r["id"]} for r in o.get("references", [])
                       if (r["type"], r["id"]) not in batch and (r["type"], r["id"]) not in store]
            if missing:
                errors.append({"id": o["id"], "type": o["type"], "title": title, "meta": {"title": title},
                               "error": {"type": "missing_references", "references": missing}})
                continue
            existed = key in store
            if existed and not overwrite:
                errors.append({"id": o["id"], "type": o["type"], "title": title, "meta": {"title": title},
                               "error": {"type": "conflict"}})
                continue
            store[key] = o
            result = {"type": o["type"], "id": o["id"], "meta": {"title": title}}
            if existed:
                result["overwrite"] = True
            results.append(result)
        reply = {"success": not errors, "successCount": len(results), "warnings": []}
        if results:
            reply["successResults"] = results
        if errors:
            reply["errors"] = errors
        return reply

    def _import_rules(self, space: str, rules: list[dict], overwrite: bool) -> dict:
        store = self.rules.setdefault(space, {})
        errors, ok = [], 0
        for r in rules:
            rule_id = r.get("rule_id", "(unknown)")
            missing = [k for k in RULE_REQUIRED if k not in r]
            if r.get("type") in ("query", "threshold") and "query" not in r:
                missing.append("query")
            if r.get("type") == "threshold" and "threshold" not in r:
                missing.append("threshold")
            if missing:
                errors.append({"rule_id": rule_id, "error": {"status_code": 400,
                                                             "message": f"{', '.join(missing)}: Required"}})
                continue
            if rule_id in self.reject_rule_ids:
                errors.append({"rule_id": rule_id, "error": {"status_code": 400, "message": "rejected by test"}})
                continue
            if rule_id in store and not overwrite:
                errors.append({"rule_id": rule_id, "error": {"status_code": 409,
                                                             "message": f'rule_id: "{rule_id}" already exists'}})
                continue
            store[rule_id] = r
            ok += 1
        return {"errors": errors, "success": not errors, "success_count": ok, "rules_count": len(rules),
                "exceptions_success": True, "exceptions_success_count": 0, "exceptions_errors": [],
                "action_connectors_success": True, "action_connectors_success_count": 0,
                "action_connectors_errors": [], "action_connectors_warnings": []}
