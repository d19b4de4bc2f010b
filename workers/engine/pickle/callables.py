"""What a pickle may import and call: dangerous, known-safe, or unknown.

Every global a pickle names is classified by its fully resolved dotted path (module + attribute
path), by each module prefix of that path, and - because protocol 4 loaders resolve dotted
names by attribute traversal (``posixpath`` + ``os.system`` reaches ``os.system``) - by every
tail of the attribute path read as a fresh ``module.attr`` path. A module deny-list alone would
be bypassable; an allow-list of exact names is the only thing that makes a global "safe".
"""
from __future__ import annotations

import _compat_pickle  # stdlib tables only (py2 -> py3 names), imports nothing else
import re
from dataclasses import dataclass
from functools import lru_cache

from modelscreen.engine.pickle import tables

DANGEROUS = "dangerous"
SAFE = "safe"
UNKNOWN = "unknown"

# Whole modules (and their submodules): anything reached through them is dangerous.
DANGEROUS_MODULES: dict[str, str] = {}


def _mods(reason: str, *names: str) -> None:
    for n in names:
        DANGEROUS_MODULES[n] = reason


_mods("process creation / OS access", "os", "nt", "posix", "subprocess", "_posixsubprocess", "pty",
      "multiprocessing", "_multiprocessing", "_winapi", "msvcrt", "commands", "popen2", "pexpect",
      "sh", "plumbum", "fabric", "paramiko")
_mods("code execution", "runpy", "code", "codeop", "imp", "importlib", "pkgutil", "zipimport",
      "_imp", "site", "sitecustomize", "usercustomize", "IPython", "jupyter_client",
      "ipykernel", "pyximport", "numexpr", "_xxsubinterpreters", "_interpreters", "concurrent",
      "_thread", "threading", "asyncio", "sched", "atexit", "gc", "inspect",
      "compileall", "py_compile", "tkinter", "turtle", "idlelib")
_mods("file system access", "shutil", "io.open", "_io.open", "fileinput", "zipfile", "tarfile", "mmap",
      "fcntl", "posixpath.os", "ntpath.os", "genericpath.os", "mailbox", "uu")
_mods("network access", "socket", "_socket", "ssl", "_ssl", "socketserver", "SocketServer", "urllib.request",
      "urllib2", "urllib3", "urllib.urlopen", "urllib.urlretrieve", "http.client", "http.server",
      "httplib", "ftplib", "smtplib", "smtpd", "poplib", "imaplib", "nntplib", "telnetlib",
      "xmlrpc", "xmlrpclib", "requests", "httpx", "aiohttp", "webbrowser", "wsgiref", "cgi", "cgitb")
_mods("nested deserializer", "pickle", "_pickle", "cPickle", "pickletools", "marshal", "dill",
      "cloudpickle", "shelve", "dbm", "jsonpickle", "yaml", "ruamel", "lib2to3.pgen2",
      "numpy.load", "numpy.lib.npyio", "numpy.lib._npyio_impl", "numpy.lib.format", "numpy.lib._format_impl",
      "numpy.loads", "numpy.core.multiarray.loads",
      "joblib.load", "joblib.numpy_pickle.load", "joblib.numpy_pickle_compat", "torch.load",
      "torch.serialization", "torch.storage._load_from_bytes", "torch.jit", "torch.hub",
      "torch.package", "torch.utils.cpp_extension", "torch._dynamo", "torch._inductor",
      "torch.fx", "sklearn.externals", "pandas.read_pickle", "pandas.io.pickle", "keras.models",
      "tensorflow.keras.models", "onnx.load")
_mods("package installation", "pip", "setuptools", "ensurepip", "distutils", "pkg_resources",
      "venv", "virtualenv", "conda", "numpy.distutils", "numpy.f2py", "numpy.testing")
_mods("debugger / profiler that executes strings", "pdb", "bdb", "cProfile", "profile", "_lsprof",
      "timeit", "trace", "doctest", "pydoc", "unittest", "test", "faulthandler", "tracemalloc")
_mods("native code", "ctypes", "_ctypes", "cffi", "numpy.ctypeslib", "_cffi_backend")
_mods("interpreter state", "sys", "signal", "_signal", "resource", "pwd", "grp", "spwd", "crypt",
      "getpass", "syslog", "readline", "rlcompleter", "logging.config", "logging.handlers")

# Newer interpreters and libraries the generated map was not made from (named from their documented APIs).
_mods("code execution (Python 3.12+ modules)", "_pyrepl", "annotationlib", "concurrent.interpreters",
      "compression", "_remote_debugging")
_mods("code generation, processes, files or network in torch", "torch.utils.collect_env", "torch.testing",
      "torch.distributed", "torch.multiprocessing", "torch.utils.tensorboard", "torch.onnx", "torch.profiler",
      "torch.export", "torch._export", "torch.compiler", "torch.utils.bottleneck", "torch.utils.hipify",
      "torch.utils.benchmark", "torch._functorch", "torch._higher_order_ops", "torch.cuda.memory",
      "torch.utils.data.datapipes", "torchvision.io", "torchaudio.io", "torchaudio.backend")
_mods("downloads or runs repository code", "huggingface_hub", "transformers.dynamic_module_utils",
      "transformers.utils.hub", "transformers.commands", "transformers.pipelines", "transformers.hf_argparser",
      "datasets.load", "datasets.utils.file_utils", "accelerate.commands", "accelerate.launchers", "hydra",
      "lightning.pytorch.cli", "pytorch_lightning.cli", "mlflow", "wandb", "tensorboard", "keras.utils.get_file",
      "tensorflow.io", "tensorflow.py_function", "tensorflow.compat.v1.py_func", "jax.experimental.host_callback")

# Exact names (after module prefix) that are dangerous.
DANGEROUS_NAMES: dict[str, str] = {}


def _names(reason: str, *names: str) -> None:
    for n in names:
        DANGEROUS_NAMES[n] = reason


_names("code execution", "builtins.eval", "builtins.exec", "builtins.compile", "builtins.__import__",
       "builtins.execfile", "builtins.breakpoint", "builtins.input", "builtins.help",
       "builtins.__build_class__", "builtins.reload", "builtins.exit", "builtins.quit",
       "builtins.memoryview.__init__")
_names("file access", "builtins.open", "builtins.file", "io.open", "io.open_code", "io.FileIO", "_io.open",
       "_io.FileIO", "_io.open_code", "codecs.open", "codecs.EncodedFile", "os.open", "numpy.memmap",
       "numpy.save", "numpy.savez", "numpy.savez_compressed", "numpy.savetxt", "numpy.fromfile",
       "numpy.loadtxt", "numpy.genfromtxt", "numpy.ndarray.tofile", "numpy.ndarray.dump",
       "numpy.DataSource", "numpy.lib.DataSource", "numpy.core.memmap", "numpy._core.memmap",
       "linecache.getline", "linecache.getlines", "linecache.updatecache", "logging.FileHandler",
       "logging.basicConfig")
_names("indirection (attribute / import access)", "builtins.getattr", "builtins.setattr",
       "builtins.delattr", "builtins.globals", "builtins.locals", "builtins.vars", "builtins.dir",
       "builtins.__loader__", "builtins.__spec__", "builtins.__builtins__", "builtins.object.__subclasses__",
       "builtins.type.__subclasses__", "builtins.object.__getattribute__", "builtins.type.__getattribute__",
       "builtins.object.__setattr__", "builtins.object.__reduce_ex__", "builtins.super",
       "operator.attrgetter", "operator.methodcaller", "operator.call", "functools.reduce",
       "copyreg.add_extension", "copyreg.pickle", "copyreg.dispatch_table", "copyreg._extension_registry",
       "copyreg._inverted_registry", "copyreg._extension_cache", "string.Formatter.get_field",
       "string.Formatter.get_value", "_string.formatter_field_name_split",
       "collections.abc.__builtins__")
_names("nested deserializer", "numpy.load", "numpy.loads", "torch.load", "joblib.load",
       "torch.storage._load_from_bytes", "torch.serialization.load", "torch._utils._rebuild_from_pickle",
       "pandas.read_pickle", "sklearn.externals.joblib.load")
_names("code object construction", "types.FunctionType", "types.CodeType", "types.LambdaType",
       "types.MethodType", "types.ModuleType", "builtins.function", "builtins.code")
_names("pager / shell", "pydoc.pipepager", "pydoc.tempfilepager", "pydoc.pager")
_names("network access", "urllib.urlopen", "urllib.urlretrieve", "urllib.request.urlopen",
       "nturl2path", "sklearn.datasets.fetch_openml")
_names("environment mutation", "os.environ", "os.putenv", "os.unsetenv")
_names("file, native code or code generation in torch", "torch.save", "torch.from_file", "torch.ops.load_library",
       "torch.classes.load_library", "torch.compile", "torch._C._load_for_lite_interpreter",
       "torch.storage.UntypedStorage.from_file", "torch.UntypedStorage.from_file", "torch._C._jit_pass_create_functional_graphs",
       "transformers.AutoModel.from_pretrained", "transformers.AutoConfig.from_pretrained",
       "transformers.AutoTokenizer.from_pretrained", "transformers.pipeline", "datasets.load_dataset")

# Loaders whose first argument is itself a pickle stream: the argument is analysed as a nested pickle.
NESTED_PICKLE_LOADERS = {
    "pickle.loads", "_pickle.loads", "cPickle.loads", "pickle._loads", "dill.loads", "dill._dill.loads",
    "cloudpickle.loads", "numpy.loads", "numpy.core.multiarray.loads", "torch.storage._load_from_bytes",
    "joblib.numpy_pickle.loads", "pickle.Unpickler", "_pickle.Unpickler",
}

# TorchScript archives' constants and debug pickles rebuild lists with these; torch.jit as a whole stays
# dangerous (it compiles and runs code).
SAFE_INSIDE_DANGEROUS = {
    f"torch.jit._pickle.{n}" for n in (
        "build_intlist", "build_tensorlist", "build_doublelist", "build_boollist", "build_complexlist",
        "build_tensor_from_id", "restore_type_tag")
}

# Known-safe data constructors: exact dotted paths.
SAFE_NAMES: set[str] = {
    # builtins: plain data
    *(f"builtins.{n}" for n in (
        "set", "frozenset", "bytearray", "complex", "slice", "range", "bytes", "list", "dict", "tuple",
        "int", "float", "str", "bool", "object", "Ellipsis", "NotImplemented", "True", "False", "None",
        "reversed", "enumerate", "zip", "property", "staticmethod", "classmethod",
        # exception classes only carry data
        "Exception", "ValueError", "KeyError", "TypeError", "RuntimeError", "IndexError",
        "AttributeError", "NotImplementedError", "StopIteration", "ArithmeticError", "LookupError",
        "ZeroDivisionError", "OverflowError", "Warning", "UserWarning", "DeprecationWarning",
        "FutureWarning", "RuntimeWarning",
    )),
    "copyreg._reconstructor", "copyreg.__newobj__", "copyreg.__newobj_ex__", "copyreg._reduce_ex",
    "collections.OrderedDict", "collections.defaultdict", "collections.deque", "collections.Counter",
    "collections.ChainMap", "collections.UserDict", "collections.UserList", "collections.UserString",
    "datetime.datetime", "datetime.date", "datetime.time", "datetime.timedelta", "datetime.timezone",
    "datetime.tzinfo", "zoneinfo.ZoneInfo", "decimal.Decimal",
    "fractions.Fraction", "uuid.UUID", "uuid.SafeUUID", "enum.Enum", "re._compile", "re.compile", "re.Pattern",
    "ipaddress.IPv4Address", "ipaddress.IPv6Address", "ipaddress.IPv4Network", "ipaddress.IPv6Network",
    "array.array", "array._array_reconstructor", "_codecs.encode", "codecs.encode",
    "functools.partial", "operator.itemgetter", "math.inf", "math.nan", "string.Template",
    "argparse.Namespace", "types.SimpleNamespace", "types.NoneType", "typing.Any",
    "pathlib.Path", "pathlib.PosixPath", "pathlib.WindowsPath", "pathlib.PurePath", "pathlib.PurePosixPath",
    "pathlib.PureWindowsPath",
    # numpy
    "numpy.core.multiarray._reconstruct", "numpy._core.multiarray._reconstruct",
    "numpy.core.multiarray.scalar", "numpy._core.multiarray.scalar", "numpy.ndarray", "numpy.dtype",
    "numpy.core.numeric._frombuffer", "numpy._core.numeric._frombuffer",
    "numpy.ma.core._mareconstruct", "numpy.ma.core.MaskedArray", "numpy.ma.MaskedArray", "numpy.matrix",
    "numpy.matrixlib.defmatrix.matrix", "numpy.recarray", "numpy.record", "numpy.core.records.recarray",
    "numpy._core.records.recarray", "numpy.random._pickle.__randomstate_ctor",
    "numpy.random._pickle.__bit_generator_ctor", "numpy.random._pickle.__generator_ctor",
    "numpy.random._pickle._randomstate_ctor", "numpy.random._pickle._bit_generator_ctor",
    "numpy.random._pickle._generator_ctor",
    "numpy.random.mtrand.RandomState", "numpy.random._generator.Generator", "numpy.random.RandomState",
    "numpy.random.__RandomState_ctor", "numpy.random._mt19937.MT19937", "numpy.random._pcg64.PCG64",
    "numpy.random._pcg64.PCG64DXSM", "numpy.random._philox.Philox", "numpy.random._sfc64.SFC64",
    "numpy.random.bit_generator.SeedSequence", "numpy.random._bit_generator.SeedSequence",
    "numpy.random.mtrand._rand", "numpy.random.bit_generator.__pyx_unpickle_SeedSequence",
    "numpy.random._bit_generator.__pyx_unpickle_SeedSequence",
    "joblib.numpy_pickle.NumpyArrayWrapper",
    # torch
    *(f"torch._utils.{n}" for n in (
        "_rebuild_tensor", "_rebuild_tensor_v2", "_rebuild_tensor_v3", "_rebuild_parameter",
        "_rebuild_parameter_with_state", "_rebuild_qtensor", "_rebuild_sparse_tensor",
        "_rebuild_sparse_csr_tensor", "_rebuild_nested_tensor", "_rebuild_device_tensor_from_numpy",
        "_rebuild_meta_tensor_no_storage", "_rebuild_wrapper_subclass", "_rebuild_xla_tensor",
        "_rebuild_mlc_tensor", "_rebuild_device_tensor_from_cpu_tensor",
    )),
    *(f"torch.{n}Storage" for n in (
        "Float", "Double", "Half", "Long", "Int", "Short", "Char", "Byte", "Bool", "BFloat16",
        "ComplexFloat", "ComplexDouble", "QInt8", "QUInt8", "QInt32", "QUInt4x2", "QUInt2x4", "Untyped", "Typed",
    )),
    "torch.storage.TypedStorage", "torch.storage.UntypedStorage", "torch.Size", "torch.device",
    "torch.nn.parameter.Parameter", "torch.nn.Parameter", "torch.Tensor", "torch._tensor.Tensor",
    "torch.serialization._get_layout", "torch.strided", "torch.sparse_coo", "torch.sparse_csr",
    "torch.contiguous_format", "torch.channels_last", "torch.preserve_format",
    "torch.per_tensor_affine", "torch.per_channel_affine", "torch.per_tensor_symmetric",
    "torch.per_channel_symmetric", "torch.per_channel_affine_float_qparams",
    *(f"torch.{n}" for n in (
        "float32", "float", "float64", "double", "float16", "half", "bfloat16", "int8", "int16", "short",
        "int32", "int", "int64", "long", "uint8", "bool", "complex64", "complex128", "cfloat", "cdouble",
        "qint8", "quint8", "qint32", "float8_e4m3fn", "float8_e5m2", "uint16", "uint32", "uint64",
    )),
    "torch._tensor._rebuild_from_type_v2", "torch._utils._rebuild_from_type_v2",
    "torch.utils._pytree.LeafSpec", "torch.utils._pytree.TreeSpec",
    # scipy
    "scipy.sparse._csr.csr_matrix", "scipy.sparse._csc.csc_matrix", "scipy.sparse._coo.coo_matrix",
    "scipy.sparse.csr.csr_matrix", "scipy.sparse.csc.csc_matrix", "scipy.sparse.coo.coo_matrix",
    "scipy.sparse._bsr.bsr_matrix", "scipy.sparse._dia.dia_matrix", "scipy.sparse._lil.lil_matrix",
    "scipy.sparse._dok.dok_matrix", "scipy.sparse._csr.csr_array", "scipy.sparse._csc.csc_array",
    "scipy.sparse._coo.coo_array", "scipy.sparse._bsr.bsr_array", "scipy.sparse._dia.dia_array",
    "scipy.sparse._lil.lil_array", "scipy.sparse._dok.dok_array",
    "scipy.sparse.csr_matrix", "scipy.sparse.csc_matrix", "scipy.sparse.coo_matrix",
    "scipy.sparse.csr_array", "scipy.sparse.csc_array", "scipy.sparse.coo_array",
}

_NUMPY_SCALARS = {
    "float16", "float32", "float64", "longdouble", "int8", "int16", "int32", "int64", "uint8", "uint16",
    "uint32", "uint64", "bool_", "bool", "complex64", "complex128", "clongdouble", "str_", "bytes_", "void",
    "object_", "datetime64", "timedelta64", "intc", "uintc", "intp", "uintp", "short", "ushort", "byte",
    "ubyte", "longlong", "ulonglong", "half", "single", "double", "csingle", "cdouble", "generic", "number",
}
for _s in _NUMPY_SCALARS:
    SAFE_NAMES.add(f"numpy.{_s}")
    SAFE_NAMES.add(f"numpy.dtypes.{_s.capitalize()}DType")

# Module prefixes whose classes are data (estimators, layers), minus the parts that reach files,
# networks or nested loaders (those are in DANGEROUS_MODULES / DANGEROUS_NAMES and checked first).
SAFE_MODULE_PREFIXES = (
    "sklearn.", "torch.nn.modules.", "torch.nn.utils.parametrize.", "numpy.dtypes.",
)
UNSAFE_UNDER_SAFE_PREFIX = ("sklearn.datasets", "sklearn.externals", "sklearn.utils._testing",
                            "sklearn.utils._show_versions", "sklearn.utils.fixes", "sklearn.conftest",
                            "sklearn.utils._joblib", "sklearn.utils._estimator_html_repr")

# Callables that return something callable or a module: REDUCE of these yields a reference.
PRODUCES_REF = {"builtins.getattr", "builtins.__import__", "importlib.import_module", "functools.partial",
                "importlib.__import__", "operator.attrgetter", "builtins.vars", "builtins.globals"}



# Callables that call (or instantiate) some of their arguments: path -> positions and keywords applied.
# The applied callable counts as called by the pickle.
APPLIES: dict[str, tuple[tuple[int, ...], tuple[str, ...]]] = {
    "functools.partial": ((0,), ("func",)), "functools.partialmethod": ((0,), ()),
    "functools.reduce": ((0,), ()), "functools.cmp_to_key": ((0,), ()), "functools.lru_cache": ((0,), ()),
    "functools.cache": ((0,), ()), "functools.cached_property": ((0,), ()), "functools.singledispatch": ((0,), ()),
    "functools.update_wrapper": ((0, 1), ()), "functools.wraps": ((0,), ()),
    "builtins.map": ((0,), ()), "builtins.filter": ((0,), ()), "builtins.iter": ((0,), ()),
    "builtins.sorted": ((), ("key",)), "builtins.min": ((), ("key",)), "builtins.max": ((), ("key",)),
    "builtins.property": ((0, 1, 2), ("fget", "fset", "fdel")), "builtins.staticmethod": ((0,), ()),
    "builtins.classmethod": ((0,), ()),
    "itertools.starmap": ((0,), ()), "itertools.accumulate": ((1,), ("func",)), "itertools.takewhile": ((0,), ()),
    "itertools.dropwhile": ((0,), ()), "itertools.filterfalse": ((0,), ()), "itertools.groupby": ((1,), ("key",)),
    "heapq.nsmallest": ((), ("key",)), "heapq.nlargest": ((), ("key",)), "heapq.merge": ((), ("key",)),
    "bisect.insort": ((), ("key",)), "bisect.bisect": ((), ("key",)),
    "operator.call": ((0,), ()), "_operator.call": ((0,), ()),
    "collections.defaultdict": ((0,), ("default_factory",)),
    "copyreg._reconstructor": ((0, 1), ()), "copyreg.__newobj__": ((0,), ()), "copyreg.__newobj_ex__": ((0,), ()),
    "copyreg._reduce_ex": ((0,), ()),
    "types.MethodType": ((0,), ()), "types.DynamicClassAttribute": ((0,), ()),
    "weakref.finalize": ((1,), ()), "weakref.ref": ((1,), ()), "weakref.WeakMethod": ((1,), ()),
    "contextlib.contextmanager": ((0,), ()), "contextlib.closing": ((0,), ()), "atexit.register": ((0,), ()),
    "threading.Thread": ((1,), ("target",)), "threading.Timer": ((1,), ("function",)),
    "numpy.vectorize": ((0,), ("pyfunc",)), "numpy.frompyfunc": ((0,), ()), "numpy.apply_along_axis": ((0,), ()),
    "numpy.apply_over_axes": ((0,), ()), "numpy.piecewise": ((2,), ()), "numpy.fromfunction": ((0,), ()),
    "torch._tensor._rebuild_from_type_v2": ((0, 1), ()), "torch._utils._rebuild_from_type_v2": ((0, 1), ()),
    "torch._utils._rebuild_wrapper_subclass": ((0,), ()), "torch._utils._rebuild_tensor_v2": ((5,), ()),
    "torch._utils._rebuild_parameter": ((2,), ()), "torch._utils._rebuild_parameter_with_state": ((2,), ()),
    # ndarray subclasses: creating one calls the subclass's __array_finalize__
    "numpy.core.multiarray._reconstruct": ((0,), ()), "numpy._core.multiarray._reconstruct": ((0,), ()),
    "numpy.ma.core._mareconstruct": ((0, 1), ()),
    "torch.utils._pytree.tree_map": ((0,), ()), "torch.utils._pytree.tree_map_only": ((1,), ()),
    "torch.utils._pytree.tree_flatten_with_path": ((), ("is_leaf",)), "torch.func.vmap": ((0,), ()),
    "joblib.delayed": ((0,), ()), "sklearn.utils.parallel.delayed": ((0,), ()),
    "sklearn.preprocessing._function_transformer.FunctionTransformer": ((0, 1), ("func", "inverse_func")),
    "sklearn.metrics._scorer._Scorer": ((0,), ("score_func",)),
    "sklearn.metrics._scorer.make_scorer": ((0,), ("score_func",)),
    "sklearn.compose._target.TransformedTargetRegressor": ((), ("func", "inverse_func")),
    "pandas.core.common.apply_if_callable": ((0,), ()), "pandas.io.formats.style.Styler.apply": ((1,), ()),
    "omegaconf.base.Resolver": ((0,), ()), "tree.map_structure": ((0,), ()), "jax.tree_util.tree_map": ((0,), ()),
    "optree.tree_map": ((0,), ()), "dm_tree.map_structure": ((0,), ()),
    "curses.wrapper": ((0,), ()), "asyncio.run": ((0,), ()), "contextvars.Context.run": ((1,), ()),
    "unittest.mock.Mock": ((), ("side_effect",)), "unittest.mock.MagicMock": ((), ("side_effect",)),
}
APPLIES_FIRST_ARG = {k for k, (pos, _) in APPLIES.items() if 0 in pos}

# Names a script commonly imports: `__main__.<one of these>.x` walks out of the loading script's globals.
_MAIN_ALIASES = {"os", "sys", "subprocess", "np", "numpy", "torch", "pd", "pandas", "tf", "shutil", "pickle",
                 "builtins", "importlib", "socket", "requests", "json", "re", "io", "pathlib", "Path"}


KNOWN_RECONSTRUCTOR = "known reconstructor"
TORCHSCRIPT_CLASS = "TorchScript class"
CLOUDPICKLE = "cloudpickle reconstructor"
_CLOUDPICKLE_MODULES = ("cloudpickle.cloudpickle", "cloudpickle.cloudpickle_fast", "joblib.externals.cloudpickle",
                        "joblib.externals.cloudpickle.cloudpickle", "ray.cloudpickle.cloudpickle",
                        "srsly.cloudpickle.cloudpickle", "pyspark.cloudpickle.cloudpickle", "cloudpickle")
CLOUDPICKLE_NAMES = {f"{m}.{n}" for m in _CLOUDPICKLE_MODULES for n in (
    "_make_function", "_builtin_type", "_function_setstate", "_make_skeleton_class", "_make_skeleton_enum",
    "_class_setstate", "_enum_setstate", "_make_cell", "_make_empty_cell", "subimport", "dynamic_subimport",
    "_make_dict_keys", "_make_dict_values", "_make_dict_items", "_fill_function", "_make_typevar",
    "_get_bases", "_make__new__factory", "_make_code")}
# names in a code object that make a cloudpickled function dangerous when it runs
CODE_SINK_NAMES = {"eval", "exec", "compile", "__import__", "breakpoint", "execfile", "system", "popen", "Popen",
                   "spawnl", "spawnv", "spawnve", "spawnvp", "execv", "execve", "execvp", "fork", "check_output",
                   "check_call", "getoutput", "getstatusoutput", "import_module", "urlopen", "urlretrieve",
                   "create_connection", "rmtree", "CDLL", "LoadLibrary", "run_path", "run_module"}


@dataclass(frozen=True)
class Classification:
    level: str  # DANGEROUS | SAFE | UNKNOWN
    reason: str
    matched: str  # the (sub)path that decided it
    resolved: str = ""  # the real target by the alias table ("" when the same as the literal path)


def normalize(module: str, name: str, proto: int | None = 3) -> tuple[str, str]:
    """Map Python 2 names the way CPython's loader does for protocol < 3 (fix_imports)."""
    if proto is not None and proto < 3:
        if (module, name) in _compat_pickle.NAME_MAPPING:
            module, name = _compat_pickle.NAME_MAPPING[(module, name)]
        elif module in _compat_pickle.IMPORT_MAPPING:
            module = _compat_pickle.IMPORT_MAPPING[module]
    return module, name


_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def _check_dangerous(path: str) -> tuple[str, str] | None:
    if path in DANGEROUS_NAMES:
        return DANGEROUS_NAMES[path], path
    parts = path.split(".")
    for k in range(len(parts), 0, -1):
        pre = ".".join(parts[:k])
        if pre in DANGEROUS_MODULES:
            return DANGEROUS_MODULES[pre], pre
        if pre in DANGEROUS_NAMES and k < len(parts):
            # an attribute of a dangerous callable (e.g. builtins.getattr.__call__)
            return DANGEROUS_NAMES[pre], pre
    return None


def gadget_for_call(path: str, how: str) -> list[str] | None:
    """The sink a call of `path` reaches (generated map), for the way the loader calls it.

    NEWOBJ (and copyreg.__newobj__) only runs cls.__new__; REDUCE/INST/OBJ call the class (__new__ and
    __init__); a function is called as is."""
    if path in tables.GADGET_CLASSES:
        g = tables.gadget(f"{path}.__new__")
        if g is None and not how.startswith("NEWOBJ"):
            g = tables.gadget(f"{path}.__init__") or tables.gadget(path)
        return g
    return tables.gadget(path)


def _gadget_reason(g: list[str]) -> str:
    return f"reaches {g[0]}" + (f" ({' -> '.join(g[1:])})" if len(g) > 1 else "")


@lru_cache(maxsize=65536)
def classify_path(module: str, qualname: str) -> Classification:
    """Classify `module` + dotted `qualname` (as a loader would resolve it)."""
    module = module.strip()
    path = f"{module}.{qualname}" if qualname else module
    # 0. data helpers that live inside an otherwise dangerous module
    if path in SAFE_INSIDE_DANGEROUS:
        return Classification(SAFE, "known data constructor", path)
    if path in CLOUDPICKLE_NAMES:
        # judged per call by the walker (the rebuilt code's names decide)
        return Classification(SAFE, CLOUDPICKLE, path)
    # 1. the fully resolved path and its module prefixes
    hit = _check_dangerous(path)
    if hit:
        return Classification(DANGEROUS, hit[0], hit[1])
    # 2. attribute traversal: any tail of the attribute path may start at a module object
    #    (posixpath + os.system, torch + serialization.pickle.loads, numpy + ...)
    q = qualname.split(".")
    for j in range(len(q) - 1):
        sub = ".".join(q[j:])
        hit = _check_dangerous(sub)
        if hit:
            return Classification(DANGEROUS, f"{hit[0]} (reached by attribute traversal)", sub)
    # 3. the real target through the generated alias table (`sklearn.base.np.testing...` is numpy.testing...)
    real, kind = tables.resolve(module, qualname)
    resolved = real if real != path else ""
    if resolved:
        hit = _check_dangerous(real)
        if hit:
            return Classification(DANGEROUS, f"{hit[0]} (resolves to {real})", real, resolved)
    if module == "__main__":
        if len(q) > 1 or q[0] in _MAIN_ALIASES:
            return Classification(DANGEROUS, "attribute traversal through the loading script's globals", path)
        if qualname[:1].isupper():
            return Classification(UNKNOWN, "a class defined in the script that saved the file (the loading "
                                           "script must define it)", path)
        return Classification(UNKNOWN, "a function of whatever script loads the file", path)
    if module == "pathlib" and len(q) > 1:
        return Classification(DANGEROUS, "file access through a pathlib method", path)
    # dunder traversal (__globals__, __builtins__, __subclasses__, __dict__ ...) is indirection
    for part in q:
        if part.startswith("__") and part.endswith("__") and part not in (
                "__newobj__", "__newobj_ex__", "__randomstate_ctor", "__bit_generator_ctor",
                "__generator_ctor", "__new__", "__reduce_ex__", "__RandomState_ctor"):
            if len(q) > 1 or part in ("__import__", "__builtins__", "__globals__", "__loader__"):
                return Classification(DANGEROUS, "dunder attribute traversal (indirection)", path)
    if module == "builtins" and not _IDENT.match(qualname.replace(".", "_")):
        return Classification(UNKNOWN, "unusual builtin name", path)
    # 4. allow-lists: exact qualified names (literal or resolved); a library prefix only for a direct attribute
    if path in SAFE_NAMES or (resolved and real in SAFE_NAMES):
        return Classification(SAFE, "known data constructor", path, resolved)
    if path.startswith("__torch__."):
        # TorchScript classes are compiled from the archive's code/, never imported as Python
        return Classification(SAFE, TORCHSCRIPT_CLASS, path)
    src = tables.KNOWN_SAFE.get(path) or (tables.KNOWN_SAFE.get(real) if resolved else None)
    if src is not None:
        return Classification(SAFE, KNOWN_RECONSTRUCTOR, src, resolved)
    # 5. the generated sink-reachability map (functions; classes are judged per call in the walker)
    g = tables.gadget(real) or tables.gadget(path)
    if g is not None and real not in tables.GADGET_CLASSES and path not in tables.GADGET_CLASSES:
        return Classification(DANGEROUS, _gadget_reason(g), real, resolved)
    if kind == "module" and qualname:
        return Classification(UNKNOWN, f"a module object ({real})", path, resolved)
    if len(q) == 1 and path.startswith(SAFE_MODULE_PREFIXES) and not path.startswith(UNSAFE_UNDER_SAFE_PREFIX) \
            and (not resolved or real.startswith(SAFE_MODULE_PREFIXES)):
        return Classification(SAFE, "known library class", path.split(".", 1)[0], resolved)
    if module == "numpy" and qualname in _NUMPY_SCALARS:
        return Classification(SAFE, "numpy scalar type", path)
    return Classification(UNKNOWN, "not on the known-safe list", path, resolved)


def classify(module: str, qualname: str, proto: int | None = 3) -> tuple[str, str, Classification]:
    """Classify a GLOBAL / STACK_GLOBAL operand pair; returns (module, name, classification).

    For protocol < 3 the loader maps Python 2 names (``__builtin__`` -> ``builtins``); the mapped
    name decides, unless the raw name reads as dangerous.
    """
    m2, n2 = normalize(module, qualname, proto if proto is not None else 0)
    c1 = classify_path(module, qualname)
    if (m2, n2) == (module, qualname):
        return module, qualname, c1
    # the loader maps the names (proto < 3, fix_imports); a dangerous reading in either wins
    c2 = classify_path(m2, n2)
    if c1.level == DANGEROUS and c2.level != DANGEROUS:
        return module, qualname, c1
    return m2, n2, c2
