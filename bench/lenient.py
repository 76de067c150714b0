"""Lenient acceptance: how much cloud quality each margin trades for fewer cloud passes, live.

    python bench/lenient.py                      # 16 HumanEval problems, margins 1 2 4
    python bench/lenient.py --n 4 --margins 0 2  # a quick check

Each problem (a fixed-seed sample of HumanEval) runs through the gateway's speculative mode at
temperature 0 (``Runtime``: the device in-process, the local cloud as a child, taking turns), once
with exact acceptance (``speculative.acceptance: exact``: the cloud's own greedy answer) and once per
margin with ``lenient`` (keep the device's token unless the cloud prefers another by more than the
margin, in log-probability; Narasimhan et al., speculative cascades, ICLR 2025). Every answer is
scored as the cascade benchmark scores it (pass@1 in the sandbox). Reports per margin: pass@1 and its
share of exact's, cloud passes per answer, and tokens per cloud pass (accepted drafts + the cloud's
own token, per pass) against exact's. The goal (issue 24): a margin keeping >= 97% of the cloud's
quality with >= 1.5x exact's tokens per pass. Writes ``bench/results/lenient.{json,md,png}``
(``lenient_adaptive.*`` with ``--k 0``: the draft-length controller).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import sys
from pathlib import Path
from typing import Any

from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.cascade import GatewayRunner, load_profile
from bench.cascade_tasks import TASKS
from bench.common import RESULTS, machine, now_iso, write_results


BASELINE_K = 8
FIXED_BASELINE = f"exact, k fixed at {BASELINE_K}"


def margin_overrides(margin: float | None) -> tuple[str, ...]:
    """None: exact acceptance; a number: lenient at that margin."""
    if margin is None:
        return ("speculative.acceptance=exact",)
    return ("speculative.acceptance=lenient", f"speculative.margin={float(margin)!r}")


async def measure(n: int, margins: list[float], max_tokens: int, k: int | None = 8) -> dict[str, Any]:
    """``k``: drafts per round, fixed (None: the adaptive controller, whose timing-driven k differs per
    gateway and so per setting: a fixed k makes tokens per pass a measure of acceptance alone)."""
    task = TASKS["humaneval"]()
    items = sorted(task.items(), key=lambda it: hashlib.sha256(it.id.encode()).hexdigest())[:n]
    profile = load_profile(None)
    settings: list[float | None] = [None, *margins]
    rows: dict[str, list[dict[str, Any]]] = {label(m): [] for m in settings}
    if not k:
        rows[FIXED_BASELINE] = []
    rows["device"] = []  # the curve's other end: no cloud pass at all
    async with GatewayRunner(profile["models"]["device"], profile["models"]["cloud"], cascade=()) as runner:
        await runner.warm_up()
        fixed = ("speculative.adaptive=false", f"speculative.k={k}") if k else ()
        gateways = {label(m): await runner.gateway_with(*margin_overrides(m), *fixed) for m in settings}
        runs = [("tandem-speculative", label(m), gateways[label(m)]) for m in settings]
        if not k:  # the controller's baseline in the same run: exact acceptance at the largest fixed k
            gateways[FIXED_BASELINE] = await runner.gateway_with("speculative.adaptive=false",
                                                                 f"speculative.k={BASELINE_K}")
            runs.append(("tandem-speculative", FIXED_BASELINE, gateways[FIXED_BASELINE]))
        runs.append(("tandem-device", "device", gateways["exact"]))
        with tqdm(total=n * len(runs), desc="problems x settings", unit="run", dynamic_ncols=True) as bar:
            for item in items:
                exact_text = None
                for model, name, gateway in runs:
                    out, job = await runner.through_gateway(model, item, max_tokens, gateway)
                    t = job.trace
                    exact_text = out["text"] if name == "exact" else exact_text
                    rows[name].append({
                        "id": item.id, "correct": task.score(item, out["text"])["correct"],
                        "same_as_exact": out["text"] == exact_text,
                        "cloud_passes": t.cloud_passes, "drafts_proposed": t.drafts_proposed,
                        "drafts_accepted": t.drafts_accepted, "tokens": job.completion_tokens,
                        "total_ms": out["total_ms"]})
                    bar.update(1)
    return {"rows": rows, "items": [it.id for it in items]}


def label(margin: float | None) -> str:
    return "exact" if margin is None else f"lenient {margin:g}"


def summarize(rows: dict[str, list[dict[str, Any]]]) -> dict[str, dict[str, float]]:
    def total(rs: list[dict[str, Any]], key: str) -> float:
        return sum(r.get(key, 0) for r in rs)

    def per_pass(rs: list[dict[str, Any]], key: str, plus: float = 0.0) -> float | None:
        """``key``'s total per cloud pass (``plus`` per pass added: the cloud's own token)."""
        passes = total(rs, "cloud_passes")
        return total(rs, key) / passes + plus if passes else None

    base = rows["exact"]
    q0, t0 = total(base, "correct") / len(base), per_pass(base, "drafts_accepted", 1.0)
    out = {}
    for name, rs in rows.items():
        q, tokens_per_pass = total(rs, "correct") / len(rs), per_pass(rs, "drafts_accepted", 1.0)
        out[name] = {"pass_at_1": round(q, 4), "quality_vs_exact": round(q / q0, 4) if q0 else None,
                     "same_as_exact": total(rs, "same_as_exact"),
                     "cloud_passes": round(total(rs, "cloud_passes") / len(rs), 2),
                     "tokens_per_pass": _round(tokens_per_pass),
                     "tokens_per_pass_vs_exact": _round(tokens_per_pass / t0) if t0 and tokens_per_pass else None,
                     "drafts_per_pass": _round(per_pass(rs, "drafts_proposed")),
                     "ms_per_token": _round(total(rs, "total_ms") / max(1, total(rs, "tokens")))}
    return out


def _round(x: float | None) -> float | None:
    return None if x is None else round(x, 3)


def goal(summary: dict[str, dict[str, float]]) -> dict[str, Any]:
    ok = [n for n, s in summary.items() if n.startswith("lenient") and (s["quality_vs_exact"] or 0) >= 0.97
          and (s["tokens_per_pass_vs_exact"] or 0) >= 1.5]
    return {"met": bool(ok), "by": ok}


def markdown(data: dict[str, Any]) -> str:
    s = data["summary"]
    def pct(x: float | None) -> str:
        return "n/a" if x is None else f"{x:.0%}"

    rows = "\n".join(f"| {n} | {v['pass_at_1']:.3f} | {pct(v['quality_vs_exact'])} | {v['same_as_exact']} | "
                     f"{v['cloud_passes']:.1f} | {_num(v['tokens_per_pass'])} | "
                     f"{_num(v['tokens_per_pass_vs_exact'], '×')} | {_num(v.get('drafts_per_pass'))} | "
                     f"{_num(v.get('ms_per_token'), ' ms', 0)} |"
                     for n, v in s.items())
    g = data["goal"]
    return ("# Lenient acceptance: quality against cloud passes, live\n\n"
            f"{data['n']} HumanEval problems (fixed-seed sample), greedy, {data['max_tokens']} tokens max, "
            f"{_k(data.get('k'))}, through "
            f"the gateway's speculative mode (device {data['models']['device']}, cloud {data['models']['cloud']}). "
            "Exact acceptance is the cloud's own greedy answer; lenient keeps a device token unless the cloud "
            "prefers another by more than the margin (log-probability); device is the device alone (no cloud "
            "pass). 'Same as exact': answers identical to exact's, of "
            f"{data['n']}.\n\n"
            "| acceptance | pass@1 | of exact's | same as exact | cloud passes / answer | tokens / pass | vs exact "
            "| drafts / pass | time / token |\n"
            f"|---|---|---|---|---|---|---|---|---|\n{rows}\n\n"
            "Drafts per pass is the draft length the gateway used (its mean); time per token is wall time over "
            "the answers' tokens, on this machine, the device and the local cloud taking turns on its cores.\n\n"
            "Goal: a margin keeping ≥ 97% of exact's pass@1 with ≥ 1.5× its tokens per pass — "
            f"**{'met by ' + ', '.join(g['by']) if g['met'] else 'not met'}**. With {data['n']} problems one answer "
            f"moves pass@1 by {1 / data['n']:.3f}.\n\n{_controller_line(s)}![lenient]({results_name(data.get('k'))}.png)\n")


def _controller_line(s: dict[str, dict[str, Any]]) -> str:
    """With the controller: its speed against the fixed k in the same run (same acceptance, exact)."""
    base, ctrl = s.get(FIXED_BASELINE), s.get("exact")
    if not base or not base.get("ms_per_token") or not ctrl.get("ms_per_token"):
        return ""
    return (f"The draft-length controller against {BASELINE_K} drafts a round, both exact: "
            f"{ctrl['ms_per_token']:.0f} vs {base['ms_per_token']:.0f} ms a token "
            f"({base['ms_per_token'] / ctrl['ms_per_token']:.2f}× the speed), "
            f"{ctrl['drafts_per_pass']:.1f} drafts a pass on average.\n\n")


def _adaptive(k: Any) -> bool:
    """Whether a run's ``k`` (None, 0 or "adaptive") is the draft-length controller's, not a fixed one."""
    return k in (None, 0, "adaptive")


def results_name(k: Any) -> str:
    """``lenient`` at a fixed k, ``lenient_adaptive`` with the draft-length controller."""
    return "lenient_adaptive" if _adaptive(k) else "lenient"


def _k(k: Any) -> str:
    return "the adaptive draft length" if _adaptive(k) else f"{k} drafts a round"


def _num(x: float | None, unit: str = "", digits: int = 2) -> str:
    return "—" if x is None else f"{x:.{digits}f}{unit}"


def plot(data: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    s = data["summary"]
    fig, ax = plt.subplots(figsize=(6.5, 4))
    xs = [v["cloud_passes"] for v in s.values()]
    ys = [v["pass_at_1"] for v in s.values()]
    ax.plot(xs, ys, "o")  # points, not a curve: the settings are not ordered along one axis
    placed: list[tuple[float, float]] = []
    span_y = (max(ys) - min(ys)) or 1.0
    for name, x, y in zip(s, xs, ys):
        tpp = s[name]["tokens_per_pass"]
        text = name if tpp is None else f"{name}: {tpp:.1f} tokens/pass"
        near = sum(abs(y - py) < 0.05 * span_y and abs(x - px) < 8 for px, py in placed)  # labels that would collide
        ax.annotate(text, (x, y), textcoords="offset points", xytext=(6, 8 - 12 * near), fontsize=8)
        placed.append((x, y))
    ax.margins(x=0.3, y=0.25)  # room for the labels
    ax.set_xlim(left=-1)
    ax.set_xlabel("cloud passes per answer")
    ax.set_ylabel("pass@1")
    ax.set_title("Lenient acceptance: quality vs cloud passes (HumanEval)")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=16)
    ap.add_argument("--margins", type=float, nargs="+", default=[1.0, 2.0, 4.0])
    ap.add_argument("--max-tokens", type=int, default=384)
    ap.add_argument("--k", type=int, default=8, help="drafts per round, fixed (0: the adaptive controller)")
    args = ap.parse_args(argv)
    profile = load_profile(None)
    measured = asyncio.run(measure(args.n, args.margins, args.max_tokens, args.k or None))
    summary = summarize(measured["rows"])
    data = {"n": args.n, "max_tokens": args.max_tokens, "margins": args.margins, "k": args.k or "adaptive",
            "models": profile["models"], "summary": summary, "goal": goal(summary), **measured,
            "machine": machine(), "date": now_iso()}
    name = results_name(data["k"])
    write_results(name, data, markdown(data))
    plot(data, RESULTS / f"{name}.png")
    print(markdown(data))
    return 0


if __name__ == "__main__":
    sys.exit(main())
