"""The local cloud: a llama.cpp model behind the subset of vLLM's OpenAI API the gateway uses.

    tandem cloud --model qwen2.5-coder-1.5b --port 8001

For machines without vLLM (development, tests, a laptop demo). Real deployments point
the gateway at vLLM instead; the gateway talks to both over HTTP in the same way.

Speaks, as vLLM does: ``/v1/completions`` (string or token-id prompts, ``logprobs``,
``prompt_logprobs``, ``return_tokens_as_token_ids``, ``return_token_ids``, streaming),
``/v1/chat/completions`` (streaming and not), ``/tokenize``, ``/detokenize``,
``/v1/models``, ``/health``, ``/metrics`` (vLLM's load gauges by their names: requests waiting
and running, and as KV cache use the share of the session memory bound its saved states take).
And natively ``/v1/tandem/verify``: context + draft token
ids in, verified continuation out, evaluated as one batch over the cached prefix (the KV
cache keeps the conversation between rounds, so a round costs k+1 positions, not the
whole context). Each caller's verification session keeps its own KV state, a bounded number
at once (``cloud.sessions``): N devices verifying together do not evict each other; past the
memory bound the least recently used session's state goes, and its next round is one
prefill. Optional injected delay, jitter and failure rate simulate a network.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from aiohttp import web

from cloud.sessions import SessionStore
from device_runtime.engine import ContextOverflow, LlamaEngine, SamplingParams, TokenEvent, common_prefix
from device_runtime.grammar import AllowedTokens, Grammar, GrammarError, TokenFilter
from device_runtime.sampling import log_softmax, top_logprobs
from device_runtime.tools import ToolCall, ToolCallParser, ToolError, Tools, finish_reason, template_messages
from device_runtime.tools import parse as parse_calls
from device_runtime.worker import DeviceWorker
from gateway.api.encoder import Encoder, Vocab
from gateway.api.protocol import ResponseFormat
from gateway.api.responses import ModelList, VllmChoiceFields, dumps, error_body, hash_ids, now, usage
from gateway.api.sse import open_stream, send_done, send_event, send_events
from gateway.cloud_client.load import render_metrics
from gateway.core.acceptance import greedy_accept

if TYPE_CHECKING:
    from gateway.api.encoder import LogprobRun

log = logging.getLogger("tandem.cloud")

ENGINE = web.AppKey("engine", LlamaEngine)
WORKER = web.AppKey("worker", DeviceWorker)
SERVED_NAME = web.AppKey("served_name", str)
# every caller's verification state (cloud/sessions.py); touched only on the worker thread, in its turn
SESSIONS = web.AppKey("sessions", SessionStore)


class RequestError(Exception):
    """A request the stand-in refuses; the error middleware answers it in OpenAI's shape."""

    def __init__(self, status: int, message: str, param: str | None = None, code: str | None = None):
        super().__init__(message)
        self.status, self.message, self.param, self.code = status, message, param, code


class InjectedFailure(Exception):
    """The network simulation dropped this request (answered 503, as an overloaded server would)."""


@dataclass
class NetworkSimulation:
    delay_ms: float = 0.0
    jitter_ms: float = 0.0
    failure_rate: float = 0.0
    rng: random.Random = random.Random(0)

    async def apply(self) -> None:
        if self.failure_rate and self.rng.random() < self.failure_rate:
            raise InjectedFailure("injected failure")
        delay = self.delay_ms + (self.rng.uniform(-self.jitter_ms, self.jitter_ms) if self.jitter_ms else 0.0)
        if delay > 0:
            await asyncio.sleep(delay / 1000)


NETWORK = web.AppKey("network", NetworkSimulation)


def _error(status: int, message: str, param: str | None = None, code: str | None = None) -> web.Response:
    kind = "invalid_request_error" if status < 500 else "server_error"
    return web.json_response(error_body(message, kind, param, code), status=status, dumps=dumps)


async def _json(request: web.Request) -> dict:
    try:
        body = await request.json()
    except ValueError as exc:
        raise RequestError(400, f"invalid JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise RequestError(400, "body must be an object")
    await request.app[NETWORK].apply()
    return body


# -- handlers ------------------------------------------------------------------------------------
async def health(request: web.Request) -> web.Response:
    return web.Response(text="ok")


async def models(request: web.Request) -> web.Response:
    engine = request.app[ENGINE]
    cards: ModelList = {"object": "list", "data": [{
        "id": request.app[SERVED_NAME], "object": "model", "created": now(), "owned_by": "tandem-local-cloud",
        "max_model_len": engine.n_ctx, "root": engine.name}]}
    return web.json_response(cards, dumps=dumps)


async def info(request: web.Request) -> web.Response:
    """Tokenizer identity for the gateway's start-up check."""
    engine = request.app[ENGINE]
    return web.json_response({"model": engine.name, "n_vocab": engine.n_vocab, "n_ctx": engine.n_ctx,
                              "eos_token_ids": sorted(engine.eos_token_ids), "native_verify": True,
                              "sessions": request.app[SESSIONS].stats()})


async def tokenize(request: web.Request) -> web.Response:
    body = await _json(request)
    engine = request.app[ENGINE]
    if "messages" in body:
        ids = engine.chat_tokens(body["messages"])
    else:
        ids = engine.tokenize(str(body.get("prompt", "")), add_bos=bool(body.get("add_special_tokens", True)))
    return web.json_response({"count": len(ids), "max_model_len": engine.n_ctx, "tokens": ids})


async def detokenize(request: web.Request) -> web.Response:
    body = await _json(request)
    text = request.app[ENGINE].detokenize([int(t) for t in body.get("tokens", [])])
    return web.json_response({"prompt": text}, dumps=dumps)


async def metrics(request: web.Request) -> web.Response:
    """vLLM's queue and KV-cache gauges, so the gateway reads this cloud's load as it reads vLLM's."""
    worker, stats = request.app[WORKER], request.app[SESSIONS].stats()
    kv = stats["saved_bytes"] / stats["memory_bytes"] if stats["memory_bytes"] else 0.0
    text = render_metrics(worker.waiting, int(worker.busy), min(1.0, kv), request.app[SERVED_NAME])
    return web.Response(text=text, content_type="text/plain", charset="utf-8")


def verify_round(engine: LlamaEngine, context: list[int], draft: list[int], top_n: int,
                 reuse: bool = True) -> dict[str, Any]:
    """One verification pass over a cached prefix (runs on the worker thread).

    What the cache lacks of the context (usually just the last round's correction) and the
    k drafts are evaluated in a single forward pass; the last k+1 positions give the verdicts.
    ``reuse=False`` evaluates the whole context.
    """
    keep = min(common_prefix(engine.tokens, context), len(context) - 1) if reuse else 0
    engine.truncate(keep)
    rows = list(engine.extend_last(context[keep:] + draft, len(draft) + 1))
    argmax = [int(np.argmax(r)) for r in rows]
    accepted, tokens = greedy_accept(draft, argmax)
    engine.truncate(len(context) + accepted)  # the cache keeps what the conversation will reuse
    out: dict[str, Any] = {"accepted": accepted, "tokens": tokens, "cached_tokens": keep}
    if top_n:
        scored = [log_softmax(r) for r in rows]
        out["target_top"] = [top_logprobs(lp, top_n) for lp in scored]
        out["draft_logprobs"] = [float(lp[t]) for lp, t in zip(scored, draft)]  # for lenient acceptance
    return out


def _verify_owner(request: web.Request, body: dict) -> str:
    """Whose cached state a verify call may use: its API key and its session id, hashed together."""
    session = body.get("session")
    raw = f"{request.headers.get('Authorization', '')}\0{session if isinstance(session, str) else ''}"
    return hashlib.blake2b(raw.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


@dataclass
class VerifyRequest:
    draft: list[int]
    top_n: int
    context: list[int] | None  # the full form
    prefix: tuple[int, str, list[int]] | None  # the delta form: (length, fingerprint, tail) of the context


def _verify_request(body: dict) -> VerifyRequest:
    try:
        draft = [int(t) for t in body.get("draft", [])]
        top_n = int(body.get("top_logprobs") or 0)
        if "context" in body:
            req = VerifyRequest(draft, top_n, [int(t) for t in body["context"]], None)
        else:  # delta form: the prefix we should still hold, proven by length and fingerprint
            tail = [int(t) for t in body.get("context_tail", [])]
            req = VerifyRequest(draft, top_n, None, (int(body["prefix_len"]), str(body["prefix_hash"]), tail))
    except (KeyError, TypeError, ValueError) as exc:
        raise RequestError(400, "verify needs 'context' (token ids), or 'prefix_len' + 'prefix_hash' + "
                                "'context_tail', and 'draft' (token ids)") from exc
    if req.context is not None and not req.context:
        raise RequestError(400, "context must not be empty", "context")
    return req


def verify_session(store: SessionStore, owner: str, req: VerifyRequest) -> dict[str, Any]:
    """One round for one caller (on the worker thread): its own state in, the round, its new state kept.

    The delta form names a prefix of what this caller's state holds; a caller the store does not know
    (never seen, or forgotten past ``max_sessions``) or a wrong fingerprint gets 409, and its full
    resend is never refused. A known session whose state was evicted is rebuilt from its tokens.
    """
    context = req.context
    if req.prefix is not None:
        n, fingerprint, tail = req.prefix
        held = store.tokens(owner)
        if held is None or len(held) < n or hash_ids(held[:n]) != fingerprint:
            raise RequestError(409, "the cached prefix is gone; send the full context", "prefix_hash",
                               "context_unknown")
        context = held[:n] + tail
    assert context is not None
    with store.serving(owner) as engine:
        return verify_round(engine, context, req.draft, req.top_n)


async def verify(request: web.Request) -> web.Response:
    """Draft verification over the caller's own cached prefix.

    Each caller (API key + ``session``) has its own KV state (cloud/sessions.py), and a round builds
    on that state only, never on another caller's. So a 409, and the time a round takes, tell a
    caller only about its own state, never whether another conversation's prefix is cached.
    """
    body = await _json(request)
    req = _verify_request(body)
    if req.prefix is not None and not isinstance(body.get("session"), str):
        raise RequestError(409, "the delta form needs a session; send the full context", "session",
                           "context_unknown")
    worker = request.app[WORKER]
    owner = _verify_owner(request, body)
    t0 = time.perf_counter()
    try:
        async with worker.turn() as call:
            out = await call(verify_session, request.app[SESSIONS], owner, req)
    except ContextOverflow as exc:
        raise RequestError(400, str(exc), "context") from exc
    out["server_ms"] = round((time.perf_counter() - t0) * 1000, 2)
    return web.json_response(out)


def _params(body: dict, engine: LlamaEngine, n_prompt: int) -> SamplingParams:
    stop = body.get("stop") or []
    max_tokens = (body.get("max_tokens") or body.get("max_completion_tokens")
                  or min(256, engine.n_ctx - n_prompt))
    temperature = body.get("temperature")
    logprobs = body.get("logprobs")  # completions: an int; chat: a bool with top_logprobs beside it
    n_top = int(body.get("top_logprobs") or 0) if isinstance(logprobs, bool) else int(logprobs or 0)
    return SamplingParams(
        max_tokens=int(max_tokens), temperature=1.0 if temperature is None else float(temperature),
        top_p=float(body.get("top_p") or 1.0), seed=body.get("seed"),
        stop=tuple([stop] if isinstance(stop, str) else stop), top_logprobs=n_top,
    )


def _prompt(body: dict, engine: LlamaEngine, chat: bool, tools: Tools | None = None) -> list[int]:
    if chat:
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise RequestError(400, "messages must be a non-empty list", "messages")
        listed = tools.for_template if tools else None
        return engine.chat_tokens(template_messages(
            [{**{k: m[k] for k in ("tool_calls", "tool_call_id") if m.get(k)}, "role": m.get("role", "user"),
              "content": _content_text(m.get("content"))} for m in messages]), listed)
    raw = body.get("prompt")
    if isinstance(raw, list) and raw and all(isinstance(t, int) for t in raw):
        return [int(t) for t in raw]
    if isinstance(raw, str) and raw:
        return engine.tokenize(raw, add_bos=True)
    if isinstance(raw, list) and len(raw) == 1 and isinstance(raw[0], str):
        return engine.tokenize(raw[0], add_bos=True)
    raise RequestError(400, "prompt must be a string or a list of token ids", "prompt")


def _content_text(content: Any) -> str:
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return "" if content is None else str(content)


async def completions(request: web.Request) -> web.StreamResponse:
    return await _generate(request, chat=False)


async def chat_completions(request: web.Request) -> web.StreamResponse:
    return await _generate(request, chat=True)


async def _generate(request: web.Request, chat: bool) -> web.StreamResponse:
    body = await _json(request)
    engine: LlamaEngine = request.app[ENGINE]
    tools = _tools(body) if chat else None
    prompt = _prompt(body, engine, chat, tools)
    params = _params(body, engine, len(prompt))
    try:
        engine.check_fits(len(prompt), params.max_tokens)
    except ContextOverflow as exc:
        raise RequestError(400, str(exc), "max_tokens") from exc
    stream = bool(body.get("stream"))
    if body.get("prompt_logprobs") is not None and stream:
        raise RequestError(400, "prompt_logprobs is not available when stream is enabled", "prompt_logprobs")
    # logprobs as this stand-in has always given them: completions, whole answers only
    logprobs = not chat and not stream and bool(params.top_logprobs or body.get("logprobs") is not None)
    vocab = Vocab.of(engine, as_ids=bool(body.get("return_tokens_as_token_ids")))
    enc = Encoder(chat, request.app[SERVED_NAME], vocab, logprobs)
    grammar = _grammar(body) or (tools.grammar(engine) if tools else None)
    rule = _allowed_tokens(body, engine, grammar) or grammar
    if stream:
        return await _stream(request, enc, prompt, params, bool(body.get("return_tokens_as_token_ids")),
                             bool((body.get("stream_options") or {}).get("include_usage")), rule, tools)
    return await _whole(request, enc, body, prompt, params, rule, tools)


def _tools(body: dict) -> Tools | None:
    """``tools``/``tool_choice``/``parallel_tool_calls`` as vLLM's hermes parser serves them."""
    try:
        return Tools.of(body.get("tools"), body.get("tool_choice"), body.get("parallel_tool_calls"))
    except ToolError as exc:
        raise RequestError(400, str(exc), exc.param) from exc


def _grammar(body: dict) -> Grammar | None:
    """``response_format`` (json_object, json_schema) as the grammar the answer follows, as vLLM does."""
    if body.get("response_format") is None:
        return None
    try:
        schema = ResponseFormat.model_validate(body["response_format"]).answer_schema
        return None if schema is None else Grammar.json_schema(schema)
    except (ValueError, GrammarError) as exc:
        raise RequestError(400, f"response_format: {exc}", "response_format") from exc


def _allowed_tokens(body: dict, engine: LlamaEngine, grammar: Grammar | None) -> AllowedTokens | None:
    """vLLM's ``allowed_token_ids`` (what speculative decoding asks where a grammar allowed none of the
    cloud's top tokens: the cloud's best among the allowed ones)."""
    ids = body.get("allowed_token_ids")
    if ids is None:
        return None
    if grammar is not None:
        raise RequestError(400, "allowed_token_ids with response_format or tools is not served here",
                           "allowed_token_ids")
    if not isinstance(ids, list) or not all(isinstance(t, int) and not isinstance(t, bool) for t in ids):
        raise RequestError(400, "allowed_token_ids must be a list of token ids", "allowed_token_ids")
    try:
        return AllowedTokens(ids, engine.n_vocab)
    except GrammarError as exc:
        raise RequestError(400, str(exc), "allowed_token_ids") from exc


def _constraint(engine: LlamaEngine, rule: Grammar | AllowedTokens | None) -> TokenFilter | None:
    """The answer's own constraint (a grammar's state follows one answer); made on the worker thread."""
    return engine.constraint(rule) if isinstance(rule, Grammar) else rule


async def _whole(request: web.Request, enc: Encoder, body: dict, prompt: list[int],
                 params: SamplingParams, rule: Grammar | AllowedTokens | None, tools: Tools | None
                 ) -> web.Response:
    engine, worker = request.app[ENGINE], request.app[WORKER]
    prompt_lp = body.get("prompt_logprobs")
    async with worker.turn() as call:
        await call(request.app[SESSIONS].park)
        prompt_scores = await call(engine.score, prompt, int(prompt_lp)) if prompt_lp is not None else None
        constraint = await call(_constraint, engine, rule)
        events = [ev async for ev in worker.iterate(
            lambda: engine.generate(prompt, params, constraint=constraint))]
    vllm: VllmChoiceFields = {}
    if body.get("return_token_ids"):
        vllm["prompt_token_ids"] = prompt
        vllm["token_ids"] = [ev.token_id for ev in events]
    if prompt_scores is not None:
        vllm["prompt_logprobs"] = enc.prompt_logprobs(prompt, prompt_scores)
    finish = (events[-1].finish_reason if events else None) or "length"  # the last event has one
    text: str | None = "".join(ev.text for ev in events)
    calls: list[ToolCall] = []
    if tools is not None:
        text, calls = parse_calls(text or "", tools)
    payload = enc.response(text, finish_reason(finish, bool(calls)),
                           usage(len(prompt), len(events)), [_logprobs(events)], vllm=vllm, tool_calls=calls)
    return web.json_response(payload, dumps=dumps)


def _logprobs(events: list[TokenEvent]) -> LogprobRun:
    """Generated tokens' logprobs, as the core's chunks carry them (for the one encoder)."""
    return [(ev.token_id, ev.logprob, ev.top_logprobs) for ev in events], None


async def _stream(request: web.Request, enc: Encoder, prompt: list[int], params: SamplingParams, as_ids: bool,
                  include_usage: bool, rule: Grammar | AllowedTokens | None, tools: Tools | None
                  ) -> web.StreamResponse:
    engine, worker = request.app[ENGINE], request.app[WORKER]
    resp = await open_stream(request)
    n = 0
    async with worker.turn() as call:
        await call(request.app[SESSIONS].park)
        constraint = await call(_constraint, engine, rule)
        if enc.chat:
            await send_event(resp, enc.role())
        parser = ToolCallParser(tools) if tools is not None else None
        async for ev in worker.iterate(lambda: engine.generate(prompt, params, constraint=constraint)):
            n += 1
            if parser is None:
                await send_event(resp, enc.delta(ev.text, finish_reason=ev.finish_reason,
                                                 token_ids=[ev.token_id] if as_ids else None))
                continue
            await send_events(resp, *enc.tool_events(parser.feed(ev.text)))
            if ev.finish_reason:
                rest = enc.tool_events(parser.close())
                await send_events(resp, *rest, enc.final(finish_reason(ev.finish_reason, bool(parser.calls))))
    if include_usage:
        await send_event(resp, enc.usage_chunk(usage(len(prompt), n)))
    await send_done(resp)
    return resp


@web.middleware
async def errors(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                 ) -> web.StreamResponse:
    try:
        return await handler(request)
    except RequestError as exc:
        return _error(exc.status, exc.message, exc.param, exc.code)
    except InjectedFailure as exc:
        return _error(503, str(exc))
    except web.HTTPException:
        raise
    except (ConnectionResetError, asyncio.CancelledError):
        raise
    except Exception as exc:  # noqa: BLE001 — the client gets a 500 in OpenAI shape, the log the trace
        log.exception("local cloud request failed")
        return _error(500, f"{type(exc).__name__}: {exc}")


ROUTES = [web.get("/health", health), web.get("/metrics", metrics), web.get("/v1/models", models),
          web.get("/v1/tandem/info", info),
          web.post("/v1/tandem/verify", verify), web.post("/tokenize", tokenize),
          web.post("/detokenize", detokenize), web.post("/v1/completions", completions),
          web.post("/v1/chat/completions", chat_completions)]


def create_cloud_app(engine: LlamaEngine, served_name: str = "cloud",
                     network: NetworkSimulation | None = None, max_queue: int = 64,
                     session_memory_mb: float = 512.0, max_sessions: int = 64) -> web.Application:
    """The local cloud over ``engine``: saved verification states take at most ``session_memory_mb`` of
    RAM, and at most ``max_sessions`` sessions are remembered (cloud/sessions.py)."""
    app = web.Application(middlewares=[errors], client_max_size=16 * 1024 * 1024)
    app[ENGINE] = engine
    app[WORKER] = DeviceWorker(engine, max_queue=max_queue, name="cloud-llama")
    app[NETWORK] = network or NetworkSimulation()
    app[SERVED_NAME] = served_name
    app[SESSIONS] = SessionStore(engine, int(session_memory_mb * (1 << 20)), max_sessions)
    app.add_routes(ROUTES)

    async def on_cleanup(app: web.Application) -> None:
        app[WORKER].shutdown()

    app.on_cleanup.append(on_cleanup)
    return app
