"""The query router: fitted from records, saved and loaded, and consulted by the planner only where it
can change the route (an ``auto`` request bound for the default cascade; never a private one)."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from device_runtime.fake import FakeEngine
from device_runtime.worker import DeviceWorker
from gateway.api.protocol import ChatCompletionRequest
from gateway.config import load_config
from gateway.core.orchestrator import Collaborator
from gateway.core.query import DEFAULT_ROUTER, QueryStep, user_text
from gateway.testing.recording_cloud import RecordingCloud
from routers.policy import AutoPolicy, RouteFacts
from routers.query import EMBED_TOKENS, QueryRouter

DIM = 8
KNOWLEDGE, CODE = np.eye(DIM)[0], np.eye(DIM)[1]


class KeywordEmbedder:
    """Stands in for the device model's embedding: questions about facts point one way, code another."""

    def __init__(self) -> None:
        self.texts: list[str] = []

    def embed(self, text: str) -> np.ndarray:
        self.texts.append(text)
        return KNOWLEDGE if "capital" in text else CODE


def fitted_router(threshold: float = 0.5) -> QueryRouter:
    """Fact questions: the cloud fixes the device's answer 4 times in 5; code: once in 10."""
    rng = np.random.default_rng(0)
    x = np.vstack([KNOWLEDGE + 0.05 * rng.standard_normal((50, DIM)), CODE + 0.05 * rng.standard_normal((50, DIM))])
    y = np.r_[np.arange(50) % 5 != 0, np.arange(50) % 10 == 0].astype(float)
    return QueryRouter.fit(x, np.full(100, 40.0), y, k=4, l2=1.0, threshold=threshold)


def test_the_router_learns_which_kind_of_request_the_cloud_fixes(tmp_path):
    router = fitted_router()
    assert router.p_gain(KNOWLEDGE, 40) > 0.6 > 0.2 > router.p_gain(CODE, 40)
    path = tmp_path / "router.json"
    router.save(path)
    again = QueryRouter.load(path)
    assert again.p_gain(KNOWLEDGE, 40) == pytest.approx(router.p_gain(KNOWLEDGE, 40), abs=1e-4)
    assert again.to_cloud(KNOWLEDGE, 40)[0] and not again.to_cloud(CODE, 40)[0]
    path.write_text('{"kind": "something else"}')
    with pytest.raises(ValueError, match="not a Tandem query router"):
        QueryRouter.load(path)


def test_the_policy_sends_what_the_router_expects_the_cloud_to_fix_and_privacy_still_wins():
    policy = AutoPolicy()
    sure = policy.choose(RouteFacts(query_p_gain=0.8, query_threshold=0.5))
    assert sure.mode == "cloud" and "query router" in sure.reason and "0.80" in sure.reason
    assert policy.choose(RouteFacts(query_p_gain=0.3, query_threshold=0.5)).mode == "cascade"
    assert policy.choose(RouteFacts(privacy_level="private", query_p_gain=0.99)).mode == "device"
    assert policy.choose(RouteFacts(requested="cascade", query_p_gain=0.99)).mode == "cascade"
    assert policy.choose(RouteFacts(cloud_available=False, query_p_gain=0.99)).mode == "device"


def test_user_text_is_the_latest_turn_as_the_client_wrote_it():
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": "Hello"}, {"role": "user", "content": "capital?"}]
    assert user_text(messages, None) == "capital?"  # the latest turn: what this request is about
    assert user_text(None, "a prompt") == "a prompt"


def request(text: str, model: str = "tandem-auto", **extra) -> ChatCompletionRequest:
    return ChatCompletionRequest.model_validate(
        {"model": model, "messages": [{"role": "user", "content": text}], "max_tokens": 4, **extra})


def test_the_planner_asks_the_router_only_where_it_can_change_the_route():
    async def main():
        cloud = RecordingCloud(FakeEngine())
        url = await cloud.start()
        from gateway.cloud_client.client import CloudClient

        client = CloudClient([url])
        await client.start()
        try:
            config = load_config(overrides=["routing.query_router=default"])
            worker = DeviceWorker(FakeEngine())
            collab = Collaborator(config, worker, client)
            embedder = KeywordEmbedder()
            collab.planner.query = QueryStep(fitted_router(), embedder)
            await collab.check_tokenizers()
            plan = collab.plan
            fact = await plan(request("What is the capital of Peru?"))
            code = await plan(request("def add(a, b): write it"))
            private = await plan(request("What is the capital of Peru?", metadata={"privacy": "private"}))
            asked = await plan(request("What is the capital of Peru?", model="tandem-cascade"))
            return fact, code, private, asked, embedder.texts
        finally:
            await client.close()
            await cloud.stop()

    fact, code, private, asked, texts = asyncio.run(main())
    assert fact.trace.mode == "cloud" and fact.trace.reason.startswith("query router")
    assert fact.trace.query["p_gain"] > 0.5 and fact.trace.query["ms"] >= 0
    assert code.trace.mode == "cascade" and code.trace.reason == "default" and code.trace.query["p_gain"] < 0.5
    assert private.trace.mode == "device" and private.trace.query is None
    assert asked.trace.mode == "cascade" and asked.trace.query is None
    assert texts == ["What is the capital of Peru?", "def add(a, b): write it"]  # no embedding where moot


class FailingEmbedder:
    def embed(self, text: str) -> np.ndarray:
        raise RuntimeError("llama_decode returned -1")


def test_a_failed_embedding_or_an_empty_prompt_leaves_the_route_to_the_policy():
    from routers.policy import RouteChoice

    class Prompt:
        def __init__(self, text):
            self.messages, self.text = [{"role": "user", "content": text}], None

    cascade = RouteChoice("cascade", "default")
    failing = QueryStep(fitted_router(), FailingEmbedder())
    assert asyncio.run(failing.judge(cascade, Prompt("What is the capital of Peru?"), 9)) is None
    embedder = KeywordEmbedder()
    empty = QueryStep(fitted_router(), embedder)
    assert asyncio.run(empty.judge(cascade, Prompt("   "), 1)) is None and embedder.texts == []


def test_a_router_fitted_on_another_models_embeddings_fails_at_start_up(tmp_path):
    from gateway.core.query import load_router

    path = tmp_path / "router.json"
    fitted_router().save(path)

    class Wide(KeywordEmbedder):
        dim = 896

    with pytest.raises(ValueError, match="8-wide embeddings"):
        load_router(path, Wide())


def test_a_shipped_router_loads_and_fits_the_device_model():
    if not DEFAULT_ROUTER.is_file():
        pytest.skip("no default router shipped yet")
    router = QueryRouter.load(DEFAULT_ROUTER)
    assert router.dim == 896  # Qwen2.5-0.5B's hidden size: the default device model's embedding
    assert 0 < router.threshold < 1 and router.fitted_on
    assert router.embed_tokens == EMBED_TOKENS  # fitted on embeddings of the length the gateway makes


def mixed_records(n: int, lengths: tuple[int, ...]) -> list[dict]:
    from routers.query import pack_vector

    rng = np.random.default_rng(5)
    out = []
    for i in range(n):
        fact = i % 2 == 0
        vector = (KNOWLEDGE if fact else CODE) + 0.05 * rng.standard_normal(DIM)
        out.append({"id": f"mix/{i:03d}", "prompt_tokens": 40, "device": {
            "embedding": pack_vector(vector), "embed_tokens": lengths[i % len(lengths)],
            "score": {"correct": not fact}},
            "cloud": {"score": {"correct": True}, "completion_tokens": 2}, "escalation": {"score": {"correct": True}}})
    return out


def test_a_router_is_fitted_on_one_embedding_length_and_says_which(tmp_path):
    """The shipped router had been fitted on records embedded at 32 and at 128 tokens, and the gateway embeds
    at 32: features unlike most of those it learnt from. A router now reads one length, stated in its file."""
    from routers.query import fit_from_records

    with pytest.raises(ValueError, match=r"several lengths \(32, 128 tokens\)"):
        fit_from_records(mixed_records(40, (32, 128)))
    router, _, _ = fit_from_records(mixed_records(40, (32,)))
    router.save(tmp_path / "router.json")
    assert router.embed_tokens == 32 and QueryRouter.load(tmp_path / "router.json").embed_tokens == 32


def test_a_router_refuses_an_embedder_of_another_length_at_start_up(tmp_path):
    from gateway.core.query import load_router
    from routers.query import fit_from_records

    path = tmp_path / "router.json"
    fit_from_records(mixed_records(40, (32,)))[0].save(path)

    class Embeds(KeywordEmbedder):
        def __init__(self, max_tokens: int):
            super().__init__()
            self.max_tokens = max_tokens

    assert load_router(path, Embeds(32)).embed_tokens == 32
    with pytest.raises(ValueError, match="first 32 tokens; routing.query_max_tokens embeds 128"):
        load_router(path, Embeds(128))


def test_the_decision_point_sends_only_where_the_cloud_pays_for_itself():
    from routers.query import net_benefit_threshold

    device_ok = np.r_[np.zeros(20), np.ones(80)]  # the device fails the first 20
    cloud_ok = np.ones(100)
    cost = np.ones(100)
    informed = np.r_[np.full(20, 0.9), np.full(80, 0.1)]  # a router that knows which
    t = net_benefit_threshold(informed, device_ok, cloud_ok, cost)
    assert ((informed >= t) == (device_ok == 0)).all()
    blind = np.full(100, 0.3)  # one that does not: sending anything costs more than it buys on average
    assert not (blind >= net_benefit_threshold(blind, device_ok, cloud_ok, cost)).any()


def test_tandem_calibrate_fits_the_router_from_records(tmp_path, capsys):
    import gzip
    import json
    from types import SimpleNamespace

    from gateway.calibrate import run_calibrate
    from routers.query import pack_vector

    rng = np.random.default_rng(1)
    records = []
    for i in range(80):
        fact = i % 2 == 0
        vector = (KNOWLEDGE if fact else CODE) + 0.05 * rng.standard_normal(DIM)
        records.append({"id": f"mix/{i:03d}", "prompt_tokens": 40, "device": {
            "embedding": pack_vector(vector), "score": {"correct": not fact}},
            "cloud": {"score": {"correct": True}, "completion_tokens": 2}, "escalation": {"score": {"correct": True}}})
    path = tmp_path / "records.jsonl.gz"
    with gzip.open(path, "wt") as f:
        f.writelines(json.dumps(r) + "\n" for r in records)
    out = tmp_path / "router.json"
    args = SimpleNamespace(query_router=str(out), records=[str(path)], output_price_ratio=3.0)
    assert run_calibrate(None, args) == 0
    router = QueryRouter.load(out)
    assert router.to_cloud(KNOWLEDGE, 40)[0] and not router.to_cloud(CODE, 40)[0]
    assert "AUROC 1.000" in capsys.readouterr().out


def test_the_fitted_router_depends_on_the_records_not_their_order():
    """The decision point is set on cross-fitted predictions; drawn over positions, the folds (and so the
    threshold) changed with the order of the same records (tandem-auto's bench score moved 0.5215 to 0.5246)."""
    from routers.query import fit_from_records, pack_vector

    rng = np.random.default_rng(7)
    records = []
    for i in range(120):
        fact = rng.random() < 0.5
        vector = (KNOWLEDGE if fact else CODE) + 0.8 * rng.standard_normal(DIM)  # overlapping kinds: noisy
        device_ok = bool(rng.random() < (0.3 if fact else 0.7))
        records.append({"id": f"mix/{i:03d}", "prompt_tokens": int(rng.integers(20, 200)), "device": {
            "embedding": pack_vector(vector), "score": {"correct": device_ok}},
            "cloud": {"score": {"correct": bool(rng.random() < 0.8)}, "completion_tokens": 2},
            "escalation": {"score": {"correct": bool(rng.random() < 0.8)}}})
    fitted = []
    for order in (records, records[::-1], [records[i] for i in rng.permutation(len(records))]):
        router, _, _ = fit_from_records(order)
        probe = np.stack([KNOWLEDGE, CODE, (KNOWLEDGE + CODE) / 2])
        fitted.append((round(router.threshold, 9), tuple(np.round(router.p_gains(probe, np.full(3, 60.0)), 9))))
    assert fitted[0] == fitted[1] == fitted[2]


@pytest.mark.integration
def test_the_shipped_router_routes_live_auto_requests(qwen_device_engine, qwen_cloud_engine):
    """tandem-auto with the shipped router on the real device model: each auto request bound for the cascade
    is embedded and judged, the trace says with what P(gain), and the policy follows the decision point."""
    if not DEFAULT_ROUTER.is_file():
        pytest.skip("no default router shipped yet")
    import openai

    from gateway.testing.live import LiveGateway

    with LiveGateway(qwen_device_engine, ["routing.query_router=default"], cloud_engine=qwen_cloud_engine) as gw:
        query = gw.runtime.collaborator.planner.query
        assert query.embedder.max_tokens == QueryRouter.load(DEFAULT_ROUTER).embed_tokens  # the router's length
        client = openai.OpenAI(base_url=f"{gw.url}/v1", api_key="unused", max_retries=0)
        for text in ("Answer the following multiple choice question. Reply with only the letter (A, B, C or D) of "
                     "the correct option.\n\nWhich planet is largest?\nA. Mars\nB. Jupiter\nC. Venus\nD. Earth",
                     "Complete the following Python function.\n\n```python\ndef add(a, b):\n    \"\"\"Sum.\"\"\"\n```"):
            r = client.chat.completions.create(model="tandem-auto", messages=[{"role": "user", "content": text}],
                                               max_tokens=8, temperature=0)
            q = r.model_extra["tandem"]["query"]
            assert q is not None and 0 <= q["p_gain"] <= 1 and q["ms"] > 0
            routed = r.model_extra["tandem"]["mode"]
            assert routed == ("cloud" if q["p_gain"] >= q["threshold"] else "cascade")
