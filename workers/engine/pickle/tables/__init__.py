"""Generated tables (see generate.py), loaded once: module attribute aliases and the sink-reachability map.

Verdicts depend on these committed files, never on what is installed on the scanning host.
"""
from __future__ import annotations

import json
from importlib import resources


def _load(name: str) -> dict:
    return json.loads(resources.files(__package__).joinpath(name).read_text("utf-8"))


_aliases = _load("aliases.json")
_gadgets = _load("gadgets.json")
_safe = _load("known_safe.json")

MADE_FROM: dict[str, str] = _aliases["made_from"]
MODULES: frozenset[str] = frozenset(_aliases["modules"])
RENAMED: dict[str, str] = _aliases.get("renamed", {})
ALIASES: dict[str, dict[str, str]] = _aliases["aliases"]
GADGETS: dict[str, list[str]] = _gadgets["gadgets"]
GADGET_CLASSES: frozenset[str] = frozenset(_gadgets.get("classes", ()))
KNOWN_SAFE: dict[str, str] = _safe["known_safe"]  # reconstructor -> where it comes from
# classes whose __setstate__ (called by BUILD) reaches a sink
SETSTATE_GADGETS: frozenset[str] = frozenset(k[: -len(".__setstate__")] for k in GADGETS if k.endswith(".__setstate__"))
del _aliases, _gadgets, _safe


def resolve(module: str, qualname: str) -> tuple[str, str]:
    """The real target of `module` + dotted `qualname` as a loader reaches it by attribute traversal.

    Returns (canonical dotted path, kind) with kind 'module', 'instance' or 'object'. Steps the table
    does not know keep their literal name."""
    cur = RENAMED.get(module, module)
    kind = "module"
    for part in qualname.split(".") if qualname else ():
        if kind == "module":
            t = ALIASES.get(cur, {}).get(part)
            if t is None:
                nxt = f"{cur}.{part}"
                cur, kind = RENAMED.get(nxt, nxt), ("module" if nxt in MODULES else "object")
            elif t.startswith("m:"):
                cur, kind = t[2:], "module"
            elif t.startswith("i:"):
                cur, kind = t[2:], "instance"
            else:
                cur, kind = t, "object"
        else:
            cur, kind = f"{cur}.{part}", "object"
    return cur, kind


def gadget(path: str) -> list[str] | None:
    """[sink kind, call chain ...] when calling `path` reaches a sink; None otherwise."""
    return GADGETS.get(path)
