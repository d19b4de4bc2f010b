"""Lineage hints from a model's own files: `base_model` and `datasets` in config.json or a model card."""
from __future__ import annotations

import json
import os
from pathlib import Path

import yaml

MAX_BYTES = 4 << 20


def _as_list(value) -> list[str]:
    if isinstance(value, str):
        return [value] if value.strip() else []
    if isinstance(value, list):
        return [str(v) for v in value if isinstance(v, (str, int)) and str(v).strip()]
    return []


def lineage_from_mapping(data: dict) -> tuple[str | None, list[str]]:
    bases = _as_list(data.get("base_model"))
    return (bases[0] if bases else None), _as_list(data.get("datasets"))


def lineage_from_file(path: str | os.PathLike) -> tuple[str | None, list[str]]:
    """config.json (JSON) or README.md (YAML front matter between --- lines). Never executes anything."""
    p = Path(path)
    with open(p, "rb") as fh:
        text = fh.read(MAX_BYTES).decode("utf-8", "replace")
    data = None
    if p.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except ValueError:
            data = None
    elif text.startswith("---"):
        end = text.find("\n---", 3)
        if end > 0:
            try:
                data = yaml.safe_load(text[3:end])
            except yaml.YAMLError:
                data = None
    if not isinstance(data, dict):
        return None, []
    return lineage_from_mapping(data)
