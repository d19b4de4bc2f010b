"""Text helpers shared by the config and text analyzers: bounded reading, and YAML composed (never
constructed) with PyYAML's SafeLoader, so a `!!python/object/apply:os.system` tag is seen as a tag and
never acted on. Findings carry the analyzer name "config", as they did when this lived in configs.py.
"""
from __future__ import annotations

import io
import re
from typing import BinaryIO

import yaml

from modelscreen.schemas import Severity
from modelscreen.engine.analyzers.targets import target_finding
from modelscreen.engine.context import ScanContext
from modelscreen.engine.sniff import source_encoding

ANALYZER = "config"
MAX_YAML_NODES = 1_000_000
SAFE_YAML_TAGS = frozenset(f"tag:yaml.org,2002:{t}" for t in (
    "str", "int", "float", "bool", "null", "map", "seq", "omap", "pairs", "set", "binary", "timestamp", "merge",
    "value"))
PYTHON_TAG_PREFIXES = ("tag:yaml.org,2002:python/", "!python/", "tag:yaml.org,2002:python:")


def read_text(stream: BinaryIO, ctx: ScanContext, limit: int | None = None, *,
              python_source: bool = False) -> str | None:
    """The file as text (UTF-8; Python source in the encoding its PEP 263 coding line declares)."""
    size = ctx.size if ctx.size is not None else stream.seek(0, io.SEEK_END)
    limit = limit if limit is not None else ctx.limits.max_inline_bytes
    if size > limit:
        ctx.add("CONFIG-NOT-ANALYSED", Severity.info, "Text file too large to analyse",
                f"{size} bytes (limit {limit})", analyzer=ANALYZER)
        return None
    stream.seek(0)
    data = stream.read(size)
    encoding = (source_encoding(data) if python_source else None) or "utf-8"
    return data.decode(encoding, "replace")


# ----------------------------------------------------------------------------------------------- YAML
def analyze_yaml_text(ctx: ScanContext, text: str) -> None:
    try:
        docs = yaml.compose_all(text, Loader=yaml.SafeLoader)
        roots = []
        for i, root in enumerate(docs):
            if i % 64 == 0:
                ctx.check_time()
            if root is not None:
                roots.append(root)
            if len(roots) > 10_000:
                break
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        # A tag the parser saw before failing still counts: scan the events up to the error; tags
        # past the error are found textually (loaders that read documents one by one still reach
        # the documents before a broken one; other YAML parsers recover differently).
        if not _tags_from_events(ctx, text):
            for m in _PY_TAG_TEXT.finditer(text[: 16 << 20]):
                line = text.count("\n", 0, m.start()) + 1
                ctx.add("YAML-PYTHON-TAG", Severity.high, "Python YAML tag in a file that does not parse",
                        f"{m.group(0)[:80]}: yaml.load with an unsafe Loader constructs Python objects from such "
                        "tags; this file is not valid YAML at the point shown, so whether a loader reaches the "
                        "tag depends on the parser", f"line {line}", evidence=m.group(0), analyzer=ANALYZER)
                if len(ctx.findings) > 50:
                    break
        ctx.add("CONFIG-INVALID-YAML", Severity.low, "YAML does not parse",
                str(exc).splitlines()[0][:200] if str(exc) else "parse error",
                f"line {mark.line + 1}" if mark else None, analyzer=ANALYZER)
        return
    except RecursionError:
        ctx.add("CONFIG-INVALID-YAML", Severity.medium, "YAML nested too deeply to parse", analyzer=ANALYZER)
        return
    seen: set[int] = set()
    for root in roots:
        stack = [(root, "")]
        while stack:
            node, path = stack.pop()
            if id(node) in seen:
                continue
            seen.add(id(node))
            if len(seen) > MAX_YAML_NODES:
                ctx.add("CONFIG-NOT-ANALYSED", Severity.medium, "YAML too large to analyse fully",
                        f"more than {MAX_YAML_NODES} nodes", analyzer=ANALYZER)
                return
            _check_tag(ctx, node.tag, node.start_mark.line + 1, path)
            if isinstance(node, yaml.MappingNode):
                for k, v in node.value:
                    key = k.value if isinstance(k, yaml.ScalarNode) else "?"
                    stack.append((k, path))
                    stack.append((v, f"{path}.{key}" if path else str(key)))
                    if key == "_target_" and isinstance(v, yaml.ScalarNode):
                        target_finding(ctx, v.value, f"line {v.start_mark.line + 1}")
            elif isinstance(node, yaml.SequenceNode):
                stack.extend((v, f"{path}[{i}]") for i, v in enumerate(node.value))


def _check_tag(ctx: ScanContext, tag: str | None, line: int, path: str) -> bool:
    """Report a non-standard tag; True when it is a Python tag."""
    if not tag or tag in SAFE_YAML_TAGS or tag == "!":
        return False
    where = f"line {line}" + (f" ({path})" if path else "")
    if tag.startswith(PYTHON_TAG_PREFIXES) or "python/" in tag:
        short = tag.replace("tag:yaml.org,2002:", "!!")
        ctx.add("YAML-PYTHON-TAG", Severity.critical, f"YAML tag {short.split(':', 1)[0]} constructs Python objects",
                f"{short}: yaml.load with an unsafe Loader (yaml.Loader, UnsafeLoader, FullLoader before PyYAML 5.4) "
                "imports modules and calls functions named by this tag", where, evidence=short, analyzer=ANALYZER,
                remediation="Only ever read this file with yaml.safe_load; treat the repository as hostile")
        return True
    ctx.add("YAML-CUSTOM-TAG", Severity.low, f"Non-standard YAML tag {tag[:60]}",
            "loaders with custom constructors act on this tag; safe_load refuses it", where,
            evidence=tag, analyzer=ANALYZER)
    return False


_PY_TAG_TEXT = re.compile(r"!!python/[\w/]+(?::[\w.]+)?|tag:yaml\.org,2002:python/[\w/]+(?::[\w.]+)?")


def _tags_from_events(ctx: ScanContext, text: str) -> bool:
    """Tags of the events before a parse error; True when a Python tag was among them."""
    n = 0
    found = False
    try:
        for ev in yaml.parse(text, Loader=yaml.SafeLoader):
            n += 1
            if n > MAX_YAML_NODES:
                break
            tag = getattr(ev, "tag", None)
            if tag:
                found = _check_tag(ctx, tag, ev.start_mark.line + 1, "") or found
    except yaml.YAMLError:
        pass
    return found
