"""Cloud budgets: a per-key allowance of cloud tokens per time window.

Once a key has spent its allowance in the current window its requests stay on the
device (the trace says why) until the window rolls over. Spending is recorded after the
fact from the route trace, so an answer is never cut off mid-way by the budget.
"""

from __future__ import annotations

import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import Callable


@dataclass
class CloudBudget:
    tokens_per_window: int | None = None  # None: unlimited
    window_s: float = 3600.0
    clock: Callable[[], float] = time.monotonic
    _spent: dict[str, deque[tuple[float, int]]] = field(default_factory=lambda: defaultdict(deque))

    def _prune(self, key: str) -> deque[tuple[float, int]]:
        q = self._spent[key]
        horizon = self.clock() - self.window_s
        while q and q[0][0] <= horizon:
            q.popleft()
        return q

    def spent(self, key: str) -> int:
        return sum(n for _, n in self._prune(key))

    def remaining(self, key: str) -> int | None:
        if self.tokens_per_window is None:
            return None
        return max(0, self.tokens_per_window - self.spent(key))

    def allows(self, key: str) -> bool:
        remaining = self.remaining(key)
        return remaining is None or remaining > 0

    def record(self, key: str, cloud_tokens: int) -> None:
        """Charge a key for the tokens the cloud processed for it (prompt and completion)."""
        if cloud_tokens > 0:
            self._prune(key).append((self.clock(), cloud_tokens))
