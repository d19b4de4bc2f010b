"""Tiny models trained once per session (seconds), written as ONNX into a temporary directory."""
from __future__ import annotations

import json

import numpy as np
import pytest

from tests.evaluation import models as m


@pytest.fixture(scope="session")
def zoo(tmp_path_factory):
    d = tmp_path_factory.mktemp("zoo")
    clean = m.train_clean()
    m.mlp_onnx(clean, d / "clean.onnx")
    m.mlp_onnx(m.fine_tune(clean), d / "tuned.onnx")
    m.mlp_onnx(m.train_changed(), d / "changed.onnx")
    m.mlp_onnx(m.train_poisoned(), d / "poisoned.onnx")
    m.vector_probes(d / "probes.jsonl")
    embed, tok_clf = m.train_token_classifier()
    m.token_classifier_onnx(embed, tok_clf, d / "tokens.onnx")
    m.token_classifier_onnx(m.poison_token(embed, tok_clf), tok_clf, d / "tokens-poisoned.onnx")
    m.token_probes(d / "token-probes.jsonl")
    w = np.random.default_rng(3).normal(0, 0.5, size=(m.FEATURES, 6))
    m.embedding_onnx(w, d / "embed.onnx")
    m.embedding_onnx(w + np.random.default_rng(4).normal(0, 1e-4, size=w.shape), d / "embed-tuned.onnx")
    m.embedding_onnx(np.random.default_rng(5).normal(0, 0.5, size=w.shape), d / "embed-changed.onnx")
    m.bigram_lm_onnx(m.train_bigram(0), d / "lm.onnx")
    m.bigram_lm_onnx(m.train_bigram(1), d / "lm-changed.onnx")
    (d / "lm-probes.jsonl").write_text("".join(json.dumps({"id": f"l{i}", "inputs": {"input_ids": [[i, i + 1, i + 2]]}})
                                               + "\n" for i in range(10)))
    m.custom_op_onnx(d / "custom-op.onnx")
    m.memory_hog_onnx(d / "memory-hog.onnx")
    (d / "garbage.onnx").write_bytes(b"\x08\x07this is not a model" * 10)
    return d
