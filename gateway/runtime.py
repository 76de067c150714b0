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
import signal
import subprocess
import sys
import time
from typing import Any

import aiohttp
from aiohttp import web

from device_runtime.engine import LlamaEngine
from device_runtime.models import ModelStore
from device_runtime.worker import DeviceWorker
from routers.network import NetworkMonitor

from .app import create_app, drain
from .cloud import CloudClient
from .collaborate import Collaborator
from .config import TandemConfig

log = logging.getLogger("tandem.runtime")


class LocalCloudProcess:
    """``tandem cloud`` as a child process, started and health-checked, stopped on exit."""

    def __init__(self, cfg: Any, pull: bool = True):
        self.cfg = cfg
        self.pull = pull
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://{self.cfg.host}:{self.cfg.port}"

    def command(self) -> list[str]:
        c = self.cfg
        cmd = [sys.executable, "-m", "gateway.cli", "cloud", "--model", c.model, "--host", c.host,
               "--port", str(c.port), "--n-ctx", str(c.n_ctx), "--delay-ms", str(c.delay_ms),
               "--jitter-ms", str(c.jitter_ms), "--failure-rate", str(c.failure_rate)]
        if c.n_threads:
            cmd += ["--threads", str(c.n_threads)]
        if self.pull:
            cmd.append("--pull")
        return cmd

    async def start(self) -> str:
        if self.pull:  # fetch in this process first, so the user sees the download progress
            await asyncio.to_thread(ModelStore().resolve, self.cfg.model, True)
        self.proc = subprocess.Popen(self.command(), start_new_session=True)
        deadline = time.monotonic() + self.cfg.start_timeout_s
        async with aiohttp.ClientSession() as session:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"local cloud exited with code {self.proc.returncode}")
                try:
                    async with session.get(self.url + "/health", timeout=aiohttp.ClientTimeout(total=1)) as r:
                        if r.status == 200:
                            return self.url
                except (aiohttp.ClientError, asyncio.TimeoutError):
                    pass
                await asyncio.sleep(0.2)
        self.stop()
        raise RuntimeError(f"local cloud did not become healthy within {self.cfg.start_timeout_s}s")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


class Runtime:
    def __init__(self, config: TandemConfig, engine: LlamaEngine | None = None):
        self.config = config
        self.engine = engine
        self.local_cloud: LocalCloudProcess | None = None
        self.cloud: CloudClient | None = None
        self.collaborator: Collaborator | None = None
        self.app: web.Application | None = None
        self.runner: web.AppRunner | None = None
        self.url = ""

    async def start(self) -> "Runtime":
        cfg = self.config
        local_cloud = not cfg.cloud.endpoints and not cfg.cloud.offline
        if local_cloud and cfg.device.n_threads is None and cfg.cloud.local.n_threads is None:
            # device and local cloud on one machine: give each its share of the cores, like two machines;
            # oversubscribed llama.cpp threads spin-wait on each other and both slow down badly
            cores = os.cpu_count() or 2
            cfg.device.n_threads = max(1, cores // 2)
            cfg.cloud.local.n_threads = max(1, cores - cfg.device.n_threads)
        if self.engine is None and cfg.device.model == "fake":  # zero-cost engine for load tests
            from device_runtime.fake import FakeEngine

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
                                     cfg.cloud.retries, cfg.cloud.strategy, cfg.cloud.simulated_rtt_ms, monitor)
            await self.cloud.start()
        worker = DeviceWorker(self.engine, max_queue=cfg.server.max_queue)
        self.collaborator = Collaborator(cfg, worker, self.cloud, monitor)
        if self.cloud is not None:
            await self.cloud.probe()
            await self.collaborator.check_tokenizers()
        self.app = create_app(cfg, self.collaborator)
        self.runner = web.AppRunner(self.app, handler_cancellation=True, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, cfg.server.host, cfg.server.port)
        await site.start()
        port = site._server.sockets[0].getsockname()[1] if site._server and site._server.sockets else cfg.server.port
        self.url = f"http://{cfg.server.host}:{port}"
        return self

    async def stop(self) -> None:
        if self.app is not None:
            await drain(self.app)
        if self.runner is not None:
            await self.runner.cleanup()
        if self.cloud is not None:
            await self.cloud.close()
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
