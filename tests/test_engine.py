"""The llama.cpp engine on real models (SmolLM2 always; the Qwen 0.5B where pulled)."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from device_runtime.engine import ContextOverflow, LlamaEngine, SamplingParams
from device_runtime.models import REGISTRY, ModelStore, ModelVerificationError
from device_runtime.text import TokenTextStream

pytestmark = pytest.mark.integration

CHAT = [{"role": "user", "content": "List three colours of the rainbow."}]


def greedy_ids(engine, prompt, n=24):
    return [ev.token_id for ev in engine.generate(prompt, SamplingParams(max_tokens=n))]


def warm_baseline(engine, prompt, n=16):
    """Greedy ids as the rollback path computes them: the last prompt token re-evaluated on its own.

    A batch and a one-token evaluation differ slightly in llama.cpp (DESIGN.md: up to ~0.6
    in logits), enough to flip a near-tie; comparing like with like keeps the test exact.
    """
    engine.sync(prompt + [prompt[-1]])
    return greedy_ids(engine, prompt, n)


def test_greedy_generation_is_deterministic(smol_engine):
    prompt = smol_engine.chat_tokens(CHAT)
    first = greedy_ids(smol_engine, prompt)
    smol_engine.sync(smol_engine.tokenize("Unrelated text to disturb the cache."))
    assert greedy_ids(smol_engine, prompt) == first
    assert len(first) > 5


def test_streamed_text_equals_whole_text(smol_engine):
    prompt = smol_engine.chat_tokens(CHAT)
    events = list(smol_engine.generate(prompt, SamplingParams(max_tokens=40)))
    streamed = "".join(ev.text for ev in events)
    ids = [ev.token_id for ev in events if not smol_engine.is_eos(ev.token_id)]
    assert streamed == smol_engine.detokenize(ids)
    assert events[-1].finish_reason in ("stop", "length")
    assert all(ev.logprob <= 0 for ev in events)


def test_sampling_is_reproducible_with_a_seed(smol_engine):
    prompt = smol_engine.chat_tokens(CHAT)
    params = SamplingParams(max_tokens=20, temperature=0.9, top_p=0.9, seed=7)
    a = [ev.token_id for ev in smol_engine.generate(prompt, params)]
    b = [ev.token_id for ev in smol_engine.generate(prompt, params)]
    c = [ev.token_id for ev in smol_engine.generate(prompt, SamplingParams(max_tokens=20, temperature=0.9, seed=8))]
    assert a == b and a != c


def test_stop_sequence_and_max_tokens(smol_engine):
    prompt = smol_engine.chat_tokens(CHAT)
    full = "".join(ev.text for ev in smol_engine.generate(prompt, SamplingParams(max_tokens=40)))
    stop = full[10:14]
    events = list(smol_engine.generate(prompt, SamplingParams(max_tokens=40, stop=(stop,))))
    text = "".join(ev.text for ev in events)
    assert text == full[: full.index(stop)] and events[-1].finish_reason == "stop"
    events = list(smol_engine.generate(prompt, SamplingParams(max_tokens=3)))
    assert len(events) == 3 and events[-1].finish_reason == "length"


def test_top_logprobs_are_sorted_and_include_the_greedy_choice(smol_engine):
    prompt = smol_engine.chat_tokens(CHAT)
    ev = next(smol_engine.generate(prompt, SamplingParams(max_tokens=1, top_logprobs=5)))
    lps = [lp for _, lp in ev.top_logprobs]
    assert len(lps) == 5 and lps == sorted(lps, reverse=True)
    assert ev.top_logprobs[0][0] == ev.token_id and ev.top_logprobs[0][1] == pytest.approx(ev.logprob)


def test_chat_template_is_the_models_own(smol_engine):
    text = smol_engine.chat_prompt([{"role": "system", "content": "S"}, {"role": "user", "content": "U"}])
    assert text == "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nU<|im_end|>\n<|im_start|>assistant\n"
    ids = smol_engine.chat_tokens([{"role": "user", "content": "U"}])
    assert smol_engine.tokenize("<|im_start|>", add_bos=False)[0] in ids  # special tokens parsed, not spelled out


@pytest.mark.parametrize("k", [1, 4])
def test_draft_then_rollback_regenerates_identically(smol_engine, k):
    prompt = smol_engine.chat_tokens(CHAT)
    baseline = warm_baseline(smol_engine, prompt)
    smol_engine.sync(prompt)
    drafts = smol_engine.draft(k)
    assert [d.token_id for d in drafts] == baseline[:k]  # greedy drafts are the greedy continuation
    smol_engine.truncate(len(prompt))  # reject everything: back to the prompt
    assert smol_engine.n_past == len(prompt)
    assert greedy_ids(smol_engine, prompt, 16) == baseline


def test_sync_to_accepted_prefix_and_correction_continues_like_a_fresh_run(smol_engine):
    prompt = smol_engine.chat_tokens(CHAT)
    baseline = warm_baseline(smol_engine, prompt, 12)
    smol_engine.sync(prompt)
    smol_engine.draft(4)
    smol_engine.sync(prompt + baseline[:3])  # keep two drafts, add the "correction"
    assert smol_engine.tokens == prompt + baseline[:3]
    rest = [ev.token_id for ev in smol_engine.generate(prompt + baseline[:3], SamplingParams(max_tokens=9))]
    assert baseline[:3] + rest == baseline


def test_batched_scoring_matches_stepwise_decoding(smol_engine):
    prompt = smol_engine.chat_tokens(CHAT)
    cont = greedy_ids(smol_engine, prompt, 8)
    scored = smol_engine.score(prompt + cont, top_n=1)
    assert len(scored) == len(prompt) + len(cont) - 1
    for lp, rank, top in scored[-len(cont):]:
        # the stepwise greedy token is the batched argmax, or loses to it only at a near-tie
        assert rank == 1 and top[0][1] == pytest.approx(lp) or top[0][1] - lp < 0.6


def test_a_saved_sequence_loads_back_bit_identically(smol_engine):
    """Two conversations take turns on one context: each loads its saved cells and goes on as if alone."""
    a = smol_engine.chat_tokens(CHAT)
    b = smol_engine.chat_tokens([{"role": "user", "content": "Name a large animal."}])
    draft = smol_engine.tokenize(" red, green and blue", add_bos=False)
    smol_engine.sync(a)
    want = smol_engine.extend_all(draft).copy()  # a's logits at the drafts, never interrupted
    smol_engine.truncate(len(a))
    saved = smol_engine.save_sequence()
    assert saved.tokens == tuple(a) and saved.nbytes > 0
    smol_engine.sync(b + draft)  # b takes the cache
    smol_engine.load_sequence(saved)
    assert smol_engine.tokens == a
    np.testing.assert_array_equal(smol_engine.extend_all(draft), want)


def test_chinese_round_trips_through_streaming_detokenization(smol_engine):
    text = "你好，世界！今天天气很好。😀 Ünïcödé"
    ids = smol_engine.tokenize(text, add_bos=False)
    stream = TokenTextStream(smol_engine.token_bytes)
    pieces = [stream.push(t) for t in ids]
    assert "".join(pieces) + stream.flush() == text
    assert not any("\ufffd" in p for p in pieces)


def test_context_overflow_is_refused(smol_engine):
    with pytest.raises(ContextOverflow):
        list(smol_engine.generate([1] * 10, SamplingParams(max_tokens=smol_engine.n_ctx)))


def test_corrupted_model_file_is_rejected(tmp_path, smol_path):
    store = ModelStore(tmp_path, progress=False)
    spec = REGISTRY["smollm2-135m"]
    store.models_dir.mkdir(parents=True)
    target = store.path_for(spec)
    shutil.copyfile(smol_path, target)
    with open(target, "r+b") as f:
        f.seek(spec.size // 2)
        byte = f.read(1)
        f.seek(spec.size // 2)
        f.write(bytes([byte[0] ^ 0xFF]))
    with pytest.raises(ModelVerificationError, match="expected 98362432 bytes with sha256 b179c952"):
        LlamaEngine.load("smollm2-135m", store=store)
    assert not target.exists()


@pytest.mark.qwen
def test_qwen_draft_rollback_and_eos(qwen_device_engine):
    e = qwen_device_engine
    assert e.n_vocab == 151936 and 151645 in e.eos_token_ids
    prompt = e.chat_tokens([{"role": "user", "content": "Write hello world in C."}])
    baseline = warm_baseline(e, prompt)
    e.sync(prompt)
    assert [d.token_id for d in e.draft(8)] == baseline[:8]
    e.sync(prompt + baseline[:4])
    rest = [ev.token_id for ev in e.generate(prompt + baseline[:4], SamplingParams(max_tokens=12))]
    assert baseline[:4] + rest == baseline
    assert np.isfinite(e.next_logits()).all()
