"""The query router: before the device writes a word, is this a request the cloud should take?

    router = QueryRouter.fit(embeddings, prompt_tokens, gains)     # from records (``tandem calibrate``)
    router.save(path); router = QueryRouter.load(path)
    router.p_gain(embedding, prompt_tokens)          # P(the cloud's answer fixes the device's)

Features known before generation: the device model's embedding of the prompt
(``device_runtime.embedding``) and the prompt's length. The label is the one that matters for
routing: "escalating this request turns a wrong device answer into a right one". The device's own
confidence cannot see that it is guessing (the 0.5B answers "A" to most MMLU questions, sure of
itself); the kind of request can, and an embedding says what kind a request is.

Model: standardise, project onto the calibration set's first ``k`` principal components, then
L2-regularised logistic regression (Newton steps), all numpy: a few kB to ship, microseconds to
apply. Pure: no llama.cpp, no I/O beyond ``save``/``load``.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# the cloud's price of an output token over an input token (the benchmark's illustrative $0.10 / $0.30)
OUTPUT_PRICE_RATIO = 3.0
# the prompt's first tokens an embedding reads: the instruction and the start of the question say what kind of
# request it is, at a quarter of 128 tokens' cost (the cascade benchmark measured both). Records are embedded
# at this length, and a router fitted on them reads only embeddings of this length (``embed_tokens``).
EMBED_TOKENS = 32


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = 1.0, steps: int = 50) -> np.ndarray:
    """Weights (intercept first) of L2-regularised logistic regression on standardised ``x``."""
    z = np.hstack([np.ones((len(x), 1)), x])
    w = np.zeros(z.shape[1])
    reg = np.full(z.shape[1], l2)
    reg[0] = 1e-6  # the intercept is barely regularised
    for _ in range(steps):
        p = 1 / (1 + np.exp(-z @ w))
        grad = z.T @ (p - y) + reg * w
        hess = (z * (p * (1 - p))[:, None]).T @ z + np.diag(reg)
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return w


@dataclass
class QueryRouter:
    center: np.ndarray  # the calibration embeddings' mean
    components: np.ndarray  # k x dim: their first principal directions
    feature_mean: np.ndarray  # of [projections..., log prompt tokens]
    feature_std: np.ndarray
    weights: np.ndarray  # intercept, then one per feature
    threshold: float = 0.5  # P(gain) at or above which the request goes straight to the cloud
    fitted_on: str = ""  # what the default was fitted on, for the trace and the docs
    model: str = ""  # the device model whose embeddings it reads (a router for another model is no use)
    embed_tokens: int | None = None  # the prompt tokens its embeddings read (None: a file from before this)

    @classmethod
    def fit(
        cls,
        embeddings: np.ndarray,
        prompt_tokens: np.ndarray,
        gains: np.ndarray,
        k: int = 16,
        l2: float = 10.0,
        threshold: float = 0.5,
        fitted_on: str = "",
    ) -> QueryRouter:
        x = np.asarray(embeddings, dtype=np.float64)
        center = x.mean(axis=0)
        _, _, vt = np.linalg.svd(x - center, full_matrices=False)
        components = vt[: min(k, len(vt))]
        feats = _features(x, np.asarray(prompt_tokens, dtype=np.float64), center, components)
        mean, std = feats.mean(axis=0), feats.std(axis=0)
        std = np.where(std < 1e-6, 1.0, std)  # a constant feature (one prompt length) carries no signal
        w = fit_logistic((feats - mean) / std, np.asarray(gains, dtype=np.float64), l2=l2)
        return cls(center, components, mean, std, w, threshold, fitted_on)

    def p_gains(self, embeddings: np.ndarray, prompt_tokens: np.ndarray) -> np.ndarray:
        feats = _features(
            np.atleast_2d(np.asarray(embeddings, dtype=np.float64)),
            np.atleast_1d(np.asarray(prompt_tokens, dtype=np.float64)),
            self.center,
            self.components,
        )
        z = (feats - self.feature_mean) / self.feature_std
        logit = self.weights[0] + z @ self.weights[1:]
        return 1 / (1 + np.exp(-logit))

    def p_gain(self, embedding: np.ndarray, prompt_tokens: int) -> float:
        return float(self.p_gains(embedding, np.asarray([prompt_tokens]))[0])

    def to_cloud(self, embedding: np.ndarray, prompt_tokens: int) -> tuple[bool, float]:
        p = self.p_gain(embedding, prompt_tokens)
        return p >= self.threshold, p

    def save(self, path: str | Path) -> None:
        """One JSON file (floats rounded to 6 digits: a few tens of kB for k = 16)."""

        def r(a: np.ndarray) -> list:
            return np.round(a, 6).tolist()

        Path(path).write_text(
            json.dumps(
                {
                    "kind": "tandem-query-router",
                    "version": 1,
                    "threshold": self.threshold, "model": self.model, "embed_tokens": self.embed_tokens,
                    "fitted_on": self.fitted_on,
                    "center": r(self.center),
                    "components": r(self.components),
                    "feature_mean": r(self.feature_mean),
                    "feature_std": r(self.feature_std),
                    "weights": r(self.weights),
                }
            )
        )

    @classmethod
    def load(cls, path: str | Path) -> QueryRouter:
        d = json.loads(Path(path).read_text())
        if d.get("kind") != "tandem-query-router":
            raise ValueError(f"{path} is not a Tandem query router")

        def a(key: str) -> np.ndarray:
            return np.asarray(d[key], dtype=np.float64)

        return cls(
            a("center"),
            a("components"),
            a("feature_mean"),
            a("feature_std"),
            a("weights"),
            threshold=float(d["threshold"]), model=d.get("model", ""),
            fitted_on=d.get("fitted_on", ""), embed_tokens=d.get("embed_tokens"),
        )

    @property
    def dim(self) -> int:
        return int(self.center.shape[0])


def _features(
    x: np.ndarray, prompt_tokens: np.ndarray, center: np.ndarray, components: np.ndarray
) -> np.ndarray:
    return np.hstack([(x - center) @ components.T, np.log1p(prompt_tokens)[:, None]])


def split_ids(
    ids: Sequence[str], seed: int = 12, calibration_fraction: float = 0.5
) -> tuple[list[int], list[int]]:
    """Indices of the calibration and held-out halves: a fixed-seed permutation of the sorted ids,
    so the split depends only on the set of items, not on their order or on when they were run."""
    cal: list[int] = []
    held: list[int] = []
    for task in sorted({task_of(i) for i in ids}):  # task by task: a mixed workload's halves are its tasks'
        order = shuffled_by_id(ids, [i for i in range(len(ids)) if task_of(ids[i]) == task], seed)
        n_cal = round(calibration_fraction * len(order))
        cal += order[:n_cal]
        held += order[n_cal:]
    return sorted(cal), sorted(held)


def shuffled_by_id(ids: Sequence[str], positions: Sequence[int], seed: int) -> list[int]:
    """``positions`` in a fixed-seed permutation of their ids' sorted order: the same set of records gives
    the same order, however the records came (the split's halves and the router's folds are drawn so)."""
    order = sorted(positions, key=lambda i: ids[i])
    return [order[i] for i in np.random.default_rng(seed).permutation(len(order))]


def task_of(item_id: str) -> str:
    """``HumanEval/12`` -> ``humaneval``: the task an item id belongs to."""
    return item_id.split("/", 1)[0].lower()


def pack_vector(vector: np.ndarray) -> str:
    """An embedding as records keep it: base64 of float16 (1.8 kB for 896 dimensions)."""
    return base64.b64encode(np.asarray(vector, dtype=np.float16).tobytes()).decode("ascii")


def unpack_vector(packed: str) -> np.ndarray:
    return np.frombuffer(base64.b64decode(packed), dtype=np.float16).astype(np.float64)


def escalation_gains(records: Sequence[dict]) -> np.ndarray:
    """Per record, 1 where escalating turns a wrong device answer into a right one (the router's label)."""
    return np.asarray(
        [float(not r["device"]["score"]["correct"] and r["escalation"]["score"]["correct"]) for r in records]
    )


def fit_from_records(
    records: Sequence[dict],
    seed: int = 12,
    calibration_fraction: float = 0.5,
    fitted_on: str = "",
    output_price_ratio: float = OUTPUT_PRICE_RATIO,
) -> tuple[QueryRouter, list[int], list[int]]:
    """The router fitted on the calibration half of records (each with ``device.embedding``,
    ``prompt_tokens`` and the device's, the cloud's and the escalation's scores), its decision point
    chosen there too (``fit_with_threshold``, a cloud answer costing its prompt plus
    ``output_price_ratio`` times its output tokens: the cloud's price ratio, 3.0 for the benchmark's
    illustrative $0.10/$0.30 per million): the router, and the halves' indices."""
    lengths = sorted({embed_length(r) for r in records})
    if len(lengths) > 1:  # a router reads one length; the gateway embeds at one
        raise ValueError(f"records embedded at several lengths ({', '.join(map(str, lengths))} tokens): "
                         f"embed them again at one (bench/cascade.py --embed-tokens {EMBED_TOKENS})")
    cal, held = split_ids([r["id"] for r in records], seed, calibration_fraction)
    recs = [records[i] for i in cal]
    n = np.asarray([r["prompt_tokens"] for r in recs], dtype=np.float64)
    cost = n + output_price_ratio * np.asarray(
        [r["cloud"].get("completion_tokens", 1) for r in recs], dtype=np.float64
    )
    router = fit_with_threshold(
        np.stack([unpack_vector(r["device"]["embedding"]) for r in recs]),
        n,
        escalation_gains(recs),
        np.asarray([r["device"]["score"]["correct"] for r in recs], dtype=np.float64),
        np.asarray([r["cloud"]["score"]["correct"] for r in recs], dtype=np.float64),
        cost,
        [r["id"] for r in recs],
        fitted_on,
    )
    models = {r.get("device_model", "") for r in recs}
    if len(models) > 1:
        raise ValueError(f"records of several device models ({', '.join(sorted(models))}): one router each")
    router.model = models.pop()
    router.embed_tokens = lengths[0]
    return router, cal, held


def embed_length(record: dict) -> int:
    """The prompt tokens the record's embedding read (records from before this was kept: 128)."""
    return int(record["device"].get("embed_tokens", 128))


def fit_with_threshold(
    x: np.ndarray,
    prompt_tokens: np.ndarray,
    gain: np.ndarray,
    device_ok: np.ndarray,
    cloud_ok: np.ndarray,
    cloud_cost: np.ndarray,
    ids: Sequence[str],
    fitted_on: str = "",
) -> QueryRouter:
    """Fit on all of ``x``; the decision point from predictions for items the router did not see
    (5-fold cross-fitting over ``ids``), so it is not set on the router's own memory of its training items."""
    router = QueryRouter.fit(x, prompt_tokens, gain, fitted_on=fitted_on)
    router.threshold = net_benefit_threshold(
        cross_fitted(x, prompt_tokens, gain, ids), device_ok, cloud_ok, cloud_cost
    )
    return router


def cross_fitted(
    x: np.ndarray, prompt_tokens: np.ndarray, gain: np.ndarray, ids: Sequence[str], folds: int = 5,
    seed: int = 3,
) -> np.ndarray:
    """Each item's P(gain) from a router fitted without it (``folds``-fold). The folds are a fixed-seed
    permutation of the items sorted by id, so the result depends on the set of records, not on their order
    (drawn over positions, the same records in another order gave tandem-auto 0.5215 to 0.5246)."""
    order = np.asarray(shuffled_by_id(ids, range(len(x)), seed), dtype=np.intp)
    out = np.zeros(len(x))
    for k in range(folds):
        test = order[k::folds]
        train = np.setdiff1d(order, test)
        if len(set(gain[train].tolist())) < 2:
            out[test] = gain[train].mean() if len(train) else 0.0
            continue
        out[test] = QueryRouter.fit(x[train], prompt_tokens[train], gain[train]).p_gains(
            x[test], prompt_tokens[test]
        )
    return out


CONCENTRATION = 1.25


def net_benefit_threshold(
    p_gain: np.ndarray, device_ok: np.ndarray, cloud_ok: np.ndarray, cloud_cost: np.ndarray
) -> float:
    """The router's decision point: send requests with P(gain) at or above it to the cloud.

    Chosen where sending buys the most quality beyond what the same share of the cloud's cost buys on
    average: maximise (quality gained) - (cloud-only's gain over the device) x (share of cloud cost
    spent), over the shares whose requests buy at least ``CONCENTRATION`` x that average. A router no
    better than chance sends nothing; one that finds where the cloud helps sends just those.
    ``cloud_cost``: each request's cloud-only cost in any unit.
    """
    order = np.argsort(-p_gain, kind="stable")
    gained = np.concatenate([[0.0], np.cumsum((cloud_ok - device_ok)[order])]) / len(p_gain)
    spent = np.concatenate([[0.0], np.cumsum(cloud_cost[order])]) / cloud_cost.sum()
    delta = cloud_ok.mean() - device_ok.mean()
    benefit = gained - delta * spent
    ranked = p_gain[order]
    # a cut never splits tied scores, and the requests it sends must buy at least CONCENTRATION x the average
    # quality per unit of cost (a router that finds nothing would otherwise "send all but a few" on noise)
    cuts = [k for k in range(1, len(ranked) + 1) if (k == len(ranked) or ranked[k - 1] != ranked[k])
            and delta > 0 and gained[k] >= CONCENTRATION * delta * spent[k]]
    best = max((benefit[c] for c in cuts), default=0.0)
    # send the k likeliest: the fewest that reach the best benefit
    k = 0 if best <= 1e-9 else min(c for c in cuts if benefit[c] >= best - 1e-9)
    if k == 0:
        return 1.0 + 1e-9  # nothing: no probability reaches it
    return float(p_gain[order][k - 1])
