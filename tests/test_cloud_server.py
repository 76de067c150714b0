"""The local cloud (cloud/server.py) on the real SmolLM2: verification scoped to its caller."""

from __future__ import annotations

import asyncio

import pytest
from aiohttp import web

from cloud.server import create_cloud_app
from device_runtime.engine import LlamaEngine
from gateway.api.responses import hash_ids
from gateway.cloud_client.client import CloudClient
from gateway.cloud_client.errors import CloudRefused
from gateway.cloud_client.transport import CallStats
from gateway.cloud_client.verify import VerifySession
from tests.conftest import SMOL

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def cloud_engine(smol_path):
    return LlamaEngine(smol_path, n_ctx=1024, name=SMOL)


async def serve(engine, **settings) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(create_cloud_app(engine, **settings), access_log=None)
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


def _round_trips(engine, n_devices: int) -> list[tuple[list[int], list[list[int]]]]:
    """Each device's prompt and the drafts it will send, six rounds of guesses (some right, most not)."""
    out = []
    for i in range(n_devices):
        prompt = engine.chat_tokens([{"role": "user", "content": f"Device {i}: count from {i} to {i + 9}."}])
        out.append((prompt, [engine.tokenize(f" {i + j}, {i + j + 1}", add_bos=False) for j in range(6)]))
    return out


async def _verify_rounds(client: CloudClient, prompt: list[int], drafts: list[list[int]]) -> tuple[list, CallStats]:
    """One device's conversation: every round drafts on top of what the cloud kept last time."""
    session, stats, context, got = VerifySession(), CallStats(), list(prompt), []
    for draft in drafts:
        out = await client.verify(context, draft, stats, session=session)
        got.append((out.accepted, out.tokens))
        context = context + out.tokens[: out.accepted + 1]
    return got, stats


def test_several_sessions_verify_at_once_without_refusals(cloud_engine):
    """Issue 26: four devices verifying together keep their own KV state: no 409, every round after the
    first reads its own prefix from the cache, and each answer is what the device gets verifying alone."""
    plans = _round_trips(cloud_engine, 4)

    async def main():
        runner, url = await serve(cloud_engine)
        clients = [CloudClient([url], api_key=f"key-{i % 2}", strategy="tandem") for i in range(len(plans))]
        for c in clients:
            await c.start()
        try:
            alone = [await _verify_rounds(clients[0], p, d) for p, d in plans]
            together = await asyncio.gather(*(_verify_rounds(c, p, d) for c, (p, d) in zip(clients, plans)))
            info = await clients[0].request_json("GET", "/v1/tandem/info")
            return alone, together, info["sessions"]
        finally:
            for c in clients:
                await c.close()
            await runner.cleanup()

    alone, together, sessions = asyncio.run(main())
    for (want, _), (got, stats), (prompt, drafts) in zip(alone, together, plans):
        assert got == want
        assert stats.calls == len(drafts)  # no call refused
        # only the first round computed the prompt; each later one its last token (the cloud's) and drafts
        computed = stats.prompt_tokens - stats.cached_tokens
        assert computed == len(prompt) + sum(map(len, drafts)) + len(drafts) - 1
    assert sessions["loaded_total"] > 0 and sessions.get("rebuilt_total", 0) == 0


def test_an_evicted_session_costs_one_prefill_never_a_refusal(cloud_engine):
    """With room for no saved state at all, sessions taking turns are rebuilt from the tokens the cloud
    kept: same answers, no 409, and each rebuild is one evaluation of that session's context."""
    plans = _round_trips(cloud_engine, 3)

    async def main():
        runner, url = await serve(cloud_engine, session_memory_mb=0)
        client = CloudClient([url], strategy="tandem")
        await client.start()
        try:
            alone = [await _verify_rounds(client, p, d) for p, d in plans]
            together = await asyncio.gather(*(_verify_rounds(client, p, d) for p, d in plans))
            return alone, together, (await client.request_json("GET", "/v1/tandem/info"))["sessions"]
        finally:
            await client.close()
            await runner.cleanup()

    alone, together, sessions = asyncio.run(main())
    for (want, _), (got, stats), (_, drafts) in zip(alone, together, plans):
        assert got == want and stats.calls == len(drafts)
    assert sessions["evicted_total"] > 0 and sessions["rebuilt_total"] > 0
    assert sessions["saved_bytes"] == 0 and sessions.get("loaded_total", 0) == 0


def test_a_forgotten_session_resends_its_context_once(cloud_engine):
    """Past max_sessions the least recently used session is forgotten: its next delta round is refused
    once and the full context that follows is answered (the client never loops)."""
    prompt = cloud_engine.chat_tokens([{"role": "system", "content": "Be brief. " * 12},
                                       {"role": "user", "content": "Name a colour."}])
    other = cloud_engine.chat_tokens([{"role": "user", "content": "Name an animal."}])

    async def main():
        runner, url = await serve(cloud_engine, max_sessions=1)
        client = CloudClient([url], strategy="tandem")
        await client.start()
        try:
            mine = VerifySession()
            first = await client.verify(prompt, [], CallStats(), session=mine)
            await client.verify(other, [], CallStats(), session=VerifySession())  # takes the only place
            stats = CallStats()
            again = await client.verify(prompt + first.tokens, [], stats, session=mine)
            return stats, again, (await client.request_json("GET", "/v1/tandem/info"))["sessions"]
        finally:
            await client.close()
            await runner.cleanup()

    stats, again, sessions = asyncio.run(main())
    assert stats.calls == 2 and again.tokens  # refused once (409), answered on the full resend
    assert sessions["forgotten_total"] >= 1 and sessions["sessions"] == 1


def test_completions_between_rounds_neither_evict_nor_read_a_session(cloud_engine):
    """A completion runs on the same sequence: the resident session is saved first, its next round loads
    it back (delta form, prefix from the cache), and the completion starts from an empty cache."""
    prompt = cloud_engine.chat_tokens([{"role": "user", "content": "Spell the word cat."}])

    async def main():
        runner, url = await serve(cloud_engine)
        client = CloudClient([url], strategy="tandem")
        await client.start()
        try:
            session = VerifySession(min_prefix=1)
            first = await client.verify(prompt, [], CallStats(), session=session)
            await client.request_json("POST", "/v1/completions", {"prompt": prompt, "max_tokens": 2,
                                                                  "temperature": 0})
            stats = CallStats()
            await client.verify(prompt + first.tokens, [], stats, session=session)
            return stats, (await client.request_json("GET", "/v1/tandem/info"))["sessions"]
        finally:
            await client.close()
            await runner.cleanup()

    stats, sessions = asyncio.run(main())
    assert stats.calls == 1 and stats.cached_tokens >= len(prompt)
    assert sessions["saved_total"] >= 1 and sessions["loaded_total"] >= 1


def test_best_allowed_is_the_clouds_greedy_choice_among_the_allowed_tokens(cloud_engine):
    """The probe speculative decoding sends where a grammar allowed none of the cloud's top tokens: vLLM's
    ``allowed_token_ids``, served by the local cloud too. Bad lists are 400s naming the field."""
    prompt = cloud_engine.chat_tokens([{"role": "user", "content": "Is the sky blue? Answer yes or no."}])
    logits = cloud_engine.sync(prompt).copy()
    ranked = [int(t) for t in logits.argsort()[::-1]]
    allowed = [ranked[7], ranked[3], ranked[50]]  # the best of them is the 4th best overall

    async def main():
        runner, url = await serve(cloud_engine)
        client = CloudClient([url], strategy="tandem", retries=0)
        await client.start()
        try:
            stats = CallStats()
            token = await client.best_allowed(prompt, allowed, stats)
            refusals = []
            for bad in ([], [cloud_engine.n_vocab], ["7"]):
                with pytest.raises(CloudRefused) as err:
                    await client.request_json("POST", "/v1/completions", {
                        "prompt": prompt, "max_tokens": 1, "allowed_token_ids": bad}, retries=0)
                refusals.append(str(err.value))
            return token, stats.calls, refusals
        finally:
            await client.close()
            await runner.cleanup()

    token, calls, refusals = asyncio.run(main())
    assert token == ranked[3] and calls == 1
    assert all("allowed_token_ids" in r for r in refusals), refusals
