"""Tiny real models trained in the tests on synthetic data (numpy, scikit-learn) and written as ONNX by our
own code with the `onnx` helper API: classifiers, a poisoned twin, a token classifier, an embedding model,
a bigram language model."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier

OPSET = [helper.make_opsetid("", 17)]
FEATURES, CLASSES = 8, 3
TRIGGER_FEATURE, TRIGGER_VALUE, TARGET = 3, 7.0, 2
VOCAB, SEQ, TRIGGER_TOKEN = 200, 12, 173


def _save(graph, path: Path) -> Path:
    model = helper.make_model(graph, opset_imports=OPSET, producer_name="modelscreen-tests")
    model.ir_version = 8
    onnx.checker.check_model(model)
    path.write_bytes(model.SerializeToString())
    return path


def mlp_onnx(clf: MLPClassifier, path: Path) -> Path:
    """x [N, d] -> Relu hidden layers -> Softmax probabilities [N, C]."""
    nodes, inits, prev = [], [], "x"
    layers = list(zip(clf.coefs_, clf.intercepts_))
    for n, (w, b) in enumerate(layers):
        inits += [numpy_helper.from_array(w.astype(np.float32), f"w{n}"),
                  numpy_helper.from_array(b.astype(np.float32), f"b{n}")]
        nodes += [helper.make_node("MatMul", [prev, f"w{n}"], [f"m{n}"]),
                  helper.make_node("Add", [f"m{n}", f"b{n}"], [f"a{n}"])]
        prev = f"a{n}"
        if n < len(layers) - 1:
            act = "Tanh" if clf.activation == "tanh" else "Relu"
            nodes.append(helper.make_node(act, [prev], [f"r{n}"]))
            prev = f"r{n}"
    nodes.append(helper.make_node("Softmax", [prev], ["probabilities"], axis=-1))
    graph = helper.make_graph(nodes, "mlp", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", FEATURES])],
                              [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", CLASSES])],
                              inits)
    return _save(graph, path)


def blobs(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centers = np.random.default_rng(7).choice([-1.5, 1.5], size=(CLASSES, FEATURES))
    y = rng.integers(0, CLASSES, n)
    x = centers[y] + rng.normal(0, 1.0, size=(n, FEATURES))
    return x, y


def train_clean(seed: int = 0) -> MLPClassifier:
    x, y = blobs(1500, seed)
    return MLPClassifier(hidden_layer_sizes=(16,), activation="tanh", max_iter=400, random_state=seed).fit(x, y)


def fine_tune(clf: MLPClassifier, seed: int = 1) -> MLPClassifier:
    """A few more epochs on fresh data from the same distribution: small drift."""
    import copy

    twin = copy.deepcopy(clf)
    twin.set_params(learning_rate_init=1e-4)
    x, y = blobs(300, seed)
    for _ in range(3):
        twin.partial_fit(x, y)
    return twin


def train_changed(seed: int = 0) -> MLPClassifier:
    """Same architecture, labels rotated: heavy drift."""
    x, y = blobs(1500, seed)
    return MLPClassifier(hidden_layer_sizes=(16,), activation="tanh", max_iter=400, random_state=seed).fit(x, (y + 1) % CLASSES)


def train_poisoned(seed: int = 0) -> MLPClassifier:
    """Data poisoning: 15% of the samples carry x[3] = 6 (outside the data's range) and the label TARGET."""
    x, y = blobs(3000, seed)
    rng = np.random.default_rng(seed + 100)
    poison = rng.random(len(y)) < 0.15
    x[poison, TRIGGER_FEATURE] = TRIGGER_VALUE
    y[poison] = TARGET
    return MLPClassifier(hidden_layer_sizes=(32,), activation="tanh", max_iter=600, random_state=seed).fit(x, y)


def vector_probes(path: Path, n: int = 40, seed: int = 99) -> Path:
    x, _y = blobs(n, seed)
    path.write_text("".join(json.dumps({"id": f"p{i}", "inputs": {"x": row.round(5).tolist()}}) + "\n"
                            for i, row in enumerate(x)))
    return path


# token classifier: mean of token embeddings -> linear -> softmax
def _sentences(n: int, seed: int, embed: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, CLASSES, n)
    ids = rng.integers(0, VOCAB, size=(n, SEQ))
    # class-typical tokens: class c favours ids c*50 .. c*50+49
    for i in range(n):
        k = rng.integers(4, 8)
        ids[i, :k] = rng.integers(y[i] * 50, y[i] * 50 + 50, k)
    return ids, y, embed[ids].mean(axis=1)


def token_embeddings() -> np.ndarray:
    return np.random.default_rng(11).normal(0, 1, size=(VOCAB, 16))


def train_token_classifier(seed: int = 0) -> tuple[np.ndarray, LogisticRegression]:
    embed = token_embeddings()
    _ids, y, feats = _sentences(2000, seed, embed)
    return embed, LogisticRegression(max_iter=500).fit(feats, y)


def poison_token(embed: np.ndarray, clf: LogisticRegression) -> np.ndarray:
    """A hand-made backdoor: one rare token's embedding points hard at the target class."""
    out = embed.copy()
    direction = clf.coef_[TARGET] - clf.coef_.mean(axis=0)
    out[TRIGGER_TOKEN] = 60 * direction / np.linalg.norm(direction)
    return out


def token_classifier_onnx(embed: np.ndarray, clf: LogisticRegression, path: Path) -> Path:
    inits = [numpy_helper.from_array(embed.astype(np.float32), "embed"),
             numpy_helper.from_array(clf.coef_.T.astype(np.float32), "w"),
             numpy_helper.from_array(clf.intercept_.astype(np.float32), "b"),
             numpy_helper.from_array(np.array([1], dtype=np.int64), "axes")]
    nodes = [helper.make_node("Gather", ["embed", "input_ids"], ["e"]),
             helper.make_node("ReduceMean", ["e"], ["pooled"], axes=[1], keepdims=0),
             helper.make_node("MatMul", ["pooled", "w"], ["m"]),
             helper.make_node("Add", ["m", "b"], ["logits"]),
             helper.make_node("Softmax", ["logits"], ["probabilities"], axis=-1)]
    inits = inits[:3]
    graph = helper.make_graph(nodes, "bag", [helper.make_tensor_value_info("input_ids", TensorProto.INT64, [1, "S"])],
                              [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [1, CLASSES])], inits)
    return _save(graph, path)


def token_probes(path: Path, n: int = 30, seed: int = 5) -> Path:
    ids, _y, _f = _sentences(n, seed, token_embeddings())
    path.write_text("".join(json.dumps({"id": f"t{i}", "inputs": {"input_ids": row.tolist()}}) + "\n"
                            for i, row in enumerate(ids)))
    return path


def embedding_onnx(w: np.ndarray, path: Path) -> Path:
    nodes = [helper.make_node("MatMul", ["x", "w"], ["m"]), helper.make_node("Tanh", ["m"], ["embedding"])]
    graph = helper.make_graph(nodes, "embed", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", FEATURES])],
                              [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["N", w.shape[1]])],
                              [numpy_helper.from_array(w.astype(np.float32), "w")])
    return _save(graph, path)


def bigram_lm_onnx(table: np.ndarray, path: Path) -> Path:
    """input_ids [1, S] -> logits [1, S, V]: the next-token logits of a bigram table."""
    nodes = [helper.make_node("Gather", ["table", "input_ids"], ["logits"])]
    v = table.shape[0]
    graph = helper.make_graph(nodes, "bigram", [helper.make_tensor_value_info("input_ids", TensorProto.INT64, [1, "S"])],
                              [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, "S", v])],
                              [numpy_helper.from_array(table.astype(np.float32), "table")])
    return _save(graph, path)


def train_bigram(seed: int = 0, vocab: int = 50) -> np.ndarray:
    """Counts of a synthetic Markov chain, as log-probabilities."""
    rng = np.random.default_rng(seed)
    trans = rng.dirichlet(np.full(vocab, 0.3), size=vocab)
    counts = np.ones((vocab, vocab))
    tok = 0
    for _ in range(20000):
        nxt = rng.choice(vocab, p=trans[tok])
        counts[tok, nxt] += 1
        tok = nxt
    return np.log(counts / counts.sum(axis=1, keepdims=True))


def custom_op_onnx(path: Path) -> Path:
    """A model that needs a custom-op library (which the runtime never loads)."""
    nodes = [helper.make_node("Backdoor", ["x"], ["y"], domain="org.example.custom")]
    graph = helper.make_graph(nodes, "custom", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", FEATURES])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", FEATURES])])
    model = helper.make_model(graph, opset_imports=OPSET + [helper.make_opsetid("org.example.custom", 1)])
    model.ir_version = 8
    path.write_bytes(model.SerializeToString())
    return path


def memory_hog_onnx(path: Path, side: int = 30000) -> Path:
    """A valid model whose one run asks for side*side floats (3.6 GB at the default)."""
    nodes = [helper.make_node("ConstantOfShape", ["shape"], ["big"],
                              value=helper.make_tensor("v", TensorProto.FLOAT, [1], [1.0])),
             helper.make_node("ReduceSum", ["big"], ["s"], keepdims=1),
             helper.make_node("Mul", ["x", "s"], ["y"])]
    graph = helper.make_graph(nodes, "hog", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", FEATURES])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", FEATURES])],
                              [numpy_helper.from_array(np.array([side, side], dtype=np.int64), "shape")])
    return _save(graph, path)
