"""Static analysis of Jinja2 chat templates (GGUF `tokenizer.chat_template*`, `tokenizer_config.json`
`chat_template`, `chat_template.jinja`), without ever rendering them.

`jinja2.Environment.parse` lexes and parses the source into a syntax tree; nothing is compiled or
executed. The tree is walked for what a chat template has no business doing — the server-side
template injection class of CVE-2024-34359 (llama-cpp-python rendered GGUF templates unsandboxed):

- attribute or item access to Python internals (`__class__`, `__globals__`, `__subclasses__`,
  `__builtins__`, `__import__`, `__init__`, `__mro__`, `__base__`, `func_globals`, `f_back`, ...),
  directly, via `|attr()`, `|map(attribute=)`, `selectattr`, ... : critical;
- such names assembled at parse-time-knowable cost (`'__cla' ~ 'ss__'`, `'%c%c'|format(95, 95)`,
  `['_','_']|join`, `'__ssalc__'[::-1]`, `{% set %}` variables holding them): critical;
- the same names written as plain string literals (`{{ "__class__" }}`): high;
- attributes of Jinja's function globals (`lipsum.x`, `cycler.x`, `joiner.x`, `self.x`,
  `namespace.x`): high; referencing `lipsum`/`cycler`/`joiner`/`self` or web-framework globals
  (`config`, `request`, `url_for`, ...): medium;
- `str.format` / `|format` strings with field attribute access (`'{0.__class__}'`): high;
- resource exhaustion with constants (`range(10**9)`, `'x' * 10**8`): medium;
- `{% include %}`, `{% import %}`, `{% extends %}` (a chat template has no other template to load): medium;
- a template that does not parse: medium (a loader that parses differently may see other code).

Ordinary templates (ChatML, Llama 2/3/3.1 with tools, Mistral, Gemma, Phi-3, Qwen 2.5/3, DeepSeek)
use `namespace(...)`, `raise_exception(...)`, `strftime_now(...)`, `loop.*`, `|tojson`, string methods
(`split`, `strip`, `startswith`) and slices: none of that is reported.
"""
from __future__ import annotations

import re
import string
from dataclasses import dataclass

import jinja2
from jinja2 import nodes
from jinja2.ext import Extension

from modelscreen.schemas import Severity

MAX_TEMPLATE_CHARS = 1 << 20
MAX_ISSUES = 50
MAX_FOLD = 10_000  # longest string constant-folded
MAX_NODES = 200_000
HUGE_RANGE = 1_000_000
HUGE_REPEAT = 10_000_000

DUNDER = re.compile(r"__[A-Za-z][A-Za-z0-9_]*__")
# Attribute names Jinja's sandbox treats as internal (jinja2.sandbox), plus name-mangled privates.
INTERNAL_NAMES = frozenset({
    "func_closure", "func_code", "func_dict", "func_defaults", "func_globals", "im_class", "im_func",
    "im_self", "gi_frame", "gi_code", "gi_yieldfrom", "cr_frame", "cr_code", "cr_await", "ag_code",
    "ag_frame", "ag_await", "tb_frame", "tb_next", "f_back", "f_builtins", "f_code", "f_globals",
    "f_locals", "f_trace", "co_code", "co_consts", "mro", "_TemplateReference__context",
    "_Undefined__obj", "_module",
})
# Jinja's default globals that are Python functions/classes (a path to __globals__), and globals of
# web frameworks that chat templates probe for.
FUNCTION_GLOBALS = frozenset({"lipsum", "cycler", "joiner", "self"})
FRAMEWORK_GLOBALS = frozenset({"config", "request", "url_for", "get_flashed_messages", "g", "session",
                               "application", "current_app"})
ACCESS_GLOBALS = FUNCTION_GLOBALS | FRAMEWORK_GLOBALS | {"namespace", "range", "dict", "raise_exception",
                                                        "strftime_now", "loop"}
ATTRIBUTE_FILTERS = frozenset({"attr", "map", "selectattr", "rejectattr", "sort", "groupby", "sum", "unique",
                               "min", "max", "items"})
_FOLD_FILTERS = frozenset({"format", "join", "replace", "lower", "upper", "reverse", "string", "trim",
                           "first", "last", "list", "capitalize", "title"})
_STR_METHODS = frozenset({"format", "join", "replace", "lower", "upper", "strip", "lstrip", "rstrip",
                          "capitalize", "title", "swapcase", "removeprefix", "removesuffix"})
_UNKNOWN = object()


@dataclass(frozen=True)
class TemplateIssue:
    rule_id: str
    severity: Severity
    title: str
    detail: str
    line: int | None
    evidence: str | None = None


class _GenerationTag(Extension):
    """`{% generation %}...{% endgeneration %}` (transformers' AssistantTracker), parsed as a plain scope."""

    tags = {"generation"}

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(("name:endgeneration",), drop_needle=True)
        return nodes.Scope(body).set_lineno(lineno)


_ENV: jinja2.Environment | None = None


def _env() -> jinja2.Environment:
    global _ENV
    if _ENV is None:
        # The extensions transformers and llama.cpp accept; parse() never compiles or renders.
        _ENV = jinja2.Environment(extensions=["jinja2.ext.loopcontrols", "jinja2.ext.do", _GenerationTag])
    return _ENV


def is_internal(name: str) -> bool:
    return bool(DUNDER.fullmatch(name)) or name in INTERNAL_NAMES or name.startswith("_TemplateReference")


def internal_in(text: str) -> str | None:
    """The first internal name spelled inside `text` (a dunder anywhere, or a whole internal name)."""
    m = DUNDER.search(text)
    if m:
        return m.group(0)
    if text in INTERNAL_NAMES or "_TemplateReference__context" in text:
        return text if text in INTERNAL_NAMES else "_TemplateReference__context"
    return None


class _Walker:
    def __init__(self, source: str):
        self.source_lines = source.splitlines()
        self.issues: dict[tuple, TemplateIssue] = {}
        self.vars: dict[str, object] = {}
        self.access_reported: set[int] = set()  # ids of Const nodes already reported as an access

    # --- reporting -----------------------------------------------------------------------------
    def add(self, rule_id: str, severity: Severity, title: str, detail: str, node: nodes.Node | None,
            key: str = "") -> None:
        line = getattr(node, "lineno", None) if node is not None else None
        k = (rule_id, line, key or detail)
        if k in self.issues or len(self.issues) >= MAX_ISSUES:
            return
        evidence = None
        if line and 0 < line <= len(self.source_lines):
            evidence = self.source_lines[line - 1].strip()[:160]
        self.issues[k] = TemplateIssue(rule_id, severity, title, detail, line, evidence)

    # --- constant folding ------------------------------------------------------------------------
    def fold(self, node: nodes.Node | None, depth: int = 0):
        """The value of an expression made only of constants (and {% set %} constants), or _UNKNOWN."""
        if node is None or depth > 40:
            return _UNKNOWN
        d = depth + 1
        try:
            if isinstance(node, nodes.Const):
                return node.value
            if isinstance(node, nodes.Name) and node.ctx == "load":
                return self.vars.get(node.name, _UNKNOWN)
            if isinstance(node, (nodes.Tuple, nodes.List)):
                items = [self.fold(i, d) for i in node.items]
                return _UNKNOWN if any(i is _UNKNOWN for i in items) else items
            if isinstance(node, nodes.Concat):
                parts = [self.fold(n, d) for n in node.nodes]
                if any(p is _UNKNOWN for p in parts) or not all(_scalar(p) for p in parts) \
                        or sum(_text_len(p) for p in parts) > MAX_FOLD:
                    return _UNKNOWN
                return "".join(str(p) for p in parts)
            if isinstance(node, nodes.Neg):
                v = self.fold(node.node, d)
                return -v if isinstance(v, (int, float)) and not isinstance(v, bool) else _UNKNOWN
            if isinstance(node, nodes.BinExpr):
                return self._fold_bin(node, d)
            if isinstance(node, nodes.Getitem):
                base = self.fold(node.node, d)
                if isinstance(node.arg, nodes.Slice) and isinstance(base, (str, list)):
                    parts = [self.fold(x, d) if x is not None else None
                             for x in (node.arg.start, node.arg.stop, node.arg.step)]
                    if all(p is None or (isinstance(p, int) and not isinstance(p, bool)) for p in parts) \
                            and parts[2] != 0:
                        return base[slice(*parts)]
                    return _UNKNOWN
                key = self.fold(node.arg, d)
                if isinstance(base, (str, list)) and isinstance(key, int) and -len(base) <= key < len(base):
                    return base[key]
                return _UNKNOWN
            if isinstance(node, nodes.Filter) and node.name in _FOLD_FILTERS and node.node is not None:
                return self._fold_filter(node, d)
            if isinstance(node, nodes.Call) and isinstance(node.node, nodes.Getattr) \
                    and node.node.attr in _STR_METHODS and not node.dyn_args and not node.dyn_kwargs:
                base = self.fold(node.node.node, d)
                if not isinstance(base, str):
                    return _UNKNOWN
                args = [self.fold(a, d) for a in node.args]
                kwargs = {k.key: self.fold(k.value, d) for k in node.kwargs}
                if any(a is _UNKNOWN for a in args) or any(v is _UNKNOWN for v in kwargs.values()):
                    return _UNKNOWN
                if node.node.attr == "format" and not (_plain_format(base) and _format_fits(base, args, kwargs)):
                    return _UNKNOWN
                if node.node.attr == "replace" and not _replace_fits(base, args):
                    return _UNKNOWN
                if not all(_scalar(a) for a in [*args, *kwargs.values()]) and node.node.attr != "join":
                    return _UNKNOWN
                if node.node.attr == "join" and not (len(args) == 1 and isinstance(args[0], list)
                                                     and all(_scalar(x) for x in args[0])
                                                     and _join_fits(base, args[0])):
                    return _UNKNOWN
                return _bound(getattr(base, node.node.attr)(*args, **kwargs))
        except (TypeError, ValueError, IndexError, KeyError, OverflowError, AttributeError, ZeroDivisionError):
            return _UNKNOWN
        return _UNKNOWN

    def _fold_bin(self, node: nodes.BinExpr, d: int):
        left, right = self.fold(node.left, d), self.fold(node.right, d)
        if left is _UNKNOWN or right is _UNKNOWN:
            return _UNKNOWN
        if isinstance(node, nodes.Add):
            if isinstance(left, str) and isinstance(right, str):
                return left + right if len(left) + len(right) <= MAX_FOLD else _UNKNOWN
            if _num(left) and _num(right):
                return left + right
        elif isinstance(node, nodes.Mul):
            if isinstance(left, str) and _int(right) or _int(left) and isinstance(right, str):
                s, k = (left, right) if isinstance(left, str) else (right, left)
                if len(s) * max(k, 0) > MAX_FOLD:
                    return _UNKNOWN
                return s * k
            if _num(left) and _num(right):
                return left * right
        elif isinstance(node, nodes.Mod):
            if isinstance(left, str) and ("%" in left):
                args = tuple(right) if isinstance(right, list) else (right,)
                if all(_scalar(a) for a in args) and _percent_fits(left, args):
                    return left % args
        elif isinstance(node, nodes.Sub) and _num(left) and _num(right):
            return left - right
        elif isinstance(node, nodes.Pow) and _num(left) and _num(right):
            if abs(right) > 64 or abs(left) > 1 << 32:
                return _UNKNOWN
            return left ** right
        return _UNKNOWN

    def _fold_filter(self, node: nodes.Filter, d: int):
        base = self.fold(node.node, d)
        args = [self.fold(a, d) for a in node.args]
        if base is _UNKNOWN or any(a is _UNKNOWN for a in args) or node.dyn_args or node.dyn_kwargs:
            return _UNKNOWN
        name = node.name
        if name == "format" and isinstance(base, str) and all(_scalar(a) for a in args) \
                and _percent_fits(base, tuple(args)):
            return base % tuple(args)
        if name == "join" and isinstance(base, (list, str)):
            sep = args[0] if args else ""
            if isinstance(sep, str) and all(_scalar(x) for x in base) and _join_fits(sep, base):
                return sep.join(str(x) for x in base)
        if name == "replace" and isinstance(base, str) and len(args) >= 2 and all(isinstance(a, str) for a in args[:2]) \
                and _replace_fits(base, args):
            return base.replace(args[0], args[1])
        if name in ("lower", "upper", "capitalize", "title") and isinstance(base, str):
            return getattr(base, name)()
        if name == "trim" and isinstance(base, str):
            return base.strip()
        if name == "reverse" and isinstance(base, (str, list)):
            return base[::-1]
        if name == "string" and _scalar(base):
            return str(base)
        if name == "list" and isinstance(base, str):
            return list(base)
        if name in ("first", "last") and isinstance(base, (str, list)) and base:
            return base[0] if name == "first" else base[-1]
        return _UNKNOWN

    # --- walking -------------------------------------------------------------------------------
    def walk(self, tree: nodes.Template) -> None:
        # {% set name = <constant> %}: remembered in document order (scoping is ignored on purpose:
        # a name that is ever a dangerous constant is treated as one).
        count = 0
        for node in tree.find_all((nodes.Assign, nodes.AssignBlock)):
            count += 1
            if count > MAX_NODES:
                break
            if isinstance(node, nodes.Assign) and isinstance(node.target, nodes.Name):
                value = self.fold(node.node)
                if value is not _UNKNOWN:
                    self.vars[node.target.name] = value
            elif isinstance(node, nodes.AssignBlock) and isinstance(node.target, nodes.Name) \
                    and all(isinstance(b, nodes.Output) and all(isinstance(x, nodes.TemplateData) for x in b.nodes)
                            for b in node.body):
                self.vars[node.target.name] = "".join(x.data for b in node.body for x in b.nodes)
        stack: list[tuple[nodes.Node, nodes.Node | None]] = [(tree, None)]
        seen = 0
        while stack:
            node, parent = stack.pop()
            seen += 1
            if seen > MAX_NODES:
                self.add("TEMPLATE-TOO-COMPLEX", Severity.medium, "Template too complex to analyse fully",
                         f"more than {MAX_NODES} syntax nodes; the rest was not analysed", None)
                return
            self.visit(node, parent)
            children = list(node.iter_child_nodes())
            stack.extend((c, node) for c in reversed(children))

    def access(self, name_node: nodes.Node | None, name, node: nodes.Node, how: str) -> None:
        if not isinstance(name, str):
            return
        if is_internal(name) or internal_in(name):
            bad = name if is_internal(name) else internal_in(name)
            if isinstance(name_node, nodes.Const):
                self.access_reported.add(id(name_node))
            self.add("TEMPLATE-DUNDER-ACCESS", Severity.critical, f"Template reaches Python internals ({bad})",
                     f"{how} {bad!r}: a chat template never needs Python object internals; this is the "
                     "sandbox-escape pattern of CVE-2024-34359 (template injection leading to code execution "
                     "in loaders that render templates unsandboxed)", node, key=f"{how}:{bad}")
        elif name.startswith("_") and how == "attribute":
            self.add("TEMPLATE-PRIVATE-ATTRIBUTE", Severity.medium, f"Template reads a private attribute ({name})",
                     f"{how} {name!r}: private attributes are blocked by Jinja's sandbox and unused by chat "
                     "templates", node, key=name)

    def visit(self, node: nodes.Node, parent: nodes.Node | None) -> None:
        if isinstance(node, nodes.Getattr):
            self.access(None, node.attr, node, "attribute")
            if isinstance(node.node, nodes.Name) and node.node.name in ACCESS_GLOBALS - {"loop", "self"}:
                self.add("TEMPLATE-GADGET-ACCESS", Severity.high,
                         f"Attribute of the global {node.node.name!r} ({node.attr})",
                         f"{node.node.name}.{node.attr}: attributes of Jinja's global functions and classes are the "
                         "first step of known sandbox escapes (…__init__.__globals__); templates only call them",
                         node, key=node.node.name)
            if isinstance(node.node, nodes.Name) and node.node.name == "self":
                self.add("TEMPLATE-GADGET-ACCESS", Severity.high, f"Attribute of 'self' ({node.attr})",
                         "self is the template reference object; its attributes lead to the render context "
                         "(self._TemplateReference__context) and are never needed by a chat template", node,
                         key="self")
        elif isinstance(node, nodes.Getitem) and not isinstance(node.arg, nodes.Slice):
            key = self.fold(node.arg)
            self.access(node.arg, key, node, "item")
            if isinstance(node.node, nodes.Name) and node.node.name in FUNCTION_GLOBALS | {"namespace"}:
                self.add("TEMPLATE-GADGET-ACCESS", Severity.high, f"Item of the global {node.node.name!r}",
                         f"{node.node.name}[...]: item access on a Jinja global function is a sandbox probe",
                         node, key=node.node.name)
        elif isinstance(node, nodes.Name) and node.ctx == "load":
            if node.name in FUNCTION_GLOBALS | FRAMEWORK_GLOBALS and node.name not in self.vars:
                what = ("a Jinja global function (a path to its module's globals)" if node.name in FUNCTION_GLOBALS
                        else "a web-framework global that chat templates never have")
                self.add("TEMPLATE-SUSPICIOUS-GLOBAL", Severity.medium, f"Template references {node.name!r}",
                         f"{node.name!r} is {what}; chat templates do not use it", node, key=node.name)
        elif isinstance(node, (nodes.Filter, nodes.Test)):
            self._filter(node)
        elif isinstance(node, nodes.Call):
            self._call(node)
        elif isinstance(node, nodes.Keyword):
            if is_internal(node.key):
                self.access(None, node.key, node, "keyword argument")
        elif isinstance(node, (nodes.Include, nodes.Import, nodes.FromImport, nodes.Extends)):
            target = self.fold(node.template)
            self.add("TEMPLATE-LOADS-TEMPLATE", Severity.medium,
                     f"Template uses {{% {type(node).__name__.lower()} %}}",
                     f"a chat template is self-contained; this loads another template "
                     f"({target if isinstance(target, str) else 'computed name'!r}) from the renderer's loader",
                     node, key=type(node).__name__)
        elif isinstance(node, nodes.Const) and isinstance(node.value, str):
            bad = internal_in(node.value)
            if bad and id(node) not in self.access_reported:
                self.add("TEMPLATE-DUNDER-STRING", Severity.high, f"Template spells a Python internal name ({bad})",
                         f"the string literal {node.value[:80]!r} names {bad!r}; chat templates print role "
                         "markers and message text, not Python internals", node, key=bad)
            if ("{" in node.value and "}" in node.value and isinstance(parent, (nodes.Filter, nodes.Getattr))
                    and not _plain_format(node.value)
                    and (isinstance(parent, nodes.Getattr) and parent.attr == "format"
                         or isinstance(parent, nodes.Filter) and parent.name == "format")):
                if bad:
                    self.access(node, bad, node, "str.format field")
                self.add("TEMPLATE-FORMAT-FIELD-ACCESS", Severity.high,
                         "Format string reads attributes of its arguments",
                         f"{node.value[:80]!r}: str.format field access ({{0.attr}} / {{0[key]}}) walks object "
                         "attributes outside the sandbox's attribute checks in some loaders", node)
        if isinstance(node, (nodes.Concat, nodes.BinExpr, nodes.Filter, nodes.Call, nodes.Getitem)) \
                and not isinstance(parent, (nodes.Concat, nodes.BinExpr)):
            value = self.fold(node)
            if isinstance(value, str):
                bad = internal_in(value)
                if bad:
                    self.add("TEMPLATE-OBFUSCATED-NAME", Severity.critical,
                             f"Template assembles a Python internal name ({bad})",
                             f"an expression computes {value[:80]!r} from pieces (concatenation, format, join, "
                             "reverse, slicing): obfuscation of a sandbox escape", node, key=bad)
        if isinstance(node, nodes.BinExpr):
            self._resource(node)

    def _filter(self, node: nodes.Filter | nodes.Test) -> None:
        args = [self.fold(a) for a in node.args]
        kwargs = {k.key: self.fold(k.value) for k in node.kwargs}
        for raw, value in [*zip(node.args, args), *((k.value, kwargs[k.key]) for k in node.kwargs)]:
            if isinstance(value, str) and (is_internal(value) or internal_in(value)):
                self.access(raw, value, node, f"|{node.name}() argument")
        if isinstance(node, nodes.Filter) and node.name == "attr":
            if not args or args[0] is _UNKNOWN:
                self.add("TEMPLATE-DYNAMIC-ATTRIBUTE", Severity.high, "Attribute name computed at render time",
                         "|attr() with a name that is not a constant: the attribute read cannot be known "
                         "without rendering, a common way to hide a sandbox escape", node)
            elif not (isinstance(args[0], str) and internal_in(args[0])):
                self.add("TEMPLATE-ATTR-FILTER", Severity.low, "Template uses the |attr filter",
                         f"|attr({args[0]!r}); chat templates access fields with '.' or '[]'", node,
                         key=str(args[0]))

    def _call(self, node: nodes.Call) -> None:
        for a in node.args:
            v = self.fold(a)
            if isinstance(v, str) and (is_internal(v) or internal_in(v)):
                self.access(a, v, node, "call argument")
        callee = node.node
        if isinstance(callee, nodes.Name) and callee.name == "range":
            for a in node.args:
                v = self.fold(a)
                if _int(v) and abs(v) > HUGE_RANGE:
                    self.add("TEMPLATE-RESOURCE-EXHAUSTION", Severity.medium, "range() over a huge constant",
                             f"range with {v}: rendering would loop {v} times", node)

    def _resource(self, node: nodes.BinExpr) -> None:
        if isinstance(node, nodes.Mul):
            left, right = self.fold(node.left), self.fold(node.right)
            for s, k in ((left, right), (right, left)):
                if isinstance(s, str) and _int(k) and len(s) * k > HUGE_REPEAT:
                    self.add("TEMPLATE-RESOURCE-EXHAUSTION", Severity.medium, "String repeated a huge number of times",
                             f"a {len(s)}-character string times {k}: rendering allocates {len(s) * k} characters",
                             node)
        elif isinstance(node, nodes.Pow):
            right = self.fold(node.right)
            if _int(right) and right > 64:
                self.add("TEMPLATE-RESOURCE-EXHAUSTION", Severity.medium, "Exponent of a huge constant",
                         f"** {right}: rendering computes a huge integer", node)


def _num(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _scalar(v) -> bool:
    return isinstance(v, (str, int, float)) and not isinstance(v, bool)


def _bound(s):
    if isinstance(s, str) and len(s) > MAX_FOLD:
        return _UNKNOWN
    return s


# Size of a result, estimated from its inputs before it is built: the folder never builds a string longer
# than MAX_FOLD (widths, precisions, repeated fields and replacements are attacker-chosen).
_PERCENT_SPEC = re.compile(r"%(?:\([^)]*\))?[#0\- +]*(\*|\d+)?(?:\.(\*|\d+))?[hlL]?(.)", re.S)
_NUMBER = re.compile(r"\d+")
_NUMBER_TEXT = 400  # longest text of a folded number (floats are bounded, ints by the ** limit)


def _text_len(v) -> int:
    return len(v) if isinstance(v, str) else _NUMBER_TEXT


def _percent_fits(fmt: str, args: tuple) -> bool:
    widest_arg = max((_text_len(a) for a in args), default=0)
    total = len(fmt)
    for m in _PERCENT_SPEC.finditer(fmt):
        width, precision = m.group(1), m.group(2)
        if "*" in (width, precision):
            return False
        total += max(int(width or 0), int(precision or 0)) + widest_arg
        if total > MAX_FOLD:
            return False
    return True


def _format_fits(fmt: str, args: list, kwargs: dict) -> bool:
    widest_arg = max((_text_len(a) for a in [*args, *kwargs.values()]), default=0)
    total = len(fmt)
    try:
        for _lit, field, spec, _conv in string.Formatter().parse(fmt):
            if field is None:
                continue
            total += max((int(n) for n in _NUMBER.findall(spec or "")), default=0) + widest_arg
            if total > MAX_FOLD:
                return False
    except ValueError:
        return True  # str.format raises on it: nothing is built
    return True


def _replace_fits(base: str, args: list) -> bool:
    old, new = args[0], args[1]
    if not isinstance(old, str) or not isinstance(new, str):
        return False
    count = len(base) + 1 if not old else base.count(old)
    if len(args) > 2 and _int(args[2]) and args[2] >= 0:
        count = min(count, args[2])
    return len(base) + count * max(len(new) - len(old), 0) <= MAX_FOLD


def _join_fits(sep: str, items) -> bool:
    total = len(sep) * max(len(items) - 1, 0)
    for x in items:
        total += _text_len(x)
        if total > MAX_FOLD:
            return False
    return total <= MAX_FOLD


def _plain_format(fmt: str) -> bool:
    """True when every replacement field of a str.format string is empty or a plain index/name."""
    try:
        for _lit, field, spec, _conv in string.Formatter().parse(fmt):
            if field is None:
                continue
            if "." in field or "[" in field or (spec and "{" in spec):
                return False
    except ValueError:
        return True  # not a valid format string at all: str.format would raise
    return True


def check_template(source: str) -> list[TemplateIssue]:
    """Parse (never render) a Jinja2 template and list what it should not be doing."""
    if len(source) > MAX_TEMPLATE_CHARS:
        return [TemplateIssue("TEMPLATE-TOO-LARGE", Severity.medium, "Template too large to analyse",
                              f"{len(source)} characters (limit {MAX_TEMPLATE_CHARS}); real chat templates are a "
                              "few kilobytes", None)]
    try:
        tree = _env().parse(source)
    except jinja2.TemplateSyntaxError as exc:
        lines = source.splitlines()
        ev = lines[exc.lineno - 1].strip()[:160] if exc.lineno and 0 < exc.lineno <= len(lines) else None
        return [TemplateIssue("TEMPLATE-SYNTAX-ERROR", Severity.medium, "Template does not parse",
                              f"{exc.message}: loaders that render it fail or, with a different template engine, "
                              "may read it differently than this check did", exc.lineno, ev)]
    except RecursionError:
        return [TemplateIssue("TEMPLATE-TOO-COMPLEX", Severity.medium, "Template nested too deeply to parse",
                              "the parser's recursion limit was reached", None)]
    walker = _Walker(source)
    try:
        walker.walk(tree)
    except RecursionError:
        walker.add("TEMPLATE-TOO-COMPLEX", Severity.medium, "Template nested too deeply to analyse",
                   "the analysis' recursion limit was reached", None)
    return sorted(walker.issues.values(), key=lambda i: (-i.severity.rank, i.line or 0, i.rule_id))


def report_template(ctx, source: str, where: str, *, analyzer: str = "template") -> list[TemplateIssue]:
    """Analyse one template and add its issues to `ctx`, located at `where` (+ line)."""
    issues = check_template(source)
    for i in issues:
        ctx.add(i.rule_id, i.severity, i.title, i.detail,
                f"{where} line {i.line}" if i.line else where, evidence=i.evidence, analyzer=analyzer,
                remediation="Do not load this model with a renderer that is not sandboxed; review the template",
                references=["https://github.com/abetlen/llama-cpp-python/security/advisories/GHSA-56xg-wfcc-g829"]
                if i.severity.rank >= Severity.high.rank else None)
    return issues
