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

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np


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
                    "threshold": self.threshold,
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
            threshold=float(d["threshold"]),
            fitted_on=d.get("fitted_on", ""),
        )

    @property
    def dim(self) -> int:
        return int(self.center.shape[0])


def _features(
    x: np.ndarray, prompt_tokens: np.ndarray, center: np.ndarray, components: np.ndarray
) -> np.ndarray:
    return np.hstack([(x - center) @ components.T, np.log1p(prompt_tokens)[:, None]])


def split_ids(ids: Sequence[str], seed: int = 12,
              calibration_fraction: float = 0.5) -> tuple[list[int], list[int]]:
    """Indices of the calibration and held-out halves: a fixed-seed permutation of the sorted ids,
    so the split depends only on the set of items, not on their order or on when they were run."""
    cal: list[int] = []
    held: list[int] = []
    for task in sorted({task_of(i) for i in ids}):  # task by task: a mixed workload's halves are its tasks'
        mine = [i for i in range(len(ids)) if task_of(ids[i]) == task]
        order = sorted(mine, key=lambda i: ids[i])
        perm = np.random.default_rng(seed).permutation(len(order))
        n_cal = round(calibration_fraction * len(order))
        cal += [order[i] for i in perm[:n_cal]]
        held += [order[i] for i in perm[n_cal:]]
    return sorted(cal), sorted(held)


def task_of(item_id: str) -> str:
    """``HumanEval/12`` -> ``humaneval``: the task an item id belongs to."""
    return item_id.split("/", 1)[0].lower()
