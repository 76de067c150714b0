"""Device–cloud speculative decoding: the device drafts, the cloud verifies, both stay in step.

One round (after gpt-fast's ``speculative_decode``)::

    drafts  = device.draft(k)                       # k cheap decode steps, cached
    result  = cloud.verify(context, drafts)         # one cloud pass over all k
    tokens  = drafts[:accepted] + [cloud's token]   # correction, or bonus if all accepted
    device.accept(accepted, correction)             # roll the KV cache back, go on

At temperature 0 acceptance is "the cloud's argmax agrees", so the output is the cloud's
own greedy output. At temperature > 0 it is rejection sampling: accept a draft x with
probability min(1, p(x)/q(x)), else draw from the residual max(0, p - q); p comes from
the cloud's top-k log-probabilities (mass outside them is treated as zero — a documented
approximation), q is the device's full sampling distribution.

While a verification is in flight the device keeps drafting as if everything will be
accepted (pipelining, after PipeSD/PicoSpec): when the cloud's bonus token equals the
first pre-drafted token, the rest are next round's drafts at no waiting cost.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import AsyncIterator, Sequence

import numpy as np

from device_runtime.engine import DraftToken, LlamaEngine
from device_runtime.sampling import sample_from
from device_runtime.worker import EngineCall
from routers.draft_length import DraftLengthController

from .cloud import CallStats, CloudClient, VerifyResult, VerifySession
from .output import AnswerBuilder, Chunk
from .trace import RouteTrace


def target_probs(top: Sequence[tuple[int, float]], temperature: float, top_p: float = 1.0) -> dict[int, float]:
    """The cloud's sampling distribution over its top-k tokens (raw logprobs → temperature → top-p)."""
    if not top:
        return {}
    ids = np.array([t for t, _ in top])
    lp = np.array([lp for _, lp in top], dtype=np.float64) / max(temperature, 1e-6)
    p = np.exp(lp - lp.max())
    p /= p.sum()
    order = np.argsort(-p)
    keep = order[: int(np.searchsorted(np.cumsum(p[order]), top_p)) + 1]
    p_keep = p[keep] / p[keep].sum()
    return {int(ids[i]): float(pi) for i, pi in zip(keep, p_keep)}


def _draw(dist: dict[int, float], rng: np.random.Generator) -> int:
    ids = list(dist)
    return ids[sample_from(np.array([dist[i] for i in ids]), rng)]


def rejection_accept(drafts: Sequence[DraftToken], target_top: Sequence[Sequence[tuple[int, float]]],
                     temperature: float, top_p: float, rng: np.random.Generator) -> tuple[int, list[int]]:
    """Speculative sampling (Leviathan et al. / Chen et al.): accepted count and the new tokens."""
    for i, d in enumerate(drafts):
        p = target_probs(target_top[i], temperature, top_p)
        px = p.get(d.token_id, 0.0)
        if rng.random() < min(1.0, px / max(d.q, 1e-12)):
            continue
        residual = {t: max(0.0, pt - (float(d.q_dist[t]) if d.q_dist is not None else 0.0)) for t, pt in p.items()}
        if sum(residual.values()) <= 0:
            residual = p
        return i, [x.token_id for x in drafts[:i]] + [_draw(residual, rng)]
    bonus = _draw(target_probs(target_top[len(drafts)], temperature, top_p), rng)
    return len(drafts), [x.token_id for x in drafts] + [bonus]


@dataclass
class SpeculativeSettings:
    pipeline: bool = True
    skip_verify_above: float | None = None  # opportunistic: trust drafts at least this sure
    skip_verify_at_greedy: bool = False


class SpeculativeDecoder:
    """Runs draft/verify rounds for one request; the caller holds the device's turn."""

    def __init__(self, engine: LlamaEngine, call: EngineCall, cloud: CloudClient, out: AnswerBuilder,
                 trace: RouteTrace, stats: CallStats, controller: DraftLengthController,
                 settings: SpeculativeSettings, temperature: float, top_p: float, seed: int | None,
                 want_logprobs: bool = False):
        self.engine, self.call, self.cloud, self.out = engine, call, cloud, out
        self.trace, self.stats, self.ctrl, self.settings = trace, stats, controller, settings
        self.temperature, self.top_p = temperature, top_p
        self.rng = np.random.default_rng(seed)
        self.want_top = temperature > 0 or want_logprobs
        self.context: list[int] = []
        self.session = VerifySession()  # lets rounds after the first send only what is new

    def _skip_threshold(self) -> float | None:
        thr = self.settings.skip_verify_above
        if thr is None or (self.temperature <= 0 and not self.settings.skip_verify_at_greedy):
            return None
        return thr

    async def run(self, context: Sequence[int]) -> AsyncIterator[Chunk]:
        """Generate from ``context`` (prompt + what is already answered) until the answer is done."""
        self.context = list(context)
        await self.call(self.engine.sync, self.context)
        carry: list[DraftToken] = []
        while not self.out.finished:
            k = max(0, min(self.ctrl.k, self.out.remaining - 1))
            base = len(self.context)
            drafts = carry[:k]
            if len(carry) > k:  # pre-drafted more than this round may use: drop the excess from the cache
                await self.call(self.engine.truncate, base + k)
            carry = []
            t0 = time.perf_counter()
            fresh = 0
            if len(drafts) < k and not (drafts and self.engine.is_eos(drafts[-1].token_id)):
                more = await self.call(self.engine.draft, k - len(drafts), self.temperature, self.top_p, self.rng)
                fresh = len(more)
                drafts += more
            draft_s = (time.perf_counter() - t0) / fresh if fresh else None

            threshold = self._skip_threshold()
            if threshold is not None and drafts and all(d.q >= threshold and np.exp(d.logprob) >= threshold
                                                        for d in drafts):
                for chunk in self._emit([d.token_id for d in drafts], len(drafts), drafts, None):
                    yield chunk
                self.trace.unverified_tokens += len(drafts)
                self.context += [d.token_id for d in drafts]
                continue

            ids = [d.token_id for d in drafts]
            t_call = time.perf_counter()
            verify = asyncio.create_task(self.cloud.verify(self.context, ids, self.stats, self.want_top, self.session))
            extra: list[DraftToken] = []
            try:
                if self.settings.pipeline and ids and not self.engine.is_eos(ids[-1]):
                    while not verify.done() and len(extra) < self.ctrl.k_max:
                        extra += await self.call(self.engine.draft, 1, self.temperature, self.top_p, self.rng)
                        if not extra or self.engine.is_eos(extra[-1].token_id):
                            break
                result: VerifyResult = await verify
            finally:
                if not verify.done():
                    verify.cancel()
            verify_s = time.perf_counter() - t_call

            if self.temperature > 0:
                accepted, tokens = rejection_accept(drafts, result.target_top, self.temperature, self.top_p, self.rng)
            else:
                accepted, tokens = result.accepted, result.tokens
            self.trace.drafts_proposed += len(ids)
            self.trace.drafts_accepted += accepted
            self.trace.cloud_passes += 1
            self.trace.draft_lengths.append(len(ids))
            self.ctrl.observe(len(ids), accepted, verify_s, draft_s)

            for chunk in self._emit(tokens, accepted, drafts, result):
                yield chunk
            self.context += tokens
            if self.out.finished:
                return
            if accepted == len(ids) and extra and tokens[-1] == extra[0].token_id:
                carry = extra[1:]  # the cache already holds bonus + these: next round's drafts
            else:
                await self.call(self.engine.accept, base, accepted, tokens[accepted:])

    def _emit(self, tokens: Sequence[int], accepted: int, drafts: Sequence[DraftToken],
              result: VerifyResult | None) -> list[Chunk]:
        chunks = []
        for j, token in enumerate(tokens):
            top = result.target_top[j] if result is not None and j < len(result.target_top) else []
            logprob = dict(top).get(token) if top else None
            if logprob is None and j < len(drafts) and j < accepted:
                logprob = drafts[j].logprob
            chunk = self.out.add_token(token, "device" if j < accepted else "cloud", logprob, top)
            if chunk is not None:
                chunks.append(chunk)
            if self.out.finished:
                break
        return chunks
