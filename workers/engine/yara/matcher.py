"""Run a compiled ruleset over a byte buffer: matches with their rule metadata, offsets and a short excerpt."""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from modelscreen.schemas.rules import RuleMeta
from modelscreen.engine.context import escape_evidence
from modelscreen.engine.yara.loader import MatchTimeout, Ruleset

MAX_OFFSETS = 16  # offsets kept per rule
EXCERPT_BYTES = 64  # bytes of the first match kept as evidence
DEFAULT_TIMEOUT = 60

__all__ = ["MatchTimeout", "RuleMatch", "match"]


@dataclass(frozen=True)
class RuleMatch:
    meta: RuleMeta
    offsets: tuple[int, ...]  # absolute (base_offset added), sorted, at most MAX_OFFSETS
    count: int  # pattern matches seen in this buffer
    data: bytes  # the first match's bytes, at most EXCERPT_BYTES
    excerpt: str  # `data`, escaped and bounded

    @property
    def rule(self) -> str:
        return self.meta.name

    @property
    def rule_id(self) -> str:
        return self.meta.id

    @property
    def offset(self) -> int | None:
        return self.offsets[0] if self.offsets else None


def match(
    ruleset: Ruleset,
    data: bytes,
    *,
    scopes: Iterable[str] | None = None,
    base_offset: int = 0,
    timeout: float = DEFAULT_TIMEOUT,
) -> list[RuleMatch]:
    """Scan `data` with the rules whose scope meets `scopes` (all when None). Raises MatchTimeout."""
    compiled = ruleset.compiled(scopes)
    if compiled is None or not data:
        return []
    raw = ruleset.engine.scan(compiled, data, int(max(1, timeout)))
    out: list[RuleMatch] = []
    for name, spans in raw:
        meta = ruleset.meta.get(name)
        if meta is None:  # cannot happen: every compiled rule was parsed
            continue
        spans = sorted(set(spans))
        offsets = sorted({off for off, _ in spans})[:MAX_OFFSETS]
        if spans:
            off, length = spans[0]
            first = bytes(data[off : off + min(max(length, 1), EXCERPT_BYTES)])
        else:  # condition-only rule
            first = b""
        out.append(RuleMatch(
            meta=meta,
            offsets=tuple(base_offset + o for o in offsets),
            count=len(spans),
            data=first,
            excerpt=escape_evidence(first) if first else "",
        ))
    out.sort(key=lambda m: (m.offset if m.offset is not None else -1, m.meta.id))
    return out
