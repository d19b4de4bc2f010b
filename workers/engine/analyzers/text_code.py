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
from modelscreen.engine.analyzers.registry import register
from modelscreen.engine.analyzers._text import analyze_yaml_text, read_text
from modelscreen.engine.context import ScanContext
from modelscreen.engine.sniff import suffix_of
from modelscreen.engine.templates import report_template
from modelscreen.engine.analyzers.tf_savedmodel import analyze_by_name

ANALYZER = "code"
MAX_CODE_BYTES = 8 << 20
MAX_CALL_FINDINGS = 50
PY_SUFFIXES = frozenset({".py", ".pyw", ".pyi"})
YAML_SUFFIXES = frozenset({".yaml", ".yml"})
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
}
DECODERS = frozenset({"base64.b64decode", "base64.b32decode", "base64.b16decode", "base64.a85decode",
                      "base64.b85decode", "base64.decodebytes", "base64.urlsafe_b64decode", "codecs.decode",
                      "zlib.decompress", "bz2.decompress", "lzma.decompress", "gzip.decompress", "marshal.loads",
                      "bytes.fromhex", "binascii.unhexlify", "binascii.a2b_base64"})
DYNAMIC_MODULES = frozenset({"os", "subprocess", "builtins", "socket", "posix", "pty", "ctypes", "sys"})


def _dotted(node: ast.AST, aliases: dict[str, str]) -> str | None:
    if isinstance(node, ast.Name):
        return aliases.get(node.id, node.id)
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value, aliases)
        return f"{base}.{node.attr}" if base else None
    if isinstance(node, ast.Call):  # __import__('os').system / importlib.import_module('os').system
        fn = _dotted(node.func, aliases)
        if fn in ("__import__", "builtins.__import__", "importlib.import_module") and node.args \
                and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
            return node.args[0].value
    return None


class _Code(ast.NodeVisitor):
    def __init__(self, ctx: ScanContext, lines: list[str], where: str):
        self.ctx = ctx
        self.lines = lines
        self.where = where
        self.aliases: dict[str, str] = {}
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

    def visit_Call(self, node: ast.Call) -> None:
        name = _dotted(node.func, self.aliases)
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
        text = read_text(stream, ctx, MAX_CODE_BYTES)
        if text is not None:
            analyze_python(ctx, text, name or "<code>")
        return
    if suffix in TEMPLATE_SUFFIXES:
        text = read_text(stream, ctx, 4 << 20)
        if text is not None:
            report_template(ctx, text, name or "<template>", analyzer="template")
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


@register("text")
def analyze(stream: BinaryIO, ctx: ScanContext) -> None:
    analyze_text(stream, ctx)


@register("yaml")
def analyze_yaml(stream: BinaryIO, ctx: ScanContext) -> None:
    analyze_text(stream, ctx, sniffed="yaml")
