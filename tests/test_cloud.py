"""The cloud client (gateway/cloud.py) against scripted clouds on loopback — model-free.

A scripted cloud is a real aiohttp server that answers the way a slow, broken or
verbose cloud would; the client under test speaks real HTTP to it.
"""

from __future__ import annotations

import asyncio
import json
import threading

import pytest
from aiohttp import web

from gateway.api.sse import open_stream, send_done, send_event
from gateway.cloud_client import vllm_wire as cloudmod
from gateway.cloud_client.client import CloudClient
from gateway.cloud_client.errors import CloudError
from gateway.cloud_client.health import NetworkMonitor
from gateway.cloud_client.transport import CallStats
from gateway.cloud_client.verify import PromptLogprobsVerifier
from gateway.cloud_client.vllm_wire import parse_prompt_logprobs
from tests.conftest import free_port

INTERNAL = "10.9.8.7"  # an address that must never reach a client


class ScriptedCloud:
    """An aiohttp app on loopback; ``routes`` maps (method, path) to a handler."""

    def __init__(self, routes: dict, port: int = 0):
        self.app = web.Application()
        for (method, path), handler in routes.items():
            self.app.router.add_route(method, path, handler)
        self.port = port
        self.runner: web.AppRunner | None = None

    async def __aenter__(self) -> str:
        self.runner = web.AppRunner(self.app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", self.port, reuse_address=True)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{self.port}"

    async def __aexit__(self, *exc) -> None:
        assert self.runner is not None
        await self.runner.cleanup()


def slow_stream(n: int, gap_s: float, then_stall_s: float = 0.0):
    async def handler(request: web.Request) -> web.StreamResponse:
        resp = await open_stream(request)
        for i in range(n):
            await asyncio.sleep(gap_s)
            await send_event(resp, {"choices": [{"index": 0, "delta": {"content": f"t{i} "}, "finish_reason": None}]})
        if then_stall_s:
            await asyncio.sleep(then_stall_s)
        await send_done(resp)
        return resp
    return handler


async def collect(client: CloudClient) -> list[dict]:
    return [ev async for ev in client.stream({"messages": [{"role": "user", "content": "hi"}]}, CallStats())]


# -- defect 1: streams were cut by a session-wide total timeout -----------------------------------------------
def test_slow_stream_is_not_cut_by_a_total_timeout():
    """Issue 11, defect 1: 8 tokens 0.15 s apart (1.2 s in all) through a client with a 0.5 s timeout."""
    async def main():
        async with ScriptedCloud({("POST", "/v1/chat/completions"): slow_stream(8, 0.15)}) as url:
            client = CloudClient([url], timeout_s=0.5, retries=0)
            await client.start()
            try:
                return await collect(client)
            finally:
                await client.close()

    events = asyncio.run(main())
    assert [e["choices"][0]["delta"]["content"] for e in events] == [f"t{i} " for i in range(8)]


def test_a_stalled_stream_still_fails_fast_with_a_public_reason():
    async def main():
        async with ScriptedCloud({("POST", "/v1/chat/completions"): slow_stream(2, 0.05, then_stall_s=5)}) as url:
            client = CloudClient([url], timeout_s=0.4, retries=0)
            await client.start()
            try:
                with pytest.raises(CloudError) as err:
                    await collect(client)
                return err.value
            finally:
                await client.close()

    exc = asyncio.run(main())
    assert exc.public.startswith("cloud stream stalled") and "127.0.0.1" not in exc.public


# -- defect 6: what clients are told about cloud failures ---------------------------------------------------------
def test_cloud_errors_carry_a_public_reason_free_of_addresses_and_bodies():
    """Issue 11, defect 6: the detail (address, body) stays in str(exc); exc.public is safe to show."""
    async def boom(request: web.Request) -> web.Response:
        return web.Response(status=500, text=f"upstream http://{INTERNAL}:9000 exploded: secret-token-xyz")

    async def half_stream(request: web.Request) -> web.StreamResponse:
        resp = await open_stream(request)
        await send_event(resp, {"choices": [{"index": 0, "delta": {"content": "a"}, "finish_reason": None}]})
        request.transport.close()  # the cloud dies mid-answer
        return resp

    async def main():
        out = {}
        async with ScriptedCloud({("POST", "/v1/tandem/verify"): boom,
                                  ("POST", "/v1/chat/completions"): half_stream}) as url:
            client = CloudClient([url], timeout_s=2, retries=1, strategy="tandem")
            await client.start()
            for name, call in (("http500", client.verify([1, 2, 3], [4], CallStats())), ("mid_stream", collect(client))):
                try:
                    await call
                except CloudError as exc:
                    out[name] = exc
            await client.close()
        dead = CloudClient([f"http://127.0.0.1:{free_port()}"], timeout_s=2, retries=0)
        await dead.start()
        try:
            await dead.request_json("GET", "/v1/models")
        except CloudError as exc:
            out["refused"] = exc
        await dead.close()
        return out

    errors = asyncio.run(main())
    assert errors["http500"].public == "cloud answered HTTP 500 after 2 attempts"
    assert INTERNAL in str(errors["http500"])  # the detail is kept for the logs
    assert errors["mid_stream"].public == "cloud stream broke mid-answer"
    assert errors["refused"].public == "cloud unreachable (connection refused)"
    for exc in errors.values():
        assert "127.0.0.1" not in exc.public and INTERNAL not in exc.public and "secret" not in exc.public
        assert "http" not in exc.public.lower().replace("http 500", "")


def test_garbage_verify_answers_are_cloud_errors():
    """A 200 with the wrong JSON must degrade (CloudError), not escape as KeyError into a 500."""
    async def wrong(request: web.Request) -> web.Response:
        return web.json_response({"surprise": True})

    async def not_json(request: web.Request) -> web.Response:
        return web.Response(body=b"\x00\xffgarbage<html>", content_type="application/json")

    async def main():
        reasons = []
        for handler in (wrong, not_json):
            async with ScriptedCloud({("POST", "/v1/tandem/verify"): handler}) as url:
                client = CloudClient([url], retries=0, strategy="tandem")
                await client.start()
                with pytest.raises(CloudError) as err:
                    await client.verify([1, 2, 3], [4, 5], CallStats())
                reasons.append(err.value.public)
                await client.close()
        return reasons

    assert asyncio.run(main()) == ["cloud answered with invalid data"] * 2


# -- defect 2: after start-up, nothing probed an open circuit ----------------------------------------------------
def test_probe_closes_the_circuit_when_the_cloud_comes_back():
    """Issue 11, defect 2: while the circuit is open a background probe is the half-open trial."""
    port = free_port()

    async def health(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def main():
        monitor = NetworkMonitor(failure_threshold=1, cooldown_s=0.2)
        client = CloudClient([f"http://127.0.0.1:{port}"], retries=0, monitor=monitor)
        await client.start()
        try:
            with pytest.raises(CloudError):
                await client.request_json("GET", "/v1/models")
            url = client.endpoints[0].url
            assert monitor.endpoints[url].consecutive_failures == 1 and not monitor.available()
            async with ScriptedCloud({("GET", "/health"): health}, port=port):
                for _ in range(100):  # no request is made: only the probe can notice
                    await asyncio.sleep(0.05)
                    if monitor.endpoints[url].consecutive_failures == 0:
                        break
            return monitor.endpoints[url].consecutive_failures, monitor.available()
        finally:
            await client.close()

    failures, available = asyncio.run(main())
    assert failures == 0 and available


def test_a_router_whose_health_names_a_dead_worker_but_is_ready_closes_the_circuit():
    """vLLM's router answers /health 503 while any worker is down ("Unhealthy servers: [...]"), yet serves
    through the others and says so on /readiness. Probing /health alone kept the circuit open for as long
    as one replica of many stayed dead: every request went to the device, degraded (CI, stop 31)."""
    async def unhealthy(request: web.Request) -> web.Response:
        return web.Response(status=503, text='Unhealthy servers: ["http://10.0.0.7:8000"]')

    async def ready(request: web.Request) -> web.Response:
        return web.json_response({"status": "ready", "healthy_workers": 1, "total_workers": 2})

    async def main(routes: dict) -> bool:
        async with ScriptedCloud(routes) as url:
            monitor = NetworkMonitor(failure_threshold=1, cooldown_s=60)
            client = CloudClient([url], retries=0, monitor=monitor)
            await client.start()
            try:
                monitor.record_failure(url, "a call failed")
                assert not monitor.available()
                await client.check_health(client.endpoints[0])
                return monitor.available() and client.endpoints[0].healthy
            finally:
                await client.close()

    assert asyncio.run(main({("GET", "/health"): unhealthy, ("GET", "/readiness"): ready}))
    assert not asyncio.run(main({("GET", "/health"): unhealthy}))  # vLLM itself has no /readiness: down


# -- defect 5: stock-vLLM verification decoded the whole context's prompt_logprobs on the loop ------------------
def vllm_answer(context: list[int], draft: list[int], cloud_argmax: list[int], n_top: int = 1,
                decoded=lambda t: f"token_id:{t}") -> bytes:
    """A vLLM 0.32 completion with prompt_logprobs, as its OpenAI server writes it."""
    prompt = context + draft
    entries: list = [None]
    for pos in range(1, len(prompt)):
        actual = prompt[pos]
        best = cloud_argmax[pos - len(context)] if pos >= len(context) else actual
        entry = {str(actual): {"logprob": -0.5 if actual != best else -0.01, "rank": 1 if actual == best else 2,
                               "decoded_token": decoded(actual)}}
        for j in range(n_top):
            tok = best + j
            entry.setdefault(str(tok), {"logprob": -0.01 - j, "rank": j + 1, "decoded_token": decoded(tok)})
        entries.append(entry)
    bonus = cloud_argmax[len(draft)]
    choice = {"index": 0, "text": f"token_id:{bonus}",
              "logprobs": {"text_offset": [0], "token_logprobs": [-0.01], "tokens": [f"token_id:{bonus}"],
                           "top_logprobs": [{f"token_id:{bonus}": -0.01}]},
              "finish_reason": "length", "stop_reason": None, "token_ids": [bonus],
              "prompt_logprobs": entries, "prompt_token_ids": prompt}
    return json.dumps({"id": "cmpl-1", "object": "text_completion", "created": 1, "model": "cloud",
                       "choices": [choice], "usage": {"prompt_tokens": len(prompt), "completion_tokens": 1}}).encode()


def test_tail_parse_equals_the_full_parse():
    context, draft = list(range(100, 400)), [7, 8, 9, 10]
    for argmax in ([7, 8, 9, 10, 11], [7, 8, 42, 10, 11], [1, 8, 9, 10, 11]):
        for n_top in (1, 5):
            raw = vllm_answer(context, draft, argmax, n_top)
            full = parse_prompt_logprobs(json.loads(raw)["choices"][0], len(context), draft)
            assert cloudmod.parse_verify_tail(raw, len(context), draft) == full
    odd = vllm_answer(context, draft, [7, 8, 9, 10, 11], decoded=lambda t: f"]}}{{[{t}")  # text tokens, brackets
    assert cloudmod.parse_verify_tail(odd, len(context), draft) in (None, parse_prompt_logprobs(
        json.loads(odd)["choices"][0], len(context), draft))
    assert cloudmod.parse_verify_tail(vllm_answer(context, draft, [7, 8, 9, 10, 11]), len(context) + 1, draft) is None


def test_a_draft_token_vllm_ranks_below_its_top_n_is_not_in_the_row():
    """vLLM lists its top n and the prompt's own token wherever it ranks. A draft ranked 40th is not among
    the cloud's top tokens: a grammar filtering the row took it for the cloud's best allowed token (the
    speculative answer kept the device's values against vLLM, with no grammar fallback counted)."""
    entry = {"5": {"logprob": -0.1, "rank": 1}, "6": {"logprob": -2.0, "rank": 2}, "7": {"logprob": -3.0, "rank": 3},
             "99": {"logprob": -9.4, "rank": 40}}
    choice = {"prompt_logprobs": [None, {"1": {"logprob": -1.0, "rank": 1}}, entry], "token_ids": [5],
              "logprobs": {"top_logprobs": [{"5": -0.1}]}}
    result = parse_prompt_logprobs(choice, 2, [99])
    assert result.target_top[0] == [(5, -0.1), (6, -2.0), (7, -3.0)]
    assert result.draft_logprobs == [-9.4] and result.accepted == 0 and result.tokens == [5]
    entry["99"]["rank"] = 4  # ranked right after the listed ones: it is the 4th best, and stays
    assert parse_prompt_logprobs(choice, 2, [99]).target_top[0][-1] == (99, -9.4)


def test_prompt_logprobs_verifier_decodes_only_draft_positions(monkeypatch):
    """Issue 11, defect 5: a 3,000-token context; only the 4 draft positions may be decoded."""
    context, draft, argmax = list(range(1000, 4000)), [7, 8, 9, 10], [7, 8, 42, 10, 11]
    raw = vllm_answer(context, draft, argmax)

    async def completions(request: web.Request) -> web.Response:
        return web.Response(body=raw, content_type="application/json")

    decoded: list[tuple[int, int]] = []  # (size, thread) of every json.loads in the client's process
    real_loads = json.loads

    def spy(s, *a, **kw):
        decoded.append((len(s), threading.get_ident()))
        return real_loads(s, *a, **kw)

    async def main():
        async with ScriptedCloud({("POST", "/v1/completions"): completions}) as url:
            client = CloudClient([url], retries=0, strategy="vllm")
            await client.start()
            verifier = await client.verifier()
            assert isinstance(verifier, PromptLogprobsVerifier)
            monkeypatch.setattr(json, "loads", spy)
            try:
                return await client.verify(context, draft, CallStats()), threading.get_ident()
            finally:
                monkeypatch.undo()
                await client.close()

    result, loop_thread = asyncio.run(main())
    assert result.accepted == 2 and result.tokens == [7, 8, 42]
    on_loop = [size for size, thread in decoded if thread == loop_thread]
    assert max(on_loop) < len(raw) / 20, f"decoded {max(on_loop)} of {len(raw)} bytes on the event loop"


# -- the SSE reader: blocks as they arrive, read line by line ---------------------------------------------------
def test_sse_lines_give_the_same_payloads_however_the_body_is_cut():
    from gateway.cloud_client.transport import SseLines

    body = (b'data: {"a": 1}\n\n: a comment\nevent: x\r\ndata:{"b": "\xc3\xa9"}\r\n\r\n'
            b'data: {"c": 3}\n\ndata: [DONE]')  # the last line without its newline
    want = [b'{"a": 1}', b'{"b": "\xc3\xa9"}', b'{"c": 3}', b"[DONE]"]
    for step in (1, 2, 3, 7, len(body)):
        lines = SseLines(1 << 17)
        got = [x for i in range(0, len(body), step) for x in lines.feed(body[i:i + step])] + lines.end()
        assert [d for _, d in got if d is not None] == want, step
        assert sum(size for size, _ in got) == len(body)  # every byte counted, line by line


def test_sse_lines_refuse_a_line_longer_than_the_limit_as_readline_does():
    from aiohttp.http_exceptions import LineTooLong

    from gateway.cloud_client.transport import SseLines

    lines = SseLines(64)
    assert lines.feed(b"data: " + b"x" * 57 + b"\n") == [(64, b"x" * 57)]  # 64 bytes with its newline: fits
    with pytest.raises(LineTooLong):
        lines.feed(b"data: " + b"x" * 70)


def test_a_stream_whose_events_arrive_in_one_block_or_split_mid_event_reads_the_same():
    events = [{"choices": [{"index": 0, "delta": {"content": f"t{i} "}, "finish_reason": None}]}
              for i in range(5)]
    sse = b"".join(b"data: " + json.dumps(e).encode() + b"\n\n" for e in events) + b"data: [DONE]\n\n"

    async def one_block(request: web.Request) -> web.Response:
        return web.Response(body=sse, content_type="text/event-stream")

    async def split(request: web.Request) -> web.StreamResponse:
        resp = await open_stream(request)
        for i in range(0, len(sse), 17):
            await resp.write(sse[i:i + 17])
            await asyncio.sleep(0.001)
        await resp.write_eof()
        return resp

    async def main():
        out = []
        for handler in (one_block, split):
            async with ScriptedCloud({("POST", "/v1/chat/completions"): handler}) as url:
                client = CloudClient([url], timeout_s=2, retries=0)
                await client.start()
                stats = CallStats()
                try:
                    got = [ev async for ev in client.stream({"messages": []}, stats)]
                    out.append((got, stats.bytes_down))
                finally:
                    await client.close()
        return out

    for got, bytes_down in asyncio.run(main()):
        assert got == events and bytes_down == len(sse) - 1  # counted up to the [DONE] line, as readline read
