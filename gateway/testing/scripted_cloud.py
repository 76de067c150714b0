"""A cloud that follows a script, for driving the collaboration core without a second model.

The "cloud model" is a fixed continuation of the prompt (``truth``): verification accepts
drafts while they match it and returns its next token, exactly as a greedy verifier does;
pass-through streaming sends its text in pieces. Any call can be made to fail, to test
the hand-over to the device; ``top`` makes verification return log-probabilities, for
rejection sampling at temperature > 0.
"""

from __future__ import annotations

import asyncio
import random
from typing import Any, AsyncIterator, Callable, Sequence

from device_runtime.worker import DeviceWorker
from gateway.api.protocol import ChatCompletionRequest
from gateway.cloud_client.errors import CloudError
from gateway.cloud_client.health import NetworkMonitor
from gateway.cloud_client.transport import CallStats
from gateway.config import load_config
from gateway.core.acceptance import VerifyResult, greedy_accept
from gateway.core.orchestrator import Collaborator, TokenizerCheck

TopFn = Callable[[list[int], list[int]], list[list[tuple[int, float]]]]


class ScriptedCloud:
    def __init__(self, prompt: Sequence[int], truth: Sequence[int], fail_on_call: int | None = None,
                 stream_pieces: Sequence[str] = (), top: TopFn | None = None,
                 delay_s: tuple[float, float] = (0, 0)):
        self.prompt, self.truth = list(prompt), list(truth)
        self.fail_on_call = fail_on_call  # 1-based index of the call that fails (None: never)
        self.stream_pieces = list(stream_pieces)
        self.top = top
        self.delay_s = delay_s
        self.calls = 0
        self.verify_calls: list[tuple[list[int], list[int]]] = []
        self.stream_bodies: list[dict] = []
        self.failed_context: list[int] | None = None

    def load_for(self, key: str | None) -> None:
        """A scripted cloud reports no load (the auto policy's cloud facts stay unknown)."""
        return None

    def affinity(self, key: str, progress: object = None) -> None:
        """One scripted cloud is no pool: no replica to pin."""
        return None

    def release(self, affinity: object) -> None:
        return None

    def _maybe_fail(self, context: list[int] | None = None) -> None:
        self.calls += 1
        if self.calls == self.fail_on_call:
            self.failed_context = context
            raise _failure()

    async def verify(self, context: Sequence[int], draft: Sequence[int], stats: CallStats,
                     want_top: bool = False, session: Any = None) -> VerifyResult:
        if self.delay_s[1]:
            await asyncio.sleep(random.uniform(*self.delay_s))
        context, draft = list(context), list(draft)
        self._maybe_fail(context)
        stats.calls += 1
        self.verify_calls.append((context, draft))
        done = len(context) - len(self.prompt)
        assert context[: len(self.prompt)] == self.prompt, "verification must continue the prompt"
        if self.top is None:  # greedy: what was emitted so far is exactly the cloud's continuation
            assert context[len(self.prompt):] == self.truth[:done], \
                "verification must continue the verified prefix"
        target = self.truth[done:done + len(draft) + 1]
        accepted, tokens = greedy_accept(draft, target)
        top = self.top(context, draft) if self.top else [[(t, -0.01)] for t in target]
        return VerifyResult(accepted, tokens, top)

    async def stream(self, body: dict, stats: CallStats, chat: bool = True) -> AsyncIterator[dict]:
        self.stream_bodies.append(body)
        stats.calls += 1
        for piece in self.stream_pieces:
            self._maybe_fail()
            yield {"choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]}
        self._maybe_fail()
        yield {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}


def _failure() -> CloudError:
    return CloudError("scripted cloud failure at http://10.0.0.7:8001 (internal detail)",
                      public="the cloud stopped answering")


def collaborator(engine: Any, cloud: Any, *overrides: str, compatible: bool = True) -> Collaborator:
    config = load_config(overrides=["device.pull=false", *overrides])
    collab = Collaborator(config, DeviceWorker(engine), cloud, NetworkMonitor())
    collab.tokenizers = TokenizerCheck(compatible, "scripted")
    return collab


def chat_request(model: str, content: str = "Tell me about the moon.", **kw: Any) -> ChatCompletionRequest:
    return ChatCompletionRequest.model_validate(
        {"model": model, "messages": [{"role": "user", "content": content}], "temperature": 0, **kw})


async def answer(collab: Collaborator, request: ChatCompletionRequest) -> tuple[str, Any]:
    job = await collab.plan(request)
    text = "".join([c.text async for c in collab.run(job)])
    return text, job
