"""The query router's step in planning: embed the prompt on the device, ask the router, say why.

    step = QueryStep(QueryRouter.load(path), embedder, device_worker)
    p = await step.p_gain(messages_text, prompt_tokens)    # P(the cloud's answer fixes the device's)

Only ``auto`` requests that the policy would otherwise send to the cascade reach this step (a
private request never does: privacy decides first), so the embedding's cost (one prefill of at
most ``max_tokens`` prompt tokens in a second, embedding-only llama.cpp context) is paid only
where its answer can change the route. It runs on the device worker's thread, in the device's
turn, so it never computes at the same time as a generation.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from device_runtime.worker import DeviceWorker
from routers.policy import RouteChoice
from routers.query import QueryRouter

DEFAULT_ROUTER = Path(__file__).resolve().parent.parent.parent / "routers" / "data" / "query_router.json"


class Prompt(Protocol):
    """The request as planning sees it (``planner.CloudFacing``): chat messages or a completion's text."""

    @property
    def messages(self) -> list[dict[str, Any]] | None: ...

    @property
    def text(self) -> str | None: ...


class Embedder(Protocol):
    def embed(self, text: str) -> np.ndarray: ...


@dataclass
class QueryStep:
    router: QueryRouter
    embedder: Embedder
    device: DeviceWorker

    threshold: float | None = None  # ``routing.query_threshold``; None: the router's own

    async def p_gain(self, text: str, prompt_tokens: int) -> float:
        async with self.device.turn() as call:
            vector = await call(self.embedder.embed, text)
        return self.router.p_gain(vector, prompt_tokens)

    async def judge(self, choice: RouteChoice, prompt: Prompt, prompt_tokens: int) -> dict[str, float] | None:
        """For the trace and the policy: P(gain), the threshold and the time it took; None where the policy's
        choice does not depend on it (anything but an ``auto`` request bound for the default cascade)."""
        if (choice.mode, choice.reason) != ("cascade", "default"):
            return None
        t0 = time.perf_counter()
        p = await self.p_gain(user_text(prompt.messages, prompt.text), prompt_tokens)
        threshold = self.router.threshold if self.threshold is None else self.threshold
        return {
            "p_gain": round(p, 4),
            "threshold": threshold,
            "ms": round((time.perf_counter() - t0) * 1000, 2),
        }


def router_path(setting: str) -> Path:
    """``routing.query_router``: ``default`` is the router shipped with Tandem, anything else a file."""
    return DEFAULT_ROUTER if setting == "default" else Path(setting).expanduser()


def user_text(messages: list[dict[str, Any]] | None, text: str | None) -> str:
    """What the router reads: the user turns as the client wrote them (the prompt text for completions)."""
    if messages is None:
        return text or ""
    return "\n\n".join(str(m.get("content") or "") for m in messages if m.get("role") == "user")
