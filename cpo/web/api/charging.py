"""Live status, sessions, commands and badges over the admin API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from litestar import Controller, delete, get, post, put
from litestar.datastructures import State
from litestar.params import Parameter
from litestar.status_codes import HTTP_201_CREATED, HTTP_204_NO_CONTENT
from sqlalchemy.ext.asyncio import AsyncSession

from cpo.accounts.roles import Principal
from cpo.charging import badges, queries
from cpo.charging.commands import ChargerCommands
from cpo.charging.schemas import (
    BadgeIn,
    BadgeOut,
    CommandIn,
    CommandOut,
    SessionOut,
    StationStatusOut,
    badge_out,
    command_out,
    session_out,
    station_status_out,
)
from cpo.db.queries import flush_or_conflict
from cpo.sites import service as sites

BADGE_CONFLICTS = {"uq_badges_tenant_id_uid": ("uid", "a badge with this uid exists already")}


class StationLiveController(Controller):
    path = "/stations"
    tags = ["charging"]

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
        principal.require_write()
        async with db.begin():
            await sites.get_station(db, principal.tenant_id, station_id)
        commands: ChargerCommands = state.commands
        result = await commands.send(station_id, data.command(), requested_by=principal.actor)
        return command_out(result)


class SessionController(Controller):
    path = "/sessions"
    tags = ["charging"]

    @get("/")
    async def list_sessions(
        self,
        db: AsyncSession,
        principal: Principal,
        status: Literal["active", "completed"] | None = None,
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


class BadgeController(Controller):
    path = "/badges"
    tags = ["charging"]

    @get("/")
    async def list_badges(self, db: AsyncSession, principal: Principal) -> list[BadgeOut]:
        async with db.begin():
            return [badge_out(b) for b in await badges.list_badges(db, principal.tenant_id)]

    @post("/", status_code=HTTP_201_CREATED)
    async def create_badge(self, db: AsyncSession, principal: Principal, data: BadgeIn) -> BadgeOut:
        principal.require_write()
        async with db.begin():
            badge = await badges.add_badge(db, principal.tenant_id, data.uid, data.user_email, data.status, flush=False)
            await flush_or_conflict(db, BADGE_CONFLICTS)
            return badge_out(badge)

    @put("/{badge_id:uuid}")
    async def update_badge(
        self, db: AsyncSession, principal: Principal, badge_id: uuid.UUID, data: BadgeIn
    ) -> BadgeOut:
        principal.require_write()
        async with db.begin():
            badge = await queries.get_badge(db, principal.tenant_id, badge_id)
            badge.uid, badge.status, badge.user_email = badges.canonical_uid(data.uid), data.status, data.user_email
            await flush_or_conflict(db, BADGE_CONFLICTS)
            return badge_out(badge)

    @delete("/{badge_id:uuid}", status_code=HTTP_204_NO_CONTENT)
    async def delete_badge(self, db: AsyncSession, principal: Principal, badge_id: uuid.UUID) -> None:
        principal.require_write()
        async with db.begin():
            await db.delete(await queries.get_badge(db, principal.tenant_id, badge_id))
