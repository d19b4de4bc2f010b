"""The layer rules of the architecture, checked on the source: who may import whom, and no import cycles.

Imports are read with `ast` (nothing is imported), at any depth of a module (function-level imports count);
imports under `if TYPE_CHECKING:` are for annotations only and are left out.
"""
from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
ROOTS = {"modelscreen": REPO / "workers", "modelscreen.schemas": REPO / "schemas", "modelscreen.rules": REPO / "rules"}
CLI = ("modelscreen.cli", "modelscreen.commands", "modelscreen.rules_cli", "modelscreen.__main__")
# What the engine must never reach: transports, stores, the sandbox, the CLI.
ENGINE_FORBIDDEN_THIRD_PARTY = ("kafka", "aiokafka", "faust", "elasticsearch", "aiohttp", "boto3", "botocore",
                                "requests", "urllib3", "httpx", "urllib.request", "http.client", "socket")


def _within(name: str, prefixes: tuple[str, ...] | str) -> bool:
    prefixes = (prefixes,) if isinstance(prefixes, str) else prefixes
    return any(name == p or name.startswith(p + ".") for p in prefixes)


@cache
def modules() -> dict[str, Path]:
    found = {}
    for pkg, folder in ROOTS.items():
        for path in folder.rglob("*.py"):
            rel = path.relative_to(folder).with_suffix("").parts
            if "__pycache__" in rel or (pkg == "modelscreen" and rel[0] in ("schemas", "rules")):
                continue
            if not (path.parent / "__init__.py").exists():
                continue  # scripts beside the packages
            found[".".join((pkg, *(p for p in rel if p != "__init__")))] = path
    return found


def _is_submodule(package: str, name: str) -> bool:
    if f"{package}.{name}" in modules():
        return True
    folder = modules().get(package)
    return folder is not None and folder.name == "__init__.py" and any(folder.parent.glob(f"{name}.*"))


def _type_checking(node: ast.If) -> bool:
    return "TYPE_CHECKING" in ast.unparse(node.test)


def _imports(tree: ast.AST):
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and _type_checking(node):
            yield from (n for branch in node.orelse for n in _imports_of(branch))
            continue
        yield from _imports_of(node)


def _imports_of(node: ast.AST):
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        yield node
    else:
        yield from _imports(node)


@cache
def imports_of(module: str) -> frozenset[str]:
    """Every module `module` imports: ours by full name, others by their dotted name."""
    path = modules()[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    out = set()
    for node in _imports(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
            continue
        base = node.module or ""
        if node.level:
            parts = package.split(".")
            base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
        for alias in node.names:
            # `from pkg import sub` depends on the submodule, not on everything pkg/__init__ imports
            out.add(f"{base}.{alias.name}" if _is_submodule(base, alias.name) else base)
    return frozenset(out)


def ours(name: str) -> str | None:
    """The module of ours that `name` refers to (a name inside it resolves to the module), or None."""
    while name:
        if name in modules():
            return name
        parent, _, tail = name.rpartition(".")
        if parent in modules() and _is_submodule(parent, tail):
            return None  # a compiled extension module: no imports to follow
        name = parent
    return None


def graph() -> dict[str, set[str]]:
    return {m: {o for n in imports_of(m) if (o := ours(n)) and o != m} for m in modules()}


def violations(rule) -> list[str]:
    return sorted(f"{m} imports {n}" for m in modules() for n in imports_of(m) if rule(m, n))


def test_the_graph_sees_the_packages():
    assert {"modelscreen.engine.scanner", "modelscreen.schemas", "modelscreen.cli", "modelscreen.agents.scan"} \
        <= set(modules())
    assert "modelscreen.engine.context" in graph()["modelscreen.engine.scanner"]


def test_engine_imports_only_schemas():
    def bad(m: str, n: str) -> bool:
        if not _within(m, "modelscreen.engine"):
            return False
        if _within(n, ENGINE_FORBIDDEN_THIRD_PARTY):
            return True
        mine = ours(n)
        # the package root is only the version string
        return mine is not None and mine != "modelscreen" and not _within(mine, ("modelscreen.engine",
                                                                                "modelscreen.schemas"))
    assert violations(bad) == []


def test_schemas_import_nothing_of_workers():
    def bad(m: str, n: str) -> bool:
        return _within(m, "modelscreen.schemas") and ours(n) is not None and not _within(ours(n), "modelscreen.schemas")
    assert violations(bad) == []


def test_no_library_module_imports_the_cli():
    def bad(m: str, n: str) -> bool:
        return not _within(m, CLI) and ours(n) is not None and _within(ours(n), CLI)
    assert violations(bad) == []


def test_sinks_never_import_agents():
    def bad(m: str, n: str) -> bool:
        return _within(m, "modelscreen.sinks") and ours(n) is not None and _within(ours(n), "modelscreen.agents")
    assert violations(bad) == []


def cycles(g: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []
    for root in sorted(g):
        if root in index:
            continue
        work = [(root, iter(sorted(g[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(g[child]))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    comp = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        comp.append(member)
                        if member == node:
                            break
                    if len(comp) > 1:
                        found.append(sorted(comp))
    return found


def test_cycle_finder_finds_cycles():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles():
    assert cycles(graph()) == []


@pytest.mark.parametrize("module", ["modelscreen.engine.analyzers.configs", "modelscreen.sources.cloudevents",
                                    "modelscreen.rule_bundles"])
def test_the_circles_once_broken_stay_broken(module):
    assert module in graph()  # named in the issue; test_no_import_cycles covers them


def test_no_package_hides_a_submodule_behind_another_object():
    """`import pkg.sub as m` must give the module: pkg/__init__ never binds the name `sub` to something else."""
    hidden = []
    for name, path in modules().items():
        if path.name != "__init__.py":
            continue
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if not isinstance(node, ast.ImportFrom) or node.level:
                continue
            for alias in node.names:
                bound = alias.asname or alias.name
                if _is_submodule(name, bound) and not (node.module == name and alias.name == bound):
                    hidden.append(f"{name}: {bound} = {node.module}.{alias.name}")
    assert hidden == []
