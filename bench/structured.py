"""Structured outputs: does every answer follow its schema, and what does the grammar cost the device?

    python bench/structured.py                       # 50 schemas; overhead on the device model
    python bench/structured.py --n 50 --gateway 10   # and 10 of them through the gateway per mode

Two measurements, both on the schemas of ``gateway/testing/schemas.py`` (nested objects, arrays,
enums, required fields, bounded numbers):

* grammar overhead: the device model (Qwen2.5-Coder-0.5B by default) answers each question with
  and without the schema's grammar, greedy; per-token decode time with the mask / without
  (the goal: at most 1.2x). Same prompts, same process, interleaved.
* validity: the answers with the grammar are parsed and validated (``jsonschema``); with
  ``--gateway N`` the first N schemas also go through a gateway built by ``Runtime`` (the
  factory ``tandem serve`` uses, with the local cloud) in device, speculative, cascade and cloud modes;
* lossless under a grammar: the speculative answer (the device drafts under the grammar, the cloud's
  best allowed token among its top log-probabilities is the verdict) against the cloud's own
  constrained greedy answer (the local cloud decoding under the same schema), per schema: equal,
  different where a grammar fallback happened (no allowed token in the cloud's top-k, so the
  device's token stood), or different without one (the batch-versus-one-at-a-time near-ties that
  ``tests/test_structured.py`` measures with a same-model pair).

``--reuse-overhead`` keeps the overhead section of the last run (its own date) and runs only the
gateway part.

Writes bench/results/structured.{json,md,png}.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import RESULTS, machine, now_iso, write_results  # noqa: E402
from device_runtime.engine import LlamaEngine, SamplingParams  # noqa: E402
from device_runtime.grammar import Grammar  # noqa: E402
from device_runtime.models import ModelStore  # noqa: E402
from gateway.testing.schemas import SchemaCase, schema_cases, valid  # noqa: E402

MODES = ("tandem-device", "tandem-speculative", "tandem-cascade", "tandem-cloud")


def timed_answer(engine: LlamaEngine, case: SchemaCase, constrained: bool, max_tokens: int) -> dict[str, Any]:
    """One greedy answer; the decode time per token excludes the prompt's prefill."""
    prompt = engine.chat_tokens(case.messages)
    engine.truncate(0)
    constraint = engine.constraint(Grammar.json_schema(case.schema)) if constrained else None
    events, stamps = [], []
    t0 = time.perf_counter()
    for ev in engine.generate(prompt, SamplingParams(max_tokens=max_tokens), constraint=constraint):
        events.append(ev)
        stamps.append(time.perf_counter())
    text = engine.detokenize([e.token_id for e in events if not engine.is_eos(e.token_id)])
    decode_s = stamps[-1] - stamps[0] if len(stamps) > 1 else 0.0
    return {
        "tokens": len(events),
        "decode_s": decode_s,
        "first_token_s": stamps[0] - t0 if stamps else None,
        "valid": valid(text, case.schema),
        "text": text,
    }


def overhead(engine: LlamaEngine, cases: list[SchemaCase], max_tokens: int) -> dict[str, Any]:
    rows = []
    for i, case in enumerate(cases):
        free = timed_answer(engine, case, False, max_tokens)
        bound = timed_answer(engine, case, True, max_tokens)
        rows.append({"case": case.name, "free": free, "constrained": bound})
        print(
            f"[{i + 1}/{len(cases)}] {case.name}: valid={bound['valid']} "
            f"{_per_token(bound) * 1000:.1f} vs {_per_token(free) * 1000:.1f} ms/token",
            flush=True,
        )
    per_free = sum(r["free"]["decode_s"] for r in rows) / max(1, sum(r["free"]["tokens"] - 1 for r in rows))
    per_bound = sum(r["constrained"]["decode_s"] for r in rows) / max(
        1, sum(r["constrained"]["tokens"] - 1 for r in rows)
    )
    return {
        "rows": rows,
        "ms_per_token_free": per_free * 1000,
        "ms_per_token_constrained": per_bound * 1000,
        "ratio": per_bound / per_free if per_free else None,
        "valid": sum(r["constrained"]["valid"] for r in rows),
        "n": len(rows),
        "free_valid": sum(r["free"]["valid"] for r in rows),
    }


def _per_token(answer: dict[str, Any]) -> float:
    return answer["decode_s"] / max(1, answer["tokens"] - 1)


async def through_gateway(
    cases: list[SchemaCase], device: str, cloud: str, max_tokens: int
) -> dict[str, Any]:
    import openai

    from gateway.config import load_config
    from gateway.runtime import Runtime

    config = load_config(
        overrides=[
            f"device.model={device}",
            f"cloud.local.model={cloud}",
            "server.port=0",
            "cascade.policy=gate",
        ]
    )
    out: dict[str, Any] = {}
    async with Runtime(config) as rt:
        client = openai.AsyncOpenAI(base_url=f"{rt.url}/v1", api_key="unused", max_retries=0, timeout=600)
        for mode in MODES:
            results = []
            for case in cases:
                t0 = time.perf_counter()
                r = await client.chat.completions.create(
                    model=mode,
                    messages=case.messages,  # type: ignore[arg-type]
                    response_format=case.response_format,  # type: ignore[arg-type]
                    max_tokens=max_tokens,
                    temperature=0,
                )
                trace = (r.model_extra or {}).get("tandem", {})
                text = r.choices[0].message.content or ""
                results.append(
                    {
                        "case": case.name,
                        "text": text,
                        "valid": valid(text, case.schema),
                        "seconds": time.perf_counter() - t0,
                        "grammar_fallbacks": trace.get("grammar_fallbacks", 0),
                        "grammar_probes": trace.get("grammar_probes", 0),
                        "escalated": trace.get("escalated"),
                    }
                )
            out[mode] = {
                "valid": sum(x["valid"] for x in results),
                "n": len(results),
                "rows": results,
                "grammar_fallbacks": sum(x["grammar_fallbacks"] for x in results),
                "grammar_probes": sum(x["grammar_probes"] for x in results),
            }
            print(
                f"{mode}: {out[mode]['valid']}/{len(results)} valid, "
                f"{out[mode]['grammar_fallbacks']} grammar fallbacks, {out[mode]['grammar_probes']} probes",
                flush=True,
            )
    out["lossless"] = lossless(out["tandem-speculative"]["rows"], out["tandem-cloud"]["rows"])
    return out


def lossless(spec: list[dict[str, Any]], cloud: list[dict[str, Any]]) -> dict[str, Any]:
    """Speculative against the cloud's own constrained answer, schema by schema."""
    equal = [s["case"] for s, c in zip(spec, cloud) if s["text"] == c["text"]]
    fallback = [s["case"] for s, c in zip(spec, cloud) if s["text"] != c["text"] and s["grammar_fallbacks"]]
    other = [s["case"] for s, c in zip(spec, cloud) if s["text"] != c["text"] and not s["grammar_fallbacks"]]
    return {"n": len(spec), "equal": len(equal), "differ_after_fallback": fallback,
            "differ_without_fallback": other,
            "equal_where_no_fallback": sum(1 for s, c in zip(spec, cloud)
                                           if not s["grammar_fallbacks"] and s["text"] == c["text"]),
            "no_fallback": sum(1 for s in spec if not s["grammar_fallbacks"])}


def report(data: dict[str, Any]) -> str:
    o = data["overhead"]
    met = o["ratio"] is not None and o["ratio"] <= 1.2
    lines = [
        "# Structured outputs",
        "",
        f"{o['n']} JSON schemas of varied shape (`gateway/testing/schemas.py`), greedy, "
        f"device model `{data['settings']['device']}` (grammar overhead measured {o.get('date', data['date'])}).",
        "",
        "| | ms / token | valid JSON for its schema |",
        "|---|---|---|",
        f"| without a grammar | {o['ms_per_token_free']:.2f} | {o['free_valid']}/{o['n']} |",
        f"| with the schema's grammar | {o['ms_per_token_constrained']:.2f} | {o['valid']}/{o['n']} |",
        "",
        f"Grammar overhead: **{o['ratio']:.3f}×** per token (goal ≤ 1.2×: {'met' if met else 'not met'}).",
        "",
    ]
    if data.get("gateway"):
        lines += [
            "Through the gateway (local cloud, the same schemas):",
            "",
            "| mode | valid | cloud asked for its best allowed token | grammar fallbacks |",
            "|---|---|---|---|",
        ]
        for mode, g in data["gateway"].items():
            if mode == "lossless":
                continue
            probes = g.get("grammar_probes", 0)
            lines.append(f"| {mode} | {g['valid']}/{g['n']} | {probes} | {g['grammar_fallbacks']} |")
        lines += [
            "",
            "Where none of the cloud's top 20 tokens is allowed, speculative decoding asks the cloud for its "
            "best allowed token (one more call: vLLM's `allowed_token_ids`, which the local cloud serves too) "
            "where the grammar allows at most 4,096 tokens; a grammar fallback is such a position with more "
            "(inside a free string), where the device's grammatical token stands.",
            "",
        ]
        ll = data["gateway"].get("lossless")
        if ll:
            lines += [
                f"Speculative against the cloud's own constrained greedy answer (temperature 0): "
                f"**{ll['equal']}/{ll['n']} equal**; where no grammar fallback happened, "
                f"{ll['equal_where_no_fallback']}/{ll['no_fallback']} equal. Different after a fallback: "
                f"{len(ll['differ_after_fallback'])} ({', '.join(ll['differ_after_fallback']) or 'none'}); "
                f"different without one: {len(ll['differ_without_fallback'])} "
                f"({', '.join(ll['differ_without_fallback']) or 'none'}).",
                "",
            ]
    lines.append("![structured](structured.png)")
    return "\n".join(lines)


def plot(data: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = data["overhead"]["rows"]
    free = [_per_token(r["free"]) * 1000 for r in rows]
    bound = [_per_token(r["constrained"]) * 1000 for r in rows]
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.scatter(free, bound, s=14)
    top = max(free + bound) * 1.05
    ax.plot([0, top], [0, top], "k--", lw=1, label="same cost")
    ax.plot([0, top], [0, 1.2 * top], ":", color="red", lw=1, label="1.2× (goal)")
    ax.set_xlabel("ms per token, free text")
    ax.set_ylabel("ms per token, under the schema")
    ax.set_title(f"Grammar overhead per schema: {data['overhead']['ratio']:.3f}× overall")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=50)
    ap.add_argument(
        "--gateway", type=int, default=0, help="also send the first N schemas through the gateway"
    )
    ap.add_argument("--device", default="qwen2.5-coder-0.5b")
    ap.add_argument("--cloud", default="qwen2.5-coder-1.5b")
    ap.add_argument("--max-tokens", type=int, default=160)
    ap.add_argument("--threads", type=int, default=1, help="llama.cpp threads for the overhead run")
    ap.add_argument("--reuse-overhead", action="store_true",
                    help="keep the last run's overhead section (bench/results/structured.json)")
    args = ap.parse_args()
    cases = schema_cases(args.n)
    data: dict[str, Any] = {
        "machine": machine(),
        "date": now_iso(),
        "settings": {
            "device": args.device,
            "cloud": args.cloud,
            "n": args.n,
            "max_tokens": args.max_tokens,
            "threads": args.threads,
        },
    }
    if args.reuse_overhead:
        last = json.loads((RESULTS / "structured.json").read_text())
        same = ("device", "n", "max_tokens", "threads")
        if any(last["settings"].get(k) != data["settings"][k] for k in same):
            ap.error(f"--reuse-overhead: the last run's settings differ ({ {k: last['settings'].get(k) for k in same} })")
        data["overhead"] = {**last["overhead"], "date": last["overhead"].get("date", last["date"])}
    else:
        engine = LlamaEngine(
            ModelStore(progress=False).resolve(args.device, pull=True),
            n_ctx=2048,
            n_threads=args.threads,
            name=args.device,
        )
        data["overhead"] = {**overhead(engine, cases, args.max_tokens), "date": data["date"]}
        del engine
    if args.gateway:
        data["gateway"] = asyncio.run(
            through_gateway(cases[: args.gateway], args.device, args.cloud, args.max_tokens)
        )
    path = write_results("structured", data, report(data))
    plot(data, path.with_suffix(".png"))
    print(report(data))


if __name__ == "__main__":
    main()
