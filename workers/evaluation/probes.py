"""Probe suites: JSON Lines, one probe per line, versioned by the SHA-256 of the file's bytes.

    {"id": "p1", "inputs": {"<graph input name>": <nested list>}}   token ids or float arrays
    {"id": "p2", "text": "a prompt"}                                 tokenised with --tokenizer

Blank lines and lines starting with `#` are skipped. Reading is bounded (bytes, probes, numbers per probe).
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MAX_SUITE_BYTES = 8 * 1024 * 1024
MAX_PROBES = 5000
MAX_VALUES_PER_PROBE = 1_000_000
MAX_NESTING = 8


class ProbeSuiteError(ValueError):
    """The probe suite cannot be read or a probe is malformed."""


@dataclass(frozen=True)
class Probe:
    id: str
    inputs: dict[str, Any] = field(default_factory=dict)  # graph input name -> nested list
    text: str | None = None
    tokens: tuple[int, ...] | None = None  # `text` after tokenisation


@dataclass(frozen=True)
class ProbeSuite:
    probes: tuple[Probe, ...]
    sha256: str
    text: str

    def __len__(self) -> int:
        return len(self.probes)

    @property
    def needs_tokenizer(self) -> bool:
        return any(p.text is not None and p.tokens is None for p in self.probes)


def _count(value: Any, depth: int = 0) -> int:
    if depth > MAX_NESTING:
        raise ProbeSuiteError(f"nested deeper than {MAX_NESTING} levels")
    if isinstance(value, list):
        return sum(_count(v, depth + 1) for v in value)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ProbeSuiteError(f"not a number: {str(value)[:40]!r}")
    return 1


def parse_suite(text: str) -> ProbeSuite:
    raw = text.encode("utf-8")
    if len(raw) > MAX_SUITE_BYTES:
        raise ProbeSuiteError(f"the probe suite is larger than {MAX_SUITE_BYTES} bytes")
    probes: list[Probe] = []
    seen: set[str] = set()
    for lineno, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        where = f"line {lineno}"
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ProbeSuiteError(f"{where}: not JSON: {exc.msg}") from None
        if not isinstance(obj, dict):
            raise ProbeSuiteError(f"{where}: a probe is a JSON object")
        pid = obj.get("id")
        if not isinstance(pid, str) or not pid or len(pid) > 200:
            raise ProbeSuiteError(f"{where}: `id` must be a non-empty string (at most 200 characters)")
        if pid in seen:
            raise ProbeSuiteError(f"{where}: duplicate probe id {pid!r}")
        seen.add(pid)
        unknown = set(obj) - {"id", "inputs", "text"}
        if unknown:
            raise ProbeSuiteError(f"{where}: unknown keys {sorted(unknown)}")
        has_inputs, has_text = "inputs" in obj, "text" in obj
        if has_inputs == has_text:
            raise ProbeSuiteError(f"{where}: give exactly one of `inputs` and `text`")
        if has_text:
            if not isinstance(obj["text"], str) or not obj["text"]:
                raise ProbeSuiteError(f"{where}: `text` must be a non-empty string")
            probes.append(Probe(id=pid, text=obj["text"]))
        else:
            inputs = obj["inputs"]
            if not isinstance(inputs, dict) or not inputs:
                raise ProbeSuiteError(f"{where}: `inputs` maps graph input names to nested lists")
            try:
                total = sum(_count(v) for v in inputs.values())
            except ProbeSuiteError as exc:
                raise ProbeSuiteError(f"{where}: {exc}") from None
            if total > MAX_VALUES_PER_PROBE:
                raise ProbeSuiteError(f"{where}: more than {MAX_VALUES_PER_PROBE} numbers")
            probes.append(Probe(id=pid, inputs=inputs))
        if len(probes) > MAX_PROBES:
            raise ProbeSuiteError(f"more than {MAX_PROBES} probes")
    if not probes:
        raise ProbeSuiteError("the probe suite has no probes")
    return ProbeSuite(tuple(probes), hashlib.sha256(raw).hexdigest(), text)


def load_suite(path: str | Path) -> ProbeSuite:
    p = Path(path)
    try:
        if p.stat().st_size > MAX_SUITE_BYTES:
            raise ProbeSuiteError(f"{p}: larger than {MAX_SUITE_BYTES} bytes")
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ProbeSuiteError(f"{p}: {exc}") from None
    return parse_suite(text)
