"""The OpenAI wire format's responses: ``TypedDict``s (the type checker holds every body to its shape,
while at run time a streamed chunk stays a plain dict that ``dumps`` serializes directly — no model
object is built per token) and the small helpers that fill them. ``gateway.api.encoder`` is the one
place that builds these shapes; the gateway and the local cloud both go through it. Requests are in
``gateway.api.protocol``.

Tandem's extensions: ``tandem`` (the route trace) on a whole answer and on a stream's final chunk,
``tandem_origin`` (``device`` or ``cloud``) on streamed chunks; the local cloud adds vLLM's
``token_ids``, ``prompt_token_ids`` and ``prompt_logprobs``.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from array import array
from typing import Any, Literal, Sequence

from typing_extensions import NotRequired, TypedDict


class Usage(TypedDict):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class TopLogprob(TypedDict):
    token: str
    logprob: float
    bytes: list[int]


class ChatTokenLogprob(TypedDict):
    """One generated token in a chat answer; ``logprob`` is null when no model reported one."""

    token: str
    logprob: float | None
    bytes: list[int]
    top_logprobs: list[TopLogprob]


class ChatLogprobs(TypedDict):
    content: list[ChatTokenLogprob]


class CompletionLogprobs(TypedDict):
    """The completions form: parallel lists, one entry per generated token."""

    tokens: list[str]
    token_logprobs: list[float | None]
    top_logprobs: list[dict[str, float]]
    text_offset: list[int]


class PromptTokenLogprob(TypedDict):
    """vLLM's ``prompt_logprobs`` entry for one candidate token, keyed by its id (as a string)."""

    logprob: float
    rank: int
    decoded_token: str


PromptLogprobs = list[dict[str, PromptTokenLogprob] | None]  # the first prompt token has no entry: None


class VllmChoiceFields(TypedDict, total=False):
    """What vLLM adds to a choice on request (``return_token_ids``, ``prompt_logprobs``…)."""

    token_ids: list[int]
    prompt_token_ids: list[int]
    prompt_logprobs: PromptLogprobs


class FunctionCallOut(TypedDict):
    name: str
    arguments: str


class ToolCallOut(TypedDict):
    id: str
    type: Literal["function"]
    function: FunctionCallOut


class ToolCallDelta(TypedDict, total=False):
    """A streamed call: the first delta of a call carries id, type and name; later ones more arguments."""

    index: int
    id: str
    type: Literal["function"]
    function: dict[str, str]


class AssistantMessage(TypedDict):
    role: Literal["assistant"]
    content: str | None
    tool_calls: NotRequired[list[ToolCallOut]]


class ChatChoice(VllmChoiceFields):
    index: int
    message: AssistantMessage
    logprobs: ChatLogprobs | None
    finish_reason: str


class ChatCompletion(TypedDict):
    id: str
    object: Literal["chat.completion"]
    created: int
    model: str
    choices: list[ChatChoice]
    usage: Usage
    tandem: NotRequired[dict[str, Any]]


class Delta(TypedDict, total=False):
    role: Literal["assistant"]
    content: str
    tool_calls: list[ToolCallDelta]


class ChatChunkChoice(TypedDict):
    index: int
    delta: Delta
    logprobs: NotRequired[ChatLogprobs | None]
    finish_reason: str | None


class ChatCompletionChunk(TypedDict):
    """``chat.completion.chunk``: a content delta, the final chunk, or (``choices: []``) the usage."""

    id: str
    object: Literal["chat.completion.chunk"]
    created: int
    model: str
    choices: list[ChatChunkChoice]
    usage: NotRequired[Usage]
    tandem: NotRequired[dict[str, Any]]
    tandem_origin: NotRequired[str]


class CompletionChoice(VllmChoiceFields):
    index: int
    text: str
    logprobs: NotRequired[CompletionLogprobs | None]
    finish_reason: str | None


class Completion(TypedDict):
    """``text_completion``: a whole answer, or one streamed chunk of one (the same object name)."""

    id: str
    object: Literal["text_completion"]
    created: int
    model: str
    choices: list[CompletionChoice]
    usage: NotRequired[Usage]
    tandem: NotRequired[dict[str, Any]]
    tandem_origin: NotRequired[str]


class ModelCard(TypedDict):
    id: str
    object: Literal["model"]
    created: int
    owned_by: str
    max_model_len: int
    root: NotRequired[str]


class ModelList(TypedDict):
    object: Literal["list"]
    data: list[ModelCard]


class ErrorInfo(TypedDict):
    message: str
    type: str
    param: str | None
    code: str | None


class ErrorBody(TypedDict):
    error: ErrorInfo


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:24]}"


def now() -> int:
    return int(time.time())


def usage(prompt_tokens: int, completion_tokens: int) -> Usage:
    return {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens}


def error_body(message: str, type_: str = "invalid_request_error", param: str | None = None,
               code: str | None = None) -> ErrorBody:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


# one encoder, built once: json.dumps(..., ensure_ascii=False) would build a new one per call
dumps = json.JSONEncoder(ensure_ascii=False).encode
"""Any response body as JSON text, UTF-8 as is (``ensure_ascii=False``), as every Tandem response."""


def hash_ids(ids: Sequence[int]) -> str:
    """A short fingerprint of a token sequence: both sides prove they hold the same prefix."""
    return hashlib.blake2b(array("i", ids).tobytes(), digest_size=16).hexdigest()
