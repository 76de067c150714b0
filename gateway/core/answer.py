"""One answer as it is produced, whoever produces it, and everything the route trace counts about it.

Every mode feeds tokens (or, for cloud pass-through, text) into one ``AnswerBuilder``; it
applies stop sequences, end-of-generation and ``max_tokens`` the same way for all, restores
redacted personal data, and hands back the chunks the client should see. It is also the
one place that writes the route trace while an answer runs: tokens by origin, verification
rounds, the cascade's verdict, the hand-over, the cloud's traffic and the timings. (The
planner writes the route decision when it creates the trace; nothing else writes it.)

There is exactly one text stream (UTF-8 decoder + stop matcher, ``TokenTextStream``) per
answer, whoever produces the tokens, so when the producer changes mid-answer (the cloud
fails and the device goes on, or the device hands over to the cloud) a multi-byte
character split across the hand-over is joined and a stop sequence straddling it is found.
``generated_ids`` is what the next producer continues from: every token id produced so far,
and pass-through text (including text still held back by the stop matcher) tokenized as
plain text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

from device_runtime.text import TokenTextStream
from gateway.cloud_client.transport import CallStats
from gateway.core.trace import RouteTrace
from gateway.core.verifiers.base import Verdict
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
    def __init__(
        self,
        token_bytes: Callable[[int], bytes],
        is_eos: Callable[[int], bool],
        max_tokens: int,
        stop: Sequence[str],
        trace: RouteTrace,
        redactor: Redactor | None = None,
        n_logprobs: int | None = None,
    ):
        self._text = TokenTextStream(token_bytes, stop)
        self._is_eos = is_eos
        self._restorer = StreamRestorer(redactor) if redactor else None
        self._token_bytes, self._stops = token_bytes, tuple(stop)
        self.max_tokens = max_tokens
        self.n_logprobs = n_logprobs  # None: the client asked for no logprobs; else alternatives per token
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

    @property
    def started(self) -> bool:
        """Has anything been generated (shown or held back)?"""
        return bool(self._segments) or self.completion_tokens > 0

    @property
    def n_top(self) -> int:
        return self.n_logprobs or 0

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

    # -- tokens and text -----------------------------------------------------------------------
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

    def add_token(
        self,
        token_id: int,
        source: str,
        logprob: float | None = None,
        top: list[tuple[int, float]] | None = None,
    ) -> Chunk | None:
        """One generated token; returns what the client should receive now (maybe nothing)."""
        if self.finished:
            return None
        self._count(source)
        if self._is_eos(token_id):
            self.finish_reason = "stop"
            return self._release(self._text.flush(), source)
        self.token_ids.append(token_id)
        self._record(token_id)
        text = self._text.push(token_id)
        if self._text.stopped:
            self.finish_reason = "stop"
        elif self.completion_tokens >= self.max_tokens:
            text += self._text.flush()
            self.finish_reason = "length"
        chunk = self._release(text, source)
        chunk.token_ids = [token_id]
        chunk.logprobs = [(token_id, logprob, list(top or [])[: self.n_top])]
        return chunk

    def add_text(
        self, text: str, source: str, n_tokens: int = 0, raw_logprobs: list | dict | None = None
    ) -> Chunk | None:
        """Text from a producer that does not give us token ids (cloud pass-through)."""
        if self.finished:
            return None
        self._count(source, n_tokens)
        self._record(text)
        out = self._text.push_text(text)
        if self._text.stopped:
            self.finish_reason = "stop"
        chunk = self._release(out, source)
        chunk.raw_logprobs = raw_logprobs
        return chunk

    def cloud_reported(self, completion_tokens: int) -> None:
        """Pass-through: the cloud's usage says how many tokens it generated (text chunks undercount)."""
        self.completion_tokens = max(self.completion_tokens, completion_tokens)
        self.trace.cloud_tokens = self.completion_tokens - self.trace.device_tokens
        self.trace.cloud_passes = self.completion_tokens

    def finish(self, reason: str) -> Chunk:
        """Close the answer (e.g. the cloud said it stopped); flush what was held back."""
        if self.finish_reason is None:
            self.finish_reason = reason
        chunk = self._release(self._text.flush(), "")
        if self._restorer:
            chunk.text += self._restorer.flush()
        return chunk

    # -- what the trace counts besides tokens ------------------------------------------------------
    def verified(self, drafted: int, accepted: int) -> None:
        """One cloud verification pass over ``drafted`` device tokens, of which it kept ``accepted``."""
        t = self.trace
        t.drafts_proposed += drafted
        t.drafts_accepted += accepted
        t.cloud_passes += 1
        t.draft_lengths.append(drafted)

    def grammar_fallbacks(self, n: int) -> None:
        """Positions where a grammar allowed none of the cloud's top tokens, so the device's token stood."""
        self.trace.grammar_fallbacks += n

    def grammar_probed(self) -> None:
        """A position where a grammar allowed none of the cloud's top tokens, so the cloud was asked for its
        best allowed token."""
        self.trace.grammar_probes += 1

    def shown_unverified(self, n: int) -> None:
        """Opportunistic mode: device tokens shown without the cloud's verdict."""
        self.trace.unverified_tokens += n

    def judged(self, confidence: float | None, verdicts: Sequence[Verdict], escalated: bool) -> None:
        """The cascade's verdict on the device's answer: its confidence, what each verifier said, and
        whether the cloud takes over (the reason names a failing check other than low confidence)."""
        t = self.trace
        t.confidence = None if confidence is None else round(confidence, 4)
        t.verdicts = [v.as_trace() for v in verdicts]
        t.escalated = escalated
        failed = next((v for v in verdicts if v.failed), None)
        if escalated and failed is not None and failed.verifier != "confidence":
            t.reason += f"; {failed.verifier}: {failed.reason}"

    def handed_to_cloud(self) -> None:
        """The streaming cascade: the cloud goes on after the tokens shown so far."""
        self.trace.handover_token = self.trace.device_tokens
        self.trace.reason += f"; handed over after {self.trace.device_tokens} tokens"

    def degraded(self, reason: str) -> None:
        """The cloud failed mid-answer and the device finishes it; ``reason`` is public (no addresses)."""
        self.trace.degraded = True
        self.trace.degraded_reason = reason

    def mark(self, event: str) -> None:
        self.trace.mark(event)

    def close(self, traffic: CallStats) -> None:
        """The request is over (finished, failed or abandoned): its cloud traffic goes into the trace."""
        t = self.trace
        t.cloud_calls += traffic.calls
        t.verify_fallbacks += traffic.fallbacks
        t.bytes_up += traffic.bytes_up
        t.bytes_down += traffic.bytes_down
        if traffic.affinity is not None:
            t.cloud_replica = traffic.affinity.replica
            t.cloud_failovers += traffic.affinity.failovers
        t.mark("done")
