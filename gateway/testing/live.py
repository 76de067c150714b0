"""A real gateway (and optionally an in-process local cloud) on loopback, driven from sync tests.

The servers run on their own event loop in a background thread, so tests can use the
official ``openai`` client (sync and async) exactly as a user would.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from typing import Any

from aiohttp import web

from cloud.server import NetworkSimulation, create_cloud_app
from gateway.config import TandemConfig, load_config
from gateway.runtime import Runtime


class LiveGateway:
    def __init__(self, engine: Any, overrides: Sequence[str] = (), cloud_engine: Any = None,
                 cloud_network: NetworkSimulation | None = None, cloud_server: Any = None):
        # the query router off unless a test asks for it: which mode an auto request takes stays the test's
        self.config: TandemConfig = load_config(overrides=["server.port=0", "device.pull=false",
                                                           "routing.query_router=null", *overrides])
        self.engine = engine
        self.cloud_engine = cloud_engine
        self.cloud_network = cloud_network
        self.cloud_server = cloud_server  # any object with async start() -> url and async stop()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.runtime: Runtime | None = None
        self.cloud_runner: web.AppRunner | None = None
        self.cloud_url = ""

    def call(self, coro, timeout: float = 600) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    async def _start(self) -> None:
        if self.cloud_server is not None:
            self.cloud_url = await self.cloud_server.start()
            self.config.cloud.endpoints = [self.cloud_url]
        if self.cloud_engine is not None:
            app = create_cloud_app(self.cloud_engine, "cloud", self.cloud_network)
            self.cloud_runner = web.AppRunner(app, handler_cancellation=True, access_log=None)
            await self.cloud_runner.setup()
            site = web.TCPSite(self.cloud_runner, "127.0.0.1", 0)
            await site.start()
            self.cloud_url = f"http://127.0.0.1:{self.cloud_runner.addresses[0][1]}"
            self.config.cloud.endpoints = [self.cloud_url]
        self.runtime = await Runtime(self.config, engine=self.engine).start()

    async def _stop(self) -> None:
        if self.runtime is not None:
            await self.runtime.stop()
        if self.cloud_runner is not None:
            await self.cloud_runner.cleanup()
        if self.cloud_server is not None:
            await self.cloud_server.stop()

    def __enter__(self) -> "LiveGateway":
        self.thread.start()
        self.call(self._start())
        return self

    def __exit__(self, *exc: Any) -> None:
        self.call(self._stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)

    @property
    def url(self) -> str:
        assert self.runtime is not None
        return self.runtime.url

    @property
    def collaborator(self):
        assert self.runtime is not None
        return self.runtime.collaborator

    @property
    def app(self):
        assert self.runtime is not None
        return self.runtime.app
