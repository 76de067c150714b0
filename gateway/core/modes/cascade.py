"""The cascade: the device answers; where it is unsure, the cloud takes over (``cascade.policy``).

* ``stream`` (the default): device tokens reach the client as they come while the running
  confidence holds; the token where it drops is held back and becomes the first draft the
  cloud verifies; the cloud goes on from there with the device drafting, as in speculative
  mode. What the client already has stands, so time to first token is the device's.
* ``gate``: the whole answer is judged first; an unsure one becomes the drafts the cloud
  verifies, and the cloud takes over from the first token it rejects.

Either way the cloud verifies device tokens through the speculative path (one acceptance
rule) instead of starting over. Streaming needs the cloud to continue the text already
shown, so a cloud without the device's tokenizer gets the gate, and an escalated answer is
answered by the cloud from scratch.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, AsyncIterator

from device_runtime.engine import TokenEvent
from gateway.core.answer import Chunk
from gateway.core.modes.cloud import run_cloud
from gateway.core.modes.speculative import run_speculative
from gateway.core.state import Answer

if TYPE_CHECKING:
    from gateway.core.orchestrator import Collaborator


async def run_cascade(c: Collaborator, a: Answer) -> AsyncIterator[Chunk]:
    streaming = c.config.cascade.policy == "stream" and c.tokenizers.compatible
    async for chunk in _stream(c, a) if streaming else _gate(c, a):
        yield chunk


async def _stream(c: Collaborator, a: Answer) -> AsyncIterator[Chunk]:
    judge = c.confidence.running()
    held: TokenEvent | None = None
    async for ev in a.device.iterate(lambda: c.engine.generate(a.job.prompt_tokens, a.job.params)):
        if judge.unsure_after(ev.logprob) and c.cloud is not None:
            held = ev
            break
        chunk = a.out.add_token(ev.token_id, "device", ev.logprob, ev.top_logprobs)
        if chunk is not None:
            yield chunk
        if a.out.finished:
            break
    a.out.judged(judge.lowest if judge.lowest != float("inf") else None, escalated=held is not None)
    if held is None:
        return
    a.out.handed_to_cloud()
    async for chunk in run_speculative(c, a, ahead=[held.as_draft()]):
        yield chunk


async def _gate(c: Collaborator, a: Answer) -> AsyncIterator[Chunk]:
    job, judge = a.job, c.confidence
    preview = a.out.lookahead()  # same stops and limits: the device stops where the client's answer would
    answer: list[TokenEvent] = []
    async for ev in a.device.iterate(
        lambda: c.engine.generate(job.prompt_tokens, job.params, judge.needs_entropy)
    ):
        answer.append(ev)
        preview.add_token(ev.token_id, "device")
        if preview.finished:
            break
    logprobs = [ev.logprob for ev in answer]
    entropies = [ev.entropy or 0.0 for ev in answer] if judge.needs_entropy else None
    why = judge.escalation_reason(logprobs, entropies, [ev.token_id for ev in answer])
    escalated = c.cloud is not None and why is not None
    a.out.judged(
        judge.score(logprobs, entropies), escalated, why if escalated and why != "low confidence" else None
    )
    drafts = [ev.as_draft() for ev in answer]
    if not escalated:
        for ev in answer:
            chunk = a.out.add_token(ev.token_id, "device", ev.logprob, ev.top_logprobs)
            if chunk is not None:
                yield chunk
        return
    if c.tokenizers.compatible:
        async for chunk in run_speculative(c, a, ahead=drafts):
            yield chunk
        return
    async for chunk in run_cloud(c, a):  # no shared tokenizer: the cloud answers from scratch
        yield chunk
    if a.handover is not None and not a.out.started:  # the cloud failed before its first word:
        a.handover = replace(a.handover, held=tuple(drafts))  # the device's own answer continues the prompt
