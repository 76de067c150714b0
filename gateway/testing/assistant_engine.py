"""A device engine that answers like a tool-using assistant, without a model: for the demo clients' tests.

A keyword in the last user message picks the answer (a ``<tool_call>`` block in the model's own
format, a JSON object, Markdown...); an answer to a ``tool`` message repeats the tool's result, so a
test sees that the result made the round trip. Every message list the gateway renders into a
prompt is kept in ``seen`` (the tool calls and tool messages it received included), the names of
the tools offered with it in ``offered``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from device_runtime.fake import FakeEngine
from device_runtime.tools import call_text


def tool_call(name: str, **arguments: Any) -> str:
    """A call as the model writes it (Qwen2.5 / Hermes: ``<tool_call>{"name", "arguments"}</tool_call>``)."""
    return call_text(name, json.dumps(arguments))


class AssistantEngine(FakeEngine):
    name = "assistant-fake"

    def __init__(self, scripts: dict[str, str], default: str = "Noted.", n_ctx: int = 8192):
        super().__init__(n_ctx=n_ctx)
        self.scripts = scripts  # keyword in the last user message -> the answer
        self.default = default
        self.seen: list[list[dict]] = []  # each chat prompt's messages, as the gateway passed them
        self.offered: list[list[str]] = []  # the tools listed with each
        self._answers: dict[tuple[int, ...], str] = {}  # prompt tokens -> the answer scripted for them

    def chat_tokens(self, messages: Sequence[dict], tools: Sequence[dict] | None = None) -> list[int]:
        self.seen.append([dict(m) for m in messages])
        self.offered.append([t["function"]["name"] for t in tools or []])
        prompt = super().chat_tokens(messages, tools)
        self._answers[tuple(prompt)] = self._answer(messages, bool(tools))
        return prompt

    def _answer(self, messages: Sequence[dict], tools: bool) -> str:
        last = messages[-1] if messages else {}
        if last.get("role") == "tool":
            return f"The tool says: {last.get('content')}"
        text = str(last.get("content") or "")
        for key, answer in self.scripts.items():
            if key in text and (tools or "<tool_call>" not in answer):
                return answer
        return self.default

    def answer_for(self, prompt: Sequence[int]) -> bytes:
        return self._answers.get(tuple(prompt), self.default).encode()
