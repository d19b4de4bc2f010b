"""Text files of a model repository, dispatched by name: Python code (`*.py`), YAML (`*.yaml`, `*.yml`,
or text that sniffed as YAML), Jinja chat templates (`*.jinja`).

Python is parsed with `ast.parse` (never compiled to bytecode, imported or run): every code file is an
info finding (it runs under trust_remote_code or when imported), calls that run commands, evaluate
code, open sockets or fetch URLs are high, and `exec`/`eval` of decoded data (base64, zlib, marshal,
hex) is critical. Import aliases (`import subprocess as sp`, `from os import system`) and
`__import__('os')` / `importlib.import_module('os')` are resolved.
"""
from __future__ import annotations

import ast
import re
from typing import BinaryIO

from modelscreen.schemas import Severity
from modelscreen.schemas.formats import Format
from modelscreen.engine.analyzers.registry import register
from modelscreen.engine.analyzers._text import analyze_yaml_text, read_text
from modelscreen.engine.analyzers.configs import analyze_json
from modelscreen.engine.context import ScanContext
from modelscreen.engine.pickle.callables import DANGEROUS, classify_path
from modelscreen.engine.sniff import suffix_of
from modelscreen.engine.templates import report_template
from modelscreen.engine.analyzers.tf_savedmodel import analyze_by_name

ANALYZER = "code"
MAX_CODE_BYTES = 8 << 20
MAX_CALL_FINDINGS = 50
PY_SUFFIXES = frozenset({".py", ".pyw", ".pyi"})
YAML_SUFFIXES = frozenset({".yaml", ".yml"})
JSON_SUFFIXES = frozenset({".json"})
TEMPLATE_SUFFIXES = frozenset({".jinja", ".jinja2", ".j2"})

# dotted call name (after alias resolution) -> (severity, what it does)
_RUNS_COMMANDS = "runs a shell command or program"
_EVALUATES = "evaluates code built at run time"
_NETWORK = "opens a network connection"
_LOADS = "deserializes data that can run code"
_NATIVE = "loads a native library"
DANGEROUS_CALLS: dict[str, tuple[Severity, str]] = {
    **{f"os.{n}": (Severity.high, _RUNS_COMMANDS) for n in (
        "system", "popen", "execl", "execle", "execlp", "execlpe", "execv", "execve", "execvp", "execvpe",
        "spawnl", "spawnle", "spawnlp", "spawnlpe", "spawnv", "spawnve", "spawnvp", "spawnvpe", "posix_spawn",
        "posix_spawnp", "startfile")},
    **{f"posix.{n}": (Severity.high, _RUNS_COMMANDS) for n in ("system", "popen", "execv", "execve")},
    **{f"subprocess.{n}": (Severity.high, _RUNS_COMMANDS) for n in (
        "Popen", "run", "call", "check_call", "check_output", "getoutput", "getstatusoutput")},
    "pty.spawn": (Severity.high, _RUNS_COMMANDS), "commands.getoutput": (Severity.high, _RUNS_COMMANDS),
    "asyncio.create_subprocess_shell": (Severity.high, _RUNS_COMMANDS),
    "asyncio.create_subprocess_exec": (Severity.high, _RUNS_COMMANDS),
    "eval": (Severity.high, _EVALUATES), "exec": (Severity.high, _EVALUATES), "compile": (Severity.medium, _EVALUATES),
    "builtins.eval": (Severity.high, _EVALUATES), "builtins.exec": (Severity.high, _EVALUATES),
    "runpy.run_path": (Severity.high, _EVALUATES), "runpy.run_module": (Severity.high, _EVALUATES),
    "code.InteractiveInterpreter": (Severity.high, _EVALUATES),
    **{f"socket.{n}": (Severity.high, _NETWORK) for n in ("socket", "create_connection", "fromfd")},
    **{f"urllib.request.{n}": (Severity.high, _NETWORK) for n in ("urlopen", "urlretrieve", "Request")},
    "urllib.urlopen": (Severity.high, _NETWORK), "urllib2.urlopen": (Severity.high, _NETWORK),
    **{f"requests.{n}": (Severity.high, _NETWORK) for n in ("get", "post", "put", "patch", "delete", "request",
                                                             "head", "Session")},
    **{f"http.client.{n}": (Severity.high, _NETWORK) for n in ("HTTPConnection", "HTTPSConnection")},
    "ftplib.FTP": (Severity.high, _NETWORK), "smtplib.SMTP": (Severity.high, _NETWORK),
    "telnetlib.Telnet": (Severity.high, _NETWORK), "webbrowser.open": (Severity.medium, _NETWORK),
    "paramiko.SSHClient": (Severity.high, _NETWORK),
    **{f"ctypes.{n}": (Severity.high, _NATIVE) for n in ("CDLL", "cdll.LoadLibrary", "windll.LoadLibrary",
                                                          "WinDLL", "PyDLL", "OleDLL")},
    "pickle.loads": (Severity.medium, _LOADS), "pickle.load": (Severity.medium, _LOADS),
    "marshal.loads": (Severity.high, _LOADS), "marshal.load": (Severity.high, _LOADS),
    "dill.loads": (Severity.medium, _LOADS), "cloudpickle.loads": (Severity.medium, _LOADS),
    # TorchScript (code/ of a torch.jit.save archive): the operators that touch files
    **{f"{p}.{n}": (Severity.high, "reads or writes files from TorchScript") for p in (
        "torch.ops.image", "ops.image") for n in ("write_file", "read_file", "write_png", "write_jpeg")},
    **{n: (Severity.high, "maps or writes files from TorchScript") for n in (
        "torch.from_file", "torch.ops.aten.from_file", "ops.aten.from_file", "torch.save", "torch.ops.aten.save",
        "torch.load", "torch.ops.aten.load")},
}
DECODERS = frozenset({"base64.b64decode", "base64.b32decode", "base64.b16decode", "base64.a85decode",
                      "base64.b85decode", "base64.decodebytes", "base64.urlsafe_b64decode", "codecs.decode",
                      "zlib.decompress", "bz2.decompress", "lzma.decompress", "gzip.decompress", "marshal.loads",
                      "bytes.fromhex", "binascii.unhexlify", "binascii.a2b_base64"})
DYNAMIC_MODULES = frozenset({"os", "subprocess", "builtins", "socket", "posix", "pty", "ctypes", "sys"})


MAX_FOLD = 4096  # longest string built by constant folding
_BUILTIN_TABLES = ("__builtins__", "builtins.__dict__", "__builtins__.__dict__", "vars(builtins)",
                   "globals().__builtins__", "builtins")


def fold(node: ast.AST, consts: dict[str, str], depth: int = 0) -> str | None:
    """The string an expression always evaluates to, when it is built from constants at run time
    ("sys" + "tem", "".join([...]), f-strings, [::-1], chr(), .decode() of base64/hex literals)."""
    if depth > 20:
        return None
    if isinstance(node, ast.Constant):
        v = node.value
        if isinstance(v, bytes):
            v = v.decode("latin-1")
        return v if isinstance(v, str) and len(v) <= MAX_FOLD else None
    if isinstance(node, ast.Name):
        return consts.get(node.id)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        a, b = fold(node.left, consts, depth + 1), fold(node.right, consts, depth + 1)
        return a + b if a is not None and b is not None and len(a) + len(b) <= MAX_FOLD else None
    if isinstance(node, ast.JoinedStr):
        parts = []
        for v in node.values:
            x = fold(v.value if isinstance(v, ast.FormattedValue) else v, consts, depth + 1)
            if x is None:
                return None
            parts.append(x)
        return "".join(parts)
    if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Slice):
        base = fold(node.value, consts, depth + 1)
        sl = node.slice
        if base is not None and sl.lower is None and sl.upper is None and isinstance(sl.step, ast.UnaryOp) \
                and isinstance(sl.step.operand, ast.Constant) and sl.step.operand.value == 1:
            return base[::-1]
        return None
    if isinstance(node, ast.Call) and not node.keywords:
        f = node.func
        if isinstance(f, ast.Name) and f.id == "chr" and len(node.args) == 1 and isinstance(node.args[0], ast.Constant) \
                and isinstance(node.args[0].value, int) and 0 <= node.args[0].value < 0x110000:
            return chr(node.args[0].value)
        if isinstance(f, ast.Name) and f.id == "str" and len(node.args) == 1:
            return fold(node.args[0], consts, depth + 1)
        if isinstance(f, ast.Attribute):
            base = fold(f.value, consts, depth + 1) if f.attr != "join" or not isinstance(f.value, ast.Constant) \
                else f.value.value
            if f.attr == "join" and isinstance(base, str) and len(node.args) == 1 \
                    and isinstance(node.args[0], (ast.List, ast.Tuple)):
                items = [fold(e, consts, depth + 1) for e in node.args[0].elts]
                return base.join(items) if all(i is not None for i in items) else None
            if f.attr in ("lower", "upper", "strip") and base is not None and not node.args:
                return getattr(base, f.attr)()
            if f.attr == "replace" and base is not None and len(node.args) == 2:
                a, b = fold(node.args[0], consts, depth + 1), fold(node.args[1], consts, depth + 1)
                return base.replace(a, b) if a is not None and b is not None else None
            if f.attr == "decode" and isinstance(f.value, ast.Call):
                return _decoded(f.value, consts, depth + 1)
    return None


def _decoded(call: ast.Call, consts: dict[str, str], depth: int) -> str | None:
    """base64.b64decode("...") / bytes.fromhex("...") of a literal, decoded as data (never run)."""
    import base64
    import binascii

    name = call.func.attr if isinstance(call.func, ast.Attribute) else None
    arg = fold(call.args[0], consts, depth) if len(call.args) == 1 else None
    if arg is None:
        return None
    try:
        if name in ("b64decode", "standard_b64decode", "decodebytes"):
            return base64.b64decode(arg).decode("utf-8", "replace")[:MAX_FOLD]
        if name in ("fromhex", "unhexlify"):
            return bytes.fromhex(arg).decode("utf-8", "replace")[:MAX_FOLD]
    except (binascii.Error, ValueError):
        return None
    return None


def _dotted(node: ast.AST, aliases: dict[str, str], consts: dict[str, str] | None = None) -> str | None:
    if isinstance(node, ast.Name):
        return aliases.get(node.id, node.id)
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value, aliases, consts)
        return f"{base}.{node.attr}" if base else None
    if consts is not None and isinstance(node, ast.Subscript) and not isinstance(node.slice, ast.Slice):
        # __builtins__["ev" + "al"], vars(builtins)[name], sys.modules["os"], globals()["os"]
        key = fold(node.slice, consts)
        base = _dotted(node.value, aliases, consts)
        if key is not None and base is not None:
            if base in _BUILTIN_TABLES:
                return f"builtins.{key}" if key != "__builtins__" else "builtins"
            if base == "sys.modules":
                return key
            if base in ("globals()", "locals()", "vars()"):
                return aliases.get(key, key)
        return None
    if consts is not None and isinstance(node, ast.Call):
        fn = _dotted(node.func, aliases, consts)
        if fn in ("vars", "globals", "locals") and len(node.args) <= 1:
            inner = _dotted(node.args[0], aliases, consts) if node.args else None
            return f"vars({inner})" if inner else f"{fn}()"
        if fn in ("getattr", "builtins.getattr") and len(node.args) >= 2:
            target = _dotted(node.args[0], aliases, consts)
            attr = fold(node.args[1], consts)
            if target is not None and attr is not None:
                if target in _BUILTIN_TABLES:
                    return f"builtins.{attr}"
                return f"{target}.{attr}"
        if fn in ("__import__", "builtins.__import__", "importlib.import_module") and node.args:
            return fold(node.args[0], consts)
    if isinstance(node, ast.Call):  # __import__('os').system / importlib.import_module('os').system
        fn = _dotted(node.func, aliases)
        if fn in ("__import__", "builtins.__import__", "importlib.import_module") and node.args \
                and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
            return node.args[0].value
    return None


def _computed(node: ast.AST) -> bool:
    """The callee is looked up at run time (getattr, __import__, a subscript of a namespace)."""
    return any(isinstance(n, (ast.Call, ast.Subscript)) for n in ast.walk(node))


def _pickle_dangerous(name: str) -> tuple[Severity, str] | None:
    """Judge a dotted name like a pickle global (alias table, sink map)."""
    parts = name.split(".")
    for k in range(len(parts) - 1, 0, -1):
        c = classify_path(".".join(parts[:k]), ".".join(parts[k:]))
        if c.level == DANGEROUS:
            return Severity.high, c.reason
    return None


class _Code(ast.NodeVisitor):
    def __init__(self, ctx: ScanContext, lines: list[str], where: str):
        self.ctx = ctx
        self.lines = lines
        self.where = where
        self.aliases: dict[str, str] = {}
        self.consts: dict[str, str] = {}
        self.func_depth = 0
        self.reported = 0

    def line(self, node: ast.AST) -> str:
        n = getattr(node, "lineno", 0)
        return self.lines[n - 1].strip()[:160] if 0 < n <= len(self.lines) else ""

    def loc(self, node: ast.AST) -> str:
        return f"{self.where} line {getattr(node, 'lineno', '?')}"

    def add(self, rule: str, sev: Severity, title: str, detail: str, node: ast.AST) -> None:
        if self.reported >= MAX_CALL_FINDINGS:
            return
        self.reported += 1
        when = "inside a function" if self.func_depth else "at import time (module level)"
        self.ctx.add(rule, sev, title, f"{detail}; runs {when}", self.loc(node), evidence=self.line(node),
                     analyzer=ANALYZER, remediation="Review the code before trust_remote_code=True or importing it")

    def visit_Import(self, node: ast.Import) -> None:
        for a in node.names:
            self.aliases[a.asname or a.name.split(".")[0]] = a.name if a.asname else a.name.split(".")[0]

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.module and not node.level:
            for a in node.names:
                if a.name == "*":
                    for full in DANGEROUS_CALLS:
                        mod, _, fn = full.rpartition(".")
                        if mod == node.module:
                            self.aliases.setdefault(fn, full)
                else:
                    self.aliases[a.asname or a.name] = f"{node.module}.{a.name}"

    def _func(self, node) -> None:
        self.func_depth += 1
        self.generic_visit(node)
        self.func_depth -= 1

    visit_FunctionDef = visit_AsyncFunctionDef = visit_Lambda = _func

    def visit_Assign(self, node: ast.Assign) -> None:
        # data flow for computed names: x = "sys" + "tem"; f = getattr(os, x); m = __import__("o" + "s")
        if len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            target = node.targets[0].id
            text = fold(node.value, self.consts)
            if text is not None:
                self.consts[target] = text
            elif isinstance(node.value, (ast.Call, ast.Subscript)):
                ref = _dotted(node.value, self.aliases, self.consts)
                if ref:
                    self.aliases[target] = ref
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        name = _dotted(node.func, self.aliases)
        computed = _dotted(node.func, self.aliases, self.consts) if _computed(node.func) else None
        if computed and computed != name:
            hit = DANGEROUS_CALLS.get(computed) or DANGEROUS_CALLS.get(computed.removeprefix("builtins.")) \
                or _pickle_dangerous(computed)
            if hit:
                sev, what = hit
                self.add("CODE-COMPUTED-CALL", Severity.high if sev.rank < Severity.high.rank else sev,
                         f"Code calls {computed}() through a computed name",
                         f"{computed} {what}; the name is built at run time (string building, getattr, "
                         "__import__, builtins/vars()/globals() lookups) to hide it", node)
                self.generic_visit(node)
                return
        if name:
            hit = DANGEROUS_CALLS.get(name)
            if name in ("eval", "exec", "builtins.eval", "builtins.exec", "compile") and node.args:
                decoder = self._decoder_in(node.args[0])
                if decoder:
                    self.add("CODE-EXEC-ENCODED", Severity.critical, f"{name}() of decoded data",
                             f"{name} runs code decoded with {decoder}: a hidden payload", node)
                    self.generic_visit(node)
                    return
                if isinstance(node.args[0], ast.Constant):
                    hit = (Severity.medium, _EVALUATES + " (a constant string)")
            if hit:
                sev, what = hit
                self.add("CODE-DANGEROUS-CALL", sev, f"Code calls {name}()", f"{name} {what}", node)
            elif name in ("getattr", "builtins.getattr") and node.args:
                target = _dotted(node.args[0], self.aliases)
                if target in DYNAMIC_MODULES or (target and target.split(".")[0] in ("os", "subprocess")):
                    self.add("CODE-DYNAMIC-LOOKUP", Severity.high, f"getattr() on module {target}",
                             f"a name looked up at run time on {target}: a way to hide which function runs", node)
            elif name in ("__import__", "importlib.import_module") and node.args \
                    and not isinstance(node.args[0], ast.Constant):
                self.add("CODE-DYNAMIC-IMPORT", Severity.medium, "Module imported by a computed name",
                         f"{name} with a computed module name", node)
        self.generic_visit(node)

    def _decoder_in(self, node: ast.AST) -> str | None:
        for sub in ast.walk(node):
            if isinstance(sub, ast.Call):
                n = _dotted(sub.func, self.aliases)
                if n in DECODERS or (n and n.endswith((".b64decode", ".decompress", ".fromhex", ".unhexlify"))):
                    return n
                if isinstance(sub.func, ast.Attribute) and sub.func.attr == "decode" and sub.args \
                        and isinstance(sub.args[0], ast.Constant) and str(sub.args[0].value).lower() in (
                            "base64", "hex", "rot13", "rot_13", "zlib", "bz2"):
                    return f".decode({sub.args[0].value!r})"
        return None


def analyze_python(ctx: ScanContext, text: str, where: str) -> None:
    lines = text.splitlines()
    ctx.add("CODE-FILE", Severity.info, "Python code in the model repository",
            f"{len(lines)} lines; it runs when the model is loaded with trust_remote_code=True or when it is "
            "imported: review it like any dependency", where, analyzer=ANALYZER)
    try:
        tree = ast.parse(text, filename=where)
    except (SyntaxError, ValueError) as exc:
        ctx.add("CODE-SYNTAX-ERROR", Severity.low, "Python file does not parse",
                f"{type(exc).__name__}: {exc}"[:200], f"{where} line {getattr(exc, 'lineno', '?')}", analyzer=ANALYZER)
        return
    except (RecursionError, MemoryError):
        ctx.add("CODE-SYNTAX-ERROR", Severity.medium, "Python file nested too deeply to parse", where, analyzer=ANALYZER)
        return
    try:
        _Code(ctx, lines, where).visit(tree)
    except RecursionError:
        ctx.add("CODE-NOT-ANALYSED", Severity.medium, "Python file nested too deeply to analyse", where, analyzer=ANALYZER)


_YAMLISH = re.compile(r"!!python/|!<tag:yaml\.org,2002:python/")


def analyze_text(stream: BinaryIO, ctx: ScanContext, sniffed: str = "text") -> None:
    name = ctx.name.rsplit("/", 1)[-1] if ctx.name else ""
    suffix = suffix_of(name)
    if suffix in (".pb", ".onnx"):  # a small protobuf can be valid UTF-8: try it by its name

        analyze_by_name(stream, ctx)
        return
    first = b""
    if suffix not in PY_SUFFIXES:
        stream.seek(0)
        first = stream.read(256)
    is_python = suffix in PY_SUFFIXES or (first.startswith(b"#!") and b"python" in first.split(b"\n", 1)[0])
    if is_python:
        text = read_text(stream, ctx, MAX_CODE_BYTES, python_source=True)
        if text is not None:
            analyze_python(ctx, text, name or "<code>")
        return
    if suffix in TEMPLATE_SUFFIXES:
        text = read_text(stream, ctx, 4 << 20)
        if text is not None:
            report_template(ctx, text, name or "<template>", analyzer="template")
        return
    if suffix in JSON_SUFFIXES:  # loaders read it with json.load by its name: what does not parse is reported
        analyze_json(stream, ctx)
        return
    if suffix in YAML_SUFFIXES or sniffed == "yaml":
        text = read_text(stream, ctx)
        if text is not None:
            analyze_yaml_text(ctx, text)
        return
    # Other text (README, notes, vocabularies): only look for YAML python tags, which a YAML loader
    # would act on whatever the file is called.
    text = read_text(stream, ctx)
    if text is not None and _YAMLISH.search(text):
        analyze_yaml_text(ctx, text)


@register(Format.text)
def analyze(stream: BinaryIO, ctx: ScanContext) -> None:
    analyze_text(stream, ctx)


@register(Format.yaml)
def analyze_yaml(stream: BinaryIO, ctx: ScanContext) -> None:
    analyze_text(stream, ctx, sniffed="yaml")
