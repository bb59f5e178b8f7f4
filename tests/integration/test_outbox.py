"""The outbox: written with the change, delivered at least once, never lost, never skipped."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cpo.outbox.dispatcher import Dispatcher, Event, retry_delay
from cpo.outbox.models import OutboxEvent
from cpo.outbox.service import emit
from cpo.settings import OutboxSettings
from tests.conftest import ROOT

Sessions = async_sessionmaker[AsyncSession]


async def emit_many(sessions: Sessions, topics: list[str]) -> list[int]:
    async with sessions() as session, session.begin():
        for n, topic in enumerate(topics):
            await emit(session, topic, {"n": n})
    async with sessions() as session:
        return list((await session.execute(select(OutboxEvent.id).order_by(OutboxEvent.id))).scalars())


async def wait_until(predicate, limit: float = 15.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if await predicate():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not reached in time")


async def undelivered(sessions: Sessions) -> int:
    async with sessions() as session:
        query = select(func.count()).select_from(OutboxEvent).where(OutboxEvent.delivered_at.is_(None))
        return int(await session.scalar(query) or 0)


async def test_an_event_exists_only_if_its_transaction_commits(sessions: Sessions) -> None:
    with pytest.raises(RuntimeError):
        async with sessions() as session, session.begin():
            await emit(session, "site.created", {"id": 1})
            raise RuntimeError("the change failed")
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(OutboxEvent)) == 0


async def test_dispatcher_wakes_on_notify_without_waiting_for_its_poll(sessions: Sessions, db_url: str) -> None:
    seen: list[int] = []

    async def handler(event: Event) -> None:
        seen.append(event.payload["n"])

    dispatcher = Dispatcher(sessions, db_url, {"t": [handler]}, OutboxSettings(poll_seconds=60))
    task = asyncio.create_task(dispatcher.run())
    try:
        await asyncio.sleep(0.5)  # listening, and idle until the next poll in a minute
        started = time.monotonic()
        await emit_many(sessions, ["t", "t", "t"])

        async def all_seen() -> bool:
            return len(seen) == 3

        await wait_until(all_seen, limit=5)
        assert time.monotonic() - started < 5
        assert seen == [0, 1, 2]
    finally:
        dispatcher.stop()
        await asyncio.wait_for(task, 5)


async def test_failing_deliveries_back_off_then_go_dead(sessions: Sessions, db_url: str) -> None:
    calls = Counter[int]()

    async def broken(event: Event) -> None:
        calls[event.id] += 1
        raise ConnectionError("partner down")

    (event_id,) = await emit_many(sessions, ["webhook"])
    settings = OutboxSettings(poll_seconds=0.1, max_attempts=3)
    dispatcher = Dispatcher(sessions, db_url, {"webhook": [broken]}, settings)
    assert await dispatcher.dispatch_once() == 1
    async with sessions() as session:
        row = await session.get(OutboxEvent, event_id)
        assert row is not None
        assert row.attempts == 1 and row.delivered_at is None and row.dead_at is None
        assert row.last_error == "ConnectionError: partner down"
        assert row.available_at > row.created_at  # not before its backoff
    assert await dispatcher.dispatch_once() == 0  # still backing off
    for _ in range(2):
        async with sessions() as session, session.begin():
            row = await session.get(OutboxEvent, event_id)
            assert row is not None
            row.available_at = row.created_at  # skip the wait
        assert await dispatcher.dispatch_once() == 1
    async with sessions() as session:
        row = await session.get(OutboxEvent, event_id)
        assert row is not None and row.attempts == 3 and row.dead_at is not None
    assert calls[event_id] == 3
    assert 1.0 <= retry_delay(1) <= 2.0 and retry_delay(30) <= 3600


async def test_two_dispatchers_share_the_work_without_delivering_twice(sessions: Sessions, db_url: str) -> None:
    delivered = Counter[int]()

    async def handler(event: Event) -> None:
        await asyncio.sleep(0)
        delivered[event.id] += 1

    ids = await emit_many(sessions, ["t"] * 300)
    settings = OutboxSettings(poll_seconds=0.1)
    one = Dispatcher(sessions, db_url, {"t": [handler]}, settings, batch=20)
    two = Dispatcher(sessions, db_url, {"t": [handler]}, settings, batch=20)
    await asyncio.gather(*(d.dispatch_once() for d in (one, two) for _ in range(10)))
    while await one.dispatch_once() or await two.dispatch_once():
        pass
    assert sorted(delivered) == ids
    assert set(delivered.values()) == {1}


async def test_killing_the_dispatcher_mid_delivery_loses_and_skips_nothing(
    sessions: Sessions, db_url: str, tmp_path: Path
) -> None:
    topics = ["test.ok"] * 30
    topics[9] = "test.hang"
    ids = await emit_many(sessions, topics)
    log = tmp_path / "deliveries.log"
    worker = subprocess.Popen(  # noqa: ASYNC220 - starting it is quick; the test waits on the database
        [sys.executable, "-m", "tests.integration.outbox_worker", db_url, str(log), "test.hang"],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:

        async def hanging() -> bool:
            return log.exists() and f"hang {ids[9]}" in log.read_text()

        await wait_until(hanging, limit=30)
        os.kill(worker.pid, signal.SIGKILL)  # mid-delivery of the tenth event
        worker.wait(10)
    finally:
        if worker.poll() is None:
            worker.kill()
    before = [int(line) for line in log.read_text().splitlines() if line.isdigit()]
    assert before == ids[:9], "the first nine were delivered, in order, before the kill"
    async with sessions() as session:
        hung = await session.get(OutboxEvent, ids[9])
        assert hung is not None and hung.delivered_at is None and hung.claimed_until is not None

    after: list[int] = []

    async def record(event: Event) -> None:
        after.append(event.id)

    dispatcher = Dispatcher(
        sessions, db_url, {"test.ok": [record], "test.hang": [record]}, OutboxSettings(poll_seconds=0.2)
    )
    task = asyncio.create_task(dispatcher.run())
    try:

        async def all_delivered() -> bool:
            return await undelivered(sessions) == 0

        await wait_until(all_delivered, limit=20)  # once the dead worker's lease has run out
    finally:
        dispatcher.stop()
        await asyncio.wait_for(task, 5)
    assert sorted(set(before) | set(after)) == ids, "every event delivered at least once"
    assert ids[9] in after and after == sorted(after), "the interrupted one again, then the rest in order"


async def test_a_node_only_takes_events_it_has_a_consumer_for(sessions: Sessions, db_url: str) -> None:
    handled: list[str] = []

    async def handler(event: Event) -> None:
        handled.append(event.topic)

    await emit_many(sessions, ["known", "added.in.a.newer.release", "known"])
    older_node = Dispatcher(sessions, db_url, {"known": [handler]}, OutboxSettings())
    assert await older_node.dispatch_once() == 2
    assert handled == ["known", "known"]
    assert await undelivered(sessions) == 1, "left for the node that knows its consumer"
    newer_node = Dispatcher(
        sessions, db_url, {"known": [handler], "added.in.a.newer.release": [handler]}, OutboxSettings()
    )
    assert await newer_node.dispatch_once() == 1
    assert await undelivered(sessions) == 0


async def test_a_handler_that_outlives_the_lease_is_cut_off_and_retried(sessions: Sessions, db_url: str) -> None:
    async def hangs(event: Event) -> None:
        await asyncio.sleep(60)

    (event_id,) = await emit_many(sessions, ["slow"])
    dispatcher = Dispatcher(sessions, db_url, {"slow": [hangs]}, OutboxSettings(lease_seconds=2.0))
    started = time.monotonic()
    assert await dispatcher.dispatch_once() == 1
    assert time.monotonic() - started < 2.0, "given up before the lease ran out, so no other node races it"
    async with sessions() as session:
        row = await session.get(OutboxEvent, event_id)
        assert row is not None and row.delivered_at is None and row.claimed_by is None
        assert row.last_error is not None and row.last_error.startswith("TimeoutError")


async def test_stopping_hands_back_the_events_it_has_not_started(sessions: Sessions, db_url: str) -> None:
    dispatcher: Dispatcher

    async def first_then_stop(event: Event) -> None:
        dispatcher.stop()

    ids = await emit_many(sessions, ["t"] * 5)
    dispatcher = Dispatcher(sessions, db_url, {"t": [first_then_stop]}, OutboxSettings())
    assert await dispatcher.dispatch_once() == 5
    async with sessions() as session:
        rows = (await session.execute(select(OutboxEvent).order_by(OutboxEvent.id))).scalars().all()
    assert [r.id for r in rows if r.delivered_at is not None] == ids[:1]
    assert all(r.claimed_until is None and r.attempts == 0 for r in rows[1:]), "free for another node at once"


async def test_a_dispatcher_whose_claim_was_taken_over_cannot_mark_the_event(sessions: Sessions, db_url: str) -> None:
    from cpo.outbox.dispatcher import DELIVERED

    (event_id,) = await emit_many(sessions, ["t"])
    async with sessions() as session, session.begin():
        await session.execute(
            text("UPDATE outbox_events SET claimed_by = :other, claimed_until = now() + interval '1 minute'"),
            {"other": uuid.uuid4()},
        )
        result = await session.execute(DELIVERED, {"id": event_id, "token": uuid.uuid4()})
        assert result.rowcount == 0  # type: ignore[attr-defined]
