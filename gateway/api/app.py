"""The OpenAI-compatible HTTP server: routes, middlewares, and the OpenAI response shapes.

    app = create_app(config, collaborator)
    web.run_app(app, host="127.0.0.1", port=8000, handler_cancellation=True)

Handlers only translate: body → pydantic → ``Collaborator.plan`` → ``Collaborator.run``
→ OpenAI JSON or SSE. Cross-cutting concerns are middlewares: errors in OpenAI's shape,
API keys, refusing new work while shutting down, one structured log line per request.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ValidationError

from device_runtime.worker import QueueFull
from gateway.api.errors import ApiError, bad_request
from gateway.api.metrics import Metrics
from gateway.api.protocol import ChatCompletionRequest, CompletionRequest, error_body, new_id, now, usage
from gateway.api.sse import open_stream, send_done, send_event
from gateway.config import TandemConfig
from gateway.core.answer import Chunk
from gateway.core.orchestrator import Collaborator, Job

log = logging.getLogger("tandem.gateway")
request_log = logging.getLogger("tandem.requests")

CONFIG = web.AppKey("config", TandemConfig)
COLLAB = web.AppKey("collaborator", Collaborator)
METRICS = web.AppKey("metrics", Metrics)
STATE = web.AppKey("state", dict)
API_KEY = web.RequestKey("api_key", str)
STREAM_ERROR = web.RequestKey("stream_error", bool)  # the stream ended with an error event
CLIENT_GONE = web.RequestKey("client_gone", bool)  # the client disconnected mid-stream

STATIC = Path(__file__).resolve().parent / "static"
TRUE = {"1", "true", "yes", "on"}
OPEN_PATHS = {"/health", "/ready", "/", "/demo"}  # /metrics too when server.metrics_open

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


# -- middlewares -----------------------------------------------------------------------------------
@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as exc:
        return exc.response()
    except web.HTTPRequestEntityTooLarge as exc:
        return ApiError(413, f"Request body too large: {exc.text}", "invalid_request_error", None,
                        "request_too_large").response()
    except web.HTTPNotFound:
        return ApiError(404, f"No route for {request.method} {request.path}", "invalid_request_error", None,
                        "not_found").response()
    except web.HTTPMethodNotAllowed:
        return ApiError(405, f"Method {request.method} not allowed on {request.path}", "invalid_request_error",
                        None, "method_not_allowed").response()
    except web.HTTPException:
        raise
    except (asyncio.CancelledError, ConnectionResetError):
        raise
    except Exception:  # never leak a traceback to the client; log it
        log.exception("unhandled error on %s %s", request.method, request.path)
        return ApiError(500, "Internal server error", "server_error", None, "internal_error").response()


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    server = request.app[CONFIG].server
    keys = server.api_keys
    open_path = request.path in OPEN_PATHS or request.path.startswith("/static") or (
        request.path == "/metrics" and server.metrics_open)
    if keys and not open_path:
        header = request.headers.get("Authorization", "")
        token = header[7:].strip() if header.lower().startswith("bearer ") else ""
        if not token:
            raise ApiError(401, "Missing API key: send 'Authorization: Bearer <key>'.", "invalid_request_error",
                           None, "missing_api_key")
        # compare bytes: compare_digest refuses non-ASCII str, and a header may hold any bytes
        given = token.encode("utf-8", "surrogatepass")
        if not any(hmac.compare_digest(given, k.encode("utf-8")) for k in keys):
            raise ApiError(401, "Incorrect API key provided.", "invalid_request_error", None, "invalid_api_key")
        request[API_KEY] = token
    return await handler(request)


@web.middleware
async def shutdown_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    state = request.app[STATE]
    if state["draining"] and request.path.startswith("/v1/"):
        raise ApiError(503, "The server is shutting down; retry on another instance.", "server_error", None,
                       "server_shutting_down", {"Retry-After": "5"})
    state["inflight"] += 1
    request.app[METRICS].inflight.inc()
    try:
        return await handler(request)
    finally:
        state["inflight"] -= 1
        request.app[METRICS].inflight.dec()
        if state["inflight"] == 0:
            state["idle"].set()


# -- helpers --------------------------------------------------------------------------------------------
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


async def parse_body(request: web.Request, model: type[BaseModel]) -> Any:
    raw = await request.read()  # raises 413 past client_max_size
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise bad_request(f"We could not parse the JSON body of your request: {exc}", code="invalid_json") from exc
    except RecursionError as exc:  # json nests by recursion: [[[[…]]]] past the interpreter's limit
        raise bad_request("We could not parse the JSON body of your request: nested too deeply.",
                          code="invalid_json") from exc
    if not isinstance(data, dict):
        raise bad_request("The request body must be a JSON object.", code="invalid_json")
    if _SURROGATE_ESCAPE.search(raw):  # \ud800 alone is valid JSON but no Unicode: nothing downstream can encode it
        try:
            json.dumps(data, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError as exc:
            raise bad_request("The request body holds an unpaired UTF-16 surrogate (\\ud800-\\udfff), "
                              "which is not valid Unicode.", code="invalid_json") from exc
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        param = ".".join(str(p) for p in err["loc"]) or None
        msg = err["msg"].removeprefix("Value error, ")
        raise bad_request(f"Invalid value for '{param}': {msg}" if param else msg, param, "invalid_value") from exc


def _logprobs_content(collab: Collaborator, chunks: list[Chunk]) -> list[dict]:
    """Chat logprobs in OpenAI's shape; a logprob no model reported is null, never a made-up 0.0."""
    engine = collab.engine
    content: list[dict] = []
    for ch in chunks:
        if isinstance(ch.raw_logprobs, dict):  # cloud pass-through: the cloud's own entries
            content += ch.raw_logprobs.get("content") or []
        for token, lp, top in ch.logprobs:
            content.append({"token": engine.detokenize([token]), "logprob": lp, "bytes": list(engine.token_bytes(token)),
                            "top_logprobs": [{"token": engine.detokenize([t]), "logprob": alt,
                                              "bytes": list(engine.token_bytes(t))} for t, alt in top]})
    return content


def _completion_logprobs(collab: Collaborator, chunks: list[Chunk]) -> dict:
    engine = collab.engine
    out: dict[str, list] = {"tokens": [], "token_logprobs": [], "top_logprobs": [], "text_offset": []}
    for ch in chunks:
        if isinstance(ch.raw_logprobs, dict):  # cloud pass-through
            for key in ("tokens", "token_logprobs", "top_logprobs"):
                out[key] += ch.raw_logprobs.get(key) or []
        for token, lp, top in ch.logprobs:
            out["tokens"].append(engine.detokenize([token]))
            out["token_logprobs"].append(lp)
            out["top_logprobs"].append({engine.detokenize([t]): alt for t, alt in top})
    return out


def _log_request(request: web.Request, endpoint: str, status: int, job: Job | None, started: float,
                 messages: Any = None) -> None:
    record: dict[str, Any] = {"event": "request", "endpoint": endpoint, "status": status,
                              "latency_ms": round((time.perf_counter() - started) * 1000, 1)}
    if job is not None:
        t = job.trace
        record.update(mode=t.mode, reason=t.reason, degraded=t.degraded, privacy=t.privacy,
                      prompt_tokens=len(job.prompt_tokens), completion_tokens=job.completion_tokens,
                      device_tokens=t.device_tokens, cloud_tokens=t.cloud_tokens, cloud_calls=t.cloud_calls)
    if request.app[CONFIG].server.log_prompts and messages is not None:
        record["prompt"] = messages
    request_log.info(json.dumps(record, ensure_ascii=False))


# -- completion handlers ------------------------------------------------------------------------------
async def chat_completions(request: web.Request) -> web.StreamResponse:
    return await _complete(request, chat=True)


async def completions(request: web.Request) -> web.StreamResponse:
    return await _complete(request, chat=False)


async def _complete(request: web.Request, chat: bool) -> web.StreamResponse:
    started = time.perf_counter()
    endpoint = "chat.completions" if chat else "completions"
    collab = request.app[COLLAB]
    metrics = request.app[METRICS]
    job: Job | None = None
    body: Any = None
    stream: Any = None
    status = 200
    try:
        body = await parse_body(request, ChatCompletionRequest if chat else CompletionRequest)
        job = await collab.plan(body, request.headers.get("X-Privacy"), request.get(API_KEY),
                                request.headers.get("X-Session-Id"),
                                offline=request.headers.get("X-Tandem-Offline", "").strip().lower() in TRUE)
        stream = collab.run(job)
        metrics.queue.set(collab.device.waiting + 1)
        try:
            first = await anext(stream, None)  # queue admission and errors surface before any byte is sent
        except QueueFull as exc:
            raise ApiError(429, f"The device model is busy ({exc}); retry shortly.", "rate_limit_error", None,
                           "queue_full", {"Retry-After": "1"}) from exc
        finally:
            metrics.queue.set(collab.device.waiting)
        rid = new_id("chatcmpl" if chat else "cmpl")
        if body.stream:
            resp = await _stream_response(request, collab, job, body, rid, first, stream, chat)
            if request.get(STREAM_ERROR):
                status = 500  # for logs and metrics: the client saw 200 and an error event
            elif request.get(CLIENT_GONE):
                status = 499
            return resp
        chunks = [first] if first is not None else []
        chunks += [c async for c in stream]
        return _json_response(collab, job, body, rid, chunks, chat)
    except ApiError as exc:
        status = exc.status
        raise
    except (asyncio.CancelledError, ConnectionResetError):
        status = 499  # the client went away; its generation was cancelled with it
        raise
    finally:
        if stream is not None:  # however the request ended, the device turn and cloud connection go back now
            await stream.aclose()
        if job is not None:
            metrics.observe(endpoint, status, job.trace, time.perf_counter() - started, len(job.prompt_tokens))
            if "first_token" in job.trace.timings_ms:
                metrics.ttft.labels(job.trace.mode).observe(job.trace.timings_ms["first_token"] / 1000)
        prompt = None if body is None else ([m.text for m in body.messages] if chat else body.prompt)
        _log_request(request, endpoint, status, job, started, prompt)


def _json_response(collab: Collaborator, job: Job, body: Any, rid: str, chunks: list[Chunk], chat: bool
                   ) -> web.Response:
    text = "".join(c.text for c in chunks)
    choice: dict[str, Any] = {"index": 0, "finish_reason": job.finish_reason or "stop"}
    if chat:
        choice["message"] = {"role": "assistant", "content": text}
        choice["logprobs"] = {"content": _logprobs_content(collab, chunks)} if job.n_logprobs is not None else None
    else:
        choice["text"] = text
        choice["logprobs"] = _completion_logprobs(collab, chunks) if job.n_logprobs is not None else None
    payload = {
        "id": rid, "object": "chat.completion" if chat else "text_completion", "created": now(),
        "model": body.model, "choices": [choice], "usage": usage(len(job.prompt_tokens), job.completion_tokens),
        "tandem": job.trace.to_dict(),
    }
    return web.json_response(payload, headers={"x-tandem-route": job.trace.header()},
                             dumps=lambda o: json.dumps(o, ensure_ascii=False))


async def _stream_response(request: web.Request, collab: Collaborator, job: Job, body: Any, rid: str,
                           first: Chunk | None, stream: Any, chat: bool) -> web.StreamResponse:
    resp = await open_stream(request, {"x-tandem-route": job.trace.header()})
    obj = "chat.completion.chunk" if chat else "text_completion"
    created = now()

    def frame(choice: dict | None, **extra: Any) -> dict:
        return {"id": rid, "object": obj, "created": created, "model": body.model,
                "choices": [choice] if choice is not None else [], **extra}

    def piece(chunk: Chunk) -> dict:
        if chat:
            c: dict[str, Any] = {"index": 0, "delta": {"content": chunk.text}, "finish_reason": None}
            if job.n_logprobs is not None:
                c["logprobs"] = {"content": _logprobs_content(collab, [chunk])}
        else:
            c = {"index": 0, "text": chunk.text, "finish_reason": None}
            if job.n_logprobs is not None:
                c["logprobs"] = _completion_logprobs(collab, [chunk])
        return c

    def content(chunk: Chunk) -> dict:
        # extension: who produced this text, so a client can colour it (device-drafted and kept, or cloud)
        return frame(piece(chunk), tandem_origin=chunk.origin) if chunk.origin else frame(piece(chunk))

    try:
        if chat:
            await send_event(resp, frame({"index": 0, "delta": {"role": "assistant", "content": ""},
                                          "finish_reason": None}))
        for chunk in ([first] if first is not None else []):
            if chunk.text or chunk.logprobs or chunk.raw_logprobs:
                await send_event(resp, content(chunk))
        async for chunk in stream:
            if chunk.text or chunk.logprobs or chunk.raw_logprobs:
                await send_event(resp, content(chunk))
        last = {"index": 0, "finish_reason": job.finish_reason or "stop"}
        last.update({"delta": {}} if chat else {"text": ""})
        include_usage = bool(body.stream_options and body.stream_options.include_usage)
        await send_event(resp, frame(last, tandem=job.trace.to_dict()))
        if include_usage:
            await send_event(resp, frame(None, usage=usage(len(job.prompt_tokens), job.completion_tokens)))
        await send_done(resp)
    except ConnectionResetError:  # the client hung up mid-stream: nobody to tell, nothing to log
        request[CLIENT_GONE] = True
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # noqa: BLE001 — the status line is sent: report in the stream, as vLLM does
        await _send_stream_error(resp, request, exc)
    return resp


async def _send_stream_error(resp: web.StreamResponse, request: web.Request, exc: Exception) -> None:
    """After the first byte no status can change: an OpenAI error event, ``[DONE]``, and the end."""
    if isinstance(exc, ApiError):
        body = exc.body()
    elif isinstance(exc, QueueFull):
        body = error_body(f"The device model is busy ({exc}); retry shortly.", "rate_limit_error", None, "queue_full")
    else:
        log.exception("error after the stream started on %s %s", request.method, request.path)
        body = error_body("Internal server error while streaming the answer", "server_error", None, "internal_error")
    request[STREAM_ERROR] = True
    try:
        await send_event(resp, body)
        await send_done(resp)
    except ConnectionResetError:
        request[CLIENT_GONE] = True


# -- other routes --------------------------------------------------------------------------------------
async def list_models(request: web.Request) -> web.Response:
    collab = request.app[COLLAB]
    created = request.app[STATE]["started"]
    data = [{"id": m, "object": "model", "created": created, "owned_by": "tandem",
             "max_model_len": collab.engine.n_ctx} for m in collab.model_ids()]
    return web.json_response({"object": "list", "data": data})


async def health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def ready(request: web.Request) -> web.Response:
    """Ready when the device model is loaded; reports the cloud as it stands (the device answers anyway)."""
    collab = request.app[COLLAB]
    cloud_up = collab.cloud is not None and collab.monitor.available()
    request.app[METRICS].cloud_up.set(1 if cloud_up else 0)
    draining = request.app[STATE]["draining"]
    body = {
        "status": "draining" if draining else "ready",
        "device": {"model": collab.engine.name, "n_ctx": collab.engine.n_ctx, "queue": collab.device.waiting,
                   "busy": collab.device.busy},
        "cloud": {"configured": collab.cloud is not None, "available": cloud_up,
                  "endpoints": collab.monitor.snapshot(),
                  "speculative": {"enabled": collab.tokenizers.compatible, "reason": collab.tokenizers.reason}},
    }
    return web.json_response(body, status=503 if draining else 200)


async def metrics_route(request: web.Request) -> web.Response:
    collab = request.app[COLLAB]
    m = request.app[METRICS]
    m.queue.set(collab.device.waiting)
    m.cloud_up.set(1 if collab.cloud is not None and collab.monitor.available() else 0)
    return web.Response(body=m.render(), content_type="text/plain", charset="utf-8",
                        headers={"X-Content-Type-Options": "nosniff"})


async def demo_page(request: web.Request) -> web.StreamResponse:
    return web.FileResponse(STATIC / "index.html")


def is_loopback(host: str) -> bool:
    """Only this machine can reach the address (a name other than localhost counts as exposed)."""
    if host.strip("[]").lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def create_app(config: TandemConfig, collaborator: Collaborator) -> web.Application:
    server = config.server
    if not server.api_keys and not is_loopback(server.host):
        log.warning("SECURITY: binding %s with no API keys — anyone who can reach this address can use the "
                    "models%s. Set server.api_keys (or --api-key), or bind 127.0.0.1.", server.host,
                    " and read /metrics" if server.metrics_open else "")
    app = web.Application(middlewares=[error_middleware, shutdown_middleware, auth_middleware],
                          client_max_size=config.server.max_body_bytes)
    app[CONFIG] = config
    app[COLLAB] = collaborator
    app[METRICS] = Metrics()
    app[STATE] = {"draining": False, "inflight": 0, "idle": asyncio.Event(), "started": now()}
    app.router.add_post("/v1/chat/completions", chat_completions)
    app.router.add_post("/v1/completions", completions)
    app.router.add_get("/v1/models", list_models)
    app.router.add_get("/health", health)
    app.router.add_get("/ready", ready)
    app.router.add_get("/metrics", metrics_route)
    if (STATIC / "index.html").is_file():
        app.router.add_get("/", demo_page)
        app.router.add_static("/static", STATIC)

    app.on_shutdown.append(drain)
    return app


async def drain(app: web.Application) -> None:
    """Graceful shutdown: refuse new work (503), give in-flight requests the grace period."""
    state = app[STATE]
    state["draining"] = True
    if state["inflight"]:
        state["idle"].clear()
        try:
            await asyncio.wait_for(state["idle"].wait(), timeout=app[CONFIG].server.shutdown_grace_s)
        except TimeoutError:
            log.warning("shutdown: %d request(s) still running after the grace period; cancelling",
                        state["inflight"])
