"""Constrained decoding: a grammar turns into "which tokens may come next", token by token.

    grammar = Grammar.json_schema(schema)              # or Grammar.json_object(); raises GrammarError
    c = engine.constraint(grammar)                     # this answer's state, at its start
    for ev in engine.generate(prompt, params, constraint=c): ...   # only grammatical tokens

The masks come from llguidance (the Rust library behind Guidance; vLLM and llama.cpp use it
too), with its tokenizer built once per model from llama.cpp's own vocabulary. Measured on
Qwen2.5-Coder-0.5B (151,936 tokens, 2 cores): a mask takes ~0.3 ms and applying it ~0.2 ms,
against ~18 ms to decode a token (``bench/grammar.py`` measures the ratio).

A ``Constraint`` follows one answer. ``fork`` copies it (drafts are made on a copy, so a
rejected draft never has to be taken back from the answer's own state), ``advance`` consumes
tokens, and ``rows`` filters a cloud's top tokens per position down to the grammatical ones,
which is how speculative decoding takes the cloud's verdict over allowed tokens only.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

# one line, no whitespace: a small model given free whitespace can loop on newlines until max_tokens (seen
# with SmolLM2 on nested arrays), and JSON needs none of it. llguidance then writes "," and ":" between
# items, as vLLM's xgrammar does under ``disable_any_whitespace`` (cloud/vllm_cpu.py starts it so, and
# vLLM's own llguidance backend compiles a schema with exactly these defaults): the device drafts in the
# cloud's grammar, so the speculative output can equal vLLM's constrained answer
COMPACT: Any = {"whitespace_flexible": False}


class GrammarError(ValueError):
    """The grammar cannot be compiled (an unsupported or malformed JSON schema), or a token broke it."""


class TokenFilter(Protocol):
    """What generation asks of a constraint: mask the logits, follow the tokens drawn."""

    def mask(self, logits: np.ndarray) -> np.ndarray: ...

    def advance(self, tokens: Sequence[int]) -> None: ...


class AllowedTokens:
    """vLLM's ``allowed_token_ids``: only these tokens, at every step (a fixed mask, no grammar to follow).
    The local cloud serves it, so the probe speculative decoding sends where a grammar allowed none of the
    cloud's top tokens (``gateway.core.modes.speculative``) runs against it as against vLLM."""

    def __init__(self, ids: Sequence[int], n_vocab: int):
        if not ids or any(not 0 <= t < n_vocab for t in ids):
            raise GrammarError(f"allowed_token_ids must be a non-empty list of token ids below {n_vocab}")
        self._allowed = np.zeros(n_vocab, dtype=bool)
        self._allowed[list(ids)] = True

    def mask(self, logits: np.ndarray) -> np.ndarray:
        return np.where(self._allowed, logits, -np.inf).astype(logits.dtype, copy=False)

    def advance(self, tokens: Sequence[int]) -> None:
        """Nothing to follow: the same tokens stay allowed."""


@dataclass(frozen=True)
class Grammar:
    """A grammar in llguidance's own form (compiled lazily per model)."""

    source: str
    kind: str  # "json_schema" | "json_object"

    @classmethod
    def json_schema(cls, schema: dict[str, Any]) -> Grammar:
        import llguidance

        try:
            source = llguidance.LLMatcher.grammar_from_json_schema(json.dumps(schema), defaults=COMPACT)
        except (ValueError, TypeError) as exc:
            raise GrammarError(f"the JSON schema cannot be used: {exc}") from exc
        failed, messages = llguidance.LLMatcher.validate_grammar_with_warnings(source)
        if failed:
            raise GrammarError(f"the JSON schema cannot be used: {'; '.join(messages)}")
        return cls(source, "json_schema")

    @classmethod
    def lark(cls, source: str, kind: str) -> Grammar:
        """llguidance's Lark dialect (``%json {...}`` embeds a schema; ``<[id]>`` is a special token)."""
        import llguidance

        grammar = llguidance.grammar_from("lark", source)
        failed, messages = llguidance.LLMatcher.validate_grammar_with_warnings(grammar)
        if failed:
            raise GrammarError(f"the grammar cannot be used: {'; '.join(messages)}")
        return cls(grammar, kind)

    @classmethod
    def json_object(cls) -> Grammar:
        return cls.json_schema({"type": "object"})


class GrammarTokenizer:
    """llguidance's view of one model's vocabulary (built once per engine: ~1 s for 152k tokens)."""

    def __init__(self, llama_vocab: Any, n_vocab: int, eos_token_ids: Sequence[int],
                 token_bytes: Callable[[int], bytes] | None = None):
        from llguidance.llamacpp import lltokenizer_from_vocab

        self.n_vocab = n_vocab
        with warnings.catch_warnings():  # it reads each token's attributes through a deprecated binding
            warnings.simplefilter("ignore", DeprecationWarning)
            eos = sorted(eos_token_ids)
            self.tokenizer = lltokenizer_from_vocab(llama_vocab, n_vocab=n_vocab, eos_token=eos)
        # each spelling's tokens, built here with the rest of the vocabulary's view (not on a decode step)
        self._by_bytes: dict[bytes, list[int]] = {}
        spellings = (token_bytes(t) for t in range(n_vocab)) if token_bytes is not None else iter(())
        for t, b in enumerate(spellings):
            if b:
                self._by_bytes.setdefault(b, []).append(t)

    def spelling_prefixes(self, text: bytes) -> list[int]:
        """The tokens whose bytes are a non-empty prefix of ``text``."""
        return [t for n in range(1, len(text) + 1) for t in self._by_bytes.get(text[:n], [])]


class Constraint:
    """One answer's place in its grammar."""

    def __init__(self, tokenizer: GrammarTokenizer, grammar: Grammar, _matcher: Any = None):
        import llguidance

        self._tokenizer, self.grammar = tokenizer, grammar
        self._matcher = _matcher if _matcher is not None else llguidance.LLMatcher(tokenizer.tokenizer,
                                                                                    grammar.source)
        if self._matcher.is_error():
            raise GrammarError(f"the grammar cannot be used: {self._matcher.get_error()}")
        self._bitmask = np.full((tokenizer.n_vocab + 31) // 32, -1, dtype=np.int32)

    def fork(self) -> Constraint:
        return Constraint(self._tokenizer, self.grammar, self._matcher.deep_copy())

    @property
    def finished(self) -> bool:
        """The grammar is complete: only the end of generation may follow."""
        return bool(self._matcher.is_stopped())

    def allowed(self) -> np.ndarray:
        """A boolean mask over the vocabulary: the tokens that may come next.

        Where the grammar forces text (a key and its ``":"``), llguidance lists one tokenization of it
        (``'":{"'``), yet any token spelling a prefix of it is as grammatical (``'":'`` then ``'{"'``),
        and vLLM's xgrammar allows them all, so the model picks among them. They are allowed here too:
        the device, the local cloud and the verdict over vLLM's rows then choose as vLLM does."""
        self._matcher.unsafe_compute_mask_ptr(self._bitmask.ctypes.data, self._bitmask.nbytes)
        mask = np.unpackbits(self._bitmask.view(np.uint8), bitorder="little")[: self._tokenizer.n_vocab] \
            .astype(bool)
        if np.count_nonzero(mask) == 1:
            for t in self._tokenizer.spelling_prefixes(bytes(self._matcher.compute_ff_bytes())):
                if not mask[t] and self._matcher.validate_tokens([t]) == 1:
                    mask[t] = True
        return mask

    def mask(self, logits: np.ndarray) -> np.ndarray:
        """The logits with every token the grammar forbids at -inf (a copy)."""
        return np.where(self.allowed(), logits, -np.inf).astype(logits.dtype, copy=False)

    def advance(self, tokens: Sequence[int]) -> None:
        if not self._matcher.consume_tokens(list(tokens)):
            raise GrammarError(f"token broke the grammar: {self._matcher.get_error()}")

    def allowed_after(self, tokens: Sequence[int]) -> np.ndarray:
        """The ids the grammar allows once ``tokens`` (grammatical) follow the current state."""
        walk = self.fork()
        walk.advance(tokens)
        return np.flatnonzero(walk.allowed())

    def rows(self, drafts: Sequence[int], top: Sequence[Sequence[tuple[int, float]]]
             ) -> list[list[tuple[int, float]]]:
        """The cloud's top tokens at each position 0..k after ``drafts``, keeping the grammatical ones.

        Position i is judged in the state the grammar is in after drafts[:i] (all of them are
        grammatical: the device drafted under the same grammar). Where the grammar allows one token
        only, that token is the row: it is the cloud's constrained choice whatever the cloud prefers.
        An empty row means none of the cloud's top tokens is allowed there.
        """
        walk = self.fork()
        out: list[list[tuple[int, float]]] = []
        for i, row in enumerate(top[: len(drafts) + 1]):
            allowed = walk.allowed()
            only = np.flatnonzero(allowed)
            if len(only) == 1:  # forced: whatever the cloud prefers, its constrained choice is this token
                out.append([(int(only[0]), 0.0)])
            else:
                out.append([(t, lp) for t, lp in row if 0 <= t < len(allowed) and allowed[t]])
            if i < len(drafts) and walk._matcher.try_consume_tokens([drafts[i]]) != 1:
                break  # the end of generation (or a token past it): nothing after it is judged
        return out + [[] for _ in range(len(top[: len(drafts) + 1]) - len(out))]
