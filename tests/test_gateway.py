"""The OpenAI-compatible server, driven by the official openai client, on the real SmolLM2.

The gateway here runs device-only (``cloud.offline``): the HTTP layer is under test;
collaboration with a cloud has its own tests.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time

import aiohttp
import openai
import pytest
import requests

from gateway.api.app import drain
from gateway.testing.live import LiveGateway

pytestmark = pytest.mark.integration

MSG = [{"role": "user", "content": "Name a fruit."}]


@pytest.fixture(scope="module")
def gw(smol_engine):
    with LiveGateway(smol_engine, ["cloud.offline=true", "server.max_queue=1", "server.max_body_bytes=65536"]) as g:
        yield g


@pytest.fixture
def client(gw):
    return openai.OpenAI(base_url=f"{gw.url}/v1", api_key="unused", max_retries=0)


def test_chat_non_stream(client, smol_engine):
    r = client.chat.completions.create(model="tandem-device", messages=MSG, max_tokens=12, temperature=0)
    choice = r.choices[0]
    assert choice.message.role == "assistant" and choice.message.content
    assert choice.finish_reason in ("stop", "length")
    assert r.usage.prompt_tokens == len(smol_engine.chat_tokens(MSG))
    assert 0 < r.usage.completion_tokens <= 12
    assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens
    extra = r.model_extra["tandem"]
    assert extra["mode"] == "device" and extra["device_tokens"] == r.usage.completion_tokens


def test_stream_joins_to_the_non_stream_answer(client):
    whole = client.chat.completions.create(model="tandem-device", messages=MSG, max_tokens=16, temperature=0)
    chunks = list(client.chat.completions.create(model="tandem-device", messages=MSG, max_tokens=16, temperature=0,
                                                 stream=True, stream_options={"include_usage": True}))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == whole.choices[0].message.content
    finals = [c for c in chunks if c.choices and c.choices[0].finish_reason]
    assert len(finals) == 1 and finals[0].choices[0].finish_reason == whole.choices[0].finish_reason
    assert chunks[-1].usage.completion_tokens == whole.usage.completion_tokens
    assert chunks[0].choices[0].delta.role == "assistant"


def test_raw_sse_framing(gw):
    r = requests.post(f"{gw.url}/v1/chat/completions", stream=True, json={
        "model": "tandem-device", "messages": MSG, "max_tokens": 4, "stream": True})
    assert r.headers["Content-Type"].startswith("text/event-stream")
    assert r.headers["x-tandem-route"].startswith("device")
    lines = [ln for ln in r.iter_lines() if ln]
    assert all(ln.startswith(b"data: ") for ln in lines)
    assert lines[-1] == b"data: [DONE]"
    last = json.loads(lines[-2][6:])
    assert last["tandem"]["mode"] == "device"


def test_async_client_stream_and_not(gw):
    async def main():
        client = openai.AsyncOpenAI(base_url=f"{gw.url}/v1", api_key="unused", max_retries=0)
        whole = await client.chat.completions.create(model="tandem-device", messages=MSG, max_tokens=10,
                                                     temperature=0)
        stream = await client.chat.completions.create(model="tandem-device", messages=MSG, max_tokens=10,
                                                      temperature=0, stream=True)
        text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
        await client.close()
        return whole, text

    whole, text = asyncio.run(main())
    assert text == whole.choices[0].message.content and text


def test_completions_text_and_token_prompts(client, smol_engine):
    r = client.completions.create(model="tandem-device", prompt="The capital of France is", max_tokens=5,
                                  temperature=0, logprobs=2)
    assert r.choices[0].text and r.usage.prompt_tokens == len(smol_engine.tokenize("The capital of France is"))
    lp = r.choices[0].logprobs
    assert len(lp.token_logprobs) == r.usage.completion_tokens and all(len(t) == 2 for t in lp.top_logprobs)
    ids = smol_engine.tokenize("The capital of France is")
    r2 = client.completions.create(model="tandem-device", prompt=ids, max_tokens=5, temperature=0)
    assert r2.choices[0].text == r.choices[0].text


def test_chat_logprobs(client):
    r = client.chat.completions.create(model="tandem-device", messages=MSG, max_tokens=4, temperature=0,
                                       logprobs=True, top_logprobs=3)
    content = r.choices[0].logprobs.content
    assert len(content) == r.usage.completion_tokens
    assert all(len(c.top_logprobs) == 3 and c.logprob <= 0 for c in content)


def test_content_parts_and_stop(client):
    parts = [{"role": "user", "content": [{"type": "text", "text": "Name a "}, {"type": "text", "text": "fruit."}]}]
    a = client.chat.completions.create(model="tandem-device", messages=parts, max_tokens=12, temperature=0)
    b = client.chat.completions.create(model="tandem-device", messages=MSG, max_tokens=12, temperature=0)
    assert a.choices[0].message.content == b.choices[0].message.content
    text = b.choices[0].message.content
    if len(text) > 4:
        stop = text[2:4]
        c = client.chat.completions.create(model="tandem-device", messages=MSG, max_tokens=12, temperature=0,
                                           stop=[stop])
        assert c.choices[0].message.content == text[: text.index(stop)] and c.choices[0].finish_reason == "stop"


def test_models_health_ready_metrics(gw, client):
    ids = [m.id for m in client.models.list().data]
    assert {"tandem-auto", "tandem-device", "tandem-cloud", "tandem-speculative", "tandem-cascade"} <= set(ids)
    assert requests.get(f"{gw.url}/health").json() == {"status": "ok"}
    ready = requests.get(f"{gw.url}/ready").json()
    assert ready["status"] == "ready" and ready["cloud"]["available"] is False
    metrics = requests.get(f"{gw.url}/metrics").text
    assert "tandem_requests_total" in metrics and 'mode="device"' in metrics


def test_offline_auto_still_answers_and_says_degraded(client):
    r = client.chat.completions.create(model="tandem-auto", messages=MSG, max_tokens=4)
    t = r.model_extra["tandem"]
    assert t["mode"] == "device" and t["degraded"] and t["reason"] == "offline mode"


# -- errors -------------------------------------------------------------------------------------------------
def post(gw, body, path="/v1/chat/completions", **kw):
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return requests.post(f"{gw.url}{path}", data=data, headers={"Content-Type": "application/json"}, **kw)


def assert_error(resp, status, code=None, param=None):
    assert resp.status_code == status, resp.text
    err = resp.json()["error"]
    assert set(err) == {"message", "type", "param", "code"} and err["message"]
    if code:
        assert err["code"] == code
    if param:
        assert err["param"] == param
    return err


def test_malformed_json(gw):
    assert_error(post(gw, b"{not json"), 400, "invalid_json")
    assert_error(post(gw, b"[1, 2]"), 400, "invalid_json")


@pytest.mark.parametrize("body,param", [
    ({"model": "tandem-device"}, "messages"),
    ({"model": "tandem-device", "messages": []}, "messages"),
    ({"model": "tandem-device", "messages": MSG, "temperature": 5}, "temperature"),
    ({"model": "tandem-device", "messages": [{"role": "wizard", "content": "x"}]}, "messages.0.role"),
    ({"model": "tandem-device", "messages": MSG, "n": 2}, "n"),
    ({"model": "tandem-device", "messages": MSG, "max_tokens": 0}, "max_tokens"),
    ({"model": "tandem-device", "messages": MSG, "metadata": {"privacy": "secret"}}, "metadata.privacy"),
    ({"model": "tandem-device", "messages": MSG, "metadata": {"mode": "turbo"}}, "metadata.mode"),
])
def test_schema_violations(gw, body, param):
    assert_error(post(gw, body), 400, param=param)


def test_unknown_fields_are_ignored(gw):
    r = post(gw, {"model": "tandem-device", "messages": MSG, "max_tokens": 2, "frobnicate": True})
    assert r.status_code == 200


def test_unknown_model(gw, client):
    assert_error(post(gw, {"model": "gpt-9", "messages": MSG}), 404, "model_not_found", "model")
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="gpt-9", messages=MSG)


def test_prompt_over_context_window(gw, smol_engine):
    long = "word " * (smol_engine.n_ctx + 100)
    assert_error(post(gw, {"model": "tandem-device", "messages": [{"role": "user", "content": long}]}), 400,
                 "context_length_exceeded", "messages")


def test_max_tokens_too_large(gw, smol_engine):
    err = assert_error(post(gw, {"model": "tandem-device", "messages": MSG, "max_tokens": smol_engine.n_ctx}), 400,
                       "context_length_exceeded", "max_tokens")
    assert "max_tokens" in err["message"]


def test_body_too_large(gw):
    big = {"model": "tandem-device", "messages": [{"role": "user", "content": "x" * 100_000}]}
    assert_error(post(gw, big), 413, "request_too_large")


def test_unknown_route(gw):
    assert_error(requests.get(f"{gw.url}/v1/nothing"), 404)


def test_overload_gets_429_with_retry_after(gw):
    """max_queue=1: one request runs, one waits, the third is refused at once."""
    body = {"model": "tandem-device", "messages": MSG, "max_tokens": 400, "temperature": 1.0, "seed": 1,
            "stop": ["NEVER"]}
    started = threading.Event()
    results = []

    def long_stream():
        with requests.post(f"{gw.url}/v1/chat/completions", json={**body, "stream": True}, stream=True) as r:
            for _ in r.iter_lines():
                started.set()
        results.append(r.status_code)

    threads = [threading.Thread(target=long_stream)]
    threads[0].start()
    assert started.wait(30)
    threads.append(threading.Thread(target=lambda: results.append(post(gw, {**body, "max_tokens": 2}).status_code)))
    threads[1].start()
    deadline = time.monotonic() + 10
    while gw.collaborator.device.waiting < 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    resp = post(gw, {**body, "max_tokens": 2})
    assert_error(resp, 429, "queue_full")
    assert resp.headers["Retry-After"]
    for t in threads:
        t.join(120)
    assert results == [200, 200]


def test_client_disconnect_cancels_generation_and_frees_the_device(gw):
    body = {"model": "tandem-device", "messages": MSG, "max_tokens": 1500, "temperature": 1.0, "seed": 3,
            "stop": ["NEVER"], "stream": True}

    async def drop_after_two_chunks():
        async with aiohttp.ClientSession() as s:
            async with s.post(f"{gw.url}/v1/chat/completions", json=body) as r:
                n = 0
                async for _ in r.content:
                    n += 1
                    if n >= 4:
                        break  # leaving the block closes the connection mid-stream

    t0 = time.monotonic()
    asyncio.run(drop_after_two_chunks())
    deadline = time.monotonic() + 15
    while gw.collaborator.device.busy and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not gw.collaborator.device.busy, "the dropped request kept the device"
    r = post(gw, {"model": "tandem-device", "messages": MSG, "max_tokens": 3})
    assert r.status_code == 200
    metrics = requests.get(f"{gw.url}/metrics").text
    assert 'status="499"' in metrics
    assert time.monotonic() - t0 < 60


def test_api_keys(smol_engine):
    with LiveGateway(smol_engine, ["cloud.offline=true", "server.api_keys=[k-1, k-2]"]) as g:
        assert_error(post(g, {"model": "tandem-device", "messages": MSG}), 401, "missing_api_key")
        bad = openai.OpenAI(base_url=f"{g.url}/v1", api_key="wrong", max_retries=0)
        with pytest.raises(openai.AuthenticationError):
            bad.chat.completions.create(model="tandem-device", messages=MSG, max_tokens=2)
        good = openai.OpenAI(base_url=f"{g.url}/v1", api_key="k-2", max_retries=0)
        assert good.chat.completions.create(model="tandem-device", messages=MSG, max_tokens=2).choices
        assert requests.get(f"{g.url}/health").status_code == 200  # probes stay open


def test_shutdown_refuses_new_work_with_503(smol_engine):
    with LiveGateway(smol_engine, ["cloud.offline=true"]) as g:
        g.call(drain(g.app))
        resp = post(g, {"model": "tandem-device", "messages": MSG})
        assert_error(resp, 503, "server_shutting_down")
        assert requests.get(f"{g.url}/ready").status_code == 503


def test_token_ids_out_of_vocabulary_are_refused(gw, smol_engine):
    resp = post(gw, {"model": "tandem-device", "prompt": [1, 2, smol_engine.n_vocab + 5]}, path="/v1/completions")
    assert_error(resp, 400, param="prompt")
    assert post(gw, {"model": "tandem-device", "prompt": [1, 2, 3], "max_tokens": 2},
                path="/v1/completions").status_code == 200


# -- issue 11, defect 3: an error after the stream started ----------------------------------------------------
def test_error_after_the_stream_started_is_an_sse_error_event(gw, monkeypatch):
    """The status line is gone: the error goes in the stream (then [DONE]), as vLLM and llama.cpp's server do."""
    collab = gw.collaborator
    real_run = collab.run

    async def run_then_fail(job):
        inner = real_run(job)
        try:
            yield await anext(inner)
            yield await anext(inner)
            raise RuntimeError("engine exploded at http://10.9.8.7:8001")
        finally:
            await inner.aclose()

    monkeypatch.setattr(collab, "run", run_then_fail)
    r = requests.post(f"{gw.url}/v1/chat/completions", stream=True, timeout=30, json={
        "model": "tandem-device", "messages": MSG, "max_tokens": 16, "stream": True, "stop": ["NEVER"],
        "temperature": 1.0, "seed": 5})
    lines = [ln for ln in r.iter_lines() if ln]
    monkeypatch.undo()
    assert r.status_code == 200 and all(ln.startswith(b"data: ") for ln in lines), lines
    assert lines[-1] == b"data: [DONE]"
    err = json.loads(lines[-2][6:])["error"]
    assert set(err) == {"message", "type", "param", "code"} and err["type"] == "server_error"
    assert "10.9.8.7" not in err["message"]
    assert json.loads(lines[0][6:])["choices"][0]["delta"]["role"] == "assistant"  # the stream had started
    assert post(gw, {"model": "tandem-device", "messages": MSG, "max_tokens": 2}).status_code == 200


# -- issue 11, defect 6: hostile input and exposure ---------------------------------------------------------------
def test_non_ascii_bearer_tokens_are_refused_with_401(smol_engine):
    with LiveGateway(smol_engine, ["cloud.offline=true", "server.api_keys=[k-1]"]) as g:
        for value in ("Bearer kéy-ü", "Bearer ключ".encode(), b"Bearer \xff\xfe\x80"):
            r = requests.post(f"{g.url}/v1/chat/completions", json={"model": "tandem-device", "messages": MSG},
                              headers={"Authorization": value})
            assert_error(r, 401, "invalid_api_key")


@pytest.mark.parametrize("meta,param", [
    ({"privacy": 1}, "metadata.privacy"),
    ({"privacy": ["private"]}, "metadata.privacy"),
    ({"privacy": {"level": "private"}}, "metadata.privacy"),
    ({"mode": 3}, "metadata.mode"),
    ({"max_latency_ms": "soon"}, "metadata.max_latency_ms"),
])
def test_metadata_of_the_wrong_type_is_a_400(gw, meta, param):
    assert_error(post(gw, {"model": "tandem-device", "messages": MSG, "metadata": meta}), 400, param=param)


def test_metrics_follow_the_api_keys_unless_configured_open(smol_engine):
    with LiveGateway(smol_engine, ["cloud.offline=true", "server.api_keys=[k-1]"]) as g:
        assert_error(requests.get(f"{g.url}/metrics"), 401, "missing_api_key")
        assert requests.get(f"{g.url}/metrics", headers={"Authorization": "Bearer k-1"}).status_code == 200
        assert requests.get(f"{g.url}/health").status_code == 200
    with LiveGateway(smol_engine, ["cloud.offline=true", "server.api_keys=[k-1]", "server.metrics_open=true"]) as g:
        assert requests.get(f"{g.url}/metrics").status_code == 200


def test_exposed_address_without_api_keys_warns_loudly(gw, caplog):
    import logging

    from gateway.api.app import create_app
    from gateway.config import load_config

    def warnings_for(*overrides):
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="tandem.gateway"):
            create_app(load_config(overrides=list(overrides)), gw.collaborator)
        return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]

    exposed = warnings_for("server.host=0.0.0.0")
    assert exposed and "no API keys" in exposed[0] and "0.0.0.0" in exposed[0]
    assert warnings_for("server.host='::'") and warnings_for("server.host=192.168.1.5")
    assert not warnings_for("server.host=127.0.0.1") and not warnings_for("server.host=localhost")
    assert not warnings_for("server.host=0.0.0.0", "server.api_keys=[k]")
