"""Delivers outbox events at least once: claims with FOR UPDATE SKIP LOCKED, wakes on LISTEN/NOTIFY.

Any number of dispatchers (one per node) share the table. A claim is a lease (``claimed_until``): a
dispatcher that dies mid-delivery leaves the event undelivered, and another takes it when the lease runs
out. Consumers must therefore be idempotent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cpo.db.engine import plain_url
from cpo.db.notify import hold_listeners
from cpo.outbox.service import CHANNEL
from cpo.settings import OutboxSettings

log = logging.getLogger("cpo.outbox")


@dataclass(frozen=True, slots=True)
class Event:
    id: int
    topic: str
    payload: dict[str, Any]
    tenant_id: uuid.UUID | None
    attempt: int


Handler = Callable[[Event], Awaitable[None]]
Handlers = Mapping[str, Sequence[Handler]]

# Each claim round has its own token: a dispatcher whose lease ran out (and whose events another node has
# claimed since) can no longer mark them delivered or failed.
CLAIM = text(
    """
    UPDATE outbox_events
    SET claimed_until = now() + make_interval(secs => :lease), claimed_by = :token, attempts = attempts + 1
    WHERE id IN (
        SELECT id FROM outbox_events
        WHERE delivered_at IS NULL AND dead_at IS NULL AND available_at <= now()
          AND (claimed_until IS NULL OR claimed_until < now())
          AND topic = ANY(CAST(:topics AS text[]))
        ORDER BY available_at, id
        LIMIT :batch
        FOR UPDATE SKIP LOCKED
    )
    RETURNING id, topic, payload, tenant_id, attempts
    """
)
DELIVERED = text(
    "UPDATE outbox_events SET delivered_at = now(), claimed_until = NULL, claimed_by = NULL"
    " WHERE id = :id AND claimed_by = :token"
)
FAILED = text(
    """
    UPDATE outbox_events
    SET claimed_until = NULL, claimed_by = NULL, last_error = :error,
        available_at = now() + make_interval(secs => :delay),
        dead_at = CASE WHEN attempts >= :max_attempts THEN now() END
    WHERE id = :id AND claimed_by = :token
    """
)
# Claimed but not started (stopping, or the lease too short for the rest): back to the pool, not an attempt.
RELEASED = text(
    "UPDATE outbox_events SET claimed_until = NULL, claimed_by = NULL, attempts = attempts - 1"
    " WHERE id = ANY(CAST(:ids AS bigint[])) AND claimed_by = :token"
)


def retry_delay(attempt: int) -> float:
    """Exponential backoff with jitter: about 2 s, 4 s, 8 s ... capped at an hour."""
    base: float = min(2.0**attempt, 3600.0)
    return base * random.uniform(0.5, 1.0)


class Dispatcher:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        database_url: str,
        handlers: Handlers,
        settings: OutboxSettings,
        batch: int = 100,
    ) -> None:
        self._sessions = sessions
        self._url = plain_url(database_url)
        self._handlers = handlers
        # Only topics this node can deliver: during a rolling upgrade an older node must not take (and
        # mark delivered) an event whose consumer only the newer node has.
        self._topics = sorted(topic for topic, consumers in handlers.items() if consumers)
        self._settings = settings
        self._batch = batch
        self._wake = asyncio.Event()
        self._stopping = False

    async def dispatch_once(self) -> int:
        """Claim one batch and deliver it in order; returns how many events were claimed."""
        token = uuid.uuid4()
        lease = self._settings.lease_seconds
        loop = asyncio.get_running_loop()
        deadline = loop.time() + lease
        async with self._sessions() as session, session.begin():
            parameters = {"lease": lease, "batch": self._batch, "topics": self._topics, "token": token}
            rows = (await session.execute(CLAIM, parameters)).all()
        events = sorted((Event(r.id, r.topic, r.payload, r.tenant_id, r.attempts) for r in rows), key=lambda e: e.id)
        for index, event in enumerate(events):
            # Leave a margin so our writes land before the lease runs out and another node takes over.
            remaining = deadline - loop.time() - max(1.0, lease * 0.1)
            if remaining <= 0 or self._stopping:
                await self._release(events[index:], token)
                break
            await self._deliver(event, token, remaining)
        return len(events)

    async def _release(self, events: Sequence[Event], token: uuid.UUID) -> None:
        async with self._sessions() as session, session.begin():
            await session.execute(RELEASED, {"ids": [e.id for e in events], "token": token})

    async def _deliver(self, event: Event, token: uuid.UUID, time_limit: float) -> None:
        try:
            async with asyncio.timeout(time_limit):
                for handler in self._handlers.get(event.topic, ()):
                    await handler(event)
        except Exception as error:
            delay = retry_delay(event.attempt)
            log.warning(
                "outbox delivery failed",
                extra={"event_id": event.id, "topic": event.topic, "attempt": event.attempt, "retry_in": delay},
            )
            async with self._sessions() as session, session.begin():
                await session.execute(
                    FAILED,
                    {
                        "id": event.id,
                        "token": token,
                        "error": f"{type(error).__name__}: {error}"[:2000],
                        "delay": delay,
                        "max_attempts": self._settings.max_attempts,
                    },
                )
            return
        async with self._sessions() as session, session.begin():
            await session.execute(DELIVERED, {"id": event.id, "token": token})

    async def run(self) -> None:
        """Deliver until ``stop()``; survives database outages by retrying."""
        listener = asyncio.create_task(self._listen(), name="outbox-listen")
        try:
            while not self._stopping:
                self._wake.clear()
                try:
                    claimed = await self.dispatch_once()
                except Exception:
                    log.exception("outbox dispatch round failed")
                    claimed = 0
                if claimed >= self._batch:
                    continue
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=self._settings.poll_seconds)
        finally:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener

    async def _listen(self) -> None:
        """Wake the loop on every NOTIFY; after a reconnect too, as events may have come meanwhile."""
        await hold_listeners(
            self._url,
            {CHANNEL: lambda *_: self._wake.set()},
            on_ready=self._wake.set,
            retry_seconds=min(self._settings.poll_seconds, 5.0),
        )

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()
