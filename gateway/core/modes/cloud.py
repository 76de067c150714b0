"""The cloud alone: the (redacted) request passed through to the cloud, streaming."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, AsyncIterator

from gateway.cloud_client.errors import CloudError
from gateway.core.answer import Chunk
from gateway.core.state import Answer

if TYPE_CHECKING:
    from gateway.core.orchestrator import Collaborator
    from gateway.core.planner import Job


def pass_through_body(job: Job, max_tokens: int) -> dict[str, Any]:
    """The cloud request: only what may leave the device (cloud-facing messages and stop strings)."""
    p = job.params
    body: dict[str, Any] = {
        "max_tokens": max_tokens,
        "temperature": p.temperature,
        "top_p": p.top_p,
        "stream_options": {"include_usage": True},
    }
    if p.seed is not None:
        body["seed"] = p.seed
    if job.stops:
        body["stop"] = list(job.stops)
    if job.response_format is not None:  # the cloud enforces it itself (vLLM: guided decoding)
        body["response_format"] = job.response_format
    if job.chat:
        body["messages"] = job.messages
        if job.n_logprobs is not None:
            body.update(logprobs=True, top_logprobs=job.n_logprobs)
    else:
        body["prompt"] = job.prompt_text if job.prompt_text is not None else job.prompt_tokens
        if job.n_logprobs is not None:
            body["logprobs"] = job.n_logprobs
    return body


async def run_cloud(c: Collaborator, a: Answer) -> AsyncIterator[Chunk]:
    assert c.cloud is not None
    job, out = a.job, a.out
    try:
        async for event in c.cloud.stream(pass_through_body(job, out.remaining), a.stats, chat=job.chat):
            if event.get("usage") and not event.get("choices"):
                out.cloud_reported(event["usage"]["completion_tokens"])
                continue
            choice = (event.get("choices") or [{}])[0]
            text = (choice.get("delta") or {}).get("content") if job.chat else choice.get("text")
            if text:
                chunk = out.add_text(text, "cloud", 1, choice.get("logprobs"))
                if chunk is not None and chunk.text:
                    yield chunk
            if choice.get("finish_reason"):
                out.finish_reason = out.finish_reason or choice["finish_reason"]
        out.cloud_reported(out.completion_tokens)  # a cloud that sent no usage: one pass per chunk
    except CloudError as exc:
        a.cloud_failed(exc)
