"""One request's answer in progress: what every mode and the hand-over share.

A mode is an async generator of chunks over an ``Answer``. When the cloud fails mid-answer
the mode does not raise through its callers: it records a ``Handover`` on the answer and
returns, and the orchestrator lets the device finish from exactly there. The hand-over
names the device tokens the mode already holds that continue the answer exactly (drafts in
flight, a cascade's own answer), so the device uses them rather than generating them again.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Sequence

from device_runtime.engine import DraftToken, LlamaEngine
from device_runtime.grammar import Constraint
from device_runtime.worker import DeviceTurn
from gateway.cloud_client.errors import CloudError
from gateway.cloud_client.transport import CallStats
from gateway.core.answer import AnswerBuilder

if TYPE_CHECKING:
    from gateway.core.planner import Job

log = logging.getLogger("tandem.collaborate")


@dataclass(frozen=True)
class Handover:
    """The cloud failed; the device takes the rest of the answer from exactly what was generated."""

    reason: str  # public: the kind of failure, never an address or a cloud body
    held: tuple[DraftToken, ...] = ()  # device tokens that continue the answer so far, exactly


@dataclass
class Answer:
    job: Job
    out: AnswerBuilder
    stats: CallStats = field(default_factory=CallStats)
    device: DeviceTurn = field(init=False)  # the request's one device turn (taken by the orchestrator)
    handover: Handover | None = None

    def cloud_failed(self, exc: CloudError, held: Sequence[DraftToken] = ()) -> None:
        """Record the hand-over (the mode returns next); the detail goes to the log, never to the client."""
        log.warning("cloud failed mid-answer, the device finishes it: %s", exc)
        self.handover = Handover(exc.public, tuple(held))

    async def constraint(self, engine: LlamaEngine, generated: Sequence[int]) -> Constraint | None:
        """The answer's place in its grammar after ``generated`` (None: free text), built on the device
        turn (the first use builds the model's grammar tokenizer)."""
        grammar = self.job.grammar
        if grammar is None:
            return None

        def build() -> Constraint:
            c = engine.constraint(grammar)
            c.advance([t for t in generated if not engine.is_eos(t)])
            return c

        return await self.device(build)

    async def context(self, engine: LlamaEngine) -> list[int]:
        """What the next producer continues from: the prompt and everything generated so far.

        Pass-through text is tokenized as plain text: a literal "<|im_end|>" in an answer is text,
        not end-of-turn. Runs on the device turn (tokenizing is the model's work).
        """

        if not self.out.started:  # nothing generated yet: no tokenizing, no thread hop
            return list(self.job.prompt_tokens)

        def plain(text: str) -> list[int]:
            return engine.tokenize(text, add_bos=False, special=False)

        return self.job.prompt_tokens + await self.device(self.out.generated_ids, plain)
