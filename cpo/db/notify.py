"""Holding a LISTEN connection: callbacks on NOTIFY, keep-alive, reconnect after any loss."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from typing import Any

import asyncpg

log = logging.getLogger("cpo.db")
Listener = Callable[[Any, int, str, str], None]  # (connection, pid, channel, payload)


async def hold_listeners(
    url: str, listeners: Mapping[str, Listener], on_ready: Callable[[], None] | None = None, retry_seconds: float = 1.0
) -> None:
    """LISTEN on each channel until cancelled; ``on_ready`` runs after every (re)connect, as NOTIFYs sent
    while we were not listening are lost and the caller may need to look for itself."""
    while True:
        connection: asyncpg.Connection | None = None
        try:
            connection = await asyncpg.connect(url)
            lost = asyncio.Event()
            connection.add_termination_listener(lambda _, lost=lost: lost.set())
            for channel, listener in listeners.items():
                await connection.add_listener(channel, listener)
            if on_ready is not None:
                on_ready()
            while not lost.is_set():
                # A keep-alive query notices a connection that died without a word.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(lost.wait(), timeout=30)
                if not lost.is_set():
                    await connection.fetchval("SELECT 1", timeout=10)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.warning("LISTEN connection lost; reconnecting", extra={"channels": sorted(listeners)})
            await asyncio.sleep(retry_seconds)
        finally:
            if connection is not None and not connection.is_closed():
                with contextlib.suppress(Exception):
                    await asyncio.shield(connection.close(timeout=2))
