"""Routing policies scored on cached per-item results: no model runs here.

    items = Items.from_records(records, tail_quantile=0.1)
    cal, held = split_ids(items.ids, seed=12)              # fixed-seed halves
    summary = summarize(items, cal, held, cost, settings)   # fitted on cal, reported on held

Every policy decides per item whether the device's answer stands or the request escalates.
An escalated item gets the answer the gateway's cascade actually produced when it escalated
(the device answer verified by the cloud as a draft, then continued speculatively), with
that run's cloud tokens, passes and times — measured, not assumed equal to cloud-only.

Policies:
* ``gate-<score>`` — the confidence gate with each score of ``routers.confidence.score``
  (mean, min, tail, entropy). As in the gateway, an answer that loops
  (``gateway.core.verifiers.degeneration.repetition`` above its limit) escalates whatever its score.
* ``learned`` — logistic regression (numpy) on confidence features and prompt length,
  predicting "the device is right"; trained on the calibration half only.
* ``stream-<window>`` — the streaming cascade (the gateway's ``cascade.policy=stream``), replayed from
  per-token data with the gateway's own rule (``routers.confidence.first_unsure``; see ``stream_outcome``).
* ``selftest`` — (HumanEval) the device's answer run on the examples its problem's docstring gives
  (``bench.cascade_tasks.HumanEval.self_test``): answers that fail one escalate first, then answers
  with no examples to run, then those that pass them all; the entropy score orders each group.
  Its sandbox run counts in every answer's time. The gateway runs the same check when the user turns
  it on (``cascade.verifiers: [examples, confidence]``: it executes generated code, in the sandbox), so
  it is ``Policy.opt_in``: reported, never recommended as ``tandem-auto``'s default.
* ``random`` — escalates a random share f: its expected value, not one draw.
* ``oracle`` — escalates exactly the items where that turns a wrong answer into a right one.

Thresholds are fitted on the calibration half with ``routers.confidence``'s
``threshold_for_cloud_fraction`` / ``threshold_for_quality`` (the code ``tandem calibrate`` uses)
and every number in the summary is measured on the held-out half.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gateway.core.verifiers.degeneration import MAX_NGRAM_SHARE, repetition
from routers.query import fit_logistic, split_ids, task_of, unpack_vector  # noqa: F401 (split_ids: the bench's)
from routers.confidence import (
    first_unsure,
    score,
    stream_score,
    threshold_for_cloud_fraction,
)

SCORES = ("mean", "min", "tail", "entropy")


@dataclass(frozen=True)
class CostModel:
    """Cloud price per million tokens, device energy per token, network round trip."""

    cloud_usd_per_m_input: float = 0.10
    cloud_usd_per_m_output: float = 0.30
    device_j_per_token: float = 0.05
    rtt_ms: float = 50.0

    def cloud_usd(self, tokens_in: np.ndarray, tokens_out: np.ndarray) -> np.ndarray:
        return (tokens_in * self.cloud_usd_per_m_input + tokens_out * self.cloud_usd_per_m_output) / 1e6


@dataclass
class Items:
    """Arrays over the items of one task, built from cached records (see ``bench.cascade``)."""

    ids: list[str]
    device_ok: np.ndarray
    cloud_ok: np.ndarray
    esc_ok: np.ndarray  # the escalated (cascade) answer was right
    prompt_tokens: np.ndarray
    device_tokens: np.ndarray
    cloud_out: np.ndarray  # cloud-only completion tokens
    esc_in: np.ndarray  # tokens the cloud processed when escalated: prompt + drafts it verified
    esc_out: np.ndarray  # tokens the cloud generated when escalated (corrections, bonus tokens)
    esc_calls: np.ndarray
    esc_passes: np.ndarray
    esc_drafts: np.ndarray
    esc_accepted: np.ndarray
    agreed: np.ndarray  # leading device tokens equal to the escalated answer's (what the cloud kept)
    device_ttft: np.ndarray
    device_total: np.ndarray
    cloud_ttft: np.ndarray
    cloud_total: np.ndarray
    esc_ttft: np.ndarray
    esc_total: np.ndarray
    scores: dict[str, np.ndarray]
    features: np.ndarray
    feature_names: list[str]
    logprobs: list[np.ndarray] = field(repr=False)
    token_ms: list[np.ndarray] = field(repr=False)  # each device token's arrival, from the request's start
    # share of the docstring examples the device's answer passes (NaN where there is none to run), and
    # the sandbox time that check took (0 where nothing ran)
    selftest: np.ndarray = field(repr=False)
    selftest_ms: np.ndarray = field(repr=False)
    # streaming hand-overs run live (``bench.cascade.collect_handovers``): hand-over token -> answer
    # right (1/0)
    handover_ok: list[dict[int, float]] = field(repr=False, default_factory=list)
    # mixed workloads: each item's task, and its weight in quality (each task weighs the same)
    task: list[str] = field(repr=False, default_factory=list)
    weight: np.ndarray = field(repr=False, default_factory=lambda: np.ones(0))
    # the cloud check (``bench.cascade``'s check phase): per device token, the cloud's log-probability of it
    # and of the cloud's own best token; the pass's time and the tokens it sent (NaN / empty where not run)
    check_lp: list[np.ndarray] = field(repr=False, default_factory=list)
    check_top: list[np.ndarray] = field(repr=False, default_factory=list)
    check_ms: np.ndarray = field(repr=False, default_factory=lambda: np.ones(0))
    check_in: np.ndarray = field(repr=False, default_factory=lambda: np.ones(0))
    # the query router's input: the device model's embedding of the prompt, and what computing it took
    embedding: np.ndarray = field(repr=False, default_factory=lambda: np.ones((0, 0)))
    embed_ms: np.ndarray = field(repr=False, default_factory=lambda: np.ones(0))

    @classmethod
    def from_records(cls, records: Sequence[dict], tail_quantile: float = 0.1,
                     max_repetition: float | None = None) -> Items:
        limit = MAX_NGRAM_SHARE if max_repetition is None else max_repetition
        cols: dict[str, list] = {k: [] for k in (
            "device_ok", "cloud_ok", "esc_ok", "prompt_tokens", "device_tokens", "cloud_out", "esc_in",
            "esc_out", "esc_calls", "esc_passes", "esc_drafts", "esc_accepted", "agreed", "device_ttft",
            "device_total", "cloud_ttft", "cloud_total", "esc_ttft", "esc_total")}
        scores: dict[str, list[float]] = {m: [] for m in SCORES}
        feats, lps, times, live, tested, tested_ms = [], [], [], [], [], []
        check_lp, check_top, check_ms, check_in, vectors, embed_ms = [], [], [], [], [], []
        for r in records:
            d, c, e = r["device"], r["cloud"], r["escalation"]
            tr = e["trace"]
            lp = np.asarray(d["logprobs"], dtype=np.float64)
            ent = np.asarray(d["entropies"], dtype=np.float64)
            loops = repetition(d["token_ids"]) > limit
            for m in SCORES:
                s = score(lp, m, tail_quantile, entropies=ent)
                scores[m].append(-math.inf if loops else s)
            cols["device_ok"].append(d["score"]["correct"])
            cols["cloud_ok"].append(c["score"]["correct"])
            cols["esc_ok"].append(e["score"]["correct"])
            cols["prompt_tokens"].append(r["prompt_tokens"])
            cols["device_tokens"].append(len(d["token_ids"]))
            cols["cloud_out"].append(c["completion_tokens"])
            cols["esc_in"].append(r["prompt_tokens"] + tr["drafts_proposed"])
            cols["esc_out"].append(tr["cloud_tokens"])
            cols["esc_calls"].append(tr["cloud_calls"])
            cols["esc_passes"].append(tr["cloud_passes"])
            cols["esc_drafts"].append(tr["drafts_proposed"])
            cols["esc_accepted"].append(tr["drafts_accepted"])
            cols["agreed"].append(e["agreed_prefix"])
            for k, src in (("device", d), ("cloud", c), ("esc", e)):
                cols[f"{k}_ttft"].append(src["ttft_ms"])
                cols[f"{k}_total"].append(src["total_ms"])
            feats.append(_features(lp, ent, d["token_ids"], r["prompt_tokens"], d["finish_reason"],
                                   tail_quantile))
            lps.append(lp)
            st = d.get("selftest") or {}
            tested.append(st["passed"] / st["of"] if st.get("of") else math.nan)
            tested_ms.append(1000 * st.get("exec_s", 0.0))
            times.append(np.asarray(d["token_ms"], dtype=np.float64))
            live.append({int(p): float(h["score"]["correct"]) for p, h in r.get("handovers", {}).items()
                         if "score" in h})  # a marker for a run that handed over elsewhere has none
            ch = r.get("check") or {}
            check_lp.append(np.asarray(ch.get("cloud_lp", []), dtype=np.float64))
            check_top.append(np.asarray(ch.get("top_lp", []), dtype=np.float64))
            check_ms.append(ch.get("total_ms", math.nan))
            check_in.append(ch.get("tokens_in", math.nan))
            vectors.append(unpack_vector(d["embedding"]) if d.get("embedding") else None)
            embed_ms.append(d.get("embed_ms", math.nan))
        arrays = {k: np.asarray(v, dtype=np.float64) for k, v in cols.items()}
        tasks = [r.get("task", "") for r in records]
        per_task = {t: tasks.count(t) for t in set(tasks)}
        weight = np.asarray([len(tasks) / (len(per_task) * per_task[t]) for t in tasks], dtype=np.float64)
        dim = next((len(v) for v in vectors if v is not None), 0)
        embedding = np.asarray([v if v is not None else np.full(dim, np.nan) for v in vectors],
                               dtype=np.float64).reshape(len(records), dim)
        return cls(ids=[r["id"] for r in records], **arrays,
                   task=tasks, weight=weight, check_lp=check_lp, check_top=check_top,
                   check_ms=np.asarray(check_ms, dtype=np.float64), check_in=np.asarray(check_in, dtype=np.float64),
                   embedding=embedding, embed_ms=np.asarray(embed_ms, dtype=np.float64),
                   scores={m: np.asarray(v, dtype=np.float64) for m, v in scores.items()},
                   features=np.asarray(feats, dtype=np.float64).reshape(len(records), len(FEATURES)),
                   feature_names=list(FEATURES), logprobs=lps, token_ms=times, handover_ok=live,
                   selftest=np.asarray(tested, dtype=np.float64),
                   selftest_ms=np.asarray(tested_ms, dtype=np.float64))

    def subset(self, idx: Sequence[int]) -> Items:
        idx = np.asarray(idx, dtype=int)
        out: dict[str, Any] = {}
        for name, value in self.__dict__.items():
            if isinstance(value, np.ndarray):
                out[name] = value[idx]
            elif name == "scores":
                out[name] = {m: v[idx] for m, v in value.items()}
            elif isinstance(value, list) and name != "feature_names":
                out[name] = [value[i] for i in idx] if value else []
            else:
                out[name] = value
        return Items(**out)

    def __len__(self) -> int:
        return len(self.ids)

    def mean(self, values: np.ndarray) -> float:
        """A quality average: each task weighs the same, whatever its number of items."""
        return float(np.average(values, weights=self.weight))

    @property
    def checked(self) -> bool:
        """Did every item get the cloud check?"""
        return bool(len(self.check_ms)) and not np.isnan(self.check_ms).any()

    @property
    def embedded(self) -> bool:
        return self.embedding.shape[1] > 0 and not np.isnan(self.embedding).any()


FEATURES = ("mean_logprob", "min_logprob", "tail_logprob", "mean_entropy", "max_entropy", "repetition",
            "log_prompt_tokens", "log_answer_tokens", "hit_max_tokens")


def _features(lp: np.ndarray, ent: np.ndarray, tokens: Sequence[int], n_prompt: int, finish: str | None,
              q: float) -> list[float]:
    if not len(lp):
        return [-10.0, -10.0, -10.0, 5.0, 5.0, 0.0, math.log1p(n_prompt), 0.0, 0.0]
    return [float(lp.mean()), float(lp.min()), score(lp, "tail", q), float(ent.mean()), float(ent.max()),
            repetition(tokens), math.log1p(n_prompt), math.log1p(len(lp)), float(finish == "length")]


# -- the split ---------------------------------------------------------------------------------------
# -- the learned gate ---------------------------------------------------------------------------------
class LogisticGate:
    """P(device answer is right) from features: L2-regularised logistic regression by Newton steps."""

    def __init__(self, l2: float = 1.0, steps: int = 50):
        self.l2, self.steps = l2, steps
        self.mean = self.std = self.w = None

    def fit(self, x: np.ndarray, y: np.ndarray) -> LogisticGate:
        self.mean, self.std = x.mean(0), x.std(0) + 1e-9
        self.w = fit_logistic((x - self.mean) / self.std, y, self.l2, self.steps)
        return self

    def logit(self, x: np.ndarray) -> np.ndarray:
        """Higher = surer the device is right (the gate's score; escalate below a threshold)."""
        assert self.w is not None, "fit first"
        z = np.hstack([np.ones((len(x), 1)), (x - self.mean) / self.std])
        return z @ self.w


# -- evaluating one decision ----------------------------------------------------------------------------
def weighted_percentile(values: np.ndarray, weights: np.ndarray, q: float) -> float:
    keep = weights > 0
    v, w = values[keep], weights[keep]
    if not len(v):
        return float("nan")
    order = np.argsort(v)
    v, w = v[order], w[order]
    cum = np.cumsum(w) / w.sum()
    return float(v[min(np.searchsorted(cum, q / 100 - 1e-12), len(v) - 1)])


def outcome(items: Items, p_escalate: np.ndarray, cost: CostModel, quality: np.ndarray | None = None,
            ttft: np.ndarray | None = None, latency: np.ndarray | None = None,
            check_ms: np.ndarray | None = None, direct: np.ndarray | None = None,
            pre_ms: np.ndarray | None = None, check_in: np.ndarray | None = None,
            kept_streams: bool = False) -> dict[str, Any]:
    """Expected metrics when item i escalates with probability ``p_escalate[i]`` (0/1 for a gate).

    Kept: the device's answer; the client's first token comes when the whole answer is judged
    (``device_total``). Escalated: the cascade's real answer, time to first token and latency,
    plus the configured RTT per cloud call (the runs were on loopback). ``check_ms``: time a policy
    spends judging each answer before either (the self-test's sandbox run, the cloud check), added to
    both; ``check_in``: cloud input tokens that judging costs every answer (the cloud check).
    ``direct``: items a query router sent to the cloud before the device began (the cloud-only answer,
    its cost and times); ``pre_ms``: what deciding that took, added to every item (the prompt's embedding).
    ``kept_streams``: kept answers stream from their first token (nothing judged them after generation).
    """
    n = len(items)
    p = np.asarray(p_escalate, dtype=np.float64)
    d = np.zeros(n, dtype=bool) if direct is None else np.asarray(direct, dtype=bool)
    p = np.where(d, 0.0, p)
    esc_quality = items.esc_ok if quality is None else quality
    q = np.where(d, items.cloud_ok, (1 - p) * items.device_ok + p * esc_quality)
    rtt = cost.rtt_ms
    esc_ttft = items.esc_ttft + rtt if ttft is None else ttft
    esc_lat = items.esc_total + rtt * items.esc_calls if latency is None else latency
    kept_ttft, kept_lat = (items.device_ttft if kept_streams else items.device_total), items.device_total
    if check_ms is not None:
        esc_ttft, esc_lat, kept_ttft, kept_lat = (a + check_ms
                                                  for a in (esc_ttft, esc_lat, kept_ttft, kept_lat))
    cloud_ttft, cloud_lat = items.cloud_ttft + rtt, items.cloud_total + rtt
    before = np.zeros(n) if pre_ms is None else pre_ms
    kept_ttft, kept_lat, esc_ttft, esc_lat, cloud_ttft, cloud_lat = (
        a + before for a in (kept_ttft, kept_lat, esc_ttft, esc_lat, cloud_ttft, cloud_lat))
    judged_in = np.zeros(n) if check_in is None else np.where(d, 0.0, check_in)
    all_cloud = cost.cloud_usd(items.prompt_tokens, items.cloud_out).sum()
    usd = (np.where(d, cost.cloud_usd(items.prompt_tokens, items.cloud_out),
                    p * cost.cloud_usd(items.esc_in, items.esc_out))
           + cost.cloud_usd(judged_in, np.zeros(n))).sum()
    tokens_in = np.where(d, items.prompt_tokens, p * items.esc_in) + judged_in
    tokens_out = np.where(d, items.cloud_out, p * items.esc_out)
    device_tokens = np.where(d, 0.0, items.prompt_tokens + items.device_tokens + p * items.esc_drafts)
    w_kept, w_esc, w_direct = np.where(d, 0.0, 1 - p), p, d.astype(np.float64)
    ttft_values = np.concatenate([kept_ttft, esc_ttft, cloud_ttft])
    lat_values = np.concatenate([kept_lat, esc_lat, cloud_lat])
    weights = np.concatenate([w_kept, w_esc, w_direct])
    return {
        "cloud_fraction": round(float((p + d).mean()), 4),
        "quality": round(items.mean(q), 4),
        "cost_rel": round(float(usd / all_cloud), 4) if all_cloud > 0 else None,
        "ttft_ms": round(float((w_kept * kept_ttft + w_esc * esc_ttft + w_direct * cloud_ttft).mean()), 1),
        "ttft_median_ms": round(weighted_percentile(ttft_values, weights, 50), 1),
        "ttft_p95_ms": round(weighted_percentile(ttft_values, weights, 95), 1),
        "latency_mean_ms": round(float((w_kept * kept_lat + w_esc * esc_lat + w_direct * cloud_lat).mean()), 1),
        "latency_p95_ms": round(weighted_percentile(lat_values, weights, 95), 1),
        "cloud_tokens_in": round(float(tokens_in.sum() / n), 1),
        "cloud_tokens_out": round(float(tokens_out.sum() / n), 1),
        "cloud_passes": round(float((np.where(d, items.cloud_out, p * items.esc_passes)
                                     + (judged_in > 0)).sum() / n), 2),
        "checked_fraction": round(float((judged_in > 0).mean()), 4),
        "direct_fraction": round(float(d.mean()), 4),
        "device_j": round(float(device_tokens.mean() * cost.device_j_per_token), 2),
    }


def device_only(items: Items, cost: CostModel) -> dict[str, Any]:
    return {"quality": round(items.mean(items.device_ok), 4), "cloud_fraction": 0.0, "cost_rel": 0.0,
            "ttft_ms": round(float(items.device_ttft.mean()), 1),
            "ttft_median_ms": round(float(np.median(items.device_ttft)), 1),
            "ttft_p95_ms": round(float(np.percentile(items.device_ttft, 95)), 1),
            "latency_mean_ms": round(float(items.device_total.mean()), 1),
            "latency_p95_ms": round(float(np.percentile(items.device_total, 95)), 1),
            "cloud_tokens_in": 0.0, "cloud_tokens_out": 0.0, "cloud_passes": 0.0,
            "device_j": round(float((items.prompt_tokens + items.device_tokens).mean()
                                    * cost.device_j_per_token), 2)}


def cloud_only(items: Items, cost: CostModel) -> dict[str, Any]:
    ttft, lat = items.cloud_ttft + cost.rtt_ms, items.cloud_total + cost.rtt_ms
    return {"quality": round(items.mean(items.cloud_ok), 4), "cloud_fraction": 1.0, "cost_rel": 1.0,
            "ttft_ms": round(float(ttft.mean()), 1), "ttft_median_ms": round(float(np.median(ttft)), 1),
            "ttft_p95_ms": round(float(np.percentile(ttft, 95)), 1),
            "latency_mean_ms": round(float(lat.mean()), 1),
            "latency_p95_ms": round(float(np.percentile(lat, 95)), 1),
            "cloud_tokens_in": round(float(items.prompt_tokens.mean()), 1),
            "cloud_tokens_out": round(float(items.cloud_out.mean()), 1),
            "cloud_passes": round(float(items.cloud_out.mean()), 2), "device_j": 0.0}


def oracle_mask(items: Items) -> np.ndarray:
    return (items.device_ok < 0.5) & (items.esc_ok > 0.5)


# -- the streaming cascade, simulated ----------------------------------------------------------------------
def stream_scores(items: Items, window: int) -> np.ndarray:
    """Per item, the lowest running confidence: the stream hands over iff it falls below the threshold."""
    return np.asarray([stream_score(lp, window) for lp in items.logprobs])


def stream_outcome(items: Items, threshold: float, window: int, cost: CostModel,
                   direct: np.ndarray | None = None, pre_ms: np.ndarray | None = None) -> dict[str, Any]:
    """The streaming cascade at one threshold, from cached per-token data.

    Device tokens stream to the client as they are generated while the running confidence
    (mean log-prob over the last ``window`` tokens) stays at or above ``threshold``. At the
    first token p where it drops below, that token is held back and the cloud takes over
    from there: the p tokens already shown stand, the rest comes from the cloud (verifying
    the device's remaining tokens as drafts, as the cascade does).

    Quality of a handed-over item: when p <= ``agreed`` (the device's first p tokens are the
    cloud's own greedy prefix, per the cascade run), the result is exactly the cascade's
    answer: its correctness is known. When p > agreed the shown prefix already departs from
    the cloud's path, and only a live run says what the cloud makes of it: where one was run
    (``Items.handover_ok``, from ``bench.cascade.collect_handovers``) its score counts. Otherwise
    the item counts as right only when both the device's and the cascade's answers were right
    (``quality``), with bounds 0/1 (``quality_low``/``quality_high``), and the share of such items
    is ``unknown`` (``live`` counts those run live).
    Time to first token: the device's first token, unless it hands over at p = 0 (then the
    device's first token time plus the cascade's first cloud answer). Latency: the device's
    time to token p plus the cascade's cloud phase (its total minus the device's answer time).
    Cloud tokens and passes: those of the cascade run (the shown prefix is context the cloud
    processes either way).
    """
    n = len(items)
    handover = np.zeros(n, dtype=bool)
    pos = np.zeros(n, dtype=int)
    for i, lp in enumerate(items.logprobs):
        at = first_unsure(lp, window, threshold) if len(lp) else 0
        if at is not None:
            handover[i], pos[i] = True, at
    exact = pos <= items.agreed
    ran = [items.handover_ok[i].get(int(pos[i])) if i < len(items.handover_ok) else None for i in range(n)]
    live = handover & ~exact & np.asarray([r is not None for r in ran], dtype=bool)
    known = exact | live
    q_known = np.where(live, np.asarray([r or 0.0 for r in ran]), items.esc_ok)
    q_mid = np.where(known, q_known, np.minimum(items.device_ok, items.esc_ok))
    q_low = np.where(known, q_known, 0.0)
    q_high = np.where(known, q_known, 1.0)
    first_ms = np.asarray([t[0] if len(t) else 0.0 for t in items.token_ms])
    at_p = np.asarray([t[min(p, len(t) - 1)] if len(t) else 0.0 for t, p in zip(items.token_ms, pos)])
    cloud_phase = np.maximum(0.0, items.esc_total - items.device_total)
    first_cloud = np.maximum(0.0, items.esc_ttft - items.device_total)
    ttft = np.where(pos == 0, first_ms + first_cloud + cost.rtt_ms, first_ms)
    latency = at_p + cloud_phase + cost.rtt_ms * items.esc_calls
    d = np.zeros(n, dtype=bool) if direct is None else np.asarray(direct, dtype=bool)
    handover &= ~d
    p = handover.astype(np.float64)
    out = outcome(items, p, cost, quality=q_mid, ttft=ttft, latency=latency, direct=d, pre_ms=pre_ms)
    # kept items stream from their first token (the gate's kept items wait for the whole answer)
    kept_ttft = items.device_ttft
    before = np.zeros(n) if pre_ms is None else pre_ms
    all_ttft = before + np.where(d, items.cloud_ttft + cost.rtt_ms, np.where(handover, ttft, kept_ttft))
    all_lat = before + np.where(d, items.cloud_total + cost.rtt_ms, np.where(handover, latency, items.device_total))
    out["ttft_ms"] = round(float(all_ttft.mean()), 1)
    out["ttft_median_ms"] = round(float(np.median(all_ttft)), 1)
    out["ttft_p95_ms"] = round(float(np.percentile(all_ttft, 95)), 1)
    out["latency_mean_ms"] = round(float(all_lat.mean()), 1)
    out["latency_p95_ms"] = round(float(np.percentile(all_lat, 95)), 1)
    out["quality_low"] = round(items.mean(np.where(d, items.cloud_ok, (1 - p) * items.device_ok + p * q_low)), 4)
    out["quality_high"] = round(items.mean(np.where(d, items.cloud_ok, (1 - p) * items.device_ok + p * q_high)), 4)
    out["unknown"] = round(float((handover & ~known).mean()), 4)
    out["live"] = int(live.sum())
    out["mean_handover_token"] = round(float(pos[handover].mean()), 1) if handover.any() else None
    return out


# -- sweeps ----------------------------------------------------------------------------------------------
@dataclass
class Policy:
    """A score per item (higher = keep the device's answer) and how to evaluate a threshold on it."""

    name: str
    score: Callable[[Items], np.ndarray]
    evaluate: Callable[[Items, float], dict[str, Any]]
    runs_in_gateway: bool = True  # False: a yardstick only; never tandem-auto's default
    opt_in: bool = False  # runs in the gateway only where the user turns it on (examples): never the default


def gate_policy(name: str, score_fn: Callable[[Items], np.ndarray], cost: CostModel) -> Policy:
    return Policy(name, score_fn, lambda items, t: outcome(items, score_fn(items) < t, cost))


def selftest_score(items: Items) -> np.ndarray:
    """Examples first, confidence second: tier 0 = failed an example, 1 = none to run, 2 = passed
    them all; the entropy score, squashed into (0, 1), orders answers within a tier."""
    tier = np.where(np.isnan(items.selftest), 1.0, np.where(items.selftest >= 1.0, 2.0, 0.0))
    with np.errstate(over="ignore"):
        return 2 * tier + 1 / (1 + np.exp(-items.scores["entropy"]))


def make_policies(cal: Items, cost: CostModel, windows: Sequence[int], l2: float = 1.0) -> list[Policy]:
    policies = [gate_policy(f"gate-{m}", lambda it, m=m: it.scores[m], cost) for m in SCORES]
    if len(cal.selftest) and not np.isnan(cal.selftest).all():
        policies.append(Policy("selftest", selftest_score, opt_in=True,
                               evaluate=lambda it, t: outcome(it, selftest_score(it) < t, cost,
                                                              check_ms=it.selftest_ms)))
    gate = LogisticGate(l2=l2)
    if len(set(cal.device_ok.tolist())) > 1:
        gate.fit(cal.features, cal.device_ok)
        policies.append(gate_policy("learned", lambda it: gate.logit(it.features), cost))
    for w in windows:
        policies.append(Policy(f"stream-w{w}", lambda it, w=w: stream_scores(it, w),
                               lambda it, t, w=w: stream_outcome(it, t, w, cost)))
    return policies


def sweep(policy: Policy, cal: Items, held: Items, fractions: Sequence[float]) -> list[dict[str, Any]]:
    """Per target cloud fraction: the threshold fitted on ``cal``, the metrics measured on ``held``."""
    s_cal = policy.score(cal)
    rows = []
    for f in fractions:
        t = threshold_for_cloud_fraction(s_cal, f)
        on_cal = policy.evaluate(cal, t)
        rows.append({"target_cloud_fraction": f, "threshold": _num(t), **policy.evaluate(held, t),
                     "calibration": {k: on_cal[k] for k in
                                     ("cloud_fraction", "quality", "cost_rel", "ttft_ms", "ttft_median_ms")}})
    return rows


def random_rows(held: Items, fractions: Sequence[float], cost: CostModel) -> list[dict[str, Any]]:
    return [{"target_cloud_fraction": f, **outcome(held, np.full(len(held), f), cost)} for f in fractions]


def random_quality(held: Items, f: float) -> float:
    """Expected quality of random routing at cloud fraction f (linear in f)."""
    return (1 - f) * held.mean(held.device_ok) + f * held.mean(held.esc_ok)


def meets_goal(row: dict[str, Any] | None, quality: float, budget: float, by: str = "cost_rel") -> bool:
    """A row at ``quality`` or above within ``budget`` of ``by`` (``cost_rel``: cost against always-cloud;
    ``cloud_fraction``: the share of requests sent): every goal of issue 24 reads so, held out."""
    return bool(row) and row.get(by) is not None and row["quality"] >= quality - 1e-9 and row[by] <= budget + 1e-9


def heldout_for_goal(policies: Sequence[Policy], cal: Items, held: Items, goal: float) -> dict[str, Any]:
    """Per policy: the threshold that reaches ``goal`` x cloud-only quality on the calibration half
    (fewest escalations), and what it gives on the held-out half; the policy that needed the fewest
    escalations on the calibration half is the one reported (chosen without looking at held-out)."""
    target_cal = goal * cal.mean(cal.cloud_ok)
    per: dict[str, dict[str, Any]] = {}
    for pol in policies:
        s = pol.score(cal)
        t = _threshold_for_quality(pol, cal, s, target_cal)
        cal_fraction = pol.evaluate(cal, t)["cloud_fraction"]  # a router's direct sends count too
        per[pol.name] = {"threshold": _num(t), "calibration_cloud_fraction": round(cal_fraction, 4),
                         **pol.evaluate(held, t)}
    best = min(per, key=lambda k: (per[k]["calibration_cloud_fraction"], k))
    held_target = goal * held.mean(held.cloud_ok)
    chosen = per[best]
    return {"target": goal, "target_quality": round(held_target, 4), "policy": best,
            "threshold": chosen["threshold"], "cloud_fraction": chosen["cloud_fraction"],
            "quality": chosen["quality"], "cost_rel": chosen["cost_rel"], "ttft_ms": chosen["ttft_ms"],
            "met": bool(chosen["quality"] >= held_target - 1e-9), "by_policy": per}


def _threshold_for_quality(pol: Policy, cal: Items, s: np.ndarray, target: float) -> float:
    """The lowest threshold whose outcome on ``cal`` (the policy's own: its escalated answers, its checks'
    costs, each task weighing the same) reaches ``target``; +inf (always escalate) if none does."""
    for t in sorted(set(s.tolist())) + [math.inf]:  # ascending: hand over more as we go (below t)
        if pol.evaluate(cal, t)["quality"] >= target - 1e-9:
            return t
    return math.inf


def _num(x: float) -> float | None:
    """JSON has no infinities: +-inf thresholds ("never"/"always") become null, with the fraction saying
    which."""
    return None if not math.isfinite(x) else round(float(x), 5)
