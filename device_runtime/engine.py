"""The llama.cpp engine: one model, one context, with the KV cache under our control.

    engine = LlamaEngine.load("smollm2-135m")
    ids = engine.chat_tokens([{"role": "user", "content": "Hi"}])
    for ev in engine.generate(ids, SamplingParams(max_tokens=32)):
        print(ev.text, end="")

Everything here is synchronous and *not* thread-safe: a context is one sequence of
tokens in one KV cache. ``device_runtime.worker.DeviceWorker`` gives it an async face
and serializes access; ``save_sequence``/``load_sequence`` copy the sequence's cells out
and back (llama.cpp's per-sequence state), so one context can serve several conversations
in turn (the local cloud's verification sessions, ``cloud/sessions.py``).

We drive ``llama_decode`` ourselves (rather than through ``Llama.create_completion``)
because collaboration needs what the high-level API hides: the logits of every step
(log-probabilities, confidence, rejection sampling), the logits of a whole batch of draft
positions in one pass (verification), and cheap rollback (``n_tokens = keep``; the next
decode drops the KV cells past it — bit-identical to a fresh run, unlike
``save_state``/``load_state`` which copy the whole cache).
"""

from __future__ import annotations

import ctypes
import functools
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from device_runtime.grammar import Constraint, Grammar, GrammarTokenizer, TokenFilter
from device_runtime.models import ModelStore
from device_runtime.sampling import (
    PositionalRng,
    entropy,
    log_softmax,
    sample_from,
    sampling_probs,
    sparse_top,
    top_logprobs,
)
from device_runtime.text import TokenTextStream


@dataclass(frozen=True)
class SamplingParams:
    max_tokens: int = 256
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int | None = None
    stop: tuple[str, ...] = ()
    top_logprobs: int = 0


@dataclass
class TokenEvent:
    """One generated token: its id, its log-probability under the model, and the text it released."""

    token_id: int
    logprob: float
    text: str
    top_logprobs: list[tuple[int, float]] = field(default_factory=list)
    finish_reason: str | None = None  # set on the last event: "stop" or "length"
    q: float = 1.0  # probability under the distribution it was drawn from (1.0 when greedy)
    q_top: dict[int, float] | None = field(default=None, repr=False)  # that distribution's best tokens
    entropy: float | None = None  # of the raw distribution, when asked for (confidence)

    def as_draft(self) -> "DraftToken":
        """A generated token as a draft for the cloud to verify (the cascade's answer)."""
        return DraftToken(self.token_id, self.logprob, self.q, self.q_top)


@dataclass(frozen=True)
class DraftToken:
    token_id: int
    logprob: float  # under the device model's raw distribution
    q: float = 1.0  # probability under the distribution it was *drawn* from (1.0 when greedy)
    # that distribution's most probable tokens (sampled drafts only): rejection sampling's residual
    # max(0, p - q) needs q at the cloud's top tokens; mass past these is treated as zero
    q_top: dict[int, float] | None = field(default=None, repr=False)


@dataclass(frozen=True, eq=False)
class SavedSequence:
    """A copy of the KV cache's cells (``llama_state_seq_get_data``) and the tokens they hold.

    Loading it back is a memory copy, not a prefill: on the 1.5B, 512 tokens are 14.7 MB, saved and
    loaded in ~3 ms together against ~16 s to evaluate them again on one thread; the logits after it
    are bit-identical to the original's (bench/spec_capacity.py measures both). Unlike ``save_state``,
    it copies only this sequence's cells, not the whole context and its logits.
    """

    tokens: tuple[int, ...]
    data: ctypes.Array = field(repr=False)

    @property
    def nbytes(self) -> int:
        return len(self.data)


class ContextOverflow(ValueError):
    """The prompt plus the requested completion do not fit the context window."""


def default_threads() -> int:
    return int(os.environ.get("TANDEM_THREADS") or max(1, min(os.cpu_count() or 1, 8)))


class LlamaEngine:
    def __init__(self, model_path: str | Path, n_ctx: int = 4096, n_threads: int | None = None,
                 n_batch: int = 512, name: str | None = None):
        from llama_cpp import Llama  # imported here so model-free code never pays for it

        threads = n_threads or default_threads()
        self.model_path = Path(model_path)
        self.name = name or self.model_path.stem
        self._llm = Llama(
            model_path=str(model_path), n_ctx=n_ctx, n_batch=n_batch, n_ubatch=n_batch,
            n_threads=threads, n_threads_batch=threads, logits_all=False, verbose=False,
        )
        self.n_ctx = self._llm.n_ctx()
        self.n_vocab = self._llm.n_vocab()
        self._tokens: list[int] = []  # exactly what the KV cache holds
        self._logits: np.ndarray | None = None  # next-token logits after _tokens, when fresh
        self._piece_cache: dict[int, bytes] = {}
        self.eos_token_ids = self._end_of_generation_ids()
        self._grammar_tokenizer: GrammarTokenizer | None = None
        self._chat_formatter = self._make_chat_formatter()

    @classmethod
    def load(cls, model: str, store: ModelStore | None = None, pull: bool = False, **kwargs) -> "LlamaEngine":
        """A registry name or a GGUF path; registry models are verified before loading."""
        path = (store or ModelStore(progress=pull)).resolve(model, pull=pull)
        return cls(path, name=model if not Path(model).is_file() else None, **kwargs)

    # -- tokenizer -----------------------------------------------------------------------
    def tokenize(self, text: str, add_bos: bool = True, special: bool = True) -> list[int]:
        return self._llm.tokenize(text.encode("utf-8"), add_bos=add_bos, special=special)

    def token_bytes(self, token_id: int) -> bytes:
        """The bytes a token stands for; special tokens (end of turn…) stand for nothing."""
        piece = self._piece_cache.get(token_id)
        if piece is None:
            piece = self._llm.detokenize([token_id], special=False)
            self._piece_cache[token_id] = piece
        return piece

    def detokenize(self, ids: Sequence[int]) -> str:
        return b"".join(self.token_bytes(t) for t in ids).decode("utf-8", errors="replace")

    def token_text(self, token_id: int) -> str:
        """The vocabulary entry itself (special tokens included), for tokenizer comparisons."""
        return self._llm._model.token_get_text(token_id)

    def is_eos(self, token_id: int) -> bool:
        return token_id in self.eos_token_ids

    def _end_of_generation_ids(self) -> frozenset[int]:
        import llama_cpp

        vocab = self._llm._model.vocab
        ids = {i for i in (self._llm.token_eos(), self._llm._model.token_eot()) if i >= 0}
        for token_id in range(self.n_vocab):  # end-of-turn tokens such as <|im_end|>
            if llama_cpp.llama_vocab_is_eog(vocab, token_id):
                ids.add(token_id)
        return frozenset(ids)

    # -- chat template ---------------------------------------------------------------------
    def _make_chat_formatter(self):
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        template = self._llm.metadata.get("tokenizer.chat_template")
        if not template:
            return None
        model = self._llm._model
        eos, bos = self._llm.token_eos(), self._llm.token_bos()
        return Jinja2ChatFormatter(
            template=template,
            eos_token=model.token_get_text(eos) if eos >= 0 else "",
            bos_token=model.token_get_text(bos) if bos >= 0 else "",
        )

    def chat_prompt(self, messages: Sequence[dict], tools: Sequence[dict] | None = None) -> str:
        """The model's own chat template (from the GGUF), ending with the assistant's turn opener;
        ``tools`` (OpenAI function definitions) as the template lists them."""
        if self._chat_formatter is None:  # a base model: plain role-prefixed transcript
            lines = [f"{m['role']}: {m['content']}" for m in messages]
            return "\n".join(lines) + "\nassistant:"
        return self._chat_formatter(messages=list(messages), tools=list(tools) if tools else None).prompt

    def chat_tokens(self, messages: Sequence[dict], tools: Sequence[dict] | None = None) -> list[int]:
        return self.tokenize(self.chat_prompt(messages, tools), add_bos=True, special=True)

    @functools.cached_property
    def supports_tools(self) -> bool:
        """Does the chat template show the model its tools? (Without, tools would be dropped silently.)"""
        probe = [{"type": "function",
                  "function": {"name": "tandem_probe_tool", "parameters": {"type": "object"}}}]
        try:
            return "tandem_probe_tool" in self.chat_prompt([{"role": "user", "content": "hi"}], probe)
        except Exception:  # noqa: BLE001 — a template that fails on tools does not support them
            return False

    # -- KV cache ----------------------------------------------------------------------------
    @property
    def tokens(self) -> list[int]:
        return list(self._tokens)

    @property
    def n_past(self) -> int:
        return len(self._tokens)

    def sync(self, tokens: Sequence[int]) -> np.ndarray:
        """Make the cache hold exactly ``tokens``, reusing the longest common prefix; next logits."""
        if not tokens:
            raise ValueError("cannot evaluate an empty prompt")
        if len(tokens) > self.n_ctx:
            raise ContextOverflow(f"{len(tokens)} tokens exceed the context window of {self.n_ctx}")
        if self._logits is not None and len(tokens) == len(self._tokens) and list(tokens) == self._tokens:
            return self._logits  # already there (the common case between speculative rounds)
        keep = common_prefix(self._tokens, tokens)
        keep = min(keep, len(tokens) - 1)  # at least one token to evaluate, for fresh logits
        self.truncate(keep)
        return self.extend(tokens[keep:])

    def truncate(self, keep: int) -> None:
        """Roll back to the first ``keep`` tokens; cells past them are dropped on the next decode."""
        if keep < len(self._tokens):
            del self._tokens[keep:]
            self._logits = None

    def save_sequence(self) -> SavedSequence:
        """A copy of what the KV cache holds now (its cells past a rollback are dropped first)."""
        import llama_cpp

        self._llm._ctx.kv_cache_seq_rm(0, len(self._tokens), -1)  # cells past a rollback are not ours
        ctx = self._llm._ctx.ctx
        size = llama_cpp.llama_state_seq_get_size(ctx, 0)
        data = (ctypes.c_uint8 * size)()
        if llama_cpp.llama_state_seq_get_data(ctx, data, size, 0) != size:
            raise RuntimeError("llama.cpp could not copy the sequence's state")
        return SavedSequence(tuple(self._tokens), data)

    def load_sequence(self, saved: SavedSequence) -> None:
        """Make the KV cache hold exactly ``saved`` again, whatever it held (no token is evaluated)."""
        import llama_cpp

        llm = self._llm
        self.truncate(0)
        llm.n_tokens = 0
        llm._ctx.kv_cache_seq_rm(0, -1, -1)
        if not llama_cpp.llama_state_seq_set_data(llm._ctx.ctx, saved.data, saved.nbytes, 0):
            llm._ctx.kv_cache_seq_rm(0, -1, -1)
            raise RuntimeError("llama.cpp could not load the saved sequence (no room in the KV cache?)")
        self._tokens = list(saved.tokens)
        llm.n_tokens = len(self._tokens)
        llm.input_ids[: llm.n_tokens] = self._tokens

    def extend(self, tokens: Sequence[int]) -> np.ndarray:
        """Evaluate more tokens after the cached ones; the logits after the last of them."""
        return self._decode(tokens, 1)[-1]

    def extend_all(self, tokens: Sequence[int]) -> np.ndarray:
        """Evaluate tokens in one pass and return the logits after *each* of them (rows = len)."""
        return self._decode(tokens, len(tokens))

    def extend_last(self, tokens: Sequence[int], n_out: int) -> np.ndarray:
        """Evaluate tokens in one pass; the logits after each of the last ``n_out`` of them.

        Verification uses it for "rest of the context + k drafts" in one forward pass.
        """
        return self._decode(tokens, n_out)

    def score(self, tokens: Sequence[int],
              top_n: int = 1) -> list[tuple[float, int, list[tuple[int, float]]]]:
        """Teacher-forced log-probabilities of ``tokens[1:]`` (vLLM's ``prompt_logprobs``).

        For each position after the first: (logprob of the actual token, its rank, top_n
        alternatives). Re-evaluates the whole sequence batch by batch, as vLLM does.
        """
        self.truncate(0)
        out: list[tuple[float, int, list[tuple[int, float]]]] = []
        prev: np.ndarray | None = None
        n_batch = self._llm.n_batch
        for start in range(0, len(tokens), n_batch):
            rows = self.extend_all(tokens[start:start + n_batch])
            for j in range(rows.shape[0]):
                pos = start + j  # rows[j] predicts tokens[pos + 1]
                if prev is not None:
                    out.append(_scored(prev, tokens[pos], top_n))
                prev = rows[j]
        return out

    def next_logits(self) -> np.ndarray:
        if self._logits is None:
            if not self._tokens:
                raise RuntimeError("empty context has no next-token logits")
            last = self._tokens[-1]
            self.truncate(len(self._tokens) - 1)
            self.extend([last])
        assert self._logits is not None
        return self._logits

    def _decode(self, tokens: Sequence[int], n_out: int) -> np.ndarray:
        """llama_decode in batches; logits are kept for the last ``n_out`` tokens only."""
        if not tokens:
            raise ValueError("nothing to evaluate")
        if len(self._tokens) + len(tokens) > self.n_ctx:
            raise ContextOverflow(
                f"{len(self._tokens) + len(tokens)} tokens exceed the context window of {self.n_ctx}")
        llm = self._llm
        llm.n_tokens = len(self._tokens)
        llm._ctx.kv_cache_seq_rm(-1, llm.n_tokens, -1)
        first_out = len(tokens) - max(1, n_out)
        rows: list[np.ndarray] = []
        for start in range(0, len(tokens), llm.n_batch):
            batch = list(tokens[start : start + llm.n_batch])
            n_past = llm.n_tokens
            llm._batch.set_batch(batch=batch, n_past=n_past, logits_all=False)  # flags the batch's last token
            wanted_from = max(0, first_out - start)  # index in this batch of the first wanted position
            for i in range(wanted_from, len(batch)):
                llm._batch.batch.logits[i] = True
            llm._ctx.decode(llm._batch)
            llm.input_ids[n_past : n_past + len(batch)] = batch
            llm.n_tokens += len(batch)
            self._tokens.extend(batch)
            n_wanted = len(batch) - wanted_from
            if n_wanted > 0:
                out = np.ctypeslib.as_array(llm._ctx.get_logits(), shape=(n_wanted * self.n_vocab,))
                rows.append(out.reshape(n_wanted, self.n_vocab).copy())
        logits = np.concatenate(rows) if len(rows) > 1 else rows[0]
        self._logits = logits[-1]
        return logits

    # -- generation ----------------------------------------------------------------------------
    def check_fits(self, n_prompt: int, max_tokens: int) -> None:
        if n_prompt + max_tokens > self.n_ctx:
            raise ContextOverflow(
                f"prompt of {n_prompt} tokens plus max_tokens {max_tokens} "
                f"exceeds the context window of {self.n_ctx}"
            )

    def constraint(self, grammar: Grammar) -> Constraint:
        """A fresh state in ``grammar`` for one answer (the model's grammar tokenizer is built once)."""
        if self._grammar_tokenizer is None:
            import llama_cpp

            vocab = llama_cpp.llama_model_get_vocab(self._llm.model)
            self._grammar_tokenizer = GrammarTokenizer(vocab, self.n_vocab, sorted(self.eos_token_ids),
                                                       self.token_bytes)
        return Constraint(self._grammar_tokenizer, grammar)

    def generate(self, prompt: Sequence[int], params: SamplingParams, with_entropy: bool = False,
                 constraint: TokenFilter | None = None) -> Iterator[TokenEvent]:
        """Decode token by token; the last event carries the finish reason.

        At temperature > 0 each event also says how probable the drawn token was (``q``,
        ``q_top``), so the tokens can later be verified as drafts by rejection sampling.
        With a ``constraint`` only grammatical tokens are drawn (and it follows them); the
        log-probabilities are those of the constrained distribution.
        """
        self.check_fits(len(prompt), params.max_tokens)
        logits = self.sync(prompt)
        rng = np.random.default_rng(params.seed)
        text = TokenTextStream(self.token_bytes, params.stop)
        for produced in range(1, params.max_tokens + 1):
            if constraint is not None:
                logits = constraint.mask(logits)
            logprobs = log_softmax(logits)
            token, q, q_top = _pick(logits, params.temperature, params.top_p, rng)
            if constraint is not None and not self.is_eos(token):
                constraint.advance([token])
            event = TokenEvent(token, float(logprobs[token]), "", q=q, q_top=q_top)
            event.top_logprobs = top_logprobs(logprobs, params.top_logprobs)
            if with_entropy:
                event.entropy = entropy(logprobs)
            if self.is_eos(token):
                event.text = text.flush()
                event.finish_reason = "stop"
                yield event
                return
            event.text = text.push(token)
            if text.stopped:
                event.finish_reason = "stop"
                yield event
                return
            if produced == params.max_tokens:
                event.text += text.flush()
                event.finish_reason = "length"
                yield event
                return
            yield event
            logits = self.extend([token])

    def draft(self, k: int, temperature: float = 0.0, top_p: float = 1.0,
              rng: PositionalRng | None = None, constraint: Constraint | None = None) -> list[DraftToken]:
        """Propose k tokens from the current cache (greedy, or sampled for rejection sampling).

        Every draft but an end-of-generation one is evaluated, so the cache ends after the
        drafts and drafting can go on while the cloud verifies them. Sampled drafts draw
        from ``rng`` keyed by their position, so a seed reproduces them however rounds fall.
        A ``constraint`` (at the cache's end) keeps the drafts grammatical and follows them.
        """
        drafts: list[DraftToken] = []
        logits = self.next_logits()
        rng = rng or PositionalRng(None)
        for _ in range(k):
            if constraint is not None:
                logits = constraint.mask(logits)
            logprobs = log_softmax(logits)
            gen = rng.at(PositionalRng.DRAFT, len(self._tokens)) if temperature > 0 else None
            token, q, q_top = _pick(logits, temperature, top_p, gen)
            drafts.append(DraftToken(token, float(logprobs[token]), q, q_top))
            if constraint is not None and not self.is_eos(token):
                constraint.advance([token])
            if self.is_eos(token) or len(self._tokens) + 1 >= self.n_ctx:
                break
            logits = self.extend([token])
        return drafts


def _pick(logits: np.ndarray, temperature: float, top_p: float, rng: np.random.Generator | None
          ) -> tuple[int, float, dict[int, float] | None]:
    """The next token, its probability under the distribution it was drawn from, and that
    distribution's best tokens (greedy: the argmax, 1.0, None) — what rejection sampling needs."""
    if temperature <= 0:
        return int(np.argmax(logits)), 1.0, None
    probs = sampling_probs(logits, temperature, top_p)
    token = sample_from(probs, rng if rng is not None else np.random.default_rng())
    return token, float(probs[token]), sparse_top(probs)


def _scored(logits: np.ndarray, token: int, top_n: int) -> tuple[float, int, list[tuple[int, float]]]:
    logprobs = log_softmax(logits)
    rank = int((logprobs > logprobs[token]).sum()) + 1
    return float(logprobs[token]), rank, top_logprobs(logprobs, top_n)


def common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i
