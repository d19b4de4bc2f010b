"""ONNX models: walk the ModelProto with the bounded wire reader (workers/engine/protowire.py).

Nothing is deserialized into onnx objects and no runtime is involved: the graph, its subgraphs
(If/Loop/Scan bodies), training graphs and model-local functions are walked field by field, tensor
data (`raw_data`) is skipped without being read.

Checks:
- external data (`data_location = EXTERNAL`): `location` must be a plain relative path inside the
  model's directory (no `..`, no absolute or drive paths, no URLs, no NUL); for a file scanned from
  disk the resolved path must stay in the directory (no symlink out); `offset`/`length` must be
  non-negative integers. A path escaping the directory is the traversal of CVE-2022-25882 / CVE-2024-27318.
- operators from domains no standard runtime implements need a native custom-op library: medium;
  model-local functions (FunctionProto) are listed and their bodies walked.
- bounds: nodes, nesting of subgraphs and fields per message are limited.
"""
from __future__ import annotations

import io
import os
import re
from collections import Counter
from typing import BinaryIO

from modelscreen.schemas import Severity
from modelscreen.schemas.formats import Format
from modelscreen.engine.analyzers.registry import register
from modelscreen.engine.context import ScanContext
from modelscreen.engine.limits import LimitExceeded
from modelscreen.engine.protowire import LEN, VARINT, Source, WireError, signed64

ANALYZER = "onnx"
MAX_NODES = 2_000_000
MAX_GRAPH_DEPTH = 32
MAX_LISTED = 20
# Domains implemented by onnxruntime itself (and the ONNX standard).
STANDARD_DOMAINS = frozenset({"", "ai.onnx", "ai.onnx.ml", "ai.onnx.training", "ai.onnx.preview.training",
                              "com.microsoft", "com.microsoft.nchwc", "com.microsoft.experimental",
                              "com.ms.internal.nhwc", "com.microsoft.dml"})
# Domains of optional libraries a user installs and registers deliberately.
OPTIONAL_DOMAINS = {"ai.onnx.contrib": "onnxruntime-extensions", "com.microsoft.extensions": "onnxruntime-extensions",
                    "org.pytorch.aten": "the PyTorch ATen fallback", "com.microsoft.mlfeaturizers": "ML featurizers"}
_DRIVE = re.compile(r"^[A-Za-z]:")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")

# ModelProto: 1 ir_version, 2 producer_name, 3 producer_version, 4 domain, 5 model_version, 6 doc_string,
# 7 graph, 8 opset_import, 14 metadata_props, 20 training_info, 25 functions, 26 configuration
MODEL_FIELDS: dict[int, set[int]] = {1: {VARINT}, 2: {LEN}, 3: {LEN}, 4: {LEN}, 5: {VARINT}, 6: {LEN}, 7: {LEN},
                                     8: {LEN}, 14: {LEN}, 20: {LEN}, 25: {LEN}, 26: {LEN}}


class _Walk:
    def __init__(self, ctx: ScanContext, src: Source):
        self.ctx = ctx
        self.src = src
        self.nodes = 0
        self.ops: Counter[tuple[str, str]] = Counter()
        self.custom: dict[tuple[str, str], list[str]] = {}
        self.local_functions: set[tuple[str, str]] = set()
        self.opsets: dict[str, int] = {}
        self.external: list[tuple[str, dict[str, str]]] = []

    def fields(self, start: int, end: int):
        return self.src.fields(start, end, max_fields=10_000_000)

    def text(self, f) -> str:
        return self.src.text(f, 4096)

    # ModelProto
    def model(self, start: int, end: int) -> dict:
        info: dict = {}
        graphs: list[tuple[int, int, str]] = []
        functions: list[tuple[int, int]] = []
        for f in self.fields(start, end):
            if f.number == 1 and f.wire == VARINT:
                info["ir_version"] = f.value
            elif f.number == 2 and f.wire == LEN:
                info["producer"] = self.text(f)
            elif f.number == 7 and f.wire == LEN:
                graphs.append((f.offset, f.end, "graph"))
            elif f.number == 8 and f.wire == LEN:
                dom, ver = self.opset(f)
                self.opsets[dom] = ver
            elif f.number == 20 and f.wire == LEN:  # TrainingInfoProto: 1 initialization, 2 algorithm
                for g in self.fields(f.offset, f.end):
                    if g.number in (1, 2) and g.wire == LEN:
                        graphs.append((g.offset, g.end, "training_info/" + ("initialization" if g.number == 1
                                                                             else "algorithm")))
            elif f.number == 25 and f.wire == LEN:
                functions.append((f.offset, f.end))
        # local functions first: nodes calling them are not custom native operators
        fdefs = []
        for s, e in functions:
            name = domain = ""
            for g in self.fields(s, e):
                if g.number == 1 and g.wire == LEN:
                    name = self.text(g)
                elif g.number == 10 and g.wire == LEN:
                    domain = self.text(g)
            self.local_functions.add((domain, name))
            fdefs.append((s, e, domain, name))
        for s, e, where in graphs:
            self.graph(s, e, where, 0)
        for s, e, domain, name in fdefs:
            self.function(s, e, domain, name)
        info["functions"] = sorted(f"{d}.{n}" if d else n for d, n in self.local_functions)
        return info

    def opset(self, f) -> tuple[str, int]:
        dom, ver = "", 0
        for g in self.fields(f.offset, f.end):
            if g.number == 1 and g.wire == LEN:
                dom = self.text(g)
            elif g.number == 2 and g.wire == VARINT:
                ver = signed64(g.value)
        return dom, ver

    # GraphProto: 1 node, 2 name, 5 initializer, 15 sparse_initializer
    def graph(self, start: int, end: int, where: str, depth: int) -> None:
        if depth > MAX_GRAPH_DEPTH:
            raise LimitExceeded("onnx_graph_depth", f"subgraphs nested deeper than {MAX_GRAPH_DEPTH} at {where}")
        for f in self.fields(start, end):
            if f.wire != LEN:
                continue
            if f.number == 1:
                self.node(f.offset, f.end, where, depth)
            elif f.number == 5:
                self.tensor(f.offset, f.end, where)
            elif f.number == 15:  # SparseTensorProto: 1 values, 2 indices
                for g in self.fields(f.offset, f.end):
                    if g.number in (1, 2) and g.wire == LEN:
                        self.tensor(g.offset, g.end, where)

    # NodeProto: 1 input, 2 output, 3 name, 4 op_type, 5 attribute, 7 domain
    def node(self, start: int, end: int, where: str, depth: int, function: str | None = None) -> None:
        self.nodes += 1
        if self.nodes % 4096 == 0:
            self.ctx.check_time()
        if self.nodes > MAX_NODES:
            raise LimitExceeded("onnx_nodes", f"more than {MAX_NODES} nodes")
        name = op = domain = ""
        attrs = []
        first_output = ""
        for f in self.fields(start, end):
            if f.wire != LEN:
                continue
            if f.number == 3:
                name = self.text(f)
            elif f.number == 4:
                op = self.text(f)
            elif f.number == 7:
                domain = self.text(f)
            elif f.number == 5:
                attrs.append(f)
            elif f.number == 2 and not first_output:
                first_output = self.text(f)
        label = name or (f"<{op} -> {first_output}>" if first_output else f"<{op}>")
        loc = f"{where}/node {label}" if function is None else f"function {function}/node {label}"
        self.ops[(domain, op)] += 1
        if domain not in STANDARD_DOMAINS and (domain, op) not in self.local_functions:
            self.custom.setdefault((domain, op), []).append(loc)
        # AttributeProto: 1 name, 5 t, 6 g, 10 tensors, 11 graphs, 22 sparse_tensor, 23 sparse_tensors
        for a in attrs:
            aname = ""
            for g in self.fields(a.offset, a.end):
                if g.wire != LEN:
                    continue
                if g.number == 1:
                    aname = self.text(g)
                elif g.number == 6:
                    self.graph(g.offset, g.end, f"{loc}/{aname or 'attribute'}", depth + 1)
                elif g.number == 11:
                    self.graph(g.offset, g.end, f"{loc}/{aname or 'attribute'}[]", depth + 1)
                elif g.number in (5, 10):
                    self.tensor(g.offset, g.end, loc)

    # FunctionProto: 1 name, 7 node, 10 domain
    def function(self, start: int, end: int, domain: str, name: str) -> None:
        qual = f"{domain}.{name}" if domain else name
        for f in self.fields(start, end):
            if f.number == 7 and f.wire == LEN:
                self.node(f.offset, f.end, "functions", 0, function=qual)

    # TensorProto: 8 name, 13 external_data (StringStringEntryProto 1 key, 2 value), 14 data_location
    def tensor(self, start: int, end: int, where: str) -> None:
        name = ""
        location = 0
        entries: dict[str, str] = {}
        for f in self.fields(start, end):
            if f.number == 8 and f.wire == LEN:
                name = self.text(f)
            elif f.number == 14 and f.wire == VARINT:
                location = f.value
            elif f.number == 13 and f.wire == LEN:
                key = value = ""
                for g in self.fields(f.offset, f.end):
                    if g.number == 1 and g.wire == LEN:
                        key = self.text(g)
                    elif g.number == 2 and g.wire == LEN:
                        value = self.src.text(g, 8192)
                entries[key] = value
        if location == 1 or entries:
            self.external.append((name or where, entries))


def _check_external(ctx: ScanContext, tensor: str, entries: dict[str, str], base_dir: str | None) -> None:
    loc = entries.get("location")
    if loc is None:
        ctx.add("ONNX-EXTERNAL-DATA-INVALID", Severity.medium, "External tensor without a location",
                f"tensor {tensor!r} is stored externally but names no file", tensor, analyzer=ANALYZER)
        return
    parts = re.split(r"[/\\]", loc)
    problem = None
    if "\x00" in loc:
        problem = "contains a NUL byte (the path is cut differently by different readers)"
    elif loc.startswith(("/", "\\")) or _DRIVE.match(loc):
        problem = "is an absolute path"
    elif _SCHEME.match(loc):
        problem = "is a URL"
    elif ".." in parts:
        problem = "climbs out of the model directory with '..'"
    elif loc.startswith("~"):
        problem = "refers to a home directory"
    if problem:
        ctx.add("ONNX-EXTERNAL-DATA-TRAVERSAL", Severity.high, "External data path leaves the model directory",
                f"tensor {tensor!r} reads its data from {loc!r}, which {problem}: loading the model reads an "
                "arbitrary file into the tensor (CVE-2022-25882 / CVE-2024-27318 class)", tensor, evidence=loc,
                analyzer=ANALYZER, remediation="Reject the model or re-export it with its external data beside it")
    elif not loc.strip():
        ctx.add("ONNX-EXTERNAL-DATA-INVALID", Severity.medium, "External data location is empty",
                f"tensor {tensor!r}", tensor, analyzer=ANALYZER)
    elif base_dir is not None:
        target = os.path.join(base_dir, loc)
        real_base = os.path.realpath(base_dir)
        real = os.path.realpath(target)
        if os.path.commonpath([real_base, real]) != real_base:
            ctx.add("ONNX-EXTERNAL-DATA-TRAVERSAL", Severity.high, "External data resolves outside the model directory",
                    f"tensor {tensor!r} reads {loc!r}, which resolves to {real} (a symbolic link leads out of the "
                    "model directory)", tensor, evidence=loc, analyzer=ANALYZER)
        elif not os.path.lexists(target):
            ctx.add("ONNX-EXTERNAL-DATA-MISSING", Severity.info, "External data file not found next to the model",
                    f"tensor {tensor!r} reads {loc!r}, which does not exist beside the model", tensor, analyzer=ANALYZER)
    for key in ("offset", "length"):
        if key in entries:
            v = entries[key].strip()
            if not v.isdigit():
                ctx.add("ONNX-EXTERNAL-DATA-INVALID", Severity.medium, f"External data {key} is not a non-negative integer",
                        f"tensor {tensor!r} has {key} {entries[key]!r}", tensor, evidence=entries[key], analyzer=ANALYZER)
            elif int(v) >= 1 << 48:
                ctx.add("ONNX-EXTERNAL-DATA-INVALID", Severity.medium, f"External data {key} is implausibly large",
                        f"tensor {tensor!r} has {key} {v}", tensor, analyzer=ANALYZER)
    unknown = set(entries) - {"location", "offset", "length", "checksum", "basepath"}
    if unknown:
        ctx.add("ONNX-EXTERNAL-DATA-INVALID", Severity.low, "Unknown external data keys",
                f"tensor {tensor!r} has keys {sorted(unknown)[:5]}", tensor, analyzer=ANALYZER)


def _base_dir(ctx: ScanContext) -> str | None:
    """The model's directory when the artifact is a file on disk scanned at top level."""
    if ctx.depth or "!" in ctx.path:
        return None
    try:
        if os.path.isfile(ctx.path):
            return os.path.dirname(os.path.abspath(ctx.path))
    except (OSError, ValueError):
        return None
    return None


@register(Format.onnx)
def analyze(stream: BinaryIO, ctx: ScanContext) -> None:
    size = ctx.size if ctx.size is not None else stream.seek(0, io.SEEK_END)
    ctx.notes["format"] = Format.onnx
    src = Source(stream, size)
    w = _Walk(ctx, src)
    try:
        info = w.model(0, size)
    except WireError as exc:
        ctx.add("ONNX-MALFORMED", Severity.medium, "Not a well-formed ONNX protobuf",
                f"{exc}; loaders refuse the model or read a different one", f"offset {exc.offset}", analyzer=ANALYZER)
        info = {}
    _report(ctx, w, info)


def analyze_named(stream: BinaryIO, ctx: ScanContext) -> None:
    """A file named *.onnx that did not sniff as ONNX: try it, report when it is not one."""
    size = ctx.size if ctx.size is not None else stream.seek(0, io.SEEK_END)
    src = Source(stream, size)
    w = _Walk(ctx, src)
    try:
        info = w.model(0, size)
    except WireError as exc:
        ctx.add("ONNX-MALFORMED", Severity.low, "File named .onnx is not an ONNX protobuf",
                f"{exc}", f"offset {exc.offset}", analyzer=ANALYZER)
        return
    if "ir_version" not in info:
        ctx.add("ONNX-MALFORMED", Severity.low, "File named .onnx is not an ONNX model", "no ir_version field",
                analyzer=ANALYZER)
        return
    ctx.notes["format"] = Format.onnx
    _report(ctx, w, info)


def _report(ctx: ScanContext, w: _Walk, info: dict) -> None:
    base_dir = _base_dir(ctx)
    for tensor, entries in w.external[:1000]:
        _check_external(ctx, tensor, entries, base_dir)
    for dom, ver in sorted(w.opsets.items()):
        if dom not in STANDARD_DOMAINS and not any(d == dom for d, _ in w.local_functions):
            sev = Severity.low if dom in OPTIONAL_DOMAINS else Severity.medium
            ctx.add("ONNX-CUSTOM-DOMAIN", sev, f"Model imports operator domain {dom!r}",
                    f"opset_import {dom!r} version {ver}: "
                    + (f"provided by {OPTIONAL_DOMAINS[dom]}" if dom in OPTIONAL_DOMAINS
                       else "no standard runtime implements it; running the model needs a native custom-op library"),
                    f"opset_import {dom}", analyzer=ANALYZER)
    for (dom, op), where in sorted(w.custom.items()):
        optional = dom in OPTIONAL_DOMAINS
        ctx.add("ONNX-CUSTOM-OPERATOR", Severity.low if optional else Severity.medium,
                f"Custom operator {dom}::{op}",
                f"{len(where)} node(s) use {op!r} from domain {dom!r}: "
                + (f"provided by {OPTIONAL_DOMAINS[dom]}" if optional else
                   "not an ONNX or onnxruntime operator; it runs native code from a custom-op library the user must "
                   "load, which this scan cannot see")
                + f" (nodes: {', '.join(where[:5])}{'...' if len(where) > 5 else ''})",
                where[0], analyzer=ANALYZER)
    if w.local_functions:
        funcs = info.get("functions", [])
        ctx.add("ONNX-LOCAL-FUNCTIONS", Severity.info, f"{len(funcs)} model-local functions",
                f"functions defined in the model (their bodies were checked): {', '.join(funcs[:MAX_LISTED])}",
                "functions", analyzer=ANALYZER)
    ctx.notes["onnx"] = {"ir_version": info.get("ir_version"), "producer": info.get("producer"),
                         "nodes": w.nodes, "opsets": w.opsets,
                         "ops": sorted({f"{d}::{o}" if d else o for d, o in w.ops})[:500]}
