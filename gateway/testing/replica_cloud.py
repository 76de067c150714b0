"""Cloud replicas without a model, for pools: a byte-level scripted model behind the cloud API.

    replicas = [ReplicaCloud(f"r{i}") for i in range(3)]
    urls = [await r.start() for r in replicas]
    engine = DraftingEngine()            # FakeEngine's byte tokens; drafts that are right 3 times in 4
    ...; await replicas[0].kill()        # as a killed process: the port refuses, open connections reset

The "cloud model" is ``cloud_next``: a fixed function of the token prefix, so any continuation can
be checked token for token (``cloud_greedy``), whichever replica produced which part of it. Each
replica speaks what the gateway uses: ``/health``, ``/v1/tandem/info`` and ``/tokenize`` (the device's
byte tokenizer, so speculation is on), ``/v1/tandem/verify`` with per-session state as the local
cloud keeps it (delta form, 409 when the session is unknown there), streaming
``/v1/chat/completions`` and ``/metrics`` (vLLM's load gauges, set by the test). It counts what it
served; ``kill_after`` makes it die at a given verify call or after a given number of streamed tokens.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from aiohttp import web

from device_runtime.engine import DraftToken, TokenEvent
from device_runtime.fake import EOS, FakeEngine
from gateway.api.responses import hash_ids
from gateway.api.sse import open_stream, send_done, send_event
from gateway.cloud_client.load import render_metrics

LETTERS = b"abcdefghijklmnopqrstuvwxyz "


def cloud_next(prefix: Sequence[int]) -> int:
    """The scripted cloud model's greedy token after ``prefix`` (a letter or a space, never the end)."""
    return LETTERS[(sum(prefix[-3:]) + 7 * len(prefix)) % len(LETTERS)]


def cloud_greedy(prefix: Sequence[int], n: int) -> list[int]:
    out = list(prefix)
    for _ in range(n):
        out.append(cloud_next(out))
    return out[len(prefix):]


def device_next(prefix: Sequence[int]) -> int:
    """The device's guess: the cloud's token, except at every fourth position."""
    token = cloud_next(prefix)
    return token if len(prefix) % 4 else LETTERS[(LETTERS.index(token) + 1) % len(LETTERS)]


class DraftingEngine(FakeEngine):
    """FakeEngine that drafts (``device_next``) and answers on its own with the same guesses; its
    confidence drops after ``sure_for`` tokens, so a streaming cascade hands over there."""

    def __init__(self, sure_for: int = 6, n_ctx: int = 4096):
        super().__init__(n_ctx=n_ctx)
        self.sure_for = sure_for

    def draft(self, k: int, temperature: float = 0.0, top_p: float = 1.0, rng: Any = None,
              constraint: Any = None) -> list[DraftToken]:
        out: list[DraftToken] = []
        for _ in range(k):
            token = device_next(self._tokens)
            out.append(DraftToken(token, -0.05))
            self._tokens.append(token)
        return out

    def generate(self, prompt: Sequence[int], params: Any, with_entropy: bool = False,
                 constraint: object | None = None) -> Any:
        tokens = list(prompt)
        for i in range(params.max_tokens):
            token = device_next(tokens)
            tokens.append(token)
            ev = TokenEvent(token, -0.05 if i < self.sure_for else -9.0, chr(token))
            if i + 1 == params.max_tokens:
                ev.finish_reason = "length"
            yield ev
            if ev.finish_reason:
                return


class ReplicaCloud:
    def __init__(self, name: str, kill_after: dict[str, int] | None = None):
        self.name = name
        # {"verify": n}: dies at its n-th verify call; {"tokens": n}: after streaming n tokens
        self.kill_after = dict(kill_after or {})
        self.served: Counter[str] = Counter()  # route -> calls answered
        self.bodies: list[dict] = []  # verify bodies as they came
        self.session_headers: list[str | None] = []  # each verify and chat call's X-Session-Id
        self.sessions: dict[str, list[int]] = {}  # session id -> the tokens its state holds
        self.load = {"waiting": 0, "running": 0, "kv": 0.0}
        self.dead = False
        self.url = ""
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None

    # -- the routes --
    @web.middleware
    async def _life(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if self.dead:  # a connection kept alive from before the kill: reset, as the dead process's would be
            if request.transport is not None:
                request.transport.abort()
            raise ConnectionResetError("replica killed")
        return await handler(request)

    async def health(self, request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def info(self, request: web.Request) -> web.Response:
        return web.json_response({"n_vocab": FakeEngine.n_vocab, "eos_token_ids": [EOS],
                                  "native_verify": True})

    async def tokenize(self, request: web.Request) -> web.Response:
        body = await request.json()
        return web.json_response({"tokens": list(str(body.get("prompt", "")).encode())})

    async def metrics(self, request: web.Request) -> web.Response:
        load = self.load
        return web.Response(text=render_metrics(int(load["waiting"]), int(load["running"]), float(load["kv"]),
                                                "cloud"), content_type="text/plain")

    async def verify(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.bodies.append(body)
        self.session_headers.append(request.headers.get("X-Session-Id"))
        n = self.served["verify"] + 1
        if self.kill_after.get("verify") == n:
            await self.kill(request)
        session, draft = body.get("session"), [int(t) for t in body["draft"]]
        if "context" in body:
            context = [int(t) for t in body["context"]]
            cached = 0
        else:
            held = self.sessions.get(session or "")
            prefix_len = int(body["prefix_len"])
            if held is None or len(held) < prefix_len or hash_ids(held[:prefix_len]) != body["prefix_hash"]:
                gone = {"message": "the cached prefix is gone; send the full context",
                        "type": "invalid_request_error", "param": "prefix_hash", "code": "context_unknown"}
                return web.json_response({"error": gone}, status=409)
            context, cached = held[:prefix_len] + [int(t) for t in body["context_tail"]], prefix_len
        targets = [cloud_next(context + draft[:i]) for i in range(len(draft) + 1)]
        accepted = next((i for i, (d, t) in enumerate(zip(draft, targets)) if d != t), len(draft))
        if session:
            self.sessions[session] = context + draft[:accepted]
        self.served["verify"] += 1
        return web.json_response({"accepted": accepted, "tokens": draft[:accepted] + [targets[accepted]],
                                  "cached_tokens": cached})

    async def chat(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.session_headers.append(request.headers.get("X-Session-Id"))
        prompt = FakeEngine().chat_tokens(body["messages"])
        tokens = cloud_greedy(prompt, int(body.get("max_tokens") or 16))
        self.served["chat"] += 1
        if not body.get("stream"):
            message = {"role": "assistant", "content": bytes(tokens).decode()}
            choice = {"index": 0, "message": message, "finish_reason": "length"}
            return web.json_response({"choices": [choice]})
        resp = await open_stream(request)
        for i, token in enumerate(tokens):
            if self.kill_after.get("tokens") == i:
                await self.kill(request)
            await send_event(resp, {"choices": [{"index": 0, "delta": {"content": chr(token)},
                                                 "finish_reason": None}]})
        await send_event(resp, {"choices": [{"index": 0, "delta": {}, "finish_reason": "length"}]})
        await send_done(resp, {"choices": [], "usage": {"prompt_tokens": len(prompt),
                                                        "completion_tokens": len(tokens)}})
        return resp

    # -- life --
    async def start(self, port: int = 0) -> str:
        app = web.Application(middlewares=[self._life])
        app.add_routes([web.get("/health", self.health), web.get("/v1/tandem/info", self.info),
                        web.post("/tokenize", self.tokenize), web.get("/metrics", self.metrics),
                        web.post("/v1/tandem/verify", self.verify),
                        web.post("/v1/chat/completions", self.chat)])
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        self._site = web.TCPSite(self._runner, "127.0.0.1", port, reuse_address=True)
        await self._site.start()
        self.dead = False
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"
        return self.url

    async def kill(self, request: web.Request | None = None) -> None:
        """Die as a killed process does: stop listening, and reset the connection being served."""
        self.dead = True
        if self._site is not None:
            await self._site.stop()
            self._site = None
        if request is not None and request.transport is not None:
            request.transport.abort()
            raise ConnectionResetError("replica killed")

    async def stop(self) -> None:
        self.dead = True
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def __repr__(self) -> str:
        return f"ReplicaCloud({self.name!r}, served={dict(self.served)})"

