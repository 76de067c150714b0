"""The device alone: the whole answer, or the rest of one after the cloud failed."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, AsyncIterator, Sequence

from device_runtime.engine import DraftToken
from gateway.core.answer import Chunk
from gateway.core.state import Answer

if TYPE_CHECKING:
    from gateway.core.orchestrator import Collaborator


async def run_device(c: Collaborator, a: Answer, lead: Sequence[DraftToken] = ()) -> AsyncIterator[Chunk]:
    """Generate until the answer is done; ``lead``: tokens the device already holds that continue
    the answer exactly (a hand-over's drafts in flight, a cascade's own answer), used, not regenerated."""
    if a.out.finished:
        return
    context = await a.context(c.engine)
    for d in lead:
        chunk = a.out.add_token(d.token_id, "device", d.logprob)
        if chunk is not None:
            yield chunk
        if a.out.finished:
            return
    params = replace(a.job.params, max_tokens=a.out.remaining)
    context += [d.token_id for d in lead]
    grammar = await a.constraint(c.engine, context[len(a.job.prompt_tokens) :])
    async for ev in a.device.iterate(lambda: c.engine.generate(context, params, constraint=grammar)):
        chunk = a.out.add_token(ev.token_id, "device", ev.logprob, ev.top_logprobs)
        if chunk is not None:
            yield chunk
        if a.out.finished:
            return
