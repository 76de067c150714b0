"""The cloud alone: the (redacted) request passed through to the cloud, streaming."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, AsyncIterator

from device_runtime.tools import call_text
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
    if job.tools is not None:  # and tool calls (vLLM: --enable-auto-tool-choice --tool-call-parser hermes)
        t = job.tools
        body["tools"] = [tool.as_openai() for tool in t.tools]
        body["tool_choice"] = t.choice if t.choice in ("auto", "none", "required") else {
            "type": "function", "function": {"name": t.choice}}
        if t.parallel is not None:  # as the client sent it (vLLM's default, as OpenAI's, is several calls)
            body["parallel_tool_calls"] = t.parallel
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
    calls = CloudCalls()
    try:
        async for event in c.cloud.stream(pass_through_body(job, out.remaining), a.stats, chat=job.chat):
            if event.get("usage") and not event.get("choices"):
                out.cloud_reported(event["usage"]["completion_tokens"])
                continue
            choice = (event.get("choices") or [{}])[0]
            delta = choice.get("delta") or {}
            text = (delta.get("content") or "") + calls.add(delta.get("tool_calls")) if job.chat \
                else choice.get("text")
            if choice.get("finish_reason"):
                text = (text or "") + calls.flush()
            if text:
                chunk = out.add_text(text, "cloud", 1, choice.get("logprobs"))
                if chunk is not None and chunk.text:
                    yield chunk
            if choice.get("finish_reason"):
                reason = "stop" if choice["finish_reason"] == "tool_calls" else choice["finish_reason"]
                out.finish_reason = out.finish_reason or reason  # the API layer says tool_calls again
        tail = calls.flush()  # a stream that ended without a finish_reason still hands over its last call
        if tail:
            chunk = out.add_text(tail, "cloud", 1, None)
            if chunk is not None and chunk.text:
                yield chunk
        out.cloud_reported(out.completion_tokens)  # a cloud that sent no usage: one pass per chunk
    except CloudError as exc:
        a.cloud_failed(exc)


class CloudCalls:
    """A cloud's parsed ``tool_calls`` deltas, back in the model's own format (``<tool_call>`` blocks):
    every producer's answer reads the same, and the API layer parses calls in one place."""

    def __init__(self) -> None:
        self.open: dict[str, Any] | None = None  # the call being streamed: index, name, arguments so far

    def add(self, deltas: list[dict[str, Any]] | None) -> str:
        """Text for the calls these deltas complete (a call is complete when the next one starts)."""
        text = ""
        for d in deltas or ():
            fn = d.get("function") or {}
            if self.open is None or d.get("index", self.open["index"]) != self.open["index"]:
                text += self.flush()
                self.open = {"index": d.get("index", 0), "name": fn.get("name") or "", "arguments": ""}
            self.open["name"] = self.open["name"] or fn.get("name") or ""
            self.open["arguments"] += fn.get("arguments") or ""
        return text

    def flush(self) -> str:
        done, self.open = self.open, None
        return "" if done is None else call_text(done["name"], done["arguments"])
