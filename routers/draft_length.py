"""How many tokens the device should draft per verification round.

With per-token acceptance probability a, a round with k drafts yields on average
(1 - a^(k+1)) / (1 - a) tokens (accepted drafts plus the cloud's own token). What a round
costs is learnt from the rounds themselves: its wall time from the start of its drafting to
the cloud's verdict, fitted as ``intercept + slope * k`` by least squares over recent rounds.
k is the argmax of expected tokens per second; every few rounds a neighbouring k is tried
so that the slope stays measurable.

Why the whole round and not its parts: a round also does work that does not grow with k
(the device catching up to the cloud's token, one decode; the call's own overhead), and
drafting overlaps the call when pipelined. Timed per drafted token, the fixed work was shared
among the drafts of the round it was measured in and then charged k times over: measured at
k = 1 a draft cost two decodes, so a round of 8 looked like 16, and the controller stayed at
1-2 drafts a round for hundreds of rounds where 8 was 1.5x faster
(bench/results/lenient_adaptive.md). A round's wall time puts the fixed work in the intercept,
where it belongs, and counts what pipelining hides as hidden.

A round whose cost k does not explain (a request's first, which carries the prompt's
prefill on both sides) teaches acceptance only: pass ``round_s=None``. One such round
in the cost history reads as "short drafts are dear" and drove k to its maximum on a
CPU cloud for the next 48 rounds.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field


def expected_tokens_per_pass(acceptance: float, k: int) -> float:
    """Tokens one round yields on average when each draft is accepted with probability ``acceptance``
    independently: accepted drafts plus the cloud's own token, (1 - a^(k+1)) / (1 - a)."""
    a = min(max(acceptance, 0.0), 0.999)
    return (1 - a ** (k + 1)) / (1 - a)


@dataclass
class DraftLengthController:
    k: int = 4
    k_min: int = 1
    k_max: int = 8
    adaptive: bool = True
    alpha: float = 0.1  # weight of the newest round in the acceptance estimate
    explore_every: int = 6
    _successes: float = 4.0  # prior: a few rounds' worth of a = 0.8
    _trials: float = 5.0
    _rounds: deque[tuple[int, float]] = field(default_factory=lambda: deque(maxlen=48))
    _n: int = 0

    @property
    def acceptance(self) -> float:
        """Per-token acceptance estimate: successes / trials, each round a run ended by one failure."""
        return self._successes / self._trials

    def observe(self, k: int, accepted: int, round_s: float | None) -> None:
        """Learn from one round of ``k`` drafts taking ``round_s`` seconds (drafting and verification);
        ``round_s=None``: its time includes work k does not explain."""
        if k <= 0:  # a bare "next token" call says nothing about drafting
            return
        trials = accepted + (1 if accepted < k else 0)
        self._successes = (1 - self.alpha) * self._successes + accepted
        self._trials = (1 - self.alpha) * self._trials + trials
        if round_s is None:
            return
        self._rounds.append((k, round_s))
        self._n += 1
        if self.adaptive:
            best = self.best_k()
            if self._n % self.explore_every == 0:  # probe a neighbour so the cost slope stays known
                up = best < self.k_max and (self._n // self.explore_every) % 2
                best = best + 1 if up else max(self.k_min, best - 1)
            self.k = best

    def round_cost(self, k: int) -> float:
        """Predicted seconds of one round with k drafts."""
        if not self._rounds:
            return 0.05
        ks = [r[0] for r in self._rounds]
        ts = [r[1] for r in self._rounds]
        mean_k, mean_t = sum(ks) / len(ks), sum(ts) / len(ts)
        var = sum((x - mean_k) ** 2 for x in ks)
        slope = max(0.0, sum((x - mean_k) * (y - mean_t) for x, y in zip(ks, ts)) / var) if var else 0.0
        return max(1e-4, mean_t + slope * (k - mean_k))

    def expected_tokens(self, k: int) -> float:
        return expected_tokens_per_pass(self.acceptance, k)

    def best_k(self) -> int:
        def rate(k: int) -> float:  # expected tokens per second
            return self.expected_tokens(k) / self.round_cost(k)

        return max(range(self.k_min, self.k_max + 1), key=rate)
