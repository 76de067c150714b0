"""Token choice from raw logits, in numpy, so every mode sees the same probabilities.

llama.cpp's own sampler chain hides the distribution it sampled from; speculative
rejection sampling and confidence scores need it, so the device samples here instead.
"""

from __future__ import annotations

import numpy as np

# top-p works on the best candidates only; past this many the tail mass is negligible
TOP_P_CANDIDATES = 4096
# below this temperature sampling is greedy (vLLM's _SAMPLING_EPS): logits / 1e-300 overflow to inf and NaN
GREEDY_BELOW = 1e-5


def log_softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits.astype(np.float64, copy=False) - float(np.max(logits))
    return shifted - np.log(np.exp(shifted).sum())


def top_logprobs(logprobs: np.ndarray, n: int) -> list[tuple[int, float]]:
    """The n most likely tokens, best first."""
    if n <= 0:
        return []
    idx = np.argpartition(-logprobs, n)[:n] if n < logprobs.shape[0] else np.arange(logprobs.shape[0])
    idx = idx[np.argsort(-logprobs[idx])]
    return [(int(i), float(logprobs[i])) for i in idx if np.isfinite(logprobs[i])]  # never a forbidden token


def sampling_probs(logits: np.ndarray, temperature: float, top_p: float = 1.0) -> np.ndarray:
    """The dense distribution a sampler at (temperature, top_p) draws from; one-hot when greedy."""
    probs = np.zeros(logits.shape[0], dtype=np.float64)
    if temperature < GREEDY_BELOW:
        probs[int(np.argmax(logits))] = 1.0
        return probs
    scaled = np.exp(log_softmax(logits / temperature))
    if top_p >= 1.0:
        return scaled
    n = min(TOP_P_CANDIDATES, scaled.shape[0] - 1)
    cand = np.argpartition(-scaled, n)[:n]
    cand = cand[np.argsort(-scaled[cand])]
    cum = np.cumsum(scaled[cand])
    keep = cand[: int(np.searchsorted(cum, top_p)) + 1]
    probs[keep] = scaled[keep]
    return probs / probs.sum()


def sample_from(probs: np.ndarray, rng: np.random.Generator) -> int:
    """Inverse-CDF draw; cheaper than rng.choice's validation on a 150k vocabulary."""
    cum = np.cumsum(probs)
    return int(min(np.searchsorted(cum, rng.random() * cum[-1], side="right"), probs.shape[0] - 1))


def entropy(logprobs: np.ndarray) -> float:
    """Shannon entropy (nats) of a full log-distribution: how spread the model's belief is."""
    p = np.exp(logprobs)
    return float(-(p * np.where(p > 0, logprobs, 0.0)).sum())  # a token a grammar forbids (-inf) adds 0


# rejection sampling needs q at the cloud's top tokens only; the device keeps its own best few
Q_TOP = 64


def sparse_top(probs: np.ndarray, n: int = Q_TOP) -> dict[int, float]:
    """The n most probable tokens of a dense distribution (zero-probability ones dropped)."""
    n = min(n, probs.shape[0] - 1)
    idx = np.argpartition(-probs, n)[:n]
    return {int(i): float(probs[i]) for i in idx if probs[i] > 0}


class PositionalRng:
    """Random draws keyed by (stream, position in the sequence), not by how many came before.

    Speculative decoding draws at timing-dependent moments (drafting goes on while the cloud
    verifies; rejected drafts are thrown away), so one sequential generator would make a
    seeded request's output depend on network timing. Keyed draws do not.
    """

    DRAFT, ACCEPT = 0, 1

    def __init__(self, seed: int | None):
        if seed is None:
            entropy = np.random.SeedSequence().entropy  # an int when no entropy is passed in
            assert isinstance(entropy, int)
            seed = entropy
        self.entropy = seed

    def at(self, stream: int, position: int) -> np.random.Generator:
        return np.random.default_rng([self.entropy, stream, position])
