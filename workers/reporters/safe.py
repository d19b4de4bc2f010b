"""Reports that always serialise: one artifact whose report cannot be written never loses the others."""
from __future__ import annotations

from collections.abc import Iterable

from modelscreen.schemas import ArtifactReport, Verdict
from modelscreen.schemas.formats import Format
from modelscreen.schemas.text import printable_text, raw_hex


def serialisable(reports: Iterable[ArtifactReport]) -> list[ArtifactReport]:
    """Each report as is when it serialises to JSON, else an error report for the same path."""
    out = []
    for rep in reports:
        try:
            rep.model_dump_json()
            out.append(rep)
        except Exception as exc:  # noqa: BLE001 - whatever broke, the artifact is reported, not lost
            path = str(rep.path)
            out.append(ArtifactReport(path=printable_text(path), path_hex=rep.path_hex or raw_hex(path),
                                      sha256=rep.sha256, size=rep.size, format=Format.unreadable,
                                      verdict=Verdict.error, parent=rep.parent,
                                      error=f"report could not be serialised: {type(exc).__name__}"))
    return out
