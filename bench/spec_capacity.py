"""Several devices on one local cloud: how its verification sessions keep their KV state, and what N buys.

    python bench/spec_capacity.py --design            # the two designs measured (the cloud model, ~2 min)
    python bench/speculative.py --capacity-only --prompts 4 --sweep-prompts 4 --capacity 1 2 4

``measure_designs`` times what each way of keeping several sessions on one llama.cpp context costs,
on the cloud model with the local cloud's thread count, for a few context lengths L:

* ``prefill_s``: evaluating L tokens from an empty cache (what a session costs once its state is gone);
* saved states (``cloud/sessions.py``, the design chosen): ``LlamaEngine.save_sequence`` and
  ``load_sequence`` of an L-token sequence, its bytes, and whether the logits after a load are
  bit-identical to the uninterrupted ones;
* llama.cpp sequences in one context (the other candidate, built here only): one verification round
  (k = 8 drafts, 9 positions) of a session beside three other L-token sessions, with the KV cache unified
  (every decode attends over all sessions' cells) and split (a fixed n_ctx / n_seq_max per sequence),
  against the same round alone.

Repetitions interleave the alternatives and keep each one's fastest, so a shared machine's noise
falls on all of them alike. ``report`` turns the design measurement and the ``capacity_cpu`` runs of
``bench/speculative.py`` into ``bench/results/capacity.{json,md,png}``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import RESULTS, machine, now_iso, write_results
from bench.spec_report import _capacity
from device_runtime.models import cache_dir

GOAL_N = 4
GOAL_GAIN = 0.7  # aggregate speculative tok/s against cloud-only's at N = GOAL_N
DESIGN_CACHE = cache_dir() / "bench-cache" / "speculative" / "session_designs.json"
DRAFT_ROUND = 9  # k = 8 drafts and the position before them


def _fastest(fns: dict[str, Callable[[], Any]], reps: int) -> dict[str, float]:
    """Each callable's fastest time over ``reps`` rounds that run them all in turn."""
    best = {name: float("inf") for name in fns}
    for _ in range(reps):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            best[name] = min(best[name], time.perf_counter() - t0)
    return best


class _Sequences:
    """llama.cpp sequences in one context: the candidate not taken, for measurement only."""

    def __init__(self, engine: Any, n_seq: int, unified: bool):
        import llama_cpp
        from llama_cpp import _internals

        llm = engine._llm
        params = llama_cpp.llama_context_params.from_buffer_copy(llm.context_params)  # the engine's stay
        params.n_seq_max, params.kv_unified = n_seq, unified
        self.ctx = _internals.LlamaContext(model=llm._model, params=params, verbose=False)
        self.batch = _internals.LlamaBatch(n_tokens=llm.n_batch, embd=0, n_seq_max=1, verbose=False)
        self.n_batch, self.n_vocab = llm.n_batch, engine.n_vocab
        self.held: dict[int, int] = {s: 0 for s in range(n_seq)}

    def truncate(self, seq: int, keep: int) -> None:
        import llama_cpp

        llama_cpp.llama_memory_seq_rm(self.ctx.memory, seq, keep, -1)
        self.held[seq] = min(self.held[seq], keep)

    def decode(self, seq: int, tokens: list[int], n_out: int) -> np.ndarray:
        rows = []
        first_out = len(tokens) - n_out
        for start in range(0, len(tokens), self.n_batch):
            part = tokens[start:start + self.n_batch]
            b = self.batch.batch
            b.n_tokens = len(part)
            for i, t in enumerate(part):
                b.token[i], b.pos[i], b.n_seq_id[i] = t, self.held[seq] + i, 1
                b.seq_id[i][0] = seq
                b.logits[i] = start + i >= first_out
            self.ctx.decode(self.batch)
            self.held[seq] += len(part)
            n = sum(1 for i in range(len(part)) if start + i >= first_out)
            if n:
                rows.append(np.ctypeslib.as_array(self.ctx.get_logits(), shape=(n * self.n_vocab,))
                            .reshape(n, self.n_vocab).copy())
        return np.concatenate(rows)

    def close(self) -> None:
        self.batch.close()
        self.ctx.close()


def measure_designs(model: str, lengths: list[int], threads: int, reps: int, others: int = 3) -> dict:
    """Swap (save + load) against prefill, and a round beside ``others`` sessions, per context length."""
    from device_runtime.engine import LlamaEngine
    from device_runtime.models import ModelStore

    n_ctx = 4096
    engine = LlamaEngine(ModelStore().resolve(model), n_ctx=n_ctx, n_threads=threads, name=model)
    rng = np.random.default_rng(0)

    def tokens(n: int) -> list[int]:
        return [int(t) for t in rng.integers(100, 20_000, n)]

    out: dict[str, Any] = {"model": model, "threads": threads, "n_ctx": n_ctx, "reps": reps,
                           "other_sessions": others, "round_positions": DRAFT_ROUND, "by_length": {}}
    for length in lengths:
        context, draft = tokens(length), tokens(DRAFT_ROUND)
        engine.truncate(0)
        engine.extend_last(context, 1)
        want = engine.extend_last(draft, DRAFT_ROUND).copy()
        engine.truncate(length)
        saved = engine.save_sequence()

        def prefill() -> None:
            engine.truncate(0)
            engine.extend_last(context, 1)

        def save() -> None:
            engine.save_sequence()

        def load() -> None:
            engine.load_sequence(saved)

        prefill_s = _fastest({"prefill": prefill}, 2)["prefill"]
        swaps = _fastest({"save_s": save, "load_s": load}, reps * 3)
        engine.load_sequence(saved)
        identical = bool(np.array_equal(engine.extend_last(draft, DRAFT_ROUND), want))

        # a round alone, and beside `others` sessions in one context (unified, split), timed in turn
        rounds: dict[str, Callable[[], Any]] = {}

        def alone() -> None:
            engine.truncate(length)
            engine.extend_last(draft, DRAFT_ROUND)

        rounds["alone"] = alone
        fits = {"sequences_unified": length * (others + 1) + DRAFT_ROUND <= n_ctx,
                "sequences_split": length + DRAFT_ROUND <= n_ctx // (others + 1)}
        opened: list[_Sequences] = []
        try:
            for name, unified in (("sequences_unified", True), ("sequences_split", False)):
                if not fits[name]:
                    continue
                seqs = _Sequences(engine, others + 1, unified)
                opened.append(seqs)
                for s in range(others + 1):
                    seqs.decode(s, context if s == 0 else tokens(length), 1)

                def shared(seqs: _Sequences = seqs) -> None:
                    seqs.truncate(0, length)
                    seqs.decode(0, draft, DRAFT_ROUND)

                rounds[name] = shared
            timed = _fastest(rounds, reps * 2)
        finally:
            for seqs in opened:
                seqs.close()
        swap = swaps["save_s"] + swaps["load_s"]
        out["by_length"][str(length)] = {
            "prefill_s": round(prefill_s, 4), "round_alone_s": round(timed["alone"], 4),
            "saved_states": {"bytes": saved.nbytes, "bytes_per_token": round(saved.nbytes / length),
                             "save_s": round(swaps["save_s"], 5), "load_s": round(swaps["load_s"], 5),
                             "swap_vs_prefill": round(swap / prefill_s, 5),
                             "swap_vs_round": round(swap / timed["alone"], 4),
                             "bit_identical_after_load": identical},
            **{name: ({"fits": True, "round_s": round(timed[name], 4),
                       "vs_alone": round(timed[name] / timed["alone"], 3)} if ok else {"fits": False})
               for name, ok in fits.items()}}
        print(length, json.dumps(out["by_length"][str(length)]), flush=True)
    return out


# -- the report --------------------------------------------------------------------------------------------
def _share(total: int | None, away: int | None) -> float | None:
    return None if not total or away is None else round(1 - away / total, 4)


def _per_replica(placement: list[int | None] | None) -> list[int] | None:
    if not placement:
        return None
    return [sum(1 for p in placement if p == i) for i in range(max(p or 0 for p in placement) + 1)]


def pool_rows(pool_runs: dict[str, dict], args: argparse.Namespace) -> dict[str, dict]:
    """Per N on the two-replica pool: cloud-only, speculative with session affinity, and without."""
    out = {}
    for n, r in pool_runs.items():
        rows = [_capacity({n: {**r, "speculative": r[side]}}, args)[n]
                for side in ("speculative", "speculative_no_affinity")]
        aff, free = r["speculative"], r["speculative_no_affinity"]
        out[n] = {"devices": r["n"], "tokens": r["tokens"], "cloud_only": rows[0]["cloud_only"],
                  "affinity": {**rows[0]["speculative"], "gain": rows[0]["capacity_gain"],
                               # calls on the replica that served the round before (goal >= 95%)
                               "same_replica_share": _share(aff.get("calls"), aff.get("moved_calls"))},
                  # without: a round sent away from its session's replica is refused (409) and resent whole,
                  # so the share is of rounds (passes), not of calls
                  "no_affinity": {**rows[1]["speculative"], "gain": rows[1]["capacity_gain"],
                                  "same_replica_share": _share(free.get("passes"), free.get("refused_409"))},
                  "devices_per_replica": _per_replica(aff.get("placement")),
                  "load_1min": r.get("load_1min")}
    return dict(sorted(out.items(), key=lambda kv: int(kv[0])))


def report(capacity_runs: dict[str, dict], design: dict | None, args: argparse.Namespace,
           pool_runs: dict[str, dict] | None = None) -> dict:
    rows = _capacity(capacity_runs, args)
    for n, r in rows.items():
        r["speculative"]["sessions"] = capacity_runs[n]["speculative"].get("sessions")
        r["load_1min"] = capacity_runs[n].get("load_1min")  # before cloud-only, after speculative
    goal_row = rows.get(str(GOAL_N))
    goal = None
    if goal_row is not None:
        gain, refused = goal_row["capacity_gain"], goal_row["speculative"].get("refused_409")
        goal = {"n": GOAL_N, "gain": gain, "gain_goal": GOAL_GAIN, "refused_409": refused,
                "met": bool(gain is not None and gain >= GOAL_GAIN and refused == 0)}
    return {"setup": {"device": args.device, "cloud": args.cloud, "prompts": args.sweep_prompts,
                      "max_tokens": args.max_tokens, "capacity": sorted(int(n) for n in rows),
                      "threads": "device 1 (core 0), cloud 1 (core 1)",
                      "local_cloud": "cloud.local defaults (n_ctx 4096, session_memory_mb 512, "
                                     "max_sessions 64)"},
            "goal": goal, "capacity": rows, "pool": pool_rows(pool_runs, args) if pool_runs else None,
            "design": design, "machine": machine(), "date": now_iso()}


def markdown(data: dict) -> str:
    s, goal = data["setup"], data["goal"]
    lines = ["# Several devices verifying on one local cloud\n",
             f"{s['cloud']} verifies in the local cloud (core 1, one thread); {s['device']} drafted "
             "on core 0, and its recorded runs are replayed: N virtual devices, each with its recorded "
             "device time between calls, against N cloud-only completions of the same answers at once. "
             f"{s['prompts']} prompts × {s['max_tokens']} tokens, greedy, the adaptive controller's runs; "
             f"{s['local_cloud']}.\n"]
    if goal is not None:
        lines.append(f"**Goal (N = {goal['n']}: zero refusals, speculative ≥ {goal['gain_goal']}× "
                     f"cloud-only): {'met' if goal['met'] else 'not met'}** — {goal['gain']}×, "
                     f"{goal['refused_409']} refused.\n")
    lines.append("| N | speculative tok/s (all) | cloud-only tok/s (all) | gain | "
                 "per device: spec / cloud-only | refused (409) | "
                 "cloud computed tokens per output token: spec / cloud-only | "
                 "session states loaded / rebuilt / evicted | machine load (1 min): before / after |\n"
                 "|---|---|---|---|---|---|---|---|---|")
    for n, r in data["capacity"].items():
        sp, co = r["speculative"], r["cloud_only"]
        st = sp.get("sessions") or {}
        work = f"{sp.get('computed_tokens_per_output_token')} / {co.get('computed_tokens_per_output_token')}"
        swaps = f"{st.get('loaded_total', 0)} / {st.get('rebuilt_total', 0)} / {st.get('evicted_total', 0)}"
        load = " / ".join(f"{x:.1f}" for x in r.get("load_1min") or [] if x is not None) or "n/a"
        lines.append(f"| {n} | {sp['aggregate_tok_s']} | {co['aggregate_tok_s']} | {r['capacity_gain']} | "
                     f"{sp['per_device_tok_s']} / {co['per_device_tok_s']} | {sp.get('refused_409')} | "
                     f"{work} | {swaps} | {load} |")
    lines.append("\nDevice i replays the i-th prompt of the set, from its start again where N exceeds it "
                 "(N = 1: the first alone, a code prompt; N = 8 on 4 prompts: each twice, as two sessions). The "
                 "cloud computes each session's prompt once and then only its new tokens: no round is "
                 "refused or recomputed. With N devices the one-thread cloud is the bottleneck, and what the "
                 "gain measures is the cloud's time per output token, speculative against cloud-only.\n")
    pool = data.get("pool")
    if pool:
        lines += ["## A pool of two replicas: with and without session affinity\n",
                  "Two local clouds (one core each) behind one client, as `cloud.endpoints` with two entries. "
                  "With affinity every verification call of a device goes to the replica its session hashes "
                  "to (rendezvous hashing, as the gateway does for an answer and a conversation); without, "
                  "each call goes to the least busy replica, and a call that lands where its session is not "
                  "held is refused (409) and resent with its whole context. Cloud-only completions spread "
                  "the same way as without affinity (each is one request). Same replica: with affinity, the "
                  "share of calls on the replica that served the round before; without, the share of rounds "
                  "that landed where their session was held. Devices per replica: where the hash put each "
                  "device's session (the replicas' ports change per run, so at small N an even split is "
                  "luck).\n",
                  "| N | cloud-only tok/s | speculative, affinity: tok/s (× cloud-only) | devices per replica | "
                  "same replica | refused | "
                  "computed / output token | speculative, no affinity: tok/s (× cloud-only) | same replica | "
                  "refused | computed / output token | one replica (above): computed / output token |\n"
                  "|---|---|---|---|---|---|---|---|---|---|---|---|"]
        one = data["capacity"]
        for n, r in pool.items():
            a, b = r["affinity"], r["no_affinity"]
            single = one.get(n, {}).get("speculative", {}).get("computed_tokens_per_output_token", "n/a")
            split = " / ".join(map(str, r.get("devices_per_replica") or [])) or "n/a"
            lines.append(f"| {n} | {r['cloud_only']['aggregate_tok_s']} | {a['aggregate_tok_s']} ({a['gain']}×) | "
                         f"{split} | {_pct(a.get('same_replica_share'))} | {a.get('refused_409')} | "
                         f"{a.get('computed_tokens_per_output_token')} | "
                         f"{b['aggregate_tok_s']} ({b['gain']}×) | {_pct(b.get('same_replica_share'))} | "
                         f"{b.get('refused_409')} | {b.get('computed_tokens_per_output_token')} | {single} |")
        lines.append("")
    lines.append("Before, with one KV cache for every caller (bench/results/speculative.md: a 2-core AMD "
                 "EPYC, the 40-prompt set, 128 tokens): N = 1 0.78×; N = 2 0.36 against 9.21 tok/s "
                 "(0.04×, 103 refused); N = 4 0.32 against 7.6 (0.04×, 230 refused).\n")
    d = data.get("design")
    if d:
        lines += ["## How the sessions keep their state: measured\n",
                  f"{d['model']}, {d['threads']} thread(s), n_ctx {d['n_ctx']}; a round is "
                  f"{d['round_positions']} positions (k = 8); the fastest of {d['reps']} interleaved "
                  "repetitions. Sequences in one context: one session's round beside "
                  f"{d['other_sessions']} others of the same length. On 2 shared cores under other work "
                  "(load 4-6) rounds vary by up to a third between runs, so the alternatives are timed in "
                  "turn (a first run that timed them one after another was set aside); what held in both "
                  "runs: a swap under 1% of a round, a prefill thousands of swaps.\n",
                  "| L tokens | prefill L | a round alone | saved state: bytes | save + load | "
                  "swap ÷ prefill | swap ÷ round | bit-identical | sequences, unified KV: round (× alone) | "
                  "sequences, split KV: round (× alone) |\n|---|---|---|---|---|---|---|---|---|---|"]
        for length, r in d["by_length"].items():
            st = r["saved_states"]
            seqs = [f"{x['round_s']} s ({x['vs_alone']}×)" if x.get("fits") else "does not fit"
                    for x in (r.get("sequences_unified") or {}, r.get("sequences_split") or {})]
            lines.append(f"| {length} | {r['prefill_s']} s | {r['round_alone_s']} s | {st['bytes']:,} | "
                         f"{round(1000 * (st['save_s'] + st['load_s']), 2)} ms | {st['swap_vs_prefill']} | "
                         f"{st['swap_vs_round']} | {'yes' if st['bit_identical_after_load'] else 'no'} | "
                         f"{seqs[0]} | {seqs[1]} |")
        lines.append("\nChosen: saved states with an LRU (cloud/sessions.py). A swap is a memory copy, a "
                     "small share of one round, and exact; sequences in one context pay on every round "
                     "instead (unified: attention over every session's cells; split: a fixed "
                     "n_ctx / n_seq_max per session), and their number is fixed when the context is made.\n")
    return "\n".join(lines)


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.0%}"


def plot(data: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4))
    rows = data["capacity"]
    ns = [int(n) for n in rows]
    spec = [rows[str(n)]["speculative"]["aggregate_tok_s"] for n in ns]
    a1.plot(ns, spec, "o-", label="speculative")
    a1.plot(ns, [rows[str(n)]["cloud_only"]["aggregate_tok_s"] for n in ns], "s-", label="cloud only")
    for n, y in zip(ns, spec):
        a1.annotate(f"{rows[str(n)]['capacity_gain']}×", (n, y), textcoords="offset points", xytext=(4, -12),
                    fontsize=8)
    pool = data.get("pool") or {}
    if pool:
        pn = [int(n) for n in pool]
        a1.plot(pn, [pool[str(n)]["affinity"]["aggregate_tok_s"] for n in pn], "o--",
                label="speculative, 2 replicas, affinity")
        a1.plot(pn, [pool[str(n)]["no_affinity"]["aggregate_tok_s"] for n in pn], "x--",
                label="speculative, 2 replicas, no affinity")
        a1.plot(pn, [pool[str(n)]["cloud_only"]["aggregate_tok_s"] for n in pn], "s:",
                label="cloud only, 2 replicas")
        ns = sorted(set(ns) | set(pn))
    a1.set(xlabel="devices verifying at once (N)", ylabel="aggregate tokens / s",
           title="Local cloud capacity", xticks=ns)
    a1.set_ylim(bottom=0)
    a1.grid(alpha=0.3)
    a1.legend(fontsize=8)
    d = data.get("design")
    if d:
        by = d["by_length"]
        ls = [int(n) for n in by]

        def ms(get: Callable[[dict], float]) -> list[float]:
            return [1000 * get(by[str(n)]) for n in ls]

        a2.plot(ls, ms(lambda r: r["prefill_s"]), "o-", label="prefill L (an evicted session)")
        a2.plot(ls, ms(lambda r: r["round_alone_s"]), "s-", label="a round, alone")
        a2.plot(ls, ms(lambda r: r["saved_states"]["save_s"] + r["saved_states"]["load_s"]), "^-",
                label="swap: save + load (chosen)")
        for name, style in (("sequences_unified", "v--"), ("sequences_split", "d--")):
            pts = [(n, 1000 * by[str(n)][name]["round_s"]) for n in ls
                   if by[str(n)].get(name, {}).get("fits")]
            if pts:
                a2.plot(*zip(*pts), style, label=f"a round beside {d['other_sessions']} others, {name}")
        a2.set_yscale("log")
        a2.set(xlabel="session context L (tokens)", ylabel="ms", title="What keeping several sessions costs")
        a2.grid(alpha=0.3)
        a2.legend(fontsize=7)
    m = data["machine"]
    fig.suptitle(f"{data['setup']['cloud']} local cloud, one core — {m.get('cpu')}, {m.get('cores')} cores",
                 fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def load_design() -> dict | None:
    return json.loads(DESIGN_CACHE.read_text()) if DESIGN_CACHE.is_file() else None


def write(capacity_runs: dict[str, dict], args: argparse.Namespace, name: str = "capacity",
          pool_runs: dict[str, dict] | None = None) -> dict:
    data = report(capacity_runs, load_design(), args, pool_runs)
    write_results(name, data, markdown(data))
    plot(data, RESULTS / f"{name}.png")
    return data


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--design", action="store_true", help="measure the two designs (cached)")
    ap.add_argument("--cloud", default="qwen2.5-coder-1.5b")
    ap.add_argument("--lengths", type=int, nargs="+", default=[256, 512, 768])
    ap.add_argument("--threads", type=int, default=1, help="the benchmark's local cloud runs one thread")
    ap.add_argument("--reps", type=int, default=4)
    args = ap.parse_args(argv)
    if args.design:
        if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1 and args.threads == 1:
            os.sched_setaffinity(0, {1})  # the core the benchmark gives the cloud
        got = measure_designs(args.cloud, args.lengths, args.threads, args.reps)
        got.update(machine=machine(), date=now_iso())
        DESIGN_CACHE.parent.mkdir(parents=True, exist_ok=True)
        DESIGN_CACHE.write_text(json.dumps(got, indent=2) + "\n")
        print(json.dumps(got["by_length"], indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
