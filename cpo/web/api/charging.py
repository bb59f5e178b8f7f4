"""Live status, sessions, commands and badges over the admin API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from litestar import Controller, get, post, put
from litestar.datastructures import State
from litestar.params import Parameter
from litestar.status_codes import HTTP_201_CREATED
from sqlalchemy.ext.asyncio import AsyncSession

from cpo.accounts.roles import Principal
from cpo.charging import queries
from cpo.charging.commands import ChargerCommands
from cpo.charging.schemas import (
    AllocationIn,
    CommandIn,
    CommandOut,
    SessionOut,
    StationStatusOut,
    command_out,
    session_out,
    station_status_out,
)
from cpo.sites import service as sites
from cpo.web.deps import guarded


class StationLiveController(Controller):
    path = "/stations"
    tags = ["charging"]
    dependencies = {"principal": guarded("sites")}

    @get("/{station_id:uuid}/status")
    async def station_status(self, db: AsyncSession, principal: Principal, station_id: uuid.UUID) -> StationStatusOut:
        """Online or not, since when, and the latest status of the station, its EVSEs and connectors."""
        async with db.begin():
            where, states = await queries.station_status(db, principal.tenant_id, station_id)
        return station_status_out(station_id, where, states)

    @post("/{station_id:uuid}/commands", status_code=HTTP_201_CREATED)
    async def send_command(
        self, db: AsyncSession, principal: Principal, state: State, station_id: uuid.UUID, data: CommandIn
    ) -> CommandOut:
        """Send a command to the station, whichever node holds it; the answer, or offline / timeout."""
        async with db.begin():
            await sites.get_station(db, principal.tenant_id, station_id)
        commands: ChargerCommands = state.commands
        result = await commands.send(station_id, data.command(), requested_by=principal.actor)
        return command_out(result)


class SessionController(Controller):
    path = "/sessions"
    tags = ["charging"]
    dependencies = {"principal": guarded("sessions")}

    @get("/")
    async def list_sessions(
        self,
        db: AsyncSession,
        principal: Principal,
        status: Literal["active", "completed", "refused"] | None = None,
        station_id: uuid.UUID | None = None,
        since: datetime | None = None,
        limit: Annotated[int, Parameter(ge=1, le=1000)] = 100,
    ) -> list[SessionOut]:
        async with db.begin():
            rows = await queries.list_sessions(db, principal.tenant_id, status, station_id, since, limit)
        return [session_out(s) for s in rows]

    @get("/{session_id:uuid}")
    async def get_session(self, db: AsyncSession, principal: Principal, session_id: uuid.UUID) -> SessionOut:
        async with db.begin():
            return session_out(await queries.get_session(db, principal.tenant_id, session_id))

    @put("/{session_id:uuid}/allocation")
    async def allocate(
        self, db: AsyncSession, principal: Principal, session_id: uuid.UUID, data: AllocationIn
    ) -> SessionOut:
        """Book the session's cost to a customer project (its department and cost centre stay as they were)."""
        async with db.begin():
            return session_out(await queries.allocate_to_project(db, principal.tenant_id, session_id, data.project_id))
