"""Concurrent requests gathered into one scorer call, run off the event loop (docs/serve.md#batching).

A request's responses form one ``Job``. The batcher takes the oldest job, then every job that arrives
within ``max_wait`` seconds, until the batch holds ``batch_tokens`` tokens, and hands the batch to one
worker thread: the scorer groups responses by context, so completions of one prompt sent as separate
requests share the prompt's forward pass. The queue is bounded in responses (``QueueFull``: the server
answers 503); a job whose client went away before its batch started is dropped unscored.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


class QueueFull(RuntimeError):
    """The queue holds ``max_queue`` responses already; try again later."""


@dataclass
class Job(Generic[Item]):
    items: Sequence[Item]
    tokens: int
    done: asyncio.Future = field(repr=False)
    cancelled: bool = False


@dataclass
class Counters:
    """What the batcher has done, for ``GET /health``."""

    pending: int = 0
    """Responses admitted and not yet answered (queued or being scored)."""
    scored: int = 0
    batches: int = 0
    cancelled: int = 0
    """Responses dropped unscored because their client disconnected."""


class Batcher(Generic[Item, Result]):
    """``score(items) -> results`` (same order) on one worker thread, over batches of queued jobs.

    ``batching=False`` scores each job alone, as soon as the worker is free (the benchmark's baseline).
    """

    def __init__(self, score: Callable[[list[Item]], list[Result]], batch_tokens: int, max_wait: float,
                 max_queue: int, batching: bool = True, setup: Callable[[], Any] | None = None) -> None:
        self.score = score
        self.batch_tokens = batch_tokens
        self.max_wait = max_wait
        self.max_queue = max_queue
        self.batching = batching
        self.queue: asyncio.Queue[Job] = asyncio.Queue()
        # One thread: the model is used by one batch at a time, and torch's own threads parallelise it.
        self.worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="endorm-scorer", initializer=setup)
        self.counters = Counters()

    async def submit(self, items: Sequence[Item], tokens: int) -> list[Result]:
        """The results of ``items``; raises ``QueueFull`` at once when they do not fit the queue. Cancelling
        the caller (the client disconnected) drops the job if its batch has not started."""
        if self.counters.pending + len(items) > self.max_queue:
            raise QueueFull(f"the queue holds {self.counters.pending} responses; it takes {self.max_queue}")
        job = Job(items, tokens, asyncio.get_running_loop().create_future())
        self.counters.pending += len(items)
        self.queue.put_nowait(job)
        try:
            return await asyncio.shield(job.done)
        except asyncio.CancelledError:
            job.cancelled = True
            raise

    async def run(self) -> None:
        """Serve batches until cancelled."""
        loop = asyncio.get_running_loop()
        while True:
            batch = await self._next_batch(loop)
            live = [job for job in batch if not job.cancelled]
            for job in batch:
                if job.cancelled:
                    self.counters.cancelled += len(job.items)
                    self._finish(job)
            if live:
                await self._score(loop, live)

    async def _next_batch(self, loop: asyncio.AbstractEventLoop) -> list[Job]:
        batch = [await self.queue.get()]
        if not self.batching:
            return batch
        tokens, deadline = batch[0].tokens, loop.time() + self.max_wait
        while tokens < self.batch_tokens:
            try:
                job = self.queue.get_nowait()
            except asyncio.QueueEmpty:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                try:
                    job = await asyncio.wait_for(self.queue.get(), remaining)
                except TimeoutError:
                    break
            batch.append(job)
            tokens += job.tokens
        return batch

    async def _score(self, loop: asyncio.AbstractEventLoop, jobs: list[Job]) -> None:
        """Score the jobs together; if that fails, each alone, so one bad job fails only its own request."""
        items = [item for job in jobs for item in job.items]
        try:
            results = await loop.run_in_executor(self.worker, self.score, items)
        except Exception as err:  # noqa: BLE001 - handed to the requests, never lost
            if len(jobs) == 1:
                self._finish(jobs[0], error=err)
                return
            for job in jobs:
                await self._score(loop, [job])
            return
        self.counters.batches += 1
        start = 0
        for job in jobs:
            self._finish(job, results[start : start + len(job.items)])
            start += len(job.items)

    def _finish(self, job: Job, results: list | None = None, error: BaseException | None = None) -> None:
        self.counters.pending -= len(job.items)
        if results is not None:
            self.counters.scored += len(job.items)
        if job.done.done():
            return
        if job.cancelled:  # nobody awaits it any more
            job.done.cancel()
        elif error is not None:
            job.done.set_exception(error)
        else:
            job.done.set_result(results)

    def close(self) -> None:
        self.worker.shutdown(wait=True)
