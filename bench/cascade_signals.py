"""The verification signals as cascade policies: the cloud check, the query router, and their combinations.

Each is a ``bench.cascade_policies.Policy`` (a score per item, higher = keep the device's answer, and
how a threshold on it plays out), so the sweep, the held-out check and the report treat them as
they treat the confidence gates. All run in the gateway:

* ``check-min`` / ``check-gap`` / ``check-agree`` — the cloud check
  (``gateway.core.verifiers.cloud_check``): the cloud reads the device's whole answer in one pass.
  ``min``: the lowest log-probability the cloud gives any device token; ``gap``: the mean of cloud
  minus device log-probability per token; ``agree``: the share of tokens that are the cloud's best.
  Every answer pays the pass (its input tokens in the cost, its time before the first token); a
  failing one escalates (the cascade's measured answer).
* ``query`` — the query router (``routers.query``) on the device model's embedding of the prompt:
  requests it expects the cloud to fix go to the cloud before the device starts (the cloud-only
  answer, cost and times); the rest are the device's. The embedding's time counts for every request.
* ``query+stream-w<W>`` — the router sends what it is sure of (P(gain) at or above its decision point,
  ``routers.query.net_benefit_threshold``, chosen on the calibration half) to the cloud; the rest run the
  streaming cascade, whose threshold is the swept one.
* ``query+check-min`` — the same split; the rest get the cloud check.
* ``verified`` (bench-only: the gateway does not ship this model yet) — one logistic model over everything the gateway knows once the device has answered
  (the query router's out-of-fold P(gain), the device's confidence features, the cloud check's
  three scores), predicting "escalating fixes this answer"; a gate with the cloud check's cost.

The router and the combined model are fitted on the calibration half only (the router's P(gain) on
the calibration half comes from 5-fold cross-fitting, so the combined model never sees a router
prediction made on its own training item).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from bench.cascade_policies import CostModel, Items, LogisticGate, Policy, outcome, stream_outcome, stream_scores
from routers.query import QueryRouter, fit_with_threshold
from routers.query import cross_fitted as routers_cross_fitted

EMPTY = -10.0  # the score of an empty answer: nothing for the cloud to vouch for


def check_min(items: Items) -> np.ndarray:
    return np.asarray([lp.min() if len(lp) else EMPTY for lp in items.check_lp])


def check_gap(items: Items) -> np.ndarray:
    return np.asarray([(c - d[: len(c)]).mean() if len(c) else EMPTY
                       for c, d in zip(items.check_lp, items.logprobs)])


def check_agree(items: Items) -> np.ndarray:
    """Share of device tokens within 1e-6 of the cloud's best log-probability (its argmax, ties aside)."""
    return np.asarray([(c >= t - 1e-6).mean() if len(c) else 0.0 for c, t in zip(items.check_lp, items.check_top)])


CHECKS = {"min": check_min, "gap": check_gap, "agree": check_agree}


def gains(items: Items) -> np.ndarray:
    """1 where escalating turns a wrong device answer into a right one: what routing is for."""
    return ((items.device_ok < 0.5) & (items.esc_ok > 0.5)).astype(np.float64)


def fit_router(cal: Items, cost: CostModel) -> QueryRouter:
    """The query router as ``tandem calibrate --query-router`` fits it (``routers.query``), on ``cal``."""
    return fit_with_threshold(cal.embedding, cal.prompt_tokens, gains(cal), cal.device_ok, cal.cloud_ok,
                              cost.cloud_usd(cal.prompt_tokens, cal.cloud_out), cal.ids)


def cross_fitted(cal: Items) -> np.ndarray:
    """The router's P(gain) for each calibration item from a router that did not see that item."""
    return routers_cross_fitted(cal.embedding, cal.prompt_tokens, gains(cal), cal.ids)


def make_signal_policies(cal: Items, cost: CostModel, windows: Sequence[int], l2: float) -> list[Policy]:
    """The signals the records hold: the cloud check where every item was checked, the router where
    every item was embedded, their combinations where both were."""
    policies: list[Policy] = []
    if cal.checked:
        for name, fn in CHECKS.items():
            policies.append(_checked(f"check-{name}", fn, cost))
    if not (cal.embedded and len(set(gains(cal).tolist())) > 1):
        return policies
    router = fit_router(cal, cost)
    cal_p = cross_fitted(cal)  # the calibration half is scored with predictions made without each item

    def p_gain(items: Items) -> np.ndarray:
        return cal_p if items is cal else router.p_gains(items.embedding, items.prompt_tokens)

    def direct(items: Items) -> np.ndarray:
        return p_gain(items) >= router.threshold

    policies.append(Policy("query", lambda it: -p_gain(it),
                           lambda it, t: outcome(it, np.zeros(len(it)), cost, direct=-p_gain(it) < t,
                                                 pre_ms=it.embed_ms, kept_streams=True)))
    for w in windows:
        policies.append(Policy(f"query+stream-w{w}", lambda it, w=w: stream_scores(it, w),
                               lambda it, t, w=w: stream_outcome(it, t, w, cost, direct=direct(it),
                                                                 pre_ms=it.embed_ms)))
    if not cal.checked:
        return policies
    policies.append(Policy("query+check-min", check_min,
                           lambda it, t: outcome(it, check_min(it) < t, cost, direct=direct(it), pre_ms=it.embed_ms,
                                                 check_ms=it.check_ms + cost.rtt_ms, check_in=it.check_in)))
    gate = LogisticGate(l2=l2).fit(_verified_features(cal, cal_p), gains(cal))

    def verified(items: Items) -> np.ndarray:
        return -gate.logit(_verified_features(items, p_gain(items)))

    policies.append(Policy("verified", verified, runs_in_gateway=False,  # the combined model is not shipped
                           evaluate=lambda it, t: outcome(it, verified(it) < t, cost, pre_ms=it.embed_ms,
                                                          check_ms=it.check_ms + cost.rtt_ms, check_in=it.check_in)))
    return policies


def _checked(name: str, fn, cost: CostModel) -> Policy:
    return Policy(name, fn, lambda it, t: outcome(it, fn(it) < t, cost, check_ms=it.check_ms + cost.rtt_ms,
                                                  check_in=it.check_in))


def _verified_features(items: Items, p_gain: np.ndarray) -> np.ndarray:
    return np.hstack([items.features, np.column_stack([p_gain, check_min(items), check_gap(items),
                                                       check_agree(items)])])
