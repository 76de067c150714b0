"""One answer as it is produced, whoever produces it: text, tokens, counts, finish reason.

Every mode feeds tokens (or, for cloud pass-through, text) into an ``AnswerBuilder``;
it applies stop sequences, end-of-generation and ``max_tokens`` the same way for all,
restores redacted personal data, attributes tokens to device or cloud in the trace, and
hands back the chunks the client should see.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

from device_runtime.text import StopMatcher, TokenTextStream
from routers.privacy import Redactor, StreamRestorer

from .trace import RouteTrace


@dataclass
class Chunk:
    text: str
    token_ids: list[int] = field(default_factory=list)
    logprobs: list[tuple[int, float, list[tuple[int, float]]]] = field(default_factory=list)
    origin: str = ""  # "device" (drafted by the device and kept) or "cloud"; "" for flushed tails


class AnswerBuilder:
    def __init__(self, token_bytes: Callable[[int], bytes], is_eos: Callable[[int], bool], max_tokens: int,
                 stop: Sequence[str], trace: RouteTrace, redactor: Redactor | None = None):
        self._text = TokenTextStream(token_bytes, stop)
        self._stop_text = StopMatcher(stop)  # for text that arrives without token ids (cloud pass-through)
        self._is_eos = is_eos
        self._restorer = StreamRestorer(redactor) if redactor else None
        self.max_tokens = max_tokens
        self.trace = trace
        self.token_ids: list[int] = []  # everything generated, in order (eos excluded)
        self.raw_text = ""  # generated text before restoration (what the model said)
        self.completion_tokens = 0
        self.finish_reason: str | None = None

    @property
    def finished(self) -> bool:
        return self.finish_reason is not None

    @property
    def remaining(self) -> int:
        return self.max_tokens - self.completion_tokens

    def _count(self, source: str, n: int = 1) -> None:
        self.completion_tokens += n
        if source == "device":
            self.trace.device_tokens += n
        else:
            self.trace.cloud_tokens += n

    def _release(self, text: str) -> str:
        self.raw_text += text
        return self._restorer.push(text) if self._restorer else text

    def add_token(self, token_id: int, source: str, logprob: float | None = None,
                  top: list[tuple[int, float]] | None = None) -> Chunk | None:
        """One generated token; returns what the client should receive now (maybe nothing)."""
        if self.finished:
            return None
        self._count(source)
        lp = [(token_id, logprob if logprob is not None else 0.0, top or [])]
        if self._is_eos(token_id):
            self.finish_reason = "stop"
            return Chunk(self._release(self._text.flush()), [], [], origin=source)
        self.token_ids.append(token_id)
        text = self._text.push(token_id)
        if self._text.stopped:
            self.finish_reason = "stop"
        elif self.completion_tokens >= self.max_tokens:
            text += self._text.flush()
            self.finish_reason = "length"
        return Chunk(self._release(text), [token_id], lp, origin=source)

    def add_text(self, text: str, source: str, n_tokens: int = 0) -> Chunk | None:
        """Text from a producer that does not give us token ids (cloud chat pass-through)."""
        if self.finished:
            return None
        self._count(source, n_tokens)
        out = self._stop_text.push(text)
        if self._stop_text.stopped:
            self.finish_reason = "stop"
        return Chunk(self._release(out), origin=source)

    def finish(self, reason: str) -> Chunk:
        """Close the answer (e.g. the cloud said it stopped); flush what was held back."""
        if self.finish_reason is None:
            self.finish_reason = reason
        tail = self._text.flush() + self._stop_text.flush()
        out = self._release(tail)
        if self._restorer:
            out += self._restorer.flush()
        return Chunk(out)
