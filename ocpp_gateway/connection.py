"""One station's websocket: reading frames, answering its calls in order, and our calls to it."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import random
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec

from ocpp_gateway import frames
from ocpp_gateway.frames import Call, CallError, CallResult, FrameError
from ocpp_gateway.schemas import Version, response_type

log = logging.getLogger("ocpp_gateway")
_ids = itertools.count(1)


class StationGone(Exception):
    """The websocket closed while we waited for an answer."""


class StationCallError(Exception):
    """The station answered our call with a CALLERROR."""

    def __init__(self, code: str, description: str) -> None:
        super().__init__(f"{code}: {description}")
        self.code = code


@dataclass(frozen=True, slots=True)
class StationRef:
    """What a connection knows about its station (copied at connect; no database object lives this long)."""

    id: uuid.UUID
    tenant_id: uuid.UUID
    identity: str


@dataclass
class StationConnection:
    station: StationRef
    version: Version
    send_text: Callable[[str], Awaitable[None]]
    close_socket: Callable[[int], Awaitable[None]]
    connection_id: uuid.UUID = field(default_factory=uuid.uuid4)
    registration_status: str = "Accepted"
    last_seen: float = field(default_factory=time.monotonic)
    closed: bool = False
    probing: bool = False
    local_list_checked: bool = False
    # Jittered, so stations that connected together do not all come due for a write in the same beat.
    last_seen_stored: datetime = field(
        default_factory=lambda: datetime.now(UTC) - timedelta(seconds=random.uniform(0, 60))
    )
    _send_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    # OCPP-J: one call of ours in flight at a time per station.
    _call_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    _pending: dict[str, asyncio.Future[dict[str, Any]]] = field(default_factory=dict)
    _inbox: asyncio.Queue[Call | None] = field(default_factory=asyncio.Queue)

    async def send(self, text: str) -> None:
        async with self._send_lock:
            await self.send_text(text)

    async def call(self, action: str, payload: dict[str, Any], wait_seconds: float) -> dict[str, Any]:
        """Send a CALL and wait for its answer; never from inside the handler of a station's own call."""
        async with self._call_lock:
            if self.closed:
                raise StationGone(self.station.identity)
            message_id = f"c{next(_ids)}"
            future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
            self._pending[message_id] = future
            try:
                await self.send(frames.encode_call(message_id, action, payload))
                result = await asyncio.wait_for(future, wait_seconds)
            finally:
                self._pending.pop(message_id, None)
        try:
            msgspec.convert(result, response_type(self.version, action))
        except msgspec.ValidationError as error:
            log.warning("station answered outside the schema", extra={"action": action, "error": str(error)})
        return result

    def deliver(self, frame: CallResult | CallError) -> None:
        """An answer to one of our calls arrived."""
        future = self._pending.get(frame.message_id)
        if future is None or future.done():
            return  # late or unknown: the caller has given up already
        if isinstance(frame, CallResult):
            future.set_result(frame.payload)
        else:
            future.set_exception(StationCallError(frame.code, frame.description))

    def queue_call(self, call: Call) -> None:
        self._inbox.put_nowait(call)

    async def next_call(self) -> Call | None:
        return await self._inbox.get()

    def shut(self) -> None:
        """The socket is gone: fail our waiting calls now rather than at their timeout."""
        self.closed = True
        for future in self._pending.values():
            if not future.done():
                future.set_exception(StationGone(self.station.identity))
        self._inbox.put_nowait(None)

    async def close(self, code: int = 1001) -> None:
        with contextlib.suppress(Exception):
            await self.close_socket(code)
        self.shut()

    async def answer_error(self, error: FrameError) -> None:
        code = frames.error_code(self.version, error.kind)
        await self.send(frames.encode_error(error.message_id, code, error.description))
