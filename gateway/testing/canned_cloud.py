"""A cloud server with canned chat answers.

The demo's rendering and stop tests need answers a model won't reliably give.

A keyword in the last user message picks the answer (Markdown with code, HTML that must not run,
a long answer streamed slowly enough to be stopped). It is a ``RecordingCloud`` otherwise: it
speaks the cloud API (tokenizer identity, native verification) with the device's tokenizer, so the
gateway in front of it is an ordinary one. It counts the streams its client walked away from.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from gateway.api.sse import open_stream
from gateway.testing.recording_cloud import RecordingCloud, completion_body, stream_answer


class CannedCloud(RecordingCloud):
    def __init__(self, tokenizer_engine: Any, scripts: dict[str, str], slow: dict[str, float] | None = None):
        super().__init__(tokenizer_engine)
        self.scripts = scripts  # keyword in the last user message -> the answer
        self.slow = slow or {}  # keyword -> seconds between streamed pieces
        self.disconnects = 0  # streams cut by the client (the gateway cancelled its request)
        self.finished = 0  # streams sent to the end

    def _last_user(self, body: dict) -> str:
        users = [m.get("content", "") for m in body.get("messages", []) if m.get("role") == "user"]
        return str(users[-1] if users else body.get("prompt", ""))

    def _script(self, body: dict) -> tuple[str, float]:
        last = self._last_user(body)
        for key, text in self.scripts.items():
            if key in last:
                return text, self.slow.get(key, 0.0)
        return "Noted.", 0.0

    async def complete(self, request: web.Request) -> web.StreamResponse:
        body = await self._record(request)
        text, delay = self._script(body)
        chat = request.path.endswith("chat/completions")
        if not body.get("stream"):
            return web.json_response(completion_body(text, chat))
        resp = await open_stream(request)
        pieces = [text[i:i + 4] for i in range(0, len(text), 4)]
        try:
            await stream_answer(resp, pieces, chat, len(pieces), delay)
        except ConnectionError:  # the client hung up mid-answer: what the stop tests are after
            self.disconnects += 1
            return resp
        self.finished += 1
        return resp
