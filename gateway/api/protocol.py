"""The OpenAI wire format: requests and responses, typed, in one module (as vLLM's ``protocol.py``).

Requests are pydantic models: they are validated once per request, and unknown fields are
ignored, as OpenAI and vLLM do. Responses are ``TypedDict``s: the type checker holds every
body to its shape, while at run time a streamed chunk stays a plain dict that ``dumps``
serializes directly — no model object is built per token. ``gateway.api.encoder`` is the
one place that fills these shapes; the gateway and the local cloud both go through it.

Tandem's extensions: ``tandem`` (the route trace) on a whole answer and on a stream's
final chunk, ``tandem_origin`` (``device`` or ``cloud``) on streamed content chunks; the
local cloud adds vLLM's ``token_ids``, ``prompt_token_ids`` and ``prompt_logprobs``.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from array import array
from typing import Any, Callable, Literal, Sequence

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator
from typing_extensions import NotRequired, TypedDict


class Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore")


class TextPart(Lenient):
    type: Literal["text"]
    text: str


class ChatMessage(Lenient):
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[TextPart] | None = None
    name: str | None = None

    @property
    def text(self) -> str:
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        return "".join(p.text for p in self.content)


class Metadata(TypedDict, total=False):
    """``metadata``: the keys Tandem reads are typed (a wrong type is a 400 naming the key); others pass."""

    __pydantic_config__ = ConfigDict(extra="allow")  # type: ignore[misc]
    privacy: str | None
    mode: str | None
    quality: str | None
    max_latency_ms: float | None


class StreamOptions(Lenient):
    include_usage: bool = False


class JsonSchemaFormat(Lenient):
    name: str = "response"
    schema_: dict[str, Any] = Field(default_factory=lambda: {"type": "object"}, alias="schema")
    strict: bool | None = None
    description: str | None = None


class ResponseFormat(Lenient):
    """``text``, ``json_object`` (any JSON object) or ``json_schema`` (that schema), enforced by a grammar."""

    type: Literal["text", "json_object", "json_schema"]
    json_schema: JsonSchemaFormat | None = None

    @model_validator(mode="after")
    def _schema_given(self) -> "ResponseFormat":
        if self.type == "json_schema" and self.json_schema is None:
            raise ValueError("response_format of type json_schema needs 'json_schema': {'name', 'schema'}")
        return self

    @property
    def answer_schema(self) -> dict[str, Any] | None:
        """The JSON schema the answer must follow; None for free text."""
        if self.type == "json_schema" and self.json_schema is not None:
            return self.json_schema.schema_
        return {"type": "object"} if self.type == "json_object" else None


# OpenAI fields Tandem cannot honour yet, with the values that ask for nothing; anything else is a 400
# naming the field, never a silent drop (a dropped tools list makes the model invent the tool's answer)
NOT_HONOURED: dict[str, Callable[[Any], bool]] = {
    **dict.fromkeys(("tools", "functions", "logit_bias", "presence_penalty", "frequency_penalty", "echo",
                     "suffix"), lambda v: not v),
    **dict.fromkeys(("tool_choice", "function_call"), lambda v: v in (None, "none")),
    **dict.fromkeys(("audio", "prediction"), lambda v: v is None),
    "modalities": lambda v: v is None or set(v) <= {"text"},
    "best_of": lambda v: v in (None, 1),
}


class SamplingFields(Lenient):
    """Fields shared by chat and text completions."""

    model: str
    temperature: float | None = Field(None, ge=0.0, le=2.0)
    top_p: float | None = Field(None, gt=0.0, le=1.0)
    max_tokens: int | None = Field(None, ge=1)
    stop: str | list[str] | None = None
    seed: int | None = Field(None, ge=-(2**63), lt=2**63)  # int64, as OpenAI and vLLM
    stream: bool = False
    stream_options: StreamOptions | None = None
    n: int = 1
    user: str | None = None
    metadata: Metadata | None = None

    response_format: ResponseFormat | None = None
    tools: list[Any] | None = None  # not yet honoured (NOT_HONOURED), nor the six below
    tool_choice: Any = None
    functions: list[Any] | None = None
    function_call: Any = None
    logit_bias: dict[str, float] | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None

    @field_validator(*NOT_HONOURED, check_fields=False)
    @classmethod
    def _not_honoured(cls, value: Any, info: ValidationInfo) -> Any:
        if not NOT_HONOURED[str(info.field_name)](value):
            raise ValueError(f"{info.field_name} is not supported by this server yet")
        return value

    @field_validator("n")
    @classmethod
    def _only_one_choice(cls, n: int) -> int:
        if n != 1:
            raise ValueError("only n=1 is supported: the device model runs one sequence at a time")
        return n

    @field_validator("temperature")
    @classmethod
    def _tiny_is_greedy(cls, t: float | None) -> float | None:
        """Below 1e-5 (vLLM's epsilon) a temperature means greedy: dividing logits by 1e-300 overflows."""
        return 0.0 if t is not None and t < 1e-5 else t

    @field_validator("seed")
    @classmethod
    def _seed_unsigned(cls, seed: int | None) -> int | None:
        """Samplers (numpy, llama.cpp) take unsigned seeds: fold negative int64 seeds onto them."""
        return None if seed is None else seed % 2**63

    @field_validator("stop")
    @classmethod
    def _stop_list(cls, stop: str | list[str] | None) -> list[str] | None:
        stops = [stop] if isinstance(stop, str) else stop
        if stops is not None and len(stops) > 4:
            raise ValueError("at most 4 stop sequences")
        return stops

    @property
    def stop_list(self) -> list[str]:
        return list(self.stop or [])


class ChatCompletionRequest(SamplingFields):
    messages: list[ChatMessage] = Field(min_length=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    logprobs: bool = False
    top_logprobs: int | None = Field(None, ge=0, le=20)

    audio: dict[str, Any] | None = None
    prediction: dict[str, Any] | None = None
    modalities: list[str] | None = None

    @model_validator(mode="after")
    def _top_needs_logprobs(self) -> "ChatCompletionRequest":
        if self.top_logprobs and not self.logprobs:
            raise ValueError("top_logprobs requires logprobs=true")
        return self

    @property
    def requested_max_tokens(self) -> int | None:
        return self.max_completion_tokens or self.max_tokens


class CompletionRequest(SamplingFields):
    prompt: str | list[str] | list[int]
    logprobs: int | None = Field(None, ge=0, le=20)
    echo: bool = False
    suffix: str | None = None
    best_of: int | None = None

    @field_validator("prompt")
    @classmethod
    def _single_prompt(cls, prompt: str | list[str] | list[int]) -> str | list[int]:
        if isinstance(prompt, str):
            return prompt
        if not prompt:
            raise ValueError("prompt must not be empty")
        if isinstance(prompt[0], str):
            if len(prompt) != 1:
                raise ValueError("only one prompt per request is supported")
            return prompt[0]
        return prompt

    @property
    def requested_max_tokens(self) -> int | None:
        return self.max_tokens


# -- responses -------------------------------------------------------------------------------------
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


class AssistantMessage(TypedDict):
    role: Literal["assistant"]
    content: str


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
