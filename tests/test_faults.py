"""The fault matrix: whatever the cloud does, the client gets a whole answer, honestly labelled.

A real local cloud (SmolLM2, in-process) sits behind ``FaultProxy``, a TCP proxy that can
make it die (stop listening and reset every connection, as a killed process does) before
the request, while it answers the first call, or after the first token reached the gateway;
black-hole it (accept TCP, never answer); answer 500 with an internal address in the body;
answer garbage (not HTTP; or HTTP 200 with unreadable JSON/SSE); or answer slowly (every
SSE event or JSON answer held back, so an answer takes longer than ``cloud.timeout_s``
while no single gap does — the old 30 s total cut, scaled down to 2 s).

Each case runs in every mode that uses the cloud (cloud, speculative, cascade forced to
escalate, auto), streaming and not. The answer must be whole (text, a finish reason, no
error event); when the cloud failed it must say ``degraded`` with a reason that names no
address, port or cloud response body.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

import aiohttp
import openai
import pytest
from aiohttp import web

from cloud.server import create_cloud_app
from device_runtime.engine import LlamaEngine
from gateway.testing.live import LiveGateway
from tests.conftest import SMOL

pytestmark = pytest.mark.integration

INTERNAL = "10.9.8.7"
ADDRESS = re.compile(r"\d+\.\d+\.\d+\.\d+|https?://|localhost|:\d{2,5}\b|secret|Traceback", re.IGNORECASE)
MSG = [{"role": "user", "content": "Write a short poem about the sea."}]
MODES = ["tandem-cloud", "tandem-speculative", "tandem-cascade", "tandem-auto"]
TIMEOUT_S = 2.0  # cloud.timeout_s here: the old 30 s total, scaled down (and loose enough for a loaded 2-core CI box)
FIRST_TOKEN = (b'"delta": {"content"', b'"text": "', b'"accepted"')  # a token in a chat/text stream or a verify answer


REFERENCE: dict[int, str] = {}  # the device-only answer per max_tokens, filled by the fixture


class FaultProxy:
    """TCP between the gateway and the cloud, with the cloud's failure modes on a switch."""

    def __init__(self, upstream_port: int):
        self.upstream_port = upstream_port
        self.mode = "pass"  # pass | blackhole | http500 | garbage | garbage_http | slow
        self.kill_on: str | None = None  # "response": at the cloud's first answer byte; "after_first": next read after a token
        self.gap_s = 0.3
        self.port = 0
        self.server: asyncio.AbstractServer | None = None
        self.conns: set[asyncio.StreamWriter] = set()
        self._token_forwarded = False
        self.killed = False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def listen(self) -> None:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", self.port, reuse_address=True)
        self.port = self.server.sockets[0].getsockname()[1]

    async def kill(self) -> None:
        """As a killed process: the port refuses, open connections are reset."""
        self.killed = True
        if self.server is not None:
            self.server.close()
            self.server = None
        for w in list(self.conns):
            w.transport.abort()
        self.conns.clear()

    async def reset(self) -> None:
        self.mode, self.kill_on, self._token_forwarded, self.killed = "pass", None, False, False
        for w in list(self.conns):
            w.transport.abort()
        self.conns.clear()
        if self.server is None:
            await self.listen()

    async def _read_request(self, reader: asyncio.StreamReader) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        m = re.search(rb"content-length:\s*(\d+)", head, re.IGNORECASE)
        if m:
            await reader.readexactly(int(m.group(1)))

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.conns.add(writer)
        try:
            if self.mode == "blackhole":
                await reader.read()  # accepts and listens, never answers
                return
            if self.mode in ("http500", "garbage", "garbage_http"):
                await self._read_request(reader)
                writer.write(self._canned())
                await writer.drain()
                writer.close()
                return
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
            try:
                await asyncio.gather(self._pump_up(reader, up_writer), self._pump_down(up_reader, writer))
            finally:
                up_writer.transport.abort()
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, OSError):
            pass
        finally:
            self.conns.discard(writer)
            writer.transport.abort()

    def _canned(self) -> bytes:
        if self.mode == "http500":
            body = f'{{"error": {{"message": "upstream http://{INTERNAL}:9000 failed, token=sk-secret"}}}}'.encode()
            return (b"HTTP/1.1 500 Internal Server Error\r\nContent-Type: application/json\r\nConnection: close\r\n"
                    b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
        if self.mode == "garbage":
            return b"\x00\xff\xfeNOT HTTP " + INTERNAL.encode() + b"\r\n\r\n" + bytes(range(256))
        body = b"data: {oops " + INTERNAL.encode() + b"\n\n"  # unreadable as an SSE event and as JSON
        return (b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\nContent-Length: "
                + str(len(body)).encode() + b"\r\n\r\n" + body)

    async def _pump_up(self, reader: asyncio.StreamReader, up: asyncio.StreamWriter) -> None:
        while data := await reader.read(65536):
            up.write(data)
            await up.drain()

    async def _pump_down(self, up: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await up.read(65536):
            if self.kill_on == "response" or (self.kill_on == "after_first" and self._token_forwarded):
                await self.kill()
                return
            if self.mode == "slow":  # each SSE event late, and each answer's start (a JSON answer: once)
                for piece in re.split(rb"(?<=\n\n)", data):
                    if piece.endswith(b"\n\n") or piece.startswith(b"HTTP/1."):
                        await asyncio.sleep(self.gap_s)
                    writer.write(piece)
                    await writer.drain()
            else:
                writer.write(data)
                await writer.drain()
            if any(marker in data for marker in FIRST_TOKEN):
                self._token_forwarded = True


class FaultyCloud:
    """The real local cloud on one port, the proxy on another; the gateway knows only the proxy."""

    def __init__(self, engine: LlamaEngine):
        self.engine = engine
        self.runner: web.AppRunner | None = None
        self.proxy: FaultProxy | None = None

    async def start(self) -> str:
        self.runner = web.AppRunner(create_cloud_app(self.engine), handler_cancellation=True, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.proxy = FaultProxy(site._server.sockets[0].getsockname()[1])
        await self.proxy.listen()
        return self.proxy.url

    async def stop(self) -> None:
        if self.proxy is not None:
            await self.proxy.kill()
        if self.runner is not None:
            await self.runner.cleanup()


@pytest.fixture(scope="module")
def setup(smol_engine, smol_path):
    cloud = FaultyCloud(LlamaEngine(smol_path, n_ctx=2048, name=SMOL))
    overrides = [f"cloud.timeout_s={TIMEOUT_S}", "cloud.retries=0", "cloud.failure_threshold=1000",
                 "cascade.threshold=1000", "cascade.window_threshold=1000", "cascade.verify_chunk=4", "speculative.k=2", "speculative.adaptive=false",
                 "scheduling.cloud_poll_s=0"]  # no background /metrics poll through the fault proxy: only the answer's calls
    with LiveGateway(smol_engine, overrides, cloud_server=cloud) as g:
        assert g.collaborator.tokenizers.compatible, g.collaborator.tokenizers.reason
        client = openai.OpenAI(base_url=f"{g.url}/v1", api_key="unused", max_retries=0, timeout=60)
        for model in MODES:  # warm up: the verifier strategy is chosen, pools are filled
            ask(client, model, stream=False)
        for n in (10, 12):
            REFERENCE[n] = ask(client, "tandem-device", stream=False, max_tokens=n)[0]
        yield g, cloud.proxy, client


def reset(gw: LiveGateway, proxy: FaultProxy) -> None:
    gw.call(proxy.reset())
    monitor = gw.collaborator.monitor
    monitor.endpoints.clear()
    for ep in gw.collaborator.cloud.endpoints:
        ep.healthy, ep.last_error = True, None


def ask(client: openai.OpenAI, model: str, stream: bool, max_tokens: int = 12) -> tuple[str, str, dict[str, Any]]:
    args = {"model": model, "messages": MSG, "max_tokens": max_tokens, "temperature": 0}
    if stream:
        chunks = list(client.chat.completions.create(stream=True, **args))
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
        return text, finishes[-1] if finishes else "", chunks[-1].model_extra["tandem"]
    r = client.chat.completions.create(**args)
    return r.choices[0].message.content or "", r.choices[0].finish_reason, r.model_extra["tandem"]


def assert_whole(text: str, finish: str, trace: dict[str, Any], degraded: bool, max_tokens: int = 12) -> None:
    assert text.strip() and finish in ("stop", "length"), (text, finish)
    produced = trace["device_tokens"] + trace["cloud_tokens"]
    assert finish == "stop" or produced == max_tokens, (finish, produced, trace)  # not cut short
    if not trace["cloud_tokens"] and not trace["drafts_accepted"]:  # all the device's own work, greedy:
        assert text == REFERENCE[max_tokens], (text, REFERENCE[max_tokens], trace)  # nothing lost or repeated
    assert trace["degraded"] is degraded, trace
    if degraded:
        assert trace["degraded_reason"], trace
    for said in (trace["degraded_reason"] or "", trace["reason"]):
        assert not ADDRESS.search(said), f"internal detail reached the client: {said!r}"


def run_case(setup, model: str, stream: bool, arrange, max_tokens: int = 12) -> tuple[str, str, dict]:
    gw, proxy, client = setup
    reset(gw, proxy)
    gw.call(arrange(proxy))
    try:
        return ask(client, model, stream, max_tokens)
    finally:
        reset(gw, proxy)


def both(values):
    return [pytest.param(m, s, id=f"{m.removeprefix('tandem-')}-{'stream' if s else 'json'}")
            for m in values for s in (False, True)]


# -- the cloud dies -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("model,stream", both(MODES))
@pytest.mark.parametrize("when", ["before", "during", "after_first_token"])
def test_cloud_killed(setup, model, stream, when):
    async def arrange(proxy: FaultProxy) -> None:
        if when == "before":
            await proxy.kill()
        else:
            proxy.kill_on = "response" if when == "during" else "after_first"

    text, finish, trace = run_case(setup, model, stream, arrange)
    assert_whole(text, finish, trace, degraded=True)
    if when == "after_first_token":
        assert trace["cloud_tokens"] + trace["drafts_accepted"] > 0  # the cloud did contribute before it died


# -- the cloud misbehaves -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("model,stream", both(MODES))
@pytest.mark.parametrize("fault", ["blackhole", "http500", "garbage", "garbage_http"])
def test_cloud_misbehaves(setup, model, stream, fault):
    async def arrange(proxy: FaultProxy) -> None:
        proxy.mode = fault

    text, finish, trace = run_case(setup, model, stream, arrange)
    assert_whole(text, finish, trace, degraded=True)


@pytest.mark.parametrize("model,stream", both(MODES))
def test_slow_cloud_is_waited_for_not_cut(setup, model, stream):
    """Issue 11, defect 1, end to end: each SSE event 0.3 s late, the answer > 2 s (the timeout), still the cloud's.

    Streams are bounded only by the gap between reads (2 s here). JSON calls (verification) keep a
    total bound; it is widened for this test so that the shared machine's load cannot make one
    verification round look like a fault.
    """
    gw = setup[0]
    cloud = gw.collaborator.cloud
    json_bound = cloud.timeout
    cloud.timeout = aiohttp.ClientTimeout(total=10, sock_connect=TIMEOUT_S, sock_read=10)

    async def arrange(proxy: FaultProxy) -> None:
        proxy.mode, proxy.gap_s = "slow", 0.3

    try:
        text, finish, trace = run_case(setup, model, stream, arrange, max_tokens=10)
    finally:
        cloud.timeout = json_bound
    assert_whole(text, finish, trace, degraded=False, max_tokens=10)
    assert trace["cloud_calls"] >= 1
    if model == "tandem-cloud":  # one stream, longer than the old total bound
        assert trace["timings_ms"]["done"] > 1000 * TIMEOUT_S
    assert cloud.stream_timeout.total is None and cloud.stream_timeout.sock_read == TIMEOUT_S


def test_open_circuit_sends_requests_to_the_device_with_a_public_reason(setup):
    gw, proxy, client = setup
    reset(gw, proxy)
    monitor = gw.collaborator.monitor
    monitor.failure_threshold = 1
    try:
        gw.call(proxy.kill())
        ask(client, "tandem-cloud", stream=False)  # fails over, and opens the circuit
        text, finish, trace = ask(client, "tandem-cloud", stream=False)
    finally:
        monitor.failure_threshold = 1000
        reset(gw, proxy)
    assert trace["mode"] == "device" and trace["cloud_calls"] == 0
    assert_whole(text, finish, trace, degraded=True)
    assert trace["reason"] == "cloud unavailable: cloud unreachable (connection refused)"
