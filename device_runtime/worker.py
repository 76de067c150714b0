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
import time
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

    async def acquire(self, bounded: bool = True) -> None:
        """Wait (fairly) for exclusive use of the context; refuse fast when too many wait already."""
        if bounded and self._lock.locked() and self._waiting >= self.max_queue:
            raise QueueFull(f"{self._waiting} requests already waiting for the device model")
        self._waiting += 1
        try:
            await self._lock.acquire()
        finally:
            self._waiting -= 1
        self.busy = True

    def release(self) -> None:
        self.busy = False
        self._lock.release()

    @contextlib.asynccontextmanager
    async def turn(self) -> AsyncIterator[EngineCall]:
        """Exclusive use of the context for the block (bounded wait: may raise ``QueueFull``)."""
        await self.acquire()
        try:
            yield self.call
        finally:
            self.release()

    @contextlib.asynccontextmanager
    async def lazy_turn(self) -> AsyncIterator["DeviceTurn"]:
        """The device for one request: taken on its first use, at most once, given back at the end."""
        turn = DeviceTurn(self)
        try:
            yield turn
        finally:
            turn.close()

    async def iterate(self, make_iter: Callable[[], Iterator[T]],
                      budget_s: float = 0.002) -> AsyncIterator[T]:
        """Drive a blocking generator on the worker thread; closing early closes it there.

        Each hop to the thread pulls items until ``budget_s`` has passed, so a real model
        (milliseconds per token) still streams token by token, while a fast producer is not
        slowed down by one thread hop per item. The first hop also makes the generator, and
        one that ran to its end needs no hop to be closed: a short answer is one hop.
        """
        held: list[Iterator[T]] = []  # the generator, once made on the thread
        items: list[Any] = []
        try:
            items = await self.call(_start, make_iter, held, budget_s)
            while True:
                for item in items:
                    if item is _DONE:
                        return
                    yield item
                items = await self.call(_pull, held[0], budget_s)
        finally:
            if not (items and items[-1] is _DONE):  # a generator that ran to its end has nothing to close
                # shielded: even when the caller is cancelled, the generator must stop on its own thread
                # (the close queues behind a hop still running there, so ``held`` is filled by then)
                await asyncio.shield(self.call(_close, held))

    def shutdown(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


class DeviceTurn:
    """A request's handle on the device: the first call takes the turn, later calls reuse it.

    One object per request, so no path can take the (non-reentrant) turn twice: a cloud-only
    request that never needs the device never waits for it, and one whose cloud fails
    mid-answer takes it then, under the same handle.
    """

    def __init__(self, worker: DeviceWorker):
        self.worker = worker
        self.held = False

    async def take(self, bounded: bool = True) -> None:
        if not self.held:
            await self.worker.acquire(bounded)
            self.held = True

    async def __call__(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        await self.take()
        return await self.worker.call(fn, *args, **kwargs)

    async def iterate(self, make_iter: Callable[[], Iterator[T]]) -> AsyncIterator[T]:
        await self.take()
        async for item in self.worker.iterate(make_iter):
            yield item

    def close(self) -> None:
        if self.held:
            self.held = False
            self.worker.release()


def _start(make_iter: Callable[[], Iterator[Any]], held: list[Iterator[Any]], budget_s: float) -> list[Any]:
    it = make_iter()
    held.append(it)
    return _pull(it, budget_s)


def _pull(it: Iterator[Any], budget_s: float) -> list[Any]:
    t0 = time.perf_counter()
    items: list[Any] = []
    while True:
        item = next(it, _DONE)
        items.append(item)
        if item is _DONE or time.perf_counter() - t0 >= budget_s:
            return items


def _close(held: list[Iterator[Any]]) -> None:
    close = getattr(held[0], "close", None) if held else None
    if close is not None:
        close()
