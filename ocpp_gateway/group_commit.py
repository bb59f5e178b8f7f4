"""Group commit: many small writes (meter values) share one transaction, each answered after its commit."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

log = logging.getLogger("ocpp_gateway")
Write = Callable[[AsyncSession], Awaitable[Any]]


class GroupCommitter:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], max_batch: int = 500) -> None:
        self._sessions = sessions
        self._max_batch = max_batch
        self._queue: list[tuple[Write, asyncio.Future[None]]] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="meter-group-commit")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for _, future in self._queue:
            if not future.done():
                future.set_exception(RuntimeError("shutting down"))

    async def write(self, write: Write) -> None:
        """Returns once the write is committed; raises what the write raised."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.append((write, future))
        self._wake.set()
        await future

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._queue:
                batch, self._queue = self._queue[: self._max_batch], self._queue[self._max_batch :]
                await self._commit(batch)

    async def _commit(self, batch: list[tuple[Write, asyncio.Future[None]]]) -> None:
        try:
            async with self._sessions() as db, db.begin():
                for write, _ in batch:
                    await write(db)
        except Exception as error:
            if len(batch) == 1:
                _, future = batch[0]
                if not future.done():
                    future.set_exception(error)
                log.warning("meter write failed", extra={"error": type(error).__name__})
                return
            # One bad write must not fail the others: each again in its own transaction.
            for item in batch:
                await self._commit([item])
            return
        for _, future in batch:
            if not future.done():
                future.set_result(None)
