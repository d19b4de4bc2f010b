"""Embedded findings store: artifact state and findings in one SQLite file.

Writes are idempotent: a finding's id is derived from what it is about, so scanning the same bytes
again refreshes rows instead of duplicating them.
"""
from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from modelscreen.schemas import ArtifactReport, Severity
from modelscreen.schemas.text import is_encodable, printable_text
from modelscreen.settings import Settings

SCHEMA = """
CREATE TABLE IF NOT EXISTS artifacts (
    sha256 TEXT PRIMARY KEY,
    size INTEGER,
    format TEXT,
    verdict TEXT NOT NULL,
    first_seen TEXT NOT NULL,
    last_seen TEXT NOT NULL,
    engine_version TEXT,
    paths TEXT NOT NULL DEFAULT '[]',
    counts TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE IF NOT EXISTS findings (
    id TEXT PRIMARY KEY,
    seen TEXT NOT NULL,
    path TEXT NOT NULL,
    sha256 TEXT,
    verdict TEXT NOT NULL,
    rule_id TEXT NOT NULL,
    severity TEXT NOT NULL,
    severity_rank INTEGER NOT NULL,
    title TEXT NOT NULL,
    detail TEXT,
    location TEXT,
    evidence TEXT,
    event_id TEXT,
    action TEXT
);
CREATE INDEX IF NOT EXISTS findings_sha ON findings(sha256);
CREATE INDEX IF NOT EXISTS findings_rank ON findings(severity_rank);
CREATE TABLE IF NOT EXISTS watched_files (
    path TEXT PRIMARY KEY,
    mtime_ns INTEGER NOT NULL,
    size INTEGER NOT NULL,
    sha256 TEXT
);
"""


def default_db_path() -> Path:
    """MODELSCREEN_DB (through Settings), else the XDG data directory."""
    configured = Settings().db
    if configured:
        return configured
    base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / "modelscreen" / "findings.db"


TEXT_COLUMNS = ("title", "detail", "path", "rule_id", "evidence")
MAX_PATTERN = 1000  # characters of search text (SQLite refuses long LIKE patterns)
MAX_LIMIT = 1_000_000


def _check_pattern(value: str | None) -> None:
    if value is None:
        return
    if not is_encodable(value):
        raise ValueError("search text is not valid UTF-8")
    if len(value) > MAX_PATTERN:
        raise ValueError(f"search text is longer than {MAX_PATTERN} characters")


def like_escape(text: str) -> str:
    """`text` as a literal inside a LIKE pattern with ESCAPE '\\'."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def finding_id(path: str, sha256: str | None, rule_id: str, location: str | None, title: str) -> str:
    key = "\x1f".join((path, sha256 or "", rule_id, location or "", title))
    return hashlib.sha256(key.encode()).hexdigest()[:32]


@dataclass
class StoredFinding:
    id: str
    seen: str
    path: str
    sha256: str | None
    verdict: str
    rule_id: str
    severity: str
    title: str
    detail: str | None
    location: str | None
    evidence: str | None
    event_id: str | None
    action: str | None


class SqliteStore:
    def __init__(self, path: str | os.PathLike | None = None):
        self.path = Path(path) if path else default_db_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(self.path)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.executescript(SCHEMA)

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> "SqliteStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def record(self, reports: Iterable[ArtifactReport], *, engine_version: str | None = None,
               event_id: str | None = None, action: str | None = None, now: datetime | None = None) -> None:
        stamp = (now or datetime.now(timezone.utc)).isoformat()
        with self.db:
            for rep in reports:
                self._record_artifact(rep, stamp, engine_version)
                for f in rep.findings:
                    self.db.execute(
                        "INSERT INTO findings VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?) "
                        "ON CONFLICT(id) DO UPDATE SET seen=excluded.seen, verdict=excluded.verdict, "
                        "event_id=excluded.event_id, action=excluded.action",
                        (finding_id(rep.path, rep.sha256, f.rule_id, f.location, f.title), stamp, rep.path,
                         rep.sha256, rep.verdict.value, f.rule_id, f.severity.value, f.severity.rank, f.title,
                         f.detail, f.location, f.evidence, event_id, action),
                    )

    def _record_artifact(self, rep: ArtifactReport, stamp: str, engine_version: str | None) -> None:
        if rep.sha256 is None:
            return
        counts: dict[str, int] = {}
        for f in rep.findings:
            counts[f.severity.value] = counts.get(f.severity.value, 0) + 1
        row = self.db.execute("SELECT paths FROM artifacts WHERE sha256=?", (rep.sha256,)).fetchone()
        paths = json.loads(row[0]) if row else []
        if rep.path not in paths:
            paths.append(rep.path)
        self.db.execute(
            "INSERT INTO artifacts VALUES (?,?,?,?,?,?,?,?,?) ON CONFLICT(sha256) DO UPDATE SET "
            "verdict=excluded.verdict, last_seen=excluded.last_seen, engine_version=excluded.engine_version, "
            "paths=excluded.paths, counts=excluded.counts, format=excluded.format",
            (rep.sha256, rep.size, rep.format, rep.verdict.value, stamp, stamp, engine_version,
             json.dumps(paths), json.dumps(counts, sort_keys=True)),
        )

    def search(self, *, min_severity: Severity | None = None, rule: str | None = None,
               sha256: str | None = None, path: str | None = None, text: str | None = None,
               limit: int = 1000) -> Iterator[StoredFinding]:
        for value in (rule, sha256, path, text):
            _check_pattern(value)
        if not 1 <= limit <= MAX_LIMIT:
            raise ValueError(f"limit must be between 1 and {MAX_LIMIT}")
        where, args = [], []
        if min_severity is not None:
            where.append("severity_rank >= ?")
            args.append(min_severity.rank)
        # user text matches literally: LIKE's own wildcards are escaped, only the rule's `*` is one
        if rule:
            where.append("rule_id LIKE ? ESCAPE '\\'")
            args.append(like_escape(rule).replace("*", "%"))
        if sha256:
            where.append("sha256 LIKE ? ESCAPE '\\'")
            args.append(like_escape(sha256.lower()) + "%")
        if path:
            where.append("path LIKE ? ESCAPE '\\'")
            args.append("%" + like_escape(path) + "%")
        if text:
            where.append("(" + " OR ".join(f"{col} LIKE ? ESCAPE '\\'" for col in TEXT_COLUMNS) + ")")
            args.extend(["%" + like_escape(text) + "%"] * len(TEXT_COLUMNS))
        sql = "SELECT id, seen, path, sha256, verdict, rule_id, severity, title, detail, location, evidence, " \
              "event_id, action FROM findings"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY severity_rank DESC, seen DESC, path LIMIT ?"
        args.append(limit)
        for row in self.db.execute(sql, args):
            yield StoredFinding(*row)

    def artifact(self, sha256: str) -> dict | None:
        cur = self.db.execute("SELECT * FROM artifacts WHERE sha256=?", (sha256,))
        row = cur.fetchone()
        if not row:
            return None
        doc = dict(zip([c[0] for c in cur.description], row))
        doc["paths"] = json.loads(doc["paths"])
        doc["counts"] = json.loads(doc["counts"])
        return doc

    # directory watch bookkeeping
    def watched(self, path: str) -> tuple[int, int] | None:
        row = self.db.execute("SELECT mtime_ns, size FROM watched_files WHERE path=?",
                              (printable_text(path),)).fetchone()
        return (row[0], row[1]) if row else None

    def mark_watched(self, path: str, mtime_ns: int, size: int, sha256: str | None) -> None:
        with self.db:
            self.db.execute("INSERT INTO watched_files VALUES (?,?,?,?) ON CONFLICT(path) DO UPDATE SET "
                            "mtime_ns=excluded.mtime_ns, size=excluded.size, sha256=excluded.sha256",
                            (printable_text(path), mtime_ns, size, sha256))
