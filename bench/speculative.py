"""Device–cloud speculative decoding vs device-only and cloud-only, across simulated RTTs.

    python bench/speculative.py                 # or: tandem bench speculative
    python bench/speculative.py --prompts 4 --max-tokens 32 --rtts 0 50

Real models: Qwen2.5-Coder-0.5B drafts on the "device", Qwen2.5-Coder-1.5B verifies in
the "cloud" (Tandem's local cloud, over HTTP). One 2-core machine emulates two: the device
gets core 0 and one thread, the cloud process core 1 and one thread, and the cloud client
adds the simulated round-trip time to every call. Greedy (temperature 0).

Per RTT it reports tokens/s end to end, mean accepted drafts per cloud pass, cloud
passes per output token (the cloud's cost: cloud-only needs one per token), bytes up and
down per token, and checks losslessness in the same run: the speculative token ids must
equal the cloud-only greedy ids, or differ first at a near-tie (cloud top-2 within 0.6
logits — llama.cpp's batched and one-token evaluations differ by that much).

Writes bench/results/speculative.{json,md,png}.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path

from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import RESULTS, machine, now_iso, write_results  # noqa: E402
from device_runtime.engine import LlamaEngine, SamplingParams  # noqa: E402
from device_runtime.models import ModelStore  # noqa: E402
from device_runtime.worker import DeviceWorker  # noqa: E402
from gateway.cloud import CallStats, CloudClient  # noqa: E402
from gateway.config import LocalCloudConfig  # noqa: E402
from gateway.local_cloud import LocalCloudProcess  # noqa: E402
from gateway.output import AnswerBuilder  # noqa: E402
from gateway.speculative import SpeculativeDecoder, SpeculativeSettings  # noqa: E402
from gateway.trace import RouteTrace  # noqa: E402
from routers.draft_length import DraftLengthController  # noqa: E402

NEAR_TIE = 0.6
PROMPTS = [
    "Write a Python function that checks whether a number is prime.",
    "Write a JavaScript function that debounces another function.",
    "Explain the difference between a process and a thread in three sentences.",
    "Write a SQL query that returns the ten most recent orders with their customer names.",
    "What are the main causes of the French Revolution? Answer briefly.",
    "Write a Python class for a stack with push, pop and peek.",
]


def local_cloud(model: str) -> LocalCloudProcess:
    """The cloud model on core 1 (the device takes core 0): two machines emulated on one."""
    cfg = LocalCloudConfig(model=model, n_threads=1, n_ctx=4096)
    cores = {1} if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1 else None
    return LocalCloudProcess(cfg, pull=False, cpus=cores, quiet=True)


async def wait_for(client: CloudClient, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await client.probe():
            return
        await asyncio.sleep(0.3)
    raise RuntimeError("cloud did not start")


async def cloud_only(client: CloudClient, prompt: list[int], max_tokens: int) -> tuple[list[int], float, CallStats]:
    stats = CallStats()
    t0 = time.perf_counter()
    out = await client.request_json("POST", "/v1/completions", {
        "model": client.model, "prompt": prompt, "max_tokens": max_tokens, "temperature": 0,
        "return_token_ids": True}, stats)
    return [int(t) for t in out["choices"][0]["token_ids"]], time.perf_counter() - t0, stats


async def speculative(engine: LlamaEngine, worker: DeviceWorker, client: CloudClient, prompt: list[int],
                      max_tokens: int, pipeline: bool, controller: DraftLengthController):
    trace = RouteTrace(mode="speculative")
    out = AnswerBuilder(engine.token_bytes, engine.is_eos, max_tokens, (), trace)
    stats = CallStats()
    t0 = time.perf_counter()
    async with worker.turn() as call:
        dec = SpeculativeDecoder(engine, call, client, out, trace, stats, controller,
                                 SpeculativeSettings(pipeline=pipeline), SamplingParams())
        async for _ in dec.run(prompt):
            pass
    return out.token_ids, time.perf_counter() - t0, trace, stats


async def near_tie_gap(client: CloudClient, context: list[int], a: int, b: int) -> float:
    """The cloud's logit gap between tokens a and b after ``context`` (logprob gap = logit gap)."""
    out = await client.request_json("POST", "/v1/completions", {
        "model": client.model, "prompt": context + [a], "max_tokens": 1, "temperature": 0,
        "prompt_logprobs": 20, "return_tokens_as_token_ids": True})
    entry = out["choices"][0]["prompt_logprobs"][-1]
    lp = {int(k.split(":")[-1]) if isinstance(k, str) and k.startswith("token_id:") else int(k): v["logprob"]
          for k, v in entry.items()}
    return abs(lp[a] - lp[b]) if b in lp else float("inf")


def plot(by_rtt: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rtts = [int(r) for r in by_rtt]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4))
    for key, label, style in (("device_tok_s", "device only (0.5B)", "o--"), ("cloud_tok_s", "cloud only (1.5B)", "s-"),
                              ("speculative_tok_s", "speculative, pipelined", "^-"),
                              ("speculative_nopipe_tok_s", "speculative, no pipelining", "v:")):
        if all(key in by_rtt[str(r)] for r in rtts):
            a1.plot(rtts, [by_rtt[str(r)][key] for r in rtts], style, label=label)
    a1.set_xlabel("simulated RTT (ms)")
    a1.set_ylabel("tokens / s")
    a1.set_title("End-to-end decode speed")
    a1.grid(alpha=0.3)
    a1.legend(fontsize=8)
    a2.bar([str(r) for r in rtts], [1.0] * len(rtts), color="#ccc", label="cloud only")
    a2.bar([str(r) for r in rtts], [by_rtt[str(r)]["cloud_passes_per_token"] for r in rtts], color="#4C72B0",
           label="speculative")
    a2.set_xlabel("simulated RTT (ms)")
    a2.set_ylabel("cloud forward passes per output token")
    a2.set_title("Cloud work per token")
    a2.legend(fontsize=8)
    fig.suptitle("Qwen2.5-Coder 0.5B drafts, 1.5B verifies — one core each", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


async def run(args: argparse.Namespace) -> dict:
    store = ModelStore()
    device_path = store.resolve(args.device, pull=True)
    store.resolve(args.cloud, pull=True)
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {0})
    engine = LlamaEngine(device_path, n_ctx=2048, n_threads=1, name=args.device)
    worker = DeviceWorker(engine)
    cloud = local_cloud(args.cloud)
    cloud_url = await cloud.start()
    prompts = [engine.chat_tokens([{"role": "user", "content": p}]) for p in PROMPTS[: args.prompts]]
    by_rtt: dict[str, dict] = {}
    lossless, exact, near_ties, compared, gaps = True, 0, 0, 0, []
    try:
        # device only: independent of the network
        dev_tokens, dev_s = 0, 0.0
        for p in prompts:
            t0 = time.perf_counter()
            dev_tokens += sum(1 for _ in engine.generate(p, SamplingParams(max_tokens=args.max_tokens)))
            dev_s += time.perf_counter() - t0
        device_tok_s = dev_tokens / dev_s
        for rtt in tqdm(args.rtts, desc="RTTs", unit="rtt"):
            client = CloudClient([cloud_url], simulated_rtt_ms=rtt, timeout_s=300)
            await client.start()
            await wait_for(client)
            await cloud_only(client, prompts[0], 4)  # warm-up
            row: dict = {"device_tok_s": round(device_tok_s, 2)}
            c_tok = c_s = 0.0
            refs = []
            for p in prompts:
                ids, secs, _ = await cloud_only(client, p, args.max_tokens)
                refs.append([t for t in ids if not engine.is_eos(t)])
                c_tok += len(ids)
                c_s += secs
            row["cloud_tok_s"] = round(c_tok / c_s, 2)
            for pipeline in (True, False):
                ctrl = DraftLengthController(k=4, k_max=8, pipelined=pipeline)
                tok = secs_total = passes = acc = prop = up = down = 0
                for p, ref in zip(prompts, refs):
                    ids, secs, trace, stats = await speculative(engine, worker, client, p, args.max_tokens, pipeline, ctrl)
                    tok += len(ids)
                    secs_total += secs
                    passes += trace.cloud_passes
                    acc += trace.drafts_accepted
                    prop += trace.drafts_proposed
                    up += stats.bytes_up
                    down += stats.bytes_down
                    if pipeline:
                        compared += 1
                        if ids == ref:
                            exact += 1
                        else:
                            j = next((i for i, (x, y) in enumerate(zip(ids, ref)) if x != y), None)
                            gap = float("inf") if j is None else await near_tie_gap(client, p + ref[:j], ref[j], ids[j])
                            gaps.append(round(gap, 4))
                            if gap < NEAR_TIE:
                                near_ties += 1
                            else:
                                lossless = False
                                print(f"divergence beyond a near-tie at rtt={rtt}: token {j}, gap {gap:.3f}")
                if pipeline:
                    row.update({
                        "speculative_tok_s": round(tok / secs_total, 2),
                        "accepted_per_pass": round(acc / passes, 3),
                        "mean_acceptance_length": round((acc + passes) / passes, 3),
                        "acceptance_rate": round(acc / prop, 3) if prop else None,
                        "cloud_passes_per_token": round(passes / tok, 3),
                        "bytes_up_per_token": round(up / tok, 1),
                        "bytes_down_per_token": round(down / tok, 1),
                        "final_k": ctrl.k,
                    })
                else:
                    row["speculative_nopipe_tok_s"] = round(tok / secs_total, 2)
            row["speedup_vs_cloud"] = round(row["speculative_tok_s"] / row["cloud_tok_s"], 3)
            by_rtt[str(rtt)] = row
            tqdm.write(f"rtt {rtt:>3} ms: {row}")
            await client.close()
    finally:
        cloud.stop()
        worker.shutdown()
    base = by_rtt[str(args.rtts[0])]
    return {
        "summary": {
            "accepted_per_pass": base["accepted_per_pass"],
            "mean_acceptance_length": base["mean_acceptance_length"],
            "cloud_passes_per_token": base["cloud_passes_per_token"],
            "bytes_up_per_token": base["bytes_up_per_token"],
            "bytes_down_per_token": base["bytes_down_per_token"],
            "lossless": lossless,
            "lossless_detail": {"compared": compared, "exact": exact, "near_tie_divergences": near_ties,
                                "near_tie_bound_logits": NEAR_TIE, "gaps_at_divergence": gaps},
            "tok_s": {"device": base["device_tok_s"], "cloud": base["cloud_tok_s"],
                      "speculative": base["speculative_tok_s"]},
            "at_rtt_ms": args.rtts[0],
        },
        "by_rtt_ms": by_rtt,
        "setup": {"device": args.device, "cloud": args.cloud, "prompts": args.prompts, "max_tokens": args.max_tokens,
                  "threads": "device 1 (core 0), cloud 1 (core 1)", "temperature": 0,
                  "rtt": "added by the cloud client to every call (one full round trip per call)"},
        "machine": machine(),
        "date": now_iso(),
    }


def markdown(data: dict) -> str:
    s = data["summary"]
    rows = "\n".join(
        f"| {r} | {v['device_tok_s']} | {v['cloud_tok_s']} | {v['speculative_tok_s']} | {v['speculative_nopipe_tok_s']} "
        f"| {v['accepted_per_pass']} | {v['cloud_passes_per_token']} | {v['bytes_up_per_token']} | "
        f"{v['bytes_down_per_token']} |" for r, v in data["by_rtt_ms"].items())
    d = s["lossless_detail"]
    return (
        "# Device–cloud speculative decoding\n\n"
        f"{data['setup']['device']} drafts on one core, {data['setup']['cloud']} verifies on the other (local cloud "
        f"over HTTP); {data['setup']['prompts']} prompts × {data['setup']['max_tokens']} tokens, greedy.\n\n"
        f"Lossless: **{s['lossless']}** — {d['exact']}/{d['compared']} outputs identical to cloud-only greedy, "
        f"{d['near_tie_divergences']} diverge first at a near-tie (< {d['near_tie_bound_logits']} logits).\n\n"
        "| RTT ms | device tok/s | cloud tok/s | speculative tok/s | spec. no pipelining | accepted / pass | "
        "cloud passes / token | bytes up / token | bytes down / token |\n|---|---|---|---|---|---|---|---|---|\n"
        + rows + "\n\n![speculative](speculative.png)\n")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="qwen2.5-coder-0.5b")
    ap.add_argument("--cloud", default="qwen2.5-coder-1.5b")
    ap.add_argument("--prompts", type=int, default=6)
    ap.add_argument("--max-tokens", type=int, default=48)
    ap.add_argument("--rtts", type=int, nargs="+", default=[0, 20, 50, 100])
    args = ap.parse_args()
    data = asyncio.run(run(args))
    write_results("speculative", data, markdown(data))
    plot(data["by_rtt_ms"], RESULTS / "speculative.png")
    print(f"wrote {RESULTS / 'speculative.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
