"""``tandem calibrate``: the cascade threshold from data, on the real device and cloud models.

    tandem calibrate --cloud-fraction 0.3              # escalate the 30% least confident answers
    tandem calibrate --target-agreement 0.9            # fewest escalations that keep 90% "cloud-quality"
    tandem calibrate --prompts my_prompts.txt          # one prompt per line

Each prompt is answered by the device (greedy) and the answer scored the way the configured
cascade policy judges it: the lowest running mean for ``stream``, the gate's method for
``gate``. The cloud then verifies the answer as one long draft; the share of its tokens the
cloud accepts says whether "the cloud would have said the same" (the label).
Prints both thresholds and the config line to use. The thresholds come from
``routers.confidence`` (``threshold_for_cloud_fraction``, ``threshold_for_quality``): the same
code the cascade benchmark (``bench/cascade.py``) fits its thresholds with.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
from pathlib import Path

from device_runtime.engine import SamplingParams
from gateway.cloud_client.transport import CallStats
from gateway.config import TandemConfig
from gateway.runtime import Runtime
from routers.confidence import stream_score, threshold_for_cloud_fraction, threshold_for_quality
from routers.query import OUTPUT_PRICE_RATIO, embed_length, escalation_gains, fit_from_records, unpack_vector

DEFAULT_PROMPTS = [
    "Write a Python function that reverses a linked list.",
    "What is the difference between TCP and UDP?",
    "Write a SQL query that finds duplicate emails in a users table.",
    "Explain what a closure is in JavaScript.",
    "Who wrote the novel War and Peace?",
    "Write a bash script that backs up a directory with a timestamp.",
    "What is the time complexity of binary search, and why?",
    "用一句话解释什么是哈希表。",
    "Write a regular expression that matches an ISO date.",
    "Name three sorting algorithms and their average complexity.",
    "What causes the seasons on Earth?",
    "Write a Go function that sums a slice of integers.",
]


async def _calibrate(config: TandemConfig, prompts: list[str], max_tokens: int) -> list[tuple[float, float]]:
    config.server.port = 0
    rows: list[tuple[float, float]] = []
    async with Runtime(config) as rt:
        collab = rt.collaborator
        assert collab is not None
        if collab.cloud is None or not collab.tokenizers.compatible:
            raise SystemExit(
                f"calibration needs a cloud with the device's tokenizer ({collab.tokenizers.reason})")
        engine, params = collab.engine, SamplingParams(max_tokens=max_tokens, temperature=0.0)
        entropy = collab.confidence.needs_entropy
        for i, text in enumerate(prompts, 1):
            prompt = engine.chat_tokens([{"role": "user", "content": text}])
            async with collab.device.turn() as call:
                events = await call(lambda p: list(engine.generate(p, params, with_entropy=entropy)), prompt)
            answer = [ev.token_id for ev in events]
            logprobs = [ev.logprob for ev in events]
            if config.cascade.policy == "stream":  # the lowest running mean decides a streamed answer
                score = stream_score(logprobs, config.cascade.window)
            else:
                entropies = [ev.entropy or 0.0 for ev in events] if entropy else None
                score = collab.confidence.score(logprobs, entropies)
            result = await collab.cloud.verify(prompt, answer, CallStats())
            agreement = result.accepted / len(answer) if answer else 1.0
            rows.append((score, agreement))
            print(f"[{i}/{len(prompts)}] confidence {score:7.3f}  "
                  f"cloud agreement {agreement:5.2f}  {text[:50]}", flush=True)
    return rows


def run_calibrate(config: TandemConfig, args: argparse.Namespace) -> int:
    if args.query_router:
        ratio = OUTPUT_PRICE_RATIO if args.output_price_ratio is None else args.output_price_ratio
        return fit_query_router(args.records, args.query_router, ratio)
    prompts = DEFAULT_PROMPTS
    if args.prompts:
        prompts = [line.strip() for line in Path(args.prompts).read_text().splitlines() if line.strip()]
    rows = asyncio.run(_calibrate(config, prompts, args.max_tokens))
    scores = [s for s, _ in rows]
    agree = [a >= args.agree for _, a in rows]
    by_fraction = threshold_for_cloud_fraction(scores, args.cloud_fraction)
    by_quality = threshold_for_quality(scores, agree, args.target_agreement)
    escalated = sum(s < by_quality for s in scores)
    print(f"\n{len(rows)} answers; median confidence {statistics.median(scores):.3f}; "
          f"device answers the cloud would keep (≥{args.agree:.0%} of tokens accepted): "
          f"{sum(agree)}/{len(rows)}")
    print(f"threshold for {args.cloud_fraction:.0%} cloud calls: {by_fraction:.4f}")
    print(f"threshold for {args.target_agreement:.0%} cloud-quality answers: {by_quality:.4f} "
          f"(escalates {escalated}/{len(rows)})")
    chosen = by_quality if args.target_agreement and by_quality != float("inf") else by_fraction
    c = config.cascade
    if c.policy == "stream":
        print(f"\nconfig:  cascade: {{policy: stream, window: {c.window}, window_threshold: {chosen:.4f}}}"
              f"   or   --set cascade.window_threshold={chosen:.4f}")
    else:
        print(f"\nconfig:  cascade: {{policy: gate, threshold: {chosen:.4f}, method: {c.method}}}"
              f"   or   --set cascade.threshold={chosen:.4f}")
    return 0


def read_records(paths: list[str]) -> list[dict]:
    """Records from .jsonl / .jsonl.gz files, those with an embedding and both scores."""
    import gzip
    import json

    records = []
    for path in paths:
        opener = gzip.open if path.endswith(".gz") else open
        with opener(path, "rt", encoding="utf-8") as f:
            records += [json.loads(line) for line in f if line.strip()]
    return [r for r in records if r.get("device", {}).get("embedding") and "score" in r.get("escalation", {})]


def fit_query_router(paths: list[str], out: str, output_price_ratio: float = OUTPUT_PRICE_RATIO) -> int:
    """``tandem calibrate --query-router OUT --records ...``: the router fitted on the records' calibration
    half (per task, fixed seed: the benchmark's split), checked on the other half, written to OUT. A cloud
    answer costs its prompt tokens plus ``output_price_ratio`` times its output tokens."""
    import numpy as np

    records = read_records(paths)
    if len(records) < 20:
        raise SystemExit(f"{len(records)} usable records in {', '.join(paths) or 'no files'}; need 20")
    tasks = sorted({r["id"].split("/", 1)[0].lower() for r in records})
    if output_price_ratio <= 0:
        raise SystemExit(f"--output-price-ratio must be positive, not {output_price_ratio}")
    fitted_on = (f"{len(records)} records ({', '.join(tasks)}), calibration half; "
                 f"prompts embedded at {embed_length(records[0])} tokens; "
                 f"output tokens priced {output_price_ratio:g}x input")
    try:
        router, cal, held = fit_from_records(records, fitted_on=fitted_on,
                                             output_price_ratio=output_price_ratio)
    except ValueError as exc:
        raise SystemExit(str(exc)) from exc
    held_recs = [records[i] for i in held]
    p = router.p_gains(np.stack([unpack_vector(r["device"]["embedding"]) for r in held_recs]),
                       np.asarray([r["prompt_tokens"] for r in held_recs], dtype=np.float64))
    y = escalation_gains(held_recs)
    sent = p >= router.threshold
    fixed = y[sent].mean() if sent.any() else 0.0
    print(f"{len(cal)} calibration / {len(held)} held-out records; held-out: AUROC {auroc(p, y):.3f}; at "
          f"P(gain) >= {router.threshold:.3f}: {sent.mean():.0%} go to the cloud, {fixed:.0%} of them fixed "
          f"by it (against {y.mean():.0%} of all)")
    router.save(out)
    print(f"wrote {out}\nconfig:  routing: {{query_router: {out}}}   or   --set routing.query_router={out}")
    return 0


def auroc(scores, labels) -> float:
    """P(a random positive scores above a random negative), ties half: 0.5 is chance."""
    import numpy as np

    s, y = np.asarray(scores, dtype=np.float64), np.asarray(labels) > 0.5
    pos, neg = s[y], s[~y]
    if not len(pos) or not len(neg):
        return float("nan")
    greater = (pos[:, None] > neg[None, :]).mean()
    ties = (pos[:, None] == neg[None, :]).mean()
    return float(greater + 0.5 * ties)
