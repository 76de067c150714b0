"""An async face for one llama.cpp context: one worker thread, one request at a time, fair order.

llama.cpp calls block for milliseconds to seconds, so they never run on the event loop.
A context holds one token sequence, so requests take turns: ``asyncio.Lock`` wakes
waiters in FIFO order, and a bounded queue turns overload into a fast, clear refusal
instead of an ever-growing latency. Work is cut into small steps (one token, one draft
round), so a cancelled request gives the context back within one step.

    worker = DeviceWorker(engine, max_queue=16)
    async with worker.turn() as engine_call:
        tokens = await engine_call(engine.chat_tokens, messages)
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from concurrent.futures import ThreadPoolExecutor
from typing import Any, AsyncIterator, Awaitable, Callable, Iterator, TypeVar

T = TypeVar("T")

_DONE = object()


class QueueFull(RuntimeError):
    """More requests are waiting for the device than the configured bound."""


EngineCall = Callable[..., Awaitable[Any]]


class DeviceWorker:
    def __init__(self, engine: Any, max_queue: int = 16, name: str = "llama"):
        self.engine = engine
        self.max_queue = max_queue
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        self._lock = asyncio.Lock()
        self._waiting = 0
        self.busy = False

    @property
    def waiting(self) -> int:
        return self._waiting

    async def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run one blocking engine call on the worker thread (caller must hold the turn)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(fn, *args, **kwargs))

    @contextlib.asynccontextmanager
    async def turn(self) -> AsyncIterator[EngineCall]:
        """Wait (fairly, boundedly) for exclusive use of the context."""
        if self._lock.locked() and self._waiting >= self.max_queue:
            raise QueueFull(f"{self._waiting} requests already waiting for the device model")
        self._waiting += 1
        try:
            await self._lock.acquire()
        finally:
            self._waiting -= 1
        self.busy = True
        try:
            yield self.call
        finally:
            self.busy = False
            self._lock.release()

    async def iterate(self, make_iter: Callable[[], Iterator[T]]) -> AsyncIterator[T]:
        """Drive a blocking generator one item per worker call; closing early closes it on the thread."""
        it = await self.call(make_iter)
        try:
            while True:
                item = await self.call(next, it, _DONE)
                if item is _DONE:
                    return
                yield item  # type: ignore[misc]
        finally:
            close = getattr(it, "close", None)
            if close is not None:
                # shielded: even when the caller is cancelled, the generator must stop on its own thread
                await asyncio.shield(self.call(close))

    def shutdown(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
