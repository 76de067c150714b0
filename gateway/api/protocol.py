"""The OpenAI wire format, as pydantic models for requests and plain dicts for responses.

Unknown request fields are ignored, as OpenAI and vLLM do. Responses are built as dicts
(they are produced per token while streaming; validating each chunk would be waste).
"""

from __future__ import annotations

import hashlib
import time
import uuid
from array import array
from typing import Any, Literal, Sequence

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from typing_extensions import TypedDict


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

    @field_validator("prompt")
    @classmethod
    def _single_prompt(cls, prompt: str | list[str] | list[int]) -> str | list[int]:
        if isinstance(prompt, list) and prompt and isinstance(prompt[0], str):
            if len(prompt) != 1:
                raise ValueError("only one prompt per request is supported")
            return prompt[0]
        if isinstance(prompt, list) and not prompt:
            raise ValueError("prompt must not be empty")
        return prompt

    @property
    def requested_max_tokens(self) -> int | None:
        return self.max_tokens


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:24]}"


def now() -> int:
    return int(time.time())


def usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    return {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens}


def error_body(message: str, type_: str = "invalid_request_error", param: str | None = None,
               code: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def hash_ids(ids: Sequence[int]) -> str:
    """A short fingerprint of a token sequence: both sides prove they hold the same prefix."""
    return hashlib.blake2b(array("i", ids).tobytes(), digest_size=16).hexdigest()
