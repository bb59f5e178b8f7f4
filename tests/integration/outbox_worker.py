"""A dispatcher in its own process, for the test that kills one mid-delivery.

Usage: python -m tests.integration.outbox_worker DATABASE_URL LOG_FILE HANG_TOPIC
Every delivery appends the event id to LOG_FILE; an event of HANG_TOPIC hangs forever after logging.
"""

from __future__ import annotations

import asyncio
import os
import sys

from cpo.db.engine import make_engine, make_sessionmaker
from cpo.outbox.dispatcher import Dispatcher, Event
from cpo.settings import OutboxSettings


def append(path: str, line: str) -> None:
    with open(path, "a") as log:
        log.write(line + "\n")
        log.flush()
        os.fsync(log.fileno())


async def main(url: str, log_path: str, hang_topic: str) -> None:
    async def record(event: Event) -> None:
        if event.topic == hang_topic:
            append(log_path, f"hang {event.id}")
            await asyncio.sleep(3600)
        append(log_path, f"{event.id}")

    engine = make_engine(url, pool_size=2)
    settings = OutboxSettings(lease_seconds=1.5, poll_seconds=0.2)
    dispatcher = Dispatcher(make_sessionmaker(engine), url, {"test.ok": [record], hang_topic: [record]}, settings)
    await dispatcher.run()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))
