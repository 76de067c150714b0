"""Cloud pools: one session on one replica, failover to the next, model-free.

Three ``ReplicaCloud`` servers on loopback (gateway/testing/replica_cloud.py: a scripted byte-level
model, so every continuation can be checked token for token) behind one ``CloudClient``; then the
whole gateway (a drafting FakeEngine on the device) in front of them.
"""

from __future__ import annotations

import json
import re
from collections import Counter

import aiohttp
import pytest

from gateway.cloud_client.client import CloudClient
from gateway.cloud_client.pool import Conversations, rendezvous_order
from gateway.cloud_client.transport import CallStats
from gateway.cloud_client.verify import VerifySession
from gateway.config import load_config
from gateway.runtime import Runtime
from gateway.testing.replica_cloud import DraftingEngine, ReplicaCloud, cloud_greedy, device_next

PROMPT = list(b"<user>tell me a story\n<assistant>")


@pytest.fixture
async def replicas():
    rs = [ReplicaCloud(f"r{i}") for i in range(3)]
    for r in rs:
        await r.start()
    yield rs
    for r in rs:
        await r.stop()


async def client_for(replicas: list[ReplicaCloud], **kw) -> CloudClient:
    kw.setdefault("retries", 2)
    client = CloudClient([r.url for r in replicas], strategy="tandem", **kw)
    await client.start()
    return client


def drafts(context: list[int], k: int = 4) -> list[int]:
    out = list(context)
    for _ in range(k):
        out.append(device_next(out))
    return out[len(context):]


async def answer(client: CloudClient, stats: CallStats, context: list[int], n: int) -> list[int]:
    """Verification rounds until ``n`` tokens past ``context``: what speculative decoding does."""
    session, start = VerifySession(), len(context)
    context = list(context)
    while len(context) - start < n:
        result = await client.verify(context, drafts(context), stats, session=session)
        context += result.tokens
    return context[start:]


def key_on(replica: int, client: CloudClient, prefix: str = "user") -> str:
    """A session key whose first choice is ``replica``."""
    names = [e.url for e in client.endpoints]
    return next(k for k in (f"{prefix}-{i}" for i in range(1000)) if rendezvous_order(k, names)[0] == replica)


# -- rendezvous hashing ----------------------------------------------------------------------------------
def test_rendezvous_order_is_stable_spreads_keys_and_moves_only_a_removed_replicas_keys():
    names = ["http://a:8000", "http://b:8000", "http://c:8000"]
    firsts = {f"k{i}": rendezvous_order(f"k{i}", names)[0] for i in range(600)}
    assert all(rendezvous_order(k, names)[0] == r for k, r in firsts.items())  # same key, same replica
    assert min(Counter(firsts.values()).values()) > 150  # ~200 each
    without_b = [names[0], names[2]]
    for k, r in firsts.items():
        now = [names[0], names[2]][rendezvous_order(k, without_b)[0]]
        if names[r] != "http://b:8000":
            assert now == names[r]  # keys of the replicas that stayed do not move


def test_a_conversation_has_one_holder_at_a_time_and_remembers_its_replica():
    convs = Conversations(capacity=2)
    first = convs.open("k", [1, 0])
    second = convs.open("k", [1, 0])  # the same conversation, answered at the same moment
    assert first.holds and not second.holds and first.conversation is second.conversation
    first.served(1)
    convs.close(first)
    convs.close(second)
    third = convs.open("k", [1, 0])
    assert third.holds and third.replica == 1 and third.failovers == []
    convs.open("x", [0, 1])
    convs.open("y", [0, 1])
    assert len(convs) == 2  # bounded: the least recently used conversation is forgotten


# -- through the client -----------------------------------------------------------------------------------
async def test_every_call_of_a_session_goes_to_one_replica_and_sessions_spread(replicas):
    client = await client_for(replicas)
    try:
        where: dict[str, int] = {}
        for i in range(60):
            aff = client.affinity(f"session-{i}")
            stats = CallStats(affinity=aff)
            got = await answer(client, stats, PROMPT, 24)
            assert got == cloud_greedy(PROMPT, len(got))
            client.release(aff)
            where[f"session-{i}"] = aff.replica
        by_session: dict[str, set[str]] = {}
        for r in replicas:
            for body in r.bodies:
                by_session.setdefault(body["session"], set()).add(r.name)
        assert all(len(names) == 1 for names in by_session.values())  # never split
        # each call names its session's key, for a router in front of the replicas to follow
        headers = [h for r in replicas for h in r.session_headers]
        assert len(headers) == sum(len(r.bodies) for r in replicas)
        assert set(headers) == {f"session-{i}" for i in range(60)}
        assert min(Counter(where.values())[i] for i in range(3)) >= 6  # 60 sessions over 3 replicas: ~20 each
    finally:
        await client.close()


async def test_the_next_turn_finds_the_same_replica_and_its_cached_session(replicas):
    client = await client_for(replicas)
    try:
        aff = client.affinity("alice")
        turn1 = await answer(client, CallStats(affinity=aff), PROMPT, 16)
        client.release(aff)
        calls1 = len(replicas[aff.replica].bodies)
        again = client.affinity("alice")
        context = PROMPT + turn1 + list(b"\n<user>and then?\n<assistant>")
        turn2 = await answer(client, CallStats(affinity=again), context, 16)
        client.release(again)
        assert turn2 == cloud_greedy(context, len(turn2)) and again.replica == aff.replica
        bodies = replicas[aff.replica].bodies
        assert len({b["session"] for b in bodies}) == 1  # one verification session for the conversation
        first_of_turn2 = bodies[calls1]
        assert first_of_turn2["prefix_len"] == len(PROMPT) + len(turn1) - 1  # all turn 1 but its last token
        assert sum(r.served["verify"] for r in replicas) == len(bodies)
    finally:
        await client.close()


async def test_a_replica_killed_mid_answer_hands_the_answer_to_the_next_with_the_whole_context(replicas):
    client = await client_for(replicas)
    try:
        key = key_on(0, client)
        second = rendezvous_order(key, [e.url for e in client.endpoints])[1]
        replicas[0].kill_after = {"verify": 3}  # the third round's call dies with the replica
        aff = client.affinity(key, progress=lambda: 7)
        got = await answer(client, CallStats(affinity=aff), PROMPT, 40)
        assert got == cloud_greedy(PROMPT, len(got))  # token for token the cloud's answer
        assert aff.replica == second and aff.failed == {0}
        assert aff.failovers == [{"from_replica": 0, "to_replica": second, "at_token": 7}]
        took_over = replicas[second].bodies
        assert "context" in took_over[0] and len(took_over[0]["context"]) > len(PROMPT)  # sent once, whole
        assert all("context" not in b for b in took_over[1:])  # then the delta form again
        assert replicas[second].served["verify"] == len(took_over)  # no 409 round trip
        assert replicas[3 - second].served["verify"] == 0  # the third replica never saw it
    finally:
        await client.close()


async def test_a_stream_goes_to_the_next_replica_when_its_own_is_down(replicas):
    client = await client_for(replicas)
    try:
        key = key_on(1, client)
        await replicas[1].kill()
        aff = client.affinity(key)
        body = {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 6}
        events = [e async for e in client.stream(body, CallStats(affinity=aff))]
        text = "".join(e["choices"][0]["delta"].get("content") or "" for e in events if e["choices"])
        assert len(text) == 6 and aff.replica != 1 and aff.failed == {1}
        assert aff.failovers == []  # the answer had not been anywhere yet
    finally:
        await client.close()


async def test_without_a_session_the_least_loaded_healthy_endpoint_serves(replicas):
    client = await client_for(replicas)
    try:
        await replicas[0].kill()
        stats = CallStats()
        for _ in range(4):
            await client.verify(PROMPT, drafts(PROMPT), stats)
        assert replicas[0].served["verify"] == 0 and stats.affinity is None
    finally:
        await client.close()


# -- through the gateway ----------------------------------------------------------------------------------
ADDRESS = re.compile(r"127\.0\.0\.1|localhost|https?://|:\d{4,5}\b")
MESSAGES = [{"role": "user", "content": "Tell me a story."}]


@pytest.fixture
async def gateway(replicas):
    urls = json.dumps([r.url for r in replicas])
    config = load_config(overrides=["server.port=0", f"cloud.endpoints={urls}", "cloud.strategy=tandem",
                                    "speculative.adaptive=false", "speculative.k=4", "device.pull=false",
                                    "scheduling.device_sample_s=0"])
    async with Runtime(config, engine=DraftingEngine(sure_for=6)) as rt, aiohttp.ClientSession() as http:
        assert rt.collaborator.tokenizers.compatible
        yield rt, http


async def chat(gateway, model: str, messages=MESSAGES, stream: bool = False, **kw) -> tuple[str, dict, str]:
    """The answer's text, its route trace, and everything the client received (for the address check)."""
    rt, http = gateway
    body = {"model": model, "messages": messages, "max_tokens": 40, "temperature": 0, "stream": stream, **kw}
    async with http.post(f"{rt.url}/v1/chat/completions", json=body) as r:
        raw = await r.text()
        assert r.status == 200, raw
        received = raw + json.dumps(dict(r.headers))
    if not stream:
        out = json.loads(raw)
        return out["choices"][0]["message"]["content"], out["tandem"], received
    frames = [json.loads(line[6:]) for line in raw.splitlines() if line.startswith("data: {")]
    text = "".join(f["choices"][0]["delta"].get("content") or "" for f in frames if f.get("choices"))
    return text, next(f["tandem"] for f in frames if "tandem" in f), received


def greedy_text(messages, n: int = 40, lead: bytes = b"") -> str:
    prompt = DraftingEngine().chat_tokens(messages) + list(lead)
    return (lead + bytes(cloud_greedy(prompt, n - len(lead)))).decode()


async def test_turns_of_one_conversation_and_calls_of_one_answer_stay_on_one_replica(gateway, replicas):
    text, trace, _ = await chat(gateway, "tandem-speculative", user="alice")
    assert text == greedy_text(MESSAGES) and trace["cloud_calls"] > 3 and trace["cloud_failovers"] == []
    first = trace["cloud_replica"]
    assert replicas[first].served["verify"] == trace["cloud_calls"]  # every call of the answer on it
    turn2 = MESSAGES + [{"role": "assistant", "content": text}, {"role": "user", "content": "And then?"}]
    _, trace2, _ = await chat(gateway, "tandem-speculative", turn2, user="alice")
    _, trace3, _ = await chat(gateway, "tandem-speculative", turn2)  # no name: the conversation's opening
    _, trace4, _ = await chat(gateway, "tandem-speculative", MESSAGES)
    assert trace2["cloud_replica"] == first and trace3["cloud_replica"] == trace4["cloud_replica"]
    assert sum(r.served["verify"] for r in replicas) == sum(t["cloud_calls"] for t in (trace, trace2, trace3,
                                                                                        trace4))
    alice = set(replicas[first].session_headers[: trace["cloud_calls"]])  # the key a router would follow:
    assert len(alice) == 1 and re.fullmatch(r"[0-9a-f]{32}", alice.pop())  # one, a hash, not "alice"


async def test_sessions_spread_over_the_replicas(gateway):
    seen = Counter()
    for i in range(45):
        _, trace, _ = await chat(gateway, "tandem-cloud", max_tokens=4, user=f"user-{i}")
        seen[trace["cloud_replica"]] += 1
    assert set(seen) == {0, 1, 2} and min(seen.values()) >= 4  # ~15 each


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("mode", ["speculative", "cascade", "cloud"])
async def test_a_replica_killed_mid_answer_the_next_finishes_it_exactly(gateway, replicas, mode, stream):
    _, probe, _ = await chat(gateway, "tandem-cloud", max_tokens=2, user="bob")
    pinned = probe["cloud_replica"]
    replicas[pinned].kill_after = {"verify": 3} if mode != "cloud" else {"tokens": 5}
    text, trace, received = await chat(gateway, f"tandem-{mode}", stream=stream, user="bob")
    lead = b""
    if mode == "cascade":  # the device's first 6 tokens were shown while it was sure; the cloud went on
        prompt = DraftingEngine().chat_tokens(MESSAGES)
        for _ in range(6):
            prompt.append(device_next(prompt))
        lead = bytes(prompt[-6:])
    assert text == greedy_text(MESSAGES, 40, lead)  # the cloud's own answer, token for token
    assert not trace["degraded"] and replicas[pinned].dead
    [failover] = trace["cloud_failovers"]
    assert failover["from_replica"] == pinned and failover["to_replica"] == trace["cloud_replica"] != pinned
    assert 0 < failover["at_token"] < 40
    took_over = replicas[trace["cloud_replica"]].bodies
    prompt_len = len(DraftingEngine().chat_tokens(MESSAGES))
    assert "context" in took_over[0] and len(took_over[0]["context"]) > prompt_len  # the whole context, once
    assert not ADDRESS.search(received), ADDRESS.search(received)
    assert stream or "cloud_failovers=1" in received  # the x-tandem-route header too (a stream's went first)


async def test_every_replica_down_the_device_finishes_and_says_why(gateway, replicas):
    for r in replicas:
        r.kill_after = {"verify": 2}
    text, trace, received = await chat(gateway, "tandem-speculative", user="carol")
    assert len(text) == 40 and trace["degraded"] and "cloud" in trace["degraded_reason"]
    assert not ADDRESS.search(received)
