"""HTTP to the cloud: one request path for JSON calls and SSE streams.

    transport = Transport(["http://127.0.0.1:8001"], model="cloud")
    await transport.start()
    out = await transport.request_json("POST", "/tokenize", {...}, stats)
    async for event in transport.stream(body, stats, chat=True): ...

Every exchange goes through ``_exchange``: it picks the least-loaded healthy endpoint,
counts the call in flight, simulates RTT where configured, counts bytes and seconds in the
request's ``CallStats``, reports the outcome to the circuit breaker (``health``), and turns
a 4xx into ``CloudRefused`` (the cloud is up but will not do it) and a 5xx, a cut
connection or a timeout into ``CloudError``. JSON calls retry with backoff; a stream is
never retried here (the orchestrator hands the rest of the answer to the device).

Timeouts: a JSON call is bounded as a whole by ``timeout_s``; a stream by the connect
timeout and by the gap between two reads (``read_timeout_s``, default ``timeout_s``),
never by its total length, so a long answer from a slow cloud is not cut.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp.http_exceptions import LineTooLong

from gateway.cloud_client.errors import CloudError, CloudRefused, public_reason
from gateway.cloud_client.health import NetworkMonitor


@dataclass
class CallStats:
    """What one request's cloud traffic cost; merged into the route trace."""

    calls: int = 0
    bytes_up: int = 0
    bytes_down: int = 0
    seconds: float = 0.0
    prompt_tokens: int = 0  # verification prompt tokens, where the cloud reports them
    cached_tokens: int = 0  # of those, read from the cloud's prefix cache (not recomputed)
    fallbacks: int = 0  # verifications redone uncached because the cache-keeping answer was unusable


@dataclass
class CloudEndpoint:
    url: str
    inflight: int = 0
    healthy: bool = True
    last_error: str | None = None


class Transport:
    def __init__(self, endpoints: Sequence[str], model: str = "cloud", api_key: str | None = None,
                 timeout_s: float = 30.0, retries: int = 2, simulated_rtt_ms: float = 0.0,
                 monitor: NetworkMonitor | None = None, connect_timeout_s: float | None = None,
                 read_timeout_s: float | None = None):
        if not endpoints:
            raise ValueError("at least one cloud endpoint is needed")
        self.endpoints = [CloudEndpoint(u.rstrip("/")) for u in endpoints]
        self.model = model
        self.api_key = api_key
        connect = connect_timeout_s if connect_timeout_s is not None else min(5.0, timeout_s)
        read = read_timeout_s if read_timeout_s is not None else timeout_s
        self.timeout = aiohttp.ClientTimeout(total=timeout_s, sock_connect=connect, sock_read=read)
        self.stream_timeout = aiohttp.ClientTimeout(total=None, sock_connect=connect, sock_read=read)
        self.read_timeout_s = read
        self.retries = retries
        self.simulated_rtt_ms = simulated_rtt_ms
        self.monitor = monitor or NetworkMonitor()
        self._session: aiohttp.ClientSession | None = None
        self._headers = {"Content-Type": "application/json"}
        if api_key:
            self._headers["Authorization"] = f"Bearer {api_key}"

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

    def _pick(self) -> CloudEndpoint:
        healthy = [e for e in self.endpoints if e.healthy] or self.endpoints
        return min(healthy, key=lambda e: e.inflight)

    async def _simulate_rtt(self) -> None:
        if self.simulated_rtt_ms > 0:
            await asyncio.sleep(self.simulated_rtt_ms / 1000)

    def _failed(self, endpoint: CloudEndpoint, detail: str, public: str) -> None:
        endpoint.healthy = False
        endpoint.last_error = detail
        self.monitor.record_failure(endpoint.url, detail, public)

    @asynccontextmanager
    async def _exchange(
        self, method: str, path: str, payload: bytes | None, stats: CallStats | None,
        timeout: aiohttp.ClientTimeout,
    ) -> AsyncIterator[tuple[CloudEndpoint, aiohttp.ClientResponse]]:
        """One HTTP exchange with the bookkeeping every call shares (module docstring).

        Yields the endpoint and a 2xx response, whose arrival counts as the endpoint's success
        (its time is the RTT sample); the caller reads the body. A failure while it reads is
        reported to the breaker here, with the public reason of the caller's ``CloudError``.
        """
        endpoint = self._pick()
        endpoint.inflight += 1
        t0 = time.perf_counter()
        try:
            await self._simulate_rtt()
            async with self.session.request(method, endpoint.url + path, data=payload, headers=self._headers,
                                            timeout=timeout) as resp:
                if stats is not None:
                    stats.calls += 1
                    stats.bytes_up += len(payload or b"")
                if resp.status >= 400:
                    raw = await resp.read()
                    if stats is not None:
                        stats.bytes_down += len(raw)
                    if resp.status < 500:
                        self.monitor.record_success(endpoint.url, time.perf_counter() - t0)  # up; it refused
                        raise CloudRefused(resp.status, raw.decode("utf-8", "replace")[:500])
                    raise CloudError(f"{endpoint.url}{path}: HTTP {resp.status}: {raw[:200]!r}",
                                     f"cloud answered HTTP {resp.status}")
                endpoint.healthy = True
                self.monitor.record_success(endpoint.url, time.perf_counter() - t0)
                yield endpoint, resp
        except CloudRefused:
            raise
        except (TimeoutError, aiohttp.ClientError, CloudError, ValueError, TypeError) as exc:
            public = exc.public if isinstance(exc, CloudError) else public_reason(exc)
            self._failed(endpoint, f"{endpoint.url}{path}: {type(exc).__name__}: {exc}", public)
            raise
        finally:
            if stats is not None:
                stats.seconds += time.perf_counter() - t0
            endpoint.inflight -= 1

    async def request_json(self, method: str, path: str, body: Any = None, stats: CallStats | None = None,
                           retries: int | None = None) -> Any:
        """One JSON call with retries on connection errors, 5xx and unreadable answers; 4xx is final."""
        return await self.request_raw(method, path, body, stats, retries, parse=json.loads)

    async def request_raw(self, method: str, path: str, body: Any = None, stats: CallStats | None = None,
                          retries: int | None = None, parse: Callable[[bytes], Any] = bytes) -> Any:
        """One call; ``parse(raw body)`` runs inside the exchange.

        So an answer that cannot be read counts as a failed call.
        """
        payload = json.dumps(body).encode() if body is not None else None
        attempts = 1 + (self.retries if retries is None else retries)
        last: Exception | None = None
        for attempt in range(attempts):
            try:
                async with self._exchange(method, path, payload, stats, self.timeout) as (endpoint, resp):
                    raw = await resp.read()
                    if stats is not None:
                        stats.bytes_down += len(raw)
                    try:
                        return parse(raw)
                    except (ValueError, KeyError, TypeError, IndexError) as exc:
                        raise CloudError(f"{endpoint.url}{path}: unreadable answer ({exc}): {raw[:200]!r}",
                                         "cloud answered with invalid data") from exc
            except CloudRefused:
                raise
            except (TimeoutError, aiohttp.ClientError, CloudError, ValueError) as exc:
                last = exc
                if attempt + 1 < attempts:
                    await asyncio.sleep(min(2.0, 0.1 * 2**attempt) * (0.5 + random.random()))
        assert last is not None
        public = public_reason(last)
        if attempts > 1:
            public += f" after {attempts} attempts"
        raise CloudError(f"cloud unreachable after {attempts} attempt(s): {type(last).__name__}: {last}",
                         public)

    async def stream(self, body: dict, stats: CallStats, chat: bool = True) -> AsyncIterator[dict]:
        """Pass a chat (or text) completion through, streaming; yields the cloud's parsed SSE chunks.

        Each yielded event is a dict whose ``choices`` (if any) is a list of dicts; anything
        else, a cut connection or a stream without ``[DONE]`` raises ``CloudError``.
        """
        payload = json.dumps({**body, "model": self.model, "stream": True}).encode()
        path = "/v1/chat/completions" if chat else "/v1/completions"
        received = 0  # body bytes of this stream: a failure after some is a break mid-answer
        try:
            async with self._exchange("POST", path, payload, stats, self.stream_timeout) as (endpoint, resp):
                lines = SseLines(resp.content.get_read_buffer_limits()[1])
                try:
                    async for block in resp.content.iter_any():  # whatever arrived: often many events
                        for size, data in lines.feed(block):
                            stats.bytes_down += size  # counted line by line, up to [DONE]
                            received += size
                            if data == b"[DONE]":
                                return
                            if data is not None:
                                yield _stream_event(data)
                    for size, data in lines.end():
                        stats.bytes_down += size
                        if data == b"[DONE]":
                            return
                        if data is not None:
                            yield _stream_event(data)
                except (TimeoutError, aiohttp.ClientError, ValueError, TypeError) as exc:
                    public = public_reason(exc)
                    if received:
                        public = f"cloud stream stalled (no data for {self.read_timeout_s:g} s)" \
                            if isinstance(exc, TimeoutError) else "cloud stream broke mid-answer"
                    raise CloudError(f"{endpoint.url}{path}: cloud stream broke: {type(exc).__name__}: {exc}",
                                     public) from exc
                raise CloudError(f"{endpoint.url}{path}: cloud stream ended without [DONE]",
                                 "cloud stream broke mid-answer")
        except (TimeoutError, aiohttp.ClientError) as exc:  # before the answer began
            raise CloudError(f"cloud stream failed: {path}: {type(exc).__name__}: {exc}",
                             public_reason(exc)) from exc

    async def check_health(self, endpoint: CloudEndpoint) -> None:
        """``GET /health`` on one endpoint; the outcome goes to the circuit breaker."""
        t0 = time.perf_counter()
        public = "cloud health check failed"
        try:
            await self._simulate_rtt()
            timeout = aiohttp.ClientTimeout(total=3, sock_connect=min(3.0, self.timeout.sock_connect or 3.0))
            async with self.session.get(endpoint.url + "/health", timeout=timeout) as r:
                endpoint.healthy = r.status == 200
                if not endpoint.healthy:
                    endpoint.last_error = f"/health answered HTTP {r.status}"
                    public = f"cloud answered HTTP {r.status}"
        except (TimeoutError, aiohttp.ClientError) as exc:
            endpoint.healthy = False
            endpoint.last_error, public = f"{type(exc).__name__}: {exc}", public_reason(exc)
        if endpoint.healthy:
            self.monitor.record_success(endpoint.url, time.perf_counter() - t0)
        else:
            self.monitor.record_failure(endpoint.url, endpoint.last_error or "unhealthy", public)


class SseLines:
    """An SSE body fed in blocks as they arrive, read line by line, as ``readline`` would.

    Each complete line gives its size in bytes (newline included) and, for a ``data:`` line, its
    payload (stripped); other lines (blank separators, comments, ``event:``) give None. A line
    longer than ``limit`` bytes raises ``LineTooLong``, as aiohttp's own ``readline`` does.
    """

    def __init__(self, limit: int):
        self.limit = limit
        self._pending = b""  # the start of a line whose end has not arrived yet

    def feed(self, block: bytes) -> list[tuple[int, bytes | None]]:
        buf = self._pending + block if self._pending else block
        lines = buf.split(b"\n")
        self._pending = lines.pop()
        if len(buf) > self.limit:  # as readline counts: a whole line with its newline, a partial one as is
            sizes = [(line, len(line) + 1) for line in lines] + [(self._pending, len(self._pending))]
            for line, size in sizes:
                if size > self.limit:
                    raise LineTooLong(line[:100] + b"...", self.limit)
        return [(len(line) + 1, _data(line)) for line in lines]

    def end(self) -> list[tuple[int, bytes | None]]:
        """The body is over: its last line, if it had no newline."""
        last, self._pending = self._pending, b""
        return [(len(last), _data(last))] if last else []


def _data(line: bytes) -> bytes | None:
    line = line.strip()
    return line[5:].strip() if line.startswith(b"data:") else None


def _stream_event(data: bytes) -> dict:
    """One SSE ``data:`` payload, checked for the shape the modes read (raises ValueError otherwise)."""
    # an object's UTF-8 text, read as json.loads would read these bytes (without sniffing the encoding)
    event = json.loads(data.decode("utf-8", "surrogatepass") if data[:1] == b"{" and data[1:2] != b"\0"
                       else data)
    if not isinstance(event, dict):
        raise TypeError("stream event is not a JSON object")
    choices = event.get("choices")
    if choices is not None and not (isinstance(choices, list) and all(isinstance(c, dict) for c in choices)):
        raise TypeError("stream event has malformed choices")
    if event.get("usage") is not None and not isinstance(event["usage"], dict):
        raise TypeError("stream event has malformed usage")
    return event
