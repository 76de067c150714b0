"""The collaboration engine: one request's life from parsed body to a stream of chunks.

    job = await collaborator.plan(body, headers=..., api_key=...)   # may raise ApiError
    async for chunk in collaborator.run(job): ...                    # text as it is verified

``plan`` tags privacy, picks the mode (routers.policy), redacts what will leave the
device, tokenizes and checks the context window — everything that can fail with a
client error happens before the first byte is streamed. ``run`` executes the mode:

* ``device``      — the device model alone.
* ``cloud``       — the cloud model alone (chat/completions pass-through).
* ``speculative`` — device drafts, cloud verifies (gateway.speculative).
* ``cascade``     — the device answers; if it is unsure, that answer becomes the drafts the
  cloud verifies (the same ``SpeculativeDecoder``, rejection sampling included), and the
  cloud takes over from the first token it rejects instead of starting over.

Each thing happens in one place: one device turn per request (``DeviceTurn``), one
verification path, one stop matcher (``AnswerBuilder``), and one hand-over: a cloud
failure at any point lets the device continue from exactly what has been generated, using
the tokens it already holds; the trace says ``degraded`` and the client gets a whole answer.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field, replace
from typing import Any, AsyncIterator, Callable, Sequence

from device_runtime.engine import DraftToken, LlamaEngine, SamplingParams, TokenEvent
from device_runtime.worker import DeviceTurn, DeviceWorker
from routers.confidence import ConfidenceRouter
from routers.cost import CloudBudget
from routers.draft_length import DraftLengthController
from routers.network import NetworkMonitor
from routers.policy import AutoPolicy, RouteChoice, RouteFacts
from routers.privacy import PrivacyDecision, PrivacyRouter
from routers.session import SessionPins

from .cloud import CallStats, CloudClient, CloudError, CloudRefused
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
    answer_ids: list[int] = field(default_factory=list)  # the answer's token ids, when token-produced


@dataclass
class TokenizerCheck:
    compatible: bool
    reason: str
    checked: bool = True  # False: the cloud could not be asked; ask again once it is back


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
        self.sessions = SessionPins(p.session_pin_s)
        self.policy = AutoPolicy(config.routing.device_only_latency_ms)
        c = config.cascade
        self.confidence = ConfidenceRouter(threshold=c.threshold, method=c.method, quantile=c.quantile,
                                           window=c.unsure_window, token_threshold=c.unsure_logprob)
        self.budget = CloudBudget(config.budget.cloud_tokens_per_window, config.budget.window_s)
        s = config.speculative
        self.draft_length = DraftLengthController(k=s.k, k_min=s.k_min, k_max=s.k_max, adaptive=s.adaptive,
                                                  pipelined=s.pipeline)
        self.spec_settings = SpeculativeSettings(s.pipeline, s.skip_verify_above, s.skip_verify_at_greedy,
                                                 verify_chunk=max(1, c.verify_chunk))
        self.tokenizers = TokenizerCheck(False, "not checked yet", checked=False)
        self._tokenizer_recheck: asyncio.Task | None = None

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
            except CloudRefused:
                pass  # stock vLLM has no info route; the samples below still decide
            for text in samples:
                ours = self.engine.tokenize(text, add_bos=False, special=True)
                theirs = await self.cloud.tokenize(text)
                if ours != theirs:
                    return self._set_tok(False, f"token ids differ on sample {text!r}")
        except CloudError as exc:
            return self._set_tok(False, f"cloud unreachable during the tokenizer check: {exc.public}",
                                 checked=False)
        return self._set_tok(True, "device and cloud tokenizers match")

    def _recheck_tokenizers_when_back(self) -> None:
        """The cloud was down when the tokenizers were compared: compare again now it answers."""
        if not self.tokenizers.checked and (self._tokenizer_recheck is None or self._tokenizer_recheck.done()):
            self._tokenizer_recheck = asyncio.create_task(self.check_tokenizers())

    def _set_tok(self, ok: bool, reason: str, checked: bool = True) -> TokenizerCheck:
        self.tokenizers = TokenizerCheck(ok, reason, checked)
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
                   api_key: str | None = None, session_header: str | None = None, offline: bool = False) -> Job:
        """``offline`` (or ``metadata.offline``): treat the cloud as unavailable for this request only."""
        chat = isinstance(body, ChatCompletionRequest)
        requested = self.requested_mode(body.model, body.metadata)
        trace = RouteTrace(requested=requested)
        meta = body.metadata or {}
        flag = meta.get("offline", False)
        if flag not in (True, False, "true", "false", "1", "0"):  # OpenAI metadata values are strings
            raise bad_request(f"metadata.offline must be true or false; got {flag!r}", "metadata.offline")
        offline = offline or flag in (True, "true", "1")
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
        # a session that was ever private stays on the device (routers/session.py)
        sessions = [f"{api_key or ''}\x00{s}" for s in (body.user, session_header, meta.get("session")) if s]
        pinned = decision.level != "private" and any(self.sessions.pinned(s) for s in sessions)
        if decision.level == "private":
            for s in sessions:
                self.sessions.pin(s)
        elif pinned:
            decision.level = "private"
            decision.sources.append("session")
        trace.privacy, trace.pii = decision.level, decision.pii

        def route(cloud_ok: bool) -> RouteChoice:
            return self.policy.choose(RouteFacts(
                requested=requested, privacy_level=decision.level, cloud_available=cloud_ok,
                cloud_reason="cloud offline (requested)" if offline else "" if cloud_ok else self.monitor.reason(),
                budget_ok=self.budget.allows(api_key or "anonymous"),
                speculative_ok=self.tokenizers.compatible, speculative_reason=self.tokenizers.reason,
                quality=meta.get("quality"), max_latency_ms=_float_or_none(meta.get("max_latency_ms")),
            ))

        cloud_ok = not offline and self.cloud is not None and self.monitor.available()
        if cloud_ok:
            self._recheck_tokenizers_when_back()
        choice = route(cloud_ok)
        if choice.mode != "device" and not self.monitor.admit():  # half-open: another request holds the trial
            choice = route(False)
        trace.mode, trace.reason = choice.mode, "session pinned private" if pinned else choice.reason
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
        seed = body.seed if body.seed is None or body.seed >= 0 else None  # negative: "random", as llama.cpp reads it
        return SamplingParams(max_tokens=max_tokens, temperature=temperature, top_p=body.top_p or 1.0,
                              seed=seed, stop=tuple(body.stop_list))

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
        """The device answers; when it is unsure, that answer is the drafts the cloud verifies."""
        job, trace = a.job, a.job.trace
        preview = a.out.lookahead()  # same stops and limits: the device stops where the client's answer would
        params = replace(job.params, stop=())
        needs_entropy = self.confidence.needs_entropy
        answer: list[TokenEvent] = []
        why: str | None = None
        async for ev in a.device.iterate(lambda: self.engine.generate(job.prompt_tokens, params, needs_entropy)):
            answer.append(ev)
            preview.add_token(ev.token_id, "device")
            if preview.finished:
                break
            if self.config.cascade.per_token and self.confidence.unsure_stretch([e.logprob for e in answer]):
                why = "escalated mid-answer (unsure stretch)"  # hand over now rather than finish a weak answer
                break
        logprobs = [ev.logprob for ev in answer]
        entropies = [ev.entropy or 0.0 for ev in answer] if needs_entropy else None
        trace.confidence = round(self.confidence.score(logprobs, entropies), 4)
        why = why or self.confidence.escalation_reason(logprobs, entropies, [ev.token_id for ev in answer])
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


def _float_or_none(value: Any) -> float | None:
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None

