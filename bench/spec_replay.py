"""What the speculative benchmark replays: predicted rounds, a flat-cost cloud, the recorded calls.

At temperature 0 every accepted draft is the cloud's own token, so the device always drafts
from a prefix of the cloud's greedy answer. Whether the device's next token agrees with the
cloud's at each position of that answer (``matches``, measured once by teacher forcing) thus
fixes every round of every k in advance: ``greedy_rounds`` plays them out. The i.i.d. formula
(``routers.draft_length.expected_tokens_per_pass``) is the analytical limit from the mean
agreement alone; the played-out rounds keep the order of agreements, so they also see that
disagreements come in clusters.

``FlatCloud`` is the GPU regime, emulated: a verification pass costs a fixed service time
whatever the number of drafts, up to a token budget per pass, and every request waiting when
a pass starts rides in it (continuous batching). ``ReplayCloud`` answers on it from recorded greedy
answers, exactly as a greedy verifier does. Neither is a GPU measurement: they show what the
protocol and the controller do when the cloud's cost does not grow with k or with the number of
devices.

``RecordingClient`` is the gateway's own cloud client with its verification calls logged: the
benchmark's runs go through the gateway, and this is how their rounds are recorded (and, with a
``ReplayCloud`` script, answered).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from gateway.cloud_client.client import CloudClient
from gateway.cloud_client.health import NetworkMonitor
from gateway.cloud_client.transport import CallStats
from gateway.cloud_client.verify import VerifySession
from gateway.core.acceptance import VerifyResult, greedy_accept


@dataclass
class Rounds:
    passes: int = 0
    accepted: int = 0
    proposed: int = 0
    tokens: int = 0

    def add(self, other: Rounds) -> None:
        self.passes += other.passes
        self.accepted += other.accepted
        self.proposed += other.proposed
        self.tokens += other.tokens

    @property
    def tokens_per_pass(self) -> float:
        return self.tokens / self.passes if self.passes else 0.0


def greedy_rounds(matches: Sequence[bool], k: int, n_tokens: int) -> Rounds:
    """The rounds a greedy speculative run with a fixed k makes over an ``n_tokens`` answer.

    ``matches[i]``: the device's argmax after the prompt and the answer's first i tokens is the
    answer's token i. A round drafts min(k, tokens left - 1) (the cloud's token needs room, as in
    ``SpeculativeDecoder``), the cloud accepts the leading agreements and adds its own token.
    Passes and tokens are exact; where the device drafts the end-of-text itself, the decoder
    counts one more accepted (and proposed) draft than this does.
    """
    r = Rounds()
    pos = 0
    while pos < n_tokens:
        k_here = max(0, min(k, n_tokens - pos - 1))
        accepted = 0
        while accepted < k_here and pos + accepted < len(matches) and matches[pos + accepted]:
            accepted += 1
        r.passes += 1
        r.proposed += k_here
        r.accepted += accepted
        step = min(accepted + 1, n_tokens - pos)
        r.tokens += step
        pos += step
    return r


class FlatCloud:
    """The emulated GPU server: passes that serve every request waiting when they start.

    A pass costs ``service_s`` while the batch holds at most ``knee_tokens`` tokens (decoding
    is memory-bound: one token or a few hundred cost the same) and grows linearly beyond
    (compute-bound). A verification brings k + 1 tokens, a cloud-only decode step one.
    """

    def __init__(self, service_s: float, knee_tokens: int = 256):
        self.service_s, self.knee_tokens = service_s, knee_tokens
        self.waiting: list[tuple[asyncio.Future, int]] = []
        self.passes = 0
        self.requests = 0
        self.busy_s = 0.0
        self.batch_sizes: list[int] = []
        self._runner: asyncio.Task | None = None

    async def forward(self, tokens: int = 1) -> None:
        """Wait for the pass that carries this request (``tokens`` long) to finish."""
        done = asyncio.get_running_loop().create_future()
        self.waiting.append((done, tokens))
        self.requests += 1
        if self._runner is None or self._runner.done():
            self._runner = asyncio.create_task(self._run())
        await done

    def pass_cost(self, tokens: int) -> float:
        return self.service_s * max(1.0, tokens / self.knee_tokens)

    async def _run(self) -> None:
        while self.waiting:
            batch, self.waiting = self.waiting, []
            cost = self.pass_cost(sum(n for _, n in batch))
            await asyncio.sleep(cost)
            self.passes += 1
            self.busy_s += cost
            self.batch_sizes.append(len(batch))
            for f, _ in batch:
                if not f.done():
                    f.set_result(None)


class ReplayCloud:
    """A scripted greedy cloud for one prompt: the recorded answer, verified on a ``FlatCloud``.

    It has the one method ``SpeculativeDecoder`` calls on a cloud, with the same meaning:
    accept drafts while they match the cloud's answer, then the answer's next token. The
    device may draft past an answer that ended with end-of-text (its limit is ``max_tokens``);
    those positions answer end-of-text again, and nothing after the first one is ever shown.
    """

    def __init__(self, server: FlatCloud, prompt: Sequence[int], answer: Sequence[int],
                 end: int | None = None):
        self.server, self.prompt, self.answer, self.end = server, list(prompt), list(answer), end

    async def verify(self, context: Sequence[int], draft: Sequence[int], stats: CallStats,
                     want_top: bool = False, session: Any = None) -> VerifyResult:
        done = len(context) - len(self.prompt)
        ours = list(context[: len(self.prompt)]) == self.prompt
        if not ours or list(context[len(self.prompt):]) != self.answer[:done]:
            raise ValueError("the replayed cloud can only continue its own recorded answer")
        await self.server.forward(len(draft) + 1)
        stats.calls += 1
        target = self.answer[done: done + len(draft) + 1]
        if len(target) < len(draft) + 1:
            if self.end is None:
                raise ValueError("drafts run past a recorded answer that did not end with end-of-text")
            target += [self.end] * (len(draft) + 1 - len(target))
        accepted, tokens = greedy_accept(draft, target)
        return VerifyResult(accepted, tokens, [[(t, 0.0)] for t in target])


@dataclass
class RoundLog:
    """One verification call as the device made it, to be replayed by a virtual device."""

    context_len: int
    drafts: list[int]
    accepted: int
    device_s: float  # device time since the previous call returned (drafting, emitting)
    verify_s: float
    tokens: list[int] = field(default_factory=list)  # what the cloud answered


class RecordingClient(CloudClient):
    """The gateway's cloud client with every verification call logged (what a capacity replay sends again).

    It is the client the gateway's speculative mode calls, so a run through the gateway records its
    rounds as they were made. ``begin(script)`` starts a request's log; with a ``ReplayCloud`` script
    the verification calls are answered by it (the emulated GPU regime) instead of over HTTP, while
    everything else (health, the tokenizer check) still reaches the real cloud, which serves the
    same tokenizer.
    """

    def __init__(self, endpoints: Sequence[str], model: str = "cloud", api_key: str | None = None,
                 timeout_s: float = 30.0, retries: int = 2, strategy: str = "auto",
                 simulated_rtt_ms: float = 0.0, monitor: NetworkMonitor | None = None):
        super().__init__(endpoints, model, api_key, timeout_s, retries, strategy, simulated_rtt_ms, monitor)
        self.script: ReplayCloud | None = None
        self.rounds: list[RoundLog] = []
        self.stats: CallStats | None = None  # the request's traffic, as the gateway counts it
        self._last_end: float | None = None

    def begin(self, script: ReplayCloud | None = None) -> None:
        """A new request: an empty log, its device time counted from now; ``script``: what answers its
        verifications (None: the cloud)."""
        self.script, self.rounds, self.stats = script, [], None
        self._last_end = time.perf_counter()

    async def verify(self, context: Sequence[int], draft: Sequence[int], stats: CallStats,
                     want_top: bool = False, session: VerifySession | None = None) -> VerifyResult:
        t0 = time.perf_counter()
        if self.script is not None:
            out = await self.script.verify(context, draft, stats, want_top, session)
        else:
            out = await super().verify(context, draft, stats, want_top, session)
        t1 = time.perf_counter()
        self.stats = stats
        device_s = round(t0 - (self._last_end or t0), 5)
        self.rounds.append(RoundLog(len(context), list(draft), out.accepted, device_s, round(t1 - t0, 5),
                                    list(out.tokens)))
        self._last_end = t1
        return out
