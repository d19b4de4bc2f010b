"""A loopback HTTP server standing in for a store's download API (the Hub, Artifactory, Nexus): fixed routes,
an optional required Authorization value, a log of what was asked with which Authorization header."""
from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import quote


@dataclass
class Route:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] | None = None
    auth: str | None = None  # required Authorization value
    challenge: str | None = None  # WWW-Authenticate sent with the 401 when it is missing


class StoreServer:
    def __init__(self):
        self.routes: dict[str, Route] = {}
        self.requests: list[tuple[str, str | None]] = []  # (path with query, Authorization)
        self.fail_next = 0  # answer this many requests with 503 first
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                server.requests.append((self.path, self.headers.get("Authorization")))
                if server.fail_next > 0:
                    server.fail_next -= 1
                    return self._send(Route(503, b"busy"))
                route = server.routes.get(self.path)
                if route is None:
                    return self._send(Route(404, b'{"error": "Entry not found"}'))
                if route.auth and self.headers.get("Authorization") != route.auth:
                    challenge = {"WWW-Authenticate": route.challenge} if route.challenge else None
                    return self._send(Route(401, b'{"error": "Unauthorized"}', challenge))
                return self._send(route)

            def _send(self, route: Route):
                self.send_response(route.status)
                for k, v in (route.headers or {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(route.body)))
                self.end_headers()
                self.wfile.write(route.body)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def git_blob_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()  # noqa: S324 - git's object id


def serve_hub_repo(server: StoreServer, repo: str, commit: str, files: dict[str, tuple[bytes, bool]], *,
                   served: dict[str, bytes] | None = None, kind: str = "models", token: str | None = None) -> None:
    """A Hub repository at a commit in the shape of the Hub's API: the tree listing (directories included,
    LFS files with lfs.oid) and resolve/ URLs (LFS files redirect to a CDN path, as the Hub does).
    `files`: path -> (content, is_lfs), what the listing states; `served`: path -> other bytes to serve."""
    served = served or {}
    auth = f"Bearer {token}" if token else None
    entries, dirs = [], set()
    prefix = "" if kind == "models" else f"{kind}/"
    for path, (data, lfs) in sorted(files.items()):
        parts = path.split("/")
        dirs.update("/".join(parts[:i]) for i in range(1, len(parts)))
        entry = {"type": "file", "oid": git_blob_sha1(data), "size": len(data), "path": path}
        if lfs:
            sha = hashlib.sha256(data).hexdigest()
            entry["oid"] = git_blob_sha1(f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha}\n".encode())
            entry["lfs"] = {"oid": sha, "size": len(data), "pointerSize": 134}
        entries.append(entry)
        body = served.get(path, data)
        resolve = f"/{prefix}{repo}/resolve/{commit}/{quote(path, safe='/')}"
        if lfs:
            cdn = f"/cdn/{hashlib.sha256(body).hexdigest()}"
            server.routes[resolve] = Route(302, b"", {"Location": server.url + cdn}, auth=auth)
            server.routes[cdn] = Route(200, body)
        else:
            server.routes[resolve] = Route(200, body, auth=auth)
    entries += [{"type": "directory", "oid": "0" * 40, "size": 0, "path": d} for d in sorted(dirs)]
    listing = f"/api/{kind}/{repo}/tree/{commit}?recursive=true&expand=true"
    server.routes[listing] = Route(200, json.dumps(entries).encode(), {"Content-Type": "application/json"}, auth=auth)
