"""The device's own confidence over its whole answer (``cascade.method``, ``cascade.threshold``).

Measured on our pair it routes no better than chance (docs/benchmarks.md); it stays as one
signal among the verifiers, cheap and local, for setups where it was calibrated to work.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.core.verifiers.base import DeviceAnswer, Verdict
from routers.confidence import ConfidenceRouter


@dataclass
class Confidence:
    router: ConfidenceRouter
    name: str = "confidence"

    async def check(self, answer: DeviceAnswer) -> Verdict:
        entropies = [ev.entropy or 0.0 for ev in answer.events] if self.router.needs_entropy else None
        score = self.router.score(answer.logprobs, entropies)
        low = score < self.router.threshold
        return Verdict(self.name, "fail" if low else "pass", score, "low confidence" if low else "")
