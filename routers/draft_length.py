"""How many tokens the device should draft per verification round.

With per-token acceptance probability a, a round with k drafts yields on average
(1 - a^(k+1)) / (1 - a) tokens (accepted drafts plus the cloud's own token), and costs
k device decode steps plus one cloud round trip. The round trip's cost grows with k on
a CPU cloud and barely on a GPU, so it is learnt online as ``rtt + per_token * k`` by
least squares over the recent rounds. k is the argmax of tokens per second.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field


@dataclass
class DraftLengthController:
    k: int = 4
    k_min: int = 1
    k_max: int = 8
    adaptive: bool = True
    alpha: float = 0.1  # EWMA weight for acceptance and draft speed
    acceptance: float = 0.8  # per-token acceptance estimate
    draft_s: float = 0.02  # prior seconds per drafted token
    _successes: float = 4.0  # prior worth a few rounds at `acceptance`
    _trials: float = 5.0
    _rounds: deque[tuple[int, float]] = field(default_factory=lambda: deque(maxlen=32))

    def observe(self, k: int, accepted: int, verify_s: float, draft_s_per_token: float | None) -> None:
        if k > 0:
            # each round is a run of successes ended by one failure (unless all k passed):
            # the geometric estimate is successes / trials, with old rounds decaying
            trials = accepted + (1 if accepted < k else 0)
            self._successes = (1 - self.alpha) * self._successes + accepted
            self._trials = (1 - self.alpha) * self._trials + trials
            self.acceptance = self._successes / self._trials
        if draft_s_per_token is not None:
            self.draft_s = (1 - self.alpha) * self.draft_s + self.alpha * draft_s_per_token
        self._rounds.append((k, verify_s))
        if self.adaptive:
            self.k = self.best_k()

    def verify_cost(self, k: int) -> float:
        """Predicted seconds of one verification call with k drafts (fit: intercept + slope * k)."""
        if not self._rounds:
            return 0.05
        ks = [r[0] for r in self._rounds]
        ts = [r[1] for r in self._rounds]
        mean_k, mean_t = sum(ks) / len(ks), sum(ts) / len(ts)
        var = sum((x - mean_k) ** 2 for x in ks)
        slope = max(0.0, sum((x - mean_k) * (y - mean_t) for x, y in zip(ks, ts)) / var) if var else 0.0
        return max(1e-4, mean_t + slope * (k - mean_k))

    def expected_tokens(self, k: int) -> float:
        a = min(self.acceptance, 0.999)
        return (1 - a ** (k + 1)) / (1 - a)

    def best_k(self) -> int:
        def rate(k: int) -> float:
            return self.expected_tokens(k) / (k * self.draft_s + self.verify_cost(k))

        return max(range(self.k_min, self.k_max + 1), key=rate)
