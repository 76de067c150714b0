"""What the HTTP layer holds, and exactly what it needs from the core.

``Core`` is the whole contract between the handlers and the collaboration core
(``gateway.core.orchestrator.Collaborator`` fulfils it): ``plan`` turns a parsed request
into a job or raises a domain error (``gateway.core.errors``), ``run`` yields the job's
chunks, and a few read-only facts feed ``/ready``, ``/v1/models`` and the logprobs. The API
layer depends on nothing else of the core.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from aiohttp import web

from gateway.api.metrics import Metrics
from gateway.api.protocol import ChatCompletionRequest, CompletionRequest
from gateway.config import TandemConfig
from gateway.core.trace import RouteTrace

if TYPE_CHECKING:
    from device_runtime.tools import Tools
    from gateway.core.answer import Chunk


class Engine(Protocol):
    """The device model, as far as the HTTP layer sees it: names and how tokens read."""

    @property
    def name(self) -> str: ...
    @property
    def n_ctx(self) -> int: ...
    def detokenize(self, ids: Sequence[int]) -> str: ...
    def token_bytes(self, token_id: int) -> bytes: ...


class Device(Protocol):
    @property
    def waiting(self) -> int: ...  # requests queued for the device model
    @property
    def busy(self) -> bool: ...


class Monitor(Protocol):
    def available(self) -> bool: ...
    def snapshot(self) -> Any: ...


class Tokenizers(Protocol):
    @property
    def compatible(self) -> bool: ...
    @property
    def reason(self) -> str: ...


class Job(Protocol):
    """A planned request; ``completion_tokens`` and ``finish_reason`` are final once ``run`` has ended."""

    @property
    def chat(self) -> bool: ...
    @property
    def trace(self) -> RouteTrace: ...
    @property
    def prompt_tokens(self) -> Sequence[int]: ...
    @property
    def completion_tokens(self) -> int: ...
    @property
    def finish_reason(self) -> str | None: ...
    @property
    def n_logprobs(self) -> int | None: ...  # None: the client asked for no logprobs
    @property
    def tools(self) -> Tools | None: ...  # function tools: the answer is read for calls


class Core(Protocol):
    @property
    def engine(self) -> Engine: ...
    @property
    def device(self) -> Device: ...
    @property
    def cloud(self) -> object | None: ...
    @property
    def monitor(self) -> Monitor: ...
    @property
    def tokenizers(self) -> Tokenizers: ...
    def model_ids(self) -> list[str]: ...

    async def plan(self, body: ChatCompletionRequest | CompletionRequest, privacy_header: str | None = None,
                   api_key: str | None = None, session_header: str | None = None,
                   offline: bool = False) -> Job: ...

    def run(self, job: Any) -> AsyncIterator[Chunk]: ...


CONFIG = web.AppKey("config", TandemConfig)
CORE = web.AppKey("core", Core)
METRICS = web.AppKey("metrics", Metrics)
STATE = web.AppKey("state", dict)  # draining, inflight, idle (an asyncio.Event), started
API_KEY = web.RequestKey("api_key", str)
# for logs and metrics once a stream's 200 is sent: 499 when the client left, else the error event's status
OUTCOME = web.RequestKey("outcome", int)
