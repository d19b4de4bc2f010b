"""Runtimes that execute a model on probes, always inside the sandbox (modelscreen.sandbox).

One small interface (`Runtime.run(model, request, limits) -> RunResult`); the parent never loads the
model. ONNX through onnxruntime is the one runtime shipped: the model is read as bytes (so no external
data file is ever opened), no custom-op library is ever registered (a model that needs one fails to load:
an error, never a pass), graph optimisations are on, one thread per child.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from modelscreen.sandbox import SandboxLimits, run_sandboxed

MAX_MODEL_BYTES = 2 * 1024**3  # protobuf's own ceiling for a model without external data
TOKENS = "__tokens__"  # feed key: token ids for the model's one integer input


class ProbeMismatch(ValueError):
    """A probe does not match the model's input signature."""


class ModelLoadError(RuntimeError):
    """The runtime refused or failed to load the model."""


class ModelRunError(RuntimeError):
    """The model loaded but failed while running a probe."""


@dataclass(frozen=True)
class RunRequest:
    feeds: list[dict[str, Any]]  # one per run: graph input name (or TOKENS) -> nested list
    labels_only: bool = False  # return only the argmax of the primary output (trigger sweeps)
    lm: bool | None = None  # primary output is next-token logits [1, seq, vocab]; None: when the model has an
    # integer input and a rank-3 output
    top_k: int = 20
    greedy_steps: int = 0
    output: str | None = None  # primary output name (default: the first float output)
    ids: list[str] = field(default_factory=list)  # probe ids, for messages


@dataclass
class RunResult:
    runtime: str
    version: str
    inputs: list[dict[str, Any]]  # name, type, shape
    outputs: list[dict[str, Any]]
    output: str  # the primary output used
    output_rank: int
    values: list[list[float]] = field(default_factory=list)  # per feed (probabilities/logits/vector)
    labels: list[int] = field(default_factory=list)  # per feed, when labels_only
    top_ids: list[list[int]] = field(default_factory=list)
    top_probs: list[list[float]] = field(default_factory=list)
    greedy: list[list[int]] = field(default_factory=list)
    label_output: bool = False  # the model also has an integer label output (a classifier)
    lm: bool = False  # the outputs were read as next-token logits


class Runtime(Protocol):
    name: str

    def run(self, model: Path, request: RunRequest, limits: SandboxLimits) -> RunResult: ...


_NUMPY_TYPES = {"tensor(float)": "float32", "tensor(double)": "float64", "tensor(float16)": "float16",
                "tensor(int64)": "int64", "tensor(int32)": "int32", "tensor(int8)": "int8",
                "tensor(uint8)": "uint8", "tensor(bool)": "bool"}


def _fits(shape: tuple[int, ...], expected: list[Any]) -> bool:
    if len(shape) != len(expected):
        return False
    return all(not isinstance(e, int) or e <= 0 or e == s for s, e in zip(shape, expected))


def _feed_array(np, name: str, value: Any, meta: dict[str, Any], probe: int):
    dtype = _NUMPY_TYPES.get(meta["type"])
    if dtype is None:
        raise ProbeMismatch(f"probe {probe}: input {name!r} has type {meta['type']}, which probes cannot give")
    try:
        arr = np.asarray(value, dtype=dtype)
    except (ValueError, TypeError) as exc:
        raise ProbeMismatch(f"probe {probe}: input {name!r}: not a rectangular numeric array ({exc})") from None
    expected = meta["shape"]
    if _fits(arr.shape, expected):
        return arr
    if _fits((1, *arr.shape), expected):  # the probe left out the batch dimension
        return arr.reshape((1, *arr.shape))
    shown = ", ".join("N" if not isinstance(e, int) or e <= 0 else str(e) for e in expected)
    raise ProbeMismatch(f"probe {probe}: input {name!r} has shape {list(arr.shape)}, the model expects [{shown}]")


def _to_vector(np, value: Any) -> tuple[Any, int]:
    if isinstance(value, list) and value and isinstance(value[0], dict):  # ZipMap: [{label: prob}]
        row = value[0]
        return [float(row[k]) for k in sorted(row)], 2
    arr = np.asarray(value, dtype="float64")
    return arr, arr.ndim


def onnx_child(model_path: str, request: RunRequest) -> RunResult:
    """Runs in the sandboxed child: load, check the feeds against the signature, run."""
    # heavy optional third-party modules, imported only in the child
    import numpy as np
    import onnxruntime as ort

    from onnxruntime.capi.onnxruntime_pybind11_state import InvalidArgument

    ort.set_default_logger_severity(4)  # failures come back as exceptions; keep the child quiet
    path = Path(model_path)
    size = path.stat().st_size
    if size > MAX_MODEL_BYTES:
        raise ModelLoadError(f"the model is larger than {MAX_MODEL_BYTES} bytes")
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    try:
        sess = ort.InferenceSession(path.read_bytes(), sess_options=opts, providers=["CPUExecutionProvider"])
    except Exception as exc:  # noqa: BLE001 - every load failure is the same kind of error for the caller
        raise ModelLoadError(f"onnxruntime could not load the model: {str(exc)[:500]}") from None
    inputs = [{"name": i.name, "type": i.type, "shape": list(i.shape)} for i in sess.get_inputs()]
    outputs = [{"name": o.name, "type": o.type, "shape": list(o.shape)} for o in sess.get_outputs()]
    by_name = {i["name"]: i for i in inputs}
    floats = [o for o in outputs if o["type"] in ("tensor(float)", "tensor(double)", "tensor(float16)")
              or o["type"].startswith("seq(map")]
    if request.output:
        primary = next((o for o in outputs if o["name"] == request.output), None)
        if primary is None:
            raise ProbeMismatch(f"the model has no output {request.output!r}")
    elif floats:
        primary = floats[0]
    else:
        raise ModelLoadError("the model has no floating-point output to compare")
    label_output = any(o["type"] in ("tensor(int64)", "tensor(string)") and o is not primary for o in outputs)
    int_inputs = [i for i in inputs if i["type"] in ("tensor(int64)", "tensor(int32)")]
    lm = request.lm if request.lm is not None else bool(int_inputs) and len(primary["shape"]) == 3
    result = RunResult(runtime="onnxruntime", version=ort.__version__, inputs=inputs, outputs=outputs,
                       output=primary["name"], output_rank=len(primary["shape"]), label_output=label_output, lm=lm)

    def feed_for(index: int | str, feed: dict[str, Any]) -> dict[str, Any]:
        if isinstance(index, int) and index < len(request.ids):
            index = repr(request.ids[index])
        out: dict[str, Any] = {}
        for name, value in feed.items():
            if name == TOKENS:
                if len(int_inputs) < 1:
                    raise ProbeMismatch("text/token probes need a model with an integer (token id) input")
                token_input = next((i for i in int_inputs if "mask" not in i["name"].lower()), int_inputs[0])
                out[token_input["name"]] = _feed_array(np, token_input["name"], [value], token_input, index)
                for other in int_inputs:
                    if other is not token_input and "mask" in other["name"].lower():
                        out[other["name"]] = np.ones_like(out[token_input["name"]], dtype=_NUMPY_TYPES[other["type"]])
                continue
            meta = by_name.get(name)
            if meta is None:
                raise ProbeMismatch(f"probe {index}: the model has no input {name!r} "
                                    f"(its inputs: {', '.join(by_name)})")
            out[name] = _feed_array(np, name, value, meta, index)
        missing = [n for n in by_name if n not in out]
        if missing:
            raise ProbeMismatch(f"probe {index}: no value for the model input(s) {', '.join(missing)}")
        return out

    def run_one(arrays: dict[str, Any]):
        try:
            got = sess.run([primary["name"]], arrays)[0]
        except InvalidArgument as exc:
            raise ProbeMismatch(f"the model refused the probe: {str(exc)[:300]}") from None
        except Exception as exc:  # noqa: BLE001 - any other failure of the run
            if "allocate memory" in str(exc):
                raise MemoryError(f"the model needs more memory than the sandbox allows: {str(exc)[-200:]}") from None
            raise ModelRunError(f"the model failed while running: {str(exc)[:300]}") from None
        return _to_vector(np, got)

    for index, feed in enumerate(request.feeds):
        arrays = feed_for(index, feed)
        value, _rank = run_one(arrays)
        if lm:
            arr = np.asarray(value, dtype="float64")
            if arr.ndim != 3:
                raise ProbeMismatch(f"a language model's output is [batch, sequence, vocabulary]; got rank {arr.ndim}")
            logits = arr[0, -1]
            probs = np.exp(logits - logits.max())
            probs /= probs.sum()
            if request.labels_only:
                result.labels.append(int(probs.argmax()))
                continue
            top = np.argsort(-probs, kind="stable")[: request.top_k]
            result.top_ids.append([int(t) for t in top])
            result.top_probs.append([float(probs[t]) for t in top])
            if request.greedy_steps:
                result.greedy.append(_greedy(np, run_one, feed_for, feed, request.greedy_steps))
            continue
        arr = np.asarray(value, dtype="float64")
        if arr.ndim == 3:
            arr = arr.mean(axis=1)  # [batch, sequence, dim]: mean-pooled
        vector = arr.reshape(-1) if arr.ndim <= 1 else arr[0].reshape(-1)
        if request.labels_only:
            result.labels.append(int(np.argmax(vector)))
        else:
            result.values.append([float(v) if math.isfinite(v) else float("nan") for v in vector.tolist()])
    return result


def _greedy(np, run_one, feed_for, feed: dict[str, Any], steps: int) -> list[int]:
    tokens = list(feed[TOKENS]) if TOKENS in feed else None
    if tokens is None:
        name, value = next(iter(feed.items()))
        tokens = list(np.asarray(value).reshape(-1))
        key = name
    else:
        key = TOKENS
    out: list[int] = []
    for _ in range(steps):
        value, _rank = run_one(feed_for(0, {key: tokens if key == TOKENS else [tokens]}))
        arr = np.asarray(value, dtype="float64")
        nxt = int(arr[0, -1].argmax())
        out.append(nxt)
        tokens.append(nxt)
    return out


class OnnxRuntime:
    name = "onnxruntime"

    def run(self, model: Path, request: RunRequest, limits: SandboxLimits) -> RunResult:
        return run_sandboxed(onnx_child, str(model), request, limits=limits)


RUNTIMES: dict[str, Runtime] = {"onnxruntime": OnnxRuntime()}


def runtime_for(model: Path, fmt: str | None = None) -> Runtime:
    """The runtime for a model file: by its scanned format, else by its name (only code-free formats)."""
    if fmt == "onnx" or (fmt is None and model.suffix.lower() == ".onnx"):
        return RUNTIMES["onnxruntime"]
    raise ModelLoadError(f"no behaviour runtime for {model.name} ({fmt or 'format unknown'}): only ONNX models "
                         "are evaluated")
