"""The collaboration engine: one request's life from parsed body to a stream of chunks.

    job = await collaborator.plan(body, headers=..., api_key=...)   # may raise ApiError
    async for chunk in collaborator.run(job): ...                    # text as it is verified

``plan`` tags privacy, picks the mode (routers.policy), redacts what will leave the
device, tokenizes and checks the context window — everything that can fail with a
client error happens before the first byte is streamed. ``run`` executes the mode:

* ``device``      — the device model alone.
* ``cloud``       — the cloud model alone (chat/completions pass-through).
* ``speculative`` — device drafts, cloud verifies (gateway.speculative).
* ``cascade``     — the device answers; if its confidence is below the calibrated
  threshold the cloud verifies that answer as one long draft and continues from the
  first token it rejects (speculatively), instead of starting over.

Any cloud failure mid-answer hands the rest of the answer to the device: the trace says
``degraded`` and the client still gets a whole answer.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, replace
from typing import Any, AsyncIterator, Sequence

from device_runtime.engine import LlamaEngine, SamplingParams
from device_runtime.worker import DeviceWorker, EngineCall
from routers.confidence import ConfidenceRouter
from routers.cost import CloudBudget
from routers.draft_length import DraftLengthController
from routers.network import NetworkMonitor
from routers.policy import AutoPolicy, RouteChoice, RouteFacts
from routers.privacy import PrivacyDecision, PrivacyRouter

from .cloud import CallStats, CloudClient, CloudError
from .config import TandemConfig
from .errors import ApiError, bad_request
from .output import AnswerBuilder, Chunk
from .schemas import ChatCompletionRequest, CompletionRequest
from .speculative import SpeculativeDecoder, SpeculativeSettings
from .trace import RouteTrace

log = logging.getLogger("tandem.collaborate")

VIRTUAL_MODELS = {
    "tandem-auto": "auto",
    "tandem-device": "device",
    "tandem-cloud": "cloud",
    "tandem-cascade": "cascade",
    "tandem-speculative": "speculative",
}


@dataclass
class Job:
    """A planned request: everything a mode needs, nothing the client still has to fix."""

    chat: bool
    messages: list[dict] | None  # cloud-facing (redacted when privacy says so)
    prompt_text: str | None  # completions with a text prompt, cloud-facing
    prompt_tokens: list[int]
    params: SamplingParams
    trace: RouteTrace
    privacy: PrivacyDecision
    n_logprobs: int | None  # None: the client asked for no logprobs
    api_key: str | None = None
    # stop strings for anything that leaves the device (redacted when the messages are): use these
    # in cloud request bodies, never the client's own ``stop``; ``params.stop`` holds the same
    # strings for matching, since every producer's raw text is in the same (placeholder) space
    cloud_stop: tuple[str, ...] = ()
    completion_tokens: int = 0  # filled in when run() ends
    finish_reason: str | None = None


@dataclass
class TokenizerCheck:
    compatible: bool
    reason: str


class Collaborator:
    def __init__(self, config: TandemConfig, device: DeviceWorker, cloud: CloudClient | None,
                 monitor: NetworkMonitor | None = None):
        self.config = config
        self.device = device
        self.engine: LlamaEngine = device.engine
        self.cloud = cloud
        self.monitor = monitor or (cloud.monitor if cloud else NetworkMonitor(offline=True))
        self.monitor.offline = self.monitor.offline or cloud is None or config.cloud.offline
        p = config.privacy
        from routers.pii import PiiDetector
        from routers.privacy import PrivacyRule

        self.privacy = PrivacyRouter(p.pii_action, [PrivacyRule(**r.model_dump()) for r in p.rules],
                                     PiiDetector(use_presidio=p.use_presidio), p.default_level, p.max_scan_chars)
        self.policy = AutoPolicy(config.routing.device_only_latency_ms)
        c = config.cascade
        self.confidence = ConfidenceRouter(threshold=c.threshold, method=c.method, quantile=c.quantile,
                                           window=c.unsure_window, token_threshold=c.unsure_logprob)
        self.budget = CloudBudget(config.budget.cloud_tokens_per_window, config.budget.window_s)
        s = config.speculative
        self.draft_length = DraftLengthController(k=s.k, k_min=s.k_min, k_max=s.k_max, adaptive=s.adaptive,
                                                  pipelined=s.pipeline)
        self.spec_settings = SpeculativeSettings(s.pipeline, s.skip_verify_above, s.skip_verify_at_greedy)
        self.tokenizers = TokenizerCheck(False, "not checked yet")

    # -- start-up ----------------------------------------------------------------------------
    async def check_tokenizers(self) -> TokenizerCheck:
        """Speculation needs one tokenizer on both sides: compare vocab size, specials and samples."""
        if self.cloud is None:
            self.tokenizers = TokenizerCheck(False, "no cloud configured")
            return self.tokenizers
        samples = ["Hello, world!", "def fib(n):\n    return n if n < 2 else fib(n-1) + fib(n-2)",
                   "你好，世界。", "<|im_start|>user\nhi<|im_end|>", " 12345 naïve café"]
        try:
            try:
                info = await self.cloud.request_json("GET", "/v1/tandem/info", retries=0)
                if int(info["n_vocab"]) != self.engine.n_vocab:
                    return self._set_tok(False, f"vocab size differs: device {self.engine.n_vocab}, cloud {info['n_vocab']}")
                if set(info["eos_token_ids"]) != set(self.engine.eos_token_ids):
                    return self._set_tok(False, "end-of-generation tokens differ")
            except CloudError:
                pass  # stock vLLM has no info route; the samples below still decide
            for text in samples:
                ours = self.engine.tokenize(text, add_bos=False, special=True)
                theirs = await self.cloud.tokenize(text)
                if ours != theirs:
                    return self._set_tok(False, f"token ids differ on sample {text!r}")
        except CloudError as exc:
            return self._set_tok(False, f"cloud unreachable during the tokenizer check: {exc.public}")
        return self._set_tok(True, "device and cloud tokenizers match")

    def _set_tok(self, ok: bool, reason: str) -> TokenizerCheck:
        self.tokenizers = TokenizerCheck(ok, reason)
        (log.info if ok else log.warning)("tokenizer check: %s", reason)
        return self.tokenizers

    # -- planning ------------------------------------------------------------------------------
    def requested_mode(self, model: str, metadata: dict[str, Any] | None) -> str:
        mode = VIRTUAL_MODELS.get(model)
        if mode is None and model in (self.engine.name, "tandem"):
            mode = self.config.routing.default_mode if model == "tandem" else "device"
        if mode is None:
            raise ApiError(404, f"The model `{model}` does not exist. Available: {', '.join(self.model_ids())}",
                           "invalid_request_error", "model", "model_not_found")
        forced = (metadata or {}).get("mode")
        if forced is not None:
            if forced not in ("auto", "device", "cloud", "cascade", "speculative"):
                raise bad_request(f"metadata.mode must be one of auto, device, cloud, cascade, speculative; got {forced!r}",
                                  "metadata.mode")
            mode = forced
        return mode

    def model_ids(self) -> list[str]:
        return list(VIRTUAL_MODELS) + [self.engine.name]

    async def plan(self, body: ChatCompletionRequest | CompletionRequest, privacy_header: str | None = None,
                   api_key: str | None = None) -> Job:
        chat = isinstance(body, ChatCompletionRequest)
        requested = self.requested_mode(body.model, body.metadata)
        trace = RouteTrace(requested=requested)
        meta = body.metadata or {}
        if chat:
            messages = [{"role": "system" if m.role == "developer" else m.role, "content": m.text}
                        for m in body.messages]
            texts = [m["content"] for m in messages]
            prompt_text = None
        else:
            messages = None
            prompt_text = body.prompt if isinstance(body.prompt, str) else None
            if prompt_text is None and any(t < 0 or t >= self.engine.n_vocab for t in body.prompt):
                raise bad_request(f"token ids must be within [0, {self.engine.n_vocab})", "prompt")
            texts = [prompt_text] if prompt_text is not None else [self.engine.detokenize(body.prompt)]
        stops = body.stop_list  # scanned and redacted like the messages: they go to the cloud too
        try:  # the scan is CPU work (bounded by privacy.max_scan_chars): off the event loop
            decision = await asyncio.to_thread(self.privacy.decide, texts + stops, meta.get("privacy"),
                                               privacy_header, api_key)
        except ValueError as exc:
            raise bad_request(str(exc), "metadata.privacy" if meta.get("privacy") else None) from exc
        trace.privacy, trace.pii = decision.level, decision.pii

        def route(cloud_ok: bool) -> RouteChoice:
            return self.policy.choose(RouteFacts(
                requested=requested, privacy_level=decision.level, cloud_available=cloud_ok,
                cloud_reason=self.monitor.reason() if not cloud_ok else "",
                budget_ok=self.budget.allows(api_key or "anonymous"),
                speculative_ok=self.tokenizers.compatible, speculative_reason=self.tokenizers.reason,
                quality=meta.get("quality"), max_latency_ms=_float_or_none(meta.get("max_latency_ms")),
            ))

        choice = route(self.cloud is not None and self.monitor.available())
        if choice.mode != "device" and not self.monitor.admit():  # half-open: another request holds the trial
            choice = route(False)
        trace.mode, trace.reason = choice.mode, choice.reason
        if "unscanned" in decision.sources and choice.reason == "private":
            trace.reason = f"private: longer than the PII scan limit ({self.privacy.max_scan_chars} characters)"
        if choice.degraded:
            trace.degraded, trace.degraded_reason = True, choice.reason

        cloud_stop = tuple(stops)
        if choice.mode != "device" and decision.level == "redact" and decision.pii:
            if chat or prompt_text is not None:
                redacted = self.privacy.redact(texts + stops, decision)
                if chat:
                    messages = [{**m, "content": t} for m, t in zip(messages, redacted)]
                else:
                    prompt_text = redacted[0]
                cloud_stop = tuple(redacted[len(texts):])
            else:  # token-id prompt with personal data: we cannot rewrite ids safely, stay local
                trace.mode, trace.reason = "device", "personal data in a token-id prompt"
            trace.redactions = decision.redactor.count if decision.redactor else 0

        if chat:
            prompt_tokens = await asyncio.to_thread(self.engine.chat_tokens, messages)
        elif prompt_text is not None:
            prompt_tokens = await asyncio.to_thread(self.engine.tokenize, prompt_text)
        else:
            prompt_tokens = list(body.prompt)
        if not prompt_tokens:
            raise bad_request("The prompt is empty (it has no tokens).", "prompt", "invalid_value")
        params = replace(self._sampling(body, len(prompt_tokens)), stop=cloud_stop)  # matched in placeholder space
        n_logprobs = (body.top_logprobs or 0 if body.logprobs else None) if chat else body.logprobs
        if n_logprobs is not None:
            params = replace(params, top_logprobs=n_logprobs)
        return Job(chat, messages, prompt_text, prompt_tokens, params, trace, decision, n_logprobs, api_key,
                   cloud_stop=cloud_stop)

    def _sampling(self, body: ChatCompletionRequest | CompletionRequest, n_prompt: int) -> SamplingParams:
        n_ctx = self.engine.n_ctx
        if n_prompt >= n_ctx:
            raise ApiError(400, f"This model's maximum context length is {n_ctx} tokens. However, your messages "
                                f"resulted in {n_prompt} tokens. Please reduce the length of the messages.",
                           "invalid_request_error", "messages", "context_length_exceeded")
        requested = body.requested_max_tokens
        if requested is not None and n_prompt + requested > n_ctx:
            raise ApiError(400, f"max_tokens is too large: {requested}. This model's maximum context length is "
                                f"{n_ctx} tokens and your request has {n_prompt} input tokens "
                                f"({n_ctx - n_prompt} left for the completion).",
                           "invalid_request_error", "max_tokens", "context_length_exceeded")
        max_tokens = requested or min(self.config.server.max_tokens_default, n_ctx - n_prompt)
        temperature = self.config.server.temperature_default if body.temperature is None else body.temperature
        return SamplingParams(max_tokens=max_tokens, temperature=temperature, top_p=body.top_p or 1.0,
                              seed=body.seed, stop=tuple(body.stop_list))

    # -- running -----------------------------------------------------------------------------------
    def answer_builder(self, job: Job) -> AnswerBuilder:
        return AnswerBuilder(self.engine.token_bytes, self.engine.is_eos, job.params.max_tokens, job.params.stop,
                             job.trace, job.privacy.redactor)

    async def run(self, job: Job) -> AsyncIterator[Chunk]:
        """The answer as chunks; ``job.trace`` is complete when the iterator ends."""
        out = self.answer_builder(job)
        stats = CallStats()
        job.trace.mark("planned")
        try:
            if job.trace.mode == "cloud":
                async for chunk in self._cloud(job, out, stats):
                    yield chunk
            else:
                async with self.device.turn() as call:
                    job.trace.mark("device_acquired")
                    async for chunk in self._with_device(job, out, stats, call):
                        yield chunk
            final = out.finish(out.finish_reason or "stop")
            if final.text:
                yield final
        finally:
            job.trace.cloud_calls += stats.calls
            job.trace.bytes_up += stats.bytes_up
            job.trace.bytes_down += stats.bytes_down
            job.trace.mark("done")
            if stats.calls:
                self.budget.record(job.api_key or "anonymous", len(job.prompt_tokens) + job.trace.drafts_proposed
                                   + job.trace.cloud_tokens)
        job.completion_tokens = out.completion_tokens
        job.finish_reason = out.finish_reason

    async def _with_device(self, job: Job, out: AnswerBuilder, stats: CallStats, call: EngineCall
                           ) -> AsyncIterator[Chunk]:
        mode = job.trace.mode
        try:
            if mode == "speculative":
                async for chunk in self._speculate(job, out, stats, call, job.prompt_tokens):
                    yield chunk
            elif mode == "cascade":
                async for chunk in self._cascade(job, out, stats, call):
                    yield chunk
            else:
                async for chunk in self._device(job, out, call, job.prompt_tokens):
                    yield chunk
        except CloudError as exc:
            self._degrade(job, exc)
            async for chunk in self._device(job, out, call, job.prompt_tokens + out.token_ids):
                yield chunk

    def _degrade(self, job: Job, exc: Exception) -> None:
        log.warning("cloud failed mid-answer, the device finishes it: %s", exc)
        job.trace.degraded = True
        job.trace.degraded_reason = getattr(exc, "public", "cloud call failed")  # str(exc) names addresses

    async def _device(self, job: Job, out: AnswerBuilder, call: EngineCall, context: Sequence[int]
                      ) -> AsyncIterator[Chunk]:
        if out.finished:
            return
        params = replace(job.params, max_tokens=out.remaining, stop=())  # stops: the AnswerBuilder's job
        first = True
        async for ev in self.device.iterate(lambda: self.engine.generate(list(context), params)):
            if first:
                job.trace.mark("first_token")
                first = False
            chunk = out.add_token(ev.token_id, "device", ev.logprob, ev.top_logprobs)
            if chunk is not None:
                yield chunk
            if out.finished:
                return

    async def _speculate(self, job: Job, out: AnswerBuilder, stats: CallStats, call: EngineCall,
                         context: Sequence[int]) -> AsyncIterator[Chunk]:
        assert self.cloud is not None
        decoder = SpeculativeDecoder(self.engine, call, self.cloud, out, job.trace, stats, self.draft_length,
                                     self.spec_settings, job.params.temperature, job.params.top_p, job.params.seed,
                                     want_logprobs=job.n_logprobs is not None)
        async for chunk in decoder.run(context):
            yield chunk

    async def _cascade(self, job: Job, out: AnswerBuilder, stats: CallStats, call: EngineCall
                       ) -> AsyncIterator[Chunk]:
        params = replace(job.params, stop=())
        events, logprobs, unsure = [], [], False
        async for ev in self.device.iterate(lambda: self.engine.generate(job.prompt_tokens, params)):
            events.append(ev)
            logprobs.append(ev.logprob)
            if self.config.cascade.per_token and self.confidence.unsure_stretch(logprobs):
                unsure = True  # the device stays unsure: hand over now rather than finish a weak answer
                break
        answer = [ev.token_id for ev in events]
        job.trace.confidence = round(self.confidence.score(logprobs), 4)
        why = "escalated mid-answer (unsure stretch)" if unsure else self.confidence.escalation_reason(
            logprobs, tokens=answer)
        escalate = self.cloud is not None and why is not None
        job.trace.escalated = escalate
        if escalate and why != "low confidence":
            job.trace.reason += f"; {why}"
        if not escalate:
            for ev in events:
                chunk = out.add_token(ev.token_id, "device", ev.logprob, ev.top_logprobs)
                if chunk is not None:
                    yield chunk
            return
        assert self.cloud is not None
        if not self.tokenizers.compatible:  # no shared tokenizer: the cloud answers from scratch
            async for chunk in self._cloud(job, out, stats):
                yield chunk
            return
        # verify the device answer as long drafts; keep its accepted prefix, continue from the first rejection
        context = list(job.prompt_tokens)
        chunk_len = max(1, self.config.cascade.verify_chunk)
        pos = 0
        while pos < len(answer) and not out.finished:
            draft = answer[pos:pos + min(chunk_len, max(0, out.remaining - 1))]
            result = await self.cloud.verify(context, draft, stats)
            job.trace.cloud_passes += 1
            job.trace.drafts_proposed += len(draft)
            job.trace.drafts_accepted += result.accepted
            for j, token in enumerate(result.tokens):
                lp = events[pos + j].logprob if j < result.accepted else None
                c = out.add_token(token, "device" if j < result.accepted else "cloud", lp)
                if c is not None:
                    yield c
                if out.finished:
                    break
            context += result.tokens
            if result.accepted < len(draft) or not draft:
                break
            pos += len(draft)
        if not out.finished:
            async for c in self._speculate(job, out, stats, call, context):
                yield c

    async def _cloud(self, job: Job, out: AnswerBuilder, stats: CallStats) -> AsyncIterator[Chunk]:
        """Cloud-only: pass the (redacted) request through; on failure the device finishes it."""
        assert self.cloud is not None
        p = job.params
        body: dict[str, Any] = {"max_tokens": out.remaining, "temperature": p.temperature, "top_p": p.top_p,
                                "stream_options": {"include_usage": True}}
        if p.seed is not None:
            body["seed"] = p.seed
        if p.stop:
            body["stop"] = list(p.stop)
        if job.chat:
            body["messages"] = job.messages
        else:
            body["prompt"] = job.prompt_text if job.prompt_text is not None else job.prompt_tokens
        try:
            async for event in self.cloud.stream(body, stats, chat=job.chat):
                if event.get("usage") and not event.get("choices"):
                    out.completion_tokens = max(out.completion_tokens, event["usage"]["completion_tokens"])
                    job.trace.cloud_tokens = out.completion_tokens - job.trace.device_tokens
                    continue
                choice = (event.get("choices") or [{}])[0]
                text = (choice.get("delta") or {}).get("content") if job.chat else choice.get("text")
                if text:
                    if "first_token" not in job.trace.timings_ms:
                        job.trace.mark("first_token")
                    chunk = out.add_text(text, "cloud", 1)
                    if chunk is not None and chunk.text:
                        yield chunk
                if choice.get("finish_reason"):
                    out.finish_reason = out.finish_reason or choice["finish_reason"]
            job.trace.cloud_passes = out.completion_tokens
        except CloudError as exc:
            if out.finished:
                return
            self._degrade(job, exc)
            # the device continues the very text the client has seen (ids are the device's own tokenization)
            async with self.device.turn() as call:
                seen = await call(self.engine.tokenize, out.raw_text, False, True) if out.raw_text else []
                async for chunk in self._device(job, out, call, job.prompt_tokens + seen):
                    yield chunk


def _float_or_none(value: Any) -> float | None:
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None

