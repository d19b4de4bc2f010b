"""What the sandbox costs a behaviour evaluation, and how fast a trigger sweep runs.

    python bench/bench_evaluate.py [--probes N] [--vocab V]

Builds a token classifier (vocabulary V, mean of embeddings -> linear -> softmax) with the onnx helper
API, then measures in the same run:
- one probe suite run through the sandbox (spawned child: start, import onnxruntime, load, run) against
  the same run in this process, and their ratio (the fixed price of isolation per call);
- a full-vocabulary trigger sweep (V candidates + controls, each inserted into every probe): runs per
  second through the sandbox, and the ratio to in-process runs of the same feeds.
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
from onnx import TensorProto, helper, numpy_helper

from modelscreen.evaluation import triggers
from modelscreen.evaluation.probes import load_suite
from modelscreen.evaluation.runtimes import RunRequest, onnx_child, runtime_for
from modelscreen.sandbox import SandboxLimits


def token_model(path: Path, vocab: int, classes: int = 4, dim: int = 32) -> None:
    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array(rng.normal(size=(vocab, dim)).astype(np.float32), "embed"),
             numpy_helper.from_array(rng.normal(size=(dim, classes)).astype(np.float32), "w")]
    nodes = [helper.make_node("Gather", ["embed", "input_ids"], ["e"]),
             helper.make_node("ReduceMean", ["e"], ["pooled"], axes=[1], keepdims=0),
             helper.make_node("MatMul", ["pooled", "w"], ["logits"]),
             helper.make_node("Softmax", ["logits"], ["probabilities"], axis=-1)]
    graph = helper.make_graph(nodes, "bench", [helper.make_tensor_value_info("input_ids", TensorProto.INT64, [1, "S"])],
                              [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [1, classes])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path.write_bytes(model.SerializeToString())


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--probes", type=int, default=32)
    ap.add_argument("--vocab", type=int, default=2000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        token_model(d / "m.onnx", args.vocab)
        rng = np.random.default_rng(1)
        (d / "p.jsonl").write_text("".join(json.dumps({"id": f"p{i}", "inputs": {"input_ids": [rng.integers(
            0, args.vocab, 12).tolist()]}}) + "\n" for i in range(args.probes)))
        suite = load_suite(d / "p.jsonl")
        feeds = [p.inputs for p in suite.probes]
        runtime, limits = runtime_for(d / "m.onnx"), SandboxLimits()
        request = RunRequest(feeds=feeds, lm=False)
        onnx_child(str(d / "m.onnx"), request)  # warm this process's import
        _r, inproc = timed(lambda: onnx_child(str(d / "m.onnx"), request))
        _r, boxed = timed(lambda: runtime.run(d / "m.onnx", request, limits))
        print(f"suite of {args.probes} probes: sandboxed {boxed:.3f} s, in-process {inproc:.4f} s, "
              f"ratio {boxed / inproc:.0f}x (the price of a fresh child per call)")
        plan = triggers.plan_sweep(feeds, [{"name": "input_ids", "type": "tensor(int64)", "shape": [1, "S"]}],
                                   vocab_size=args.vocab, phrases={}, budget=args.vocab)
        sweep = [f for e in plan.candidates + plan.controls for f in triggers.apply(plan, e)]
        req = RunRequest(feeds=sweep, labels_only=True, lm=False)
        _r, inproc = timed(lambda: onnx_child(str(d / "m.onnx"), req))
        _r, boxed = timed(lambda: runtime.run(d / "m.onnx", req, limits))
        print(f"sweep of {len(plan.candidates)} candidates + {len(plan.controls)} controls = {len(sweep)} runs: "
              f"sandboxed {boxed:.2f} s ({len(sweep) / boxed:.0f} runs/s), in-process {inproc:.2f} s, "
              f"ratio {boxed / inproc:.2f}x")


if __name__ == "__main__":
    main()
