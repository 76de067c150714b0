"""From a parsed request to a planned ``Job``: everything that can fail with a client error.

    job = await planner.plan(body, tokenizers, privacy_header, api_key, session_header)

In order: the requested mode (model name or ``metadata.mode``), privacy (tags, rules,
detected personal data — scanned off the event loop — and session pinning), the route
(``routers.policy``), redaction of everything that will leave the device (messages and stop
strings), tokenization and the context window. Nothing here touches the device's context
or the cloud, so a bad request is refused before the first byte of an answer.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field, replace
from typing import Any

from device_runtime.engine import LlamaEngine, SamplingParams
from gateway.core.errors import ContextTooLong, InvalidRequest, ModelNotFound
from gateway.api.protocol import ChatCompletionRequest, CompletionRequest
from gateway.cloud_client.health import NetworkMonitor
from gateway.config import TandemConfig
from gateway.core.tokenizers import TokenizerCheck
from gateway.core.trace import RouteTrace
from gateway.privacy.pii import PiiDetector
from gateway.privacy.policy import PrivacyDecision, PrivacyRouter, PrivacyRule
from gateway.privacy.session import SessionPins
from routers.cost import CloudBudget
from routers.policy import AutoPolicy, RouteChoice, RouteFacts

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



class Planner:
    def __init__(self, config: TandemConfig, engine: LlamaEngine, monitor: NetworkMonitor, budget: CloudBudget,
                 has_cloud: bool):
        self.config, self.engine, self.monitor, self.budget, self.has_cloud = config, engine, monitor, budget, has_cloud
        p = config.privacy
        self.privacy = PrivacyRouter(p.pii_action, [PrivacyRule(**r.model_dump()) for r in p.rules],
                                     PiiDetector(use_presidio=p.use_presidio), p.default_level, p.max_scan_chars)
        self.sessions = SessionPins(p.session_pin_s)
        self.policy = AutoPolicy(config.routing.device_only_latency_ms)

    def requested_mode(self, model: str, metadata: dict[str, Any] | None) -> str:
        mode = VIRTUAL_MODELS.get(model)
        if mode is None and model in (self.engine.name, "tandem"):
            mode = self.config.routing.default_mode if model == "tandem" else "device"
        if mode is None:
            raise ModelNotFound(f"The model `{model}` does not exist. Available: {', '.join(self.model_ids())}",
                                "model")
        forced = (metadata or {}).get("mode")
        if forced is not None:
            if forced not in ("auto", "device", "cloud", "cascade", "speculative"):
                raise InvalidRequest(f"metadata.mode must be one of auto, device, cloud, cascade, speculative; got {forced!r}",
                                  "metadata.mode")
            mode = forced
        return mode

    def model_ids(self) -> list[str]:
        return list(VIRTUAL_MODELS) + [self.engine.name]

    async def plan(self, body: ChatCompletionRequest | CompletionRequest, tokenizers: TokenizerCheck,
                   privacy_header: str | None = None, api_key: str | None = None, session_header: str | None = None,
                   offline: bool = False) -> Job:
        """``offline`` (or ``metadata.offline``): treat the cloud as unavailable for this request only."""
        chat = isinstance(body, ChatCompletionRequest)
        requested = self.requested_mode(body.model, body.metadata)
        trace = RouteTrace(requested=requested)
        meta = body.metadata or {}
        flag = meta.get("offline", False)
        if flag not in (True, False, "true", "false", "1", "0"):  # OpenAI metadata values are strings
            raise InvalidRequest(f"metadata.offline must be true or false; got {flag!r}", "metadata.offline")
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
                raise InvalidRequest(f"token ids must be within [0, {self.engine.n_vocab})", "prompt")
            texts = [prompt_text] if prompt_text is not None else [self.engine.detokenize(body.prompt)]
        stops = body.stop_list  # scanned and redacted like the messages: they go to the cloud too
        try:  # the scan is CPU work (bounded by privacy.max_scan_chars): off the event loop
            decision = await asyncio.to_thread(self.privacy.decide, texts + stops, meta.get("privacy"),
                                               privacy_header, api_key)
        except ValueError as exc:
            raise InvalidRequest(str(exc), "metadata.privacy" if meta.get("privacy") else None) from exc
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
                speculative_ok=tokenizers.compatible, speculative_reason=tokenizers.reason,
                quality=meta.get("quality"), max_latency_ms=_float_or_none(meta.get("max_latency_ms")),
            ))

        choice = route(not offline and self.has_cloud and self.monitor.available())
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
            raise InvalidRequest("The prompt is empty (it has no tokens).", "prompt", "invalid_value")
        params = replace(self._sampling(body, len(prompt_tokens)), stop=cloud_stop)  # matched in placeholder space
        n_logprobs = (body.top_logprobs or 0 if body.logprobs else None) if chat else body.logprobs
        if n_logprobs is not None:
            params = replace(params, top_logprobs=n_logprobs)
        return Job(chat, messages, prompt_text, prompt_tokens, params, trace, decision, n_logprobs, api_key,
                   cloud_stop=cloud_stop)

    def _sampling(self, body: ChatCompletionRequest | CompletionRequest, n_prompt: int) -> SamplingParams:
        n_ctx = self.engine.n_ctx
        if n_prompt >= n_ctx:
            raise ContextTooLong(f"This model's maximum context length is {n_ctx} tokens. However, your messages "
                                f"resulted in {n_prompt} tokens. Please reduce the length of the messages.",
                                "messages")
        requested = body.requested_max_tokens
        if requested is not None and n_prompt + requested > n_ctx:
            raise ContextTooLong(f"max_tokens is too large: {requested}. This model's maximum context length is "
                                f"{n_ctx} tokens and your request has {n_prompt} input tokens "
                                f"({n_ctx - n_prompt} left for the completion).",
                                "max_tokens")
        max_tokens = requested or min(self.config.server.max_tokens_default, n_ctx - n_prompt)
        temperature = self.config.server.temperature_default if body.temperature is None else body.temperature
        return SamplingParams(max_tokens=max_tokens, temperature=temperature, top_p=body.top_p or 1.0,
                              seed=body.seed, stop=tuple(body.stop_list))  # seed: unsigned already (schemas)


def _float_or_none(value: Any) -> float | None:
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None

