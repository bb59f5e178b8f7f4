"""The node's OCPP gateway: its station connections, their liveness, and commands across nodes.

Every node runs one. A station's websocket lives on exactly one node (``station_presence.node_id``); a
command for it from any node travels as a row in ``station_commands`` plus a NOTIFY to the holding node,
and the answer comes back the same way (DESIGN decision 5).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import socket
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cpo.access import local_lists
from cpo.charging import presence
from cpo.charging.commands import Command, CommandResult, CommandStatus
from cpo.charging.models import StationCommand, StationPresence
from cpo.charging.sessions import MeterReport, store_meter_reports
from cpo.db.base import utcnow
from cpo.db.engine import plain_url
from cpo.db.notify import hold_listeners
from cpo.errors import NotFound
from cpo.settings import OcppSettings
from cpo.sites.models import Station
from cpo.web.ui.throttle import LoginThrottle
from ocpp_gateway import frames
from ocpp_gateway.connection import StationCallError, StationConnection, StationGone
from ocpp_gateway.frames import Call, FrameError
from ocpp_gateway.group_commit import GroupCommitter
from ocpp_gateway.handlers import BEFORE_ACCEPTANCE, HANDLERS
from ocpp_gateway.schemas import UnknownAction, known_action, request_type
from ocpp_gateway.translate import translate

log = logging.getLogger("ocpp_gateway")
DONE_CHANNEL = "cpo_command_done"
LIST_CHECKS_AT_ONCE = 20


class DirectCommands:
    """The command port for the gateway's own housekeeping on a local connection: straight to the socket,
    without the command log that admins' commands get (a reconnect storm would write thousands of rows)."""

    def __init__(self, gateway: Gateway, connection: StationConnection) -> None:
        self.gateway, self.connection = gateway, connection

    async def send(self, station_id: uuid.UUID, command: Command, requested_by: str | None = None) -> CommandResult:
        if station_id != self.connection.station.id:
            return await self.gateway.send(station_id, command, requested_by)
        action, payload = translate(self.connection.version, command)
        try:
            response = await self.connection.call(action, payload, self.gateway.settings.call_timeout_seconds)
        except TimeoutError:
            return CommandResult("timeout", error="no answer in time")
        except StationGone:
            return CommandResult("offline", error="the station disconnected")
        except StationCallError as failure:
            return CommandResult("rejected", error=str(failure))
        return CommandResult("answered", response)


class Gateway:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], database_url: str, settings: OcppSettings) -> None:
        self.sessions = sessions
        self.settings = settings
        self.node_id = uuid.uuid4().hex[:16]
        self.meter_writer: GroupCommitter[MeterReport] = GroupCommitter(sessions, store_meter_reports)
        self._url = plain_url(database_url)
        self._connections: dict[uuid.UUID, StationConnection] = {}
        self._waiters: dict[uuid.UUID, asyncio.Future[None]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._background: list[asyncio.Task[None]] = []
        self._listening = asyncio.Event()
        self._list_checks = asyncio.Semaphore(LIST_CHECKS_AT_ONCE)
        self.stopping = False
        self.unknown_identities = LoginThrottle(settings.unknown_identities_per_address, 300.0)
        """Connections to identities nobody registered, per client address (this node's memory)."""

    @property
    def channel(self) -> str:
        return f"cpo_node_{self.node_id}"

    def connection(self, station_id: uuid.UUID) -> StationConnection | None:
        return self._connections.get(station_id)

    @property
    def connected(self) -> int:
        return len(self._connections)

    # --- lifecycle -------------------------------------------------------------------------------------------

    async def start(self) -> None:
        async with self.sessions() as db, db.begin():
            await presence.node_alive(db, self.node_id, socket.gethostname())
        self.meter_writer.start()
        self._background = [
            asyncio.create_task(self._beat(), name="ocpp-node-beat"),
            asyncio.create_task(self._listen(), name="ocpp-node-listen"),
        ]
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._listening.wait(), timeout=10)

    async def stop(self) -> None:
        """Going away: close our sockets (stations reconnect elsewhere) and say so at once."""
        self.stopping = True  # from here on new connections are turned away, so none outlives the node
        for connection in list(self._connections.values()):
            await connection.close(1001)
        for task in [*self._background, *self._tasks]:
            task.cancel()
        await asyncio.gather(*self._background, *self._tasks, return_exceptions=True)
        await self.meter_writer.stop()
        with contextlib.suppress(Exception):
            async with self.sessions() as db, db.begin():
                await presence.forget_node(db, self.node_id)

    def _spawn(self, coroutine: Any, name: str) -> None:
        """A tracked task: kept referenced, and its failure logged rather than lost."""
        task = asyncio.create_task(coroutine, name=name)
        self._tasks.add(task)

        def finished(done: asyncio.Task[Any]) -> None:
            self._tasks.discard(done)
            if not done.cancelled() and done.exception() is not None:
                log.error("background task failed", exc_info=done.exception(), extra={"task": name})

        task.add_done_callback(finished)

    # --- connections -----------------------------------------------------------------------------------------

    async def register(self, connection: StationConnection) -> None:
        """A station connected here; any older connection of it (here or elsewhere) is replaced."""
        if self.stopping:
            await connection.close(1001)
            return
        old = self._connections.get(connection.station.id)
        if old is not None:
            await old.close(1000)
        async with self.sessions() as db, db.begin():
            station = Station(id=connection.station.id, tenant_id=connection.station.tenant_id)
            connection.connection_id = await presence.mark_connected(db, station, self.node_id, connection.version)
        self._connections[connection.station.id] = connection

    async def unregister(self, connection: StationConnection) -> None:
        connection.shut()
        if self._connections.get(connection.station.id) is connection:
            del self._connections[connection.station.id]
        with contextlib.suppress(Exception):
            async with self.sessions() as db, db.begin():
                station = Station(id=connection.station.id, tenant_id=connection.station.tenant_id)
                await presence.mark_disconnected(db, station, connection.connection_id)

    async def serve(self, connection: StationConnection, incoming: AsyncIterator[str | bytes]) -> None:
        """The life of one connection, whatever websocket server carries it."""
        await self.register(connection)
        worker = asyncio.create_task(self.work(connection), name=f"ocpp-{connection.station.identity}")
        if connection.registration_status == "Accepted":
            # OCPP-J §5.4: a station need not boot when it reconnects; check its list once it has settled.
            self._spawn(self._check_local_list(connection), "ocpp-local-list")
        try:
            async for raw in incoming:
                await self.receive(connection, raw)
        finally:
            await self.unregister(connection)
            worker.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await worker

    async def receive(self, connection: StationConnection, raw: str | bytes) -> None:
        """One incoming frame: answers to our calls resolve at once; station calls queue for the worker."""
        connection.last_seen = time.monotonic()
        if len(raw) > self.settings.max_frame_bytes:
            error = FrameError(
                "format", f"frame over {self.settings.max_frame_bytes} bytes", frames.guess_message_id(raw)
            )
            await connection.answer_error(error)
            return
        try:
            frame = frames.parse_frame(raw)
        except FrameError as error:
            await connection.answer_error(error)
            return
        if isinstance(frame, Call):
            connection.queue_call(frame)
        else:
            connection.deliver(frame)

    async def work(self, connection: StationConnection) -> None:
        """Handle the station's calls one after another, in the order they came (OCPP-J: one in flight)."""
        while (call := await connection.next_call()) is not None:
            try:
                answer = await self.handle(connection, call)
            except FrameError as error:
                await connection.answer_error(error)
                continue
            except Exception:
                log.exception("handler failed", extra={"action": call.action, "station": connection.station.identity})
                await connection.answer_error(FrameError("internal", "internal error; try again", call.message_id))
                continue
            with contextlib.suppress(Exception):
                await connection.send(frames.encode_result(call.message_id, answer))
            if call.action == "BootNotification" and answer.get("status") == "Accepted":
                self._spawn(self._check_local_list(connection), "ocpp-local-list")

    async def handle(self, connection: StationConnection, call: Call) -> dict[str, Any]:
        handlers = HANDLERS[connection.version]
        handler = handlers.get(call.action)
        if handler is None:
            kind = "not_supported" if known_action(connection.version, call.action) else "not_implemented"
            raise FrameError(kind, f"{call.action} is not handled here", call.message_id)
        if connection.registration_status != "Accepted" and call.action not in BEFORE_ACCEPTANCE:
            raise FrameError("security", "the station is not accepted yet; send BootNotification", call.message_id)
        try:
            request = msgspec.json.decode(call.payload, type=request_type(connection.version, call.action))
        except UnknownAction:
            raise FrameError("not_implemented", call.action, call.message_id) from None
        except msgspec.DecodeError as error:
            text_ = str(error)
            raise FrameError(frames.kind_of_validation_error(text_), text_, call.message_id) from None
        return await handler(self, connection, request)

    # --- liveness --------------------------------------------------------------------------------------------

    async def _beat(self) -> None:
        interval = self.settings.node_beat_seconds
        silent_limit = self.settings.heartbeat_seconds * self.settings.liveness_factor
        while True:
            await asyncio.sleep(interval)
            try:
                now = datetime.now(UTC)
                seen = {}
                for station_id, connection in list(self._connections.items()):
                    idle = time.monotonic() - connection.last_seen
                    if idle > silent_limit:
                        log.info("closing a silent station", extra={"station": connection.station.identity})
                        await connection.close(1001)
                        continue
                    if idle > self.settings.probe_seconds and not connection.probing:
                        self._spawn(self._probe(connection), "ocpp-probe")
                    heard = now - timedelta(seconds=idle)
                    # last_seen is for people and for the dead-node sweep: minute resolution is plenty, and
                    # writing it for thousands of busy stations every beat would cost more than their data.
                    if heard - connection.last_seen_stored > timedelta(seconds=60):
                        seen[station_id] = heard
                        connection.last_seen_stored = heard
                async with self.sessions() as db, db.begin():
                    await presence.node_alive(db, self.node_id, socket.gethostname())
                    await presence.touch(db, seen)
                    replaced = await self._replaced_elsewhere(db)
                    await presence.sweep_dead_nodes(db, timedelta(seconds=self.settings.node_timeout_seconds))
                for connection in replaced:
                    await connection.close(1000)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("node beat failed")

    async def _probe(self, connection: StationConnection) -> None:
        """Is a quiet station still there? Websocket pings prove the socket; this asks the station's OCPP
        stack: any answer, even a CallError, proves it; none within the call timeout, and we hang up."""
        connection.probing = True
        try:
            await connection.call(
                "TriggerMessage", {"requestedMessage": "Heartbeat"}, self.settings.call_timeout_seconds
            )
        except StationCallError:
            pass
        except (TimeoutError, StationGone):
            log.info("a station stopped answering; closing", extra={"station": connection.station.identity})
            await connection.close(1001)
        finally:
            connection.probing = False

    async def _check_local_list(self, connection: StationConnection) -> None:
        """Once per connection: is the station's local list the one we last sent? If not, send it.

        Jittered and a few at a time: after a node restart thousands of stations boot at once, and their
        own messages come first.
        """
        if not self.settings.local_lists:
            return
        delay = self.settings.list_check_delay_seconds
        await asyncio.sleep(delay + random.uniform(0, delay))
        if connection.local_list_checked or connection.closed:
            return
        connection.local_list_checked = True
        async with self._list_checks:
            outcome = await local_lists.after_connect(
                self.sessions, DirectCommands(self, connection), connection.station.id
            )
        log.debug("local list checked", extra={"station": connection.station.identity, "outcome": outcome})

    async def _replaced_elsewhere(self, db: AsyncSession) -> list[StationConnection]:
        """Local sockets whose station has since connected again (maybe to another node)."""
        if not self._connections:
            return []
        rows = await db.execute(
            select(StationPresence.station_id, StationPresence.connection_id).where(
                StationPresence.station_id.in_(list(self._connections))
            )
        )
        return [
            self._connections[station_id]
            for station_id, connection_id in rows
            if station_id in self._connections and self._connections[station_id].connection_id != connection_id
        ]

    # --- commands --------------------------------------------------------------------------------------------

    async def send(self, station_id: uuid.UUID, command: Command, requested_by: str | None = None) -> CommandResult:
        """ChargerCommands: translate, record, deliver to whichever node holds the station, wait."""
        async with self.sessions() as db, db.begin():
            station = await db.get(Station, station_id)
            if station is None:
                raise NotFound("station", station_id)
            where = await db.get(StationPresence, station_id)
            online = where is not None and where.online and where.ocpp_version is not None
            version = where.ocpp_version if where is not None and where.ocpp_version else "2.0.1"
            action, payload = translate(version, command)  # type: ignore[arg-type]
            row = StationCommand(
                id=uuid.uuid4(), tenant_id=station.tenant_id, station_id=station_id, action=action, payload=payload,
                status="pending" if online else "offline", requested_by=requested_by,
                node_id=where.node_id if where is not None else None,
            )  # fmt: skip
            db.add(row)
        if not online or where is None:
            return CommandResult("offline", command_id=row.id, error="the station is not connected")
        if where.node_id == self.node_id:
            return await self._execute(row.id)
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters[row.id] = waiter
        try:
            async with self.sessions() as db, db.begin():
                await db.execute(
                    text("SELECT pg_notify(:channel, :id)"), {"channel": f"cpo_node_{where.node_id}", "id": str(row.id)}
                )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(waiter, self.settings.call_timeout_seconds + 5)
        finally:
            self._waiters.pop(row.id, None)
        async with self.sessions() as db, db.begin():
            # Whoever holds the station had its chance; a row still pending timed out on the way.
            await db.execute(
                update(StationCommand)
                .where(StationCommand.id == row.id, StationCommand.status == "pending")
                .values(status="timeout", error="no answer from the node holding the station", answered_at=utcnow())
            )
            final = await db.get(StationCommand, row.id)
        assert final is not None
        return _result_of(final)

    async def _execute(self, command_id: uuid.UUID) -> CommandResult:
        """Run a recorded command on a local connection and store its outcome."""
        async with self.sessions() as db, db.begin():
            row = await db.get(StationCommand, command_id)
            if row is None:
                raise NotFound("command", command_id)
            station_id, action, payload = row.station_id, row.action, row.payload
        connection = self._connections.get(station_id)
        status: CommandStatus
        response, error = None, None
        if connection is None:
            status, error = "offline", "the station is not connected"
        else:
            try:
                response = await connection.call(action, payload, self.settings.call_timeout_seconds)
                status = "answered"
            except TimeoutError:
                status, error = "timeout", f"no answer within {self.settings.call_timeout_seconds:g} s"
            except StationGone:
                status, error = "offline", "the station disconnected"
            except StationCallError as failure:
                status, error = "rejected", str(failure)
        async with self.sessions() as db, db.begin():
            await db.execute(
                update(StationCommand)
                .where(StationCommand.id == command_id)
                .values(status=status, response=response, error=error, answered_at=utcnow())
            )
            await db.execute(text("SELECT pg_notify(:channel, :id)"), {"channel": DONE_CHANNEL, "id": str(command_id)})
        return CommandResult(status, response, error, command_id)

    async def _listen(self) -> None:
        """LISTEN for commands addressed to this node and for answers to commands we sent elsewhere."""
        await hold_listeners(
            self._url, {self.channel: self._on_command, DONE_CHANNEL: self._on_done}, on_ready=self._listening.set
        )

    def _on_command(self, _connection: Any, _pid: int, _channel: str, payload: str) -> None:
        with contextlib.suppress(ValueError):
            self._spawn(self._execute(uuid.UUID(payload)), "ocpp-command")

    def _on_done(self, _connection: Any, _pid: int, _channel: str, payload: str) -> None:
        with contextlib.suppress(ValueError):
            waiter = self._waiters.get(uuid.UUID(payload))
            if waiter is not None and not waiter.done():
                waiter.set_result(None)


def _result_of(row: StationCommand) -> CommandResult:
    status: CommandStatus = row.status if row.status != "pending" else "timeout"  # type: ignore[assignment]
    return CommandResult(status, row.response, row.error, row.id)
