"""A zero-cost stand-in for ``LlamaEngine``: same interface, no model, instant answers.

For measuring what the gateway itself costs (``bench/gateway_load.py``) and for tests of
the HTTP layer that must not wait on a model. Tokens are bytes (vocab 256 + 1 eos); the
answer cycles through a fixed text, so outputs are predictable.
"""

from __future__ import annotations

from typing import Iterator, Sequence

from device_runtime.engine import ContextOverflow, SamplingParams, TokenEvent
from device_runtime.text import TokenTextStream

EOS = 256


class FakeEngine:
    name = "fake-engine"
    n_vocab = 257

    def __init__(self, answer: str = "The quick brown fox jumps over the lazy dog. ", n_ctx: int = 4096):
        self.answer = answer.encode()
        self.n_ctx = n_ctx
        self.eos_token_ids = frozenset({EOS})
        self._tokens: list[int] = []

    def tokenize(self, text: str, add_bos: bool = True, special: bool = True) -> list[int]:
        return list(text.encode("utf-8"))

    def token_bytes(self, token_id: int) -> bytes:
        return b"" if token_id == EOS else bytes([token_id])

    def detokenize(self, ids: Sequence[int]) -> str:
        return b"".join(self.token_bytes(t) for t in ids).decode("utf-8", errors="replace")

    def is_eos(self, token_id: int) -> bool:
        return token_id == EOS

    supports_tools = True  # it lists them, as a Hermes-style template does

    def chat_prompt(self, messages: Sequence[dict], tools: Sequence[dict] | None = None) -> str:
        listed = "".join(f"<tool>{t['function']['name']}\n" for t in tools or [])
        return listed + "".join(f"<{m['role']}>{m['content']}\n" for m in messages) + "<assistant>"

    def chat_tokens(self, messages: Sequence[dict], tools: Sequence[dict] | None = None) -> list[int]:
        return self.tokenize(self.chat_prompt(messages, tools))

    def check_fits(self, n_prompt: int, max_tokens: int) -> None:
        if n_prompt + max_tokens > self.n_ctx:
            raise ContextOverflow(f"{n_prompt} + {max_tokens} tokens exceed {self.n_ctx}")

    def sync(self, tokens: Sequence[int]) -> None:
        self._tokens = list(tokens)

    def answer_for(self, prompt: Sequence[int]) -> bytes | None:
        """The whole answer to ``prompt``, ended by ``stop``; None: cycle ``self.answer`` until
        ``max_tokens``. Subclasses script answers here; the token loop stays the one in ``generate``."""
        return None

    def generate(self, prompt: Sequence[int], params: SamplingParams, with_entropy: bool = False,
                 constraint: object | None = None) -> Iterator[TokenEvent]:
        """The fixed answer; ``constraint`` is accepted as the real engine takes it, never followed."""
        self.check_fits(len(prompt), params.max_tokens)
        scripted = self.answer_for(prompt)
        text = TokenTextStream(self.token_bytes, params.stop)
        for i in range(params.max_tokens if scripted is None else min(params.max_tokens, len(scripted))):
            token = self.answer[i % len(self.answer)] if scripted is None else scripted[i]
            ev = TokenEvent(token, -0.1, text.push(token))
            if text.stopped or (scripted is not None and i + 1 == len(scripted)):
                ev.text += text.flush()
                ev.finish_reason = "stop"
            elif i + 1 == params.max_tokens:
                ev.text += text.flush()
                ev.finish_reason = "length"
            yield ev
            if ev.finish_reason:
                return
