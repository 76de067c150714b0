"""How sure the device model is of its own answer, from its token log-probabilities.

Scores are in log-probability units (higher = surer). The cascade escalates an answer
whose score falls below a threshold; the threshold is *calibrated* from data — either
to send a target fraction of requests to the cloud, or to reach a target quality when
the correctness of device answers is known (``tandem calibrate``).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

METHODS = ("mean", "min", "tail", "entropy")


def score(logprobs: Sequence[float], method: str = "tail", quantile: float = 0.1,
          entropies: Sequence[float] | None = None) -> float:
    """One number per answer; -inf when there is nothing to judge by.

    ``entropies``: per token, the entropy of the model's whole next-token distribution (the
    engine computes it when asked); the ``entropy`` method needs them.
    """
    if not len(logprobs):
        return -math.inf
    lp = np.asarray(logprobs, dtype=np.float64)
    if method == "mean":
        return float(lp.mean())
    if method == "min":
        return float(lp.min())
    if method == "tail":  # mean of the worst `quantile` of tokens: one shaky stretch counts
        n = max(1, int(math.ceil(quantile * len(lp))))
        return float(np.sort(lp)[:n].mean())
    if method == "entropy":  # negative mean entropy of the next-token distributions
        if entropies is None or len(entropies) != len(lp):
            raise ValueError(
                "entropy confidence needs each token's entropy (generate(..., with_entropy=True))")
        return -float(np.mean(np.asarray(entropies, dtype=np.float64)))
    raise ValueError(f"unknown confidence method {method!r}; one of {METHODS}")


def running_mean(logprobs: Sequence[float], window: int) -> np.ndarray:
    """Mean log-probability of the last ``window`` tokens at each position (fewer at the start):
    the streaming cascade's confidence as it would stand after each token."""
    lp = np.asarray(logprobs, dtype=np.float64)
    if not len(lp):
        return lp
    c = np.concatenate([[0.0], np.cumsum(lp)])
    i = np.arange(1, len(lp) + 1)
    lo = np.maximum(0, i - window)
    return (c[i] - c[lo]) / (i - lo)


def stream_score(logprobs: Sequence[float], window: int) -> float:
    """The lowest running mean: the streaming cascade hands an answer over iff this falls below its
    threshold, so the gate's threshold fitting applies to it unchanged (-inf for an empty answer)."""
    return float(running_mean(logprobs, window).min()) if len(logprobs) else -math.inf


def first_unsure(logprobs: Sequence[float], window: int, threshold: float) -> int | None:
    """Where the streaming cascade hands over: the first token whose running mean falls below
    ``threshold`` (that token is held back), or None when the device keeps the whole answer."""
    below = np.flatnonzero(running_mean(logprobs, window) < threshold)
    return int(below[0]) if len(below) else None


@dataclass
class RunningConfidence:
    """``running_mean`` one token at a time, for an answer that streams while it is judged."""

    window: int
    threshold: float
    lowest: float = math.inf  # the lowest running mean so far: the answer's streaming score
    _recent: deque = field(default_factory=deque, repr=False)

    def unsure_after(self, logprob: float) -> bool:
        """Add one token; True when the running mean now falls below the threshold (hand over here)."""
        self._recent.append(logprob)
        if len(self._recent) > self.window:
            self._recent.popleft()
        mean = math.fsum(self._recent) / len(self._recent)
        self.lowest = min(self.lowest, mean)
        return mean < self.threshold


@dataclass
class ConfidenceRouter:
    """The cascade's two judges: the gate scores a whole answer; the stream judges as tokens come."""

    threshold: float = -1.0
    method: str = "tail"
    quantile: float = 0.1
    window: int = 8  # streaming: the running mean covers this many tokens…
    window_threshold: float = -1.0  # …and falling below this hands the rest to the cloud

    @property
    def needs_entropy(self) -> bool:
        """The engine computes per-token entropy only when a score uses it."""
        return self.method == "entropy"

    def score(self, logprobs: Sequence[float], entropies: Sequence[float] | None = None) -> float:
        return score(logprobs, self.method, self.quantile, entropies)

    def running(self) -> RunningConfidence:
        """A fresh streaming judge for one answer."""
        return RunningConfidence(self.window, self.window_threshold)


def _between(lo: float, hi: float) -> float:
    """A threshold t with lo < t <= hi (escalate when score < t).

    -inf scores (loops, empty answers) sort first.
    """
    if lo == -math.inf:
        return hi
    return (lo + hi) / 2


def threshold_for_cloud_fraction(scores: Sequence[float], cloud_fraction: float) -> float:
    """The threshold under which ``cloud_fraction`` of these answers fall (they escalate).

    Ties at the boundary stay together (all kept), so the realised fraction can fall short.
    """
    if not 0.0 <= cloud_fraction <= 1.0:
        raise ValueError("cloud_fraction must be within [0, 1]")
    s = np.sort(np.asarray(scores, dtype=np.float64))
    if cloud_fraction <= 0:
        return float(s[0]) - 1e-9 if np.isfinite(s[0]) else -math.inf
    if cloud_fraction >= 1:
        return float(s[-1]) + 1e-9 if np.isfinite(s[-1]) else math.inf
    idx = int(round(cloud_fraction * len(s)))
    if idx <= 0:
        return float(s[0]) - 1e-9 if np.isfinite(s[0]) else -math.inf
    if idx >= len(s):
        return float(s[-1]) + 1e-9
    return float(_between(float(s[idx - 1]), float(s[idx])))


def threshold_for_quality(scores: Sequence[float], device_correct: Sequence[bool], target_quality: float,
                          cloud_quality: float = 1.0,
                          escalated_correct: Sequence[bool] | None = None) -> float:
    """Lowest threshold (fewest escalations) whose cascade quality reaches the target.

    Kept answers are right when the device was right; escalated ones get ``cloud_quality``,
    or, when known per answer (a benchmark that scored the escalated answers), their own
    ``escalated_correct``. Returns +inf (always escalate) if no threshold reaches the target.
    """
    s = np.asarray(scores, dtype=np.float64)
    kept_ok = np.asarray(device_correct, dtype=np.float64)
    esc_ok = (np.full(len(s), cloud_quality) if escalated_correct is None
              else np.asarray(escalated_correct, dtype=np.float64))
    order = np.argsort(s, kind="stable")
    s, kept_ok, esc_ok = s[order], kept_ok[order], esc_ok[order]
    n = len(s)
    # escalating the i lowest scores: quality = (escalated-right among them + device-right among the rest) / n
    quality = (np.concatenate([[0.0], np.cumsum(esc_ok)])
               + np.concatenate([[kept_ok.sum()], kept_ok.sum() - np.cumsum(kept_ok)])) / n
    for i in range(n + 1):  # ascending threshold: escalate more as we go
        if i < n and i > 0 and s[i] == s[i - 1]:
            continue  # no threshold separates tied scores
        if quality[i] >= target_quality - 1e-12:
            if i == 0:
                return float(s[0]) - 1e-9 if np.isfinite(s[0]) else -math.inf
            if i == n:
                return float(s[-1]) + 1e-9 if np.isfinite(s[-1]) else math.inf
            return float(_between(float(s[i - 1]), float(s[i])))
    return math.inf
