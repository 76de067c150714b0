"""From generated text and tokens to OpenAI's JSON: one encoder, for the gateway and the local cloud.

    enc = Encoder(chat=True, model="tandem-auto", vocab=Vocab.of(engine), logprobs=True)
    enc.response(text, "stop", usage(12, 3), [(c.logprobs, c.raw_logprobs) for c in chunks])
    enc.role()                                            # a chat stream's opening chunk
    enc.delta(c.text, c.logprobs, c.raw_logprobs, origin=c.origin)   # one per content chunk
    enc.final("stop", tandem=trace.to_dict())             # the chunk that carries finish_reason
    enc.usage_chunk(usage(12, 3))                         # stream_options.include_usage

The input is the core's chunks (``gateway.core.answer.Chunk``) taken apart: text, token
logprobs as ``(token_id, logprob | None, [(alt_id, alt_logprob)])``, an origin, and — from
a cloud passed through — the cloud's own OpenAI logprobs entries (``raw``), passed on as
they came. The output is the typed shapes of ``gateway.api.protocol``, serialized by
``gateway.api.sse`` (streams) or ``protocol.dumps`` (whole answers).

Logprobs are formatted here and nowhere else, in both of OpenAI's forms (chat's
``{"content": [...]}``, completions' parallel lists) and vLLM's ``prompt_logprobs``. A
logprob no model reported stays null, never a made-up 0.0. ``logprobs=False`` leaves them
out (``null`` on a whole answer, no key on a streamed chunk).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from device_runtime.tools import Content, ToolCall
from gateway.api.responses import (
    ChatCompletion,
    ChatCompletionChunk,
    ChatLogprobs,
    ChatTokenLogprob,
    Completion,
    CompletionLogprobs,
    PromptLogprobs,
    PromptTokenLogprob,
    ToolCallDelta,
    Usage,
    VllmChoiceFields,
    new_id,
    now,
)

if TYPE_CHECKING:

    # (token id, its logprob or None, [(alternative id, its logprob)])
    from gateway.core.answer import TokenLogprob

    # one chunk's logprobs: its tokens' entries, and the cloud's own OpenAI entries (pass-through) or None
    LogprobRun = tuple[Sequence[TokenLogprob], list | dict | None]

# a prompt token's teacher-forced score (``engine.score``): its logprob, its rank, the top candidates
PromptScore = tuple[float, int, Sequence[tuple[int, float]]]


class Detokenizer(Protocol):
    def detokenize(self, ids: Sequence[int]) -> str: ...
    def token_bytes(self, token_id: int) -> bytes: ...


@dataclass(frozen=True)
class Vocab:
    """How a token id reads on the wire: its ``token`` string and its ``bytes``."""

    text: Callable[[int], str]
    bytes: Callable[[int], bytes]

    @classmethod
    def of(cls, engine: Detokenizer, as_ids: bool = False) -> Vocab:
        """The engine's own text, or vLLM's ``token_id:N`` (``return_tokens_as_token_ids``)."""
        if as_ids:
            return cls(lambda t: f"token_id:{t}", engine.token_bytes)
        return cls(lambda t: engine.detokenize([t]), engine.token_bytes)


class Encoder:
    """One response: its id, object names and ``created``, and its logprobs formatted once."""

    def __init__(self, chat: bool, model: str, vocab: Vocab, logprobs: bool = False, rid: str | None = None):
        self.chat = chat
        self.model = model
        self.vocab = vocab
        self.logprobs = logprobs
        self.id = rid or new_id("chatcmpl" if chat else "cmpl")
        self.created = now()

    # -- logprobs ---------------------------------------------------------------------------------
    def format_logprobs(self, runs: Iterable[LogprobRun]) -> ChatLogprobs | CompletionLogprobs | None:
        """The answer's logprobs in the endpoint's form; None when the client asked for none."""
        if not self.logprobs:
            return None
        return self._chat_logprobs(runs) if self.chat else self._completion_logprobs(runs)

    def _chat_logprobs(self, runs: Iterable[LogprobRun]) -> ChatLogprobs:
        text, raw_bytes = self.vocab.text, self.vocab.bytes
        content: list[ChatTokenLogprob] = []
        for entries, raw in runs:
            if isinstance(raw, dict):  # cloud pass-through: the cloud's own entries
                content += raw.get("content") or []
            for token, lp, top in entries:
                content.append({
                    "token": text(token), "logprob": lp, "bytes": list(raw_bytes(token)),
                    "top_logprobs": [{"token": text(t), "logprob": alt, "bytes": list(raw_bytes(t))}
                                     for t, alt in top],
                })
        return {"content": content}

    def _completion_logprobs(self, runs: Iterable[LogprobRun]) -> CompletionLogprobs:
        text = self.vocab.text
        out: CompletionLogprobs = {"tokens": [], "token_logprobs": [], "top_logprobs": [], "text_offset": []}
        for entries, raw in runs:
            if isinstance(raw, dict):  # cloud pass-through
                out["tokens"] += raw.get("tokens") or []
                out["token_logprobs"] += raw.get("token_logprobs") or []
                out["top_logprobs"] += raw.get("top_logprobs") or []
            for token, lp, top in entries:
                out["tokens"].append(text(token))
                out["token_logprobs"].append(lp)
                out["top_logprobs"].append({text(t): alt for t, alt in top})
        return out

    def prompt_logprobs(self, prompt: Sequence[int], scores: Iterable[PromptScore]) -> PromptLogprobs:
        """vLLM's ``prompt_logprobs``: for each prompt token after the first, the top candidates and
        the token itself, keyed by id, each with its logprob, rank and text."""
        text = self.vocab.text
        entries: PromptLogprobs = [None]
        for tok, (lp, rank, top) in zip(prompt[1:], scores):
            entry: dict[str, PromptTokenLogprob] = {
                str(t): {"logprob": alt, "rank": i + 1, "decoded_token": text(t)}
                for i, (t, alt) in enumerate(top)
            }
            entry[str(tok)] = {"logprob": lp, "rank": rank, "decoded_token": text(tok)}
            entries.append(entry)
        return entries

    # -- a whole answer -----------------------------------------------------------------------------
    def response(self, text: str | None, finish_reason: str, usage: Usage, runs: Iterable[LogprobRun] = (),
                 tandem: dict[str, Any] | None = None, vllm: VllmChoiceFields | None = None,
                 tool_calls: Sequence[ToolCall] = ()) -> ChatCompletion | Completion:
        """``chat.completion`` or ``text_completion``; ``tandem`` is the route trace, ``vllm`` the
        fields vLLM adds to a choice on request; ``tool_calls`` the answer's calls (content may be None)."""
        logprobs = self.format_logprobs(runs)
        message: dict[str, Any] = {"role": "assistant", "content": text}
        if tool_calls:
            message["tool_calls"] = [c.as_openai() for c in tool_calls]
        content = {"message": message} if self.chat else {"text": text or ""}
        choice = {"index": 0, **content, "logprobs": logprobs, "finish_reason": finish_reason, **(vllm or {})}
        payload: Any = {"id": self.id, "object": "chat.completion" if self.chat else "text_completion",
                        "created": self.created, "model": self.model, "choices": [choice], "usage": usage}
        if tandem is not None:
            payload["tandem"] = tandem
        return payload

    # -- a stream -----------------------------------------------------------------------------------
    def _chunk(self, choices: list[Any]) -> Any:
        return {"id": self.id, "object": "chat.completion.chunk" if self.chat else "text_completion",
                "created": self.created, "model": self.model, "choices": choices}

    def role(self) -> ChatCompletionChunk:
        """A chat stream's opening chunk: the assistant's role, no content yet."""
        return self._chunk([{"index": 0, "delta": {"role": "assistant", "content": ""},
                             "finish_reason": None}])

    def delta(self, text: str, entries: Sequence[TokenLogprob] = (), raw: list | dict | None = None,
              origin: str = "", finish_reason: str | None = None, token_ids: list[int] | None = None
              ) -> ChatCompletionChunk | Completion:
        """One piece of content; ``origin`` (``device`` or ``cloud``) rides along as ``tandem_origin``, so
        a client can colour who produced the text; ``token_ids`` is vLLM's (completions)."""
        choice: dict[str, Any] = {"index": 0, "delta": {"content": text}} if self.chat \
            else {"index": 0, "text": text}
        if self.logprobs:
            choice["logprobs"] = self.format_logprobs(((entries, raw),))
        choice["finish_reason"] = finish_reason
        if token_ids is not None and not self.chat:
            choice["token_ids"] = token_ids
        chunk = self._chunk([choice])
        if origin:
            chunk["tandem_origin"] = origin
        return chunk

    def tool_call(self, call: ToolCall, origin: str = "") -> list[ChatCompletionChunk]:
        """A call as OpenAI streams one: a delta naming it (id, type, name, no arguments yet), then one
        with its arguments."""
        head: ToolCallDelta = {"index": call.index, "id": call.id, "type": "function",
                               "function": {"name": call.name, "arguments": ""}}
        args: ToolCallDelta = {"index": call.index, "function": {"arguments": call.arguments}}
        chunks = [self._chunk([{"index": 0, "delta": {"tool_calls": [d]}, "finish_reason": None}])
                  for d in (head, args)]
        if origin:
            for chunk in chunks:
                chunk["tandem_origin"] = origin
        return chunks

    def tool_events(self, events: Iterable[Content | ToolCall], origin: str = "") -> list[Any]:
        """A tool-reading parser's output as stream chunks: content deltas and each call's two deltas."""
        out: list[Any] = []
        for ev in events:
            if isinstance(ev, ToolCall):
                out += self.tool_call(ev, origin)
            else:
                out.append(self.delta(ev.text, origin=origin))
        return out

    def final(self, finish_reason: str, tandem: dict[str, Any] | None = None
              ) -> ChatCompletionChunk | Completion:
        """The chunk that ends the content: ``finish_reason``, and Tandem's route trace."""
        choice = {"index": 0, "delta": {}} if self.chat else {"index": 0, "text": ""}
        chunk = self._chunk([{**choice, "finish_reason": finish_reason}])
        if tandem is not None:
            chunk["tandem"] = tandem
        return chunk

    def usage_chunk(self, usage: Usage) -> ChatCompletionChunk | Completion:
        """``stream_options.include_usage``: a last chunk with no choices and the token counts."""
        chunk = self._chunk([])
        chunk["usage"] = usage
        return chunk
