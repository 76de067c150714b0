"""The OpenAI wire format's requests, typed (as vLLM's ``protocol.py``); responses are in ``responses``.

Requests are pydantic models: they are validated once per request, and unknown fields are
ignored, as OpenAI and vLLM do; a field Tandem cannot honour is refused by name (``NOT_HONOURED``).
"""

from __future__ import annotations

from typing import Any, Callable, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator
from typing_extensions import TypedDict


class Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore")


class TextPart(Lenient):
    type: Literal["text"]
    text: str


class FunctionCall(Lenient):
    name: str
    arguments: str = "{}"  # JSON text, as OpenAI sends it


class ToolCallIn(Lenient):
    """A call an assistant message made earlier in the conversation (``messages[i].tool_calls``)."""

    id: str
    type: Literal["function"] = "function"
    function: FunctionCall


class ChatMessage(Lenient):
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[TextPart] | None = None
    name: str | None = None
    tool_calls: list[ToolCallIn] | None = None  # assistant: the calls it made
    tool_call_id: str | None = None  # tool: the call this message answers

    @model_validator(mode="after")
    def _tool_fields(self) -> "ChatMessage":
        if self.role == "tool" and not self.tool_call_id:
            raise ValueError("a tool message needs tool_call_id")
        if self.tool_calls and self.role != "assistant":
            raise ValueError("only assistant messages carry tool_calls")
        return self

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
    **dict.fromkeys(("functions", "logit_bias", "presence_penalty", "frequency_penalty", "echo",
                     "suffix"), lambda v: not v),
    "function_call": lambda v: v in (None, "none"),  # the deprecated form of tools: use tools/tool_choice
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
    functions: list[Any] | None = None  # not honoured (NOT_HONOURED), nor the five below
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
    # function tools, checked where they are read (device_runtime.tools: a bad one is a 400 naming it)
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None

    audio: dict[str, Any] | None = None
    prediction: dict[str, Any] | None = None
    modalities: list[str] | None = None

    @model_validator(mode="after")
    def _top_needs_logprobs(self) -> "ChatCompletionRequest":
        if self.top_logprobs and not self.logprobs:
            raise ValueError("top_logprobs requires logprobs=true")
        if self.tools and self.logprobs:
            raise ValueError("logprobs together with tools is not supported by this server yet")
        if self.tools and self.response_format is not None and self.response_format.type != "text":
            raise ValueError("tools together with response_format is not supported by this server yet")
        return self

    @property
    def requested_max_tokens(self) -> int | None:
        return self.max_completion_tokens or self.max_tokens


class CompletionRequest(SamplingFields):
    prompt: str | list[str] | list[int]
    tools: list[Any] | None = None  # chat only: a completion has no turn to call a tool in
    tool_choice: Any = None

    @field_validator("tools", "tool_choice")
    @classmethod
    def _chat_only(cls, value: Any, info: ValidationInfo) -> Any:
        if value not in (None, [], "none"):
            raise ValueError(f"{info.field_name} is for /v1/chat/completions; completions cannot call tools")
        return value

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
