"""A streaming, symbolic pickle machine that reads opcodes the way CPython's C unpickler does.

Nothing is ever deserialized: values on the stack are cheap symbols (see values.py); only the
strings that may become module/attribute names, the small integers that may be array shapes and
the bytes that may be a nested pickle are kept. Large arguments are skipped by seeking.

Framing follows `_pickle.c`: a FRAME only prefetches, reads are linear across frame boundaries.
Where an opcode or its argument runs past the end of a frame, or a new FRAME starts before the
current one is consumed, the pure-Python loader (and joblib, which uses it) would disagree with
the C loader; that is reported as PICKLE-FRAME-MISMATCH.
"""
from __future__ import annotations

import codecs
import io
import re
import struct
from dataclasses import dataclass, field
from typing import BinaryIO

from modelscreen.schemas import Severity
from modelscreen.engine.context import ScanContext
from modelscreen.engine.limits import LimitExceeded
from modelscreen.engine.pickle import callables as C
from modelscreen.engine.pickle.memo import MEMO_FULL, MEMO_MAX, NAME_MAX, store as memo_store
from modelscreen.engine.pickle import opcodes as O
from modelscreen.engine.pickle import tables
from modelscreen.engine.pickle.opcodes import (  # noqa: F401 - opcode names used in the loop
    CODE, NAME,
    ADDITEMS, APPEND, APPENDS, BINBYTES, BINBYTES8, BINFLOAT, BINGET, BININT, BININT1, BININT2, BINPERSID,
    BINPUT, BINSTRING, BINUNICODE, BINUNICODE8, BUILD, BYTEARRAY8, DICT, DUP, EMPTY_DICT, EMPTY_LIST,
    EMPTY_SET, EMPTY_TUPLE, EXT1, EXT2, EXT4, FLOAT, FRAME, FROZENSET, GET, GLOBAL, INST, INT, LIST, LONG,
    LONG1, LONG4, LONG_BINGET, LONG_BINPUT, MARK, MEMOIZE, NEWFALSE, NEWOBJ, NEWOBJ_EX, NEWTRUE, NEXT_BUFFER,
    NONE, OBJ, PERSID, POP, POP_MARK, PROTO, PUT, READONLY_BUFFER, REDUCE, SETITEM, SETITEMS, SHORT_BINBYTES,
    SHORT_BINSTRING, SHORT_BINUNICODE, STACK_GLOBAL, STOP, STRING, TUPLE, TUPLE1, TUPLE2, TUPLE3, UNICODE,
)
from modelscreen.engine.pickle.values import (
    BIGTEXT, DATA, MAX_ITEMS, MISSING, PERSISTENT, Bin, Obj, Ref, SDict, SSet, iter_refs, render, render_args,
)

ANALYZER = "pickle"
REMEDIATION = "Do not load; convert to safetensors"
CHUNK = 1 << 20
MARGIN = 512            # bytes kept ahead of the cursor so that short arguments never need a refill check
KEEP_TEXT = 1024        # longer strings cannot be names; kept as a sentinel
KEEP_BYTES = 4096       # longer bytes are remembered by location, re-read only if a nested loader gets them
MAX_LINE = 1 << 20      # protocol 0 line arguments
MAX_STACK = 5_000_000
MAX_REFS = 100_000

_u16 = struct.Struct("<H").unpack_from
_i32 = struct.Struct("<i").unpack_from
_u32 = struct.Struct("<I").unpack_from
_u64 = struct.Struct("<Q").unpack_from

_STRTOL = re.compile(rb"[ \t\n\v\f\r]*[+-]?(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)")
_DIGITS = re.compile(r"\d+")

# Fast path: homogeneous runs of fixed-size numeric pushes (BININT1, BININT2, BININT, BINFLOAT)
_RUNS = {
    BININT1: (re.compile(rb"(?:K.)+", re.S), 2),
    BININT2: (re.compile(rb"(?:M..)+", re.S), 3),
    BININT: (re.compile(rb"(?:J....)+", re.S), 5),
    BINFLOAT: (re.compile(rb"(?:G.{8})+", re.S), 9),
}

try:  # optional C accelerator for runs of data-only opcodes (_fastwalk.c); the Python loop is complete without it
    from modelscreen.engine.pickle import _fastwalk
except ImportError:
    _fastwalk = None
# the opcodes _fastwalk.fast_forward implements (it leaves any case it does not reproduce exactly to Python)
_FAST_OPS = bytes(1 if op in {CODE[n] for n in (
    "MARK", "EMPTY_LIST", "EMPTY_DICT", "TUPLE", "LIST", "DICT", "APPENDS", "SETITEMS", "APPEND",
    "SETITEM", "BININT1", "BININT2", "BININT", "BINFLOAT", "NONE", "BINGET", "LONG_BINGET", "BINPUT",
    "LONG_BINPUT", "POP", "POP_MARK", "DUP", "BINBYTES", "SHORT_BINBYTES", "SHORT_BINSTRING", "BINUNICODE",
    "BINSTRING", "TUPLE1", "TUPLE2", "TUPLE3", "NEWTRUE", "NEWFALSE", "LONG1", "SHORT_BINUNICODE", "EMPTY_SET",
    "ADDITEMS", "FROZENSET", "MEMOIZE", "NEXT_BUFFER", "READONLY_BUFFER", "EMPTY_TUPLE")} else 0
    for op in range(256))
_NO_FAST_OPS = bytes(256)


def _plain_types(keep: tuple) -> tuple:
    """Exact types of stack values for which isinstance(v, keep) is False (none overrides __class__)."""
    return tuple(t for t in (list, tuple, int, float, bool, type(None), SDict, SSet, type(DATA))
                 if not issubclass(t, keep))

_VAR_OPS = frozenset((BINUNICODE, BINUNICODE8, BINBYTES, BINBYTES8, BYTEARRAY8, BINSTRING, SHORT_BINBYTES,
                      SHORT_BINSTRING, LONG4, LONG1))
_LINE_OPS = frozenset((INT, LONG, FLOAT, STRING, UNICODE, PERSID, PUT, GET))



def _planted(state, name: str):
    """The value an earlier BUILD put into an instance's __dict__ (or slot state) under `name`, if any."""
    key = name.encode()
    for d in (state, state[0] if isinstance(state, tuple) and state else None,
              state[1] if isinstance(state, tuple) and len(state) > 1 else None):
        if isinstance(d, SDict):
            v = d.get_text(key)
            if v is not None:
                return v
    return None


# BUILD on instances of these needs a look (partial's state names its function; __setstate__ gadgets)
_BUILD_HOOKED = tables.SETSTATE_GADGETS | {"functools.partial"}
# reconstructors that create an instance of their class argument with __new__ only
_NEW_ONLY = frozenset(("copyreg.__newobj__", "copyreg.__newobj_ex__", "numpy.core.multiarray._reconstruct",
                       "numpy._core.multiarray._reconstruct", "numpy.ma.core._mareconstruct"))
# appliers whose result stands for what the applied callable returned
_RETURNS_APPLIED = frozenset(("copyreg._reconstructor", "copyreg.__newobj__", "copyreg.__newobj_ex__",
                              "functools.reduce", "builtins.map", "builtins.filter", "itertools.starmap"))


class Malformed(Exception):
    def __init__(self, msg: str, offset: int):
        super().__init__(msg)
        self.msg = msg
        self.offset = offset


class _Truncated(Exception):
    pass


@dataclass
class PickleResult:
    start: int
    end: int = 0                 # offset just after STOP (or where the stream broke)
    complete: bool = False       # reached STOP
    protocol: int | None = None
    ops: int = 0
    error: str | None = None
    frame_mismatch: bool = False
    joblib_arrays: int = 0
    nested: int = 0
    globals: list[tuple[str, str, int, int, int]] = field(default_factory=list)  # path, level, offset, count, called
    persistent_ids: list = field(default_factory=list)
    findings: list = field(default_factory=list)
    limit_hit: str | None = None

    @property
    def dangerous(self) -> bool:
        return any(g[1] == C.DANGEROUS for g in self.globals)


def to_plain(v, depth: int = 0):
    """Symbolic value -> plain Python value (strings, ints, tuples) where possible."""
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    if isinstance(v, (int, float)) or v is None:
        return v
    if isinstance(v, Bin):
        return v.data if v.data is not None else None
    if isinstance(v, Ref):
        return v.path
    if isinstance(v, tuple) and depth < 4:
        return tuple(to_plain(x, depth + 1) for x in v)
    return None


class Walker:
    def __init__(self, stream: BinaryIO, ctx: ScanContext, *, location_prefix: str = "", max_bytes: int | None = None,
                 nest: int = 0, label: str = "pickle", accelerated: bool = True):
        self.stream = stream
        self.accelerated = accelerated and _fastwalk is not None
        self.ctx = ctx
        self.prefix = location_prefix
        self.nest = nest
        self.label = label
        try:
            self.start = stream.tell()
        except (OSError, AttributeError, ValueError):
            self.start = 0
        try:
            self.seekable = bool(stream.seekable())
        except (AttributeError, ValueError, OSError):
            self.seekable = False
        lim = ctx.limits
        self.hard_end = self.start + max_bytes if max_bytes is not None else None
        self.pickle_end = self.start + lim.max_pickle_bytes
        self.read_end = min(self.hard_end, self.pickle_end) if self.hard_end is not None else self.pickle_end
        self.max_ops = lim.max_pickle_ops
        self.base = self.start
        self.eof = False
        self.res = PickleResult(start=self.start)
        self.proto = 0
        self.refs: dict[tuple, Ref] = {}
        self.ref_list: list[Ref] = []
        self.unknown_calls: dict[str, list] = {}
        self.findings_start = len(ctx.findings)
        self.seen_mutation = 0
        self.differential = 0
        self.is_joblib = False
        self.frame_end: int | None = None
        self.memo_dropped = False
        self.limit_eof = False  # reading stopped at max_pickle_bytes, not at the end of the data
        self.skipped = 0  # bytes of large arguments / array data skipped without walking
        self.script_classes: dict[str, int] = {}
        self.cloudpickled = 0

    # ------------------------------------------------------------------ buffer
    def _read(self, n: int) -> bytes:
        """Read up to n bytes at self.base + len(current buffer), bounded by read_end."""
        return self.stream.read(n)

    def _fill(self, buf: bytes, i: int, need: int) -> tuple[bytes, int]:
        """Drop consumed bytes, read more so that at least `need` bytes follow i (or hit the end)."""
        rest = buf[i:]
        self.base += i
        have_to = self.base + len(rest)
        want = max(CHUNK, need - len(rest))
        cap = self.read_end - have_to
        if want > cap:
            want = cap
        data = b""
        if want > 0:
            data = self.stream.read(want)
            if data is None:
                data = b""
        if len(data) < want or have_to + len(data) >= self.read_end:
            self.eof = True
            if have_to + len(data) >= self.pickle_end and (self.hard_end is None or self.pickle_end < self.hard_end):
                self.limit_eof = True
        self.ctx.check_time()
        return (rest + data if rest else data), 0

    def _skip_to(self, target: int) -> bytes:
        """Continue at absolute offset `target` past the buffer, without reading what lies between."""
        if target > self.read_end:
            if target > self.pickle_end and (self.hard_end is None or self.pickle_end < self.hard_end):
                raise LimitExceeded("max_pickle_bytes",
                                    f"pickle stream is longer than {self.ctx.limits.max_pickle_bytes} bytes")
            self.base = self.read_end
            self.eof = True
            raise _Truncated()
        if self.seekable:
            self.stream.seek(target)
        else:
            pos = self.base
            while pos < target:
                k = self.stream.read(min(CHUNK, target - pos))
                if not k:
                    raise _Truncated()
                pos += len(k)
        self.base = target
        self.eof = target >= self.read_end
        self.ctx.check_time()
        return b""

    def _reposition(self, buf: bytes, i: int, target: int) -> tuple[bytes, int]:
        """Move the cursor to absolute `target` (forward), inside the buffer or by seeking."""
        rel = target - self.base
        if 0 <= rel <= len(buf):
            return buf, rel
        return self._skip_to(target), 0

    def _read_at(self, offset: int, length: int, buf_end_abs: int = 0) -> bytes | None:
        """Read bytes that were skipped earlier (for a nested loader), then restore the stream."""
        if not self.seekable:
            return None
        here = self.stream.tell()
        try:
            self.stream.seek(offset)
            data = self.stream.read(length)
        finally:
            self.stream.seek(here)
        return data

    # ------------------------------------------------------------------ findings
    def loc(self, offset: int) -> str:
        return f"{self.prefix}offset {offset}"

    def add(self, rule, sev, title, detail, offset, evidence=None, remediation=None):
        return self.ctx.add(rule, sev, title, detail, self.loc(offset), evidence=evidence, analyzer=ANALYZER,
                            remediation=remediation)

    # ------------------------------------------------------------------ globals
    def make_ref(self, module: str, name: str, offset: int, kind: str = "global") -> Ref:
        key = (module, name, self.proto < 3)
        r = self.refs.get(key)
        if r is not None:
            r.count += 1
            return r
        m, n, cl = C.classify(module, name, self.proto)
        path = f"{m}.{n}" if n else m
        r = Ref(path, m, n, cl.level, cl.reason, offset, kind)
        if len(self.refs) < MAX_REFS:
            self.refs[key] = r
            self.ref_list.append(r)
        elif cl.level != C.SAFE:
            self.ref_list.append(r) if len(self.ref_list) < 2 * MAX_REFS else None
        return r

    def derived_ref(self, base: Ref, attr: str, offset: int) -> Ref:
        if base.kind == "module":
            return self.make_ref(base.path, attr, offset, "derived")
        return self.make_ref(base.module, f"{base.name}.{attr}" if base.name else attr, offset, "derived")

    def module_ref(self, name: str, offset: int) -> Ref:
        key = ("<module>", name)
        r = self.refs.get(key)
        if r is not None:
            return r
        cl = C.classify_path(name, "")
        r = Ref(name, name, "", cl.level, cl.reason, offset, "module")
        self.refs[key] = r
        self.ref_list.append(r)
        return r

    # ------------------------------------------------------------------ calls
    def call(self, fn, args, offset: int, how: str, buf_end_abs: int):
        """Symbolically apply `fn` to `args`; report what matters; return the result symbol."""
        if isinstance(fn, Ref):
            fn.called += 1
            path = fn.path
            level = fn.level
            if path in C.PRODUCES_REF:
                produced = self._produce(fn, args, offset, how)
                if produced is not None:
                    return produced
            if level == C.SAFE:
                reason = fn.reason
                if reason == C.CLOUDPICKLE:
                    return self._cloudpickle(fn, args, offset, how)
                if path in tables.GADGET_CLASSES and (reason == "known library class"
                                                      or reason == C.KNOWN_RECONSTRUCTOR):
                    g = C.gadget_for_call(path, how)
                    if g is not None:
                        self._gadget_call(fn, g, args, offset, how)
                        self._args_with_dangerous(fn, args, offset, how)
                        return Obj(fn, args, offset)
                applied = C.APPLIES.get(path)
                if applied is not None:
                    if type(args) is tuple and args:
                        res = self._apply_args(fn, applied, args, offset, how, buf_end_abs)
                        if res is not None:
                            return res
                elif path == "_codecs.encode" or path == "codecs.encode":
                    self._check_codecs(fn, args, offset)
                return Obj(fn, args, offset)
            if fn.kind == "cp-type":
                return self._cloudpickle(fn, args, offset, how)
            if level == C.UNKNOWN and fn.module == "__main__" and fn.reason.startswith("a class defined"):
                self._script_class(fn, args, offset, how)
                return Obj(fn, args, offset)
            if level == C.UNKNOWN and path in tables.GADGET_CLASSES:
                g = C.gadget_for_call(path, how)
                if g is not None:
                    self._gadget_call(fn, g, args, offset, how)
                    self._args_with_dangerous(fn, args, offset, how)
                    return Obj(fn, args, offset)
            if level == C.DANGEROUS:
                self._dangerous_call(fn, args, offset, how, buf_end_abs)
            else:
                self._unknown_call(fn, args, offset, how)
            self._args_with_dangerous(fn, args, offset, how)
            return Obj(fn, args, offset)
        # calling something that is not a global: a call result, a memo value, ...
        if fn is PERSISTENT or fn is DATA or isinstance(fn, Obj) or fn is MISSING:
            name = f"result of {fn.fn.path}(...)" if isinstance(fn, Obj) and isinstance(fn.fn, Ref) else render(fn)
            self._unknown_call_path(f"<{name}>", args, offset, how, "calls a value that is not a named global")
            self._args_with_dangerous(None, args, offset, how)
            return Obj(None, args, offset)
        # str / bytes / int / containers are not callable: the loader raises here, nothing runs
        self._unknown_call_path(f"<{type(fn).__name__} value>", args, offset, how, "calls a non-callable value")
        return Obj(None, args, offset)

    def _apply_args(self, fn: Ref, applied, args: tuple, offset: int, how: str, buf_end_abs: int):
        """A known callable that calls some of its arguments: the applied values count as called."""
        path = fn.path
        positions, keywords = applied
        n = len(args)
        values = [args[k] for k in positions if k < n]
        if keywords and how.startswith("NEWOBJ_EX") and isinstance(args[-1], SDict):
            values += [args[-1].get_text(name.encode()) for name in keywords]
        first_res = None
        first = args[0]
        for v in values:
            if isinstance(v, SDict):  # hooks dicts: their values are called
                values.extend(v[j] for j in range(1, len(v), 2))
                continue
            if isinstance(v, Ref):
                if v.level == C.SAFE and v.path not in tables.GADGET_CLASSES and v.path not in C.APPLIES \
                        and v.path not in C.PRODUCES_REF and v.reason != C.CLOUDPICKLE:
                    v.called += 1  # a known data class: creating it runs nothing worth reporting
                    continue
                if path == "copyreg._reconstructor" and v is not first and v.path == "builtins.object":
                    continue
            elif not isinstance(v, Obj) or (isinstance(v.fn, Ref) and v.fn.level == C.SAFE
                                            and v.fn.path not in C.APPLIES):
                continue  # plain data, or a data object (an empty hooks OrderedDict), not something callable
            # copyreg's and numpy's reconstructors create the instance with cls.__new__ only
            new_only = path in _NEW_ONLY or (path == "copyreg._reconstructor" and v is first)
            res = self.call(v, (), offset, f"{'NEWOBJ (cls.__new__)' if new_only else how} via {path}",
                            buf_end_abs)
            if v is first:
                first_res = res
        if path == "functools.partial" and isinstance(first, (Ref, Obj)):
            return first
        if isinstance(first_res, Obj) and path in _RETURNS_APPLIED:
            return first_res
        return None

    def _script_class(self, fn: Ref, args, offset: int, how: str) -> None:
        """torch.save(model) of a class defined in the training script names __main__.<Class>."""
        self._args_with_dangerous(fn, args, offset, how)
        if self.script_classes.get(fn.path):
            return
        self.script_classes[fn.path] = 1
        self.add("PICKLE-SCRIPT-CLASS", Severity.low, f"Pickle instantiates {fn.path} from the loading script",
                 f"{how}: {fn.path} is a class defined in the script that saved the file (torch.save(model), "
                 "pickle.dump of a custom object); loading needs a script that defines the same class, and it "
                 "runs that class's code", offset, evidence=f"{fn.path}({render_args(args)})")

    def _cloudpickle(self, fn: Ref, args, offset: int, how: str):
        """cloudpickle rebuilds functions from code objects: read the code's names, never build it."""
        name = fn.name.rsplit(".", 1)[-1]
        if fn.kind == "cp-type":
            if fn.name == "CodeType" and isinstance(args, tuple):
                self._code_object(args, offset)
            return Obj(fn, args, offset)
        if not isinstance(args, tuple):
            return Obj(fn, args, offset)
        if name == "_builtin_type" and args and isinstance(args[0], bytes):
            t = args[0].decode("utf-8", "replace")
            return Ref(f"types.{t}", "types", t, C.UNKNOWN, "type rebuilt by cloudpickle", offset, "cp-type")
        if name in ("subimport", "dynamic_subimport") and args and isinstance(args[0], bytes):
            mod = self.module_ref(args[0].decode("utf-8", "replace"), offset)
            mod.called += 1  # a module the function's globals refer to; its code decides (below)
            if mod.path not in tables.MODULES and mod.level != C.DANGEROUS:
                self._unknown_call_path(f"{fn.path}({mod.path!r})", args, offset, how,
                                        "an import of a module that is not in the stdlib or a known library")
            return mod
        self._args_with_dangerous(fn, args, offset, how)
        if not self.cloudpickled:
            self.cloudpickled = 1
            self.add("PICKLE-CLOUDPICKLE-FUNCTION", Severity.medium, "Pickle rebuilds a function from code",
                     f"{fn.path}: a function (or class) serialised by cloudpickle (MLflow pyfunc, Ray, Dask); "
                     "loading it rebuilds Python code that runs when the model is used. Its code names no "
                     "process, file, network or evaluation call.", offset, evidence=f"{fn.path}({render_args(args)})")
        return Obj(fn, args, offset)

    def _code_object(self, args: tuple, offset: int) -> None:
        names: list[str] = []
        for a in args:
            if isinstance(a, tuple):
                names.extend(x.decode("utf-8", "replace") for x in a if isinstance(x, bytes))
        hits = [n for n in names if n in C.CODE_SINK_NAMES]
        for a, b in zip(names, names[1:]):
            real, _ = tables.resolve(a, b)
            if tables.gadget(real) or f"{a}.{b}" in C.DANGEROUS_NAMES:
                hits.append(f"{a}.{b}")
        if hits:
            self.add("PICKLE-FUNCTION-CODE-SINK", Severity.critical, f"Pickled function code calls {hits[0]}",
                     "a code object rebuilt at load time (cloudpickle) names "
                     + ", ".join(dict.fromkeys(hits)) + ": the function runs a process, evaluates code, imports "
                     "modules, writes files or opens connections when it is called", offset,
                     evidence=", ".join(names[:30]), remediation=REMEDIATION)

    def _gadget_call(self, fn: Ref, g: list, args, offset: int, how: str) -> None:
        chain = " -> ".join(g[1:])
        self.add("PICKLE-DANGEROUS-CALL", Severity.critical, f"Pickle calls {fn.path}",
                 f"{how} at load time of {fn.path}, whose code reaches {g[0]}"
                 + (f" ({chain})" if chain else "") + ". Loading this pickle runs it.",
                 offset, evidence=f"{fn.path}({render_args(args)})", remediation=REMEDIATION)

    def _implied_call(self, obj: Obj, method: str, args, offset: int, how: str, buf_end_abs: int) -> None:
        """APPEND/SETITEM/ADDITEMS/BUILD on an instance call one of its class's methods."""
        cls = obj.fn
        if not isinstance(cls, Ref) or cls.level == C.DANGEROUS or cls.path in C.SAFE_NAMES:
            return
        target = f"{cls.path}.{method}"
        g = tables.gadget(target)
        if g is not None:
            r = Ref(target, cls.module, f"{cls.name}.{method}", C.DANGEROUS, g[0], offset, "gadget")
            self._gadget_call(r, g, args, offset, how)

    def _produce(self, fn: Ref, args, offset: int, how: str):
        """getattr / __import__ / import_module / attrgetter: return the reference they produce."""
        path = fn.path
        if not isinstance(args, tuple) or not args:
            return None
        if path == "builtins.getattr" and len(args) >= 2 and isinstance(args[1], bytes):
            target, attr = args[0], args[1].decode("utf-8", "replace")
            if isinstance(target, Ref):
                r = self.derived_ref(target, attr, offset)
                if r.level == C.DANGEROUS or target.level == C.DANGEROUS:
                    # static, but the result is dangerous: the getattr is part of the attack
                    self._dangerous_call(fn, args, offset, how, 0, produced=r)
                return r
            return None
        if path in ("builtins.__import__", "importlib.import_module", "importlib.__import__") \
                and isinstance(args[0], bytes):
            mod = self.module_ref(args[0].decode("utf-8", "replace"), offset)
            self._dangerous_call(fn, args, offset, how, 0, produced=mod)
            if len(args) >= 4 and isinstance(args[3], (tuple, list)) and args[3]:
                # __import__('os', None, None, ('system',)) -> caller uses getattr afterwards
                pass
            return mod
        if path == "functools.partial" and isinstance(args[0], Ref):
            inner = args[0]
            if inner.level == C.DANGEROUS:
                self._dangerous_call(inner, args[1:], offset, f"{how} via functools.partial", 0)
                inner.called += 1
            return inner
        return None

    def _dangerous_call(self, fn: Ref, args, offset, how, buf_end_abs, produced: Ref | None = None):
        ev = f"{fn.path}({render_args(args)})"
        extra = f"; it yields {produced.path} ({produced.level})" if produced is not None else ""
        self.add("PICKLE-DANGEROUS-CALL", Severity.critical, f"Pickle calls {fn.path}",
                 f"{how} at load time of {fn.path} ({fn.reason}){extra}. Loading this pickle runs it.",
                 offset, evidence=ev, remediation=REMEDIATION)
        if fn.path in C.NESTED_PICKLE_LOADERS and isinstance(args, tuple) and args:
            self._nested(fn, args[0], offset, buf_end_abs)

    def _unknown_call(self, fn: Ref, args, offset, how):
        self._unknown_call_path(fn.path, args, offset, how, fn.reason)

    def _unknown_call_path(self, path, args, offset, how, reason):
        u = self.unknown_calls.get(path)
        if u is None:
            if len(self.unknown_calls) < 2000:
                self.unknown_calls[path] = [1, offset, f"{path}({render_args(args)})", how, reason]
        else:
            u[0] += 1

    def _args_with_dangerous(self, fn, args, offset, how):
        for r in iter_refs(args):
            if r.level == C.DANGEROUS and r.called == 0:
                r.called += 1
                callee = fn.path if isinstance(fn, Ref) else "a computed callable"
                self.add("PICKLE-DANGEROUS-CALL", Severity.critical,
                         f"Pickle hands {r.path} to {callee}",
                         f"{r.path} ({r.reason}) is passed to {callee}, which is not known to be harmless "
                         "and may call it", offset, evidence=f"{callee}({render_args(args)})", remediation=REMEDIATION)

    def _check_codecs(self, fn: Ref, args, offset):
        ok = (isinstance(args, tuple) and 1 <= len(args) <= 2 and (isinstance(args[0], bytes) or args[0] is BIGTEXT)
              and (len(args) == 1 or (isinstance(args[1], bytes) and args[1].lower() in (b"latin1", b"latin-1",
                                                                                       b"iso-8859-1", b"utf-8", b"utf8",
                                                                                       b"ascii"))))
        if not ok:
            self._unknown_call_path(f"{fn.path} (unusual arguments)", args, offset, "REDUCE",
                                    "codecs.encode with a codec other than latin1/utf-8 can run arbitrary codecs")

    def _nested(self, fn: Ref, arg, offset: int, buf_end_abs: int):
        data = None
        if isinstance(arg, Bin):
            data = arg.data
            if data is None and arg.length <= self.ctx.limits.max_inline_bytes:
                data = self._read_at(arg.offset, arg.length, buf_end_abs)
        elif isinstance(arg, bytes):
            data = arg  # a str argument (latin-1 / utf-8) used as bytes by some loaders
        if not data:
            return
        if self.ctx.depth + self.nest + 1 > self.ctx.limits.max_depth:
            self.add("LIMIT-NESTING", Severity.medium, "Nested pickle too deep",
                     f"a pickle nested in the argument of {fn.path} exceeds the nesting limit", offset)
            return
        self.res.nested += 1
        sub = Walker(io.BytesIO(data), self.ctx, location_prefix=f"{self.loc(offset)} > nested pickle ",
                     nest=self.nest + 1, label="nested pickle", accelerated=self.accelerated)
        sub.run()

    # ------------------------------------------------------------------ main loop
    def run(self) -> PickleResult:
        res = self.res
        try:
            self._loop()
        except Malformed as exc:
            res.error = exc.msg
            res.end = exc.offset
            self.add("PICKLE-MALFORMED", Severity.medium, f"Broken {self.label} stream",
                     f"{exc.msg}. The loader runs everything before this point; calls found before it are "
                     "reported as usual, anything after it was not analysed as pickle.", exc.offset)
        except _Truncated:
            res.error = "truncated"
            res.end = self.base
            self.add("PICKLE-MALFORMED", Severity.medium, f"Broken {self.label} stream",
                     "the stream ends inside an argument (truncated)", self.base)
        except LimitExceeded as exc:
            res.limit_hit = exc.limit
            if exc.limit == "max_seconds":
                self._flush()
                raise
            self.ctx.limit_finding(exc, self.loc(res.end or self.base))
        finally:
            if res.limit_hit != "max_seconds":
                self._flush()
        if self.seekable:
            try:
                self.stream.seek(res.end)
            except (OSError, ValueError):
                pass
        res.findings = self.ctx.findings[self.findings_start:]
        return res

    def _flush(self) -> None:
        res = self.res
        res.protocol = res.protocol
        for path, (count, off, ev, how, reason) in self.unknown_calls.items():
            times = f" ({count} times)" if count > 1 else ""
            self.add("PICKLE-UNKNOWN-CALLABLE", Severity.medium, f"Pickle calls unknown callable {path}",
                     f"{how}{times}: {path} is {reason}; the loader imports and calls it. Review before loading.",
                     off, evidence=ev)
        self.unknown_calls = {}
        imported = []
        for r in self.ref_list:
            res.globals.append((r.path, r.level, r.offset, r.count, r.called))
            if r.level == C.DANGEROUS and not r.called:
                self.add("PICKLE-DANGEROUS-IMPORT", Severity.high, f"Pickle imports {r.path}",
                         f"the loader imports {r.path} ({r.reason}) although the stream does not call it "
                         "directly; importing it has no business in a model file", r.offset, evidence=r.path,
                         remediation=REMEDIATION)
            elif r.level == C.UNKNOWN and not r.called:
                imported.append(r.path)
        if imported:
            self.add("PICKLE-UNKNOWN-IMPORT", Severity.info, f"Pickle imports {len(imported)} unlisted globals",
                     "globals that are not on the known-safe list are imported but not called: "
                     + ", ".join(imported[:20]) + (" ..." if len(imported) > 20 else ""),
                     self.ref_list[0].offset if self.ref_list else self.start, evidence=", ".join(imported[:20]))
        self.ref_list = []

    def _frame_mismatch(self, offset: int, what: str) -> None:
        self.res.frame_mismatch = True
        if getattr(self, "_fm_reported", 0) >= 5:
            return
        self._fm_reported = getattr(self, "_fm_reported", 0) + 1
        self.add("PICKLE-FRAME-MISMATCH", Severity.high, "Pickle frames do not match its opcodes",
                 f"{what}. Pickle writers never do this; it makes loaders and scanners that honour frames "
                 "disagree with CPython's C loader (which reads straight across frames), a known way to hide "
                 "calls from scanners.", offset)

    def _loop(self) -> None:  # noqa: C901 - one function on purpose: locals are fast
        # opcode values as locals: the dispatch below compares against them on every opcode
        (ADDITEMS, APPEND, APPENDS, BINFLOAT, BINGET, BININT, BININT1, BININT2, BINPERSID, BINPUT, BUILD,
         DICT, DUP, EMPTY_DICT, EMPTY_LIST, EMPTY_SET, EMPTY_TUPLE, EXT1, EXT2, EXT4, FRAME, FROZENSET, GET,
         GLOBAL, INST, LIST, LONG_BINGET, LONG_BINPUT, MARK, MEMOIZE, NEWFALSE, NEWOBJ, NEWOBJ_EX, NEWTRUE,
         NEXT_BUFFER, NONE, OBJ, POP, POP_MARK, PROTO, PUT, READONLY_BUFFER, REDUCE, SETITEM, SETITEMS,
         SHORT_BINUNICODE, STACK_GLOBAL, STOP, TUPLE, TUPLE1, TUPLE2, TUPLE3) = (
            O.ADDITEMS, O.APPEND, O.APPENDS, O.BINFLOAT, O.BINGET, O.BININT, O.BININT1, O.BININT2, O.BINPERSID,
            O.BINPUT, O.BUILD, O.DICT, O.DUP, O.EMPTY_DICT, O.EMPTY_LIST, O.EMPTY_SET, O.EMPTY_TUPLE, O.EXT1,
            O.EXT2, O.EXT4, O.FRAME, O.FROZENSET, O.GET, O.GLOBAL, O.INST, O.LIST, O.LONG_BINGET, O.LONG_BINPUT,
            O.MARK, O.MEMOIZE, O.NEWFALSE, O.NEWOBJ, O.NEWOBJ_EX, O.NEWTRUE, O.NEXT_BUFFER, O.NONE, O.OBJ,
            O.POP, O.POP_MARK, O.PROTO, O.PUT, O.READONLY_BUFFER, O.REDUCE, O.SETITEM, O.SETITEMS,
            O.SHORT_BINUNICODE, O.STACK_GLOBAL, O.STOP, O.TUPLE, O.TUPLE1, O.TUPLE2, O.TUPLE3)
        res = self.res
        # The stack is split like pickle.py's: MARK saves the current list on `meta` and starts a new
        # one, so popping below a MARK is an IndexError (C: "unpickling stack underflow").
        st: list = []
        meta: list[list] = []
        push = st.append
        pop = st.pop
        memo: dict = {}
        mlen = 0  # MEMOIZE index: number of memo slots filled (C's memo_len)
        keep = (bytes, Ref, Obj, Bin)
        buf = b""
        i = 0
        n = 0
        max_ops = self.max_ops
        INF = 1 << 62
        fe = INF  # frame end relative to buf
        chk = -1  # next position at which the slow checks run
        runs = _RUNS
        build_hooked = _BUILD_HOOKED
        DATA_ = DATA
        MISSING_ = MISSING
        SDict_ = SDict
        list_ = list
        fast = fast_cfg = None
        fast_ops = _NO_FAST_OPS  # accelerated=False: the pure-Python loop alone (differential checks)
        if self.accelerated and _fastwalk is not None:
            fast = _fastwalk.fast_forward
            fast_ops = _FAST_OPS
            fast_cfg = (SDict, SSet, Bin, DATA, MISSING, BIGTEXT, keep, MEMO_FULL, MAX_ITEMS, MAX_STACK, KEEP_TEXT,
                        KEEP_BYTES, _plain_types(keep), MEMO_MAX, NAME_MAX, Ref, Obj)
        try:
            while True:
                if i >= chk:
                    # --- slow checks: frame boundary, refill, limits
                    pos = self.base + i
                    fe_abs = self.frame_end
                    if fe_abs is not None and pos >= fe_abs:
                        if pos > fe_abs:
                            self._frame_mismatch(fe_abs, f"an opcode or its argument runs {pos - fe_abs} bytes past "
                                                         f"the end of the frame that ends at offset {fe_abs}")
                        self.frame_end = fe_abs = None
                    if not self.eof and i + MARGIN > len(buf):
                        buf, i = self._fill(buf, i, MARGIN)
                        pos = self.base + i
                    n = len(buf)
                    walked = pos - self.start - self.skipped
                    if walked > max_ops:
                        raise LimitExceeded("max_pickle_ops", f"pickle has more than {max_ops} opcodes")
                    if i >= n:
                        res.end = pos
                        self._check_limit_eof()
                        raise Malformed("stream ends without STOP (truncated)", pos)
                    fe = (fe_abs - self.base) if fe_abs is not None else INF
                    chk = n if self.eof else n - MARGIN
                    if fe < chk:
                        chk = fe
                    if i + (max_ops - walked) + 1 < chk:
                        chk = i + (max_ops - walked) + 1
                    if len(st) > MAX_STACK or len(meta) > MAX_STACK:
                        raise LimitExceeded("max_pickle_stack", f"pickle stack deeper than {MAX_STACK}")
                op = buf[i]
                if fast_ops[op]:
                    # C runs this and the following data-only opcodes up to chk, or up to an opcode it leaves
                    # to this loop, with the same effects as the branches below
                    i0 = i
                    i, st, mlen, chk, self.memo_dropped = fast(buf, i, chk, fe, self.base, st, meta, memo, mlen,
                                                               self.memo_dropped, fast_cfg)
                    push = st.append
                    pop = st.pop
                    if i != i0:
                        if i >= chk:
                            continue
                        op = buf[i]
                # ---- hot, fixed-size, data-only opcodes first
                if op == BININT1:  # K BININT1
                    push(buf[i + 1])
                    i += 2
                elif op == MEMOIZE:  # MEMOIZE
                    new = mlen not in memo  # C overwrites a filled slot without counting it
                    if len(memo) < MEMO_FULL:
                        memo[mlen] = st[-1]
                    else:
                        self._memo_set(memo, mlen, st[-1])
                    mlen += new
                    i += 1
                elif op == SHORT_BINUNICODE:  # SHORT_BINUNICODE
                    k = buf[i + 1]
                    push(buf[i + 2:i + 2 + k])
                    i += 2 + k
                elif op == BINFLOAT:  # G BINFLOAT
                    push(DATA_)
                    i += 9
                elif op == BINGET:  # h BINGET
                    k = buf[i + 1]
                    v = memo.get(k, MISSING_)
                    if v is MISSING_ and k not in memo and not self.memo_dropped:
                        raise Malformed(f"BINGET of memo index {k} that was never stored", self.base + i)
                    push(v)
                    i += 2
                elif op == MARK:  # ( MARK
                    # fast path: MARK <homogeneous numeric pushes> APPENDS
                    j = i + 1
                    c = buf[j] if j < n else -1
                    if c in runs:
                        while c in runs:
                            rx, size = runs[c]
                            m = rx.match(buf, j, n)
                            if m is None:
                                break
                            j = m.end()
                            c = buf[j] if j < n else -1
                        if c == APPENDS and j < fe and st:  # 'e' APPENDS onto a list, inside the frame
                            tgt = st[-1]
                            if type(tgt) is not list_:
                                self._container_target(tgt, "APPENDS", self.base + j)
                            i = j + 1
                            continue
                    meta.append(st)
                    st = []
                    push = st.append
                    pop = st.pop
                    i += 1
                elif op == BININT2:  # M BININT2
                    push(buf[i + 1] | (buf[i + 2] << 8))
                    i += 3
                elif op == BININT:  # J BININT
                    push(_i32(buf, i + 1)[0])
                    i += 5
                elif op == APPENDS or op == SETITEMS:  # e APPENDS / u SETITEMS
                    items = st
                    st = meta.pop()
                    push = st.append
                    pop = st.pop
                    tgt = st[-1]
                    if op == APPENDS:
                        if type(tgt) is list_:
                            if len(tgt) < MAX_ITEMS:
                                tgt.extend(items[:MAX_ITEMS - len(tgt)])
                        else:
                            self._container_target(tgt, "APPENDS", self.base + i, items)
                    else:
                        if len(items) & 1:
                            raise Malformed("odd number of items for SETITEMS", self.base + i)
                        if type(tgt) is SDict_:
                            if len(tgt) < MAX_ITEMS:
                                tgt.extend(items[:MAX_ITEMS - len(tgt)])
                        else:
                            self._container_target(tgt, "SETITEMS", self.base + i, items)
                    i += 1
                elif op == EMPTY_DICT:  # } EMPTY_DICT
                    push(SDict_())
                    i += 1
                elif op == EMPTY_LIST:  # ] EMPTY_LIST
                    push([])
                    i += 1
                elif op == TUPLE2:  # TUPLE2
                    b = pop()
                    st[-1] = (st[-1], b)
                    i += 1
                elif op == EMPTY_TUPLE:  # ) EMPTY_TUPLE
                    push(())
                    i += 1
                elif op == TUPLE1:  # TUPLE1
                    st[-1] = (st[-1],)
                    i += 1
                elif op == TUPLE3:  # TUPLE3
                    c3 = pop()
                    b = pop()
                    st[-1] = (st[-1], b, c3)
                    i += 1
                elif op == NONE:  # N NONE
                    push(None)
                    i += 1
                elif op == NEWTRUE:  # NEWTRUE
                    push(True)
                    i += 1
                elif op == NEWFALSE:  # NEWFALSE
                    push(False)
                    i += 1
                elif op == BINPUT:  # q BINPUT
                    k = buf[i + 1]
                    v = st[-1]
                    if k not in memo:
                        mlen += 1
                    self._memo_set(memo, k, v)
                    i += 2
                elif op == SETITEM:  # s SETITEM
                    v = pop()
                    k = pop()
                    tgt = st[-1]
                    if type(tgt) is SDict_:
                        if len(tgt) < MAX_ITEMS:
                            tgt.append(k)
                            tgt.append(v)
                    else:
                        self._container_target(tgt, "SETITEM", self.base + i, [k, v])
                    i += 1
                elif op == APPEND:  # a APPEND
                    v = pop()
                    tgt = st[-1]
                    if type(tgt) is list_:
                        if len(tgt) < MAX_ITEMS:
                            tgt.append(v)
                    else:
                        self._container_target(tgt, "APPEND", self.base + i, [v])
                    i += 1
                elif op == FRAME:  # FRAME
                    flen = _u64(buf, i + 1)[0]
                    off = self.base + i
                    if self.frame_end is not None:
                        self._frame_mismatch(off, f"a new FRAME starts at offset {off} before the frame ending at "
                                                  f"{self.frame_end} was consumed")
                    i += 9
                    fstart = self.base + i
                    if fstart + flen > (self.hard_end if self.hard_end is not None else INF):
                        raise Malformed(f"FRAME of {flen} bytes runs past the end of the data", off)
                    size = getattr(self.stream, "size", None)
                    if self.hard_end is None and isinstance(size, int) and fstart + flen > size:
                        raise Malformed(f"FRAME of {flen} bytes runs past the end of the data", off)
                    self.frame_end = fstart + flen if flen else None
                    chk = i  # recompute frame-relative checks
                elif op == PROTO:  # PROTO
                    p = buf[i + 1]
                    if p > 5:
                        raise Malformed(f"unsupported pickle protocol {p}", self.base + i)
                    self.proto = p
                    if res.protocol is None:
                        res.protocol = p
                    i += 2
                elif op == STACK_GLOBAL:  # STACK_GLOBAL
                    name = pop()
                    module = st[-1]
                    st[-1] = self._stack_global(module, name, self.base + i)
                    i += 1
                elif op == REDUCE:  # R REDUCE
                    args = pop()
                    fn = st[-1]
                    st[-1] = self.call(fn, args, self.base + i, "REDUCE", self.base + n)
                    i += 1
                elif op == BUILD:  # b BUILD
                    state = pop()
                    tgt = st[-1]
                    i += 1
                    if type(tgt) is Obj:
                        prev = tgt.state
                        tgt.state = state
                        fn = tgt.fn
                        if prev is not None or (fn is not None and fn.path in build_hooked):
                            self._build(tgt, prev, state, self.base + i - 1)
                        if fn is not None and fn.path == "joblib.numpy_pickle.NumpyArrayWrapper":
                            buf, i = self._joblib_array(tgt, buf, i)
                            n = len(buf)
                            chk = i
                    elif isinstance(tgt, Ref):
                        self._mutation(tgt, "BUILD", self.base + i - 1, state)
                elif op == NEWOBJ:  # NEWOBJ
                    args = pop()
                    cls = st[-1]
                    st[-1] = self.call(cls, args, self.base + i, "NEWOBJ (cls.__new__)", self.base + n)
                    i += 1
                elif op == NEWOBJ_EX:  # NEWOBJ_EX
                    kwargs = pop()
                    args = pop()
                    cls = st[-1]
                    allargs = (args + (kwargs,)) if isinstance(args, tuple) else (args, kwargs)
                    st[-1] = self.call(cls, allargs, self.base + i, "NEWOBJ_EX (cls.__new__ with keywords)",
                                       self.base + n)
                    i += 1
                elif op == LONG_BINPUT:  # r LONG_BINPUT
                    k = _u32(buf, i + 1)[0]
                    v = st[-1]
                    if k not in memo:
                        mlen += 1
                    self._memo_set(memo, k, v)
                    i += 5
                elif op == LONG_BINGET:  # j LONG_BINGET
                    k = _u32(buf, i + 1)[0]
                    v = memo.get(k, MISSING_)
                    if v is MISSING_ and k not in memo and not self.memo_dropped:
                        raise Malformed(f"LONG_BINGET of memo index {k} that was never stored", self.base + i)
                    push(v)
                    i += 5
                elif op == STOP:  # . STOP
                    if not st:
                        raise Malformed("STOP with an empty stack", self.base + i)
                    res.complete = True
                    res.end = self.base + i + 1
                    res.ops = res.end - self.start - self.skipped
                    return
                elif op == POP:  # 0 POP
                    if st:
                        pop()
                    else:  # C pops the MARK itself when the stack above it is empty
                        st = meta.pop()
                        push = st.append
                        pop = st.pop
                    i += 1
                elif op == POP_MARK:  # 1 POP_MARK
                    st = meta.pop()
                    push = st.append
                    pop = st.pop
                    i += 1
                elif op == DUP:  # 2 DUP
                    push(st[-1])
                    i += 1
                elif op == TUPLE or op == LIST or op == DICT or op == FROZENSET:  # TUPLE LIST DICT FROZENSET
                    items = st
                    st = meta.pop()
                    push = st.append
                    pop = st.pop
                    if op == DICT and len(items) & 1:
                        raise Malformed("odd number of items for DICT", self.base + i)
                    if len(items) > MAX_ITEMS:
                        items = items[:MAX_ITEMS]
                    if op == TUPLE:
                        push(tuple(items))
                    elif op == LIST:
                        push(items)
                    elif op == DICT:
                        push(SDict_(items))
                    else:
                        push(SSet(items))
                    i += 1
                elif op == EMPTY_SET:  # EMPTY_SET
                    push(SSet())
                    i += 1
                elif op == ADDITEMS:  # ADDITEMS
                    items = st
                    st = meta.pop()
                    push = st.append
                    pop = st.pop
                    tgt = st[-1]
                    if type(tgt) is SSet:
                        if len(tgt) < MAX_ITEMS:
                            tgt.extend(items[:MAX_ITEMS - len(tgt)])
                    else:
                        self._container_target(tgt, "ADDITEMS", self.base + i, items)
                    i += 1
                elif op == GLOBAL or op == INST:  # c GLOBAL / i INST
                    off = self.base + i
                    buf, i, module_b = self._line(buf, i + 1)
                    buf, i, name_b = self._line(buf, i)
                    n = len(buf)
                    chk = i
                    cls = self.make_ref(self._decode_name(module_b, off), self._decode_name(name_b, off), off)
                    if op == GLOBAL:
                        push(cls)
                    else:
                        items = st
                        st = meta.pop()
                        push = st.append
                        pop = st.pop
                        push(self.call(cls, tuple(items[:MAX_ITEMS]), off, "INST (instantiation)", self.base + n))
                elif op == OBJ:  # o OBJ
                    off = self.base + i
                    items = st
                    st = meta.pop()
                    push = st.append
                    pop = st.pop
                    if not items:
                        raise Malformed("stack underflow (OBJ without a class)", off)
                    push(self.call(items[0], tuple(items[1:MAX_ITEMS]), off, "OBJ (instantiation)", self.base + n))
                    i += 1
                elif op == EXT1 or op == EXT2 or op == EXT4:  # EXT1 EXT2 EXT4
                    off = self.base + i
                    if op == EXT1:
                        code = buf[i + 1]
                        i += 2
                    elif op == EXT2:
                        code = _u16(buf, i + 1)[0]
                        i += 3
                    else:
                        code = _i32(buf, i + 1)[0]
                        i += 5
                    if code <= 0:
                        raise Malformed("EXT specifies code <= 0", off)
                    push(self._ext(code, off))
                elif op in _VAR_OPS:
                    buf, i = self._var_arg(op, buf, i, push)
                    n = len(buf)
                    chk = i
                elif op in _LINE_OPS:  # protocol 0 line-argument opcodes
                    off = self.base + i
                    buf, i, line = self._line(buf, i + 1)
                    n = len(buf)
                    chk = i
                    if op == PUT:  # p PUT
                        key = self._c_int(line, 10, off, "PUT")
                        if key < 0:
                            raise Malformed("negative PUT argument", off)
                        v = st[-1]
                        if key not in memo:
                            mlen += 1
                        self._memo_set(memo, key, v)
                    elif op == GET:  # g GET
                        key = self._c_int(line, 10, off, "GET")
                        v = memo.get(key, MISSING_)
                        if v is MISSING_ and key not in memo and not self.memo_dropped:
                            raise Malformed(f"GET of memo index {key} that was never stored", off)
                        push(v)
                    else:
                        push(self._line_value(op, line, off))
                elif op == BINPERSID:  # Q BINPERSID
                    pid = pop()
                    if len(res.persistent_ids) < 100_000:
                        res.persistent_ids.append(to_plain(pid))
                    push(PERSISTENT)
                    i += 1
                elif op == NEXT_BUFFER:  # NEXT_BUFFER
                    push(DATA_)
                    i += 1
                elif op == READONLY_BUFFER:  # READONLY_BUFFER
                    st[-1]
                    i += 1
                else:
                    raise Malformed(f"invalid opcode {op:#04x}", self.base + i)
        except (IndexError, struct.error):
            if self.eof and i + 16 >= len(buf):
                self._check_limit_eof()
                raise Malformed("stream ends inside an opcode argument (truncated)", self.base + i) from None
            raise Malformed(f"stack underflow or missing MARK at opcode {buf[i:i + 1]!r}", self.base + i) from None

    def _check_limit_eof(self) -> None:
        if self.limit_eof:
            raise LimitExceeded("max_pickle_bytes",
                                f"pickle stream is longer than {self.ctx.limits.max_pickle_bytes} bytes")

    def _ext(self, code: int, off: int) -> Ref:
        self.add("PICKLE-EXTENSION-CODE", Severity.high, f"Pickle uses extension code {code}",
                 "EXT opcodes name a global through copyreg's extension registry, which is empty in a stock "
                 "interpreter but resolves to any callable where an extension is registered; model files have "
                 "no use for them", off, evidence=f"EXT code {code}")
        return Ref(f"<extension code {code}>", "<extension>", str(code), C.UNKNOWN,
                   "resolved through copyreg's extension registry", off, "ext")

    # ------------------------------------------------------------------ helpers (cold paths)
    def _memo_set(self, memo: dict, k: int, v) -> None:
        """memo[k] = v, bounded (memo.py): verbatim up to MEMO_FULL entries, then compact or dropped."""
        if not memo_store(memo, k, v, MEMO_FULL, MEMO_MAX):
            self.memo_dropped = True  # a GET of it yields MISSING

    def _pop_mark(self, st: list, marks: list, i: int | None, off: int | None = None) -> list:
        if not marks:
            raise Malformed("could not find MARK", off if off is not None else self.base + (i or 0))
        k = marks.pop()
        items = st[k:]
        del st[k:]
        return items

    _IMPLIED = {"APPEND": ("append",), "APPENDS": ("extend", "append"), "SETITEM": ("__setitem__",),
                "SETITEMS": ("__setitem__",), "ADDITEMS": ("add",)}

    def _container_target(self, tgt, how: str, offset: int, items=None) -> None:
        if isinstance(tgt, Ref):
            self._mutation(tgt, how, offset, items)
        elif isinstance(tgt, Obj):
            # the loader calls the instance's own append/extend (looked up on the instance: an earlier BUILD
            # may have planted them) or its class's __setitem__/add
            for method in self._IMPLIED[how]:
                planted = _planted(tgt.state, method) if how.startswith("APPEND") else None
                if planted is not None:
                    self.call(planted, tuple(items or ()), offset,
                              f"{how} (calls .{method}, planted by an earlier BUILD)", 0)
                    return
                self._implied_call(tgt, method, tuple(items or ()), offset, f"{how} (calls .{method})", 0)

    def _build(self, tgt: Obj, prev, state, offset: int) -> None:
        """BUILD calls __setstate__ (the class's, or one an earlier BUILD planted in the instance dict),
        else sets attributes; a functools.partial's state carries the function it will call."""
        planted = _planted(prev, "__setstate__") if prev is not None else None
        if planted is not None:
            self.call(planted, (state,), offset, "BUILD (calls a __setstate__ planted by an earlier BUILD)", 0)
            return
        fn = tgt.fn
        if isinstance(fn, Ref) and fn.path == "functools.partial" and isinstance(state, tuple) and state \
                and isinstance(state[0], (Ref, Obj)):
            self.call(state[0], (), offset, "BUILD of functools.partial (its function is called later)", 0)
            return
        # (a dangerous global planted in the state is reported as imported-but-not-called when the walk ends)
        self._implied_call(tgt, "__setstate__", (state,), offset, "BUILD (calls __setstate__)", 0)

    def _mutation(self, tgt: Ref, how: str, offset: int, state) -> None:
        self.seen_mutation += 1
        if self.seen_mutation > 20:
            return
        self.add("PICKLE-GLOBAL-MUTATION", Severity.high, f"Pickle modifies {tgt.path} in place",
                 f"{how} is applied to the imported global {tgt.path} itself rather than to a new object: the "
                 "loader sets attributes/items on a module, class or function (monkey-patching, sys.modules / "
                 "os.environ edits)", offset, evidence=f"{how} {tgt.path} <- {render(state)}", remediation=REMEDIATION)

    def _decode_name(self, b: bytes, off: int) -> str:
        try:
            return b.decode("utf-8")
        except UnicodeDecodeError:
            raise Malformed("GLOBAL name is not valid UTF-8", off) from None

    def _stack_global(self, module, name, off: int):
        if isinstance(module, bytes) and isinstance(name, bytes):
            return self.make_ref(self._decode_name(module, off), self._decode_name(name, off), off)
        if isinstance(module, Bin) or isinstance(name, Bin) or isinstance(module, (int, float, tuple, list)) \
                or isinstance(name, (int, float, tuple, list)) or module is None or name is None:
            raise Malformed("STACK_GLOBAL requires str", off)
        # operands computed at load time (call results, untracked memo entries)
        r = Ref(f"<computed {render(module)}.{render(name)}>", "<computed>", "", C.DANGEROUS,
                "module or name computed at load time, cannot be resolved statically", off, "global")
        self.ref_list.append(r)
        self.add("PICKLE-UNRESOLVED-GLOBAL", Severity.high, "Pickle imports a global whose name is computed",
                 "STACK_GLOBAL operands are not constant strings (they come from a call or an untracked memo "
                 "entry); real pickles always name their globals with literal strings", off,
                 evidence=f"STACK_GLOBAL({render(module)}, {render(name)})", remediation=REMEDIATION)
        r.called = 1  # reported already
        return r

    def _line(self, buf: bytes, i: int) -> tuple[bytes, int, bytes]:
        """A protocol-0 newline-terminated argument at i; returns (buf, i after newline, line w/o newline)."""
        while True:
            j = buf.find(b"\n", i)
            if j >= 0:
                return buf, j + 1, buf[i:j]
            if self.eof:
                self._check_limit_eof()
                raise Malformed("line argument without a newline (truncated)", self.base + i)
            if len(buf) - i > MAX_LINE:
                raise Malformed(f"line argument longer than {MAX_LINE} bytes", self.base + i)
            buf, i = self._fill(buf, i, len(buf) - i + CHUNK)

    def _c_int(self, line: bytes, base: int, off: int, what: str) -> int:
        """Parse an integer the way _pickle.c does (PyLong_FromString on a NUL-terminated copy)."""
        text = line.split(b"\x00", 1)[0]
        try:
            v = int(text, base)
        except ValueError:
            raise Malformed(f"bad {what} argument {line[:40]!r}", off) from None
        if b"\x00" in line:
            self._differential(off, what, line)
        return v

    def _differential(self, off: int, what: str, line: bytes) -> None:
        self.differential += 1
        if self.differential > 5:
            return
        self.add("PICKLE-PARSER-DIFFERENTIAL", Severity.high,
                 f"{what} argument that only CPython's C loader accepts",
                 "the argument is written in a form pickle writers never produce and pickletools-based "
                 "scanners reject (so they stop reading here), while the C loader accepts it and goes on; "
                 "a known way to hide the rest of a pickle from scanners", off, evidence=line[:80])

    def _line_value(self, op: int, line: bytes, off: int):
        if op == INT or op == LONG:  # INT / LONG
            what = "INT" if op == INT else "LONG"
            if op == INT and line in (b"00", b"01"):
                return line == b"01"
            s = line[:-1] if op == LONG and line.endswith(b"L") else line
            try:
                return int(s)  # what pickletools (and every writer) accepts
            except ValueError:
                pass
            cs = line.split(b"\x00", 1)[0]
            if op == LONG and cs.endswith(b"L"):
                cs = cs[:-1]
            v = None
            if op == INT:
                m = _STRTOL.match(cs)
                if m and m.end() == len(cs):
                    t = m.group(1)
                    sign = -1 if cs.strip().startswith(b"-") else 1
                    if t[:2] in (b"0x", b"0X"):
                        v = sign * int(t[2:], 16)
                    elif len(t) > 1 and t[0:1] == b"0":
                        v = sign * int(t, 8)
                    else:
                        v = sign * int(t)
            if v is None:
                try:
                    v = int(cs, 0)
                except ValueError:
                    raise Malformed(f"bad {what} argument {line[:40]!r}", off) from None
            self._differential(off, what, line)
            return v
        if op == FLOAT:  # FLOAT
            try:
                float(line)
                return DATA
            except ValueError:
                pass
            try:
                float(line.split(b"\x00", 1)[0])
            except ValueError:
                raise Malformed(f"bad FLOAT argument {line[:40]!r}", off) from None
            self._differential(off, "FLOAT", line)
            return DATA
        if op == STRING:  # STRING: quoted, escaped
            if len(line) < 2 or line[0] != line[-1] or line[0] not in b"'\"":
                raise Malformed("the STRING opcode argument must be quoted", off)
            try:
                v = codecs.escape_decode(line[1:-1])[0]
            except ValueError:
                raise Malformed("bad STRING escape", off) from None
            return v if len(v) <= KEEP_TEXT else BIGTEXT
        if op == UNICODE:  # UNICODE: raw-unicode-escape
            try:
                s = line.decode("raw-unicode-escape")
            except UnicodeDecodeError:
                raise Malformed("bad UNICODE argument", off) from None
            return s.encode("utf-8", "surrogatepass") if len(s) <= KEEP_TEXT else BIGTEXT
        if op == PERSID:  # PERSID
            if len(self.res.persistent_ids) < 100_000:
                self.res.persistent_ids.append(line.decode("ascii", "replace"))
            return PERSISTENT
        return DATA

    def _var_arg(self, op: int, buf: bytes, i: int, push) -> tuple[bytes, int]:
        """Length-prefixed arguments: strings, bytes, longs. Large ones are skipped, not read."""
        off = self.base + i
        if op == BINUNICODE or op == BINBYTES:  # BINUNICODE / BINBYTES: 4-byte unsigned length
            hdr = 5
            length = _u32(buf, i + 1)[0]
        elif op == BINUNICODE8 or op == BINBYTES8 or op == BYTEARRAY8:  # BINUNICODE8 / BINBYTES8 / BYTEARRAY8
            hdr = 9
            length = _u64(buf, i + 1)[0]
        elif op == BINSTRING:  # BINSTRING: signed 4-byte length
            hdr = 5
            length = _i32(buf, i + 1)[0]
            if length < 0:
                raise Malformed("BINSTRING pickle has negative byte count", off)
        elif op == LONG4:  # LONG4
            hdr = 5
            length = _i32(buf, i + 1)[0]
            if length < 0:
                raise Malformed("LONG pickle has negative byte count", off)
        else:  # SHORT_BINBYTES / SHORT_BINSTRING / LONG1: 1-byte length
            hdr = 2
            length = buf[i + 1]
        start = i + hdr
        end = start + length
        text = op in (BINUNICODE, BINUNICODE8, BINSTRING, SHORT_BINSTRING)
        if end <= len(buf):
            data = buf[start:end] if (length <= KEEP_BYTES) else None
        elif length <= CHUNK:
            buf, i = self._fill(buf, i, hdr + length)
            start, end = i + hdr, i + hdr + length
            if end > len(buf):
                self._check_limit_eof()
                raise Malformed(f"argument of {length} bytes runs past the end of the data (truncated)", off)
            data = buf[start:end] if length <= KEEP_BYTES else None
        else:
            # large: seek over it (the hashing reader hashes it on the way); keep its location
            abs_end = self.base + end
            self.skipped += length
            try:
                buf = self._skip_to(abs_end)
            except _Truncated:
                raise Malformed(f"argument of {length} bytes runs past the end of the data (truncated)",
                                off) from None
            i = 0
            end = 0
            data = None
        if op == LONG4 or op == LONG1:  # LONG4 / LONG1
            push(int.from_bytes(data, "little", signed=True) if data is not None and length <= 16 else DATA)
        elif text:
            push(data if data is not None and length <= KEEP_TEXT else BIGTEXT)
        else:
            push(Bin(data, off + hdr, length))
        return buf, end

    # ------------------------------------------------------------------ joblib
    def _joblib_array(self, wrapper: Obj, buf: bytes, i: int) -> tuple[bytes, int]:
        """joblib writes the raw array bytes right after the BUILD of a NumpyArrayWrapper: skip them."""
        self.is_joblib = True
        self.ctx.notes["format"] = "joblib"
        off = self.base + i
        if self.frame_end is not None and self.frame_end > off:
            self._frame_mismatch(off, "a joblib array wrapper is built before the end of its frame; joblib's "
                                      "pure-Python loader then reads the array bytes from after the frame")
        self.frame_end = None  # joblib commits the frame before writing the array bytes
        state = wrapper.state
        if not isinstance(state, SDict):
            raise Malformed("joblib NumpyArrayWrapper without a state dict", off)
        shape = state.get_text(b"shape")
        dtype = state.get_text(b"dtype")
        align = state.get_text(b"numpy_array_alignment_bytes")
        count = 1
        if not isinstance(shape, tuple) or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0
                                                   for d in shape):
            raise Malformed(f"joblib array shape cannot be read ({render(shape)})", off)
        for d in shape:
            count *= d
        itemsize, hasobject = self._dtype_info(dtype, off)
        self.res.joblib_arrays += 1
        if hasobject:
            # joblib pickles object arrays as a separate pickle, in place
            self.stream.seek(off) if self.seekable else None
            if not self.seekable:
                raise Malformed("joblib object array in a non-seekable stream", off)
            if self.ctx.depth + self.nest + 1 > self.ctx.limits.max_depth:
                raise LimitExceeded("max_depth", "joblib object arrays nested too deep")
            sub = Walker(self.stream, self.ctx, location_prefix=f"{self.loc(off)} > joblib object array ",
                         max_bytes=(self.read_end - off), nest=self.nest + 1, label="joblib object-array pickle",
                         accelerated=self.accelerated)
            r = sub.run()
            self.base = r.end
            self.eof = r.end >= self.read_end
            if not r.complete:
                raise Malformed("joblib object array pickle is broken", r.end)
            self.stream.seek(r.end)
            return b"", 0
        nbytes = count * itemsize
        self.skipped += nbytes
        pos = off
        if align is not None:
            buf, i = self._reposition(buf, i, pos)
            if i >= len(buf):
                buf, i = self._fill(buf, i, 1)
            if i >= len(buf):
                raise Malformed("joblib array padding missing (truncated)", pos)
            pad = buf[i]
            pos += 1 + pad
        target = pos + nbytes
        try:
            return self._reposition(buf, i, target) if target - self.base <= len(buf) else (self._skip_to(target), 0)
        except _Truncated:
            raise Malformed(f"joblib array data ({nbytes} bytes) runs past the end of the data", off) from None

    def _dtype_info(self, dtype, off: int) -> tuple[int, bool]:
        if not isinstance(dtype, Obj) or not isinstance(dtype.fn, Ref) or dtype.fn.path != "numpy.dtype" \
                or not isinstance(dtype.args, tuple) or not dtype.args or not isinstance(dtype.args[0], bytes):
            raise Malformed(f"joblib array dtype cannot be read ({render(dtype)})", off)
        typestr = dtype.args[0].decode("ascii", "replace")
        state = dtype.state if isinstance(dtype.state, tuple) else ()
        flags = state[7] if len(state) > 7 and isinstance(state[7], int) else 0
        hasobject = typestr.startswith("O") or bool(flags & 1)
        elsize = state[5] if len(state) > 5 and isinstance(state[5], int) else -1
        if elsize > 0:
            return elsize, hasobject
        m = _DIGITS.search(typestr)
        if not m:
            if hasobject:
                return 8, True
            raise Malformed(f"joblib array dtype {typestr!r} has no size", off)
        return int(m.group()), hasobject
