"""Tandem behind vLLM's router (``vllm-router`` on PyPI, vllm-project/router), model-free.

Two ``ReplicaCloud`` stand-ins behind ``vllm-router --policy consistent_hash``; the gateway (a drafting
FakeEngine on the device) knows only the router. Skipped unless ``TANDEM_VLLM_ROUTER`` names the
``vllm-router`` executable (a throwaway venv: ``python3 -m venv /tmp/vr && /tmp/vr/bin/pip install
vllm-router``; 0.1.17 is a 24 MB wheel). What it shows (README "Behind vLLM's router"):

* the router forwards what Tandem uses: chat completions on its own route, and ``/v1/tandem/verify``,
  ``/v1/tandem/info``, ``/tokenize`` and ``/metrics`` through its transparent proxy, with our headers;
* ``consistent_hash`` reads ``X-Session-Id`` first, which the gateway sends on every call of an answer
  (its session key's hash): every verification call of a conversation meets one replica;
* when that replica dies, the router sends the session to another once its health check has seen it
  (``--health-check-interval-secs``), and the next answer is the cloud's own, token for token.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from collections import Counter

import aiohttp
import pytest

from gateway.config import load_config
from gateway.runtime import Runtime
from gateway.testing.replica_cloud import DraftingEngine, ReplicaCloud, cloud_greedy
from tests.conftest import free_port

ROUTER = os.environ.get("TANDEM_VLLM_ROUTER")
pytestmark = pytest.mark.skipif(not ROUTER, reason="TANDEM_VLLM_ROUTER (the vllm-router executable) not set")
MESSAGES = [{"role": "user", "content": "Tell me a story."}]


@pytest.fixture
async def routed(tmp_path):
    replicas = [ReplicaCloud("r0"), ReplicaCloud("r1")]
    for r in replicas:
        await r.start()
    port = free_port()
    log = open(tmp_path / "router.log", "w")
    args = ["--host", "127.0.0.1", "--port", str(port), "--policy", "consistent_hash",
            "--worker-urls", *[r.url for r in replicas], "--log-level", "warning",
            "--worker-startup-check-interval", "1", "--health-check-interval-secs", "1",
            "--health-failure-threshold", "1"]
    router = subprocess.Popen([ROUTER, *args], stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as http:
            for _ in range(150):
                try:
                    async with http.get(url + "/health") as r:
                        if r.status == 200:
                            break
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.2)
        config = load_config(overrides=["server.port=0", f"cloud.endpoints=[{url}]", "cloud.strategy=auto",
                                        "speculative.adaptive=false", "speculative.k=4", "device.pull=false",
                                        "scheduling.device_sample_s=0", "cloud.cooldown_s=1"])
        async with Runtime(config, engine=DraftingEngine()) as rt, aiohttp.ClientSession() as http:
            yield rt, http, replicas
    finally:
        router.terminate()
        router.wait(timeout=10)
        log.close()
        for r in replicas:
            await r.stop()


async def ask(routed, user: str) -> tuple[str, dict]:
    rt, http, _ = routed
    body = {"model": "tandem-speculative", "messages": MESSAGES, "max_tokens": 32, "temperature": 0,
            "user": user}
    async with http.post(f"{rt.url}/v1/chat/completions", json=body) as r:
        out = await r.json()
        assert r.status == 200, out
    return out["choices"][0]["message"]["content"], out["tandem"]


def expected() -> str:
    return bytes(cloud_greedy(DraftingEngine().chat_tokens(MESSAGES), 32)).decode()


async def test_behind_the_router_each_session_keeps_one_replica_and_sessions_spread(routed):
    rt, _, replicas = routed
    assert rt.collaborator.tokenizers.compatible  # /v1/tandem/info and /tokenize came through the router
    homes: dict[str, set[str]] = {}
    for i in range(16):
        before = Counter({r.name: r.served["verify"] for r in replicas})
        text, trace = await ask(routed, f"user-{i}")
        assert text == expected() and trace["cloud_calls"] > 3 and not trace["degraded"]
        after = Counter({r.name: r.served["verify"] for r in replicas})
        homes[f"user-{i}"] = {name for name in after if after[name] > before[name]}
    assert all(len(h) == 1 for h in homes.values())  # every verification call of an answer on one replica
    assert {h.pop() for h in homes.values()} == {"r0", "r1"}  # and the sessions spread
    # (the router routes on X-Session-Id but does not pass it on: the replicas never see it; without it,
    # consistent_hash would hash each body, and an answer's rounds would scatter over both)


async def test_behind_the_router_a_dead_replicas_sessions_move_once_the_router_sees_it(routed):
    _, _, replicas = routed
    await ask(routed, "bob")
    home = next(r for r in replicas if r.served["verify"])
    await home.kill()
    for _ in range(120):  # the router's health check (every second here; 60 s by default) has to see it
        text, trace = await ask(routed, "bob")
        if not trace["degraded"]:
            break
        await asyncio.sleep(0.25)
    other = next(r for r in replicas if r is not home)
    assert text == expected() and not trace["degraded"] and other.served["verify"] > 0
    assert json.dumps(trace).find("127.0.0.1") < 0  # the trace names no address
