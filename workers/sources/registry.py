"""The store recognisers, in the order intake tries them: the most explicit shape first, the loosest last.

Each entry is (store name, module); the module has `recognise(payload, headers) -> bool` and
`normalise(payload, headers) -> list[ArtifactEvent]` (see `base.py`). CloudEvents is the envelope around
these: `cloudevents.py` delegates its `data` to `STORE_RECOGNISERS`, and intake tries it before them.
Adding a store: write `sources/<store>.py`, add it here, add its recorded payloads under `tests/sources/`.
"""
from __future__ import annotations

from types import ModuleType

from modelscreen.sources import artifactory, harbor, huggingface, nexus, s3

# Bare store payloads (what a CloudEvent's data may be delegated to).
STORE_RECOGNISERS: tuple[tuple[str, ModuleType], ...] = (
    ("harbor", harbor),
    ("artifactory", artifactory),
    ("huggingface", huggingface),
    ("nexus", nexus),
    ("s3", s3),
)
