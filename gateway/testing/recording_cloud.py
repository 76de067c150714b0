"""A fake cloud that records every byte it receives — the witness for "PII never leaves the device".

It speaks just enough of the cloud API for every mode to run against it: tokenizer
identity (using the device model's own tokenizer, so speculation is enabled), native
verification (accepts all drafts, then ends the answer), and chat/text completions that
answer by echoing the placeholders it saw *in reverse order, split into 3-character
chunks* — so restoration must cope with reordering and with placeholders cut across chunks.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Sequence
from typing import Any

from aiohttp import web

from gateway.api.sse import open_stream, send_done, send_event

PLACEHOLDER = re.compile(r"\[[A-Z_]+_\d+\]")


def completion_body(text: str, chat: bool) -> dict[str, Any]:
    """A whole (non-streamed) chat or text completion answering ``text``."""
    choice: dict[str, Any] = {"index": 0, "finish_reason": "stop"}
    choice.update({"message": {"role": "assistant", "content": text}} if chat else {"text": text})
    return {"choices": [choice], "usage": {"prompt_tokens": 1, "completion_tokens": 1}}


async def stream_answer(resp: web.StreamResponse, pieces: Sequence[str], chat: bool, completion_tokens: int,
                        delay: float = 0.0) -> None:
    """The pieces as chunks (``delay`` seconds apart), a stop chunk, a usage chunk and ``[DONE]``."""
    for piece in pieces:
        choice: dict[str, Any] = {"index": 0, "finish_reason": None}
        choice.update({"delta": {"content": piece}} if chat else {"text": piece})
        await send_event(resp, {"choices": [choice]})
        if delay:
            await asyncio.sleep(delay)
    last: dict[str, Any] = {"index": 0, "finish_reason": "stop"}
    end: dict[str, Any] = {"delta": {}} if chat else {"text": ""}
    last.update(end)
    await send_event(resp, {"choices": [last]})
    usage = {"prompt_tokens": 1, "completion_tokens": completion_tokens}
    await send_event(resp, {"choices": [], "usage": usage})
    await send_done(resp)


class RecordingCloud:
    def __init__(self, tokenizer_engine: Any):
        self.engine = tokenizer_engine
        self.received: list[bytes] = []  # raw bodies, as they came over the wire
        self.decoded: list[str] = []  # token-id payloads turned back into text
        self.runner: web.AppRunner | None = None
        self.url = ""

    @property
    def calls(self) -> int:
        return len(self.received)

    def seen_text(self) -> str:
        return "\n".join([b.decode("utf-8", "replace") for b in self.received] + self.decoded)

    async def _record(self, request: web.Request) -> dict:
        raw = await request.read()
        self.received.append(raw)
        body = json.loads(raw) if raw else {}
        for key in ("context", "context_tail", "draft", "prompt"):
            ids = body.get(key)
            if isinstance(ids, list) and ids and all(isinstance(t, int) for t in ids):
                self.decoded.append(self.engine.detokenize(ids))
        return body

    def _reply_text(self, body: dict) -> str:
        texts = [m.get("content") or "" for m in body.get("messages", [])] + [str(body.get("prompt", ""))]
        found = PLACEHOLDER.findall(" ".join(texts))
        return "Noted: " + " and ".join(reversed(found)) + "."

    async def health(self, request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def info(self, request: web.Request) -> web.Response:
        return web.json_response({"n_vocab": self.engine.n_vocab,
                                  "eos_token_ids": sorted(self.engine.eos_token_ids), "native_verify": True})

    async def tokenize(self, request: web.Request) -> web.Response:
        body = await self._record(request)
        return web.json_response({"tokens": self.engine.tokenize(body["prompt"], add_bos=False)})

    async def verify(self, request: web.Request) -> web.Response:
        body = await self._record(request)
        draft = body.get("draft", [])
        eos = min(self.engine.eos_token_ids)
        return web.json_response({"accepted": len(draft), "tokens": draft + [eos]})

    async def complete(self, request: web.Request) -> web.StreamResponse:
        body = await self._record(request)
        chat = request.path.endswith("chat/completions")
        text = self._reply_text(body)
        if not body.get("stream"):
            return web.json_response(completion_body(text, chat))
        resp = await open_stream(request)
        pieces = [text[i:i + 3] for i in range(0, len(text), 3)]
        await stream_answer(resp, pieces, chat, len(text) // 3 + 1)
        return resp

    async def start(self) -> str:
        app = web.Application()
        app.router.add_get("/health", self.health)
        app.router.add_get("/v1/tandem/info", self.info)
        app.router.add_post("/tokenize", self.tokenize)
        app.router.add_post("/v1/tandem/verify", self.verify)
        app.router.add_post("/v1/chat/completions", self.complete)
        app.router.add_post("/v1/completions", self.complete)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self.runner.addresses[0][1]}"
        return self.url

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
