"""Read-side queries of the charging area: live status, sessions, badges. Every one is tenant-scoped."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cpo.charging.models import ChargingSession, ConnectorState, StationPresence
from cpo.db.queries import get_scoped
from cpo.errors import InvalidInput
from cpo.people.models import Group
from cpo.sites.models import Station


async def station_status(
    session: AsyncSession, tenant_id: uuid.UUID, station_id: uuid.UUID
) -> tuple[StationPresence | None, list[ConnectorState]]:
    await get_scoped(session, Station, tenant_id, station_id, "station")
    where = await session.get(StationPresence, station_id)
    states = (
        await session.execute(
            select(ConnectorState)
            .where(ConnectorState.station_id == station_id)
            .order_by(ConnectorState.ocpp_evse_id, ConnectorState.ocpp_connector_id)
        )
    ).scalars()
    return where, list(states)


async def presence_by_station(session: AsyncSession, tenant_id: uuid.UUID) -> dict[uuid.UUID, StationPresence]:
    rows = (await session.execute(select(StationPresence).where(StationPresence.tenant_id == tenant_id))).scalars()
    return {row.station_id: row for row in rows}


async def list_sessions(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    status: str | None = None,
    station_id: uuid.UUID | None = None,
    since: datetime | None = None,
    limit: int = 100,
) -> list[ChargingSession]:
    query = select(ChargingSession).where(ChargingSession.tenant_id == tenant_id)
    if status:
        query = query.where(ChargingSession.status == status)
    if station_id:
        query = query.where(ChargingSession.station_id == station_id)
    if since:
        query = query.where(ChargingSession.started_at >= since)
    query = query.order_by(ChargingSession.started_at.desc()).limit(limit)
    return list((await session.execute(query)).scalars())


async def get_session(session: AsyncSession, tenant_id: uuid.UUID, session_id: uuid.UUID) -> ChargingSession:
    return await get_scoped(session, ChargingSession, tenant_id, session_id, "session")


async def states_by_station(session: AsyncSession, tenant_id: uuid.UUID) -> dict[uuid.UUID, list[ConnectorState]]:
    rows = (
        await session.execute(
            select(ConnectorState)
            .where(ConnectorState.tenant_id == tenant_id)
            .order_by(ConnectorState.ocpp_evse_id, ConnectorState.ocpp_connector_id)
        )
    ).scalars()
    result: dict[uuid.UUID, list[ConnectorState]] = {}
    for row in rows:
        result.setdefault(row.station_id, []).append(row)
    return result


async def allocate_to_project(
    session: AsyncSession, tenant_id: uuid.UUID, session_id: uuid.UUID, project_id: uuid.UUID | None
) -> ChargingSession:
    """Book a session's cost to a customer project (or to none)."""
    charging = await get_session(session, tenant_id, session_id)
    if project_id is not None:
        project = await session.get(Group, project_id)
        if project is None or project.tenant_id != tenant_id or project.kind != "customer_project":
            raise InvalidInput("project_id", "not a customer project of this tenant")
    charging.project_id = project_id
    await session.flush()
    return charging
