"""The local cloud (``tandem cloud``) as a child process that can only ever be our own.

    cloud = LocalCloudProcess(config.cloud.local)
    url = await cloud.start()      # the URL of the child we started, and of nothing else
    ...
    cloud.stop()

Two rules make a child safe to start from any command (``serve``, ``demo``, benchmarks, tests):

* The parent never guesses where the child listens. With ``port: 0`` (the default) the child
  binds a free port; either way it writes the port it really bound to a file the parent
  named, and only then does the parent talk to it. A busy fixed port stops the start with
  an error naming it, instead of the parent talking to whatever already listens there.
* The child dies with its parent: it asks Linux for SIGKILL when the parent goes
  (``PR_SET_PDEATHSIG``), so even a SIGKILLed ``tandem serve`` leaves no cloud behind.
"""

from __future__ import annotations

import asyncio
import ctypes
import errno
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

from device_runtime.models import ModelStore

PR_SET_PDEATHSIG = 1


class LocalCloudError(RuntimeError):
    """The local cloud could not be started; the message says why (and which port)."""


def die_with_parent(parent_pid: int) -> None:
    """Called in the child: be killed when the parent exits, even by SIGKILL (Linux)."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent_pid:  # the parent died before the request took effect
        os._exit(1)


def ensure_port_free(host: str, port: int, who: str = "the local cloud",
                     setting: str = "cloud.local.port") -> None:
    """Raise a clear error when a fixed port is already taken (port 0 is always fine)."""
    if port == 0:
        return
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as servers bind: TIME_WAIT is not "in use"
        try:
            s.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise LocalCloudError(
                    f"port {port} on {host} is already in use by another process, so {who} cannot listen "
                    f"there; free it, or set {setting}=0 to let Tandem pick a free port") from exc
            raise LocalCloudError(f"cannot listen on {host}:{port}: {exc}") from exc


def write_port_file(path: str, port: int) -> None:
    """Atomically publish the bound port (a reader never sees a half-written file)."""
    tmp = f"{path}.tmp"
    Path(tmp).write_text(str(port))
    os.replace(tmp, path)


class LocalCloudProcess:
    """``tandem cloud`` as a child process: started, handshaken, health-checked, stopped."""

    def __init__(self, cfg: Any, pull: bool = True, cpus: set[int] | None = None, quiet: bool = False):
        self.cfg = cfg
        self.pull = pull
        self.cpus = cpus  # pin the child to these cores (benchmarks emulate two machines)
        self.quiet = quiet
        self.proc: subprocess.Popen | None = None
        self.port: int | None = None
        self._tmp: tempfile.TemporaryDirectory | None = None

    @property
    def url(self) -> str:
        if self.port is None:
            raise LocalCloudError("the local cloud has not started")
        return f"http://{self.cfg.host}:{self.port}"

    def command(self, port_file: str) -> list[str]:
        c = self.cfg
        cmd = [sys.executable, "-m", "gateway.cli", "cloud", "--model", c.model, "--host", c.host,
               "--port", str(c.port), "--n-ctx", str(c.n_ctx), "--delay-ms", str(c.delay_ms),
               "--jitter-ms", str(c.jitter_ms), "--failure-rate", str(c.failure_rate),
               "--session-memory-mb", str(c.session_memory_mb), "--max-sessions", str(c.max_sessions),
               "--port-file", port_file, "--parent-pid", str(os.getpid())]
        if c.n_threads:
            cmd += ["--threads", str(c.n_threads)]
        return cmd

    async def start(self) -> str:
        ensure_port_free(self.cfg.host, self.cfg.port)
        if self.pull:  # fetch in this process first, so the user sees the download progress
            await asyncio.to_thread(ModelStore().resolve, self.cfg.model, True)
        self._tmp = tempfile.TemporaryDirectory(prefix="tandem-cloud-")
        port_file = os.path.join(self._tmp.name, "port")
        cpus = self.cpus
        out = subprocess.DEVNULL if self.quiet else None
        self.proc = subprocess.Popen(
            self.command(port_file), start_new_session=True, stdout=out, stderr=out,
            preexec_fn=(lambda: os.sched_setaffinity(0, cpus)) if cpus else None)
        try:
            self.port = await self._wait_for_port(port_file)
            await self._wait_healthy()
        except BaseException:
            self.stop()
            raise
        return self.url

    async def _wait_for_port(self, port_file: str) -> int:
        deadline = time.monotonic() + self.cfg.start_timeout_s
        while time.monotonic() < deadline:
            if os.path.exists(port_file):
                return int(Path(port_file).read_text())
            self._check_alive()
            await asyncio.sleep(0.1)
        raise LocalCloudError(
            f"the local cloud did not start listening within {self.cfg.start_timeout_s:.0f}s")

    async def _wait_healthy(self) -> None:
        deadline = time.monotonic() + self.cfg.start_timeout_s
        async with aiohttp.ClientSession() as session:
            while time.monotonic() < deadline:
                self._check_alive()
                try:
                    async with session.get(self.url + "/health", timeout=aiohttp.ClientTimeout(total=2)) as r:
                        if r.status == 200:
                            return
                except (aiohttp.ClientError, asyncio.TimeoutError):
                    pass
                await asyncio.sleep(0.2)
        raise LocalCloudError(
            f"the local cloud did not become healthy within {self.cfg.start_timeout_s:.0f}s")

    def _check_alive(self) -> None:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise LocalCloudError(f"the local cloud exited with code {self.proc.returncode} while starting "
                                  f"(model {self.cfg.model}, {self.cfg.host}:{self.cfg.port or 'any port'})")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None
