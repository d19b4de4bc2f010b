"""Find, parse and compile the YARA rule library (rules/yara/<category>/*.yar).

Two engines compile the same sources: YARA-X (`yara_x`, the default) and yara-python (`yara`), selected
with MODELSCREEN_YARA_ENGINE=yara-x|yara-python. Rule files follow a layout the loader relies on to
select rules by scope: every rule starts with `rule NAME` at the start of a line and ends with a line
holding only `}`; outside rules a file holds only comments, blank lines and `import "math"`.
"""
from __future__ import annotations

import hashlib
import importlib
import json
import importlib.util
import os
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from modelscreen.schemas.rules import RuleBundle, RuleMeta, RuleSource

ENGINES = ("yara-x", "yara-python")
DEFAULT_ENGINE = "yara-x"
ALLOWED_IMPORTS = frozenset({"math"})
MAX_MATCHES_PER_PATTERN = 10_000

_RULE_START = re.compile(r"^(?:(?:private|global)[ \t]+)*rule[ \t]+([A-Za-z_]\w*)", re.M)
_RULE_END = re.compile(r"^\}[ \t]*$", re.M)
_IMPORT = re.compile(r'^import[ \t]+"(\w+)"[ \t]*$', re.M)
_COMMENTS = re.compile(r"/\*.*?\*/|//[^\n]*", re.S)
_SECTION = re.compile(r"^[ \t]*(meta|strings|condition)[ \t]*:", re.M)
_META_LINE = re.compile(r'^[ \t]*(\w+)[ \t]*=[ \t]*("(?:[^"\\]|\\.)*"|-?\d+|true|false)[ \t]*(?://.*)?$')


# Where the default ruleset comes from: set by the application from its settings
# (configure_default_ruleset), never read from the environment here.
_source: tuple[Path | None, str | None] = (None, None)


def packaged_rules_dir() -> Path:
    """The library shipped as package data (`modelscreen.rules`)."""
    spec = importlib.util.find_spec("modelscreen.rules")
    if spec is None or not spec.submodule_search_locations:
        return Path("/nonexistent/modelscreen/rules/yara")  # reported as RULES unavailable
    return Path(next(iter(spec.submodule_search_locations))) / "yara"


def default_rules_dir() -> Path:
    """The configured rule directory, else the packaged library."""
    return _source[0] or packaged_rules_dir()


def default_source() -> tuple[Path | None, str | None]:
    """(rules directory, engine name) as configured; hand it to child processes that scan."""
    return _source


class RulesetError(Exception):
    """The rule library could not be parsed, validated or compiled; `problems` lists every reason."""

    def __init__(self, problems: list[str]):
        super().__init__("; ".join(problems[:5]) + (f" (+{len(problems) - 5} more)" if len(problems) > 5 else ""))
        self.problems = problems


class MatchTimeout(Exception):
    """The engine's own timeout stopped a scan."""


@dataclass(frozen=True)
class RuleText:
    """One rule: its identifier, its file (relative to the rules dir), its source text and parsed metadata."""

    name: str
    path: str
    line: int
    text: str
    meta: RuleMeta
    imports: tuple[str, ...] = ()


# --- parsing --------------------------------------------------------------------------------------


def _unescape(lit: str) -> str:
    body = lit[1:-1]
    out: list[str] = []
    i = 0
    while i < len(body):
        c = body[i]
        if c == "\\" and i + 1 < len(body):
            n = body[i + 1]
            if n == "x" and i + 3 < len(body):
                out.append(chr(int(body[i + 2 : i + 4], 16)))
                i += 4
                continue
            out.append({"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\"}.get(n, n))
            i += 2
            continue
        out.append(c)
        i += 1
    return "".join(out)


def parse_meta(rule_text: str) -> tuple[dict[str, object], list[str]]:
    """The raw key/value pairs of a rule's `meta:` section (strings unescaped, ints, bools)."""
    problems: list[str] = []
    sections = list(_SECTION.finditer(rule_text))
    meta: dict[str, object] = {}
    for i, m in enumerate(sections):
        if m.group(1) != "meta":
            continue
        end = sections[i + 1].start() if i + 1 < len(sections) else len(rule_text)
        for raw in rule_text[m.end() : end].splitlines():
            line = raw.strip()
            if not line or line.startswith("//"):
                continue
            lm = _META_LINE.match(raw)
            if not lm:
                problems.append(f"unparsable meta line {line!r}")
                continue
            key, val = lm.group(1), lm.group(2)
            if key in meta:
                problems.append(f"meta key {key!r} given twice")
            if val.startswith('"'):
                meta[key] = _unescape(val)
            elif val in ("true", "false"):
                meta[key] = val == "true"
            else:
                meta[key] = int(val)
    return meta, problems


def split_rules(path: str, text: str) -> tuple[list[tuple[str, int, str]], tuple[str, ...], list[str]]:
    """Split a rule file into (name, line, text) blocks; also return its imports and layout problems."""
    problems: list[str] = []
    blocks: list[tuple[str, int, str]] = []
    outside: list[str] = []
    pos = 0
    for m in _RULE_START.finditer(text):
        if m.start() < pos:
            problems.append(f"{path}: rule {m.group(1)} starts inside the previous rule")
            continue
        outside.append(text[pos : m.start()])
        end = _RULE_END.search(text, m.end())
        if end is None:
            problems.append(f"{path}: rule {m.group(1)} has no closing '}}' on a line of its own")
            pos = len(text)
            break
        line = text.count("\n", 0, m.start()) + 1
        blocks.append((m.group(1), line, text[m.start() : end.end()]))
        pos = end.end()
    outside.append(text[pos:])
    rest = _COMMENTS.sub("", "".join(outside))
    imports = tuple(_IMPORT.findall(rest))
    for imp in imports:
        if imp not in ALLOWED_IMPORTS:
            problems.append(f"{path}: import {imp!r} is not allowed (allowed: {', '.join(sorted(ALLOWED_IMPORTS))})")
    leftover = _IMPORT.sub("", rest).strip()
    if leftover:
        problems.append(f"{path}: text outside rule blocks: {leftover[:60]!r}")
    return blocks, imports, problems


def parse_rules(root: Path) -> tuple[list[RuleText], dict[str, str], list[str]]:
    """Read every .yar/.yara file under root: (rules, {relative path: source}, problems)."""
    problems: list[str] = []
    rules: list[RuleText] = []
    sources: dict[str, str] = {}
    if not root.is_dir():
        return [], {}, [f"rules directory {root} does not exist"]
    files = sorted(p for p in root.rglob("*") if p.suffix in (".yar", ".yara") and p.is_file())
    if not files:
        problems.append(f"no .yar files under {root}")
    for f in files:
        rel = f.relative_to(root).as_posix()
        try:
            text = f.read_text("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            problems.append(f"{rel}: unreadable: {exc}")
            continue
        sources[rel] = text
        blocks, imports, layout = split_rules(rel, text)
        problems.extend(layout)
        category = rel.split("/", 1)[0] if "/" in rel else None
        for name, line, block in blocks:
            raw, meta_problems = parse_meta(block)
            problems.extend(f"{rel}:{line}: {name}: {p}" for p in meta_problems)
            try:
                meta = RuleMeta.from_yara(name, raw)
            except ValidationError as exc:
                errs = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'meta'}: {e['msg']}" for e in exc.errors())
                problems.append(f"{rel}:{line}: {name}: invalid metadata: {errs}")
                continue
            if category and meta.category != category:
                problems.append(f"{rel}:{line}: {name}: category {meta.category!r} differs from its directory {category!r}")
            rules.append(RuleText(name=name, path=rel, line=line, text=block, meta=meta, imports=imports))
    seen_names: dict[str, str] = {}
    seen_ids: dict[str, str] = {}
    for r in rules:
        if r.name in seen_names:
            problems.append(f"duplicate rule name {r.name} ({seen_names[r.name]} and {r.path})")
        seen_names.setdefault(r.name, r.path)
        if r.meta.id in seen_ids:
            problems.append(f"duplicate rule id {r.meta.id} ({seen_ids[r.meta.id]} and {r.name})")
        seen_ids.setdefault(r.meta.id, r.name)
    return rules, sources, problems


def ruleset_version(rules: Iterable[RuleText], sources: dict[str, str]) -> str:
    """sha256 (16 hex chars) of the sorted rule sources and the rules' metadata."""
    doc = {
        "sources": sorted([p, t] for p, t in sources.items()),
        "rules": sorted((r.meta.model_dump(mode="json") for r in rules), key=lambda m: m["id"]),
    }
    blob = json.dumps(doc, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def assemble(rules: Iterable[RuleText]) -> str:
    rules = list(rules)
    imports = sorted({i for r in rules for i in r.imports})
    head = "".join(f'import "{i}"\n' for i in imports)
    return head + "\n\n".join(r.text for r in rules) + "\n"


# --- engines --------------------------------------------------------------------------------------


class YaraXEngine:
    name = "yara-x"

    def __init__(self) -> None:
        importlib.import_module("yara_x")  # fail early when missing

    def compile(self, source: str, origin: str = "rules") -> tuple[object, list[str]]:
        import yara_x

        compiler = yara_x.Compiler()
        try:
            compiler.add_source(source, origin=origin)
        except yara_x.CompileError as exc:
            raise RulesetError([f"yara-x: {exc}"]) from exc
        warnings = [str(w.get("text") or w.get("title") or w) for w in compiler.warnings()]
        return compiler.build(), warnings

    def scan(self, compiled: object, data: bytes, timeout: int) -> list[tuple[str, list[tuple[int, int]]]]:
        import yara_x

        scanner = yara_x.Scanner(compiled)
        scanner.set_timeout(max(1, int(timeout)))
        scanner.max_matches_per_pattern(MAX_MATCHES_PER_PATTERN)
        try:
            results = scanner.scan(data)
        except yara_x.TimeoutError as exc:
            raise MatchTimeout(str(exc)) from exc
        out = []
        for rule in results.matching_rules:
            spans = [(m.offset, m.length) for p in rule.patterns for m in p.matches]
            out.append((rule.identifier, spans))
        return out


class YaraPythonEngine:
    name = "yara-python"

    def __init__(self) -> None:
        importlib.import_module("yara")  # fail early when missing

    def compile(self, source: str, origin: str = "rules") -> tuple[object, list[str]]:
        import yara

        try:
            compiled = yara.compile(source=source, error_on_warning=False)
        except yara.SyntaxError as exc:
            raise RulesetError([f"yara-python: {exc}"]) from exc
        return compiled, [str(w) for w in getattr(compiled, "warnings", [])]

    def scan(self, compiled: object, data: bytes, timeout: int) -> list[tuple[str, list[tuple[int, int]]]]:
        import yara

        try:
            matches = compiled.match(data=bytes(data), timeout=max(1, int(timeout)))  # type: ignore[attr-defined]
        except yara.TimeoutError as exc:
            raise MatchTimeout(str(exc)) from exc
        out = []
        for m in matches:
            spans = [(i.offset, i.matched_length) for s in m.strings for i in s.instances]
            out.append((m.rule, spans))
        return out


def make_engine(name: str | None = None) -> YaraXEngine | YaraPythonEngine:
    name = (name or _source[1] or DEFAULT_ENGINE).strip().lower()
    if name in ("yara-x", "yara_x", "yarax"):
        return YaraXEngine()
    if name in ("yara-python", "yara_python", "yara", "libyara"):
        return YaraPythonEngine()
    raise RulesetError([f"unknown YARA engine {name!r} (choose from {', '.join(ENGINES)})"])


# --- the compiled ruleset -------------------------------------------------------------------------


@dataclass
class Ruleset:
    rules: list[RuleText]
    sources: dict[str, str]
    engine: YaraXEngine | YaraPythonEngine
    root: Path | None = None
    version: str = ""
    warnings: list[str] = field(default_factory=list)
    _compiled: dict[frozenset[str] | None, object] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        self.version = self.version or ruleset_version(self.rules, self.sources)
        self.meta = {r.name: r.meta for r in self.rules}

    @property
    def engine_name(self) -> str:
        return self.engine.name

    def select(self, scopes: Iterable[str] | None = None) -> list[RuleText]:
        if scopes is None:
            return list(self.rules)
        wanted = set(scopes)
        return [r for r in self.rules if wanted.intersection(r.meta.scope)]

    def compiled(self, scopes: Iterable[str] | None = None) -> object | None:
        """Compiled rules whose scope meets `scopes` (all rules when None); None when no rule is selected."""
        key = None if scopes is None else frozenset(scopes)
        with self._lock:
            if key in self._compiled:
                return self._compiled[key]
            selected = self.select(key)
            compiled = None
            if selected:
                compiled, warnings = self.engine.compile(assemble(selected))
                if key is None:
                    self.warnings = warnings
            self._compiled[key] = compiled
            return compiled

    def bundle(self) -> RuleBundle:
        return RuleBundle(
            version=self.version,
            rules=sorted((r.meta for r in self.rules), key=lambda m: m.id),
            sources=[RuleSource(path=p, sha256=hashlib.sha256(t.encode()).hexdigest(), text=t)
                     for p, t in sorted(self.sources.items())],
        )


def load_ruleset(root: str | os.PathLike | None = None, engine: str | None = None) -> Ruleset:
    """Parse, validate and compile the library under `root` (default: the configured or packaged library)."""
    path = Path(root) if root is not None else default_rules_dir()
    rules, sources, problems = parse_rules(path)
    if problems:
        raise RulesetError(problems)
    try:
        eng = make_engine(engine)
    except ImportError as exc:
        raise RulesetError([f"YARA engine not importable: {exc}"]) from exc
    rs = Ruleset(rules=rules, sources=sources, engine=eng, root=path)
    rs.compiled(None)  # compile everything now: errors surface at load time
    return rs


def ruleset_from_bundle(bundle: RuleBundle, engine: str | None = None) -> Ruleset:
    """Rebuild a ruleset from a bundle; refuses a bundle whose version does not match its content."""
    rules: list[RuleText] = []
    problems: list[str] = []
    sources = {s.path: s.text for s in bundle.sources}
    for p, text in sorted(sources.items()):
        blocks, imports, layout = split_rules(p, text)
        problems.extend(layout)
        for name, line, block in blocks:
            raw, mp = parse_meta(block)
            problems.extend(mp)
            try:
                rules.append(RuleText(name, p, line, block, RuleMeta.from_yara(name, raw), imports))
            except ValidationError as exc:
                problems.append(f"{p}:{line}: {name}: invalid metadata: {exc.error_count()} errors")
    if problems:
        raise RulesetError(problems)
    version = ruleset_version(rules, sources)
    if version != bundle.version:
        raise RulesetError([f"bundle version {bundle.version} does not match its content ({version})"])
    rs = Ruleset(rules=rules, sources=sources, engine=make_engine(engine))
    rs.compiled(None)
    return rs


# --- the process-wide default -------------------------------------------------------------------

_default_lock = threading.Lock()
_default: tuple[Ruleset | None, str | None] | None = None
_swapped: Ruleset | None = None  # a published bundle swapped in over the configured library


def default_ruleset() -> tuple[Ruleset | None, str | None]:
    """(ruleset, None) or (None, reason): loaded once, lazily, from the configured directory and engine."""
    global _default
    if _default is None:
        with _default_lock:
            if _default is None:
                try:
                    _default = (load_ruleset(), None)
                except RulesetError as exc:
                    _default = (None, str(exc))
                except Exception as exc:  # an engine crash must not take the scanner down
                    _default = (None, f"{type(exc).__name__}: {exc}")
    return _default


def configure_default_ruleset(rules_dir: str | os.PathLike | None = None, engine: str | None = None) -> None:
    """Choose the directory and engine of the default ruleset (None: packaged library, YARA-X); reloads lazily."""
    global _default, _source, _swapped
    with _default_lock:
        _source = (Path(rules_dir) if rules_dir else None, engine or None)
        _default = _swapped = None


def reset_default_ruleset() -> None:
    """Forget the loaded default; the next scan loads it again from the configured source."""
    global _default, _swapped
    with _default_lock:
        _default = _swapped = None


def set_default_ruleset(ruleset: Ruleset) -> None:
    """Swap the ruleset every later scan uses (a validated bundle published to running workers)."""
    global _default, _swapped
    with _default_lock:
        _default = (ruleset, None)
        _swapped = ruleset


def swapped_ruleset() -> Ruleset | None:
    """The ruleset swapped in by `set_default_ruleset`, if any: child processes that scan must use it too."""
    return _swapped
