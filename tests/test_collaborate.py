"""The collaboration core (gateway/collaborate.py, speculative.py, output.py) against scripted clouds.

The device is the real SmolLM2 engine; the cloud follows a script (tests/scripted_cloud.py),
so every hand-over, acceptance and failure point is chosen by the test. Each ``test_defect_*``
is a regression test for one defect of the review in issue 10 (commit e9f7863).
"""

from __future__ import annotations

import asyncio
import math
import random

import numpy as np
import pytest

from device_runtime.engine import SamplingParams
from gateway.core.answer import AnswerBuilder
from gateway.core.trace import RouteTrace
from gateway.testing.scripted_cloud import ScriptedCloud, answer, chat_request, collaborator
from routers.confidence import running_mean

pytestmark = pytest.mark.integration
NEAR_TIE = 0.6  # batched vs one-by-one evaluation can flip a greedy choice within this many logits


@pytest.fixture
def prompt(smol_engine):
    return smol_engine.chat_tokens([{"role": "user", "content": "Tell me about the moon."}])


def greedy(engine, context, n):
    return [ev.token_id for ev in engine.generate(list(context), SamplingParams(max_tokens=n))]


def plain(engine, text):
    return engine.tokenize(text, add_bos=False, special=False)


def assert_greedy_continuation(engine, context, produced):
    """Each produced token is the device's greedy choice given exactly what precedes it (near-ties allowed)."""
    for i, token in enumerate(produced):
        logits = engine.sync(list(context) + list(produced[:i]))
        best = int(np.argmax(logits))
        assert token == best or logits[best] - logits[token] < NEAR_TIE, (
            f"token {i} of the device's continuation is {token}, its greedy choice is {best}")


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, timeout=120))


# -- regression tests, one per defect --------------------------------------------------------------
def test_defect_1_cascade_escalating_to_a_failing_cloud_does_not_deadlock(smol_engine, prompt):
    """Tokenizers differ, so the cascade escalates by pass-through; the cloud dies: the device finishes."""
    cloud = ScriptedCloud(prompt, [], fail_on_call=1, stream_pieces=["never sent"])
    collab = collaborator(smol_engine, cloud, "cascade.policy=gate", "cascade.threshold=1000", compatible=False)
    text, job = run(answer(collab, chat_request("tandem-cascade", max_tokens=12)))
    assert job.trace.escalated and job.trace.degraded and text
    assert job.trace.degraded_reason == "the cloud stopped answering"  # no internal address
    assert not collab.device.busy and collab.device.waiting == 0


def test_defect_2_handover_keeps_the_held_back_stop_prefix_and_finds_a_straddling_stop(smol_engine, prompt):
    cloud_text = "The answer is 42 #"
    pieces = ["The answer", " is 42", " #"]  # each counts as one token of the 16
    context = prompt + plain(smol_engine, cloud_text)
    device_text = smol_engine.detokenize(greedy(smol_engine, context, 16 - len(pieces)))
    # a stop that is not complete in the cloud's text: the held-back "#" must be neither lost nor left stray
    cloud = ScriptedCloud(prompt, [], fail_on_call=len(pieces) + 1, stream_pieces=pieces)
    collab = collaborator(smol_engine, cloud)
    text, job = run(answer(collab, chat_request("tandem-cloud", max_tokens=16, stop=["###"])))
    full = cloud_text + device_text
    assert text == (full[: full.index("###")] if "###" in full else full)
    assert job.trace.degraded
    # a stop straddling the hand-over: "#" from the cloud, the rest from the device
    straddle = "#" + device_text[:2]
    cloud = ScriptedCloud(prompt, [], fail_on_call=len(pieces) + 1, stream_pieces=pieces)
    text, job = run(answer(collaborator(smol_engine, cloud), chat_request("tandem-cloud", max_tokens=16,
                                                                            stop=[straddle])))
    assert text == "The answer is 42 " and job.finish_reason == "stop"


def test_defect_2_a_literal_end_of_turn_in_the_cloud_text_is_text_for_the_device(smol_engine, prompt):
    pieces = ["Use <|im_end|>", " to end"]
    cloud = ScriptedCloud(prompt, [], fail_on_call=len(pieces) + 1, stream_pieces=pieces)
    text, job = run(answer(collaborator(smol_engine, cloud), chat_request("tandem-cloud", max_tokens=12)))
    expected_context = prompt + plain(smol_engine, "".join(pieces))
    assert smol_engine.tokens[: len(expected_context)] == expected_context  # no end-of-turn id in it
    assert text.startswith("Use <|im_end|> to end") and job.trace.device_tokens > 0


def _disagreeing_top(context, draft):
    """The cloud prefers token 100 by a hair everywhere, but would often sample the draft too."""
    return [[(100, math.log(0.51)), (d, math.log(0.49))] for d in draft] + [[(100, math.log(0.51)),
                                                                             (200, math.log(0.49))]]


def test_defect_3_cascade_at_temperature_uses_rejection_sampling_not_argmax(smol_engine, prompt):
    firsts = []
    for seed in range(5):
        device_first = next(iter(smol_engine.generate(prompt, SamplingParams(max_tokens=1, temperature=1.0,
                                                                             seed=seed)))).token_id
        cloud = ScriptedCloud(prompt, [100] * 64, top=_disagreeing_top)
        collab = collaborator(smol_engine, cloud, "cascade.policy=gate", "cascade.threshold=1000", "speculative.pipeline=false")
        text, _ = run(answer(collab, chat_request("tandem-cascade", max_tokens=8, temperature=1.0, seed=seed)))
        assert cloud.verify_calls[0][1][0] == device_first  # the device's answer is the first draft
        # the first verification decides the first token: argmax acceptance always gives the cloud's 100
        firsts.append(not text.startswith(smol_engine.detokenize([100])))
    assert any(firsts), "argmax acceptance never takes a draft the cloud ranks second; rejection sampling does"


def test_defect_4_cascade_device_stops_where_the_answer_stops(smol_engine, prompt):
    device = greedy(smol_engine, prompt, 60)
    text = smol_engine.detokenize(device)
    stop = text[8:12]
    upto = next(i for i in range(1, len(device) + 1) if stop in smol_engine.detokenize(device[:i]))
    cloud = ScriptedCloud(prompt, device)
    collab = collaborator(smol_engine, cloud, "cascade.policy=gate", "cascade.threshold=1000", "speculative.pipeline=false")
    out, job = run(answer(collab, chat_request("tandem-cascade", max_tokens=60, stop=[stop])))
    assert out == text[: text.index(stop)]
    verified = sum(len(d) for _, d in cloud.verify_calls)
    assert verified <= upto  # the cloud saw nothing past the stop
    assert smol_engine.n_past <= len(prompt) + upto + 1  # nor did the device decode past it


def test_defect_5_a_cloud_failure_during_escalation_reuses_the_device_answer(smol_engine, prompt, monkeypatch):
    cloud = ScriptedCloud(prompt, greedy(smol_engine, prompt, 24), fail_on_call=1)
    collab = collaborator(smol_engine, cloud, "cascade.policy=gate", "cascade.threshold=1000")
    generated = []
    real = smol_engine.generate
    monkeypatch.setattr(smol_engine, "generate", lambda *a, **k: generated.append(a[0]) or real(*a, **k))
    text, job = run(answer(collab, chat_request("tandem-cascade", max_tokens=24)))
    assert job.trace.degraded and job.trace.escalated
    assert len(generated) == 1, "the device answered once; the hand-over used that answer"
    assert text == smol_engine.detokenize(greedy(smol_engine, prompt, 24))


def test_defect_6_entropy_confidence_works_in_the_cascade(smol_engine, prompt):
    collab = collaborator(smol_engine, ScriptedCloud(prompt, greedy(smol_engine, prompt, 12)),
                          "cascade.policy=gate", "cascade.method=entropy", "cascade.threshold=-1000")
    text, job = run(answer(collab, chat_request("tandem-cascade", max_tokens=12)))
    assert text and job.trace.confidence is not None and job.trace.confidence <= 0


def test_defect_7_logprobs_honour_top_logprobs_in_speculative_mode(smol_engine, prompt):
    truth = greedy(smol_engine, prompt, 16)
    top = lambda ctx, draft: [[(t, -0.1 * j) for j, t in enumerate(range(20))] for _ in range(len(draft) + 1)]
    collab = collaborator(smol_engine, ScriptedCloud(prompt, truth, top=top))

    async def go():
        job = await collab.plan(chat_request("tandem-speculative", max_tokens=8, logprobs=True, top_logprobs=2))
        return [lp for c in [c async for c in collab.run(job)] for lp in c.logprobs]

    entries = run(go())
    assert entries and all(len(alts) <= 2 for _, _, alts in entries)


def test_defect_7_cloud_mode_asks_the_cloud_for_logprobs_and_passes_them_on(smol_engine, prompt):
    cloud = ScriptedCloud(prompt, [], stream_pieces=["Hi"])
    collab = collaborator(smol_engine, cloud)

    async def go():
        job = await collab.plan(chat_request("tandem-cloud", max_tokens=4, logprobs=True, top_logprobs=3))
        return [c async for c in collab.run(job)]

    run(go())
    assert cloud.stream_bodies[0]["logprobs"] is True and cloud.stream_bodies[0]["top_logprobs"] == 3


def test_defect_7_an_unknown_logprob_is_not_reported_as_certainty(smol_engine):
    out = AnswerBuilder(smol_engine.token_bytes, smol_engine.is_eos, 4, (), RouteTrace(), n_logprobs=2)
    chunk = out.add_token(smol_engine.tokenize("Hello", add_bos=False)[0], "cloud", None, [(1, -0.1), (2, -0.2),
                                                                                       (3, -0.3)])
    assert chunk.logprobs[0][1] is None and len(chunk.logprobs[0][2]) == 2


@pytest.mark.parametrize("mode", ["tandem-device", "tandem-speculative", "tandem-cascade", "tandem-cloud"])
def test_defect_8_a_negative_seed_means_random_not_a_crash(smol_engine, prompt, mode):
    cloud = ScriptedCloud(prompt, [100] * 16, stream_pieces=["Hi"], top=_disagreeing_top)
    collab = collaborator(smol_engine, cloud, "cascade.policy=gate", "cascade.threshold=1000")
    text, job = run(answer(collab, chat_request(mode, max_tokens=6, temperature=0.8, seed=-1)))
    assert job.completion_tokens > 0


def test_defect_8_a_seed_reproduces_speculative_sampling_whatever_the_timing(smol_engine, prompt):
    outputs = set()
    for delay in [(0.0, 0.0), (0.005, 0.03), (0.02, 0.06)]:
        cloud = ScriptedCloud(prompt, [100] * 64, top=_disagreeing_top, delay_s=delay)
        collab = collaborator(smol_engine, cloud, "speculative.pipeline=true", "speculative.adaptive=true")
        text, job = run(answer(collab, chat_request("tandem-speculative", max_tokens=20, temperature=1.0, seed=7)))
        outputs.add(text)
    assert len(outputs) == 1


@pytest.mark.parametrize("mode", ["tandem-speculative", "tandem-cascade"])
def test_defect_9_time_to_first_token_is_marked_in_every_mode(smol_engine, prompt, mode):
    collab = collaborator(smol_engine, ScriptedCloud(prompt, greedy(smol_engine, prompt, 8)), "cascade.policy=gate", "cascade.threshold=1000")
    _, job = run(answer(collab, chat_request(mode, max_tokens=8)))
    assert 0 < job.trace.timings_ms["first_token"] <= job.trace.timings_ms["done"]


def test_tokenizers_are_checked_again_when_the_cloud_comes_back(smol_engine, prompt):
    class ComesBack(ScriptedCloud):
        up = False

        async def info(self):  # CloudClient.info: the local cloud's /v1/tandem/info
            if not self.up:
                raise _failure()
            return {"n_vocab": smol_engine.n_vocab, "eos_token_ids": sorted(smol_engine.eos_token_ids)}

        async def tokenize(self, text):
            if not self.up:
                raise _failure()
            return smol_engine.tokenize(text, add_bos=False, special=True)

    from gateway.testing.scripted_cloud import _failure

    cloud = ComesBack(prompt, greedy(smol_engine, prompt, 8))
    collab = collaborator(smol_engine, cloud)

    async def go():
        await collab.check_tokenizers()
        down = collab.tokenizers
        cloud.up = True
        await collab.plan(chat_request("tandem-auto"))
        await collab._tokenizer_recheck
        return down, collab.tokenizers

    down, back = run(go())
    assert not down.compatible and not down.checked
    assert back.compatible and back.checked


# -- the hand-over as a property -------------------------------------------------------------------
def _scenario(rng: random.Random, engine, prompt):
    base = greedy(engine, prompt, 48)
    truth = list(base)
    for _ in range(rng.randint(0, 4)):  # the cloud disagrees here and there
        truth[rng.randrange(len(truth))] = rng.choice([100, 1000, 2000])
    if rng.random() < 0.3:
        truth.insert(rng.randrange(4, len(truth)), min(engine.eos_token_ids))
    text = engine.detokenize(truth)
    stop = []
    if rng.random() < 0.4 and len(text) > 20:
        at = rng.randrange(5, len(text) - 4)
        stop = [text[at:at + rng.randint(2, 4)]]
    return truth, stop, rng.randint(1, 40), rng.choice([None, 1, 2, 3, 5])


# -- the streaming cascade -----------------------------------------------------------------------------
def _handover_point(engine, prompt, n: int, window: int) -> tuple[float, int, list[int]]:
    """A threshold at which the streaming cascade hands over after p > 0 device tokens, p, and the device's tokens."""
    events = list(engine.generate(list(prompt), SamplingParams(max_tokens=n)))
    rm = running_mean([e.logprob for e in events], window)
    for p in range(1, len(rm)):
        if rm[:p].min() - rm[p] > 0.1:  # a clear new low (re-evaluation moves log-probs by far less)
            return float((rm[p] + rm[:p].min()) / 2), p, [e.token_id for e in events]
    pytest.skip("the device's running confidence never reaches a clear new low")


def test_streaming_cascade_shows_device_tokens_before_any_cloud_call_and_hands_over_where_unsure(smol_engine, prompt):
    window = 2
    threshold, p, device_ids = _handover_point(smol_engine, prompt, 24, window)
    truth = device_ids[:p] + plain(smol_engine, " Something else entirely, as the cloud sees it.")
    truth.append(min(smol_engine.eos_token_ids))
    cloud = ScriptedCloud(prompt, truth)
    collab = collaborator(smol_engine, cloud, "cascade.policy=stream", f"cascade.window={window}",
                          f"cascade.window_threshold={threshold}")
    seen: list[tuple[str, int]] = []  # per chunk: where it came from, and how many cloud calls had been made

    async def go():
        job = await collab.plan(chat_request("tandem-cascade", max_tokens=24))
        async for chunk in collab.run(job):
            if chunk.text:
                seen.append((chunk.origin, cloud.calls + len(cloud.verify_calls)))
        return job

    job = run(go())
    assert job.trace.escalated and job.trace.handover_token == p
    assert seen[0] == ("device", 0), "the first text reaches the client before the cloud is asked anything"
    ids = job.answer_ids
    assert ids[:p] == device_ids[:p] and ids[p:] == truth[p:len(ids)], "shown tokens stand; the cloud's from there"
    assert len(ids) == min(24, len(truth) - 1)
    context, draft = cloud.verify_calls[0]
    assert context == prompt + device_ids[:p] and draft[0] == device_ids[p], "the held-back token is the first draft"


def test_streaming_cascade_keeps_a_sure_answer_without_calling_the_cloud(smol_engine, prompt):
    cloud = ScriptedCloud(prompt, [])
    collab = collaborator(smol_engine, cloud, "cascade.policy=stream", "cascade.window_threshold=-1000")
    text, job = run(answer(collab, chat_request("tandem-cascade", max_tokens=16)))
    assert text == smol_engine.detokenize(greedy(smol_engine, prompt, 16))
    assert job.trace.escalated is False and job.trace.handover_token is None and cloud.calls == 0
    assert job.trace.confidence is not None and job.trace.confidence > -1000


def test_streaming_cascade_without_a_shared_tokenizer_judges_the_whole_answer(smol_engine, prompt):
    """The cloud cannot continue text it cannot tokenize the same way: the gate decides, the cloud answers afresh."""
    cloud = ScriptedCloud(prompt, [], stream_pieces=["From", " the cloud."])
    collab = collaborator(smol_engine, cloud, "cascade.policy=stream", "cascade.window_threshold=1000",
                          "cascade.threshold=1000", compatible=False)
    text, job = run(answer(collab, chat_request("tandem-cascade", max_tokens=16)))
    assert text == "From the cloud." and job.trace.escalated and job.trace.handover_token is None


@pytest.mark.parametrize("seed", range(12))
def test_handover_is_token_exact_on_random_scripted_clouds(smol_engine, prompt, seed):
    """Temperature 0: the cloud's greedy continuation up to any failure, then the device's of exactly that prefix."""
    rng = random.Random(seed)
    truth, stop, max_tokens, fail_on = _scenario(rng, smol_engine, prompt)
    mode = rng.choice(["tandem-speculative", "tandem-cascade"])
    cloud = ScriptedCloud(prompt, truth, fail_on_call=fail_on)
    collab = collaborator(smol_engine, cloud, "cascade.threshold=1000", "cascade.window_threshold=1000",
                          f"speculative.k={rng.randint(1, 6)}", f"speculative.pipeline={str(rng.random() < 0.5).lower()}",
                          f"cascade.policy={rng.choice(['gate', 'stream'])}")
    text, job = run(answer(collab, chat_request(mode, max_tokens=max_tokens, stop=stop)))
    ids = job.answer_ids
    n_cloud = len(cloud.failed_context) - len(prompt) if cloud.failed_context is not None else len(ids)
    assert ids[:n_cloud] == truth[:n_cloud], "before any failure the answer is the cloud's"
    assert_greedy_continuation(smol_engine, prompt + truth[:n_cloud], ids[n_cloud:])
    assert job.completion_tokens <= max_tokens
    full = smol_engine.detokenize(ids)
    hits = [full.find(s) for s in stop if s in full]
    assert text == (full[: min(hits)] if hits else full), "no stray or missing characters"
    assert job.finish_reason == ("length" if not hits and job.completion_tokens == max_tokens
                                 and job.finish_reason != "stop" else "stop")


def test_verifications_redone_uncached_are_counted_in_the_trace(smol_engine, prompt):
    """A verifier that had to redo a round uncached (vLLM's NaN refusal) says so in CallStats; the trace carries it."""

    class FallingBack(ScriptedCloud):
        async def verify(self, context, draft, stats, want_top=False, session=None):
            stats.fallbacks += 1
            return await super().verify(context, draft, stats, want_top, session)

    cloud = FallingBack(prompt, greedy(smol_engine, prompt, 8) + [min(smol_engine.eos_token_ids)])
    _, job = run(answer(collaborator(smol_engine, cloud), chat_request("tandem-speculative", max_tokens=8)))
    assert job.trace.verify_fallbacks == len(cloud.verify_calls) > 0


def test_a_client_that_hangs_up_leaves_an_accounted_job(smol_engine, prompt):
    """Issue 23: the job's counts were copied from the answer after ``run``'s finally block, which a
    closed generator never reaches, so a disconnected request was logged with completion_tokens 0
    while device_tokens > 0. The job now reads them from the answer itself."""
    truth = greedy(smol_engine, prompt, 24)
    cloud = ScriptedCloud(prompt, truth)
    collab = collaborator(smol_engine, cloud, "speculative.k=4", "speculative.adaptive=false")

    async def hang_up_after_two_chunks():
        job = await collab.plan(chat_request("tandem-speculative", max_tokens=24))
        stream = collab.run(job)
        got = [await anext(stream), await anext(stream)]
        await stream.aclose()  # what aiohttp does when the client disconnects
        return job, got

    job, got = run(hang_up_after_two_chunks())
    t = job.trace
    assert job.completion_tokens > 0 and job.completion_tokens == t.device_tokens + t.cloud_tokens
    assert job.answer_ids == truth[: job.completion_tokens]
    assert t.cloud_calls == cloud.calls and "done" in t.timings_ms
    assert not collab.device.busy
