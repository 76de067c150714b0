"""The cloud check: the cloud scores the device's answer in one verification pass.

The big model reads the prompt and the device's tokens teacher-forced, in one prefill (the
same route speculative decoding uses: cache-keeping on vLLM and on the local cloud), which
costs input tokens, not generated ones. Measured on 80 HumanEval problems, the lowest
log-probability the 1.5B gives any of the 0.5B's tokens predicts the answer's correctness
with AUROC 0.895, against 0.708 for the device's best own score.

Features, in the trace: the share of tokens where the cloud's best token is the device's, the
mean and the minimum of the cloud's log-probability of the device's tokens, and the first
material disagreement (the first token the cloud prefers another over by more than
``margin``). The verdict fails when the minimum is below ``threshold``; the cascade then
hands the answer to the speculative path, which keeps the device's tokens up to the cloud's
first rejection and lets the cloud continue from there.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.cloud_client.client import CloudClient
from gateway.cloud_client.errors import CloudError
from gateway.cloud_client.transport import CallStats
from gateway.core.acceptance import VerifyResult, lenient_accept
from gateway.core.verifiers.base import DeviceAnswer, Verdict


@dataclass(frozen=True)
class CloudScores:
    agree: float  # share of device tokens that are the cloud's best token
    mean_logprob: float
    min_logprob: float
    first_disagreement: int | None  # first token the cloud prefers another over by more than the margin

    @classmethod
    def of(cls, draft: list[int], result: VerifyResult, margin: float) -> CloudScores:
        lps = [result.draft_logprob(i) for i in range(len(draft))]
        known = [
            lp if lp is not None else dict(result.target_top[i]).get(t, -100.0)
            for i, (t, lp) in enumerate(zip(draft, lps))
        ]
        agree = sum(t == result.target_top[i][0][0] for i, t in enumerate(draft)) / len(draft)
        accepted, _ = lenient_accept(draft, result, margin)
        return cls(agree, sum(known) / len(known), min(known), accepted if accepted < len(draft) else None)


@dataclass
class CloudCheck:
    cloud: CloudClient
    stats: CallStats
    threshold: float = -8.0
    margin: float = 0.0
    name: str = "cloud_check"

    async def check(self, answer: DeviceAnswer) -> Verdict:
        draft = answer.token_ids
        if not draft:
            return Verdict(self.name, "unknown", reason="empty answer")
        calls = self.stats.calls
        try:
            result = await self.cloud.verify(answer.prompt_tokens, draft, self.stats, True)
        except CloudError as exc:
            return Verdict(self.name, "unknown", reason=exc.public, cloud_calls=self.stats.calls - calls)
        s = CloudScores.of(draft, result, self.margin)
        fail = s.min_logprob < self.threshold
        reason = f"agree {s.agree:.2f}, mean {s.mean_logprob:.2f}, min {s.min_logprob:.2f}" + (
            f", first disagreement at token {s.first_disagreement}"
            if s.first_disagreement is not None
            else ""
        )
        return Verdict(
            self.name, "fail" if fail else "pass", s.min_logprob, reason, cloud_calls=self.stats.calls - calls
        )
