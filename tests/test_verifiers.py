"""The cascade's verifiers (gateway/core/verifiers) and lenient acceptance (gateway/core/acceptance.py).

Unit tests on made-up answers, then the real models: the demo's looping hash-map answer from
the 0.5B must fail the degeneration check, and the 1.5B's cloud check must tell a wrong code
answer from a right one. The cascade tests drive the whole gate and stream with scripted clouds.
"""

from __future__ import annotations

import asyncio
import random

import pytest

from device_runtime.engine import SamplingParams, TokenEvent
from gateway.cloud_client.transport import CallStats
from gateway.core.acceptance import VerifyResult, greedy_accept, lenient_accept
from gateway.core.verifiers.base import DeviceAnswer, VerifierChain
from gateway.core.verifiers.cloud_check import CloudCheck
from gateway.core.verifiers.degeneration import (
    Degeneration,
    LoopWatch,
    cut_mid_sentence,
    repeated_sentence,
    repeated_span,
)
from gateway.testing.scripted_cloud import ScriptedCloud, answer, chat_request, collaborator

HASH_MAP = "Explain in two sentences what a hash map is."  # the demo's cascade question (gateway/demo.py)
SAY_HI = "Say hi."  # SmolLM2 answers it in 24 tokens and ends by itself


def device_answer(ids, text="", finish="stop", logprob=-0.1, prompt=(1, 2, 3)):
    return DeviceAnswer(list(prompt), [TokenEvent(t, logprob, "") for t in ids], text, finish)


def check(verifier, ans):
    return asyncio.run(verifier.check(ans))


# -- degeneration -----------------------------------------------------------------------------------
def test_degeneration_finds_loops_in_tokens_and_prose_and_answers_cut_mid_sentence():
    assert repeated_span(list(range(40)), 16) is None
    loop = list(range(20)) + list(range(20))
    assert repeated_span(loop, 16) == 35  # the 16th token of the second run closes the loop
    assert repeated_sentence("A map stores keys and values. It is fast. A map stores keys and values!") is not None
    assert repeated_sentence("Short one. Short one. Short one.") is None  # under five words: not an idea
    assert repeated_sentence("```\nx = 1 # set x to one here\nx = 1 # set x to one here\n```\nDone.") is None
    assert cut_mid_sentence("A hash map is used to store and retrieve data in a", "length")
    assert not cut_mid_sentence("A hash map maps keys to values.", "length")
    assert not cut_mid_sentence("A hash map is used to store", "stop")

    d = Degeneration(span=16)
    assert check(d, device_answer(loop, "some text.")).failed
    assert check(d, device_answer([1, 2, 3, 4] * 10, "x.")).reason == "a run of 16 tokens repeats"
    ok = check(d, device_answer(list(range(60)), "A hash map maps keys to values. Lookups take constant time."))
    assert ok.outcome == "pass" and ok.score == 1.0
    cut = check(d, device_answer(list(range(60)), "A hash map maps keys to values and is", finish="length"))
    assert cut.failed and "mid-sentence" in cut.reason


def test_degeneration_leaves_ordinary_code_alone():
    code = ("```python\nclass Point:\n    def __init__(self, x, y):\n        self.x = x\n        self.y = y\n\n"
            "    def add(self, other):\n        return Point(self.x + other.x, self.y + other.y)\n\n"
            "    def sub(self, other):\n        return Point(self.x - other.x, self.y - other.y)\n```")
    ids = [hash(w) % 50000 for w in code.split()]  # distinct enough, as a tokenizer's ids would be
    assert check(Degeneration(), device_answer(ids, code)).outcome == "pass"


def test_loop_watch_closes_at_the_second_occurrence():
    w = LoopWatch(span=4)
    seq = [1, 2, 3, 4, 5, 1, 2, 3, 4]
    assert [w.loops_after(t) for t in seq] == [False] * 8 + [True]


def test_the_chain_stops_at_the_first_failure_and_times_each_check():
    class Fails:
        name = "fails"

        async def check(self, ans):
            from gateway.core.verifiers.base import Verdict
            return Verdict(self.name, "fail", reason="always")

    class Never:
        name = "never"

        async def check(self, ans):
            raise AssertionError("a later check ran after a failure")

    verdicts = asyncio.run(VerifierChain([Degeneration(), Fails(), Never()]).check(device_answer(range(10), "ok.")))
    assert [v.outcome for v in verdicts] == ["pass", "fail"] and all(v.seconds > 0 for v in verdicts)
    assert verdicts[1].as_trace()["verifier"] == "fails"


# -- acceptance ----------------------------------------------------------------------------------------
def _random_result(rng: random.Random, draft: list[int]) -> VerifyResult:
    """A cloud's verdict over ``draft`` with random rows (vocabulary 6, so agreement is common)."""
    rows = []
    for _ in range(len(draft) + 1):
        ids = rng.sample(range(6), 3)
        lps = sorted((rng.uniform(-6, 0) for _ in ids), reverse=True)
        rows.append(list(zip(ids, lps)))
    argmax = [r[0][0] for r in rows]
    accepted, tokens = greedy_accept(draft, argmax)
    draft_lps = [dict(r).get(t, rng.uniform(-12, -6)) for r, t in zip(rows, draft)]
    return VerifyResult(accepted, tokens, rows, draft_lps)


@pytest.mark.parametrize("seed", range(200))
def test_lenient_acceptance_with_margin_zero_is_exact(seed):
    rng = random.Random(seed)
    draft = [rng.randrange(6) for _ in range(rng.randint(0, 8))]
    result = _random_result(rng, draft)
    assert lenient_accept(draft, result, 0.0) == (result.accepted, result.tokens)
    accepted, tokens = lenient_accept(draft, result, 3.0)
    assert accepted >= result.accepted and tokens[:accepted] == draft[:accepted]
    if accepted < len(draft):  # the rejected draft lost by more than the margin; the cloud's best replaces it
        best, best_lp = result.target_top[accepted][0]
        assert best_lp - result.draft_logprobs[accepted] > 3.0 and tokens[-1] == best


def test_lenient_acceptance_keeps_a_token_the_cloud_barely_disagrees_with():
    result = VerifyResult(0, [7], [[(7, -0.5), (5, -0.6)], [(9, -0.1)]], [-0.6])
    assert lenient_accept([5], result, 0.0) == (0, [7])
    assert lenient_accept([5], result, 0.2) == (1, [5, 9])  # then the cloud's own next token


def test_lenient_decoding_with_margin_zero_gives_exact_output_on_random_scripted_clouds(smol_engine):
    from tests.test_collaborate import _scenario, greedy  # noqa: F401 — the same random scenarios
    prompt = smol_engine.chat_tokens([{"role": "user", "content": "Tell me about the moon."}])
    for seed in range(6):
        outputs = []
        for acceptance in ("exact", "lenient"):
            rng = random.Random(seed)
            truth, stop, max_tokens, fail_on = _scenario(rng, smol_engine, prompt)
            cloud = ScriptedCloud(prompt, truth, fail_on_call=fail_on)
            collab = collaborator(smol_engine, cloud, f"speculative.acceptance={acceptance}", "speculative.margin=0",
                                  f"speculative.k={rng.randint(1, 6)}", "speculative.pipeline=false")
            text, job = asyncio.run(answer(collab, chat_request("tandem-speculative", max_tokens=max_tokens,
                                                                stop=stop)))
            outputs.append((text, job.answer_ids))
        assert outputs[0] == outputs[1], f"seed {seed}"


# -- the cascade with verifiers (scripted clouds) ---------------------------------------------------
def _greedy(engine, prompt, n):
    return [ev.token_id for ev in engine.generate(list(prompt), SamplingParams(max_tokens=n))]


@pytest.mark.integration
def test_the_cloud_check_passes_an_answer_the_cloud_agrees_with_in_one_pass(smol_engine):
    prompt = smol_engine.chat_tokens([{"role": "user", "content": SAY_HI}])
    device = _greedy(smol_engine, prompt, 48)
    assert smol_engine.is_eos(device[-1]), "a whole answer, ended by the model"
    cloud = ScriptedCloud(prompt, device + [0])  # a token past the end: the pass scores k+1 positions
    collab = collaborator(smol_engine, cloud, "cascade.policy=gate", "cascade.verifiers=[cloud_check]")
    text, job = asyncio.run(answer(collab, chat_request("tandem-cascade", content=SAY_HI, max_tokens=48)))
    assert not job.trace.escalated and job.answer_ids == device[:-1] and job.trace.device_tokens == len(device)
    assert [v["verifier"] for v in job.trace.verdicts] == ["degeneration", "cloud_check"]
    assert job.trace.verdicts[1]["outcome"] == "pass" and job.trace.verdicts[1]["cloud_calls"] == 1
    assert cloud.verify_calls == [(prompt, device)]  # one pass over the whole answer
    assert job.trace.cloud_calls == 1


@pytest.mark.integration
def test_a_failed_cloud_check_hands_over_token_exactly_where_the_cloud_disagrees(smol_engine):
    prompt = smol_engine.chat_tokens([{"role": "user", "content": SAY_HI}])
    device = _greedy(smol_engine, prompt, 48)
    truth = device[:5] + [1000] + device[6:-1] + [2000] * 30  # the cloud disagrees at token 5
    cloud = ScriptedCloud(prompt, truth)
    collab = collaborator(smol_engine, cloud, "cascade.policy=gate", "cascade.verifiers=[cloud_check]")
    text, job = asyncio.run(answer(collab, chat_request("tandem-cascade", content=SAY_HI, max_tokens=24)))
    t = job.trace
    assert t.escalated and t.verdicts[-1]["outcome"] == "fail" and "first disagreement at token 5" in t.reason
    assert job.answer_ids == truth[:24], "the device's tokens up to the disagreement, then the cloud's greedy answer"
    assert job.answer_ids[:5] == device[:5]


@pytest.mark.integration
def test_the_streaming_cascade_hands_a_loop_to_the_cloud(smol_engine):
    """Confident and looping: the stream hands over where a run of tokens comes back, not where confidence drops."""
    question = "Say 'hello' twenty times."
    prompt = smol_engine.chat_tokens([{"role": "user", "content": question}])
    device = _greedy(smol_engine, prompt, 40)
    at = repeated_span(device, 4)
    assert at is not None, "the tiny model repeats itself on this prompt"
    cloud = ScriptedCloud(prompt, device[:at] + [1000] * 40)
    collab = collaborator(smol_engine, cloud, "cascade.policy=stream", "cascade.window_threshold=-1000",
                          "cascade.degeneration_span=4")
    text, job = asyncio.run(answer(collab, chat_request("tandem-cascade", content=question, max_tokens=40)))
    t = job.trace
    assert t.escalated and t.handover_token == at and t.verdicts[0]["verifier"] == "degeneration"
    context, draft = cloud.verify_calls[0]
    assert context == prompt + device[:at] and draft[0] == device[at], "the token closing the loop is the first draft"
    assert job.answer_ids[:at] == device[:at]


# -- the real models --------------------------------------------------------------------------------
@pytest.mark.integration
@pytest.mark.qwen
def test_the_demo_hash_map_answer_fails_the_degeneration_check(qwen_device_engine):
    """The 0.5B circles "… store and retrieve data in a hash table-like manner" until max_tokens (issue 24)."""
    e = qwen_device_engine
    prompt = e.chat_tokens([{"role": "user", "content": HASH_MAP}])
    events = list(e.generate(prompt, SamplingParams(max_tokens=96)))  # the demo's settings, greedy
    text = e.detokenize([ev.token_id for ev in events])
    verdict = check(Degeneration(), DeviceAnswer(prompt, events, text, events[-1].finish_reason))
    assert verdict.failed, text
    watch = LoopWatch()
    assert any(watch.loops_after(ev.token_id) for ev in events), "the streaming cascade hands it over too"


class InProcessCloud:
    """The local cloud's verification (cloud.server.verify_round) on an engine in this process."""

    def __init__(self, engine):
        self.engine = engine

    async def verify(self, context, draft, stats, want_top=False, session=None) -> VerifyResult:
        from cloud.server import verify_round

        stats.calls += 1
        out = verify_round(self.engine, list(context), list(draft), 5 if want_top else 0)
        return VerifyResult(out["accepted"], out["tokens"], out.get("target_top", []), out.get("draft_logprobs", []))


@pytest.mark.integration
@pytest.mark.qwen
def test_the_cloud_check_tells_a_wrong_code_answer_from_a_right_one(qwen_cloud_engine):
    e = qwen_cloud_engine
    question = ('Complete the function.\n\ndef is_even(n: int) -> bool:\n    """Return True when n is even.\n'
                '    >>> is_even(4)\n    True\n    >>> is_even(7)\n    False\n    """\n')
    prompt = e.chat_tokens([{"role": "user", "content": question}])
    check_ = CloudCheck(InProcessCloud(e), CallStats(), threshold=-8.0)
    verdicts = {}
    for name, body in {"right": "n % 2 == 0", "wrong": "n % 2 == 1"}.items():
        ids = e.tokenize(f"```python\ndef is_even(n: int) -> bool:\n    return {body}\n```", add_bos=False,
                         special=False)
        verdicts[name] = check(check_, device_answer(ids, prompt=prompt))
    assert verdicts["right"].outcome == "pass" and verdicts["wrong"].failed
    assert verdicts["wrong"].score < verdicts["right"].score


def test_verdicts_are_counted_in_metrics():
    from gateway.api.metrics import Metrics
    from gateway.core.trace import RouteTrace

    m = Metrics()
    trace = RouteTrace(mode="cascade", escalated=True, verdicts=[
        {"verifier": "degeneration", "outcome": "pass", "score": 1.0, "reason": "", "ms": 0.1, "cloud_calls": 0},
        {"verifier": "cloud_check", "outcome": "fail", "score": -9.0, "reason": "", "ms": 120.0, "cloud_calls": 1}])
    m.observe("chat.completions", 200, trace, 0.5, 10)
    text = m.render().decode()
    assert 'tandem_verifier_verdicts_total{outcome="fail",verifier="cloud_check"} 1.0' in text
    assert 'tandem_verifier_seconds_count{verifier="degeneration"} 1.0' in text


def test_the_schema_check_fails_what_does_not_parse_or_breaks_the_schema():
    from gateway.core.verifiers.schema import Schema

    s = Schema({"type": "object", "properties": {"age": {"type": "integer", "maximum": 150}}, "required": ["age"]})
    assert check(s, device_answer([1], '{"age": 30}')).outcome == "pass"
    cut = check(s, device_answer([1], '{"age": 3', finish="length"))
    assert cut.failed and cut.reason.startswith("not JSON")
    wrong = check(s, device_answer([1], '{"age": 300}'))
    assert wrong.failed and wrong.reason == "breaks the schema at age: maximum"
    assert check(s, device_answer([1], "{}")).reason == "breaks the schema at the top level: required"
