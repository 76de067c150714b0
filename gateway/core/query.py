"""The query router's step in planning: embed the prompt, ask the router, say why.

    step = QueryStep(QueryRouter.load(path), embedder)
    p = await step.p_gain(text, prompt_tokens)    # P(the cloud's answer fixes the device's)

Only ``auto`` requests that the policy would otherwise send to the cascade reach this step (a
private request never does: privacy decides first), so the embedding's cost (one prefill of at
most ``max_tokens`` prompt tokens in a second, embedding-only llama.cpp context) is paid only
where its answer can change the route. The embedding context is not the device's: it runs on a
thread of its own, one prompt at a time, and never waits for the device's turn (a request the
router sends to the cloud must not queue behind a long device answer, nor take the device twice).
A prompt with nothing to embed, or an embedding that fails, leaves the route to the policy.
"""

from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from routers.policy import RouteChoice
from routers.query import QueryRouter

log = logging.getLogger("tandem.query")
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
    threshold: float | None = None  # ``routing.query_threshold``; None: the router's own
    _executor: ThreadPoolExecutor = field(default_factory=lambda: ThreadPoolExecutor(1, "tandem-embed"))

    async def p_gain(self, text: str, prompt_tokens: int) -> float:
        vector = await asyncio.get_running_loop().run_in_executor(self._executor, self.embedder.embed, text)
        return self.router.p_gain(vector, prompt_tokens)

    async def judge(self, choice: RouteChoice, prompt: Prompt, prompt_tokens: int) -> dict[str, float] | None:
        """For the trace and the policy: P(gain), the threshold and the time it took; None where the policy's
        choice does not depend on it (anything but an ``auto`` request bound for the default cascade)."""
        text = user_text(prompt.messages, prompt.text)
        if (choice.mode, choice.reason) != ("cascade", "default") or not text.strip():
            return None
        t0 = time.perf_counter()
        try:
            p = await self.p_gain(text, prompt_tokens)
        except Exception:  # noqa: BLE001 — the router is advice: without it the policy decides alone
            log.warning("query router: the prompt's embedding failed; the policy decides", exc_info=True)
            return None
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
    """What the router reads: the latest user turn as the client wrote it (the prompt for completions)."""
    if messages is None:
        return text or ""
    return next((str(m.get("content") or "") for m in reversed(messages) if m.get("role") == "user"), "")


def load_router(path: Path, embedder: Embedder) -> QueryRouter:
    """The router, checked against the embedding it will read: a router fitted on another model's
    embeddings (another width) would fail every auto request, so it fails at start-up instead."""
    router = QueryRouter.load(path)
    dim = getattr(embedder, "dim", None)
    if dim is not None and dim != router.dim:
        raise ValueError(f"routing.query_router {path} reads {router.dim}-wide embeddings "
                         f"({router.fitted_on or 'fitted elsewhere'}); the device model's are {dim}-wide: "
                         "fit one for it with `tandem calibrate --query-router`")
    tokens = getattr(embedder, "max_tokens", None)
    if None not in (tokens, router.embed_tokens) and tokens != router.embed_tokens:
        raise ValueError(f"routing.query_router {path} was fitted on embeddings of the prompt's first "
                         f"{router.embed_tokens} tokens; routing.query_max_tokens embeds {tokens}: leave it "
                         "unset (the router's own length) or fit a router at that length")
    return router
