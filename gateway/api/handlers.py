"""The routes' handlers. Completions only translate:

    body → pydantic (protocol) → core.plan → core.run → Encoder → OpenAI JSON or SSE

Everything that can fail with a client error fails in ``plan`` or at queue admission (the
first chunk), before a byte is sent, and leaves through the error middleware; after the
first byte an error is an SSE error event. Each request ends with one metrics observation
and one structured log line.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web
from pydantic import BaseModel, ValidationError

from device_runtime.tools import ToolCall, ToolCallParser, finish_reason
from device_runtime.tools import parse as parse_calls
from gateway.api.encoder import Encoder, Vocab
from gateway.api.errors import bad_request, error_parts
from gateway.api.protocol import ChatCompletionRequest, CompletionRequest
from gateway.api.responses import ModelList, dumps, usage
from gateway.api.sse import open_stream, send_done, send_events
from gateway.api.state import API_KEY, CONFIG, CORE, METRICS, OUTCOME, STATE, Core, Job

if TYPE_CHECKING:
    from gateway.core.answer import Chunk

log = logging.getLogger("tandem.gateway")
request_log = logging.getLogger("tandem.requests")

STATIC = Path(__file__).resolve().parent.parent / "static"
TRUE = {"1", "true", "yes", "on"}
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


async def parse_body(request: web.Request, model: type[BaseModel]) -> Any:
    raw = await request.read()  # raises 413 past client_max_size
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise bad_request(f"We could not parse the JSON body of your request: {exc}",
                          code="invalid_json") from exc
    except RecursionError as exc:  # json nests by recursion: [[[[…]]]] past the interpreter's limit
        raise bad_request("We could not parse the JSON body of your request: nested too deeply.",
                          code="invalid_json") from exc
    if not isinstance(data, dict):
        raise bad_request("The request body must be a JSON object.", code="invalid_json")
    # \ud800 alone is valid JSON but no Unicode: nothing downstream could encode it
    if _SURROGATE_ESCAPE.search(raw):
        try:
            dumps(data).encode("utf-8")
        except UnicodeEncodeError as exc:
            raise bad_request("The request body holds an unpaired UTF-16 surrogate (\\ud800-\\udfff), "
                              "which is not valid Unicode.", code="invalid_json") from exc
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        param = ".".join(str(p) for p in err["loc"]) or None
        msg = err["msg"].removeprefix("Value error, ")
        raise bad_request(f"Invalid value for '{param}': {msg}" if param else msg, param,
                          "invalid_value") from exc


# -- completions ------------------------------------------------------------------------------------
async def chat_completions(request: web.Request) -> web.StreamResponse:
    return await _complete(request, chat=True)


async def completions(request: web.Request) -> web.StreamResponse:
    return await _complete(request, chat=False)


async def _complete(request: web.Request, chat: bool) -> web.StreamResponse:
    started = time.perf_counter()
    core = request.app[CORE]
    job: Job | None = None
    body: Any = None
    stream: AsyncIterator[Chunk] | None = None
    status = 200
    try:
        body = await parse_body(request, ChatCompletionRequest if chat else CompletionRequest)
        job = await core.plan(body, request.headers.get("X-Privacy"), request.get(API_KEY),
                              request.headers.get("X-Session-Id"),
                              offline=request.headers.get("X-Tandem-Offline", "").strip().lower() in TRUE)
        stream = core.run(job)
        first = await _admit(request, stream)  # queue admission and errors surface before any byte is sent
        enc = Encoder(chat, body.model, Vocab.of(core.engine), logprobs=job.n_logprobs is not None)
        if not body.stream:
            chunks = [first] if first is not None else []
            chunks += [c async for c in stream]
            return _json_response(job, enc, chunks)
        resp = await _stream_response(request, job, body, enc, first, stream)
        status = request.get(OUTCOME, status)
        return resp
    except web.HTTPException as exc:  # aiohttp's own (body too large): the status it will get
        status = exc.status
        raise
    except (asyncio.CancelledError, ConnectionResetError):
        status = 499  # the client went away; its generation was cancelled with it
        raise
    except Exception as exc:
        status = error_parts(exc)[0]
        raise
    finally:
        if stream is not None:  # however the request ended, the device turn and cloud connection go back now
            await _close(stream)
        _account(request, chat, status, job, body, started)


async def _admit(request: web.Request, stream: AsyncIterator[Chunk]) -> Chunk | None:
    """The first chunk: waiting for it is waiting for the device queue (a full one raises)."""
    core, metrics = request.app[CORE], request.app[METRICS]
    metrics.queue.set(core.device.waiting + 1)
    try:
        return await anext(stream, None)
    finally:
        metrics.queue.set(core.device.waiting)


async def _close(stream: AsyncIterator[Chunk]) -> None:
    aclose = getattr(stream, "aclose", None)  # an async generator's: its finally blocks run now
    if aclose is not None:
        await aclose()


def _json_response(job: Job, enc: Encoder, chunks: list[Chunk]) -> web.Response:
    text: str | None = "".join(c.text for c in chunks)
    calls: list[ToolCall] = []
    if job.tools is not None:  # the answer's calls, in the model's format whoever wrote it, read once here
        text, calls = parse_calls(text or "", job.tools)
    payload = enc.response(text, finish_reason(job.finish_reason, bool(calls)),
                           usage(len(job.prompt_tokens), job.completion_tokens),
                           [(c.logprobs, c.raw_logprobs) for c in chunks], tandem=job.trace.to_dict(),
                           tool_calls=calls)
    return web.json_response(payload, headers={"x-tandem-route": job.trace.header()}, dumps=dumps)


async def _stream_response(request: web.Request, job: Job, body: Any, enc: Encoder, first: Chunk | None,
                           stream: AsyncIterator[Chunk]) -> web.StreamResponse:
    resp = await open_stream(request, {"x-tandem-route": job.trace.header()})
    calls = ToolCallParser(job.tools) if job.tools is not None else None
    try:
        opening = [enc.role()] if enc.chat else []  # with the first chunk, already here: one write
        if first is not None:
            opening += _wire(enc, first, calls)
        if opening:
            await send_events(resp, *opening)
        async for chunk in stream:
            pieces = _wire(enc, chunk, calls)
            if pieces:
                await send_events(resp, *pieces)
        closing = enc.tool_events(calls.close()) if calls else []
        closing.append(enc.final(finish_reason(job.finish_reason, bool(calls and calls.calls)),
                                 tandem=job.trace.to_dict()))
        if body.stream_options and body.stream_options.include_usage:
            closing.append(enc.usage_chunk(usage(len(job.prompt_tokens), job.completion_tokens)))
        await send_done(resp, *closing)
    except ConnectionResetError:  # the client hung up mid-stream: nobody to tell, nothing to log
        request[OUTCOME] = 499
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # noqa: BLE001 — the status line is sent: report in the stream, as vLLM does
        await _send_stream_error(resp, request, exc)
    return resp


def _wire(enc: Encoder, chunk: Chunk, calls: ToolCallParser | None) -> list[Any]:
    """The stream chunks one answer chunk becomes: a content delta, or, with tools, the content and the
    calls the parser releases (a call goes out once its block has closed)."""
    if calls is not None:
        return enc.tool_events(calls.feed(chunk.text), chunk.origin)
    if chunk.text or chunk.logprobs or chunk.raw_logprobs:
        return [enc.delta(chunk.text, chunk.logprobs, chunk.raw_logprobs, chunk.origin)]
    return []





async def _send_stream_error(resp: web.StreamResponse, request: web.Request, exc: Exception) -> None:
    """After the first byte no status can change: an OpenAI error event, ``[DONE]``, and the end."""
    status, body, _ = error_parts(exc)
    if status >= 500:
        log.error("error after the stream started on %s %s", request.method, request.path, exc_info=exc)
    request[OUTCOME] = status
    try:
        await send_done(resp, body)
    except ConnectionResetError:
        request[OUTCOME] = 499


def _account(request: web.Request, chat: bool, status: int, job: Job | None, body: Any,
             started: float) -> None:
    """One metrics observation and one log line per request, however it ended."""
    seconds = time.perf_counter() - started
    endpoint = "chat.completions" if chat else "completions"
    record: dict[str, Any] = {"event": "request", "endpoint": endpoint, "status": status,
                              "latency_ms": round(seconds * 1000, 1)}
    if job is not None:
        t = job.trace
        metrics = request.app[METRICS]
        metrics.observe(endpoint, status, t, seconds, len(job.prompt_tokens))
        if "first_token" in t.timings_ms:
            metrics.ttft.labels(t.mode).observe(t.timings_ms["first_token"] / 1000)
        record.update(mode=t.mode, reason=t.reason, degraded=t.degraded, privacy=t.privacy,
                      prompt_tokens=len(job.prompt_tokens), completion_tokens=job.completion_tokens,
                      device_tokens=t.device_tokens, cloud_tokens=t.cloud_tokens, cloud_calls=t.cloud_calls)
    if request.app[CONFIG].server.log_prompts and body is not None:
        record["prompt"] = [m.text for m in body.messages] if chat else body.prompt
    request_log.info(dumps(record))


# -- everything else --------------------------------------------------------------------------------
async def list_models(request: web.Request) -> web.Response:
    core = request.app[CORE]
    created = request.app[STATE]["started"]
    n_ctx = core.engine.n_ctx
    models: ModelList = {"object": "list", "data": [
        {"id": m, "object": "model", "created": created, "owned_by": "tandem", "max_model_len": n_ctx}
        for m in core.model_ids()]}
    return web.json_response(models, dumps=dumps)


async def health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def _cloud_up(core: Core) -> bool:
    return core.cloud is not None and core.monitor.available()


async def ready(request: web.Request) -> web.Response:
    """Ready when the device model is loaded; reports the cloud as it stands (the device answers anyway)."""
    core = request.app[CORE]
    cloud_up = _cloud_up(core)
    request.app[METRICS].cloud_up.set(1 if cloud_up else 0)
    draining = request.app[STATE]["draining"]
    body = {
        "status": "draining" if draining else "ready",
        "device": {"model": core.engine.name, "n_ctx": core.engine.n_ctx, "queue": core.device.waiting,
                   "busy": core.device.busy},
        "cloud": {"configured": core.cloud is not None, "available": cloud_up,
                  "endpoints": core.monitor.snapshot(),
                  "speculative": {"enabled": core.tokenizers.compatible, "reason": core.tokenizers.reason}},
    }
    return web.json_response(body, status=503 if draining else 200, dumps=dumps)


async def metrics_route(request: web.Request) -> web.Response:
    core = request.app[CORE]
    m = request.app[METRICS]
    m.queue.set(core.device.waiting)
    m.cloud_up.set(1 if _cloud_up(core) else 0)
    return web.Response(body=m.render(), content_type="text/plain", charset="utf-8",
                        headers={"X-Content-Type-Options": "nosniff"})


async def demo_page(request: web.Request) -> web.StreamResponse:
    return web.FileResponse(STATIC / "index.html")
