"""Cross-cutting concerns, one middleware each (outermost first, as ``create_app`` installs them).

* ``error_middleware`` — whatever a handler raises becomes an OpenAI error body through
  ``errors.error_parts``; a traceback is logged, never sent.
* ``shutdown_middleware`` — while draining, new ``/v1/`` work gets 503; in-flight requests
  are counted so the drain can wait for them.
* ``auth_middleware`` — API keys (``Authorization: Bearer``), except on the open paths.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from gateway.api.errors import ApiError, error_parts, http_error
from gateway.api.responses import dumps
from gateway.api.state import API_KEY, CONFIG, METRICS, STATE

log = logging.getLogger("tandem.gateway")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
OPEN_PATHS = {"/health", "/ready", "/", "/demo"}  # /metrics too when server.metrics_open


def error_response(request: web.Request, exc: BaseException) -> web.Response:
    """The JSON error response for ``exc`` (before any byte of an answer was sent)."""
    status, body, headers = error_parts(exc)
    if status >= 500:
        log.error("unhandled error on %s %s", request.method, request.path, exc_info=exc)
    return web.json_response(body, status=status, headers=headers, dumps=dumps)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPException as exc:  # aiohttp's own: routing, body size
        api_error = http_error(exc, request.method, request.path)
        if api_error is None:
            raise
        return error_response(request, api_error)
    except (asyncio.CancelledError, ConnectionResetError):
        raise
    except Exception as exc:  # noqa: BLE001 — every error leaves in OpenAI's shape
        return error_response(request, exc)


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
            raise ApiError(401, "Missing API key: send 'Authorization: Bearer <key>'.",
                           code="missing_api_key")
        # compare bytes: compare_digest refuses non-ASCII str, and a header may hold any bytes
        given = token.encode("utf-8", "surrogatepass")
        if not any(hmac.compare_digest(given, k.encode("utf-8")) for k in keys):
            raise ApiError(401, "Incorrect API key provided.", code="invalid_api_key")
        request[API_KEY] = token
    return await handler(request)


@web.middleware
async def shutdown_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    state = request.app[STATE]
    if state["draining"] and request.path.startswith("/v1/"):
        raise ApiError(503, "The server is shutting down; retry on another instance.", "server_error",
                       code="server_shutting_down", headers={"Retry-After": "5"})
    state["inflight"] += 1
    request.app[METRICS].inflight.inc()
    try:
        return await handler(request)
    finally:
        state["inflight"] -= 1
        request.app[METRICS].inflight.dec()
        if state["inflight"] == 0:
            state["idle"].set()
