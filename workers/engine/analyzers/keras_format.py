"""Keras model configurations: `.keras` v3 archives (their `config.json` member, recognised by its shape
in workers/engine/analyzers/configs.py), legacy HDF5 `.h5` files (the root `model_config` and
`training_config` attributes) and Keras 2 SavedModel `keras_metadata.pb` (tf_savedmodel.py).

Nothing is deserialized: the JSON is walked as data.

- Lambda layers: Python bytecode serialized in the config (Keras 2 `function_type: lambda`,
  Keras 3 `{"class_name": "__lambda__"}`) runs when the model loads unsafely: critical; a Lambda
  naming a function by module: high.
- `module`/`class_name` pairs outside Keras' own packages (the injection class of CVE-2025-1550):
  high, critical for modules that run commands (os, subprocess, builtins, ...).
- Keras functions that undo the safe mode or touch files/the network (`keras.config.enable_unsafe_deserialization`,
  `keras.utils.get_file`, `keras.models.load_model`, `keras.saving.*`) and `TFSMLayer` (loads another
  SavedModel): critical / high.
- custom objects (`registered_name` "package>Name" outside Keras): medium — they need code the
  archive does not contain.
- `TFOpLambda` layers calling file or Python TensorFlow ops (`io.write_file`, `py_function`): high.
"""
from __future__ import annotations

import base64
import binascii
import io
import json
import re
from typing import BinaryIO

from modelscreen.schemas import Severity
from modelscreen.schemas.formats import Format
from modelscreen.engine.analyzers.registry import register
from modelscreen.engine.substream import SubStream
from modelscreen.engine.context import ScanContext
from modelscreen.engine.pickle.callables import DANGEROUS, classify_path

ANALYZER = "keras"
MAX_OBJECTS = 200_000
MAX_DEPTH = 200
MAX_ATTR_BYTES = 64 << 20
KERAS_PACKAGES = frozenset({"keras", "keras_hub", "keras_nlp", "keras_cv", "keras_rs", "tf_keras", "keras_tuner"})
DANGEROUS_MODULES = frozenset({
    "os", "posix", "nt", "subprocess", "builtins", "__builtin__", "sys", "shutil", "socket", "importlib", "pty",
    "runpy", "code", "codeop", "pickle", "marshal", "ctypes", "webbrowser", "requests", "urllib", "urllib2",
    "http", "httplib", "ftplib", "telnetlib", "commands", "platform", "signal", "multiprocessing", "asyncio",
    "tempfile", "pathlib", "io", "functools", "operator", "timeit", "pdb", "bdb", "types", "inspect",
})
UNSAFE_KERAS_FUNCTIONS = {
    "enable_unsafe_deserialization": Severity.critical,
    "get_file": Severity.critical,
    "load_model": Severity.critical,
    "load_weights": Severity.high,
    "deserialize_keras_object": Severity.high,
    "load_img": Severity.high,
    "TFSMLayer": Severity.high,
}
TFOP_DANGEROUS = re.compile(r"^(io\.|compat\.v1\.(io\.|py_func|gfile)|py_function|numpy_function|py_func|"
                            r"debugging\.experimental|summary\.|raw_ops\.(ReadFile|WriteFile|PyFunc|EagerPyFunc)|"
                            r"saved_model\.|keras\.)")
_B64 = re.compile(r"^[A-Za-z0-9+/=\s]{16,}$")
_SUSPICIOUS_NAMES = (b"system", b"popen", b"subprocess", b"exec", b"eval", b"__import__", b"socket",
                     b"open", b"getattr", b"builtins", b"compile", b"urlopen", b"os")


def _registered_custom(d: dict, module: str) -> bool:
    """Keras 3 writes `registered_name` "Package>Name" for objects registered with
    register_keras_serializable; the module is then the user's own package."""
    rn = d.get("registered_name")
    return isinstance(rn, str) and ">" in rn and rn.split(">", 1)[0] not in KERAS_PACKAGES \
        and module.split(".", 1)[0] not in DANGEROUS_MODULES


def _dangerous_target(module: str, name: str) -> bool:
    """The module/function named is dangerous by the pickle analyzer's tables (aliases and sink map)."""
    return classify_path(module, name).level == DANGEROUS or classify_path(module, "").level == DANGEROUS


def is_keras_config(obj) -> bool:
    """The shape of a Keras model config (config.json of a .keras archive, a legacy model_config)."""
    if not isinstance(obj, dict) or "class_name" not in obj or "config" not in obj:
        return False
    if isinstance(obj.get("module"), str) or "registered_name" in obj or "build_config" in obj \
            or "compile_config" in obj:
        return True
    cfg = obj.get("config")
    return isinstance(cfg, dict) and ("layers" in cfg or "input_layers" in cfg or "layer" in cfg)


def _bytecode_hint(b64: str) -> str:
    try:
        raw = base64.b64decode(b64[: 1 << 20], validate=False)
    except (binascii.Error, ValueError):
        return ""
    names = sorted({n.decode() for n in _SUSPICIOUS_NAMES if re.search(rb"(?<![A-Za-z_])" + n + rb"(?![A-Za-z_])", raw)})
    return f"; names in the code object: {', '.join(names)}" if names else ""


def _lambda_code(value) -> str | None:
    """The base64 marshal string of a serialized lambda, in any of the Keras 2/3 layouts."""
    if isinstance(value, str) and _B64.match(value) and len(value) >= 16:
        return value
    if isinstance(value, (list, tuple)) and value and isinstance(value[0], str) and _B64.match(value[0]):
        return value[0]
    if isinstance(value, dict):
        if value.get("class_name") == "__lambda__":
            cfg = value.get("config")
            if isinstance(cfg, dict):
                for key in ("value", "code", "function"):
                    code = _lambda_code(cfg.get(key))
                    if code:
                        return code
            return ""
    return None


MIN_ENCODED = 24
MAX_DECODED_BYTES = 64 << 20
_B64_TEXT = re.compile(r"[A-Za-z0-9+/_-]{16,}={0,2}\Z")
_HEX_TEXT = re.compile(r"(?:[0-9a-fA-F]{2}){12,}\Z")
_PAYLOAD_MAGIC = (b"\x80\x02", b"\x80\x03", b"\x80\x04", b"\x80\x05", b"PK\x03\x04", b"\x1f\x8b", b"BZh",
                  b"\xfd7zXZ", b"7z\xbc\xaf", b"\x93NUMPY", b"(dp", b"(lp", b"cos\n", b"cposix", b"cbuiltins",
                  b"c__builtin__", b"csubprocess")
_PAYLOAD_MAGIC_NAMES = {b"PK": "zip archive", b"\x1f\x8b": "gzip stream", b"BZ": "bzip2 stream",
                        b"\xfd7": "xz stream", b"7z": "7z archive", b"\x93N": "numpy array"}


class _KerasWalk:
    def __init__(self, ctx: ScanContext, prefix: str):
        self.ctx = ctx
        self.prefix = prefix
        self.seen = 0
        self.decoded = 0

    def loc(self, layer: str | None, path: str) -> str:
        where = f"layer {layer}" if layer else (path or "config")
        return f"{self.prefix}: {where}" if self.prefix else where

    def walk(self, root) -> None:
        stack: list[tuple[object, str | None, str, int]] = [(root, None, "", 0)]
        while stack:
            obj, layer, path, depth = stack.pop()
            self.seen += 1
            if self.seen > MAX_OBJECTS or depth > MAX_DEPTH:
                self.ctx.add("KERAS-CONFIG-TOO-LARGE", Severity.medium, "Keras config too large to analyse fully",
                             f"more than {MAX_OBJECTS} values or nesting deeper than {MAX_DEPTH}",
                             self.loc(layer, path), analyzer=ANALYZER)
                return
            if isinstance(obj, dict):
                cfg = obj.get("config")
                if "class_name" in obj and isinstance(cfg, dict) and isinstance(cfg.get("name"), str):
                    layer = cfg["name"]
                if "class_name" in obj:
                    self.check(obj, layer, path)
                for k, v in obj.items():
                    if isinstance(v, (dict, list)):
                        stack.append((v, layer, f"{path}.{k}" if path else str(k), depth + 1))
                    elif isinstance(v, str) and len(v) >= MIN_ENCODED:
                        self.encoded(v, layer, f"{path}.{k}" if path else str(k))
            elif isinstance(obj, list):
                for i, v in enumerate(obj):
                    if isinstance(v, (dict, list)):
                        stack.append((v, layer, f"{path}[{i}]", depth + 1))
                    elif isinstance(v, str) and len(v) >= MIN_ENCODED:
                        self.encoded(v, layer, f"{path}[{i}]")

    def encoded(self, text: str, layer: str | None, path: str) -> None:
        """A base64 or hex string that decodes to a pickle, an archive or compressed data is scanned as a
        nested artifact (the CVE-2025-49655 class: payloads carried inside config values)."""
        if self.decoded > MAX_DECODED_BYTES or not (_B64_TEXT.match(text) or _HEX_TEXT.match(text)):
            return
        raw = None
        try:
            padded = text + "=" * (-len(text) % 4)
            raw = bytes.fromhex(text) if _HEX_TEXT.match(text) else (
                base64.urlsafe_b64decode(padded) if ("-" in text or "_" in text) else base64.b64decode(padded))
        except (binascii.Error, ValueError):
            return
        if not raw.startswith(_PAYLOAD_MAGIC):
            return
        self.decoded += len(raw)
        where = self.loc(layer, path)
        self.ctx.add("KERAS-ENCODED-PAYLOAD", Severity.medium, "Config value decodes to a serialized payload",
                     f"{path} holds {len(raw)} bytes of encoded data that decode to a "
                     f"{_PAYLOAD_MAGIC_NAMES.get(raw[:2], 'pickle/archive')} (scanned as a nested artifact); "
                     "custom objects or Lambda layers can deserialize it when the model loads", where,
                     evidence=text[:80], analyzer=ANALYZER)
        if self.ctx.member_scanner is not None:
            self.ctx.scan_member(f"{where} (decoded)", io.BytesIO(raw), len(raw))

    def check(self, d: dict, layer: str | None, path: str) -> None:
        ctx = self.ctx
        cn = d.get("class_name")
        cfg = d.get("config")
        where = self.loc(layer, path)
        if cn == "__lambda__":
            code = _lambda_code(d) or ""
            self.lambda_finding(where, code, "a serialized lambda")
        if cn == "Lambda" and isinstance(cfg, dict):
            found = False
            for key, kind_key in (("function", "function_type"), ("output_shape", "output_shape_type"),
                                  ("mask", "mask_type")):
                value = cfg.get(key)
                kind = cfg.get(kind_key)
                code = _lambda_code(value)
                if isinstance(value, dict) and value.get("class_name") == "__lambda__":
                    found = True  # reported when the walk reaches the nested __lambda__ object
                elif code is not None and (kind in ("lambda", None) or isinstance(value, list)):
                    self.lambda_finding(where, code, f"its {key}")
                    found = True
            if not found:
                fn = cfg.get("function")
                module = cfg.get("module") or (fn.get("module") if isinstance(fn, dict) else None)
                name = fn.get("config") if isinstance(fn, dict) else fn
                ctx.add("KERAS-LAMBDA", Severity.high, "Lambda layer calls a Python function",
                        f"the Lambda layer calls {module or '?'}.{name if isinstance(name, str) else '?'}: loading "
                        "imports that module and runs the function in the model's forward pass", where,
                        evidence=json.dumps(fn)[:160] if fn is not None else None, analyzer=ANALYZER,
                        remediation="Load with safe_mode=True and review the function; prefer models without Lambda layers")
        if cn in ("TFOpLambda", "SlicingOpLambda") and isinstance(cfg, dict):
            fn = cfg.get("function")
            if isinstance(fn, str) and TFOP_DANGEROUS.match(fn):
                ctx.add("KERAS-TFOP-DANGEROUS", Severity.high, f"TFOpLambda layer calls tf.{fn}",
                        f"the layer runs tf.{fn}, which reads/writes files or calls Python when the model runs",
                        where, evidence=fn, analyzer=ANALYZER)
        if cn == "TFSMLayer":
            target = cfg.get("filepath") if isinstance(cfg, dict) else None
            ctx.add("KERAS-UNSAFE-FUNCTION", Severity.high, "TFSMLayer loads an external SavedModel",
                    f"the layer loads the SavedModel at {target!r} when the model loads; that graph's ops run "
                    "outside Keras' safe mode", where, evidence=str(target)[:160] if target else None, analyzer=ANALYZER)
        module = d.get("module")
        if isinstance(module, str) and module:
            fname = cfg if cn == "function" and isinstance(cfg, str) else cn
            qual = f"{module}.{fname}"
            root = module.split(".", 1)[0]
            short = str(fname)
            if root in KERAS_PACKAGES:
                sev = UNSAFE_KERAS_FUNCTIONS.get(short)
                if sev is None and (module.startswith("keras.saving") or module.startswith("keras.src.saving")) \
                        and cn == "function":
                    sev = Severity.high
                if sev is not None and short != "TFSMLayer":
                    ctx.add("KERAS-UNSAFE-FUNCTION", sev, f"Config calls {qual}",
                            f"deserializing this config calls {qual}, which "
                            + ("turns Keras' safe mode off" if short == "enable_unsafe_deserialization" else
                               "downloads or loads files outside this archive")
                            + " (the safe-mode bypass class of CVE-2025-1550 and its successors)", where,
                            evidence=json.dumps({"module": module, "class_name": cn,
                                                 "config": cfg if isinstance(cfg, str) else "..."})[:160],
                            analyzer=ANALYZER, remediation="Do not load this model")
            elif _registered_custom(d, module) and not _dangerous_target(module, str(fname)):
                pass  # a registered custom object from the user's package: KERAS-CUSTOM-OBJECT below
            else:
                sev = Severity.critical if root in DANGEROUS_MODULES or _dangerous_target(module, str(fname)) \
                    else Severity.high
                ctx.add("KERAS-MODULE-INJECTION", sev, f"Config imports {qual}",
                        f"the object names module {module!r} (class_name {cn!r}): Keras imports it and calls "
                        f"{qual} while loading — arbitrary code outside Keras (CVE-2025-1550 class)",
                        where, evidence=json.dumps({"module": module, "class_name": cn})[:160], analyzer=ANALYZER,
                        remediation="Do not load this model; Keras >= 3.9 with safe_mode refuses such modules")
        rn = d.get("registered_name")
        for name in (rn, cn):
            if isinstance(name, str) and ">" in name:
                package = name.split(">", 1)[0]
                if package not in KERAS_PACKAGES:
                    # the normal way Keras saves custom layers: custom code, reported low
                    ctx.add("KERAS-CUSTOM-OBJECT", Severity.low, f"Custom object {name}",
                            f"the config needs the registered custom object {name!r} from package {package!r}"
                            + (f" (module {module!r})" if isinstance(module, str) and module else "")
                            + ": its code is not in the model file and runs when the model loads", where,
                            analyzer=ANALYZER)
                break

    def lambda_finding(self, where: str, code: str, what: str) -> None:
        self.ctx.add("KERAS-LAMBDA-BYTECODE", Severity.critical, "Lambda layer with serialized Python bytecode",
                     f"{what} is marshalled Python bytecode; loading the model with safe_mode=False (or Keras 2) "
                     f"runs it{_bytecode_hint(code)}", where, evidence=code[:80] if code else None, analyzer=ANALYZER,
                     remediation="Do not load this model; rebuild the layer in code instead of a Lambda")


def analyze_keras_object(ctx: ScanContext, obj, prefix: str = "") -> None:
    _KerasWalk(ctx, prefix).walk(obj)


def analyze_keras_json(ctx: ScanContext, text: str | bytes, prefix: str) -> None:
    try:
        obj = json.loads(text)
    except (ValueError, RecursionError) as exc:
        ctx.add("KERAS-CONFIG-INVALID", Severity.medium, "Keras config is not valid JSON", str(exc)[:200], prefix,
                analyzer=ANALYZER)
        return
    analyze_keras_object(ctx, obj, prefix)


@register(Format.hdf5)
def analyze_hdf5(stream: BinaryIO, ctx: ScanContext) -> None:
    """Legacy Keras .h5: read only the root group's attributes (never keras.models.load_model)."""
    try:
        import h5py
    except ImportError:
        ctx.add("HDF5-NOT-ANALYSED", Severity.info, "HDF5 attributes not read", "h5py is not installed", analyzer=ANALYZER)
        return
    size = ctx.size if ctx.size is not None else stream.seek(0, io.SEEK_END)
    view = SubStream(stream, 0, size)  # read-only: h5py must not see the hashing reader itself
    try:
        f = h5py.File(view, "r")
    except Exception as exc:  # noqa: BLE001 - libhdf5 refuses malformed files with assorted errors
        ctx.add("HDF5-MALFORMED", Severity.low, "HDF5 file could not be opened",
                f"{type(exc).__name__}: {exc}"[:300], analyzer=ANALYZER)
        return
    try:
        attrs = f.attrs
        names = list(attrs.keys())[:1000]
        info = {}
        for key in ("keras_version", "backend", "model_config", "training_config"):
            if key not in names:
                continue
            oversized = _attr_oversized(attrs, key, 256 if key in ("keras_version", "backend") else MAX_ATTR_BYTES,
                                        size)
            if oversized:
                ctx.add("HDF5-ATTRIBUTE-TOO-LARGE", Severity.medium, f"{key} attribute not read", oversized, key,
                        analyzer=ANALYZER)
                continue
            if key in ("keras_version", "backend"):
                info[key] = _attr_text(attrs, key, 256)
                continue
            text = _attr_text(attrs, key, MAX_ATTR_BYTES)
            if text is None:
                ctx.add("KERAS-CONFIG-INVALID", Severity.medium, f"{key} attribute is not text",
                        "the attribute cannot be read as a JSON string", key, analyzer=ANALYZER)
                continue
            ctx.notes["format"] = Format.keras_h5
            analyze_keras_json(ctx, text, key)
        links = 0
        for name in list(f.keys())[:1000]:
            link = f.get(name, getlink=True)
            if isinstance(link, h5py.ExternalLink):
                links += 1
                ctx.add("HDF5-EXTERNAL-LINK", Severity.medium, "Group links to another file",
                        f"{name!r} links to {link.filename!r}:{link.path!r}; readers that follow it open a file "
                        "outside this one", name, evidence=link.filename, analyzer=ANALYZER)
        if info:
            ctx.notes["keras"] = info
    except Exception as exc:  # noqa: BLE001
        ctx.add("HDF5-MALFORMED", Severity.low, "HDF5 attributes could not be read",
                f"{type(exc).__name__}: {exc}"[:300], analyzer=ANALYZER)
    finally:
        try:
            f.close()
        except Exception:  # noqa: BLE001
            pass


def _attr_oversized(attrs, key: str, limit: int, file_size: int) -> str | None:
    """Why the attribute must not be read, judged from its declared shape and type before libhdf5 reads (and
    allocates) its value: more elements than one, or more bytes than the limit or the file can hold."""
    try:
        aid = attrs.get_id(key)
        shape, dtype, stored = aid.shape, aid.dtype, aid.get_storage_size()
    except Exception as exc:  # noqa: BLE001 - libhdf5 refuses a malformed attribute message
        return f"its header cannot be read: {type(exc).__name__}: {exc}"[:300]
    count = 1
    for dim in shape or ():
        count *= int(dim)
    declared = count * dtype.itemsize
    if count > 1:
        return f"declares {count} elements; a Keras attribute holds one string"
    if max(declared, stored) > min(limit, file_size):
        return (f"declares {max(declared, stored)} bytes, more than the limit ({limit}) or the file "
                f"({file_size} bytes) allows")
    return None


def _attr_text(attrs, key: str, limit: int) -> str | None:
    try:
        aid = attrs.get_id(key)
        if aid.get_storage_size() > limit:
            return None
        value = attrs[key]
    except Exception:  # noqa: BLE001
        return None
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, str):
        return value
    try:  # numpy scalar / 0-d array of bytes
        item = value.item() if hasattr(value, "item") else value
        if isinstance(item, bytes):
            return item.decode("utf-8", "replace")
        if isinstance(item, str):
            return item
    except (ValueError, AttributeError):
        return None
    return None
