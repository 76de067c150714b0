"""The gateway's only way to the cloud: vLLM's OpenAI server or the local stand-in, over HTTP.

    cloud = CloudClient(["http://127.0.0.1:8001"], model="cloud", monitor=monitor)
    await cloud.start(); await cloud.probe()
    result = await cloud.verify(context_ids, draft_ids, stats)   # accepted prefix + the cloud's token
    async for event in cloud.stream(body, stats): ...            # pass-through, OpenAI SSE chunks

The parts, one job each: ``transport`` (HTTP, retries, byte counts), ``health`` (circuit
breaker, RTT, the background probe this client runs while an endpoint's circuit is open),
``verify`` (verification sessions and the three strategies, picked once per client), and
``vllm_wire`` (reading vLLM's answers without decoding what verification does not need).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from gateway.cloud_client.errors import CloudRefused
from gateway.cloud_client.health import NetworkMonitor, probe_while_open
from gateway.cloud_client.transport import CallStats, Transport
from gateway.cloud_client.verify import VERIFIERS, ScaleOutVerifier, Verifier, VerifySession
from gateway.core.acceptance import VerifyResult


class CloudClient(Transport):
    def __init__(self, endpoints: Sequence[str], model: str = "cloud", api_key: str | None = None,
                 timeout_s: float = 30.0, retries: int = 2, strategy: str = "auto",
                 simulated_rtt_ms: float = 0.0, monitor: NetworkMonitor | None = None, top_k: int = 20,
                 connect_timeout_s: float | None = None, read_timeout_s: float | None = None):
        super().__init__(endpoints, model, api_key, timeout_s, retries, simulated_rtt_ms, monitor,
                         connect_timeout_s, read_timeout_s)
        self.strategy = strategy
        self.top_k = top_k  # log-probabilities per position that verification asks for, when it needs them
        self._verifier: Verifier | None = None
        self._info: dict[str, Any] | None = None
        self._prober: asyncio.Task | None = None

    async def start(self) -> None:
        await super().start()
        if self._prober is None:
            by_url = {e.url: e for e in self.endpoints}
            self._prober = asyncio.create_task(
                probe_while_open(self.monitor, lambda: list(by_url), lambda u: self.check_health(by_url[u])),
                name="tandem-cloud-probe")

    async def close(self) -> None:
        if self._prober is not None:
            self._prober.cancel()
            try:
                await self._prober
            except asyncio.CancelledError:
                pass
            self._prober = None
        await super().close()

    async def probe(self) -> bool:
        """Check every endpoint's ``/health``; true when at least one answers."""
        await asyncio.gather(*(self.check_health(e) for e in self.endpoints))
        return any(e.healthy for e in self.endpoints)

    async def info(self) -> dict[str, Any] | None:
        """Tandem's local cloud describes itself on ``/v1/tandem/info``; stock vLLM has no such route (None).

        Asked once: the tokenizer check and the choice of verification strategy both read it.
        A cloud that is down raises ``CloudError``, so the next caller asks again.
        """
        if self._info is None:
            try:
                self._info = await self.request_json("GET", "/v1/tandem/info", retries=0)
            except CloudRefused:
                self._info = {}
        return self._info or None

    async def tokenize(self, text: str) -> list[int]:
        """vLLM's ``/tokenize`` (the local cloud serves the same shape)."""
        out = await self.request_json("POST", "/tokenize", {"model": self.model, "prompt": text,
                                                             "add_special_tokens": False}, retries=0)
        return [int(t) for t in out["tokens"]]

    async def verifier(self) -> Verifier:
        """The best verification the cloud serves: native, then vLLM's cache-keeping route, then stock."""
        if self._verifier is None:
            kind = self.strategy
            if kind == "auto":
                kind = "tandem" if await self.info() else \
                    "vllm-scale-out" if await ScaleOutVerifier.served_by(self) else "vllm"
            self._verifier = VERIFIERS[kind](self)
        return self._verifier

    async def verify(self, context: Sequence[int], draft: Sequence[int], stats: CallStats,
                     want_top: bool = False, session: VerifySession | None = None) -> VerifyResult:
        return await (await self.verifier()).verify(list(context), list(draft), stats, want_top, session)
