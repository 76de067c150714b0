"""Server-sent events exactly as OpenAI frames them: ``data: {json}\\n\\n`` … ``data: [DONE]\\n\\n``.

After the first byte the status line is gone: an error is one more event, ``data:
{"error": {...}}``, then ``[DONE]`` (as vLLM and llama.cpp's server do), never a second response.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from gateway.api.responses import dumps

DONE = b"data: [DONE]\n\n"


async def open_stream(request: web.Request, headers: dict[str, str] | None = None) -> web.StreamResponse:
    resp = web.StreamResponse(status=200, headers={
        "Content-Type": "text/event-stream", "Cache-Control": "no-cache", "Connection": "keep-alive",
        **(headers or {}),
    })
    await resp.prepare(request)
    return resp


def event(data: Any) -> bytes:
    """One event's bytes: the body as JSON, UTF-8 as is."""
    return b"data: " + dumps(data).encode() + b"\n\n"


async def send_event(resp: web.StreamResponse, data: Any) -> None:
    await resp.write(event(data))


async def send_events(resp: web.StreamResponse, *data: Any) -> None:
    """Events that are ready together, in one write (one HTTP chunk, one syscall): the same body."""
    await resp.write(b"".join(map(event, data)))


async def send_done(resp: web.StreamResponse, *data: Any) -> None:
    """The last events (if any), ``[DONE]`` and the end of the body, in one write."""
    await resp.write_eof(b"".join(map(event, data)) + DONE)
