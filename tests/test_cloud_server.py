"""The local cloud (cloud/server.py) on the real SmolLM2: verification scoped to its caller."""

from __future__ import annotations

import asyncio

import pytest
from aiohttp import web

from cloud.server import create_cloud_app
from device_runtime.engine import LlamaEngine
from gateway.api.protocol import hash_ids
from gateway.cloud_client.client import CloudClient
from gateway.cloud_client.errors import CloudRefused
from gateway.cloud_client.transport import CallStats
from gateway.cloud_client.verify import VerifySession
from tests.conftest import SMOL

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def cloud_engine(smol_path):
    return LlamaEngine(smol_path, n_ctx=1024, name=SMOL)


async def serve(engine) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(create_cloud_app(engine), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"


def test_verify_409_is_no_cross_tenant_oracle(cloud_engine):
    """Issue 11, defect 7: whether a guessed prefix is cached must not depend on another caller's conversation."""
    secret = cloud_engine.chat_tokens([{"role": "user", "content": "My diagnosis is diabetes type 2. " * 4}])
    wrong = cloud_engine.chat_tokens([{"role": "user", "content": "My diagnosis is asthma, nothing else. " * 4}])
    n = len(secret) - 1  # past the chat template's shared opening
    assert secret[:n] != wrong[:n]

    async def main():
        runner, url = await serve(cloud_engine)
        victim = CloudClient([url], api_key="key-victim", strategy="tandem")
        attacker = CloudClient([url], api_key="key-attacker", strategy="tandem")
        for c in (victim, attacker):
            await c.start()
        try:
            session = VerifySession()
            await victim.verify(secret, [], CallStats(), session=session)  # the victim's conversation is cached

            async def probe(guess: list[int]) -> int:
                body = {"draft": [], "prefix_len": n, "prefix_hash": hash_ids(guess[:n]), "context_tail": [],
                        "session": "attacker-session"}
                try:
                    await attacker.request_json("POST", "/v1/tandem/verify", body, retries=0)
                    return 200
                except CloudRefused as exc:
                    return exc.status

            right, wrong_guess = await probe(secret), await probe(wrong)
            # the victim's own next round still builds on its cache (delta form, no 409)
            stats = CallStats()
            await victim.verify(secret + [cloud_engine.tokenize("x", add_bos=False)[0]], [], stats, session=session)
            return right, wrong_guess, stats.calls
        finally:
            for c in (victim, attacker):
                await c.close()
            await runner.cleanup()

    right, wrong_guess, victim_calls = asyncio.run(main())
    assert right == wrong_guess == 409, f"right guess -> {right}, wrong guess -> {wrong_guess}"
    assert victim_calls == 1  # one call: the delta round was accepted


def test_vllm_strategy_matches_native_verification_on_the_real_cloud(cloud_engine):
    """The tail-only parse of prompt_logprobs reads the real server's answers the same as native verify."""
    prompt = cloud_engine.chat_tokens([{"role": "user", "content": "List three colours."}])

    async def main():
        runner, url = await serve(cloud_engine)
        native = CloudClient([url], strategy="tandem")
        vllm = CloudClient([url], strategy="vllm")
        for c in (native, vllm):
            await c.start()
        try:
            first = await native.verify(prompt, [], CallStats())
            draft = first.tokens + [cloud_engine.tokenize(" blue", add_bos=False)[0], 11, 12]
            return (await native.verify(prompt, draft, CallStats()), await vllm.verify(prompt, draft, CallStats()))
        finally:
            for c in (native, vllm):
                await c.close()
            await runner.cleanup()

    a, b = asyncio.run(main())
    assert (a.accepted, a.tokens) == (b.accepted, b.tokens) and a.accepted >= 1


def test_verify_reports_what_it_read_from_the_cache(cloud_engine):
    """The client learns how much of a round the cloud computed (the capacity benchmark counts it),
    and a caller who did not build the cache reads none of it, so the count says nothing of others."""
    prompt = cloud_engine.chat_tokens([{"role": "user", "content": "Count from one to five."}])
    x = cloud_engine.tokenize("x", add_bos=False)[0]

    async def main():
        runner, url = await serve(cloud_engine)
        owner = CloudClient([url], api_key="key-owner", strategy="tandem")
        other = CloudClient([url], api_key="key-other", strategy="tandem")
        for c in (owner, other):
            await c.start()
        try:
            session = VerifySession()
            first, second, foreign = CallStats(), CallStats(), CallStats()
            await owner.verify(prompt, [x], first, session=session)
            await owner.verify(prompt + [x], [x, x], second, session=session)
            await other.verify(prompt + [x], [x], foreign)
            return first, second, foreign
        finally:
            for c in (owner, other):
                await c.close()
            await runner.cleanup()

    first, second, foreign = asyncio.run(main())
    assert (first.prompt_tokens, first.cached_tokens) == (len(prompt) + 1, 0)
    # the second round: the prompt was cached; only the accepted or corrected token and two drafts are computed
    assert second.prompt_tokens == len(prompt) + 3
    assert second.cached_tokens >= len(prompt)
    assert (foreign.prompt_tokens, foreign.cached_tokens) == (len(prompt) + 2, 0)
