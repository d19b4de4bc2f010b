"""The engine's YARA pass: after the format analyzer, scan the regions of an artifact that can carry a payload.

- An artifact of at most SMALL_ARTIFACT bytes is scanned whole with every rule.
- A larger one: its head (HEAD_REGION bytes, or a safetensors file's whole JSON header) with the rules
  scoped `header`, `metadata` or `pickle` (a large checkpoint's pickle sits at its start), then the rest
  in WINDOW-byte windows (overlapping by OVERLAP bytes) with the rules scoped `tensor-data`, as long as
  the artifact's time budget (Limits.max_seconds, shared with the analyzers) lasts.

Bytes are read through `peek(offset, n)` from the underlying stream, never through the hashing reader,
so the artifact is still hashed in one pass. Which regions were covered goes to
ctx.notes["yara_coverage"]; a scan cut short by the budget is an info finding.
"""
from __future__ import annotations

import math
import struct
import time
from collections.abc import Callable

from modelscreen.schemas import Severity
from modelscreen.engine.context import ScanContext
from modelscreen.engine.limits import MiB
from modelscreen.engine.yara.loader import MatchTimeout, Ruleset, default_ruleset
from modelscreen.engine.yara.matcher import MAX_OFFSETS, RuleMatch, match

SMALL_ARTIFACT = 16 * MiB
HEAD_REGION = 1 * MiB
WINDOW = 4 * MiB
OVERLAP = 4096
HEAD_SCOPES = frozenset({"header", "metadata", "pickle"})
TENSOR_SCOPES = frozenset({"tensor-data"})
# Containers are not scanned as bytes: their members are artifacts of their own and are scanned
# (compressed bytes would match nothing; stored ones would match twice).
CONTAINERS = frozenset({"zip", "pytorch-zip", "numpy-npz", "keras", "tar", "7z", "gzip", "bz2", "xz", "lz4",
                        "zlib", "lzma"})

Peek = Callable[[int, int], bytes]


def _head_length(fmt: str, peek: Peek, size: int) -> int:
    if fmt == "safetensors":
        raw = peek(0, 8)
        if len(raw) == 8:
            (n,) = struct.unpack("<Q", raw)
            return max(HEAD_REGION, min(8 + n, SMALL_ARTIFACT, size))
    return min(HEAD_REGION, size)


class _Collector:
    def __init__(self) -> None:
        self.by_rule: dict[str, tuple[RuleMatch, list[int], int]] = {}

    def add(self, matches: list[RuleMatch]) -> None:
        for m in matches:
            if m.rule not in self.by_rule:
                self.by_rule[m.rule] = (m, list(m.offsets), m.count)
                continue
            first, offsets, count = self.by_rule[m.rule]
            new = [o for o in m.offsets if o not in offsets]  # window overlaps report a match twice
            self.by_rule[m.rule] = (first, sorted(offsets + new)[:MAX_OFFSETS], count + len(new))


def scan_with_rules(ctx: ScanContext, peek: Peek, size: int | None, fmt: str,
                    ruleset: Ruleset | None = None) -> None:
    """Never raises: a failure of the YARA pass is an info finding, the artifact's analysis stands."""
    if not size or fmt in CONTAINERS:
        return
    try:
        if ruleset is None:
            ruleset, reason = default_ruleset()
            if ruleset is None:
                if ctx.depth == 0:
                    ctx.add("YARA-RULES-UNAVAILABLE", Severity.medium, "YARA rules were not applied",
                            f"the rule library could not be loaded, so no payload rule ran: {reason}",
                            analyzer="yara")
                return
        _scan(ctx, peek, size, fmt, ruleset)
    except Exception as exc:  # noqa: BLE001 - the YARA pass is an addition, never a reason to fail the scan
        ctx.add("YARA-ERROR", Severity.info, "YARA scan failed", f"{type(exc).__name__}: {exc}"[:500],
                analyzer="yara")


def _scan(ctx: ScanContext, peek: Peek, size: int, fmt: str, ruleset: Ruleset) -> None:
    analyzer = f"yara:{ruleset.version}"
    regions: list[dict] = []
    coverage = {"ruleset": ruleset.version, "engine": ruleset.engine_name, "size": size,
                "regions": regions, "complete": True}
    ctx.notes["yara_coverage"] = coverage
    found = _Collector()
    stopped: str | None = None

    def remaining() -> float:
        return ctx.budget.deadline - time.monotonic()

    def run(start: int, length: int, scopes: frozenset[str] | None, label: str) -> bool:
        nonlocal stopped
        left = remaining()
        if left <= 0:
            stopped = f"the time budget was spent before offset {start}"
            return False
        data = peek(start, length)
        try:
            found.add(match(ruleset, data, scopes=scopes, base_offset=start, timeout=math.ceil(left)))
        except MatchTimeout:
            stopped = f"the time budget ran out while scanning offsets {start}-{start + len(data)}"
            return False
        end = start + len(data)
        if regions and regions[-1]["rules"] == label and regions[-1]["end"] >= start:
            regions[-1]["end"] = end
        else:
            regions.append({"start": start, "end": end, "rules": label})
        return True

    if size <= SMALL_ARTIFACT:
        run(0, size, None, "all")
    else:
        head = _head_length(fmt, peek, size)
        if run(0, head, HEAD_SCOPES, "header,metadata,pickle") and ruleset.compiled(TENSOR_SCOPES) is not None:
            # An analyzer that understands the layout may narrow the tensor-data regions (safetensors:
            # byte tensors only; float tensors cannot hold a loadable payload by themselves).
            spans = ctx.notes.get("yara_tensor_regions", [(head, size)])
            for span_start, span_end in spans:
                pos = max(span_start, head) if span_start < head else span_start
                while pos < span_end:
                    start = max(span_start, pos - OVERLAP)
                    if not run(start, min(WINDOW + (pos - start), span_end - start), TENSOR_SCOPES, "tensor-data"):
                        break
                    pos += WINDOW
                if stopped:
                    break

    if stopped:
        coverage["complete"] = False
        covered = ", ".join(f"{r['start']}-{r['end']} ({r['rules']} rules)" for r in regions) or "nothing"
        ctx.add("YARA-COVERAGE-PARTIAL", Severity.info, "YARA scan did not cover the whole artifact",
                f"{stopped}; covered: {covered} of {size} bytes", analyzer=analyzer)

    for first, offsets, count in sorted(found.by_rule.values(), key=lambda t: (t[1][0] if t[1] else -1, t[0].rule_id)):
        meta = first.meta
        where = ", ".join(str(o) for o in offsets)
        more = f" (+{count - len(offsets)} more)" if count > len(offsets) else ""
        ctx.add(
            meta.id,
            meta.severity,
            f"{meta.name}: {meta.description}",
            f"YARA rule {meta.name} (category {meta.category}, score {meta.score}, rule version {meta.version}) "
            f"matched {count} time(s) at offset(s) {where}{more}" if offsets else
            f"YARA rule {meta.name} (category {meta.category}, score {meta.score}, rule version {meta.version}) matched",
            f"offset {offsets[0]}" if offsets else None,
            evidence=first.data or None,
            analyzer=analyzer,
            references=[meta.reference],
        )
