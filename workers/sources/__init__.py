"""Store notifications -> ArtifactEvents: one recogniser module per store, and the intake that picks one."""
from modelscreen.sources.base import InvalidEvent
from modelscreen.sources.intake import dead_letter, normalise_raw

__all__ = ["InvalidEvent", "dead_letter", "normalise_raw"]
