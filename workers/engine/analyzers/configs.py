"""Model-repository configuration files: JSON (config.json, tokenizer_config.json, chat_template.json,
model_index.json, a .keras archive's config.json); YAML is read in `_text.py` (registered by text_code.py).

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
- `_target_` (Hydra/OmegaConf instantiation, NeMo configs) judged like a pickle global (targets.py): high.
- diffusers model_index.json components from libraries other than diffusers/transformers: medium.
"""
from __future__ import annotations

import json
from typing import BinaryIO

from modelscreen.schemas import Severity
from modelscreen.schemas.formats import Format
from modelscreen.engine.analyzers._text import read_text
from modelscreen.engine.analyzers.registry import register
from modelscreen.engine.analyzers.keras_format import analyze_keras_object, is_keras_config
from modelscreen.engine.analyzers.targets import targets_in_object
from modelscreen.engine.context import ScanContext
from modelscreen.engine.templates import report_template

ANALYZER = "config"
MAX_WALK = 500_000
DIFFUSERS_LIBRARIES = frozenset({"diffusers", "transformers", "onnxruntime.training", "torch", "peft",
                                 "diffusers.pipelines", "sentence_transformers", "open_clip", "timm"})
REMOTE_CODE_KEYS = ("auto_map",)


@register(Format.json)
def analyze_json(stream: BinaryIO, ctx: ScanContext) -> None:
    text = read_text(stream, ctx)
    if text is None:
        return
    try:
        obj = json.loads(text)
    except (ValueError, RecursionError) as exc:
        ctx.add("CONFIG-INVALID-JSON", Severity.low, "JSON file does not parse", str(exc)[:200], analyzer=ANALYZER)
        return
    analyze_config_object(ctx, obj)


def analyze_config_object(ctx: ScanContext, obj) -> None:
    if is_keras_config(obj):
        ctx.notes["format"] = Format.keras_config
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
                        f"({_module_file(impl)})", f"custom_pipelines.{task}", evidence=impl, analyzer=ANALYZER)
    tmpl = obj.get("chat_template")
    if isinstance(tmpl, str):
        report_template(ctx, tmpl, "chat_template", analyzer=ANALYZER)
    elif isinstance(tmpl, list):
        for i, item in enumerate(tmpl[:64]):
            if isinstance(item, dict) and isinstance(item.get("template"), str):
                name = item.get("name") if isinstance(item.get("name"), str) else str(i)
                report_template(ctx, item["template"], f"chat_template[{name}]", analyzer=ANALYZER)
    if "_class_name" in obj and "_diffusers_version" in obj:
        for comp, spec in list(obj.items())[:200]:
            if isinstance(spec, list) and len(spec) == 2 and isinstance(spec[0], str) \
                    and spec[0].split(".", 1)[0] not in DIFFUSERS_LIBRARIES:
                ctx.add("DIFFUSERS-CUSTOM-COMPONENT", Severity.medium, f"Component {comp!r} comes from {spec[0]!r}",
                        f"DiffusionPipeline.from_pretrained imports {spec[0]}.{spec[1]}: a module outside diffusers "
                        "and transformers (custom code in the repository, or any installed package)", comp,
                        evidence=json.dumps(spec)[:160], analyzer=ANALYZER)
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
            f"{key}.{first}", evidence=json.dumps(value)[:160], analyzer=ANALYZER,
            remediation="Review the referenced Python files before using trust_remote_code=True")


def _targets(ctx: ScanContext, obj) -> None:
    """Hydra/OmegaConf `_target_` values, judged like pickle globals (targets.py)."""
    targets_in_object(ctx, obj)
