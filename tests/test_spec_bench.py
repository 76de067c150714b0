"""The speculative benchmark's parts: predicted rounds, the emulated flat-cost cloud, the runs through
the gateway, and the report from cached runs alone. One integration test checks the prediction against
the gateway's real decoder."""

from __future__ import annotations

import argparse
import asyncio

import pytest

from bench import speculative as spec
from bench.spec_prompts import prompt_set
from bench.spec_replay import FlatCloud, ReplayCloud, greedy_rounds
from bench.spec_report import markdown, plot, summarize
from device_runtime.engine import DraftToken, SamplingParams
from device_runtime.fake import FakeEngine
from device_runtime.worker import DeviceWorker
from gateway.cloud_client.transport import CallStats
from gateway.testing.recording_cloud import RecordingCloud
from routers.draft_length import DraftLengthController, expected_tokens_per_pass


def test_greedy_rounds_play_out_the_protocol():
    all_agree = greedy_rounds([True] * 10, k=4, n_tokens=10)
    assert (all_agree.passes, all_agree.accepted, all_agree.tokens) == (2, 8, 10)  # 4 drafts + bonus, twice
    none_agree = greedy_rounds([False] * 10, k=4, n_tokens=10)
    assert (none_agree.passes, none_agree.accepted, none_agree.tokens) == (10, 0, 10)
    # the third token disagrees: round 1 accepts 2 and corrects the third, round 2 takes the remaining 3
    mixed = greedy_rounds([True, True, False, True, True, True], k=4, n_tokens=6)
    assert (mixed.passes, mixed.accepted, mixed.proposed, mixed.tokens) == (2, 4, 6, 6)


def test_iid_expectation_matches_independent_agreement():
    assert expected_tokens_per_pass(0.0, 8) == 1.0
    assert expected_tokens_per_pass(0.9, 4) == pytest.approx(4.0951, abs=1e-4)  # the 3.98-ish limit at 0.9
    assert DraftLengthController(k=4).expected_tokens(4) == pytest.approx(expected_tokens_per_pass(0.8, 4))


def test_flat_cloud_batches_whatever_waits_and_costs_the_same_up_to_its_knee():
    async def main():
        server = FlatCloud(0.05, knee_tokens=16)
        await asyncio.gather(*(server.forward(3) for _ in range(5)))  # 15 tokens: one flat pass

        async def late():
            await asyncio.sleep(0.01)  # arrives while the next pass runs: rides the one after
            await server.forward(1)

        await asyncio.gather(server.forward(32), late())  # 32 tokens: twice the knee, twice the cost
        return server

    server = asyncio.run(main())
    assert server.batch_sizes == [5, 1, 1]
    assert server.requests == 7
    assert server.busy_s == pytest.approx(0.05 + 0.10 + 0.05)


def test_replay_cloud_verifies_like_a_greedy_cloud_and_only_its_own_answer():
    async def main():
        cloud = ReplayCloud(FlatCloud(0), [1, 2], [10, 11, 12, 13])
        stats = CallStats()
        r = await cloud.verify([1, 2, 10], [11, 99], stats)
        with pytest.raises(ValueError):
            await cloud.verify([1, 2, 77], [12], stats)
        return r, stats

    r, stats = asyncio.run(main())
    assert (r.accepted, r.tokens, stats.calls) == (1, [11, 12], 1)


def test_replay_cloud_answers_end_of_text_past_an_answer_that_ended():
    """The device's limit is max_tokens, not the recorded answer's length: near the end it drafts past it."""
    async def main():
        ended = ReplayCloud(FlatCloud(0), [1], [10, 11, 2], end=2)
        r = await ended.verify([1, 10], [11, 2, 5, 6], CallStats())
        cut = ReplayCloud(FlatCloud(0), [1], [10, 11, 12])
        with pytest.raises(ValueError):
            await cut.verify([1, 10], [11, 12, 13], CallStats())
        return r

    r = asyncio.run(main())
    assert (r.accepted, r.tokens) == (2, [11, 2, 2])  # the end-of-text is accepted; nothing after it is shown


def test_prompt_set_is_forty_balanced_prompts_from_the_wheel_and_written_here():
    prompts = prompt_set()
    kinds = [p.kind for p in prompts]
    assert len(prompts) == 40 and kinds.count("code") == 20 and kinds.count("chat-en") == kinds.count("chat-zh") == 10
    assert len({p.id for p in prompts}) == 40
    first4 = {p.kind for p in prompts[:4]}
    assert first4 == {"code", "chat-en", "chat-zh"}  # any first N stays a mix
    assert all("```python" in p.messages[0]["content"] for p in prompts if p.kind == "code")


def _args(**kw) -> argparse.Namespace:
    base = {"device": "d", "cloud": "c", "prompts": 2, "max_tokens": 6, "ks": [1, 4], "flat_service_ms": 50.0,
            "flat_knee_tokens": 256, "rtts": [0, 20], "sweep_prompts": 2, "rtt_prompts": 2, "capacity": [1, 2], "flat_capacity": [1, 2],
            "vllm": False, "no_generate": True}
    return argparse.Namespace(**{**base, **kw})


def _run(ids: list[int], passes: int, accepted: int, proposed: int, secs: float, gap=None) -> dict:
    return {"ids": ids, "ended": False, "secs": secs, "passes": passes, "accepted": accepted, "proposed": proposed,
            "draft_lengths": [4] * passes, "bytes_up": 100, "bytes_down": 50, "final_k": 4, "computed_tokens": 10,
            "observations": [[4, 3, 0.18]], "rounds": [[0, [1], 1, 0.01, 0.02]],
            "divergence": None if gap is None else {"at": 2, "gap": gap}}


def _cached_plan(tmp_path, monkeypatch, **kw):
    """A plan over two prompts whose every per-prompt phase and the CPU capacity runs are cached."""
    prompts = prompt_set()[:2]  # read before the cache moves: the wheel is already downloaded
    monkeypatch.setenv("TANDEM_CACHE", str(tmp_path))
    args = _args(**kw)
    plan = spec.Plan(prompts, args)
    cache = spec.PhaseCache(args.device, args.cloud, args.max_tokens)
    ref = {"prompt_tokens": 5, "cloud_ids": [1, 2, 3, 4, 5, 6], "cloud_s": 1.2, "cloud_finish": "length",
           "device_ids": [1, 2, 3, 4, 5, 6], "device_s": 0.3, "matches": [True, True, False, True, True, True]}
    ids = [1, 2, 3, 4, 5, 6]
    runs = {"reference": ref, "k1": _run(ids, 4, 2, 4, 1.0), "k4": _run(ids, 2, 4, 6, 0.8, gap=0.2),
            "controller": _run(ids, 2, 4, 6, 0.6), "flat_k1": _run(ids, 4, 2, 4, 0.5),
            "flat_k4": _run(ids, 2, 4, 6, 0.4), "flat_controller": _run(ids, 2, 4, 6, 0.4), "rtt20": _run(ids, 2, 4, 6, 0.7)}
    for phase in plan.phases:
        for item in phase.items:
            if phase.name in runs:
                plan.records.setdefault(phase.name, {})[item] = runs[phase.name]
                cache.save(phase.name, item, plan._settings(phase, item), runs[phase.name])
    phase = next(p for p in plan.phases if p.name == "capacity_cpu")
    for n in ("1", "2"):
        cap = {"n": int(n), "tokens": 6 * int(n), "device_tokens": [6] * int(n),
               "speculative": {"wall_s": 1.0, "device_walls_s": [1.0] * int(n), "passes": 2 * int(n), "refused_409": 1,
                               "computed_tokens": 9 * int(n), "prompt_tokens": 20},
               "cloud_only": {"wall_s": 2.0, "device_walls_s": [2.0] * int(n), "passes": 6 * int(n),
                              "computed_tokens": 11 * int(n)}}
        cache.save("capacity_cpu", n, plan._settings(phase, n), cap)
    return spec.Plan(prompts, args), prompts, args


def test_report_from_cached_records_alone(tmp_path, monkeypatch):
    """Synthetic cached records: the report's arithmetic, and no model is ever loaded."""
    plan, prompts, args = _cached_plan(tmp_path, monkeypatch)

    async def no_lab():
        raise AssertionError("a report from the cache must not load a model")

    records = asyncio.run(plan.collect(no_lab, generate=False))
    assert records["capacity_flat"] == {} and set(records["k4"]) == {p.id for p in prompts}
    assert set(records["capacity_cpu"]) == {"1", "2"}
    data = summarize(records, prompts, args)
    k4 = data["by_k"]["4"]
    assert k4["tokens_per_pass"] == 3.0 and k4["cloud_passes_per_token"] == pytest.approx(0.333, abs=1e-3)
    assert k4["expected_tokens_per_pass_replayed"] == 3.0  # [T,T,F | T,T,T] at k=4 over 6 tokens
    assert k4["measured_over_replayed"] == 1.0 and k4["meets_0_95"]
    assert data["agreement"]["per_token"] == pytest.approx(5 / 6, abs=1e-4)
    assert data["summary"]["lossless"] is True and data["by_k"]["4"]["lossless"]["near_tie_divergences"] == 2
    assert data["controller"]["cpu"]["best_fixed_k"] == 4 and data["controller"]["cpu"]["within_10pct"]
    cap = data["capacity"]["cpu_local_cloud"]["2"]
    assert cap["capacity_gain"] == 2.0 and cap["speculative"]["cloud_passes_per_token"] == pytest.approx(0.333, abs=1e-3)
    assert data["by_rtt_ms"]["20"]["cloud_side_draft_tok_s"] == pytest.approx(12 / (2 * 0.62), abs=0.01)
    text = markdown(data)
    assert "| 4 | 2 | 3.0 |" in text and "near-tie" in text
    plot(data, tmp_path / "spec.png")
    assert (tmp_path / "spec.png").stat().st_size > 10_000


def test_capacity_only_runs_what_the_cpu_capacity_replays_and_writes_its_report(tmp_path, monkeypatch):
    """--capacity-only: the reference, the controller and the CPU capacity runs, nothing else; the capacity
    report (bench/spec_capacity.py) states the goal at N = 4 and the design measurement beside it."""
    from bench import spec_capacity

    plan, prompts, args = _cached_plan(tmp_path, monkeypatch, capacity_only=True, capacity=[1, 2])
    assert [p.name for p in plan.phases] == ["reference", "controller", "capacity_cpu"]

    async def no_lab():
        raise AssertionError("a report from the cache must not load a model")

    records = asyncio.run(plan.collect(no_lab, generate=False))
    runs = {**records["capacity_cpu"], "4": {**records["capacity_cpu"]["2"], "n": 4}}
    runs["4"]["speculative"] = {**runs["4"]["speculative"], "refused_409": 0,
                                "sessions": {"loaded_total": 7, "evicted_total": 0}}
    design = {"model": "c", "threads": 1, "n_ctx": 4096, "reps": 2, "other_sessions": 3, "round_positions": 9,
              "by_length": {"256": {"prefill_s": 3.0, "round_alone_s": 0.3,
                                    "saved_states": {"bytes": 7_000_000, "bytes_per_token": 28_000, "save_s": 0.001,
                                                     "load_s": 0.001, "swap_vs_prefill": 0.0007, "swap_vs_round": 0.007,
                                                     "bit_identical_after_load": True},
                                    "sequences_unified": {"fits": True, "round_s": 0.5, "vs_alone": 1.67},
                                    "sequences_split": {"fits": False}}}}
    pool = {"2": {**records["capacity_cpu"]["2"],
                  "speculative": {**records["capacity_cpu"]["2"]["speculative"], "calls": 5, "moved_calls": 0,
                                  "placement": [1, 0]},
                  "speculative_no_affinity": {**records["capacity_cpu"]["2"]["speculative"], "wall_s": 4.0,
                                              "refused_409": 3, "computed_tokens": 60, "calls": 7,
                                              "moved_calls": None, "placement": None}}}
    data = spec_capacity.report(runs, design, args, pool)
    assert data["goal"] == {"n": 4, "gain": 2.0, "gain_goal": 0.7, "refused_409": 0, "met": True}
    text = spec_capacity.markdown(data)
    assert "met**" in text and "| 4 | 12.0 | 6.0 | 2.0 |" in text and "7 / 0 / 0" in text
    # the pool: 12 tokens; cloud-only in 2 s, with affinity in 1 s (1 refused), without in 4 s (9 refused)
    # same replica: 5 of 5 calls with affinity; without, 1 of 4 rounds (3 refused where the session was not held)
    assert "| 2 | 6.0 | 12.0 (2.0×) | 1 / 1 | 100% | 1 | 1.5 | 3.0 (0.5×) | 25% | 3 | 5.0 | 1.5 |" in text
    assert "0.5 s (1.67×)" in text and "does not fit" in text
    spec_capacity.plot(data, tmp_path / "capacity.png")
    assert (tmp_path / "capacity.png").stat().st_size > 10_000


def test_the_sweep_subset_leaves_the_must_show_runs_on_every_prompt():
    """--sweep-prompts trims every phase but the reference and the largest k; capacity cycles the subset."""
    prompts = prompt_set()[:3]
    plan = spec.Plan(prompts, _args(prompts=3, sweep_prompts=1, ks=[1, 4, 8], capacity=[1, 2, 4]))
    items = {p.name: p.items for p in plan.phases}
    every, first = [p.id for p in prompts], [prompts[0].id]
    assert items["reference"] == every and items["k8"] == every
    assert all(items[name] == first for name in ("k4", "k1", "controller", "flat_k8", "flat_controller", "rtt20"))
    assert items["capacity_cpu"] == ["1", "2", "4"]  # N beyond the subset: its prompts again, as other sessions
    assert plan._cycle(3) == first * 3


def test_a_report_on_a_sweep_subset_compares_speeds_on_common_prompts(tmp_path, monkeypatch):
    """k = 4 (the largest) ran on both prompts, everything else on the first: every speed compared
    across k, and cloud-only beside them, comes from that first prompt alone."""
    plan, prompts, args = _cached_plan(tmp_path, monkeypatch, sweep_prompts=1, ks=[4, 1])
    records = asyncio.run(plan.collect(None, generate=False))
    assert set(records["k4"]) == {p.id for p in prompts} and set(records["k1"]) == {prompts[0].id}
    records["reference"][prompts[1].id] = {**records["reference"][prompts[1].id], "cloud_s": 100.0}
    data = summarize(records, prompts, args)
    assert data["by_k"]["4"]["runs"] == 2 and data["by_k"]["1"]["runs"] == 1
    cpu = data["controller"]["cpu"]
    assert cpu["prompts"] == 1 and list(cpu["fixed_tok_s"]) == ["1", "4"]
    assert cpu["cloud_only_tok_s"] == 5.0  # 6 tokens in 1.2 s: the slow second prompt is not in it
    assert cpu["vs_cloud_only"] == round(cpu["tok_s"] / 5.0, 3)
    assert data["controller"]["flat_gpu_emulated"]["cloud_only_tok_s"] == 20.0  # the emulated cloud: a token a 50 ms pass
    assert data["setup"]["sweep_prompts"] == 1 and data["setup"]["rtt_prompts"] == 1
    assert "| 15.0 (1 prompts) |" in markdown(data)  # k = 4's flat speed ran on fewer prompts than its row
    plot(data, tmp_path / "spec.png")


def test_a_divergence_beyond_a_near_tie_is_reported_as_lossy(tmp_path, monkeypatch):
    plan, prompts, args = _cached_plan(tmp_path, monkeypatch)
    records = asyncio.run(plan.collect(None, generate=False))
    records["k4"][prompts[0].id] = {**records["k4"][prompts[0].id], "divergence": {"at": 3, "gap": 2.5}}
    data = summarize(records, prompts, args)
    assert data["summary"]["lossless"] is False
    assert "beyond a near-tie" in markdown(data)


def test_replayed_sources_are_part_of_the_cache_key(tmp_path, monkeypatch):
    """A new reference answer invalidates the flat runs that replayed the old one."""
    plan, prompts, args = _cached_plan(tmp_path, monkeypatch)
    records = asyncio.run(plan.collect(None, generate=False))
    assert set(records["flat_k4"]) == {p.id for p in prompts}
    spec.PhaseCache(args.device, args.cloud, args.max_tokens).save(
        "reference", prompts[0].id, plan._settings(plan.phases[0], prompts[0].id),
        {**records["reference"][prompts[0].id], "cloud_ids": [9, 9, 9]})
    again = asyncio.run(spec.Plan(prompts, args).collect(None, generate=False))
    assert set(again["flat_k4"]) == {prompts[1].id}


def test_runs_with_other_settings_never_overwrite_each_other(tmp_path, monkeypatch):
    """A --flat-service-ms 200 run beside the 50 ms one: both stay cached (they once shared one file)."""
    plan, prompts, args = _cached_plan(tmp_path, monkeypatch)
    asyncio.run(plan.collect(None, generate=False))
    slow = spec.Plan(prompts, _args(flat_service_ms=200.0))
    assert prompts[0].id not in asyncio.run(slow.collect(None, generate=False))["flat_k4"]
    phase = next(p for p in slow.phases if p.name == "flat_k4")
    spec.PhaseCache(args.device, args.cloud, args.max_tokens).save(
        "flat_k4", prompts[0].id, slow._settings(phase, prompts[0].id), _run([7], 1, 0, 1, 9.0))
    again = asyncio.run(spec.Plan(prompts, args).collect(None, generate=False))
    assert again["flat_k4"][prompts[0].id]["secs"] == 0.4  # the 50 ms record is still there
    assert asyncio.run(spec.Plan(prompts, _args(flat_service_ms=200.0)).collect(None, generate=False))[
        "flat_k4"][prompts[0].id]["secs"] == 9.0


def test_a_resumed_phase_teaches_its_controller_what_the_cached_runs_taught(tmp_path, monkeypatch):
    plan, _, _ = _cached_plan(tmp_path, monkeypatch)
    asyncio.run(plan.collect(None, generate=False))
    fresh, resumed = (spec.LoggedController(k=4, k_max=spec.K_MAX) for _ in range(2))
    plan._teach("controller", resumed)
    assert resumed._n == 2 and fresh._n == 0  # one cached observation per prompt
    assert resumed.acceptance != fresh.acceptance and resumed.observations == []


# -- the runs go through the gateway ---------------------------------------------------------------------------
class DraftingEngine(FakeEngine):
    """FakeEngine that drafts: its greedy next token after any context is its answer's byte at that position."""

    def draft(self, k, temperature=0.0, top_p=1.0, rng=None, constraint=None):
        out = []
        for _ in range(k):
            token = self.answer[len(self._tokens) % len(self.answer)]
            out.append(DraftToken(token, -0.1))
            self._tokens.append(token)
        return out


def test_each_phase_runs_the_gateway_built_from_its_configuration():
    """fixed k or the adaptive controller, the RTT, pipelining: configuration, read by the gateway's own
    Collaborator, whose controller (logged) drives the decoder; the environment never changes a run."""
    worker = DeviceWorker(FakeEngine())
    try:
        for k, rtt, adaptive in ((3, 0.0, False), (None, 50.0, True)):
            config = spec.phase_config("http://127.0.0.1:9", k, rtt)
            c = config.cloud
            client = spec.RecordingClient(c.endpoints, c.model, c.api_key, c.timeout_s, c.retries, c.strategy,
                                          c.simulated_rtt_ms)
            gw = spec.SpecGateway(config, worker, client)
            ctrl = gw.controller
            assert gw.draft_length is ctrl and gw.cloud is client and isinstance(ctrl, spec.LoggedController)
            assert (ctrl.k, ctrl.k_max, ctrl.adaptive) == (k or 4, spec.K_MAX, adaptive)
            assert gw.spec_settings.pipeline and gw.spec_settings.skip_verify_above is None
            assert (client.strategy, client.simulated_rtt_ms) == ("tandem", rtt)
    finally:
        worker.shutdown()


def test_phase_config_ignores_the_environment(monkeypatch):
    monkeypatch.setenv("TANDEM__SPECULATIVE__K_MAX", "3")
    assert spec.phase_config("http://127.0.0.1:9", None).speculative.k_max == spec.K_MAX


def test_a_run_through_the_gateway_records_its_rounds():
    """``speculate``: tandem-speculative planned and run by the gateway; its verification calls, answered by a
    replayed cloud (the flat phases) or over HTTP (the CPU phases), logged round by round."""
    engine = DraftingEngine(answer="abcdefghij")
    messages = [{"role": "user", "content": "Say the alphabet."}]
    prompt = engine.chat_tokens(messages)
    own = [engine.answer[(len(prompt) + i) % 10] for i in range(12)]
    answer = [t if i % 5 != 2 else ord("#") for i, t in enumerate(own)]  # the cloud disagrees at 2 and 7
    matches = [a == b for a, b in zip(own, answer)]

    async def main():
        stand_in = RecordingCloud(engine)  # the tokenizer check; the HTTP phase's verifications
        url = await stand_in.start()
        worker = DeviceWorker(engine)
        try:
            gw = await spec.SpecGateway.start(spec.phase_config(url, 4), worker)
            replayed = await spec.speculate(gw, messages, prompt, len(answer), ReplayCloud(FlatCloud(0), prompt, answer))
            over_http = await spec.speculate(gw, messages, prompt, 6)
            with pytest.raises(RuntimeError, match="not speculative over"):
                await spec.speculate(gw, messages, prompt + [1], 6)
            await gw.client.close()
            return replayed, over_http
        finally:
            worker.shutdown()
            await stand_in.stop()

    replayed, over_http = asyncio.run(main())
    predicted = greedy_rounds(matches, 4, len(answer))
    assert replayed["ids"] == answer and not replayed["ended"]
    assert (replayed["passes"], replayed["accepted"]) == (predicted.passes, predicted.accepted)
    assert replayed["cloud_calls"] == len(replayed["rounds"]) == len(replayed["observations"]) == predicted.passes
    assert [r[0] for r in replayed["rounds"]][:2] == [0, 3]  # tokens done before each call: 2 accepted + a correction
    assert replayed["rounds"][0][1:3] == [own[:4], 2] and replayed["final_k"] == 4
    assert replayed["observations"][0] == [4, 2, None]  # the first round's timing carries the prefill
    # the stand-in accepts every draft and then ends the answer: one round, ended by end-of-text
    assert over_http["ended"] and over_http["ids"] == own[:4] and over_http["end_token"] == min(engine.eos_token_ids)
    assert over_http["bytes_up"] > 0 and over_http["cloud_calls"] == over_http["passes"] == 1


@pytest.mark.integration
def test_predicted_rounds_equal_the_real_decoders(smol_engine):
    """greedy_rounds, fed the device's teacher-forced agreement, makes exactly the rounds the gateway's
    decoder makes (the bench's run through the gateway) against a greedy cloud whose answer differs from
    the device's own in places."""
    messages = [{"role": "user", "content": "List the planets of the solar system, with one fact about each."}]
    prompt = smol_engine.chat_tokens(messages)
    own = [e.token_id for e in smol_engine.generate(prompt, SamplingParams(max_tokens=40))]
    answer = [t if i % 7 != 3 else smol_engine.tokenize(" banana", add_bos=False)[0] for i, t in enumerate(own)]
    scored = smol_engine.score(prompt + answer, 1)
    matches = [scored[len(prompt) - 1 + i][1] == 1 for i in range(len(answer))]
    assert 0 < sum(matches) < len(matches)
    worker = DeviceWorker(smol_engine)

    async def run(k: int):
        stand_in = RecordingCloud(smol_engine)  # answers the gateway's tokenizer check with the device's own
        url = await stand_in.start()
        try:
            gw = await spec.SpecGateway.start(spec.phase_config(url, k), worker)
            rec = await spec.speculate(gw, messages, prompt, len(answer), ReplayCloud(FlatCloud(0), prompt, answer))
            await gw.client.close()
            return rec
        finally:
            await stand_in.stop()

    try:
        for k in (1, 3, 8):
            rec = asyncio.run(run(k))
            predicted = greedy_rounds(matches, k, len(answer))
            assert rec["ids"] == answer
            assert (rec["passes"], rec["accepted"]) == (predicted.passes, predicted.accepted), k
    finally:
        worker.shutdown()


class _FakeEngine:
    def is_eos(self, token: int) -> bool:
        return token == 0


class _FakeLab:
    engine = _FakeEngine()

    def prompt_ids(self, p) -> list[int]:
        return [100 + len(p.id)]


def test_capacity_replay_on_the_emulated_cloud(tmp_path, monkeypatch):
    """Virtual devices replay recorded calls on one shared flat cloud; cloud-only streams decode a token a pass."""
    plan, prompts, _ = _cached_plan(tmp_path, monkeypatch)
    plan.args.flat_service_ms = 1.0
    asyncio.run(plan.collect(None, generate=False))
    for p in prompts:  # two rounds that end the answer with its end-of-text, which the recorded answer holds
        plan.records["reference"][p.id] = {**plan.records["reference"][p.id], "cloud_ids": [1, 2, 3, 4, 5, 0]}
        plan.records["flat_controller"][p.id] = {**plan.records["flat_controller"][p.id], "ids": [1, 2, 3, 4, 5],
                                                 "rounds": [[0, [1, 2, 9], 2, 0.001, 0.0], [3, [4, 5, 0, 7], 3, 0.001, 0.0]]}
    out = asyncio.run(plan.capacity_flat(_FakeLab(), "4"))  # four devices: the two prompts, twice
    assert out["n"] == 4 and out["tokens"] == 20 and out["device_tokens"] == [5] * 4
    spec, cloud = out["speculative"], out["cloud_only"]
    assert spec["requests"] == 8 and spec["passes"] <= 8  # the devices' calls ride shared passes
    assert cloud["requests"] == 20 and cloud["passes"] == 5  # four streams in step: a pass carries all four
