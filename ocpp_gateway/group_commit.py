"""Group commit: many small writes (meter values) share one transaction, each answered after its commit."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

log = logging.getLogger("ocpp_gateway")
T = TypeVar("T")
StoreBatch = Callable[[AsyncSession, Sequence[T]], Awaitable[None]]


class GroupCommitter(Generic[T]):
    """Queue items; one writer stores whatever has queued in one transaction, then answers them all.

    While one batch commits, the next one fills: under load batches grow by themselves, and an idle
    system still answers a lone item at once.
    """

    def __init__(self, sessions: async_sessionmaker[AsyncSession], store: StoreBatch[T], max_batch: int = 1000) -> None:
        self._sessions = sessions
        self._store = store
        self._max_batch = max_batch
        self._queue: list[tuple[T, asyncio.Future[None]]] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="group-commit")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for _, future in self._queue:
            if not future.done():
                future.set_exception(RuntimeError("shutting down"))

    async def write(self, item: T) -> None:
        """Returns once the item is committed; raises if storing it failed."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.append((item, future))
        self._wake.set()
        await future

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._queue:
                batch, self._queue = self._queue[: self._max_batch], self._queue[self._max_batch :]
                await self._commit(batch)

    async def _commit(self, batch: list[tuple[T, asyncio.Future[None]]]) -> None:
        try:
            async with self._sessions() as db, db.begin():
                await self._store(db, [item for item, _ in batch])
        except Exception as error:
            if len(batch) == 1:
                if not batch[0][1].done():
                    batch[0][1].set_exception(error)
                log.warning("group write failed", extra={"error": type(error).__name__})
                return
            # One bad item must not fail the others: each again in its own transaction.
            for entry in batch:
                await self._commit([entry])
            return
        for _, future in batch:
            if not future.done():
                future.set_result(None)
