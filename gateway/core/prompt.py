"""The request as it may leave the device: the texts privacy scans and redacts, in one place.

A chat's messages (with earlier tool calls' arguments and tool results), a completion's prompt,
the stop strings, the response format and the tool definitions all reach the cloud in some mode;
``texts`` lists every one of them for the scan, ``with_texts`` puts redacted ones back.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from device_runtime.tools import Tools
from gateway.api.protocol import ChatMessage


@dataclass(frozen=True)
class CloudFacing:
    """The request's text as it may leave the device: scanned for personal data, redacted when asked."""

    chat: bool
    messages: list[dict] | None  # chat
    text: str | None  # completions with a text prompt
    token_ids: list[int] | None  # completions with a token-id prompt (never rewritten)
    stops: tuple[str, ...]
    response_format: dict[str, Any] | None = None  # as the cloud gets it (a schema is never rewritten)
    tools: Tools | None = None  # function tools (definitions are never rewritten, as a schema)

    @property
    def format_text(self) -> list[str]:
        """The response format and the tool definitions as text to scan: their names and descriptions
        leave the device too."""
        fmt = [json.dumps(self.response_format, ensure_ascii=False)] if self.response_format else []
        return fmt + (
            [json.dumps([t.as_openai() for t in self.tools.tools], ensure_ascii=False)] if self.tools else []
        )

    def texts(self, detokenize: Callable[[list[int]], str]) -> list[str]:
        """Every text that may leave the device: each message's content, then each earlier tool call's
        arguments (``with_texts`` puts them back in this order)."""
        if self.messages is not None:
            return [m["content"] for m in self.messages] + [
                c["function"]["arguments"] for m in self.messages for c in m.get("tool_calls", ())
            ]
        return [self.text if self.text is not None else detokenize(self.token_ids or [])]

    def with_texts(self, texts: list[str]) -> list[dict]:
        """The messages with ``texts`` (in ``texts()``'s order) in place of their contents and arguments."""
        assert self.messages is not None
        contents, arguments = iter(texts[: len(self.messages)]), iter(texts[len(self.messages) :])
        return [
            {
                **m,
                "content": next(contents),
                **(
                    {
                        "tool_calls": [
                            {**c, "function": {**c["function"], "arguments": next(arguments)}}
                            for c in m["tool_calls"]
                        ]
                    }
                    if m.get("tool_calls")
                    else {}
                ),
            }
            for m in self.messages
        ]


def message_out(m: ChatMessage) -> dict[str, Any]:
    """A chat message as it may leave the device: text content, and the tool fields where present."""
    out: dict[str, Any] = {"role": "system" if m.role == "developer" else m.role, "content": m.text}
    if m.tool_calls:
        out["tool_calls"] = [c.model_dump() for c in m.tool_calls]
    if m.tool_call_id:
        out["tool_call_id"] = m.tool_call_id
    return out
