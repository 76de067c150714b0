"""How many tokens the device should draft per verification round.

With per-token acceptance probability a, a round with k drafts yields on average
(1 - a^(k+1)) / (1 - a) tokens (accepted drafts plus the cloud's own token), and costs
k device decode steps plus one verification call. With pipelining the device drafts on
while the call runs, and when the whole round is accepted (probability a^k) what it drafted
meanwhile opens the next round: that saves at most the call's own time, never more than
the k drafts. The call's cost grows with k on a CPU cloud and barely on a GPU, so it is
learnt online as ``intercept + slope * k`` by least squares over recent rounds; every few
rounds a neighbouring k is tried so that the slope stays measurable. k is the argmax of
expected tokens per second.

A round whose cost k does not explain (a request's first, which carries the prompt's
prefill on both sides) teaches acceptance only: pass ``verify_s=None``. One such round
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
    alpha: float = 0.1  # weight of the newest round in the running estimates
    draft_s: float = 0.02  # seconds per drafted token (running estimate)
    explore_every: int = 6
    # drafts made while the cloud verifies open the next round when this one is all accepted
    pipelined: bool = False
    _successes: float = 4.0  # prior: a few rounds' worth of a = 0.8
    _trials: float = 5.0
    _rounds: deque[tuple[int, float]] = field(default_factory=lambda: deque(maxlen=48))
    _n: int = 0

    @property
    def acceptance(self) -> float:
        """Per-token acceptance estimate: successes / trials, each round a run ended by one failure."""
        return self._successes / self._trials

    def observe(self, k: int, accepted: int, verify_s: float | None, draft_s_per_token: float | None) -> None:
        """Learn from one round; ``verify_s=None``: its timings include work k does not explain."""
        if k <= 0:  # a bare "next token" call says nothing about drafting
            return
        trials = accepted + (1 if accepted < k else 0)
        self._successes = (1 - self.alpha) * self._successes + accepted
        self._trials = (1 - self.alpha) * self._trials + trials
        if verify_s is None:
            return
        if draft_s_per_token is not None:
            self.draft_s = (1 - self.alpha) * self.draft_s + self.alpha * draft_s_per_token
        self._rounds.append((k, verify_s))
        self._n += 1
        if self.adaptive:
            best = self.best_k()
            if self._n % self.explore_every == 0:  # probe a neighbour so the cost slope stays known
                up = best < self.k_max and (self._n // self.explore_every) % 2
                best = best + 1 if up else max(self.k_min, best - 1)
            self.k = best

    def verify_cost(self, k: int) -> float:
        """Predicted seconds of one verification call with k drafts."""
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
        a = min(self.acceptance, 0.999)

        def rate(k: int) -> float:
            verify, drafting = self.verify_cost(k), k * self.draft_s
            if self.pipelined:  # a short call hides little drafting: a 50 ms GPU pass, not a 0.5 s draft of 8
                drafting -= a ** k * min(drafting, verify)
            return self.expected_tokens(k) / (drafting + verify)

        return max(range(self.k_min, self.k_max + 1), key=rate)
