"""Symbolic values on the walker's stack. Cheap: most data is a shared sentinel."""
from __future__ import annotations


class _Sentinel:
    __slots__ = ("label",)

    def __init__(self, label: str):
        self.label = label

    def __repr__(self) -> str:
        return self.label


DATA = _Sentinel("<data>")          # some value the analysis does not need
MISSING = _Sentinel("<untracked>")  # a memo entry dropped to bound memory
BIGTEXT = _Sentinel("<long str>")   # a string too long to be a name
PERSISTENT = _Sentinel("<persistent>")


class Ref:
    """A global (class, function or module) the loader imports: GLOBAL/STACK_GLOBAL/INST/EXT or derived."""

    __slots__ = ("path", "module", "name", "level", "reason", "offset", "called", "kind", "count")

    def __init__(self, path: str, module: str, name: str, level: str, reason: str, offset: int, kind: str):
        self.path = path
        self.module = module
        self.name = name
        self.level = level
        self.reason = reason
        self.offset = offset
        self.called = 0
        self.count = 1
        self.kind = kind  # global | module | derived | ext

    def __repr__(self) -> str:
        return self.path


class Obj:
    """The result of calling something (REDUCE, NEWOBJ, INST, OBJ, ...)."""

    __slots__ = ("fn", "args", "offset", "state")

    def __init__(self, fn, args, offset: int):
        self.fn = fn
        self.args = args
        self.offset = offset
        self.state = None

    def __repr__(self) -> str:
        name = self.fn.path if isinstance(self.fn, Ref) else "?"
        return f"<{name}(...)>"


class Bin:
    """A bytes/bytearray argument: kept inline when small, else its location in the stream."""

    __slots__ = ("data", "offset", "length")

    def __init__(self, data: bytes | None, offset: int, length: int):
        self.data = data
        self.offset = offset
        self.length = length


class SDict(list):
    """A dict under construction: flattened key, value pairs (bounded)."""

    __slots__ = ()

    def get_text(self, key: bytes):
        for k in range(0, len(self) - 1, 2):
            if self[k] == key:
                return self[k + 1]
        return None


class SSet(list):
    __slots__ = ()


MAX_ITEMS = 64  # items kept per container (evidence and argument analysis only)


def render(v, depth: int = 0, budget: list | None = None) -> str:
    """Short, bounded text for evidence."""
    if budget is None:
        budget = [400]
    if budget[0] <= 0:
        return "..."
    if isinstance(v, bytes):
        s = repr(v.decode("utf-8", "replace"))
        if len(s) > 80:
            s = s[:77] + "...'"
    elif isinstance(v, Bin):
        if v.data is not None:
            s = repr(v.data[:48]) + ("..." if v.length > 48 else "")
        else:
            s = f"<{v.length} bytes at offset {v.offset}>"
    elif isinstance(v, Ref):
        s = v.path
    elif isinstance(v, Obj):
        s = f"{v.fn.path if isinstance(v.fn, Ref) else '?'}(...)" if depth > 1 else (
            f"{v.fn.path if isinstance(v.fn, Ref) else '?'}({render_args(v.args, depth + 1, budget)})")
    elif isinstance(v, tuple):
        s = "(" + render_args(v, depth + 1, budget) + ("," if len(v) == 1 else "") + ")"
    elif isinstance(v, SDict):
        parts = [f"{render(v[k], depth + 1, budget)}: {render(v[k + 1], depth + 1, budget)}"
                 for k in range(0, min(len(v), 16) - 1, 2)]
        s = "{" + ", ".join(parts) + "}"
    elif isinstance(v, list):
        s = "[" + render_args(v, depth + 1, budget) + "]"
    else:
        s = repr(v)
        if len(s) > 60:
            s = s[:57] + "..."
    budget[0] -= len(s)
    return s


def render_args(args, depth: int = 0, budget: list | None = None) -> str:
    if budget is None:
        budget = [400]
    if not isinstance(args, (tuple, list)):
        return render(args, depth, budget)
    if depth > 3:
        return "..."
    out = []
    for a in args[:8]:
        out.append(render(a, depth, budget))
        if budget[0] <= 0:
            break
    if len(args) > len(out):
        out.append("...")
    return ", ".join(out)


def iter_refs(v, depth: int = 0):
    """Refs anywhere inside a (bounded) value."""
    if isinstance(v, Ref):
        yield v
    elif depth < 4 and isinstance(v, (tuple, list)):
        for x in v[:MAX_ITEMS]:
            if isinstance(x, (Ref, tuple, list)):
                yield from iter_refs(x, depth + 1)
