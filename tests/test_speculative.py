"""Speculative decoding: acceptance accounting against a scripted cloud, with the real device model.

The scripted cloud knows the "true" continuation and answers verification exactly as a
greedy verifier would: accept drafts while they match, then give the true next token.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import pytest

from device_runtime.engine import DraftToken, SamplingParams
from device_runtime.sampling import PositionalRng
from device_runtime.worker import DeviceWorker
from gateway.cloud_client.transport import CallStats
from gateway.cloud_client.vllm_wire import parse_prompt_logprobs
from gateway.core.acceptance import VerifyResult, greedy_accept, rejection_accept, target_probs
from gateway.core.answer import AnswerBuilder
from gateway.core.modes.speculative import SpeculativeDecoder, SpeculativeSettings
from gateway.core.trace import RouteTrace
from routers.draft_length import DraftLengthController


class ScriptedCloud:
    def __init__(self, prompt_len: int, truth: list[int]):
        self.prompt_len = prompt_len
        self.truth = truth
        self.calls: list[tuple[int, list[int]]] = []

    async def verify(self, context, draft, stats: CallStats, want_top=False, session=None) -> VerifyResult:
        stats.calls += 1
        done = len(context) - self.prompt_len
        assert list(context[self.prompt_len:]) == self.truth[:done], "context must be the verified prefix"
        self.calls.append((done, list(draft)))
        accepted, tokens = greedy_accept(draft, self.truth[done:done + len(draft) + 1])
        return VerifyResult(accepted, tokens)


def run(engine, cloud, prompt, max_tokens=24, stop=(), k=4, adaptive=False, pipeline=False,
        settings: SpeculativeSettings | None = None, controller: DraftLengthController | None = None):
    trace = RouteTrace(mode="speculative")
    out = AnswerBuilder(engine.token_bytes, engine.is_eos, max_tokens, stop, trace)
    worker = DeviceWorker(engine)

    async def main():
        async with worker.turn() as call:
            dec = SpeculativeDecoder(engine, call, cloud, out, CallStats(),
                                     controller or DraftLengthController(k=k, k_max=8, adaptive=adaptive),
                                     settings or SpeculativeSettings(pipeline=pipeline), SamplingParams())
            chunks = [c async for c in dec.run(prompt)]
        out_final = out.finish(out.finish_reason or "stop")
        return "".join(c.text for c in chunks) + out_final.text

    text = asyncio.run(main())
    worker.shutdown()
    return text, out, trace


@pytest.fixture
def prompt(smol_engine):
    return smol_engine.chat_tokens([{"role": "user", "content": "Tell me about the moon."}])


def device_greedy(engine, prompt, n):
    engine.sync(prompt + [prompt[-1]])  # one-token evaluation of the last prompt token, as in drafting
    return [ev.token_id for ev in engine.generate(prompt, SamplingParams(max_tokens=n))]


def test_all_drafts_accepted_with_bonus(smol_engine, prompt):
    truth = device_greedy(smol_engine, prompt, 40)
    truth = [t for t in truth if not smol_engine.is_eos(t)] + [7] * 40  # no eos: run to max_tokens
    cloud = ScriptedCloud(len(prompt), truth)
    text, out, trace = run(smol_engine, cloud, prompt, max_tokens=20, k=4)
    assert out.token_ids == truth[:20] and out.finish_reason == "length"
    assert trace.drafts_accepted == trace.drafts_proposed  # every draft was the cloud's choice
    assert trace.cloud_passes == 4 and trace.draft_lengths == [4, 4, 4, 4]  # 4 rounds x (4 + bonus) = 20
    assert trace.device_tokens == 16 and trace.cloud_tokens == 4
    assert trace.mean_acceptance_length == pytest.approx(5.0)


def test_no_draft_accepted_each_round_gives_one_cloud_token(smol_engine, prompt):
    device = device_greedy(smol_engine, prompt, 30)
    truth = [(t + 1) % smol_engine.n_vocab for t in device]  # never what the device proposes
    truth = [t if not smol_engine.is_eos(t) else 100 for t in truth]
    cloud = ScriptedCloud(len(prompt), truth)
    _, out, trace = run(smol_engine, cloud, prompt, max_tokens=6, k=3)
    assert out.token_ids == truth[:6]
    assert trace.drafts_accepted == 0 and trace.cloud_tokens == 6 and trace.device_tokens == 0
    assert trace.cloud_passes == 6


def test_partial_acceptance_then_correction(smol_engine, prompt):
    device = device_greedy(smol_engine, prompt, 30)
    truth = device[:2] + [42] + [43] * 30  # agree twice, then diverge for good
    cloud = ScriptedCloud(len(prompt), truth)
    _, out, trace = run(smol_engine, cloud, prompt, max_tokens=3, k=4)
    assert out.token_ids == [device[0], device[1], 42]
    assert cloud.calls[0] == (0, device[:2])  # max_tokens=3 caps the first draft at 2 (room for the cloud's token)
    assert trace.drafts_accepted == 2 and trace.cloud_tokens == 1


def test_eos_inside_a_draft_ends_the_answer(smol_engine):
    prompt = smol_engine.chat_tokens([{"role": "user", "content": "Hi"}])
    device = device_greedy(smol_engine, prompt, 60)
    assert any(smol_engine.is_eos(t) for t in device), "SmolLM2 answers 'Hi' in under 20 tokens"
    end = next(i for i, t in enumerate(device) if smol_engine.is_eos(t))
    cloud = ScriptedCloud(len(prompt), device[: end + 1] + [7] * 10)  # past the eos: never reached
    text, out, trace = run(smol_engine, cloud, prompt, max_tokens=200, k=8)
    assert out.finish_reason == "stop" and out.token_ids == device[:end]
    assert text == smol_engine.detokenize(device[:end])
    assert all(c[0] <= end for c in cloud.calls)  # nothing verified past the eos


def test_cloud_eos_as_correction_ends_the_answer(smol_engine, prompt):
    device = device_greedy(smol_engine, prompt, 30)
    eos = min(smol_engine.eos_token_ids)
    cloud = ScriptedCloud(len(prompt), device[:3] + [eos])
    _, out, trace = run(smol_engine, cloud, prompt, max_tokens=50, k=6)
    assert out.token_ids == device[:3] and out.finish_reason == "stop"
    assert trace.cloud_passes == 1


def test_stop_sequence_inside_a_draft(smol_engine, prompt):
    device = [t for t in device_greedy(smol_engine, prompt, 40) if not smol_engine.is_eos(t)]
    full = smol_engine.detokenize(device)
    stop = full[12:16]
    cloud = ScriptedCloud(len(prompt), device + [7] * 40)
    text, out, _ = run(smol_engine, cloud, prompt, max_tokens=40, stop=(stop,), k=8)
    assert text == full[: full.index(stop)] and out.finish_reason == "stop"


@pytest.mark.parametrize("max_tokens", [1, 2, 5, 9])
def test_max_tokens_boundary_is_exact(smol_engine, prompt, max_tokens):
    truth = [t for t in device_greedy(smol_engine, prompt, 40) if not smol_engine.is_eos(t)] + [7] * 40
    _, out, trace = run(smol_engine, ScriptedCloud(len(prompt), truth), prompt, max_tokens=max_tokens, k=4)
    assert out.token_ids == truth[:max_tokens] and out.finish_reason == "length"
    assert out.completion_tokens == max_tokens
    assert all(k <= max_tokens - 1 for k in trace.draft_lengths)


def test_pipelining_and_adaptive_k_keep_the_output(smol_engine, prompt):
    truth = [t for t in device_greedy(smol_engine, prompt, 60) if not smol_engine.is_eos(t)] + [7] * 60
    for pipeline in (False, True):
        _, out, trace = run(smol_engine, ScriptedCloud(len(prompt), truth), prompt, max_tokens=30, k=2,
                            adaptive=True, pipeline=pipeline)
        assert out.token_ids == truth[:30]


class PrefillingCloud(ScriptedCloud):
    """A CPU-like cloud: each draft costs 10 ms to verify, and a request's first call also prefills the prompt."""

    async def verify(self, context, draft, stats: CallStats, want_top=False, session=None) -> VerifyResult:
        await asyncio.sleep(0.01 * (len(draft) + 1) + (0.5 if not self.calls else 0.0))
        return await super().verify(context, draft, stats, want_top, session)


def test_the_prefill_round_teaches_acceptance_but_not_the_cost_of_k(smol_engine, prompt):
    truth = [t for t in device_greedy(smol_engine, prompt, 40) if not smol_engine.is_eos(t)] + [7] * 40
    ctrl = DraftLengthController(k=4, k_max=8)
    _, _, trace = run(smol_engine, PrefillingCloud(len(prompt), truth), prompt, max_tokens=16, controller=ctrl)
    # every round taught acceptance, but only the steady ones (prefill-free) are in the cost history:
    # the 0.5 s prefill in it made short drafts look dear and drove k to k_max on a CPU cloud
    # (a round with no drafts, e.g. one token of room left, teaches nothing at all)
    steady = [k for k in trace.draft_lengths[1:] if k > 0]
    assert trace.draft_lengths[0] > 0 and len(ctrl._rounds) == len(steady) >= 1
    assert max(t for _, t in ctrl._rounds) < 0.3  # nor is the device's prompt prefill


class SlowDevice:
    """The real engine, each decode 20 ms slower: catching up to the cloud's token is one, each draft one."""

    def __init__(self, engine):
        self.engine = engine

    def __getattr__(self, name):
        return getattr(self.engine, name)

    def sync(self, tokens):
        time.sleep(0.02)
        return self.engine.sync(tokens)

    def draft(self, n, *args, **kwargs):
        time.sleep(0.02 * n)
        return self.engine.draft(n, *args, **kwargs)


@dataclass
class RecordingController(DraftLengthController):
    seen: list[tuple[int, int, float | None]] = field(default_factory=list)

    def observe(self, k, accepted, round_s):
        self.seen.append((k, accepted, round_s))
        super().observe(k, accepted, round_s)


def test_the_controller_learns_a_whole_rounds_time_drafting_included(smol_engine, prompt):
    """A round's cost is its drafting (one decode to catch up, then one per draft) and its call: the
    controller is told all of it, so the fixed decode is not read as a cost per draft."""
    truth = [t for t in device_greedy(smol_engine, prompt, 40) if not smol_engine.is_eos(t)] + [7] * 40
    ctrl = RecordingController(k=4, k_max=8, adaptive=False)
    run(SlowDevice(smol_engine), PrefillingCloud(len(prompt), truth), prompt, max_tokens=16, controller=ctrl)
    steady = [(k, s) for k, _, s in ctrl.seen[1:] if k > 0]  # (a round of 0 drafts teaches nothing)
    assert ctrl.seen[0][2] is None and steady
    for k, round_s in steady:
        assert round_s >= 0.02 + 0.02 * k + 0.01 * (k + 1)  # catch-up, drafts, the call


def test_opportunistic_mode_skips_only_when_asked_and_says_so(smol_engine, prompt):
    truth = [t for t in device_greedy(smol_engine, prompt, 40) if not smol_engine.is_eos(t)] + [7] * 40
    # at temperature 0 a threshold alone does nothing: skipping must be asked for explicitly
    _, out, trace = run(smol_engine, ScriptedCloud(len(prompt), truth), prompt, max_tokens=12,
                        settings=SpeculativeSettings(pipeline=False, skip_verify_above=0.0))
    assert trace.unverified_tokens == 0 and trace.cloud_passes > 0
    cloud = ScriptedCloud(len(prompt), truth)
    _, out, trace = run(smol_engine, cloud, prompt, max_tokens=12,
                        settings=SpeculativeSettings(pipeline=False, skip_verify_above=0.0, skip_verify_at_greedy=True))
    assert trace.unverified_tokens > 0  # visible in the trace
    assert trace.unverified_tokens + trace.drafts_accepted + trace.cloud_tokens == out.completion_tokens
    assert out.token_ids == truth[:12]  # the device agreed with the truth here, so nothing was lost
    # a threshold nothing reaches: every draft is verified again
    _, _, trace = run(smol_engine, ScriptedCloud(len(prompt), truth), prompt, max_tokens=12,
                      settings=SpeculativeSettings(pipeline=False, skip_verify_above=1.01, skip_verify_at_greedy=True))
    assert trace.unverified_tokens == 0


# -- model-free pieces -------------------------------------------------------------------------------------
def test_greedy_accept():
    assert greedy_accept([1, 2, 3], [1, 2, 3, 4]) == (3, [1, 2, 3, 4])
    assert greedy_accept([1, 2, 3], [1, 9, 3, 4]) == (1, [1, 9])
    assert greedy_accept([], [5]) == (0, [5])


def test_parse_vllm_prompt_logprobs():
    """The wire format of vLLM 0.32's /v1/completions with prompt_logprobs and token ids."""
    choice = {
        "text": "token_id:50", "token_ids": [50],
        "prompt_logprobs": [None,
                            {"11": {"logprob": -0.5, "rank": 1, "decoded_token": "token_id:11"}},
                            {"20": {"logprob": -0.1, "rank": 1, "decoded_token": "token_id:20"}},
                            {"30": {"logprob": -3.0, "rank": 4, "decoded_token": "token_id:30"},
                             "31": {"logprob": -0.2, "rank": 1, "decoded_token": "token_id:31"}}],
        "logprobs": {"tokens": ["token_id:50"], "top_logprobs": [{"token_id:50": -0.01}]},
    }
    r = parse_prompt_logprobs(choice, n_context=2, draft=[20, 30])
    assert (r.accepted, r.tokens) == (1, [20, 31])
    all_ok = parse_prompt_logprobs({**choice, "prompt_logprobs": choice["prompt_logprobs"][:3] + [
        {"30": {"logprob": -0.1, "rank": 1, "decoded_token": "token_id:30"}}]}, 2, [20, 30])
    assert (all_ok.accepted, all_ok.tokens) == (2, [20, 30, 50])


def test_target_probs_applies_temperature_and_top_p():
    top = [(1, np.log(0.6)), (2, np.log(0.3)), (3, np.log(0.1))]
    assert target_probs(top, 1.0) == pytest.approx({1: 0.6, 2: 0.3, 3: 0.1})
    cold = target_probs(top, 0.1)
    assert cold[1] > 0.99
    assert set(target_probs(top, 1.0, top_p=0.7)) == {1, 2}


def test_rejection_sampling_preserves_the_target_distribution():
    """Draft from q, accept/resample against p: the emitted first token is distributed as p."""
    rng = np.random.default_rng(0)
    vocab = 4
    q = np.array([0.5, 0.3, 0.1, 0.1])
    q_top = {i: float(v) for i, v in enumerate(q)}
    p = {0: 0.1, 1: 0.2, 2: 0.3, 3: 0.4}
    top = [[(t, float(np.log(v))) for t, v in p.items()]] * 2
    counts: Counter[int] = Counter()
    n = 20000
    for i in range(n):
        x = int(rng.choice(vocab, p=q))
        _, tokens = rejection_accept([DraftToken(x, 0.0, float(q[x]), q_top)], top, 1.0, 1.0, PositionalRng(i), 0)
        counts[tokens[0]] += 1
    for t, pt in p.items():
        assert counts[t] / n == pytest.approx(pt, abs=0.015)
