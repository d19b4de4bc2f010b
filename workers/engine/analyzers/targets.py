"""Hydra/OmegaConf `_target_` values (NeMo, Hydra and Lightning configs): hydra.utils.instantiate imports
the named callable and calls it with the sibling keys. A target is judged like a pickle global (the pickle
analyzer's alias table and sink map), wherever it appears: JSON and YAML configs, and JSON/YAML carried as
strings in safetensors `__metadata__` and GGUF metadata.
"""
from __future__ import annotations

import json

import yaml

from modelscreen.schemas import Severity
from modelscreen.engine.context import ScanContext
from modelscreen.engine.pickle.callables import DANGEROUS, classify_path

ANALYZER = "config"
MAX_WALK = 500_000
_ALWAYS = frozenset({"eval", "exec", "os", "subprocess", "builtins", "posix", "nt", "pty", "socket"})


def dangerous_target(target: str) -> str | None:
    """Why a `_target_` is dangerous, or None. hydra's locate imports the longest importable prefix and walks
    the rest by attribute, so every split of the dotted name into module + attributes is judged."""
    t = target.strip()
    parts = t.split(".")
    if not t or not all(parts):
        return None
    if parts[0] in _ALWAYS:
        return "a module that runs commands or code"
    if len(parts) == 1:
        c = classify_path("builtins", t)
        return c.reason if c.level == DANGEROUS else None
    for k in range(len(parts) - 1, 0, -1):
        c = classify_path(".".join(parts[:k]), ".".join(parts[k:]))
        if c.level == DANGEROUS:
            return c.reason
    return None


def target_finding(ctx: ScanContext, target: str, where: str) -> None:
    why = dangerous_target(target)
    if why is not None:
        ctx.add("CONFIG-DANGEROUS-TARGET", Severity.high, f"Config instantiates {target}",
                f"hydra.utils.instantiate (NeMo, Hydra, Lightning configs) calls {target!r} ({why}) with the "
                "sibling keys as arguments when the config is instantiated", where, evidence=target,
                analyzer=ANALYZER)


def targets_in_object(ctx: ScanContext, obj, where: str = "") -> None:
    """`_target_` values anywhere in parsed JSON data."""
    stack = [(obj, "")]
    seen = 0
    while stack and seen < MAX_WALK:
        o, path = stack.pop()
        seen += 1
        if isinstance(o, dict):
            t = o.get("_target_")
            if isinstance(t, str):
                loc = path or "_target_"
                target_finding(ctx, t, f"{where}: {loc}" if where else loc)
            stack.extend((v, f"{path}.{k}" if path else str(k)) for k, v in o.items() if isinstance(v, (dict, list)))
        elif isinstance(o, list):
            stack.extend((v, f"{path}[{i}]") for i, v in enumerate(o) if isinstance(v, (dict, list)))


def targets_in_text(ctx: ScanContext, text: str, where: str) -> None:
    """`_target_` values in JSON or YAML carried as a string (composed only: no constructor runs)."""
    if "_target_" not in text:
        return
    try:
        obj = json.loads(text)
    except (ValueError, RecursionError):
        obj = None
    if obj is not None:
        targets_in_object(ctx, obj, where)
        return
    try:
        roots = list(yaml.compose_all(text[: 4 << 20], Loader=yaml.SafeLoader))
    except (yaml.YAMLError, RecursionError):
        return
    stack = [r for r in roots if r is not None]
    seen = 0
    while stack and seen < MAX_WALK:
        node = stack.pop()
        seen += 1
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                if isinstance(k, yaml.ScalarNode) and k.value == "_target_" and isinstance(v, yaml.ScalarNode):
                    target_finding(ctx, v.value, f"{where}: line {v.start_mark.line + 1}")
                stack.append(v)
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)
