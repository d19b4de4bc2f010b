"""TensorFlow SavedModel (`saved_model.pb`), frozen GraphDefs (`*.pb`) and Keras `keras_metadata.pb`,
read with the bounded wire reader (workers/engine/protowire.py); TensorFlow is never imported.

Every op of every graph and function is listed:
SavedModel.meta_graphs(2) -> MetaGraphDef.graph_def(2) -> GraphDef.node(1) -> NodeDef.name(1)/op(2)/attr(5),
GraphDef.library(2) -> FunctionDefLibrary.function(1) -> FunctionDef.signature(1).name(1) / node_def(3).

- ops that call back into Python (PyFunc, PyFuncStateless, EagerPyFunc): critical;
- ops that read or write files or talk to other processes (ReadFile, WriteFile, ImmutableConst,
  PrintV2/Debug* to files, dataset writers, ...): high (reads: medium where loading cannot reach them);
- the checkpoint ops of the saver (SaveV2, RestoreV2, MergeV2Checkpoints, ShardedFilename, ...) are
  normal inside the saver (`save/` scope of TF1 graphs, `__inference__traced_save/restore_*` functions
  of TF2): info; outside it they write or read arbitrary files: high / medium;
- ops from custom-op libraries (`Namespace>Op`): medium;
- asset file names that leave the assets directory: high.

`keras_metadata.pb` (Keras 2 SavedModel) holds each layer's JSON config: analysed like a Keras config.
"""
from __future__ import annotations

import io
import json
import re
from collections import Counter
from typing import BinaryIO

from modelscreen.schemas import Severity
from modelscreen.schemas.formats import Format
from modelscreen.engine.analyzers.registry import register
from modelscreen.engine.context import ScanContext
from modelscreen.engine.limits import LimitExceeded
from modelscreen.engine.protowire import LEN, VARINT, Source, WireError
from modelscreen.engine.sniff import suffix_of
from modelscreen.engine.analyzers.keras_format import analyze_keras_object
from modelscreen.engine.analyzers.onnx_format import analyze_named

ANALYZER = "tf-savedmodel"
MAX_NODES = 5_000_000
MAX_LISTED_OPS = 200

PYTHON_OPS = {"PyFunc", "PyFuncStateless", "EagerPyFunc"}
FILE_WRITE_OPS = {"WriteFile", "Save", "SaveV2", "SaveSlices", "MergeV2Checkpoints", "DatasetToTFRecord",
                  "ExperimentalDatasetToTFRecord", "SaveDataset", "SaveDatasetV2", "SnapshotDataset",
                  "SnapshotDatasetV2", "WriteSummary", "WriteRawProtoSummary", "WriteScalarSummary",
                  "WriteHistogramSummary", "WriteImageSummary", "WriteAudioSummary", "WriteGraphSummary",
                  "CreateSummaryFileWriter", "CreateSummaryDbWriter", "ImportEvent"}
FILE_READ_OPS = {"ReadFile", "MatchingFiles", "ImmutableConst", "WholeFileReader", "WholeFileReaderV2",
                 "TFRecordReader", "TFRecordReaderV2", "TextLineReader", "TextLineReaderV2", "FixedLengthRecordReader",
                 "FixedLengthRecordReaderV2", "ReaderReadV2", "TFRecordDataset", "TFRecordDatasetV2",
                 "TextLineDataset", "FixedLengthRecordDataset", "FixedLengthRecordDatasetV2", "LoadDataset",
                 "LMDBReader", "LMDBDataset", "ExperimentalLMDBDataset", "SqlDataset", "ExperimentalSqlDataset",
                 "CSVDataset", "CSVDatasetV2", "ExperimentalCSVDataset", "LoadAndRemapMatrix", "DecodeProtoV2",
                 "InitializeTableFromTextFile", "InitializeTableFromTextFileV2"}
CHECKPOINT_OPS = {"Save", "SaveV2", "SaveSlices", "Restore", "RestoreV2", "RestoreSlice", "MergeV2Checkpoints",
                  "ShardedFilename", "ShardedFilespec"}
RESTORE_OPS = {"Restore", "RestoreV2", "RestoreSlice"}
DEBUG_OPS = {"DebugIdentity", "DebugIdentityV2", "DebugIdentityV3", "DebugNanCount", "DebugNumericSummary",
             "DebugNumericSummaryV2", "Copy", "CopyHost"}
REMOTE_OPS = {"_Send", "_Recv", "_HostSend", "_HostRecv", "RemoteCall", "RemoteFusedGraphExecute",
              "CollectiveReduce", "CollectiveGather", "CollectiveBcastSend", "CollectiveBcastRecv",
              "DataServiceDataset", "DataServiceDatasetV2", "DataServiceDatasetV3", "DataServiceDatasetV4",
              "RegisterDataset", "RegisterDatasetV2"}
_SAVER_FUNCTION = re.compile(r"(^|_)_?traced_(save|restore)(_\d+)?$|^__inference__traced_(save|restore)_\d+$")

# SavedModel: 1 schema version (varint), 2 meta_graphs
SAVEDMODEL_FIELDS = {1: {VARINT}, 2: {LEN}}


class _Ops:
    def __init__(self, ctx: ScanContext, src: Source):
        self.ctx = ctx
        self.src = src
        self.count = 0
        self.ops: Counter[str] = Counter()
        self.saver_scopes: set[str] = {"save/"}
        self.hits: dict[tuple[str, str], list[str]] = {}

    def fields(self, start: int, end: int):
        return self.src.fields(start, end, max_fields=50_000_000)

    def text(self, f, n: int = 4096) -> str:
        return self.src.text(f, n)

    def meta_graph(self, start: int, end: int, where: str) -> None:
        graphs = []
        for f in self.fields(start, end):
            if f.wire != LEN:
                continue
            if f.number == 3:  # SaverDef: 1 filename_tensor_name, 2 save_tensor_name, 3 restore_op_name
                for g in self.fields(f.offset, f.end):
                    if g.number in (1, 2, 3) and g.wire == LEN:
                        name = self.text(g)
                        if "/" in name:
                            self.saver_scopes.add(name.split("/", 1)[0] + "/")
            elif f.number == 2:
                graphs.append((f.offset, f.end))
            elif f.number == 6:  # AssetFileDef: 2 filename
                for g in self.fields(f.offset, f.end):
                    if g.number == 2 and g.wire == LEN:
                        self.asset(self.text(g), where)
        for s, e in graphs:
            self.graph_def(s, e, where)

    def asset(self, name: str, where: str) -> None:
        parts = re.split(r"[/\\]", name)
        if name.startswith(("/", "\\", "~")) or re.match(r"^[A-Za-z]:", name) or ".." in parts or "\x00" in name:
            self.ctx.add("SAVEDMODEL-ASSET-TRAVERSAL", Severity.high, "Asset file name leaves the assets directory",
                         f"asset {name!r}: loading the model opens a file outside the SavedModel", f"{where}/asset {name}",
                         evidence=name, analyzer=ANALYZER)

    def graph_def(self, start: int, end: int, where: str) -> None:
        for f in self.fields(start, end):
            if f.wire != LEN:
                continue
            if f.number == 1:
                self.node(f.offset, f.end, f"{where}/graph", None)
            elif f.number == 2:  # FunctionDefLibrary: 1 function
                for g in self.fields(f.offset, f.end):
                    if g.number == 1 and g.wire == LEN:
                        self.function(g.offset, g.end)

    def function(self, start: int, end: int) -> None:
        name = ""
        nodes = []
        for f in self.fields(start, end):
            if f.wire != LEN:
                continue
            if f.number == 1:  # OpDef signature: 1 name
                for g in self.fields(f.offset, f.end):
                    if g.number == 1 and g.wire == LEN:
                        name = self.text(g)
                        break
            elif f.number == 3:
                nodes.append(f)
        for f in nodes:
            self.node(f.offset, f.end, f"function {name or '<unnamed>'}", name)

    def node(self, start: int, end: int, where: str, function: str | None) -> None:
        self.count += 1
        if self.count % 4096 == 0:
            self.ctx.check_time()
        if self.count > MAX_NODES:
            raise LimitExceeded("savedmodel_nodes", f"more than {MAX_NODES} nodes")
        name = op = ""
        attrs = []
        for f in self.fields(start, end):
            if f.wire != LEN:
                continue
            if f.number == 1:
                name = self.text(f)
            elif f.number == 2:
                op = self.text(f)
            elif f.number == 5:
                attrs.append(f)
        self.ops[op] += 1
        loc = f"{where}/node {name}"
        in_saver = (function is not None and bool(_SAVER_FUNCTION.search(function))) or \
                   (function is None and any(name.startswith(s) for s in self.saver_scopes))
        if op in PYTHON_OPS:
            self.hit(op, loc, Severity.critical, "SAVEDMODEL-PYTHON-OP",
                     f"{op} calls a Python function registered in the loading process: the graph runs Python code")
        elif op in CHECKPOINT_OPS:
            if in_saver:
                self.hit(op, loc, Severity.info, "SAVEDMODEL-SAVER-OP", f"{op} in the checkpoint saver (normal)")
            elif op in RESTORE_OPS:
                self.hit(op, loc, Severity.medium, "SAVEDMODEL-FILE-OP",
                         f"{op} outside the checkpoint saver reads tensors from a file path computed by the graph")
            else:
                self.hit(op, loc, Severity.high, "SAVEDMODEL-FILE-OP",
                         f"{op} outside the checkpoint saver writes files at a path computed by the graph")
        elif op in FILE_WRITE_OPS:
            self.hit(op, loc, Severity.high, "SAVEDMODEL-FILE-OP", f"{op} writes files when the graph runs")
        elif op in FILE_READ_OPS:
            self.hit(op, loc, Severity.high, "SAVEDMODEL-FILE-OP", f"{op} reads files when the graph runs")
        elif op in REMOTE_OPS:
            target = self.attr_strings(attrs, {"send_device", "recv_device", "target", "address"})
            remote = [t for t in target if "/job:" in t and "/job:localhost" not in t or "://" in t]
            if remote or op not in {"_Send", "_Recv", "_HostSend", "_HostRecv"}:
                self.hit(op, loc, Severity.medium, "SAVEDMODEL-REMOTE-OP",
                         f"{op} exchanges tensors with another process or host ({', '.join(remote[:3]) or 'remote'})")
        elif op in DEBUG_OPS or op in ("PrintV2", "Print"):
            urls = self.attr_strings(attrs, {"debug_urls", "output_stream", "file_path"})
            sinks = [u for u in urls if "://" in u or u.startswith("/") or u.startswith("file")]
            if sinks:
                self.hit(op, loc, Severity.high, "SAVEDMODEL-FILE-OP",
                         f"{op} sends tensors to {', '.join(sinks[:3])}")
        elif ">" in op:
            self.hit(op, loc, Severity.medium, "SAVEDMODEL-CUSTOM-OP",
                     f"{op} comes from a custom-op library (native code loaded with tf.load_op_library)")

    def attr_strings(self, attrs, keys: set[str]) -> list[str]:
        """String values (s, or list.s) of the named attributes: NodeDef.attr map entries 1 key, 2 AttrValue."""
        out: list[str] = []
        for a in attrs:
            key = None
            value = None
            for g in self.fields(a.offset, a.end):
                if g.number == 1 and g.wire == LEN:
                    key = self.text(g)
                elif g.number == 2 and g.wire == LEN:
                    value = g
            if key not in keys or value is None:
                continue
            for v in self.fields(value.offset, value.end):
                if v.number == 2 and v.wire == LEN:  # s
                    out.append(self.text(v, 512))
                elif v.number == 1 and v.wire == LEN:  # ListValue: 2 s
                    for w in self.fields(v.offset, v.end):
                        if w.number == 2 and w.wire == LEN and len(out) < 16:
                            out.append(self.text(w, 512))
        return out

    def hit(self, op: str, loc: str, sev: Severity, rule: str, detail: str) -> None:
        lst = self.hits.setdefault((rule, op, sev.value), [])
        lst.append(loc)

    def report(self) -> None:
        ctx = self.ctx
        for (rule, op, sev), locs in sorted(self.hits.items()):
            severity = Severity(sev)
            detail = {
                "SAVEDMODEL-PYTHON-OP": f"{op} calls a Python function registered in the loading process",
                "SAVEDMODEL-SAVER-OP": f"{op} belongs to the checkpoint saver; normal in a SavedModel",
                "SAVEDMODEL-FILE-OP": f"{op} accesses the file system (or another sink) when the graph runs",
                "SAVEDMODEL-REMOTE-OP": f"{op} exchanges tensors with another process or host",
                "SAVEDMODEL-CUSTOM-OP": f"{op} comes from a custom-op library (native code)",
            }[rule]
            if rule == "SAVEDMODEL-FILE-OP" and op in CHECKPOINT_OPS:
                detail += " outside the checkpoint saver"
            if severity is Severity.info:
                ctx.add(rule, severity, f"{op} in the checkpoint saver ({len(locs)} node(s))",
                        detail + f": {', '.join(locs[:3])}{'...' if len(locs) > 3 else ''}", locs[0], analyzer=ANALYZER)
                continue
            for loc in locs[:20]:
                ctx.add(rule, severity, f"{op} op in the graph", detail, loc, analyzer=ANALYZER,
                        remediation="Load only after reviewing the graph; prefer a weights-only format")
            if len(locs) > 20:
                ctx.add(rule, Severity.info, f"{len(locs) - 20} more {op} nodes", detail, locs[20], analyzer=ANALYZER)
        top = ", ".join(f"{op} x{n}" for op, n in self.ops.most_common(MAX_LISTED_OPS))
        ctx.add("SAVEDMODEL-OPS", Severity.info, f"{len(self.ops)} distinct ops in {self.count} nodes",
                f"ops: {top}"[:4000], analyzer=ANALYZER)
        ctx.notes["tf_ops"] = dict(self.ops.most_common(1000))


@register(Format.tf_savedmodel)
def analyze(stream: BinaryIO, ctx: ScanContext) -> None:
    size = ctx.size if ctx.size is not None else stream.seek(0, io.SEEK_END)
    ctx.notes["format"] = Format.tf_savedmodel
    src = Source(stream, size)
    w = _Ops(ctx, src)
    try:
        i = 0
        for f in w.fields(0, size):
            if f.number == 2 and f.wire == LEN:
                w.meta_graph(f.offset, f.end, f"meta_graph[{i}]")
                i += 1
    except WireError as exc:
        ctx.add("SAVEDMODEL-MALFORMED", Severity.medium, "saved_model.pb is not well-formed protobuf",
                f"{exc}; TensorFlow refuses the file or reads it differently", f"offset {exc.offset}", analyzer=ANALYZER)
    w.report()


def analyze_graphdef(stream: BinaryIO, ctx: ScanContext) -> bool:
    """A frozen GraphDef (`*.pb`): nodes at field 1, library at field 2. False when it is not one."""
    size = ctx.size if ctx.size is not None else stream.seek(0, io.SEEK_END)
    src = Source(stream, size)
    w = _Ops(ctx, src)
    try:
        for f in w.fields(0, size):  # validate the top level first
            if f.number not in (1, 2, 3, 4) or (f.number in (1, 2, 4) and f.wire != LEN):
                return False
        w.graph_def(0, size, "graph_def")
    except WireError:
        return False
    if not w.count:
        return False
    ctx.notes["format"] = Format.tf_graphdef
    w.report()
    return True


def analyze_keras_metadata(stream: BinaryIO, ctx: ScanContext) -> None:
    """keras_metadata.pb: SavedMetadata.nodes(1) -> SavedObject.node_path(3)/identifier(4)/metadata(5, JSON)."""
    size = ctx.size if ctx.size is not None else stream.seek(0, io.SEEK_END)
    src = Source(stream, size)
    ctx.notes["format"] = Format.keras_metadata
    try:
        for f in src.fields(0, size, max_fields=1_000_000):
            if f.number != 1 or f.wire != LEN:
                continue
            path = ident = ""
            meta = None
            for g in src.fields(f.offset, f.end):
                if g.wire != LEN:
                    continue
                if g.number == 3:
                    path = src.text(g)
                elif g.number == 4:
                    ident = src.text(g)
                elif g.number == 5:
                    meta = src.data(g, 64 << 20)
            if meta is None:
                continue
            try:
                obj = json.loads(meta)
            except ValueError:
                continue
            analyze_keras_object(ctx, obj, f"{path or ident}")
    except WireError as exc:
        ctx.add("SAVEDMODEL-MALFORMED", Severity.medium, "keras_metadata.pb is not well-formed protobuf",
                str(exc), f"offset {exc.offset}", analyzer=ANALYZER)


@register(Format.unknown)
def analyze_by_name(stream: BinaryIO, ctx: ScanContext) -> None:
    """Protobuf files have no magic: content that sniffed as nothing is tried by its name."""
    base = ctx.name.rsplit("/", 1)[-1].lower()
    suffix = suffix_of(base)
    if base == "keras_metadata.pb":
        analyze_keras_metadata(stream, ctx)
    elif suffix == ".onnx":
        analyze_named(stream, ctx)
    elif base == "saved_model.pb":
        analyze(stream, ctx)
    elif suffix == ".pb":
        stream.seek(0)
        analyze_graphdef(stream, ctx)
