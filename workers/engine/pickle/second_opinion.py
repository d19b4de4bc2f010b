"""fickling as a second opinion on small pickle streams.

Its verdict alone never makes an artifact malicious: it raises on some valid pickles, uses far more
memory than the stream, and rates large benign pickles malicious. It is only consulted for small
streams, in a worker thread with a timeout, and it can only add an info/low finding when it flags
something our own analysis did not.
"""
from __future__ import annotations

import threading

from modelscreen.schemas import Severity
from modelscreen.engine.context import ScanContext

MAX_BYTES = 1 << 20
TIMEOUT = 5.0


def _run_fickling(data: bytes, out: dict) -> None:
    try:
        from fickling.analysis import check_safety
        from fickling.fickle import Pickled

        result = check_safety(Pickled.load(data))
        out["severity"] = result.severity.name
        out["text"] = str(result.to_dict().get("analysis", ""))
    except BaseException as exc:  # noqa: BLE001 - a failing second opinion must never hide ours
        out["error"] = f"{type(exc).__name__}: {exc}"


def fickling_opinion(data: bytes, timeout: float = TIMEOUT) -> dict:
    """{'severity': name, 'text': ...} or {'error': ...} or {'timeout': True}."""
    out: dict = {}
    t = threading.Thread(target=_run_fickling, args=(data, out), daemon=True, name="fickling-opinion")
    t.start()
    t.join(timeout)
    if t.is_alive():
        return {"timeout": True}
    return out


def second_opinion(data: bytes, ctx: ScanContext, own_max_rank: int, location: str) -> None:
    """Add PICKLE-FICKLING-OPINION when fickling flags a stream we found nothing worse than low in."""
    if len(data) > MAX_BYTES:
        return
    try:
        remaining = max(0.5, min(TIMEOUT, ctx.budget.deadline - __import__("time").monotonic()))
    except Exception:  # noqa: BLE001
        remaining = TIMEOUT
    op = fickling_opinion(data, remaining)
    sev = op.get("severity")
    if not sev or sev in ("LIKELY_SAFE",):
        return
    if own_max_rank >= Severity.medium.rank:
        return  # we flagged it ourselves; no disagreement worth a finding
    severity = Severity.low if sev in ("LIKELY_OVERTLY_MALICIOUS", "OVERTLY_MALICIOUS") else Severity.info
    ctx.add("PICKLE-FICKLING-OPINION", severity, f"fickling rates this pickle {sev}",
            "fickling (a second opinion, known to over-report) flags what this analyzer considers harmless: "
            + op.get("text", "")[:600], location, evidence=op.get("text", "")[:160], analyzer="fickling")
