"""Acceptance rules: which of the device's draft tokens the cloud's verdict keeps.

Every path that checks device tokens against the cloud ends here: speculative rounds, the
cascade's hand-over, and the local cloud's own verification route.

* ``greedy_accept`` — temperature 0: keep drafts while the cloud's argmax agrees, then the
  cloud's own token. The output is the cloud's greedy output (lossless).
* ``lenient_accept`` — temperature 0, traded for fewer cloud passes (speculative cascades,
  Narasimhan et al., ICLR 2025): keep the device's token unless the cloud prefers its own by
  more than ``margin`` (log-probability); margin 0 is ``greedy_accept``.
* ``rejection_accept`` — temperature > 0: speculative sampling (Leviathan et al. / Chen et
  al.); the output is distributed as the cloud's sampling distribution over its top-k.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from device_runtime.engine import DraftToken
from device_runtime.sampling import PositionalRng, sample_from


@dataclass
class VerifyResult:
    accepted: int  # how many leading draft tokens the cloud agrees with
    tokens: list[int]  # accepted drafts, then the cloud's next token (correction or bonus)
    # per position 0..k: the cloud's top tokens with raw log-probabilities, best first (when asked for)
    target_top: list[list[tuple[int, float]]] = field(default_factory=list)
    # per draft position: the cloud's log-probability of the device's token (when top tokens were asked for)
    draft_logprobs: list[float] = field(default_factory=list)

    def draft_logprob(self, i: int) -> float | None:
        """The cloud's log-probability of draft ``i``: reported, or found among its top tokens, else None."""
        if i < len(self.draft_logprobs):
            return self.draft_logprobs[i]
        return None


def greedy_accept(draft: Sequence[int], target_argmax: Sequence[int]) -> tuple[int, list[int]]:
    """Accept drafts while the cloud's argmax agrees; then the cloud's own token (``len(target)`` = k+1)."""
    accepted = 0
    while accepted < len(draft) and draft[accepted] == target_argmax[accepted]:
        accepted += 1
    return accepted, list(draft[:accepted]) + [int(target_argmax[accepted])]


def lenient_accept(draft: Sequence[int], result: VerifyResult, margin: float) -> tuple[int, list[int]]:
    """Keep draft i while the cloud's best token beats it by at most ``margin``; then the cloud's token.

    Needs the cloud's top tokens (``target_top``, best first). A draft whose own log-probability
    the cloud did not report counts as far worse than the best, so margin 0 is exact acceptance
    whatever the cloud reports.
    """
    for i, token in enumerate(draft):
        best, best_lp = result.target_top[i][0]
        if token == best:
            continue
        lp = result.draft_logprob(i)
        if lp is None:
            lp = dict(result.target_top[i]).get(token)
        if margin <= 0 or lp is None or best_lp - lp > margin:
            return i, list(draft[:i]) + [best]
    return len(draft), list(draft) + _best(result.target_top, len(draft))


def _best(rows: Sequence[Sequence[tuple[int, float]]], i: int) -> list[int]:
    """The cloud's best token at position i, or none (a grammar allowed none of its top tokens there)."""
    return [rows[i][0][0]] if i < len(rows) and rows[i] else []


def greedy_over(draft: Sequence[int], rows: Sequence[Sequence[tuple[int, float]]]) -> tuple[int, list[int]]:
    """``greedy_accept`` over the cloud's top tokens per position (best first), as a grammar filtered them."""
    accepted = 0
    while accepted < len(draft) and rows[accepted] and draft[accepted] == rows[accepted][0][0]:
        accepted += 1
    return accepted, list(draft[:accepted]) + _best(rows, accepted)


def grammatical_rows(draft: Sequence[int], rows: list[list[tuple[int, float]]]) -> tuple[list, int]:
    """Rows a grammar filtered, made usable: where none of the cloud's top tokens is allowed at a draft's
    position, the device's (grammatical) draft stands, as if the cloud agreed; how often, counted."""
    fallbacks = 0
    fixed = []
    for i, row in enumerate(rows):
        if not row and i < len(draft):
            fallbacks += 1
            row = [(draft[i], 0.0)]
        fixed.append(row)
    return fixed, fallbacks


def target_probs(
    top: Sequence[tuple[int, float]], temperature: float, top_p: float = 1.0
) -> dict[int, float]:
    """The cloud's sampling distribution over its top-k tokens (raw logprobs → temperature → top-p)."""
    if not top:
        return {}
    ids = np.array([t for t, _ in top])
    lp = np.array([lp for _, lp in top], dtype=np.float64) / max(temperature, 1e-6)
    p = np.exp(lp - lp.max())
    p /= p.sum()
    order = np.argsort(-p)
    keep = order[: int(np.searchsorted(np.cumsum(p[order]), top_p)) + 1]
    p_keep = p[keep] / p[keep].sum()
    return {int(ids[i]): float(pi) for i, pi in zip(keep, p_keep)}


def _draw(dist: dict[int, float], rng: np.random.Generator) -> int:
    ids = list(dist)
    return ids[sample_from(np.array([dist[i] for i in ids]), rng)]


def rejection_accept(
    drafts: Sequence[DraftToken],
    target_top: Sequence[Sequence[tuple[int, float]]],
    temperature: float,
    top_p: float,
    rng: PositionalRng,
    base: int,
) -> tuple[int, list[int]]:
    """Speculative sampling (Leviathan et al. / Chen et al.): accepted count and the new tokens.

    The draws for the token at sequence position ``base + i`` come from ``rng`` keyed by that
    position, so a seed gives the same answer however the rounds fell.
    """
    for i, d in enumerate(drafts):
        gen = rng.at(PositionalRng.ACCEPT, base + i)
        p = target_probs(target_top[i], temperature, top_p)
        if gen.random() < min(1.0, p.get(d.token_id, 0.0) / max(d.q, 1e-12)):
            continue
        q_top = d.q_top or {d.token_id: d.q}
        residual = {t: max(0.0, pt - q_top.get(t, 0.0)) for t, pt in p.items()}
        if sum(residual.values()) <= 0:
            residual = p
        return i, [x.token_id for x in drafts[:i]] + [_draw(residual, gen)]
    if not target_top[len(drafts)]:  # a grammar allowed none of the cloud's top tokens here: no bonus
        return len(drafts), [x.token_id for x in drafts]
    gen = rng.at(PositionalRng.ACCEPT, base + len(drafts))
    bonus = _draw(target_probs(target_top[len(drafts)], temperature, top_p), gen)
    return len(drafts), [x.token_id for x in drafts] + [bonus]
