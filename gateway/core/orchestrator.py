"""The collaboration engine: one request's life from parsed body to a stream of chunks.

    job = await collaborator.plan(body, headers=..., api_key=...)   # may raise ApiError
    async for chunk in collaborator.run(job): ...                    # text as it is verified

``plan`` tags privacy, picks the mode (routers.policy), redacts what will leave the
device, tokenizes and checks the context window — everything that can fail with a
client error happens before the first byte is streamed. ``run`` executes the mode:

* ``device``      — the device model alone.
* ``cloud``       — the cloud model alone (chat/completions pass-through).
* ``speculative`` — device drafts, cloud verifies (gateway.core.speculative).
* ``cascade``     — the device answers and the cloud takes over where it is unsure. ``stream``
  (the default): device tokens reach the client as they come while the running confidence
  holds; the token where it drops is held back and the cloud continues from there. ``gate``:
  the whole answer is judged first, and an unsure one becomes the drafts the cloud verifies.
  Either way the cloud verifies device tokens with the same ``SpeculativeDecoder`` (rejection
  sampling included) instead of starting over.

Each thing happens in one place: one device turn per request (``DeviceTurn``), one
verification path, one stop matcher (``AnswerBuilder``), and one hand-over: a cloud
failure at any point lets the device continue from exactly what has been generated, using
the tokens it already holds; the trace says ``degraded`` and the client gets a whole answer.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from device_runtime.engine import DraftToken, LlamaEngine, TokenEvent
from device_runtime.worker import DeviceTurn, DeviceWorker
from gateway.api.protocol import ChatCompletionRequest, CompletionRequest
from gateway.cloud_client.client import CloudClient
from gateway.cloud_client.errors import CloudError
from gateway.cloud_client.health import NetworkMonitor
from gateway.cloud_client.transport import CallStats
from gateway.config import TandemConfig
from gateway.core.answer import AnswerBuilder, Chunk
from gateway.core.planner import VIRTUAL_MODELS, Job, Planner
from gateway.core.speculative import SpeculativeDecoder, SpeculativeSettings
from gateway.core.tokenizers import TokenizerCheck, compare_tokenizers
from routers.confidence import ConfidenceRouter
from routers.cost import CloudBudget
from routers.draft_length import DraftLengthController

__all__ = ["VIRTUAL_MODELS", "Collaborator", "Job", "TokenizerCheck"]
log = logging.getLogger("tandem.collaborate")


class Collaborator:
    def __init__(self, config: TandemConfig, device: DeviceWorker, cloud: CloudClient | None,
                 monitor: NetworkMonitor | None = None):
        self.config = config
        self.device = device
        self.engine: LlamaEngine = device.engine
        self.cloud = cloud
        self.monitor = monitor or (cloud.monitor if cloud else NetworkMonitor(offline=True))
        self.monitor.offline = self.monitor.offline or cloud is None or config.cloud.offline
        self.budget = CloudBudget(config.budget.cloud_tokens_per_window, config.budget.window_s)
        self.planner = Planner(config, self.engine, self.monitor, self.budget, has_cloud=cloud is not None)
        c = config.cascade
        self.confidence = ConfidenceRouter(threshold=c.threshold, method=c.method, quantile=c.quantile,
                                           window=c.window, window_threshold=c.window_threshold)
        s = config.speculative
        self.draft_length = DraftLengthController(k=s.k, k_min=s.k_min, k_max=s.k_max, adaptive=s.adaptive,
                                                  pipelined=s.pipeline)
        self.spec_settings = SpeculativeSettings(s.pipeline, s.skip_verify_above, s.skip_verify_at_greedy,
                                                 verify_chunk=max(1, c.verify_chunk))
        self.tokenizers = TokenizerCheck(False, "not checked yet", checked=False)
        self._tokenizer_recheck: asyncio.Task | None = None

    # -- start-up and planning ---------------------------------------------------------------------
    async def check_tokenizers(self) -> TokenizerCheck:
        """Speculation needs one tokenizer on both sides (gateway.core.tokenizers)."""
        self.tokenizers = await compare_tokenizers(self.engine, self.cloud)
        (log.info if self.tokenizers.compatible else log.warning)("tokenizer check: %s", self.tokenizers.reason)
        return self.tokenizers

    def model_ids(self) -> list[str]:
        return self.planner.model_ids()

    async def plan(self, body: ChatCompletionRequest | CompletionRequest, privacy_header: str | None = None,
                   api_key: str | None = None, session_header: str | None = None, offline: bool = False) -> Job:
        """``gateway.core.planner``; a cloud that was down at the tokenizer check is checked again once it is up."""
        if not self.tokenizers.checked and self.cloud is not None and self.monitor.available() and (
                self._tokenizer_recheck is None or self._tokenizer_recheck.done()):
            self._tokenizer_recheck = asyncio.create_task(self.check_tokenizers())
        return await self.planner.plan(body, self.tokenizers, privacy_header, api_key, session_header, offline)

    # -- running -----------------------------------------------------------------------------------
    def answer_builder(self, job: Job) -> AnswerBuilder:
        return AnswerBuilder(self.engine.token_bytes, self.engine.is_eos, job.params.max_tokens, job.params.stop,
                             job.trace, job.privacy.redactor, n_top=job.n_logprobs or 0)

    async def run(self, job: Job) -> AsyncIterator[Chunk]:
        """The answer as chunks; ``job.trace`` is complete when the iterator ends.

        The one hand-over: whatever the mode, a ``CloudError`` at any point hands the rest of
        the answer to the device, which continues from exactly what has been generated so far
        (token ids as produced, pass-through text as plain tokens, held-back text included),
        on the request's one device turn — taken here for the device modes, on first need for
        cloud mode.
        """
        a = Answer(job, self.answer_builder(job), CallStats())
        job.trace.mark("planned")
        try:
            async with self.device.lazy_turn() as a.device:
                if job.trace.mode != "cloud":
                    await a.device.take()  # queue admission (429) before the first byte
                    job.trace.mark("device_acquired")
                try:
                    async for chunk in self._modes[job.trace.mode](a):
                        yield chunk
                except CloudError as exc:
                    self._degrade(job, exc)
                    await a.device.take(bounded=False)  # already admitted: wait for the device, never refuse
                    async for chunk in self._device(a):
                        yield chunk
                final = a.out.finish(a.out.finish_reason or "stop")
                if final.text:
                    yield final
        finally:
            job.trace.cloud_calls += a.stats.calls
            job.trace.verify_fallbacks += a.stats.fallbacks
            job.trace.bytes_up += a.stats.bytes_up
            job.trace.bytes_down += a.stats.bytes_down
            job.trace.mark("done")
            if a.stats.calls:
                self.budget.record(job.api_key or "anonymous", len(job.prompt_tokens) + job.trace.drafts_proposed
                                   + job.trace.cloud_tokens)
        job.completion_tokens = a.out.completion_tokens
        job.finish_reason = a.out.finish_reason
        job.answer_ids = a.out.token_ids

    @property
    def _modes(self) -> dict[str, Callable[[Answer], AsyncIterator[Chunk]]]:
        return {"device": self._device, "cloud": self._cloud, "speculative": self._speculate,
                "cascade": self._cascade}

    def _degrade(self, job: Job, exc: CloudError) -> None:
        log.warning("cloud failed mid-answer, the device finishes it: %s", exc)
        job.trace.degraded = True
        job.trace.degraded_reason = exc.public  # str(exc) names internal addresses

    def _plain_tokens(self, text: str) -> list[int]:
        """Generated text as token ids: a literal "<|im_end|>" in an answer is text, not end-of-turn."""
        return self.engine.tokenize(text, add_bos=False, special=False)

    async def _context(self, a: Answer) -> list[int]:
        """What the next producer continues from: the prompt and everything generated so far."""
        return a.job.prompt_tokens + await a.device(a.out.generated_ids, self._plain_tokens)

    async def _device(self, a: Answer) -> AsyncIterator[Chunk]:
        """The device alone: the whole answer, or the rest of one after a hand-over.

        Tokens the device already holds past this exact point (a cascade's answer, drafts in
        flight) are its own continuation and are used, not generated again.
        """
        if a.out.finished:
            return
        context = await self._context(a)
        lead = a.lead(context)
        for d in lead:
            chunk = a.out.add_token(d.token_id, "device", d.logprob)
            if chunk is not None:
                yield chunk
            if a.out.finished:
                return
        params = replace(a.job.params, max_tokens=a.out.remaining, stop=())  # stops: the AnswerBuilder's job
        context += [d.token_id for d in lead]
        async for ev in a.device.iterate(lambda: self.engine.generate(context, params)):
            chunk = a.out.add_token(ev.token_id, "device", ev.logprob, ev.top_logprobs)
            if chunk is not None:
                yield chunk
            if a.out.finished:
                return

    async def _speculate(self, a: Answer, ahead: Sequence[DraftToken] = ()) -> AsyncIterator[Chunk]:
        assert self.cloud is not None
        job = a.job
        a.decoder = SpeculativeDecoder(self.engine, a.device, self.cloud, a.out, job.trace, a.stats,
                                       self.draft_length, self.spec_settings, job.params,
                                       want_logprobs=job.n_logprobs is not None)
        async for chunk in a.decoder.run(await self._context(a), ahead):
            yield chunk

    async def _cascade(self, a: Answer) -> AsyncIterator[Chunk]:
        """The device answers; where it is unsure, the cloud takes over (``cascade.policy``).

        Streaming needs the cloud to continue the text already shown, so a cloud without the
        device's tokenizer gets the gate: the whole answer is judged first, then sent or replaced.
        """
        policy = self._cascade_stream if self.config.cascade.policy == "stream" and self.tokenizers.compatible \
            else self._cascade_gate
        async for chunk in policy(a):
            yield chunk

    async def _cascade_stream(self, a: Answer) -> AsyncIterator[Chunk]:
        """Device tokens reach the client as they come while the running confidence holds.

        The token where it drops is held back and becomes the first draft the cloud verifies;
        the cloud goes on from there with the device drafting, as in speculative mode. What the
        client already has stands, so time to first token is the device's.
        """
        job, trace = a.job, a.job.trace
        judge = self.confidence.running()
        params = replace(job.params, stop=())  # stops: the AnswerBuilder's job
        held: TokenEvent | None = None
        async for ev in a.device.iterate(lambda: self.engine.generate(job.prompt_tokens, params)):
            if judge.unsure_after(ev.logprob) and self.cloud is not None:
                held = ev
                break
            chunk = a.out.add_token(ev.token_id, "device", ev.logprob, ev.top_logprobs)
            if chunk is not None:
                yield chunk
            if a.out.finished:
                break
        trace.confidence = round(judge.lowest, 4) if judge.lowest != float("inf") else None
        trace.escalated = held is not None
        if held is None:
            return
        trace.handover_token = trace.device_tokens
        trace.reason += f"; handed over after {trace.device_tokens} tokens"
        async for chunk in self._speculate(a, ahead=[held.as_draft()]):
            yield chunk

    async def _cascade_gate(self, a: Answer) -> AsyncIterator[Chunk]:
        """The whole device answer is scored before any of it is sent; an unsure one becomes the
        drafts the cloud verifies, and the cloud takes over from the first token it rejects."""
        job, trace = a.job, a.job.trace
        preview = a.out.lookahead()  # same stops and limits: the device stops where the client's answer would
        params = replace(job.params, stop=())
        needs_entropy = self.confidence.needs_entropy
        answer: list[TokenEvent] = []
        async for ev in a.device.iterate(lambda: self.engine.generate(job.prompt_tokens, params, needs_entropy)):
            answer.append(ev)
            preview.add_token(ev.token_id, "device")
            if preview.finished:
                break
        logprobs = [ev.logprob for ev in answer]
        entropies = [ev.entropy or 0.0 for ev in answer] if needs_entropy else None
        trace.confidence = round(self.confidence.score(logprobs, entropies), 4)
        why = self.confidence.escalation_reason(logprobs, entropies, [ev.token_id for ev in answer])
        trace.escalated = self.cloud is not None and why is not None
        a.device_answer = [ev.as_draft() for ev in answer]
        if not trace.escalated:
            for ev in answer:
                chunk = a.out.add_token(ev.token_id, "device", ev.logprob, ev.top_logprobs)
                if chunk is not None:
                    yield chunk
            return
        if why != "low confidence":
            trace.reason += f"; {why}"
        if not self.tokenizers.compatible:  # no shared tokenizer: the cloud answers from scratch
            async for chunk in self._cloud(a):
                yield chunk
            return
        async for chunk in self._speculate(a, ahead=a.device_answer):
            yield chunk

    async def _cloud(self, a: Answer) -> AsyncIterator[Chunk]:
        """Cloud-only: pass the (redacted) request through, streaming; failures go to ``run``'s hand-over."""
        assert self.cloud is not None
        job, out = a.job, a.out
        p = job.params
        body: dict[str, Any] = {"max_tokens": out.remaining, "temperature": p.temperature, "top_p": p.top_p,
                                "stream_options": {"include_usage": True}}
        if p.seed is not None:
            body["seed"] = p.seed
        if p.stop:
            body["stop"] = list(p.stop)
        if job.chat:
            body["messages"] = job.messages
            if job.n_logprobs is not None:
                body.update(logprobs=True, top_logprobs=job.n_logprobs)
        else:
            body["prompt"] = job.prompt_text if job.prompt_text is not None else job.prompt_tokens
            if job.n_logprobs is not None:
                body["logprobs"] = job.n_logprobs
        async for event in self.cloud.stream(body, a.stats, chat=job.chat):
            if event.get("usage") and not event.get("choices"):
                out.completion_tokens = max(out.completion_tokens, event["usage"]["completion_tokens"])
                job.trace.cloud_tokens = out.completion_tokens - job.trace.device_tokens
                continue
            choice = (event.get("choices") or [{}])[0]
            text = (choice.get("delta") or {}).get("content") if job.chat else choice.get("text")
            if text:
                chunk = out.add_text(text, "cloud", 1, choice.get("logprobs"))
                if chunk is not None and chunk.text:
                    yield chunk
            if choice.get("finish_reason"):
                out.finish_reason = out.finish_reason or choice["finish_reason"]
        job.trace.cloud_passes = out.completion_tokens


@dataclass
class Answer:
    """One request's answer in progress: what every mode and the hand-over share."""

    job: Job
    out: AnswerBuilder
    stats: CallStats
    device: DeviceTurn = field(init=False)
    decoder: SpeculativeDecoder | None = None  # speculative and escalated cascade
    device_answer: list[DraftToken] = field(default_factory=list)  # the cascade's own answer

    def lead(self, context: Sequence[int]) -> list[DraftToken]:
        """Tokens the device already holds that continue exactly ``context`` (else none)."""
        if self.decoder is not None:
            held_context, held = self.decoder.context, self.decoder.ahead
        else:
            held_context, held = self.job.prompt_tokens, self.device_answer
        return list(held) if list(held_context) == list(context) else []
