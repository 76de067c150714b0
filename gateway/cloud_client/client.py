"""The gateway's only way to the cloud: vLLM's OpenAI server or the local stand-in, over HTTP.

    cloud = CloudClient(["http://127.0.0.1:8001"], model="cloud", monitor=monitor)
    await cloud.start(); await cloud.probe()
    result = await cloud.verify(context_ids, draft_ids, stats)   # accepted prefix + the cloud's token
    async for event in cloud.stream(body, stats): ...            # pass-through, OpenAI SSE chunks

The parts, one job each: ``transport`` (HTTP, retries, byte counts), ``pool`` (which replica
serves a session), ``health`` (circuit breaker, RTT, the background probe this client runs while
an endpoint's circuit is open), ``load`` (each replica's queue and KV cache from its ``/metrics``,
polled every ``load_poll_s``; the poll also re-checks replicas a failed call marked unhealthy),
``verify`` (verification sessions and the three strategies, picked once per client), and
``vllm_wire`` (reading vLLM's answers without decoding what verification does not need).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

import aiohttp

from gateway.cloud_client.errors import CloudError, CloudRefused
from gateway.cloud_client.health import NetworkMonitor, probe_while_open
from gateway.cloud_client.load import parse_metrics
from gateway.cloud_client.transport import CallStats, CloudEndpoint, Transport
from gateway.cloud_client.verify import VERIFIERS, ScaleOutVerifier, Verifier, VerifySession
from gateway.core.acceptance import VerifyResult

log = logging.getLogger("tandem.cloud")


class CloudClient(Transport):
    def __init__(self, endpoints: Sequence[str], model: str = "cloud", api_key: str | None = None,
                 timeout_s: float = 30.0, retries: int = 2, strategy: str = "auto",
                 simulated_rtt_ms: float = 0.0, monitor: NetworkMonitor | None = None, top_k: int = 20,
                 connect_timeout_s: float | None = None, read_timeout_s: float | None = None,
                 load_poll_s: float = 0.0):
        super().__init__(endpoints, model, api_key, timeout_s, retries, simulated_rtt_ms, monitor,
                         connect_timeout_s, read_timeout_s)
        self.load_poll_s = load_poll_s  # 0: never read the replicas' /metrics
        self.strategy = strategy
        self.top_k = top_k  # log-probabilities per position that verification asks for, when it needs them
        self._verifier: Verifier | None = None
        self._info: dict[str, Any] | None = None
        self._prober: asyncio.Task | None = None
        self._poller: asyncio.Task | None = None

    async def start(self) -> None:
        await super().start()
        if self._prober is None:
            by_url = {e.url: e for e in self.endpoints}
            self._prober = asyncio.create_task(
                probe_while_open(self.monitor, lambda: list(by_url), lambda u: self.check_health(by_url[u])),
                name="tandem-cloud-probe")
        if self._poller is None and self.load_poll_s > 0:
            self._poller = asyncio.create_task(self._poll_load(), name="tandem-cloud-load")

    async def close(self) -> None:
        for task in (self._prober, self._poller):
            if task is not None:
                task.cancel()
                try:
                    await task
                except asyncio.CancelledError:
                    pass
        self._prober = self._poller = None
        await super().close()

    async def _poll_load(self) -> None:
        """Every ``load_poll_s``: each replica's load, and /health where a failed call marked it unhealthy
        while its circuit stayed closed (the breaker's own probe covers open circuits)."""
        while True:
            try:
                await asyncio.gather(*(self.read_load(e) for e in self.endpoints))
                await asyncio.gather(*(self.check_health(e, closes_circuit=False) for e in self.endpoints
                                       if not e.healthy and self.monitor.state(e.url) == "closed"))
            except Exception:  # the poller must outlive any one bad answer
                log.exception("cloud load poll failed")
            await asyncio.sleep(self.load_poll_s)

    async def read_load(self, endpoint: CloudEndpoint) -> None:
        """``GET /metrics`` on one endpoint: its queue and KV cache, or None (no such route, unreadable)."""
        try:
            timeout = aiohttp.ClientTimeout(total=3, sock_connect=min(3.0, self.timeout.sock_connect or 3.0))
            async with self.session.get(endpoint.url + "/metrics", headers=self._headers,
                                        timeout=timeout) as r:
                text = await r.text(errors="replace") if r.status == 200 else ""
        except (TimeoutError, aiohttp.ClientError):
            text = ""
        endpoint.load = parse_metrics(text) if text else None

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

    async def best_allowed(self, context: Sequence[int], allowed: Sequence[int], stats: CallStats,
                           cache_salt: str | None = None) -> int:
        """The cloud's greedy token after ``context`` among ``allowed`` only (vLLM's ``allowed_token_ids``;
        the local cloud serves it too): its constrained choice where a grammar allowed none of its top
        tokens. ``cache_salt``: the answer's vLLM cache namespace, so the prompt is cached for it alone."""
        body: dict[str, Any] = {"model": self.model, "prompt": list(context), "max_tokens": 1,
                                "temperature": 0, "allowed_token_ids": [int(t) for t in allowed],
                                "return_token_ids": True}
        if cache_salt is not None:
            body["cache_salt"] = cache_salt
        out = await self.request_json("POST", "/v1/completions", body, stats)
        try:
            token = int(out["choices"][0]["token_ids"][0])
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            raise CloudError(f"allowed-token answer unreadable: {type(exc).__name__}: {exc}",
                             "cloud answered with invalid data") from exc
        if token not in set(allowed):
            raise CloudError(f"the cloud answered token {token}, outside the allowed tokens",
                             "cloud answered with invalid data")
        return token

    async def verify(self, context: Sequence[int], draft: Sequence[int], stats: CallStats,
                     want_top: bool = False, session: VerifySession | None = None) -> VerifyResult:
        """``session``: the answer's; while the answer holds its conversation in the pool, the conversation's
        session stands in for it (the first answer's becomes it), so the turns of one chat share the cloud's
        cached state: one local-cloud session, one vLLM ``cache_salt``, on the replica the chat keeps to."""
        aff = stats.affinity
        if session is not None and aff is not None and aff.holds:
            if aff.conversation.session is None:
                aff.conversation.session = session
            session = aff.conversation.session
        return await (await self.verifier()).verify(list(context), list(draft), stats, want_top, session)
