"""Device–cloud speculative decoding: the device drafts, the cloud verifies, both stay in step.

One round (after gpt-fast's ``speculative_decode``)::

    drafts = device.draft(k)                        # k cheap decode steps, cached
    result = cloud.verify(context, drafts)          # one cloud pass over all k
    tokens = drafts[:accepted] + [cloud's token]    # correction, or bonus if all accepted
    context += tokens                               # the device's cache follows on the next draft

At temperature 0 acceptance is "the cloud's argmax agrees", so the output is the cloud's
own greedy output. At temperature > 0 it is rejection sampling: accept a draft x with
probability min(1, p(x)/q(x)), else draw from the residual max(0, p - q); p comes from
the cloud's top-k log-probabilities (mass outside them is treated as zero — a documented
approximation), q is the device's sampling distribution (its best ``Q_TOP`` tokens).
Random draws are keyed by sequence position, and a seeded sampling request keeps the
configured k (the adaptive one follows timing), so a seed reproduces the answer.

The drafts need not be fresh: the cascade hands in the device's finished answer as
``ahead`` and this same loop verifies it chunk by chunk, so one verification path (and one
acceptance rule) serves both modes. While a verification is in flight the device keeps
drafting as if everything will be accepted (pipelining, after PipeSD/PicoSpec): when the
cloud's bonus token equals the next token the device already holds, the rest are the
next round's drafts at no waiting cost.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, AsyncIterator, Sequence

import numpy as np

from device_runtime.engine import DraftToken, LlamaEngine, SamplingParams
from device_runtime.grammar import Constraint
from device_runtime.sampling import PositionalRng
from device_runtime.worker import EngineCall
from gateway.cloud_client.client import CloudClient
from gateway.cloud_client.errors import CloudError
from gateway.cloud_client.transport import CallStats
from gateway.cloud_client.verify import VerifySession
from gateway.core.acceptance import (
    VerifyResult,
    grammatical_rows,
    greedy_over,
    lenient_accept,
    rejection_accept,
)
from gateway.core.answer import AnswerBuilder, Chunk
from gateway.core.state import Answer
from routers.draft_length import DraftLengthController

if TYPE_CHECKING:
    from gateway.core.orchestrator import Collaborator


# where a grammar allowed none of the cloud's top tokens, the cloud is asked for its best allowed one if
# they number at most this (a JSON literal, a number, a key: a few to a few hundred); more (inside a free
# string) and the device's draft stands
MAX_PROBE_TOKENS = 4096


@dataclass
class SpeculativeSettings:
    pipeline: bool = True
    skip_verify_above: float | None = None  # opportunistic: trust drafts at least this sure
    skip_verify_at_greedy: bool = False
    verify_chunk: int = 32  # longest run of pre-made drafts (a cascade's answer) verified in one pass
    acceptance: str = "exact"  # at temperature 0: exact (the cloud's greedy answer) or lenient
    margin: float = 0.0  # lenient: how much more the cloud may prefer its own token before it wins


@dataclass
class Round:
    """What one draft/verify round decided."""

    drafts: list[DraftToken]
    accepted: int
    tokens: list[int]  # accepted drafts, then the cloud's token (or, unverified, just the drafts)
    extra: list[DraftToken] = field(default_factory=list)  # drafted while the cloud was verifying
    result: VerifyResult | None = None  # None: shown unverified (opportunistic mode)


class SpeculativeDecoder:
    """Runs draft/verify rounds for one request on the request's device turn."""

    def __init__(
        self,
        engine: LlamaEngine,
        device: EngineCall,
        cloud: CloudClient,
        out: AnswerBuilder,
        stats: CallStats,
        controller: DraftLengthController,
        settings: SpeculativeSettings,
        params: SamplingParams,
        constraint: Constraint | None = None,
    ):
        self.engine, self.device, self.cloud, self.out = engine, device, cloud, out
        self.constraint = constraint  # the grammar's state at ``context`` (None: free text)
        self.stats, self.ctrl, self.settings = stats, controller, settings
        self.temperature, self.top_p = params.temperature, params.top_p
        self.rng = PositionalRng(params.seed)
        # a seeded sample must not depend on timing, and the adaptive k does: use the configured k
        self.fixed_k = controller.k if params.seed is not None and params.temperature > 0 else None
        self.lenient = params.temperature <= 0 and settings.acceptance == "lenient"
        self.want_top = (
            params.temperature > 0 or out.n_logprobs is not None or self.lenient or constraint is not None
        )
        self.context: list[int] = []  # prompt + every token the client has been given
        self.ahead: list[DraftToken] = []  # device tokens past the context, not yet verified
        self.premade = 0  # how many of ``ahead`` are the cascade's answer
        self.session = VerifySession()  # lets rounds after the first send only what is new
        self.verified_rounds = 0  # the first carries the prompt's prefill: its timing says nothing about k
        self.failure: CloudError | None = (
            None  # set when the cloud failed; ``ahead`` still continues ``context``
        )

    async def run(self, context: Sequence[int], ahead: Sequence[DraftToken] = ()) -> AsyncIterator[Chunk]:
        """Generate from ``context`` until the answer is done.

        ``ahead``: an answer the device already made (the cascade's), verified first in runs of
        ``verify_chunk``; from its first rejected token on, rounds draft afresh. When the cloud
        fails, ``failure`` says why and the run ends; ``ahead`` then holds the device tokens
        that continue ``context`` (the hand-over's lead).
        """
        self.context, self.ahead, self.premade = list(context), list(ahead), len(ahead)
        while not self.out.finished:
            t0 = time.perf_counter()
            premade = self.premade > 0
            drafts = await self._next_drafts()
            try:
                r = await self._round(drafts)
            except CloudError as exc:
                self.failure = exc
                return
            if r.result is not None:
                self._account(r, time.perf_counter() - t0, chosen_k=not premade)
            for chunk in self._emit(r):
                yield chunk
            self.context += r.tokens
            if self.constraint is not None:
                self.constraint.advance([t for t in r.tokens if not self.engine.is_eos(t)])
            self._advance(r)

    def _advance(self, r: Round) -> None:
        """Keep the device tokens past the new context only where they still continue it."""
        held = self.ahead[len(r.drafts) :] + r.extra
        if r.result is None:  # shown unverified: nothing else changed
            self.ahead, self.premade = held, max(0, self.premade - len(r.drafts))
        elif r.accepted == len(r.drafts) and held and held[0].token_id == r.tokens[-1]:
            self.ahead, self.premade = held[1:], max(0, self.premade - len(r.drafts) - 1)  # cached already
        else:
            self.ahead, self.premade = [], 0

    async def _next_drafts(self) -> list[DraftToken]:
        """This round's drafts: the cascade's answer while it lasts, else held and fresh drafts."""
        limit = self.out.remaining - 1  # room for the cloud's own token
        if self.premade:
            return self.ahead[: max(0, min(self.premade, self.settings.verify_chunk, limit))]
        k = max(0, min(self.fixed_k or self.ctrl.k, limit))
        drafts = self.ahead[:k]
        if len(drafts) >= k or (drafts and self.engine.is_eos(drafts[-1].token_id)):
            return drafts
        return drafts + await self._draft(k - len(drafts))

    async def _draft(self, n: int) -> list[DraftToken]:
        """n fresh drafts after everything the device holds (its cache follows the context first)."""
        await self.device(self.engine.sync, self.context + [d.token_id for d in self.ahead])
        grammar = None
        if self.constraint is not None:  # drafts continue a copy: a rejected one is never taken back
            grammar = self.constraint.fork()
            grammar.advance([d.token_id for d in self.ahead if not self.engine.is_eos(d.token_id)])
        more = await self.device(self.engine.draft, n, self.temperature, self.top_p, self.rng, grammar)
        self.ahead += more
        return more

    async def _round(self, drafts: list[DraftToken]) -> Round:
        """One cloud pass over the drafts; the device drafts on while it runs."""
        if self._trusted(drafts):
            return Round(drafts, len(drafts), [d.token_id for d in drafts])
        ids = [d.token_id for d in drafts]
        verify = asyncio.create_task(
            self.cloud.verify(self.context, ids, self.stats, self.want_top, self.session)
        )
        extra: list[DraftToken] = []
        try:
            ends = bool(ids) and self.engine.is_eos(ids[-1])
            if self.settings.pipeline and ids and not ends and len(self.ahead) == len(drafts):
                while not verify.done() and len(extra) < self.ctrl.k_max:
                    more = await self._draft(1)
                    extra += more
                    if not more or self.engine.is_eos(more[-1].token_id):
                        break
            result = await verify
        finally:
            if not verify.done():
                verify.cancel()
        accepted, tokens = await self._accept(drafts, result)
        self.ahead = self.ahead[: len(self.ahead) - len(extra)]  # run() decides whether they stay
        if not tokens:  # the grammar allowed none of the cloud's top tokens, and no draft was there:
            tokens = [(await self._draft(1))[0].token_id]  # the device's own grammatical token
        return Round(drafts, accepted, tokens, extra, result)

    async def _accept(self, drafts: list[DraftToken], result: VerifyResult) -> tuple[int, list[int]]:
        """The acceptance rule for this request; under a grammar, over the tokens the grammar allows."""
        ids = [d.token_id for d in drafts]
        rows = result.target_top
        if self.constraint is not None:
            rows = self.constraint.rows(ids, rows)
            if self.temperature <= 0 and not self.lenient:
                return await self._constrained_greedy(ids, rows)
            rows, fallbacks = grammatical_rows(ids, rows)
            self.out.grammar_fallbacks(fallbacks)
            result = VerifyResult(result.accepted, result.tokens, rows, result.draft_logprobs)
        if self.temperature > 0:
            return rejection_accept(drafts, rows, self.temperature, self.top_p, self.rng, len(self.context))
        if self.lenient:
            return lenient_accept(ids, result, self.settings.margin)
        return result.accepted, result.tokens

    async def _constrained_greedy(self, ids: list[int], rows: list[list[tuple[int, float]]]
                                  ) -> tuple[int, list[int]]:
        """Greedy over the grammatical rows: the cloud's own constrained greedy answer. Where the grammar
        allowed none of the cloud's top tokens, the cloud is asked for its best allowed token (one more
        call, ``best_allowed``: vLLM's ``allowed_token_ids``) where they are few enough to list; where they
        are not (a free string: its top tokens nearly always hold one), the draft stands, counted."""
        accepted, tokens = greedy_over(ids, rows)
        if len(tokens) > accepted or (accepted and self.engine.is_eos(ids[accepted - 1])):
            return accepted, tokens  # the cloud's own token came with its verdict, or the answer ended
        assert self.constraint is not None
        allowed = self.constraint.allowed_after(ids[:accepted])
        if 0 < len(allowed) <= MAX_PROBE_TOKENS:
            self.out.grammar_probed()
            token = await self.cloud.best_allowed(self.context + ids[:accepted], allowed.tolist(), self.stats,
                                                  self.session.salt)
            return accepted, ids[:accepted] + [token]
        rows, fallbacks = grammatical_rows(ids, rows)
        self.out.grammar_fallbacks(fallbacks)
        return greedy_over(ids, rows)

    def _trusted(self, drafts: Sequence[DraftToken]) -> bool:
        """Opportunistic mode: drafts this sure are shown unverified (off at temperature 0 unless asked)."""
        threshold = self.settings.skip_verify_above
        if (
            threshold is None
            or not drafts
            or (self.temperature <= 0 and not self.settings.skip_verify_at_greedy)
        ):
            return False
        return all(d.q >= threshold and np.exp(d.logprob) >= threshold for d in drafts)

    def _account(self, r: Round, round_s: float, chosen_k: bool) -> None:
        """``round_s``: the round's wall time, drafting and verification (the first round's also holds
        the prompt's prefill on both sides, so it teaches the controller acceptance only)."""
        self.out.verified(len(r.drafts), r.accepted)
        if chosen_k:  # the controller learns from its own choices, not from runs of the cascade's answer
            self.ctrl.observe(len(r.drafts), r.accepted, round_s if self.verified_rounds else None)
        self.verified_rounds += 1

    def _emit(self, r: Round) -> list[Chunk]:
        if r.result is None:
            self.out.shown_unverified(len(r.tokens))
        chunks = []
        for j, token in enumerate(r.tokens):
            top = r.result.target_top[j] if r.result is not None and j < len(r.result.target_top) else []
            logprob = dict(top).get(token)
            if logprob is None and j < r.accepted:
                logprob = r.drafts[j].logprob
            chunk = self.out.add_token(token, "device" if j < r.accepted else "cloud", logprob, top)
            if chunk is not None:
                chunks.append(chunk)
            if self.out.finished:
                break
        return chunks


async def run_speculative(
    c: Collaborator, a: Answer, ahead: Sequence[DraftToken] = ()
) -> AsyncIterator[Chunk]:
    """The device drafts, the cloud verifies; ``ahead``: device tokens to verify first (the cascade's)."""
    assert c.cloud is not None
    context = await a.context(c.engine)
    grammar = await a.constraint(c.engine, context[len(a.job.prompt_tokens) :])
    decoder = SpeculativeDecoder(
        c.engine, a.device, c.cloud, a.out, a.stats, c.draft_length, c.spec_settings, a.job.params, grammar
    )
    async for chunk in decoder.run(context, ahead):
        yield chunk
    if decoder.failure is not None:
        a.cloud_failed(decoder.failure, held=decoder.ahead)
