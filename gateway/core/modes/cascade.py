"""The cascade: the device answers; where it is unsure, the cloud takes over (``cascade.policy``).

* ``stream`` (the default): device tokens reach the client as they come while the running
  confidence holds; the token where it drops is held back and becomes the first draft the
  cloud verifies; the cloud goes on from there with the device drafting, as in speculative
  mode. What the client already has stands, so time to first token is the device's.
* ``gate``: the whole answer is judged first by the verifiers (``gateway.core.verifiers``:
  degeneration always, then ``cascade.verifiers`` in order); one that fails becomes the drafts
  the cloud verifies, and the cloud takes over from the first token it rejects.

The stream watches for loops and confidence as tokens come (a loop the device is sure of is
still a loop).

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
from gateway.core.verifiers.base import DeviceAnswer, Verdict
from gateway.core.verifiers.degeneration import LoopWatch

if TYPE_CHECKING:
    from gateway.core.orchestrator import Collaborator


async def run_cascade(c: Collaborator, a: Answer) -> AsyncIterator[Chunk]:
    # tool calls are judged whole (a call is only checkable once its block has closed): they take the gate
    streaming = c.config.cascade.policy == "stream" and c.tokenizers.compatible and a.job.tools is None
    async for chunk in _stream(c, a) if streaming else _gate(c, a):
        yield chunk


async def _stream(c: Collaborator, a: Answer) -> AsyncIterator[Chunk]:
    judge, loops = c.confidence.running(), LoopWatch(c.config.cascade.degeneration_span)
    held: TokenEvent | None = None
    failed: Verdict | None = None
    grammar = await a.constraint(c.engine, [])
    async for ev in a.device.iterate(
        lambda: c.engine.generate(a.job.prompt_tokens, a.job.params, constraint=grammar)
    ):
        if c.cloud is not None:
            if loops.loops_after(ev.token_id):
                failed = Verdict("degeneration", "fail", reason=f"a run of {loops.span} tokens repeats")
            elif judge.unsure_after(ev.logprob):
                failed = Verdict("confidence", "fail", judge.lowest, "low confidence")
            if failed is not None:
                held = ev
                break
        chunk = a.out.add_token(ev.token_id, "device", ev.logprob, ev.top_logprobs)
        if chunk is not None:
            yield chunk
        if a.out.finished:
            break
    lowest = judge.lowest if judge.lowest != float("inf") else None
    a.out.judged(lowest, [failed] if failed else [], escalated=held is not None)
    if held is None:
        return
    a.out.handed_to_cloud()
    async for chunk in run_speculative(c, a, ahead=[held.as_draft()]):
        yield chunk


async def _device_answer(c: Collaborator, a: Answer, entropy: bool) -> DeviceAnswer:
    """The device's whole answer, ended where the client's answer would end (same stops and limits)."""
    job = a.job
    preview = a.out.lookahead()
    events: list[TokenEvent] = []
    text: list[str] = []
    grammar = await a.constraint(c.engine, [])
    async for ev in a.device.iterate(
        lambda: c.engine.generate(job.prompt_tokens, job.params, entropy, constraint=grammar)
    ):
        events.append(ev)
        chunk = preview.add_token(ev.token_id, "device")
        text.append(chunk.text if chunk is not None else "")
        if preview.finished:
            break
    text.append(preview.finish(preview.finish_reason or "stop").text)
    return DeviceAnswer(job.prompt_tokens, events, "".join(text), preview.finish_reason, job.messages)


async def _gate(c: Collaborator, a: Answer) -> AsyncIterator[Chunk]:
    answer = await _device_answer(c, a, c.confidence.needs_entropy)
    verdicts = await c.verifiers(a.stats, a.job.schema, a.job.tools).check(answer)
    failed = next((v for v in verdicts if v.failed), None)
    escalated = c.cloud is not None and failed is not None
    entropies = [ev.entropy or 0.0 for ev in answer.events] if c.confidence.needs_entropy else None
    a.out.judged(c.confidence.score(answer.logprobs, entropies), verdicts, escalated)
    drafts = [ev.as_draft() for ev in answer.events]
    if not escalated:
        for ev in answer.events:
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
