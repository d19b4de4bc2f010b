"""The files of a tiny Hub repository whose API responses are recorded in recorded/ (shape of the real API)."""
from __future__ import annotations

import json
from pathlib import Path

from modelscreen.provenance.hf import HttpResponse

RECORDED = Path(__file__).parent / "recorded"
REPO = "example-org/tiny-bert"
COMMIT = "0123456789abcdef0123456789abcdef01234567"
ENDPOINT = "https://hub.test"

FILES = {
    ".gitattributes": b"*.safetensors filter=lfs diff=lfs merge=lfs -text\n",
    "config.json": b'{"architectures": ["BertModel"], "base_model": "google-bert/bert-base-uncased", '
                   b'"datasets": ["example-org/tiny-corpus"]}\n',
    "model.safetensors": b"\x10\x00\x00\x00\x00\x00\x00\x00{}              " + bytes(range(256)) * 4,
    "tokenizer/vocab.txt": b"[PAD]\n[UNK]\n[CLS]\n[SEP]\nhello\nworld\n",
}


def write_snapshot(root: Path) -> Path:
    for rel, data in FILES.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    return root


class Recorded:
    """An HTTP getter that replays recorded/*.json and fails on anything else (no network in tests)."""

    def __init__(self, *names: str):
        self.routes = {}
        for name in names or [p.name for p in RECORDED.glob("*.json")]:
            rec = json.loads((RECORDED / name).read_text())
            self.routes[(rec["request"]["method"], rec["request"]["url"])] = rec
        self.calls: list[tuple[str, str, bytes | None]] = []

    def __call__(self, method, url, body, headers):
        self.calls.append((method, url, body))
        rec = self.routes.get((method, url))
        if rec is None:
            return HttpResponse(404, {}, b'{"error": "Entry not found"}')
        if "body" in rec["request"]:
            assert (body or b"").decode() == rec["request"]["body"]
        resp = rec["response"]
        return HttpResponse(resp["status"], {k.lower(): v for k, v in resp.get("headers", {}).items()},
                            json.dumps(resp["body"]).encode())
