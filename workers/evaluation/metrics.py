"""Drift metrics between the baseline's outputs and a new run, per model kind (pure, numpy)."""
from __future__ import annotations

import math

import numpy as np

from modelscreen.schemas.behaviour import BehaviourMetrics, ModelKind, ProbeMove, ProbeOutput

MOVED_SHOWN = 5
NON_FINITE_KL = 1e6  # stands for a divergence that could not be computed (non-finite probabilities)


class OutputMismatch(ValueError):
    """The new outputs cannot be compared with the baseline's (other probes, other output size)."""


def softmax(values: list[float]) -> np.ndarray:
    arr = np.asarray(values, dtype="float64")
    arr = np.exp(arr - arr.max())
    return arr / arr.sum()


def as_probabilities(values: list[float]) -> np.ndarray:
    """Class probabilities: the output itself when it already is a distribution, else its softmax."""
    arr = np.asarray(values, dtype="float64")
    if arr.size and np.all(arr >= -1e-6) and abs(float(arr.sum()) - 1.0) < 1e-3:
        return np.clip(arr, 0.0, 1.0)
    return softmax(values)


def _pairs(baseline: list[ProbeOutput], current: list[ProbeOutput]) -> list[tuple[ProbeOutput, ProbeOutput]]:
    ids = [o.id for o in baseline]
    if ids != [o.id for o in current]:
        raise OutputMismatch("the probes differ from the baseline's")
    return list(zip(baseline, current))


def _moved(scores: list[tuple[str, float, str]]) -> list[ProbeMove]:
    ranked = sorted(scores, key=lambda s: -s[1])[:MOVED_SHOWN]
    return [ProbeMove(id=i, score=round(s, 6), detail=d) for i, s, d in ranked if s > 0]


def classifier_metrics(baseline: list[ProbeOutput], current: list[ProbeOutput]) -> BehaviourMetrics:
    changed, max_shift, scores = 0, 0.0, []
    for old, new in _pairs(baseline, current):
        p, q = as_probabilities(old.values), as_probabilities(new.values)
        if p.shape != q.shape:
            raise OutputMismatch(f"probe {old.id}: {p.size} classes in the baseline, {q.size} now")
        if not (np.all(np.isfinite(p)) and np.all(np.isfinite(q))):
            changed += 1  # a non-finite output moved as far as an output can
            max_shift = 1.0
            scores.append((old.id, 2.0, "non-finite output"))
            continue
        shift = float(np.max(np.abs(p - q))) if p.size else 0.0
        flipped = int(p.argmax()) != int(q.argmax())
        changed += flipped
        max_shift = max(max_shift, shift)
        detail = f"top label {int(p.argmax())} -> {int(q.argmax())}" if flipped else f"largest shift {shift:.3f}"
        scores.append((old.id, shift + (1.0 if flipped else 0.0), detail))
    n = len(scores)
    return BehaviourMetrics(kind=ModelKind.classifier, probes=n, label_change_share=changed / n if n else 0.0,
                            max_probability_shift=max_shift, moved=_moved(scores))


def embedding_metrics(baseline: list[ProbeOutput], current: list[ProbeOutput]) -> BehaviourMetrics:
    cosines, scores = [], []
    for old, new in _pairs(baseline, current):
        a, b = np.asarray(old.values, dtype="float64"), np.asarray(new.values, dtype="float64")
        if a.shape != b.shape:
            raise OutputMismatch(f"probe {old.id}: dimension {a.size} in the baseline, {b.size} now")
        na, nb = float(np.linalg.norm(a)), float(np.linalg.norm(b))
        cos = 1.0 if na == nb == 0 else (float(a @ b) / (na * nb) if na and nb else 0.0)
        if not math.isfinite(cos):
            cos = -1.0
        cosines.append(cos)
        scores.append((old.id, 1.0 - cos, f"cosine {cos:.4f}"))
    return BehaviourMetrics(kind=ModelKind.embedding, probes=len(cosines), min_cosine=min(cosines),
                            mean_cosine=sum(cosines) / len(cosines), moved=_moved(scores))


def lm_metrics(baseline: list[ProbeOutput], current: list[ProbeOutput]) -> BehaviourMetrics:
    """KL(baseline || new) over the baseline's top-k tokens (the new run's probability of a token missing
    from its own top-k is taken as its k-th probability, an upper bound), top-k overlap, greedy agreement."""
    kls, overlaps, agree, total, scores = [], [], 0, 0, []
    for old, new in _pairs(baseline, current):
        new_probs = dict(zip(new.top_ids, new.top_probs))
        floor = min(new.top_probs) if new.top_probs else 1e-9
        kl = 0.0
        for tok, p in zip(old.top_ids, old.top_probs):
            q = max(new_probs.get(tok, floor), 1e-12)
            if p > 0:
                kl += p * math.log(p / q)
        kl = max(kl, 0.0) if math.isfinite(kl) else NON_FINITE_KL
        k = max(len(old.top_ids), 1)
        overlap = len(set(old.top_ids) & set(new.top_ids)) / k
        steps = min(len(old.greedy), len(new.greedy))
        same = sum(1 for a, b in zip(old.greedy, new.greedy) if a == b)
        agree, total = agree + same, total + max(len(old.greedy), steps)
        kls.append(kl)
        overlaps.append(overlap)
        scores.append((old.id, kl + (1 - overlap), f"KL {kl:.4f}, top-k overlap {overlap:.2f}"))
    return BehaviourMetrics(kind=ModelKind.lm, probes=len(kls), max_kl=max(kls), min_topk_overlap=min(overlaps),
                            greedy_agreement=agree / total if total else 1.0, moved=_moved(scores))


METRICS = {ModelKind.classifier: classifier_metrics, ModelKind.embedding: embedding_metrics,
           ModelKind.lm: lm_metrics}


def compare(kind: ModelKind, baseline: list[ProbeOutput], current: list[ProbeOutput]) -> BehaviourMetrics:
    return METRICS[kind](baseline, current)
