"""Development-time generator of the pickle tables committed next to it (never run by the scanner).

    python -m modelscreen.engine.pickle.tables.generate [--libs numpy,scipy,sklearn,...] [--only-known-safe]

aliases.json  which module attribute is which module, function or class (`posixpath.os` -> `os`,
              `os.system` -> `posix.system`), read from the live modules of the generating interpreter
              (stdlib and the ML libraries installed there), so that a dotted name in a pickle resolves to
              its real target on any scanning host.
known_safe.json  reconstructors the libraries' own pickles name (found by pickling example objects here)
              and the ones named by hand (torch's weights_only allow-list, transformers, Lightning), each with
              its source.
gadgets.json  callables whose source reaches a sink (process creation, code evaluation, module import,
              file creation/writes, network, native code) within a bounded number of calls: an AST call
              graph over the stdlib's and those libraries' source, walked backwards from the sinks.

Both files record the Python and library versions they were made from.
"""
from __future__ import annotations

import ast
import contextlib
import importlib
import inspect
import io
import json
import pkgutil
import sys
import sysconfig
import types
import warnings
from collections import defaultdict, deque
from pathlib import Path

HERE = Path(__file__).parent
DEFAULT_LIBS = ("numpy", "scipy", "sklearn", "joblib", "pandas", "torch", "transformers", "omegaconf",
                "lightning", "pytorch_lightning", "lightgbm", "xgboost", "safetensors", "yaml", "dill",
                "cloudpickle")
MAX_DEPTH = 6
# importing these has visible effects (browser, printing, GUI) or needs a display
NO_IMPORT = ("antigravity", "this", "idlelib", "tkinter", "turtle", "turtledemo", "__main__", "test",
             "lib2to3", "pydoc_data", "ensurepip._bundled", "_pyrepl", "xxsubtype", "sklearn.conftest",
             "numpy.conftest", "pandas.conftest", "torch._dynamo", "torch._inductor")
SKIP_DIRS = {"test", "tests", "testing_data", "idlelib", "tkinter", "turtledemo", "site-packages", "__pycache__",
             "lib2to3", "_vendor"}

# ------------------------------------------------------------------------------------------- sinks
PROCESS = "process creation"
CODE = "code evaluation"
IMPORT = "module import"
FILE = "file creation or write"
NET = "network access"
NATIVE = "native code loading"
NESTED = "nested deserialization"

SINKS: dict[str, str] = {}
for _n in ("system", "popen", "execl", "execle", "execlp", "execlpe", "execv", "execve", "execvp", "execvpe",
           "spawnl", "spawnle", "spawnlp", "spawnlpe", "spawnv", "spawnve", "spawnvp", "spawnvpe", "posix_spawn",
           "posix_spawnp", "fork", "forkpty", "startfile"):
    SINKS[f"os.{_n}"] = PROCESS
    SINKS[f"posix.{_n}"] = PROCESS
for _n in ("Popen", "run", "call", "check_call", "check_output", "getoutput", "getstatusoutput"):
    SINKS[f"subprocess.{_n}"] = PROCESS
SINKS.update({"_posixsubprocess.fork_exec": PROCESS, "pty.spawn": PROCESS, "pty.fork": PROCESS,
              "asyncio.create_subprocess_exec": PROCESS, "asyncio.create_subprocess_shell": PROCESS,
              "builtins.eval": CODE, "builtins.exec": CODE, "builtins.compile": CODE, "builtins.breakpoint": CODE,
              "runpy.run_path": CODE, "runpy.run_module": CODE, "runpy._run_code": CODE,
              "code.InteractiveInterpreter.runsource": CODE, "code.interact": CODE,
              "builtins.__import__": IMPORT, "importlib.import_module": IMPORT, "importlib.__import__": IMPORT,
              "importlib.util.module_from_spec": IMPORT, "importlib.reload": IMPORT,
              "socket.socket": NET, "socket.create_connection": NET, "socket.create_server": NET,
              "_socket.socket": NET, "socket.socketpair": NET,
              "ctypes.CDLL": NATIVE, "ctypes.PyDLL": NATIVE, "ctypes.cdll.LoadLibrary": NATIVE,
              "_ctypes.dlopen": NATIVE, "ctypes.LibraryLoader.LoadLibrary": NATIVE,
              "sqlite3.connect": FILE, "_sqlite3.connect": FILE})
for _n in ("pickle.load", "pickle.loads", "pickle.Unpickler", "pickle._load", "pickle._loads", "pickle._Unpickler",
           "_pickle.load", "_pickle.loads", "_pickle.Unpickler", "marshal.load", "marshal.loads", "yaml.load",
           "yaml.unsafe_load", "yaml.full_load", "numpy.load", "joblib.load", "torch.load", "dill.load", "dill.loads",
           "cloudpickle.load", "cloudpickle.loads", "shelve.open", "jsonpickle.decode"):
    SINKS[_n] = NESTED
for _n in ("mkdir", "makedirs", "rename", "renames", "replace", "remove", "unlink", "rmdir", "removedirs",
           "symlink", "link", "chmod", "chown", "lchown", "truncate", "mkfifo", "mknod", "utime", "putenv",
           "write", "ftruncate", "setxattr", "chdir", "chroot", "kill", "killpg"):
    SINKS[f"os.{_n}"] = FILE if _n not in ("putenv", "chdir", "chroot", "kill", "killpg") else PROCESS
    SINKS[f"posix.{_n}"] = SINKS[f"os.{_n}"]
OPENERS = {"builtins.open", "io.open", "_io.open", "codecs.open", "io.FileIO", "_io.FileIO", "os.open",
           "posix.open", "os.fdopen"}
# sinks that only matter when their argument comes from the caller (a parameter, or data derived from one):
# `__import__("json")` or `exec(TEMPLATE)` is not a gadget; these also propagate only through calls that pass
# something other than constants
DATA_KINDS = {CODE, IMPORT, NESTED}
# widely used functions whose sink is reached only under a non-default flag (eval_str=True, a file handler
# configured elsewhere): their reach does not propagate to their callers (calling them directly still counts)
BARRIERS = {"inspect.signature", "inspect.Signature.from_callable", "inspect._signature_from_callable",
            "inspect._signature_from_function", "inspect.get_annotations", "inspect.getsource",
            "inspect.getsourcelines", "inspect.findsource", "inspect.getmodule", "inspect.getfile",
            "warnings.warn", "warnings.warn_explicit", "warnings._showwarnmsg", "warnings.showwarning",
            "logging.Logger._log", "logging.Logger.handle", "logging.Logger.callHandlers", "logging.Handler.handle",
            "logging.getLogger", "logging.Logger.warning", "logging.Logger.info", "logging.Logger.debug",
            "logging.Logger.error", "logging.Logger.exception", "logging.warning", "logging.info", "logging.debug",
            "logging.error", "logging.exception", "traceback.print_exc", "traceback.format_exc",
            "traceback.print_exception", "traceback.format_exception", "traceback.extract_stack",
            "linecache.getline", "linecache.getlines", "linecache.updatecache", "linecache.checkcache"}

BUILTIN_NAMES = set(dir(__import__("builtins")))


# ------------------------------------------------------------------------------------------- modules
def _stdlib_root() -> Path:
    return Path(sysconfig.get_paths()["stdlib"])


def _lib_roots(libs: list[str]) -> dict[str, Path]:
    out = {}
    for name in libs:
        spec = importlib.util.find_spec(name)
        if spec is None or not spec.submodule_search_locations and not spec.origin:
            continue
        if spec.submodule_search_locations:
            out[name] = Path(list(spec.submodule_search_locations)[0])
        else:
            out[name] = Path(spec.origin)
    return out


def _source_files() -> dict[str, Path]:
    """module name -> source file, for the stdlib and the libraries chosen."""
    files: dict[str, Path] = {}
    root = _stdlib_root()
    for p in root.rglob("*.py"):
        rel = p.relative_to(root)
        if any(part in SKIP_DIRS or part.startswith("test") for part in rel.parts[:-1]):
            continue
        if rel.parts[0] in ("site-packages", "dist-packages", "config-3.11-x86_64-linux-gnu"):
            continue
        files[_modname(rel)] = p
    return files


def _lib_files(roots: dict[str, Path]) -> dict[str, Path]:
    files: dict[str, Path] = {}
    for name, path in roots.items():
        if path.is_file():
            files[name] = path
            continue
        for p in path.rglob("*.py"):
            rel = p.relative_to(path)
            if any(part in SKIP_DIRS or part.startswith("test") for part in rel.parts[:-1]):
                continue
            files[_modname(Path(name) / rel)] = p
    return files


def _modname(rel: Path) -> str:
    parts = list(rel.with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


# ------------------------------------------------------------------------------------------- aliases
def _canon(obj) -> str | None:
    if isinstance(obj, types.ModuleType):
        return "m:" + obj.__name__
    mod = getattr(obj, "__module__", None)
    qual = getattr(obj, "__qualname__", None) or getattr(obj, "__name__", None)
    if isinstance(mod, str) and isinstance(qual, str) and "<" not in qual:
        return f"{mod}.{qual}"
    return None


_PLAIN = (int, float, str, bytes, bool, type(None), tuple, list, dict, set, frozenset, complex)


def aliases(module_names: list[str]) -> dict[str, dict[str, str]]:
    """{module: {attr: target}} where target is 'm:<module>' for a module, 'i:<class>' for an instance,
    else the callable's own qualified name; only entries whose target differs from module.attr."""
    out: dict[str, dict[str, str]] = {}
    for name in sorted(module_names):
        if name.startswith(NO_IMPORT) or any(part.startswith("test") for part in name.split(".")[1:]):
            continue
        try:
            with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), \
                    contextlib.redirect_stderr(io.StringIO()):
                warnings.simplefilter("ignore")
                mod = importlib.import_module(name)
        except BaseException:  # noqa: BLE001 - optional parts of libraries fail to import
            continue
        table = {}
        for attr, value in list(vars(mod).items()):
            if attr in ("__builtins__", "__loader__", "__spec__", "__file__", "__cached__", "__doc__",
                        "__name__", "__package__", "__path__", "__annotations__", "__all__", "__version__"):
                continue
            here = f"{name}.{attr}"
            if isinstance(value, types.ModuleType) or inspect.isclass(value) or inspect.isroutine(value) \
                    or isinstance(value, type):
                c = _canon(value)
                if c is None or c == here or c == "m:" + here:
                    continue
                table[attr] = c
            elif not isinstance(value, _PLAIN) and not attr.startswith("__"):
                c = _canon(type(value))
                if c and not c.startswith("builtins."):
                    table[attr] = "i:" + c
        if table:
            out[name] = dict(sorted(table.items()))
    return out


# ------------------------------------------------------------------------------------------- call graph
class _Module(ast.NodeVisitor):
    """Definitions, import names and call edges of one module."""

    def __init__(self, name: str, is_pkg: bool):
        self.name = name
        self.pkg = name if is_pkg else name.rpartition(".")[0]
        self.imports: dict[str, str] = {}
        self.defs: set[str] = set()
        self.edges: dict[str, set[str]] = defaultdict(set)
        self.data_edges: dict[str, set[str]] = defaultdict(set)  # calls that pass non-constant arguments
        self.tainted: list[set[str]] = []  # per function: parameters and locals computed from them
        self.sinks: dict[str, tuple[str, str]] = {}
        self.scope: list[str] = []
        self.kinds: list[str] = []
        self.cls: list[str] = []
        self.params: list[set[str]] = []
        self.top: set[str] = set()
        self.classes: set[str] = set()
        self.locals: list[dict[str, str]] = []  # per function: variable -> class it was made from

    def prepare(self, tree: ast.Module) -> None:
        """Imports anywhere in the file and the module's own top-level names, before any call is resolved."""
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                self._import(node)
            elif isinstance(node, ast.ImportFrom):
                self._import_from(node)
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                self.top.add(node.name)
            elif isinstance(node, ast.Assign):
                self.top.update(t.id for t in node.targets if isinstance(t, ast.Name))

    # imports anywhere in the file count (lazy imports inside functions are the common case)
    def _import(self, node):
        for a in node.names:
            if a.asname:
                self.imports[a.asname] = a.name
            else:
                self.imports[a.name.split(".")[0]] = a.name.split(".")[0]

    def _import_from(self, node):
        base = node.module or ""
        if node.level:
            parts = self.pkg.split(".")
            parts = parts[:len(parts) - node.level + 1] if node.level > 1 else parts
            base = ".".join(p for p in (*parts, base) if p)
        for a in node.names:
            if a.name != "*":
                self.imports[a.asname or a.name] = f"{base}.{a.name}"

    def _qual(self, name: str) -> str:
        return ".".join((self.name, *self.scope, name))

    def visit_ClassDef(self, node):
        q = self._qual(node.name)
        self.defs.add(q)
        self.classes.add(q)
        self.edges[q].update({f"{q}.__init__", f"{q}.__new__"})
        self.data_edges[q].update({f"{q}.__init__", f"{q}.__new__"})
        for b in node.bases:
            base = self.resolve(b)
            if base:
                self.edges[q].add(base)
                self.data_edges[q].add(base)
                for m in ("__init__", "__new__", "__setstate__", "__call__", "__setitem__", "append", "extend"):
                    self.edges[f"{q}.{m}"].add(f"{base}.{m}")
                    self.data_edges[f"{q}.{m}"].add(f"{base}.{m}")
        self.scope.append(node.name)
        self.kinds.append("class")
        self.cls.append(q)
        self.generic_visit(node)
        self.cls.pop()
        self.kinds.pop()
        self.scope.pop()

    def visit_FunctionDef(self, node):
        q = self._qual(node.name)
        self.defs.add(q)
        self.scope.append(node.name)
        self.kinds.append("def")
        self.locals.append({})
        args = node.args
        self.params.append({a.arg for a in (*args.posonlyargs, *args.args, *args.kwonlyargs)}
                           | ({args.vararg.arg} if args.vararg else set())
                           | ({args.kwarg.arg} if args.kwarg else set()))
        self.tainted.append(set(self.params[-1]))
        self.generic_visit(node)
        self.tainted.pop()
        self.params.pop()
        self.locals.pop()
        self.kinds.pop()
        self.scope.pop()

    visit_AsyncFunctionDef = visit_FunctionDef

    def _current(self) -> str | None:
        # calls in nested functions and lambdas count for the outermost function (or method) around them
        if "def" not in self.kinds:
            return None
        k = self.kinds.index("def")
        return ".".join((self.name, *self.scope[:k + 1]))

    def resolve(self, node) -> str | None:
        chain = []
        while isinstance(node, ast.Attribute):
            chain.append(node.attr)
            node = node.value
        if not isinstance(node, ast.Name):
            return None
        chain.reverse()
        base = node.id
        if base in ("self", "cls") and self.cls:
            return ".".join((self.cls[-1], *chain))
        if self.locals and base in self.locals[-1]:
            return ".".join((self.locals[-1][base], *chain))
        if base in self.imports:
            return ".".join((self.imports[base], *chain))
        if base in BUILTIN_NAMES and base not in self.top:
            return ".".join(("builtins", base, *chain))
        return ".".join((self.name, base, *chain))

    def _data(self, node) -> bool:
        """The expression mentions a parameter (or a local computed from one) of the current function."""
        if not self.tainted:
            return False
        t = self.tainted[-1]
        return any(isinstance(n, ast.Name) and n.id in t for n in ast.walk(node))

    def _data_args(self, call: ast.Call) -> bool:
        return any(self._data(a) for a in call.args) or any(self._data(k.value) for k in call.keywords)

    def _taint_targets(self, targets, value) -> None:
        if self.tainted and self._data(value):
            for t in targets:
                self.tainted[-1].update(n.id for n in ast.walk(t) if isinstance(n, ast.Name))

    def visit_For(self, node):
        self._taint_targets([node.target], node.iter)
        self.generic_visit(node)

    visit_AsyncFor = visit_For

    def visit_AugAssign(self, node):
        self._taint_targets([node.target], node.value)
        self.generic_visit(node)

    def visit_AnnAssign(self, node):
        if node.value is not None:
            self._taint_targets([node.target], node.value)
        self.generic_visit(node)

    def visit_withitem(self, node):
        if node.optional_vars is not None:
            self._taint_targets([node.optional_vars], node.context_expr)
        self.generic_visit(node)

    def visit_Assign(self, node):
        self._taint_targets(node.targets, node.value)
        # x = Cls(...); x.method() resolves to Cls.method
        if self.locals and isinstance(node.value, ast.Call) and len(node.targets) == 1 \
                and isinstance(node.targets[0], ast.Name):
            t = self.resolve(node.value.func)
            if t and t.rsplit(".", 1)[-1][:1].isupper():
                self.locals[-1][node.targets[0].id] = t
        self.generic_visit(node)

    def visit_Call(self, node):
        cur = self._current()
        target = self.resolve(node.func)
        if cur and target:
            kind = SINKS.get(target)
            if target in OPENERS:
                kind = FILE if self._writes(node, target) else None
            data = self._data_args(node)
            if kind in DATA_KINDS and not data:
                kind = None
                if target in SINKS:
                    self.generic_visit(node)
                    return  # a constant import / template exec: not reachable by the caller's data
            if kind:
                self.sinks.setdefault(cur, (kind, target))
            else:
                self.edges[cur].add(target)
                if data:
                    self.data_edges[cur].add(target)
        self.generic_visit(node)

    def _writes(self, node: ast.Call, target: str) -> bool:
        params = self.params[-1] if self.params else set()
        if target in ("os.open", "posix.open"):
            flags = node.args[1] if len(node.args) > 1 else None
            text = ast.unparse(flags) if flags is not None else ""
            return any(f in text for f in ("O_WRONLY", "O_RDWR", "O_CREAT", "O_APPEND", "O_TRUNC")) or (
                isinstance(flags, ast.Name) and flags.id in params)
        mode = node.args[1] if len(node.args) > 1 else None
        for kw in node.keywords:
            if kw.arg == "mode":
                mode = kw.value
        if target in ("io.FileIO", "_io.FileIO") and mode is None:
            return False
        if mode is None:
            return False
        if isinstance(mode, ast.Constant) and isinstance(mode.value, str):
            return any(c in mode.value for c in "wax+")
        # the caller chooses the mode (directly or through an expression of a parameter)
        return any(isinstance(n, ast.Name) and (n.id in params or n.id in ("mode", "filemode"))
                   for n in ast.walk(mode))


def gadgets(files: dict[str, Path]) -> tuple[dict[str, list[str]], list[str]]:
    """{callable: [sink kind, call chain...]} for every callable that reaches a sink within MAX_DEPTH calls,
    and which of them are classes (calling a class runs __new__ and __init__; NEWOBJ runs only __new__)."""
    classes: set[str] = set()
    edges: dict[str, set[str]] = defaultdict(set)
    data_edges: dict[str, set[str]] = defaultdict(set)
    direct: dict[str, tuple[str, str]] = {}
    aliases_of: dict[str, str] = {}
    for name, path in sorted(files.items()):
        try:
            tree = ast.parse(path.read_bytes(), filename=str(path))
        except (SyntaxError, ValueError, OSError):
            continue
        m = _Module(name, path.name == "__init__.py")
        m.prepare(tree)
        m.visit(tree)
        classes |= m.classes
        for k, v in m.edges.items():
            edges[k] |= v
        for k, v in m.data_edges.items():
            data_edges[k] |= v
        for k, v in m.sinks.items():
            direct.setdefault(k, v)
        for local, target in m.imports.items():
            aliases_of[f"{name}.{local}"] = target
    # a name imported into a module calls what the original calls
    for alias, target in aliases_of.items():
        if alias != target:
            edges[alias].add(target)
            data_edges[alias].add(target)
    reverse: dict[str, set[str]] = defaultdict(set)
    reverse_data: dict[str, set[str]] = defaultdict(set)
    for caller, callees in edges.items():
        for c in callees:
            reverse[c].add(caller)
    for caller, callees in data_edges.items():
        for c in callees:
            reverse_data[c].add(caller)
    found: dict[str, list[str]] = {}
    queue: deque = deque()
    for fn, (kind, sink) in direct.items():
        found[fn] = [kind, sink]
        queue.append((fn, 1))
    for sink, kind in SINKS.items():
        if sink not in found:
            found[sink] = [kind]
            queue.append((sink, 0))
    while queue:
        fn, depth = queue.popleft()
        if depth >= MAX_DEPTH or fn in BARRIERS:
            continue
        callers = reverse_data.get(fn, ()) if found[fn][0] in DATA_KINDS else reverse.get(fn, ())
        for caller in callers:
            if caller not in found:
                found[caller] = [found[fn][0], fn, *found[fn][1:]][:MAX_DEPTH + 1]
                queue.append((caller, depth + 1))
    return dict(sorted(found.items())), sorted(c for c in classes if c in found)


# Reconstructors named by hand, each with where it comes from (libraries not installed where this runs).
NAMED_SAFE = {
    **{f"transformers.{n}": "transformers Trainer: training_args.bin pickles TrainingArguments and its enums"
       for n in ("training_args.TrainingArguments", "training_args_seq2seq.Seq2SeqTrainingArguments",
                 "training_args.OptimizerNames", "trainer_utils.IntervalStrategy", "trainer_utils.SaveStrategy",
                 "trainer_utils.HubStrategy", "trainer_utils.SchedulerType", "trainer_utils.EvaluationStrategy",
                 "trainer_utils.FSDPOption", "debug_utils.DebugOption", "training_args.ParallelMode",
                 "generation.configuration_utils.GenerationConfig")},
    **{f"accelerate.{n}": "accelerate state pickled inside TrainingArguments"
       for n in ("state.PartialState", "utils.dataclasses.DistributedType", "state.AcceleratorState",
                 "utils.dataclasses.DeepSpeedPlugin")},
    **{n: "Lightning checkpoints: hyper_parameters are an AttributeDict"
       for n in ("pytorch_lightning.utilities.parsing.AttributeDict", "lightning.fabric.utilities.data.AttributeDict",
                 "lightning_fabric.utilities.data.AttributeDict", "lightning.pytorch.utilities.parsing.AttributeDict")},
    **{f"torch.{n}": "torch weights_only unpickler allow-list (torch/_weights_only_unpickler.py)"
       for n in ("nn.parameter.Parameter", "nn.parameter.Buffer", "serialization._get_layout", "Size", "device",
                 "_utils._rebuild_tensor_v2", "_utils._rebuild_parameter", "_tensor._rebuild_from_type_v2",
                 "_utils._rebuild_qtensor", "_utils._rebuild_sparse_tensor", "_utils._rebuild_meta_tensor_no_storage",
                 "_utils._rebuild_nested_tensor", "_utils._rebuild_wrapper_subclass", "_utils._rebuild_parameter_with_state",
                 "_utils._rebuild_device_tensor_from_numpy", "_utils._rebuild_tensor_v3",
                 "storage.UntypedStorage", "storage.TypedStorage", "storage._load_from_bytes_placeholder",
                 "optim.lr_scheduler.LambdaLR", "amp.grad_scaler.GradScaler",
                 "distributed._shard.sharded_tensor.ShardedTensor")},
    "collections.OrderedDict": "torch weights_only unpickler allow-list",
    "collections.Counter": "torch weights_only unpickler allow-list",
    "builtins.set": "torch weights_only unpickler allow-list",
    "builtins.frozenset": "torch weights_only unpickler allow-list",
    "builtins.bytearray": "torch weights_only unpickler allow-list",
    "builtins.slice": "torch weights_only unpickler allow-list",
    "builtins.complex": "torch weights_only unpickler allow-list",
}


def _example_objects() -> dict[str, object]:
    """Objects these libraries really pickle (model attributes, checkpoints, frames), built here."""
    out: dict[str, object] = {}
    try:
        import numpy as np

        out["numpy arrays, scalars, dtypes, generators"] = [
            np.zeros((2, 2)), np.float32(1), np.dtype("f4"), np.random.default_rng(0), np.random.RandomState(0),
            np.ma.masked_array([1, 2]), np.array(["2024-01-01"], dtype="datetime64[D]"), np.matrix([[1]]),
            np.rec.fromrecords([(1, 2.0)]), np.random.PCG64(), np.random.MT19937(), np.random.Philox(),
            np.random.SFC64(), np.int64(1), np.str_("x"), np.array([1], dtype=object)]
    except ImportError:
        pass
    try:
        import numpy as np
        import pandas as pd

        df = pd.DataFrame({"a": [1, 2], "b": [0.5, 1.5], "c": ["x", "y"]})
        out["pandas frames, series, indexes, dtypes, offsets"] = [
            df, df.astype({"c": "category"}), df.set_index(["a", "c"]), pd.Series([1, 2]),
            pd.Series(range(3), index=pd.date_range("2024-01-01", periods=3)),
            pd.Series(pd.date_range("2024-01-01", periods=2, tz="UTC")), pd.Timestamp("2024-01-01"),
            pd.Timedelta("1D"), pd.Period("2024-01"), pd.Interval(0, 1), pd.interval_range(0, 3),
            pd.period_range("2024-01", periods=2, freq="M"), pd.timedelta_range("1D", periods=2),
            pd.Series([1, None], dtype="Int64"), pd.Series([True, None], dtype="boolean"),
            pd.Series(["a", None], dtype="string"), pd.Series([1.5, None], dtype="Float64"),
            pd.Categorical(["a", "b"]), pd.RangeIndex(3), pd.Index([1.5]), pd.MultiIndex.from_tuples([(1, "a")]),
            pd.arrays.SparseArray([0, 1]), pd.NaT, pd.NA, pd.offsets.MonthEnd(), pd.offsets.Hour(),
            pd.CategoricalDtype(["a"]), pd.DatetimeTZDtype(tz="UTC"), df.groupby("a").sum()]
    except ImportError:
        pass
    try:
        from omegaconf import OmegaConf

        out["omegaconf containers and nodes"] = [
            OmegaConf.create({"a": 1, "b": {"c": "x", "d": [1, 2.5, True, None]}, "e": "${a}"}),
            OmegaConf.create([1, {"x": 2}]),
            OmegaConf.structured(_omegaconf_example()),
        ]
    except ImportError:
        pass
    try:
        import lightgbm as lgb
        import numpy as np

        X = np.random.default_rng(0).random((20, 2))
        y = (X[:, 0] > 0.5).astype(int)
        clf = lgb.LGBMClassifier(n_estimators=2, num_leaves=3, min_child_samples=2, verbose=-1).fit(X, y)
        reg = lgb.LGBMRegressor(n_estimators=2, num_leaves=3, min_child_samples=2, verbose=-1).fit(X, y)
        out["lightgbm models"] = [clf, clf.booster_, reg]
    except ImportError:
        pass
    try:
        import numpy as np
        import xgboost as xgb

        X = np.random.default_rng(0).random((20, 2))
        y = (X[:, 0] > 0.5).astype(int)
        kw = {"n_estimators": 2, "max_depth": 2, "n_jobs": 1}
        models = [xgb.XGBClassifier(**kw).fit(X, y), xgb.XGBRegressor(**kw).fit(X, X[:, 0]),
                  xgb.XGBRanker(**kw).fit(X, y, qid=np.zeros(20, dtype=int)), xgb.XGBRFClassifier(**kw).fit(X, y),
                  xgb.XGBRFRegressor(**kw).fit(X, X[:, 0])]
        out["xgboost models"] = models + [models[0].get_booster()]
    except ImportError:
        pass
    try:
        from scipy import sparse

        m = sparse.random(4, 4, density=0.5, format="csr", random_state=0)
        out["scipy sparse matrices and arrays"] = [m.asformat(f) for f in ("csr", "csc", "coo", "bsr", "dia", "lil",
                                                                             "dok")] + [sparse.csr_array(m)]
    except ImportError:
        pass
    return out


def _omegaconf_example():
    import dataclasses

    @dataclasses.dataclass
    class Example:
        n: int = 1
        f: float = 0.5
        s: str = "x"
        b: bool = True

    return Example


def known_safe() -> dict[str, str]:
    """Globals the libraries' own pickles of the example objects name (read with pickletools, our own
    bytes), plus NAMED_SAFE; each with its source."""
    import pickle

    found: dict[str, str] = dict(NAMED_SAFE)
    from modelscreen.engine.context import ScanContext
    from modelscreen.engine.limits import Budget, Limits
    from modelscreen.engine.pickle.machine import Walker

    for what, objs in _example_objects().items():
        for obj in objs:
            try:
                data = pickle.dumps(obj, protocol=4)
            except Exception:  # noqa: BLE001 - an example the library cannot pickle is skipped
                continue
            limits = Limits()
            ctx = ScanContext(path="example", limits=limits, budget=Budget(limits), size=len(data))
            for path, *_ in Walker(io.BytesIO(data), ctx).run().globals:
                if "<" in path or path.startswith(("__main__", "dataclasses", "types")):
                    continue
                lib = path.split(".")[0]
                v = _dist_version(lib) or "python " + sys.version.split()[0]
                found.setdefault(path, f"pickle of {what} ({lib} {v})")
    return dict(sorted(found.items()))


def renamed_modules() -> dict[str, str]:
    """sys.modules entries whose module has another name (`os.path` -> `posixpath`)."""
    return {k: v.__name__ for k, v in sorted(sys.modules.items())
            if isinstance(v, types.ModuleType) and getattr(v, "__name__", k) != k}


def versions(libs: list[str]) -> dict[str, str]:
    out = {"python": sys.version.split()[0]}
    for name in libs:
        v = _dist_version(name)
        if v:
            out[name] = v
    return out


# import name -> the distributions that install it (xgboost also ships as the CPU-only xgboost-cpu)
DISTRIBUTIONS = {"sklearn": ("scikit-learn",), "yaml": ("PyYAML",), "xgboost": ("xgboost", "xgboost-cpu")}


def _dist_version(name: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    for dist in DISTRIBUTIONS.get(name, (name,)):
        try:
            return version(dist)
        except PackageNotFoundError:
            continue
    return None


def main(argv: list[str]) -> None:
    libs = list(DEFAULT_LIBS)
    if "--libs" in argv:
        libs = argv[argv.index("--libs") + 1].split(",")
    roots = _lib_roots([n for n in libs if importlib.util.find_spec(n) is not None])
    std = _source_files()
    lib = _lib_files(roots)
    made_from = versions(list(roots))
    names = set(std) | set(lib) | set(sys.builtin_module_names)
    names |= {m.name for m in pkgutil.iter_modules() if m.name in sys.stdlib_module_names}
    if "--only-known-safe" in argv:  # the allow-list alone (new example objects), without the slow walks
        (HERE / "known_safe.json").write_text(json.dumps({"made_from": made_from, "known_safe": known_safe()},
                                                         indent=0, sort_keys=True) + "\n")
        return
    table = aliases(sorted(n for n in names if n))
    (HERE / "aliases.json").write_text(json.dumps({"made_from": made_from, "modules": sorted(names),
                                                   "renamed": renamed_modules(), "aliases": table},
                                                  separators=(",", ":")) + "\n")
    safe = known_safe()
    (HERE / "known_safe.json").write_text(json.dumps({"made_from": made_from, "known_safe": safe}, indent=0,
                                                     sort_keys=True) + "\n")
    g, classes = gadgets({**std, **lib})
    (HERE / "gadgets.json").write_text(json.dumps({"made_from": made_from, "max_depth": MAX_DEPTH,
                                                   "classes": classes, "gadgets": g}, separators=(",", ":")) + "\n")
    print(f"aliases: {sum(len(v) for v in table.values())} in {len(table)} modules; gadgets: {len(g)}; "
          f"made from {made_from}")


if __name__ == "__main__":
    main(sys.argv[1:])
