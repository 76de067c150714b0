"""The device worker's generator bridge (``DeviceWorker.iterate``): hops, closing, cancelling; no model."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any, Iterator

import pytest

from device_runtime.worker import DeviceWorker


class CountingWorker(DeviceWorker):
    """Counts the hops to the worker thread."""

    def __init__(self) -> None:
        super().__init__(engine=None)
        self.hops = 0

    async def call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        self.hops += 1
        return await super().call(fn, *args, **kwargs)


class Producer:
    """A generator that records where it ran and where it was closed."""

    def __init__(self, n: int, delay_s: float = 0.0, fail_at: int | None = None):
        self.n, self.delay_s, self.fail_at = n, delay_s, fail_at
        self.threads: set[str] = set()
        self.closed_on: str | None = None
        self.finished = False

    def __call__(self) -> Iterator[int]:
        try:
            for i in range(self.n):
                self.threads.add(threading.current_thread().name)
                if self.delay_s:
                    time.sleep(self.delay_s)
                if i == self.fail_at:
                    raise ValueError("the model broke")
                yield i
            self.finished = True
        except GeneratorExit:
            self.closed_on = threading.current_thread().name
            raise


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_a_fast_producer_is_one_hop_and_needs_no_close():
    async def main() -> tuple[list[int], int]:
        worker = CountingWorker()
        try:
            got = [x async for x in worker.iterate(producer)]
            return got, worker.hops
        finally:
            worker.shutdown()

    producer = Producer(16)
    got, hops = run(main())
    assert got == list(range(16))
    assert hops == 1
    assert producer.finished and producer.closed_on is None
    assert all(t.startswith("llama") for t in producer.threads)


def test_a_slow_producer_still_streams_item_by_item():
    async def main() -> tuple[list[float], int]:
        worker = CountingWorker()
        seen = []
        try:
            async for _ in worker.iterate(Producer(5, delay_s=0.004), budget_s=0.002):
                seen.append(time.perf_counter())
            return seen, worker.hops
        finally:
            worker.shutdown()

    seen, hops = run(main())
    assert len(seen) == 5 and hops >= 5  # one item per hop when one item takes longer than the budget


def test_stopping_early_closes_the_generator_on_the_worker_thread():
    async def main() -> None:
        worker = DeviceWorker(engine=None)
        items = worker.iterate(producer, budget_s=0.0)
        try:
            async for x in items:
                if x == 2:
                    break
            await items.aclose()  # as the gateway does when the client leaves
        finally:
            worker.shutdown()

    producer = Producer(10, delay_s=0.001)
    run(main())
    assert producer.closed_on is not None and producer.closed_on.startswith("llama")
    assert not producer.finished


def test_a_cancelled_first_hop_still_closes_the_generator_there_before_iterate_returns():
    started = threading.Event()

    def slow_first() -> Iterator[int]:
        started.set()
        time.sleep(0.05)  # the first item (a prompt's prefill) is still being computed when the client leaves
        yield from producer()

    async def consume(worker: DeviceWorker, done: list[str]) -> None:
        try:
            async for _ in worker.iterate(slow_first):
                pass
        finally:
            done.append("iterate over")

    async def main() -> list[str]:
        worker = DeviceWorker(engine=None)
        done: list[str] = []
        try:
            task = asyncio.create_task(consume(worker, done))
            await asyncio.to_thread(started.wait)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            return done
        finally:
            worker.shutdown()

    producer = Producer(10)
    done = run(main())
    assert done == ["iterate over"]
    assert producer.closed_on is not None and producer.closed_on.startswith("llama")  # closed, on its thread


def test_an_error_in_the_generator_reaches_the_consumer():
    async def main() -> list[int]:
        worker = DeviceWorker(engine=None)
        got: list[int] = []
        try:
            with pytest.raises(ValueError, match="the model broke"):
                async for x in worker.iterate(Producer(10, fail_at=3), budget_s=0.0):
                    got.append(x)
            return got
        finally:
            worker.shutdown()

    assert run(main()) == [0, 1, 2]
