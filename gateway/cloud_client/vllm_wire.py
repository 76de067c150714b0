"""vLLM's verification answers, read at the byte level: only the draft rows are decoded.

An answer to a verification call holds one ``prompt_logprobs`` entry per context token
(most of its bytes; on the cache-keeping route, garbage for the cached rows). The parsers
here find the last k entries in the raw bytes and decode just those, then hand the rows
and the generated token to ``gateway.core.acceptance.greedy_accept``. Each ``prompt_logprobs``
entry maps token-id strings to ``{logprob, rank, decoded_token}`` and holds the actual
token plus the rank-1 token when they differ.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from gateway.core.acceptance import VerifyResult, greedy_accept


class UnreliableAnswer(ValueError):
    """The answer parsed, but its draft rows cannot be trusted.

    They are garbage, missing, or served from the cache.
    """


@dataclass
class GenerateUsage:
    prompt_tokens: int
    cached_tokens: int | None  # None: the server does not report it (no --enable-prompt-tokens-details)


async def parse_generate(raw: bytes, n_context: int,
                         draft: Sequence[int]) -> tuple[VerifyResult, GenerateUsage]:
    """``/inference/v1/generate``'s answer → the verified continuation, decoding only the draft rows.

    Shape (vLLM 0.32, ``output_mode`` tokens): top-level ``usage``, ``prompt_logprobs`` (entry
    i+1 scores prompt token i+1; entries as in ``/v1/completions``), ``choices[0].token_ids``
    (the generated token) and ``choices[0].logprobs.content[0].top_logprobs``
    (``[{token_id, logprob, rank}]``). Raises ``UnreliableAnswer`` when the draft rows are not
    trustworthy, ValueError/KeyError/TypeError/IndexError when the answer is malformed.
    """
    k = len(draft)
    tail = _tail_entries(raw, k)
    if tail is not None:
        entries, rest = tail
        try:
            out = json.loads(rest)
        except ValueError:
            tail = None
    if tail is None:
        out = await asyncio.to_thread(json.loads, raw)
        entries = (out.get("prompt_logprobs") or [])[-k:] if k else []
        if len(entries) < k:
            raise UnreliableAnswer(f"{len(entries)} prompt_logprobs rows for {k} drafts")
    usage = _generate_usage(out, n_context + k)
    if k and usage.cached_tokens is not None and usage.cached_tokens > n_context - 1:
        raise UnreliableAnswer(f"{usage.cached_tokens} tokens read from the cache cover a draft row")
    choice = out["choices"][0]
    bonus = int(choice["token_ids"][0])
    content = ((choice.get("logprobs") or {}).get("content") or [{}])[0] or {}
    bonus_top = sorted(((int(t["token_id"]), float(t["logprob"])) for t in content.get("top_logprobs") or []),
                       key=lambda x: -x[1])
    return _verdict(draft, entries, bonus, bonus_top), usage


def _generate_usage(out: dict, n_prompt: int) -> GenerateUsage:
    usage = out.get("usage") or {}
    reported = usage.get("prompt_tokens")
    if reported is not None and int(reported) != n_prompt:
        raise ValueError(f"the cloud saw {reported} prompt tokens, {n_prompt} were sent")
    cached = (usage.get("prompt_tokens_details") or {}).get("cached_tokens")
    return GenerateUsage(n_prompt, None if cached is None else int(cached))


def _token_id(key: str | int) -> int:
    s = str(key)
    return int(s.split(":", 1)[1]) if s.startswith("token_id:") else int(s)


def _list_span(raw: bytes, key: bytes) -> tuple[int, int, int] | None:
    """Where ``"key": [...]`` sits in raw JSON: (key start, '[' index, ']' index), for flat lists only."""
    k = raw.find(key)
    if k < 0:
        return None
    i = k + len(key)
    while i < len(raw) and raw[i] in b" \t\r\n:":
        i += 1
    if i >= len(raw) or raw[i] != ord("["):
        return None
    end = raw.find(b"]", i)  # entries hold objects, never lists, so the first ']' closes it
    return (k, i, end) if end > 0 else None


def _tail_entries(raw: bytes, k: int) -> tuple[list, bytes] | None:
    """The last ``k`` ``prompt_logprobs`` entries of a vLLM answer, and the answer with that list nulled.

    The entries before them (one per context token: most of the answer's bytes, and on the
    cache-keeping route garbage) are skipped unread. Walks back from the list's end over
    entry-level ``{`` (those after ``[`` or ``,``; inner ones follow ``:``). None when the
    answer does not have that shape or an entry does not decode (the caller parses it whole).
    """
    span = _list_span(raw, b'"prompt_logprobs"')
    if k == 0 or span is None:
        return None
    key, lo, hi = span
    starts: list[int] = []
    pos = hi
    while len(starts) < k:
        j = raw.rfind(b"{", lo, pos)
        if j < 0:
            return None
        p = j - 1
        while p > lo and raw[p] in b" \t\r\n":
            p -= 1
        if raw[p] in b",[":
            starts.append(j)
        pos = j
    try:
        entries = json.loads(b"[" + raw[starts[-1]:hi] + b"]")
    except ValueError:
        return None
    if len(entries) != k:
        return None
    return entries, raw[:key] + b'"prompt_logprobs": null' + raw[hi + 1:]


def parse_verify_tail(raw: bytes, n_context: int, draft: Sequence[int]) -> VerifyResult | None:
    """Decode only the last ``len(draft)`` ``prompt_logprobs`` entries of a vLLM completion.

    Returns None when the answer does not have the expected shape (the caller then parses it
    whole): the prompt must have ``n_context + k`` tokens and each decoded entry must hold its
    draft token.
    """
    k = len(draft)
    tail = _tail_entries(raw, k)
    if tail is None:
        return None
    entries, rest = tail
    try:
        ids = _list_span(rest, b'"prompt_token_ids"')
        if ids is not None:  # one entry per prompt token: check the count without decoding them
            n_ids = rest.count(b",", ids[1], ids[2]) + 1 if rest[ids[1] + 1:ids[2]].strip() else 0
            if n_ids != n_context + k:
                return None
            rest = rest[:ids[0]] + b'"prompt_token_ids": null' + rest[ids[2] + 1:]
        choice = json.loads(rest)["choices"][0]
    except (ValueError, KeyError, IndexError, TypeError):
        return None
    if not all(isinstance(e, dict) and draft[i] in {_token_id(t) for t in e} for i, e in enumerate(entries)):
        return None
    choice["prompt_logprobs"] = [None] * n_context + entries
    return parse_prompt_logprobs(choice, n_context, draft)


def parse_prompt_logprobs(choice: dict, n_context: int, draft: Sequence[int]) -> VerifyResult:
    """vLLM's completion choice → the verified continuation (see module docstring for the format)."""
    entries = choice.get("prompt_logprobs") or []
    rows = [entries[n_context + i] if n_context + i < len(entries) else None for i in range(len(draft))]
    generated = choice.get("token_ids")
    if generated:
        bonus = int(generated[0])
    else:
        bonus = _token_id(choice["logprobs"]["tokens"][0])
    lp = choice.get("logprobs") or {}
    top_gen = (lp.get("top_logprobs") or [None])[0] or {}
    bonus_top = sorted(((_token_id(t), float(v)) for t, v in top_gen.items()), key=lambda x: -x[1])
    return _verdict(draft, rows, bonus, bonus_top)


def _verdict(draft: Sequence[int], rows: Sequence[Any], bonus: int,
             bonus_top: list[tuple[int, float]]) -> VerifyResult:
    """Both vLLM routes end here: the drafts' rows and the generated token → ``greedy_accept``."""
    target_top: list[list[tuple[int, float]]] = []
    argmax: list[int] = []
    draft_lps: list[float] = []
    for i, entry in enumerate(rows):
        ranked, draft_lp = _ranked_row(entry, draft[i], i)
        argmax.append(ranked[0][0])
        target_top.append(ranked)
        draft_lps.append(draft_lp)
    argmax.append(bonus)
    target_top.append(bonus_top or [(bonus, 0.0)])
    accepted, tokens = greedy_accept(draft, argmax)
    return VerifyResult(accepted, tokens, target_top, draft_lps)


def _ranked_row(entry: Any, token: int, i: int) -> tuple[list[tuple[int, float]], float]:
    """One draft row's top tokens, best first, and the cloud's log-probability of the draft token.

    vLLM lists its top ``n`` and, where the prompt's own token ranks lower, that token too. The row keeps
    the top ``n`` only (the ranks 1, 2, ... without a gap; the draft stays where it is rank n+1): a token
    ranked below an unseen one is no part of the cloud's top tokens, and a grammar filtering the row must
    not take it for the cloud's best allowed token (it hid every allowed token ranked between). A row that
    is missing, lacks its draft token, lacks its rank-1 token or holds NaN is unreliable."""
    if not isinstance(entry, dict) or not entry:
        raise UnreliableAnswer(f"no prompt_logprobs for draft position {i}")
    ranked = []
    for t, v in entry.items():
        logprob, rank = float(v["logprob"]), v.get("rank")
        if not math.isfinite(logprob) or (rank is not None and (not isinstance(rank, int) or rank < 1)):
            raise UnreliableAnswer(f"draft position {i} holds logprob {logprob!r}, rank {rank!r}")
        ranked.append((_token_id(t), logprob, rank))
    draft_lp = next((lp for t, lp, _ in ranked if t == token), None)
    if draft_lp is None:
        raise UnreliableAnswer(f"draft position {i} does not score its draft token")
    ranks = [(t, lp, rank) for t, lp, rank in ranked if rank is not None]
    if len(ranks) < len(ranked):  # no ranks to go by: every entry, by log-probability
        return sorted(((t, lp) for t, lp, _ in ranked), key=lambda x: -x[1]), draft_lp
    top: list[tuple[int, float]] = []
    for t, lp, rank in sorted(ranks, key=lambda x: (x[2], -x[1])):
        if rank > len(top) + 1:  # a gap: tokens the answer left out rank above this one
            break
        top.append((t, lp))
    if not top:
        raise UnreliableAnswer(f"draft position {i} lacks the cloud's rank-1 token")
    return top, draft_lp
