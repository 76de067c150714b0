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
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, cast

from device_runtime.engine import LlamaEngine, SamplingParams
from device_runtime.grammar import Grammar, GrammarError
from device_runtime.tools import ToolError, Tools, template_messages
from gateway.api.protocol import ChatCompletionRequest, CompletionRequest
from gateway.cloud_client.health import NetworkMonitor
from gateway.config import TandemConfig
from gateway.core.answer import AnswerBuilder
from gateway.core.errors import ContextTooLong, InvalidRequest, ModelNotFound
from gateway.core.prompt import CloudFacing, message_out
from gateway.core.query import QueryStep
from gateway.core.scheduling import StateSources, auto_policy, session_key
from gateway.core.tokenizers import TokenizerCheck
from gateway.core.trace import RouteTrace
from gateway.privacy.policy import PrivacyDecision, PrivacyRouter
from gateway.privacy.session import SessionPins
from routers.cost import CloudBudget
from routers.policy import MODES, RouteChoice, RouteFacts

VIRTUAL_MODELS = {f"tandem-{mode}": mode for mode in MODES}  # tandem-auto, tandem-device, …


@dataclass
class Job:
    """A planned request: everything a mode needs, nothing the client still has to fix."""

    chat: bool
    mode: str  # the mode that runs: device | cloud | cascade | speculative (the trace reports it)
    messages: list[dict] | None  # cloud-facing (redacted when privacy says so)
    prompt_text: str | None  # completions with a text prompt, cloud-facing
    prompt_tokens: list[int]
    params: SamplingParams  # for the device's generation: no stop strings (the answer matches them)
    trace: RouteTrace
    privacy: PrivacyDecision
    n_logprobs: int | None  # None: the client asked for no logprobs
    api_key: str | None = None
    # stop strings, cloud-facing (redacted when the messages are): in cloud request bodies, and matched
    # by the answer, since every producer's raw text is in the same (placeholder) space
    stops: tuple[str, ...] = ()
    response_format: dict[str, Any] | None = None  # passed to the cloud as the client sent it
    schema: dict[str, Any] | None = None  # the JSON schema the answer must follow (response_format)
    grammar: Grammar | None = None  # that schema (or an enforced tool call) as a grammar: every producer
    tools: Tools | None = None  # function tools: the answer is read for calls (``device_runtime.tools``)
    answer: AnswerBuilder | None = None  # set when the job runs; current however the run ends
    session_key: str | None = None  # its session in the cloud pool (a hash; cloud_client/pool.py)

    @property
    def completion_tokens(self) -> int:
        return self.answer.completion_tokens if self.answer else 0

    @property
    def finish_reason(self) -> str | None:
        return self.answer.finish_reason if self.answer else None

    @property
    def answer_ids(self) -> list[int]:
        """The answer's token ids, when token-produced."""
        return self.answer.token_ids if self.answer else []


class Planner:
    def __init__(
        self,
        config: TandemConfig,
        engine: LlamaEngine,
        monitor: NetworkMonitor,
        budget: CloudBudget,
        has_cloud: bool,
        query: QueryStep | None = None,
    ):
        self.query = query  # the query router's step (``routing.query_router``); None: off
        self.config, self.engine, self.monitor, self.budget, self.has_cloud = (
            config,
            engine,
            monitor,
            budget,
            has_cloud,
        )
        self.privacy = PrivacyRouter.from_config(config.privacy)
        self.sessions = SessionPins(config.privacy.session_pin_s)
        self.policy = auto_policy(config)
        self.state = StateSources()  # the device's and the cloud's state (the runtime wires them)

    def requested_mode(self, model: str, metadata: Mapping[str, Any] | None) -> str:
        mode = VIRTUAL_MODELS.get(model)
        if mode is None and model in (self.engine.name, "tandem"):
            mode = self.config.routing.default_mode if model == "tandem" else "device"
        if mode is None:
            raise ModelNotFound(
                f"The model `{model}` does not exist. Available: {', '.join(self.model_ids())}", "model"
            )
        forced = (metadata or {}).get("mode")
        if forced is not None:
            if forced not in MODES:
                raise InvalidRequest(
                    f"metadata.mode must be one of {', '.join(MODES)}; got {forced!r}", "metadata.mode"
                )
            mode = forced
        return mode

    def model_ids(self) -> list[str]:
        return list(VIRTUAL_MODELS) + [self.engine.name]

    async def plan(
        self,
        body: ChatCompletionRequest | CompletionRequest,
        tokenizers: TokenizerCheck,
        privacy_header: str | None = None,
        api_key: str | None = None,
        session_header: str | None = None,
        offline: bool = False,
    ) -> Job:
        """The steps, in order; ``offline`` (or ``metadata.offline``): no cloud for this request only."""
        meta = body.metadata or {}
        requested = self.requested_mode(body.model, body.metadata)
        offline = self._offline(meta, offline)
        prompt = scanned = self._cloud_facing(body)
        schema = body.response_format.answer_schema if body.response_format is not None else None
        grammar = self._grammar(schema) or (prompt.tools.grammar(self.engine) if prompt.tools else None)
        sessions = [f"{api_key or ''}\x00{s}" for s in (body.user, session_header, meta.get("session")) if s]
        key = session_key(api_key, [body.user, session_header, meta.get("session")], prompt.messages,
                          prompt.text, prompt.token_ids)  # its cloud replica's (gateway.core.scheduling)
        state = self.state.facts(key if self.has_cloud else None,
                                 body.requested_max_tokens or self.config.server.max_tokens_default)
        decision, pinned, tokens = await self._privacy(prompt, meta, privacy_header, api_key, sessions)
        query = None
        if self.query is not None:  # asked before admission: only the final route takes a half-open trial
            ahead = self._route(requested, decision, offline, tokenizers, meta, api_key, state=state,
                                admit=False)
            query = await self.query.judge(ahead, prompt, len(tokens))
        choice = self._route(requested, decision, offline, tokenizers, meta, api_key, query, state)
        trace = self._trace(requested, decision, pinned, choice)
        trace.query = query
        if choice.mode != "device" and decision.level == "redact" and decision.pii:
            if prompt.token_ids is not None:  # token ids with personal data: we cannot rewrite ids safely
                trace.mode, trace.reason = "device", "personal data in a token-id prompt"
            elif self.privacy.redact(prompt.format_text, decision) != prompt.format_text:  # nor a schema
                trace.mode, trace.reason = "device", "personal data in response_format or tools"
            else:
                prompt = self._redact(prompt, decision)
            trace.redactions = decision.redactor.count if decision.redactor else 0
        prompt_tokens = _non_empty(
            tokens if prompt is scanned else await asyncio.to_thread(self._tokenize, prompt)
        )
        params, n_logprobs = self._sampling(body, len(prompt_tokens))
        return Job(
            prompt.chat,
            trace.mode,
            prompt.messages,
            prompt.text,
            prompt_tokens,
            params,
            trace,
            decision,
            n_logprobs,
            api_key,
            stops=prompt.stops,
            response_format=prompt.response_format,
            schema=schema,
            grammar=grammar,
            session_key=key,
            tools=prompt.tools,
        )

    def _trace(
        self, requested: str, decision: PrivacyDecision, pinned: bool, choice: RouteChoice
    ) -> RouteTrace:
        """The route decision, written once: mode, privacy, and the reason in the client's words."""
        trace = RouteTrace(
            requested=requested,
            mode=choice.mode,
            privacy=decision.level,
            pii=decision.pii,
            reason="session pinned private" if pinned else choice.reason,
        )
        if "unscanned" in decision.sources and choice.reason == "private":
            trace.reason = (
                f"private: longer than the PII scan limit ({self.privacy.max_scan_chars} characters)"
            )
        if choice.degraded:
            trace.degraded, trace.degraded_reason = True, choice.reason
        return trace

    @staticmethod
    def _offline(meta: Mapping[str, Any], offline: bool) -> bool:
        flag = meta.get("offline", False)
        if flag not in (True, False, "true", "false", "1", "0"):  # OpenAI metadata values are strings
            raise InvalidRequest(f"metadata.offline must be true or false; got {flag!r}", "metadata.offline")
        return offline or flag in (True, "true", "1")

    def _cloud_facing(self, body: ChatCompletionRequest | CompletionRequest) -> CloudFacing:
        """Everything of the request that could leave the device, as text to scan and redact."""
        stops = tuple(body.stop_list)  # scanned and redacted like the messages: they go to the cloud too
        rf = body.response_format
        fmt = None if rf is None or rf.type == "text" else rf.model_dump(by_alias=True, exclude_none=True)
        if isinstance(body, ChatCompletionRequest):
            messages = [message_out(m) for m in body.messages]
            return CloudFacing(True, messages, None, None, stops, fmt, self._tools(body))
        if isinstance(body.prompt, str):
            return CloudFacing(False, None, body.prompt, None, stops, fmt)
        ids = cast(list[int], body.prompt)  # the protocol took one prompt: a string, or token ids
        if any(t < 0 or t >= self.engine.n_vocab for t in ids):
            raise InvalidRequest(f"token ids must be within [0, {self.engine.n_vocab})", "prompt")
        return CloudFacing(False, None, None, list(ids), stops, fmt)

    def _tools(self, body: ChatCompletionRequest) -> Tools | None:
        try:
            tools = Tools.of(body.tools, body.tool_choice, body.parallel_tool_calls)
        except ToolError as exc:
            raise InvalidRequest(str(exc), exc.param) from exc
        if tools is not None and tools.for_template and not self.engine.supports_tools:
            raise InvalidRequest(f"the device model {self.engine.name} has no tool support in its chat "
                                 "template; tools cannot be honoured", "tools")
        return tools

    @staticmethod
    def _grammar(schema: dict[str, Any] | None) -> Grammar | None:
        """``response_format``'s schema as the grammar every producer of the answer decodes under."""
        if schema is None:
            return None
        try:
            return Grammar.json_schema(schema)
        except GrammarError as exc:
            raise InvalidRequest(str(exc), "response_format") from exc

    async def _privacy(
        self,
        prompt: CloudFacing,
        meta: Mapping[str, Any],
        header: str | None,
        api_key: str | None,
        sessions: list[str],
    ) -> tuple[PrivacyDecision, bool, list[int]]:
        """Tags, rules and detected personal data; a session that was ever private stays on the device.

        The scan is CPU work (bounded by privacy.max_scan_chars): off the event loop, in one thread hop
        with tokenizing the prompt as it came (used as is unless redaction changes the prompt).
        """
        texts = prompt.texts(self.engine.detokenize) + list(prompt.stops) + prompt.format_text

        def scan_and_tokenize() -> tuple[PrivacyDecision, list[int]]:
            return self.privacy.decide(texts, meta.get("privacy"), header, api_key), self._tokenize(prompt)

        try:
            decision, tokens = await asyncio.to_thread(scan_and_tokenize)
        except ValueError as exc:
            raise InvalidRequest(str(exc), "metadata.privacy" if meta.get("privacy") else None) from exc
        pinned = decision.level != "private" and any(self.sessions.pinned(s) for s in sessions)
        if decision.level == "private":
            for s in sessions:
                self.sessions.pin(s)
        elif pinned:
            decision.level = "private"
            decision.sources.append("session")
        return decision, pinned, tokens

    def _route(
        self,
        requested: str,
        decision: PrivacyDecision,
        offline: bool,
        tokenizers: TokenizerCheck,
        meta: Mapping[str, Any],
        api_key: str | None,
        query: Mapping[str, float] | None = None,
        state: Mapping[str, Any] | None = None,
        admit: bool = True,
    ) -> RouteChoice:
        """The auto policy over this request's facts; a half-open trial held elsewhere means no cloud."""

        def route(cloud_ok: bool) -> RouteChoice:
            return self.policy.choose(
                RouteFacts(
                    requested=requested,
                    privacy_level=decision.level,
                    cloud_available=cloud_ok,
                    cloud_reason="cloud offline (requested)"
                    if offline
                    else ""
                    if cloud_ok
                    else self.monitor.reason(),
                    budget_ok=self.budget.allows(api_key or "anonymous"),
                    speculative_ok=tokenizers.compatible,
                    speculative_reason=tokenizers.reason,
                    quality=meta.get("quality"),
                    max_latency_ms=_float_or_none(meta.get("max_latency_ms")),
                    query_p_gain=query["p_gain"] if query else None,
                    query_threshold=query["threshold"] if query else 0.5,
                    **(state or {}),  # the device's and the cloud's state (gateway.core.scheduling)
                )
            )

        choice = route(not offline and self.has_cloud and self.monitor.available())
        if admit and choice.mode != "device" and not self.monitor.admit():
            choice = route(False)
        return choice

    def _redact(self, prompt: CloudFacing, decision: PrivacyDecision) -> CloudFacing:
        """Placeholders for detected values in every text that leaves the device (messages, stop strings)."""
        texts = prompt.texts(self.engine.detokenize)
        redacted = self.privacy.redact(texts + list(prompt.stops), decision)
        stops = tuple(redacted[len(texts) :])
        if prompt.messages is not None:
            return replace(prompt, messages=prompt.with_texts(redacted[: len(texts)]), stops=stops)
        return replace(prompt, text=redacted[0], stops=stops)

    def _tokenize(self, prompt: CloudFacing) -> list[int]:
        if prompt.messages is not None:
            tools = prompt.tools.for_template if prompt.tools else None
            return self.engine.chat_tokens(template_messages(prompt.messages), tools)
        if prompt.text is not None:
            return self.engine.tokenize(prompt.text)
        return list(prompt.token_ids or [])

    def _sampling(
        self, body: ChatCompletionRequest | CompletionRequest, n_prompt: int
    ) -> tuple[SamplingParams, int | None]:
        """What the device samples with, and how many alternatives per token the client wants (None: no
        logprobs); a completion that cannot fit the context window is refused here."""
        n_ctx = self.engine.n_ctx
        if n_prompt >= n_ctx:
            raise ContextTooLong(
                f"This model's maximum context length is {n_ctx} tokens. However, your messages "
                f"resulted in {n_prompt} tokens. Please reduce the length of the messages.",
                "messages",
            )
        requested = body.requested_max_tokens
        if requested is not None and n_prompt + requested > n_ctx:
            raise ContextTooLong(
                f"max_tokens is too large: {requested}. This model's maximum context length is "
                f"{n_ctx} tokens and your request has {n_prompt} input tokens "
                f"({n_ctx - n_prompt} left for the completion).",
                "max_tokens",
            )
        max_tokens = requested or min(self.config.server.max_tokens_default, n_ctx - n_prompt)
        temperature = self.config.server.temperature_default if body.temperature is None else body.temperature
        if isinstance(body, ChatCompletionRequest):
            n_logprobs = (body.top_logprobs or 0) if body.logprobs else None
        else:
            n_logprobs = body.logprobs
        params = SamplingParams(
            max_tokens=max_tokens,
            temperature=temperature,
            top_p=body.top_p or 1.0,
            seed=body.seed,
            top_logprobs=n_logprobs or 0,
        )  # seed: unsigned already
        return params, n_logprobs


def _float_or_none(value: Any) -> float | None:
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None


def _non_empty(tokens: list[int]) -> list[int]:
    if not tokens:
        raise InvalidRequest("The prompt is empty (it has no tokens).", "prompt", "invalid_value")
    return tokens

