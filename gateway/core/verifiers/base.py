"""One small interface for every check of a device answer: answer in, verdict out.

    chain = VerifierChain([Degeneration(), Confidence(router), CloudCheck(cloud, ...)])
    verdicts = await chain.check(answer)      # cheap checks first; the first failure ends it
    escalate = any(v.failed for v in verdicts)

A verdict is ``pass`` (the answer stands as far as this check can tell), ``fail`` (hand it
to the cloud), or ``unknown`` (this check cannot judge it: an answer with no code for the
examples check, a cloud that is down for the cloud check). It carries a score (higher =
better, in the verifier's own units), a short reason for the trace, and what the check
cost, so the route trace and ``/metrics`` can say what each verifier spent.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Literal, Protocol

from device_runtime.engine import TokenEvent

Outcome = Literal["pass", "fail", "unknown"]


@dataclass(frozen=True)
class DeviceAnswer:
    """What a verifier sees: the prompt as the model saw it and the device's whole answer."""

    prompt_tokens: list[int]
    events: list[TokenEvent]  # ids, log-probabilities (and entropies when a check asked for them)
    text: str  # the answer's text, as the client would see it before restoring redacted values
    finish_reason: str | None  # "length": cut by max_tokens
    messages: list[dict] | None = None  # the chat, for checks that read the question (examples)

    @property
    def token_ids(self) -> list[int]:
        return [ev.token_id for ev in self.events]

    @property
    def logprobs(self) -> list[float]:
        return [ev.logprob for ev in self.events]


@dataclass(frozen=True)
class Verdict:
    verifier: str
    outcome: Outcome
    score: float | None = None
    reason: str = ""
    seconds: float = 0.0
    cloud_calls: int = 0

    @property
    def failed(self) -> bool:
        return self.outcome == "fail"

    def as_trace(self) -> dict:
        """For the route trace: never the answer's text, only the check's outcome and cost."""
        return {
            "verifier": self.verifier,
            "outcome": self.outcome,
            "score": None if self.score is None else round(self.score, 4),
            "reason": self.reason,
            "ms": round(self.seconds * 1000, 2),
            "cloud_calls": self.cloud_calls,
        }


class Verifier(Protocol):
    name: str

    async def check(self, answer: DeviceAnswer) -> Verdict: ...


@dataclass
class VerifierChain:
    """The configured checks, cheapest first; the first ``fail`` decides and later checks are skipped."""

    verifiers: Sequence[Verifier] = field(default_factory=list)

    @property
    def names(self) -> list[str]:
        return [v.name for v in self.verifiers]

    async def check(self, answer: DeviceAnswer) -> list[Verdict]:
        verdicts = []
        for verifier in self.verifiers:
            t0 = time.perf_counter()
            verdict = await verifier.check(answer)
            if not verdict.seconds:
                verdict = replace(verdict, seconds=time.perf_counter() - t0)
            verdicts.append(verdict)
            if verdict.failed:
                break
        return verdicts
