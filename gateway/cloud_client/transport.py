"""HTTP to the cloud: one request path for JSON calls and SSE streams.

    transport = Transport(["http://127.0.0.1:8001"], model="cloud")
    await transport.start()
    out = await transport.request_json("POST", "/tokenize", {...}, stats)
    async for event in transport.stream(body, stats, chat=True): ...

Every exchange goes through ``_exchange`` with the endpoint ``_pick`` chose: the replica of
the answer's session (``CallStats.affinity``, ``pool.py``) while it is usable, else the next in
the session's hash order; without a session, the least-loaded healthy endpoint. It counts the
call in flight, simulates RTT where configured, counts bytes and seconds in the request's
``CallStats``, reports the outcome to the circuit breaker (``health``), and turns a 4xx into
``CloudRefused`` (the cloud is up but will not do it) and a 5xx, a cut connection or a timeout
into ``CloudError``. JSON calls retry with backoff, each retry on the next replica; a stream is
retried on another replica only before its first event (after that the orchestrator decides who
continues the answer).

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
from gateway.cloud_client.load import CloudLoad
from gateway.cloud_client.pool import Affinity, Conversations, rendezvous_order

# every call of an answer in the pool names its session (the key's hash, never the client's id), so a
# router in front of the replicas (vllm-router --policy consistent_hash reads this header first) keeps it too
SESSION_HEADER = "X-Session-Id"


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
    affinity: Affinity | None = None  # the answer's session in the pool: which replica its calls go to


@dataclass
class CloudEndpoint:
    url: str
    inflight: int = 0
    healthy: bool = True
    last_error: str | None = None
    load: CloudLoad | None = None  # from its /metrics, polled in the background (None: not known)


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
        self.conversations = Conversations()
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

    # -- the pool: which replica a call goes to (pool.py) --------------------------------------------
    def affinity(self, key: str, progress: Callable[[], int] | None = None) -> Affinity:
        """One answer's session in the pool; ``release`` it when the answer is over."""
        order = rendezvous_order(key, [e.url for e in self.endpoints])
        return self.conversations.open(key, order, *([progress] if progress else []))

    def release(self, affinity: Affinity) -> None:
        self.conversations.close(affinity)

    def usable(self, index: int) -> bool:
        e = self.endpoints[index]
        return e.healthy and self.monitor.state(e.url) != "open"

    def _pick(self, stats: CallStats | None, tried: set[int] | frozenset[int] = frozenset()) -> int:
        """The endpoint for the next call: the answer's replica while usable, else the session's next one
        in hash order; without a session the least-loaded healthy one. ``tried``: failed in this call."""
        aff = stats.affinity if stats is not None else None
        if aff is None:
            every = range(len(self.endpoints))
            fresh = [i for i in every if i not in tried] or list(every)
            healthy = [i for i in fresh if self.endpoints[i].healthy] or fresh
            return min(healthy, key=lambda i: self.endpoints[i].inflight)
        if aff.replica is not None and aff.replica not in tried and self.usable(aff.replica):
            return aff.replica
        fresh = [i for i in aff.order if i not in tried] or aff.order
        return next((i for i in fresh if self.usable(i)), fresh[0])

    def load_for(self, key: str | None) -> CloudLoad | None:
        """The load of the replica a request with this session key would go to now (None: unknown)."""
        if key is None:
            known = [e.load for e in self.endpoints if e.load is not None]
            return min(known, key=lambda x: x.waiting) if known else None
        order = rendezvous_order(key, [e.url for e in self.endpoints])
        return self.endpoints[next((i for i in order if self.usable(i)), order[0])].load

    def can_fail_over(self, stats: CallStats) -> bool:
        """Is there a usable replica this answer has not seen fail? (Another may take the answer over.)"""
        aff = stats.affinity
        return aff is not None and any(self.usable(i) for i in aff.order if i not in aff.failed)

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
        timeout: aiohttp.ClientTimeout, index: int,
    ) -> AsyncIterator[tuple[CloudEndpoint, aiohttp.ClientResponse]]:
        """One HTTP exchange with endpoint ``index`` and the bookkeeping every call shares (module docstring).

        Yields the endpoint and a 2xx response, whose arrival counts as the endpoint's success
        (its time is the RTT sample) and, for an answer in the pool, puts the answer on this replica;
        the caller reads the body. A failure while it reads is reported to the breaker here, with the
        public reason of the caller's ``CloudError``.
        """
        endpoint = self.endpoints[index]
        affinity = stats.affinity if stats is not None else None
        endpoint.inflight += 1
        t0 = time.perf_counter()
        try:
            await self._simulate_rtt()
            headers = self._headers if affinity is None else {**self._headers, SESSION_HEADER: affinity.key}
            async with self.session.request(method, endpoint.url + path, data=payload, headers=headers,
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
                if affinity is not None:
                    affinity.served(index)
                yield endpoint, resp
        except CloudRefused:
            raise
        except (TimeoutError, aiohttp.ClientError, CloudError, ValueError, TypeError) as exc:
            public = exc.public if isinstance(exc, CloudError) else public_reason(exc)
            self._failed(endpoint, f"{endpoint.url}{path}: {type(exc).__name__}: {exc}", public)
            if affinity is not None:
                affinity.failed.add(index)
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
                          retries: int | None = None, parse: Callable[[bytes], Any] = bytes,
                          rebody: Callable[[], Any] | None = None) -> Any:
        """One call; ``parse(raw body)`` runs inside the exchange, so an answer that cannot be read counts
        as a failed call. Each retry goes to the next replica; where one would land on a replica that does
        not hold the answer's state, ``rebody()`` gives the body to send instead (the whole context)."""
        payload = json.dumps(body).encode() if body is not None else None
        attempts = 1 + (self.retries if retries is None else retries)
        last: Exception | None = None
        tried: set[int] = set()
        for attempt in range(attempts):
            index = self._pick(stats, tried)
            if rebody is not None and stats is not None and stats.affinity is not None \
                    and stats.affinity.moved(index):
                payload, rebody = json.dumps(rebody()).encode(), None
            try:
                exchange = self._exchange(method, path, payload, stats, self.timeout, index)
                async with exchange as (endpoint, resp):
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
                tried.add(index)
                if attempt + 1 < attempts and not self._elsewhere(stats, tried):
                    await asyncio.sleep(min(2.0, 0.1 * 2**attempt) * (0.5 + random.random()))
        assert last is not None
        public = public_reason(last)
        if attempts > 1:
            public += f" after {attempts} attempts"
        raise CloudError(f"cloud unreachable after {attempts} attempt(s): {type(last).__name__}: {last}",
                         public)

    def _elsewhere(self, stats: CallStats | None, tried: set[int]) -> bool:
        """Is there a usable endpoint this call has not tried yet?"""
        return any(self.usable(i) for i in range(len(self.endpoints)) if i not in tried)

    async def stream(self, body: dict, stats: CallStats, chat: bool = True) -> AsyncIterator[dict]:
        """Pass a chat (or text) completion through, streaming; yields the cloud's parsed SSE chunks.

        Each yielded event is a dict whose ``choices`` (if any) is a list of dicts; anything
        else, a cut connection or a stream without ``[DONE]`` raises ``CloudError``. A stream that
        fails before its first event is sent to the next usable replica; after it, never here.
        """
        payload = json.dumps({**body, "model": self.model, "stream": True}).encode()
        path = "/v1/chat/completions" if chat else "/v1/completions"
        tried: set[int] = set()
        while True:
            index = self._pick(stats, tried)
            started = False
            try:
                async for event in self._stream_from(index, path, payload, stats):
                    started = True
                    yield event
                return
            except CloudRefused:
                raise
            except CloudError:
                tried.add(index)
                if started or not self._elsewhere(stats, tried):
                    raise

    async def _stream_from(self, index: int, path: str, payload: bytes, stats: CallStats
                           ) -> AsyncIterator[dict]:
        received = 0  # body bytes of this stream: a failure after some is a break mid-answer
        exchange = self._exchange("POST", path, payload, stats, self.stream_timeout, index)
        try:
            async with exchange as (endpoint, resp):
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

    async def check_health(self, endpoint: CloudEndpoint, closes_circuit: bool = True) -> None:
        """``GET /health`` on one endpoint; a failure goes to the circuit breaker, and so does a success
        where it may close the circuit (the breaker's own probe). A replica whose /health answers while
        its calls fail must still open its circuit: the recovery re-check passes ``closes_circuit=False``
        so its 200 does not wipe the count of failed calls.

        Where /health says no, ``/readiness`` has the last word: vLLM's router answers /health 503 while
        any of its workers is down, yet serves through the others, which its /readiness reports (vLLM
        itself has no /readiness: a 404 there leaves it down)."""
        public, t0 = "cloud health check failed", time.perf_counter()
        said_no = False  # /health answered, and not 200: that is the reason, whatever /readiness does
        try:
            timeout = aiohttp.ClientTimeout(total=3, sock_connect=min(3.0, self.timeout.sock_connect or 3.0))
            for path in ("/health", "/readiness"):
                t0 = time.perf_counter()  # one round trip, for the RTT estimate
                await self._simulate_rtt()
                async with self.session.get(endpoint.url + path, timeout=timeout) as r:
                    endpoint.healthy = r.status == 200
                    if endpoint.healthy:
                        break
                    if path == "/health":
                        said_no = True
                        endpoint.last_error = f"/health answered HTTP {r.status}"
                        public = f"cloud answered HTTP {r.status}"
        except (TimeoutError, aiohttp.ClientError) as exc:
            endpoint.healthy = False
            if not said_no:
                endpoint.last_error, public = f"{type(exc).__name__}: {exc}", public_reason(exc)
        if endpoint.healthy:
            if closes_circuit:
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
