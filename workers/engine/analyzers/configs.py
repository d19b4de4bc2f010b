"""Model-repository configuration files: JSON (config.json, tokenizer_config.json, chat_template.json,
model_index.json, a .keras archive's config.json) and YAML.

JSON is parsed as data. YAML is only *composed* with PyYAML's SafeLoader (scanner, parser and
composer build a node graph; no constructor runs, aliases are never expanded), so a
`!!python/object/apply:os.system` tag is seen as a tag and never acted on.

- YAML tags that make unsafe loaders (`yaml.load`, `yaml.unsafe_load`, `Loader=yaml.Loader`) import
  modules and call functions (`!!python/object`, `/object/apply`, `/object/new`, `/name`, `/module`): critical;
  other non-standard tags: low.
- `auto_map` (transformers remote code): loading with trust_remote_code=True runs the referenced
  Python files: medium; `custom_pipelines` likewise.
- `chat_template` (string, or a list of {name, template}): Jinja syntax-tree analysis (templates.py).
- a Keras model config (a `.keras` archive's config.json): keras_format.analyze_keras_object.
- `_target_` (Hydra/OmegaConf instantiation, NeMo configs) judged like a pickle global (alias table and sink
  map): dangerous targets are high; also inside JSON/YAML strings (safetensors __metadata__, GGUF metadata).
- diffusers model_index.json components from libraries other than diffusers/transformers: medium.
"""
from __future__ import annotations

import io
import json
import re
from typing import BinaryIO

import yaml

from modelscreen.schemas import Severity
from modelscreen.engine.analyzers import register
from modelscreen.engine.analyzers.keras_format import DANGEROUS_MODULES, analyze_keras_object, is_keras_config
from modelscreen.engine.context import ScanContext
from modelscreen.engine.pickle.callables import DANGEROUS, classify_path
from modelscreen.engine.templates import report_template

A = "config"
MAX_YAML_NODES = 1_000_000
MAX_WALK = 500_000
SAFE_YAML_TAGS = frozenset(f"tag:yaml.org,2002:{t}" for t in (
    "str", "int", "float", "bool", "null", "map", "seq", "omap", "pairs", "set", "binary", "timestamp", "merge",
    "value"))
PYTHON_TAG_PREFIXES = ("tag:yaml.org,2002:python/", "!python/", "tag:yaml.org,2002:python:")
DIFFUSERS_LIBRARIES = frozenset({"diffusers", "transformers", "onnxruntime.training", "torch", "peft",
                                 "diffusers.pipelines", "sentence_transformers", "open_clip", "timm"})
REMOTE_CODE_KEYS = ("auto_map",)


def read_text(stream: BinaryIO, ctx: ScanContext, limit: int | None = None) -> str | None:
    size = ctx.size if ctx.size is not None else stream.seek(0, io.SEEK_END)
    limit = limit if limit is not None else ctx.limits.max_inline_bytes
    if size > limit:
        ctx.add("CONFIG-NOT-ANALYSED", Severity.info, "Text file too large to analyse",
                f"{size} bytes (limit {limit})", analyzer=A)
        return None
    stream.seek(0)
    return stream.read(size).decode("utf-8", "replace")


@register("json")
def analyze_json(stream: BinaryIO, ctx: ScanContext) -> None:
    text = read_text(stream, ctx)
    if text is None:
        return
    try:
        obj = json.loads(text)
    except (ValueError, RecursionError) as exc:
        ctx.add("CONFIG-INVALID-JSON", Severity.low, "JSON file does not parse", str(exc)[:200], analyzer=A)
        return
    analyze_config_object(ctx, obj)


def analyze_config_object(ctx: ScanContext, obj) -> None:
    if is_keras_config(obj):
        ctx.notes["format"] = "keras-config"
        analyze_keras_object(ctx, obj)
        return
    if not isinstance(obj, dict):
        return
    for key in REMOTE_CODE_KEYS:
        if key in obj:
            _auto_map(ctx, obj[key], key)
    pipes = obj.get("custom_pipelines")
    if isinstance(pipes, dict):
        for task, spec in list(pipes.items())[:100]:
            impl = spec.get("impl") if isinstance(spec, dict) else None
            if isinstance(impl, str):
                ctx.add("TRANSFORMERS-REMOTE-CODE", Severity.medium, f"Custom pipeline {task!r} is Python code",
                        f"pipeline({task!r}, trust_remote_code=True) imports and runs {impl!r} "
                        f"({_module_file(impl)})", f"custom_pipelines.{task}", evidence=impl, analyzer=A)
    tmpl = obj.get("chat_template")
    if isinstance(tmpl, str):
        report_template(ctx, tmpl, "chat_template", analyzer=A)
    elif isinstance(tmpl, list):
        for i, item in enumerate(tmpl[:64]):
            if isinstance(item, dict) and isinstance(item.get("template"), str):
                name = item.get("name") if isinstance(item.get("name"), str) else str(i)
                report_template(ctx, item["template"], f"chat_template[{name}]", analyzer=A)
    if "_class_name" in obj and "_diffusers_version" in obj:
        for comp, spec in list(obj.items())[:200]:
            if isinstance(spec, list) and len(spec) == 2 and isinstance(spec[0], str) \
                    and spec[0].split(".", 1)[0] not in DIFFUSERS_LIBRARIES:
                ctx.add("DIFFUSERS-CUSTOM-COMPONENT", Severity.medium, f"Component {comp!r} comes from {spec[0]!r}",
                        f"DiffusionPipeline.from_pretrained imports {spec[0]}.{spec[1]}: a module outside diffusers "
                        "and transformers (custom code in the repository, or any installed package)", comp,
                        evidence=json.dumps(spec)[:160], analyzer=A)
    _targets(ctx, obj)


def _module_file(ref: str) -> str:
    repo, sep, rest = ref.partition("--")
    mod = rest if sep else ref
    file = mod.rsplit(".", 1)[0].replace(".", "/") + ".py"
    return f"file {file} of repository {repo}" if sep else f"file {file}"


def _auto_map(ctx: ScanContext, value, key: str) -> None:
    if not isinstance(value, dict):
        return
    refs: dict[str, list[str]] = {}
    for auto_cls, target in list(value.items())[:100]:
        targets = target if isinstance(target, list) else [target]
        for t in targets:
            if isinstance(t, str):
                refs.setdefault(str(auto_cls), []).append(t)
    if not refs:
        return
    files = sorted({_module_file(t) for ts in refs.values() for t in ts})
    external = sorted({t.split("--", 1)[0] for ts in refs.values() for t in ts if "--" in t})
    first = next(iter(refs))
    ctx.add("TRANSFORMERS-REMOTE-CODE", Severity.medium, "Model ships custom code (auto_map)",
            "loading with trust_remote_code=True imports and runs " + "; ".join(files[:10])
            + (f" — code from other repositories: {', '.join(external[:5])}" if external else "")
            + f" ({', '.join(f'{k} -> {v[0]}' for k, v in list(refs.items())[:6])})",
            f"{key}.{first}", evidence=json.dumps(value)[:160], analyzer=A,
            remediation="Review the referenced Python files before using trust_remote_code=True")


def dangerous_target(target: str) -> str | None:
    """Why a Hydra/OmegaConf `_target_` is dangerous, judged like a pickle global (aliases, sink map), or None.

    hydra's locate imports the longest importable prefix and walks the rest by attribute, so every split
    of the dotted name into module + attributes is judged."""
    t = target.strip()
    parts = t.split(".")
    if not t or not all(parts):
        return None
    if len(parts) == 1:
        c = classify_path("builtins", t)
        return c.reason if c.level == DANGEROUS else None
    for k in range(len(parts) - 1, 0, -1):
        c = classify_path(".".join(parts[:k]), ".".join(parts[k:]))
        if c.level == DANGEROUS:
            return c.reason
    return None


def targets_in_text(ctx: ScanContext, text: str, where: str) -> None:
    """`_target_` values in JSON or YAML carried as a string (safetensors __metadata__, GGUF metadata)."""
    if "_target_" not in text:
        return
    try:
        obj = json.loads(text)
    except (ValueError, RecursionError):
        obj = None
    if obj is not None:
        _targets(ctx, obj, where)
        return
    try:
        roots = list(yaml.compose_all(text[: 4 << 20], Loader=yaml.SafeLoader))
    except (yaml.YAMLError, RecursionError):
        return
    stack = [r for r in roots if r is not None]
    seen = 0
    while stack and seen < MAX_WALK:
        node = stack.pop()
        seen += 1
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                if isinstance(k, yaml.ScalarNode) and k.value == "_target_" and isinstance(v, yaml.ScalarNode):
                    _target_finding(ctx, v.value, f"{where}: line {v.start_mark.line + 1}")
                stack.append(v)
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)


def _target_finding(ctx: ScanContext, t: str, where: str) -> None:
    why = dangerous_target(t)
    if why is None and t.split(".", 1)[0] in DANGEROUS_MODULES | {"eval", "exec"}:
        why = "a module that runs commands or code"
    if why is not None:
        ctx.add("CONFIG-DANGEROUS-TARGET", Severity.high, f"Config instantiates {t}",
                f"hydra.utils.instantiate (NeMo, Hydra, Lightning configs) calls {t!r} ({why}) with the sibling "
                "keys as arguments when the config is instantiated", where, evidence=t, analyzer=A)


def _targets(ctx: ScanContext, obj, where: str = "") -> None:
    """Hydra/OmegaConf `_target_` values that instantiate dangerous callables."""
    stack = [(obj, "")]
    seen = 0
    while stack and seen < MAX_WALK:
        o, path = stack.pop()
        seen += 1
        if isinstance(o, dict):
            t = o.get("_target_")
            if isinstance(t, str):
                loc = path or "_target_"
                _target_finding(ctx, t, f"{where}: {loc}" if where else loc)
            stack.extend((v, f"{path}.{k}" if path else str(k)) for k, v in o.items() if isinstance(v, (dict, list)))
        elif isinstance(o, list):
            stack.extend((v, f"{path}[{i}]") for i, v in enumerate(o) if isinstance(v, (dict, list)))


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
                        "tag depends on the parser", f"line {line}", evidence=m.group(0), analyzer=A)
                if len(ctx.findings) > 50:
                    break
        ctx.add("CONFIG-INVALID-YAML", Severity.low, "YAML does not parse",
                str(exc).splitlines()[0][:200] if str(exc) else "parse error",
                f"line {mark.line + 1}" if mark else None, analyzer=A)
        return
    except RecursionError:
        ctx.add("CONFIG-INVALID-YAML", Severity.medium, "YAML nested too deeply to parse", analyzer=A)
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
                        f"more than {MAX_YAML_NODES} nodes", analyzer=A)
                return
            _check_tag(ctx, node.tag, node.start_mark.line + 1, path)
            if isinstance(node, yaml.MappingNode):
                for k, v in node.value:
                    key = k.value if isinstance(k, yaml.ScalarNode) else "?"
                    stack.append((k, path))
                    stack.append((v, f"{path}.{key}" if path else str(key)))
                    if key == "_target_" and isinstance(v, yaml.ScalarNode):
                        _target_finding(ctx, v.value, f"line {v.start_mark.line + 1}")
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
                "imports modules and calls functions named by this tag", where, evidence=short, analyzer=A,
                remediation="Only ever read this file with yaml.safe_load; treat the repository as hostile")
        return True
    ctx.add("YAML-CUSTOM-TAG", Severity.low, f"Non-standard YAML tag {tag[:60]}",
            "loaders with custom constructors act on this tag; safe_load refuses it", where,
            evidence=tag, analyzer=A)
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


@register("yaml")
def analyze_yaml(stream: BinaryIO, ctx: ScanContext) -> None:
    from modelscreen.engine.analyzers.text_code import analyze_text

    analyze_text(stream, ctx, sniffed="yaml")
