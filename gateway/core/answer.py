"""One answer as it is produced, whoever produces it: text, tokens, counts, finish reason.

Every mode feeds tokens (or, for cloud pass-through, text) into one ``AnswerBuilder``;
it applies stop sequences, end-of-generation and ``max_tokens`` the same way for all,
restores redacted personal data, attributes tokens to device or cloud in the trace, and
hands back the chunks the client should see.

There is exactly one UTF-8 decoder and one stop matcher per answer, whoever produces
the tokens, so when the producer changes mid-answer (the cloud fails and the device goes
on, or the device hands over to the cloud) a multi-byte character split across the
hand-over is joined and a stop sequence straddling it is found. ``generated_ids`` is what
the next producer continues from: every token id produced so far, and pass-through text
(including text still held back by the stop matcher) tokenized as plain text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

from device_runtime.text import IncrementalDetokenizer, StopMatcher
from gateway.core.trace import RouteTrace
from gateway.privacy.policy import Redactor, StreamRestorer

# (token id, its log-probability or None when no model reported one, the top alternatives)
TokenLogprob = tuple[int, float | None, list[tuple[int, float]]]


@dataclass
class Chunk:
    text: str
    token_ids: list[int] = field(default_factory=list)
    logprobs: list[TokenLogprob] = field(default_factory=list)
    origin: str = ""  # "device" or "cloud": who produced this text
    raw_logprobs: list | dict | None = None  # cloud pass-through: the cloud's own OpenAI logprobs entries


class AnswerBuilder:
    def __init__(self, token_bytes: Callable[[int], bytes], is_eos: Callable[[int], bool], max_tokens: int,
                 stop: Sequence[str], trace: RouteTrace, redactor: Redactor | None = None, n_top: int = 0):
        self._utf8 = IncrementalDetokenizer(token_bytes)
        self._stop = StopMatcher(stop)
        self._is_eos = is_eos
        self._restorer = StreamRestorer(redactor) if redactor else None
        self._token_bytes, self._stops = token_bytes, tuple(stop)
        self.max_tokens = max_tokens
        self.n_top = n_top  # alternatives per token the client asked for
        self.trace = trace
        self.token_ids: list[int] = []  # ids from token producers, in order (eos excluded)
        self._segments: list[list[int] | str] = []  # everything generated: runs of ids, or pass-through text
        self.completion_tokens = 0
        self.finish_reason: str | None = None

    @property
    def finished(self) -> bool:
        return self.finish_reason is not None

    @property
    def remaining(self) -> int:
        return self.max_tokens - self.completion_tokens

    def lookahead(self) -> "AnswerBuilder":
        """A silent twin with the same stops and limits: where would this answer end?

        The cascade lets the device answer into it before deciding whether the client sees
        that answer or the cloud verifies it first (valid before anything was emitted).
        """
        assert not self._segments, "a lookahead starts where the answer starts"
        return AnswerBuilder(self._token_bytes, self._is_eos, self.max_tokens, self._stops, RouteTrace())

    def generated_ids(self, tokenize: Callable[[str], list[int]]) -> list[int]:
        """What a producer taking over continues from: ids as produced, text as plain tokens."""
        ids: list[int] = []
        for seg in self._segments:
            ids += tokenize(seg) if isinstance(seg, str) else seg
        return ids

    def _count(self, source: str, n: int = 1) -> None:
        self.completion_tokens += n
        if source == "device":
            self.trace.device_tokens += n
        else:
            self.trace.cloud_tokens += n

    def _record(self, item: int | str) -> None:
        last = self._segments[-1] if self._segments else None
        if isinstance(item, str):
            if isinstance(last, str):
                self._segments[-1] = last + item
            else:
                self._segments.append(item)
        elif isinstance(last, list):
            last.append(item)
        else:
            self._segments.append([item])

    def _release(self, text: str, origin: str) -> Chunk:
        if text and "first_token" not in self.trace.timings_ms:
            self.trace.mark("first_token")
        return Chunk(self._restorer.push(text) if self._restorer else text, origin=origin)

    def _drain(self) -> str:
        """Everything still held back (a split character, a possible stop's prefix), now final."""
        return self._stop.push(self._utf8.flush()) + self._stop.flush()

    def add_token(self, token_id: int, source: str, logprob: float | None = None,
                  top: list[tuple[int, float]] | None = None) -> Chunk | None:
        """One generated token; returns what the client should receive now (maybe nothing)."""
        if self.finished:
            return None
        self._count(source)
        if self._is_eos(token_id):
            self.finish_reason = "stop"
            return self._release(self._drain(), source)
        self.token_ids.append(token_id)
        self._record(token_id)
        text = self._stop.push(self._utf8.push(token_id))
        if self._stop.stopped:
            self.finish_reason = "stop"
        elif self.completion_tokens >= self.max_tokens:
            text += self._drain()
            self.finish_reason = "length"
        chunk = self._release(text, source)
        chunk.token_ids = [token_id]
        chunk.logprobs = [(token_id, logprob, list(top or [])[: self.n_top])]
        return chunk

    def add_text(self, text: str, source: str, n_tokens: int = 0, raw_logprobs: list | dict | None = None
                 ) -> Chunk | None:
        """Text from a producer that does not give us token ids (cloud pass-through)."""
        if self.finished:
            return None
        self._count(source, n_tokens)
        self._record(text)
        out = self._stop.push(self._utf8.flush() + text)
        if self._stop.stopped:
            self.finish_reason = "stop"
        chunk = self._release(out, source)
        chunk.raw_logprobs = raw_logprobs
        return chunk

    def finish(self, reason: str) -> Chunk:
        """Close the answer (e.g. the cloud said it stopped); flush what was held back."""
        if self.finish_reason is None:
            self.finish_reason = reason
        chunk = self._release(self._drain(), "")
        if self._restorer:
            chunk.text += self._restorer.flush()
        return chunk
