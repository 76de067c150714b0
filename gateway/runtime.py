"""Assembling a running gateway from a config: device model, cloud (local stand-in or remote), app.

    async with Runtime(load_config()) as rt:
        print(rt.url)            # an OpenAI base URL: f"{rt.url}/v1"

With no ``cloud.endpoints`` configured, the local cloud (``tandem cloud``) is started as a
child process on loopback and stopped with the runtime — the all-local default.
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import TYPE_CHECKING, Any

from cloud.process import LocalCloudProcess, ensure_port_free
from device_runtime.engine import LlamaEngine
from device_runtime.fake import FakeEngine
from device_runtime.models import ModelStore
from device_runtime.state import DeviceStateSampler
from device_runtime.worker import DeviceWorker
from gateway.api.app import Listening, create_app, drain, listen
from gateway.cloud_client.client import CloudClient
from gateway.cloud_client.health import NetworkMonitor
from gateway.config import TandemConfig
from gateway.core.orchestrator import Collaborator
from gateway.core.query import Embedder, router_path
from routers.query import EMBED_TOKENS, QueryRouter

if TYPE_CHECKING:
    from aiohttp import web

log = logging.getLogger("tandem.runtime")


class Runtime:
    def __init__(self, config: TandemConfig, engine: LlamaEngine | FakeEngine | None = None):
        self.config = config
        self.engine = engine
        self.local_cloud: LocalCloudProcess | None = None
        self.cloud: CloudClient | None = None
        self.collaborator: Collaborator | None = None
        self.device_state: DeviceStateSampler | None = None
        self.app: web.Application | None = None
        self.server: Listening | None = None
        self.url = ""

    async def _embedder(self) -> Embedder | None:
        """The query router's embedding context over the device model's file (``routing.query_router``)."""
        cfg = self.config
        if not cfg.routing.query_router:
            return None
        if not isinstance(self.engine, LlamaEngine):
            log.warning("routing.query_router needs a llama.cpp device model; the query router is off")
            return None
        router = QueryRouter.load(router_path(cfg.routing.query_router))
        if cfg.routing.query_router == "default" and router.model and router.model != self.engine.name:
            log.info("the shipped query router is for %s, the device model is %s: off (fit one with "
                     "`tandem calibrate --query-router`)", router.model, self.engine.name)
            return None  # the shipped router reads one model's embeddings
        from device_runtime.embedding import PromptEmbedder

        tokens = cfg.routing.query_max_tokens or router.embed_tokens or EMBED_TOKENS  # the router's length
        return await asyncio.to_thread(PromptEmbedder, self.engine.model_path, tokens, cfg.device.n_threads)

    async def start(self) -> "Runtime":
        cfg = self.config
        local_cloud = not cfg.cloud.endpoints and not cfg.cloud.offline
        # fail in a second, not after loading models
        ensure_port_free(cfg.server.host, cfg.server.port, "the gateway", "server.port")
        if local_cloud:
            ensure_port_free(cfg.cloud.local.host, cfg.cloud.local.port)
        if local_cloud and cfg.device.n_threads is None and cfg.cloud.local.n_threads is None:
            # device and local cloud on one machine: give each its share of the cores, like two machines;
            # oversubscribed llama.cpp threads spin-wait on each other and both slow down badly
            cores = os.cpu_count() or 2
            cfg.device.n_threads = max(1, cores // 2)
            cfg.cloud.local.n_threads = max(1, cores - cfg.device.n_threads)
        if self.engine is None and cfg.device.model == "fake":  # zero-cost engine for load tests
            self.engine = FakeEngine(n_ctx=cfg.device.n_ctx)
        if self.engine is None:
            store = ModelStore()
            path = await asyncio.to_thread(store.resolve, cfg.device.model, cfg.device.pull)
            self.engine = await asyncio.to_thread(
                LlamaEngine, path, cfg.device.n_ctx, cfg.device.n_threads, 512,
                cfg.device.model if not os.path.isfile(cfg.device.model) else None)
        monitor = NetworkMonitor(cfg.cloud.failure_threshold, cfg.cloud.cooldown_s, offline=cfg.cloud.offline)
        endpoints = list(cfg.cloud.endpoints)
        if local_cloud:
            self.local_cloud = LocalCloudProcess(cfg.cloud.local, pull=cfg.device.pull)
            endpoints = [await self.local_cloud.start()]
        if endpoints:
            self.cloud = CloudClient(endpoints, cfg.cloud.model, cfg.cloud.api_key, cfg.cloud.timeout_s,
                                     cfg.cloud.retries, cfg.cloud.strategy, cfg.cloud.simulated_rtt_ms,
                                     monitor, load_poll_s=cfg.scheduling.cloud_poll_s)
            await self.cloud.start()
        worker = DeviceWorker(self.engine, max_queue=cfg.server.max_queue)
        self.collaborator = Collaborator(cfg, worker, self.cloud, monitor, await self._embedder())
        await self.collaborator.check_sandbox()  # examples verifier: off, with a warning, if unsafe
        if cfg.scheduling.device_sample_s > 0:  # battery, heat, load: read in the background for the policy
            self.device_state = DeviceStateSampler(cfg.scheduling.sysfs_root, cfg.scheduling.device_sample_s)
            await self.device_state.sample()
            self.device_state.start()
            sampler = self.device_state
            self.collaborator.planner.state.device = lambda: sampler.latest
        if self.cloud is not None:
            await self.cloud.probe()
            await self.collaborator.check_tokenizers()
        self.app = create_app(cfg, self.collaborator)
        self.server = await listen(self.app, cfg.server.host, cfg.server.port)
        self.url = f"http://{cfg.server.host}:{self.server.port}"
        return self

    async def stop(self) -> None:
        if self.app is not None:
            await drain(self.app)
        if self.server is not None:
            await self.server.close()
        if self.cloud is not None:
            await self.cloud.close()
        if self.device_state is not None:
            await self.device_state.close()
        if self.collaborator is not None:
            self.collaborator.device.shutdown()
        if self.local_cloud is not None:
            self.local_cloud.stop()

    async def __aenter__(self) -> "Runtime":
        try:
            return await self.start()
        except BaseException:
            await self.stop()
            raise

    async def __aexit__(self, *exc: Any) -> None:
        await self.stop()
