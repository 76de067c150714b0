"""The modes against a real local cloud (llama.cpp stand-in), and what happens when the cloud fails.

Device and cloud both run SmolLM2 here (fast, and one tokenizer, so speculation is on);
the Qwen pair has its own losslessness test.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import openai
import pytest
import requests

from device_runtime.engine import LlamaEngine
from gateway.testing.live import LiveGateway
from tests.conftest import SMOL, free_port

pytestmark = pytest.mark.integration

MSG = [{"role": "user", "content": "Write a short poem about the sea."}]


@pytest.fixture(scope="module")
def smol_cloud_engine(smol_path):
    return LlamaEngine(smol_path, n_ctx=2048, name=SMOL)


@pytest.fixture(scope="module")
def gw(smol_engine, smol_cloud_engine):
    with LiveGateway(smol_engine, ["speculative.adaptive=false", "speculative.k=4"],
                     cloud_engine=smol_cloud_engine) as g:
        yield g


@pytest.fixture
def client(gw):
    return openai.OpenAI(base_url=f"{gw.url}/v1", api_key="unused", max_retries=0)


def chat(client, model, stream=False, **kw):
    args = {"model": model, "messages": MSG, "max_tokens": 24, "temperature": 0, **kw}
    if stream:
        chunks = list(client.chat.completions.create(stream=True, **args))
        return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices), chunks[-1].model_extra["tandem"]
    r = client.chat.completions.create(**args)
    return r.choices[0].message.content, r.model_extra["tandem"]


def test_tokenizer_check_enables_speculation(gw):
    assert gw.collaborator.tokenizers.compatible
    ready = requests.get(f"{gw.url}/ready").json()
    assert ready["cloud"]["available"] and ready["cloud"]["speculative"]["enabled"]


def test_speculative_reports_the_trace(client):
    """Exact equality with the cloud's greedy output is the Qwen losslessness test's job (with its near-tie rule)."""
    cloud_text, cloud_trace = chat(client, "tandem-cloud")
    spec_text, trace = chat(client, "tandem-speculative")
    assert cloud_trace["mode"] == "cloud" and trace["mode"] == "speculative" and spec_text and cloud_text
    # same model on both sides: the cloud accepts most of what the device drafts
    assert trace["cloud_passes"] >= 1 and trace["drafts_accepted"] >= 0.5 * trace["drafts_proposed"] > 0
    assert trace["cloud_calls"] == trace["cloud_passes"] and trace["bytes_up"] > 0 and trace["bytes_down"] > 0
    assert trace["device_tokens"] + trace["cloud_tokens"] == 24 or "stop" in trace.get("reason", "stop")


def test_speculative_streaming_matches_non_streaming(client):
    a, _ = chat(client, "tandem-speculative")
    b, trace = chat(client, "tandem-speculative", stream=True)
    assert a == b and trace["mode"] == "speculative"


def test_speculative_sampling_runs_rejection_sampling(client):
    text, trace = chat(client, "tandem-speculative", temperature=0.8, seed=11)
    assert text and trace["mode"] == "speculative" and trace["cloud_passes"] > 0


def test_gated_cascade_keeps_a_confident_answer_and_escalates_an_unsure_one(gw, client):
    short = [{"role": "user", "content": "Say hi."}]  # answered whole within 24 tokens: no cut mid-sentence
    device_text, _ = chat(client, "tandem-device", messages=short)
    collab = gw.collaborator
    collab.config.cascade.policy = "gate"
    try:
        collab.confidence.threshold = -1000.0  # everything looks confident
        kept, t1 = chat(client, "tandem-cascade", messages=short)
        collab.confidence.threshold = 1000.0  # nothing does
        escalated, t2 = chat(client, "tandem-cascade", messages=short)
    finally:
        collab.confidence.threshold = -1.5
        collab.config.cascade.policy = "stream"
    assert t1["escalated"] is False and t1["cloud_calls"] == 0 and kept == device_text
    assert t2["escalated"] is True and t2["cloud_calls"] >= 1 and t2["confidence"] is not None
    assert t2["drafts_proposed"] >= 1  # the device answer was verified as a draft, not regenerated
    assert escalated  # same model: the cloud accepts the device's answer


def test_streaming_cascade_is_tandem_autos_default_and_hands_over_when_unsure(gw, client):
    collab = gw.collaborator
    assert collab.config.cascade.policy == "stream"
    device_text, _ = chat(client, "tandem-device")
    old = collab.confidence.window_threshold
    try:
        collab.confidence.window_threshold = -1000.0  # every stretch looks sure: the device's answer, streamed
        kept, t1 = chat(client, "tandem-auto", stream=True)
        collab.confidence.window_threshold = 1000.0  # none does: the cloud takes over at the first token
        handed, t2 = chat(client, "tandem-auto", stream=True)
    finally:
        collab.confidence.window_threshold = old
    assert t1["mode"] == "cascade" and t1["escalated"] is False and t1["cloud_calls"] == 0 and kept == device_text
    assert t2["escalated"] is True and t2["handover_token"] == 0 and "handed over after 0 tokens" in t2["reason"]
    assert t2["drafts_proposed"] >= 1 and t2["cloud_passes"] >= 1 and handed


def test_budget_exhausted_keeps_requests_on_the_device(gw, client):
    budget = gw.collaborator.budget
    old = budget.tokens_per_window
    budget.tokens_per_window = 1
    try:
        budget.record("anonymous", 5)
        _, trace = chat(client, "tandem-speculative")
        assert trace["mode"] == "device" and trace["reason"] == "cloud budget exhausted"
    finally:
        budget.tokens_per_window = old


def test_metrics_count_drafts_and_cloud_calls(gw, client):
    chat(client, "tandem-speculative")
    text = requests.get(f"{gw.url}/metrics").text
    assert "tandem_spec_decode_num_draft_tokens_total" in text and "tandem_cloud_bytes_total" in text


def test_cloud_down_auto_answers_from_the_device_and_says_degraded(smol_engine):
    dead = f"http://127.0.0.1:{free_port()}"
    with LiveGateway(smol_engine, [f"cloud.endpoints=[{dead}]", "cloud.retries=0", "cloud.failure_threshold=1"]) as g:
        client = openai.OpenAI(base_url=f"{g.url}/v1", api_key="unused", max_retries=0)
        for model in ("tandem-auto", "tandem-speculative", "tandem-cloud"):
            text, trace = chat(client, model)
            assert text and trace["mode"] == "device" and trace["degraded"], trace


# -- the cloud dies mid-answer ---------------------------------------------------------------------------------
@pytest.fixture
def cloud_process(smol_path):
    port = free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "gateway.cli", "cloud", "--model", str(smol_path), "--port",
                             str(port), "--delay-ms", "40"], env=env, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{url}/health", timeout=1).status_code == 200:
                break
        except requests.ConnectionError:
            time.sleep(0.2)
    yield proc, url
    if proc.poll() is None:
        proc.kill()
    proc.wait()


@pytest.mark.parametrize("model", ["tandem-speculative", "tandem-cloud"])
def test_cloud_killed_mid_stream_the_device_finishes_the_answer(smol_engine, cloud_process, model):
    proc, url = cloud_process
    with LiveGateway(smol_engine, [f"cloud.endpoints=[{url}]", "cloud.retries=0", "speculative.k=2",
                                   "speculative.adaptive=false"]) as g:
        client = openai.OpenAI(base_url=f"{g.url}/v1", api_key="unused", max_retries=0)
        stream = client.chat.completions.create(model=model, messages=MSG, max_tokens=60, temperature=0,
                                                stream=True, stop=["NEVER"])
        pieces, last = [], None
        for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                pieces.append(chunk.choices[0].delta.content)
                if len(pieces) == 2:
                    os.killpg(proc.pid, signal.SIGKILL)  # the whole cloud goes away, mid-answer
            last = chunk
        trace = last.model_extra["tandem"]
        assert trace["degraded"] and trace["degraded_reason"]
        assert trace["device_tokens"] > 0 and trace["cloud_tokens"] > 0  # both contributed to one answer
        assert last.choices[0].finish_reason in ("stop", "length")
        text = "".join(pieces)
        assert len(text) > 20
        metrics = requests.get(f"{g.url}/metrics").text
        assert "tandem_degraded_total 1.0" in metrics


def test_verification_sends_only_new_context_and_keeps_it_beside_another_conversation(gw, smol_engine):
    """Delta verification: later rounds send the tail; another conversation verifying in between has its own
    state on the cloud, so this one's next delta round is answered at once (a forgotten session's one resend:
    tests/test_cloud_server.py)."""
    from gateway.cloud_client.client import CloudClient
    from gateway.cloud_client.transport import CallStats
    from gateway.cloud_client.verify import VerifySession

    system = "You are a careful assistant. " * 40  # a few hundred tokens of context to not resend
    prompt = smol_engine.chat_tokens([{"role": "system", "content": system},
                                      {"role": "user", "content": "Count from one to twenty in words."}])
    other = smol_engine.chat_tokens([{"role": "user", "content": "Something else entirely, please."}])

    async def main():
        client = CloudClient([gw.cloud_url], strategy="tandem")
        await client.start()
        session, full, delta = VerifySession(), CallStats(), CallStats()
        first = await client.verify(prompt, [], full, session=session)
        context = prompt + first.tokens
        second = await client.verify(context, [], delta, session=session)  # sends ~1 token of context
        plain = await client.verify(context, [], CallStats())  # same question, full context
        await client.verify(other, [], CallStats(), session=VerifySession())  # another conversation
        stats = CallStats()
        third = await client.verify(context, [], stats, session=session)  # its own state, loaded back
        await client.close()
        return first, second, plain, third, full, delta, stats, context

    first, second, plain, third, full, delta, stats, context = gw.call(main())
    assert second.tokens == plain.tokens == third.tokens
    assert delta.bytes_up < full.bytes_up / 5
    assert stats.calls == 1 and stats.cached_tokens >= len(context) - 1  # no refusal: its prefix was kept


def test_tokenizer_mismatch_disables_speculation_and_cascade_regenerates(smol_engine):
    from aiohttp import web

    from gateway.testing.recording_cloud import RecordingCloud

    class OtherTokenizerCloud(RecordingCloud):  # claims Qwen's vocabulary while the device runs SmolLM2
        async def info(self, request):
            return web.json_response({"n_vocab": 151936, "eos_token_ids": [151645], "native_verify": True})

    with LiveGateway(smol_engine, ["cascade.threshold=1000"], cloud_server=OtherTokenizerCloud(smol_engine)) as g:
        check = g.collaborator.tokenizers
        assert not check.compatible and "vocab size differs" in check.reason
        client = openai.OpenAI(base_url=f"{g.url}/v1", api_key="unused", max_retries=0)
        _, trace = chat(client, "tandem-speculative")
        assert trace["mode"] == "cloud" and "speculative unavailable" in trace["reason"]
        _, trace = chat(client, "tandem-cascade")
        assert trace["escalated"] and trace["drafts_proposed"] == 0 and trace["cloud_tokens"] > 0
        assert requests.get(f"{g.url}/ready").json()["cloud"]["speculative"]["enabled"] is False
