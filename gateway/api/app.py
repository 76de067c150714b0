"""The OpenAI-compatible HTTP server: the app factory, its routes, and a graceful drain.

    app = create_app(config, collaborator)
    web.run_app(app, host="127.0.0.1", port=8000, handler_cancellation=True)

The layer in modules: ``protocol`` (the wire format, typed), ``encoder`` (the core's
chunks to OpenAI JSON and SSE), ``errors`` (every error to status and body, one table),
``middleware`` (errors, draining, API keys), ``handlers`` (the routes), ``state`` (what
the app holds, and the contract with the core: ``state.Core``).
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from dataclasses import dataclass

from aiohttp import web

from gateway.api.handlers import (
    STATIC,
    chat_completions,
    completions,
    demo_page,
    health,
    list_models,
    metrics_route,
    ready,
)
from gateway.api.metrics import Metrics
from gateway.api.middleware import auth_middleware, error_middleware, shutdown_middleware
from gateway.api.responses import now
from gateway.api.state import CONFIG, CORE, METRICS, STATE, Core
from gateway.config import TandemConfig

__all__ = ["STATE", "Listening", "create_app", "drain", "is_loopback", "listen"]
log = logging.getLogger("tandem.gateway")


def is_loopback(host: str) -> bool:
    """Only this machine can reach the address (a name other than localhost counts as exposed)."""
    if host.strip("[]").lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def create_app(config: TandemConfig, collaborator: Core) -> web.Application:
    server = config.server
    if not server.api_keys and not is_loopback(server.host):
        log.warning("SECURITY: binding %s with no API keys — anyone who can reach this address can use the "
                    "models%s. Set server.api_keys (or --api-key), or bind 127.0.0.1.", server.host,
                    " and read /metrics" if server.metrics_open else "")
    app = web.Application(middlewares=[error_middleware, shutdown_middleware, auth_middleware],
                          client_max_size=server.max_body_bytes)
    app[CONFIG] = config
    app[CORE] = collaborator
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


@dataclass
class Listening:
    """An app being served: the port it got, and how to stop it (drain, then close)."""

    runner: web.AppRunner
    port: int

    async def close(self) -> None:
        await self.runner.cleanup()


async def listen(app: web.Application, host: str, port: int) -> Listening:
    """Serve ``app`` (the gateway's, or the local cloud's) on ``host:port``; port 0 takes a free one.

    A handler whose client disconnects is cancelled (``handler_cancellation``), so an abandoned
    generation gives the device back at once; no access log (one structured line per request
    is the handlers' job).
    """
    runner = web.AppRunner(app, handler_cancellation=True, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return Listening(runner, runner.addresses[0][1] if runner.addresses else port)
