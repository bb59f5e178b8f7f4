"""Which stations are connected, to which node, since when; boot and status reports; node liveness."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from cpo.charging.models import ConnectorState, Node, StationEvent, StationPresence, StatusEvent
from cpo.db.base import utcnow
from cpo.outbox.service import emit
from cpo.secrets import hash_station_password_async, hash_token
from cpo.sites.models import Evse, Site, Station
from cpo.tenants.models import Tenant
from cpo.tenants.service import identity_reserved_elsewhere

UNASSIGNED_SITE = "Unassigned stations"


async def station_by_identity(session: AsyncSession, identity: str) -> Station | None:
    return (await session.execute(select(Station).where(Station.identity == identity))).scalar_one_or_none()


async def auto_register(session: AsyncSession, identity: str, password: str, pending_max: int) -> Station | str:
    """A new station, Pending, in the tenant whose enrolment secret it presents as its Basic-auth password; or why
    not. The secret is the station's password until an admin accepts it and gives it its own."""
    # Only something the tenant handed its own stations picks the tenant: anonymous clients create nothing.
    if not 16 <= len(password) <= 40:
        return "no enrolment secret"
    tenant = (
        await session.execute(
            select(Tenant)
            .where(Tenant.enrolment_secret_hash == hash_token(password), Tenant.auto_register_stations.is_(True))
            .with_for_update()  # one registration at a time per tenant: the pending cap holds under a burst
        )
    ).scalar_one_or_none()
    if tenant is None:
        return "no enrolment secret"
    # A granted prefix is that tenant's namespace: nobody else's stations may take an identity inside it.
    if await identity_reserved_elsewhere(session, tenant.id, identity):
        return "identity under another tenant's prefix"
    if tenant.station_identity_prefix and not identity.startswith(tenant.station_identity_prefix):
        return "identity outside the tenant's prefix"
    pending = await session.scalar(
        select(func.count()).select_from(Station).where(
            Station.tenant_id == tenant.id, Station.registration_status == "Pending")
    )  # fmt: skip
    if (pending or 0) >= pending_max:
        return "too many stations pending"
    site = (
        await session.execute(select(Site).where(Site.tenant_id == tenant.id, Site.name == UNASSIGNED_SITE))
    ).scalar_one_or_none()
    if site is None:
        site = Site(
            id=uuid.uuid4(), tenant_id=tenant.id, name=UNASSIGNED_SITE, address="-", city="-", country="BEL",
            latitude=0, longitude=0, time_zone="UTC", opening_times={"twentyfourseven": True}, publish=False,
        )  # fmt: skip
        session.add(site)
        await session.flush()
    station = Station(
        id=uuid.uuid4(),
        tenant_id=tenant.id,
        site_id=site.id,
        identity=identity,
        security_profile=1,
        registration_status="Pending",
        password_hash=await hash_station_password_async(password),
    )
    session.add(station)
    await session.flush()
    await emit(session, "station.auto_registered", {"id": station.id, "identity": identity}, tenant.id)
    return station


async def _published_sites_changed(session: AsyncSession, station_ids: list[uuid.UUID]) -> None:
    """A station's presence decides what its public EVSEs show roaming partners (UNKNOWN while offline): the
    published sites they stand on changed."""
    if not station_ids:
        return
    shown = select(Station.site_id).join(Evse, Evse.station_id == Station.id).where(
        Station.id.in_(station_ids), Evse.public)  # fmt: skip
    await session.execute(update(Site).where(Site.id.in_(shown), Site.publish, Site.home_person_id.is_(None))
                          .values(changed_at=utcnow()))  # fmt: skip


async def mark_connected(session: AsyncSession, station: Station, node_id: str, version: str) -> uuid.UUID:
    """Record the new connection; it replaces whatever connection the station had before."""
    connection_id = uuid.uuid4()
    now = utcnow()
    values: dict[str, Any] = {
        "online": True, "node_id": node_id, "connection_id": connection_id, "ocpp_version": version,
        "connected_at": now, "last_seen": now,
    }  # fmt: skip
    await session.execute(
        insert(StationPresence)
        .values(station_id=station.id, tenant_id=station.tenant_id, **values)
        .on_conflict_do_update(index_elements=["station_id"], set_=values)
    )
    await _published_sites_changed(session, [station.id])
    await emit(session, "station.online", {"id": station.id, "node": node_id}, station.tenant_id)
    return connection_id


async def mark_disconnected(session: AsyncSession, station: Station, connection_id: uuid.UUID) -> bool:
    """Offline, unless a newer connection of the same station has taken over meanwhile."""
    result = await session.execute(
        update(StationPresence)
        .where(StationPresence.station_id == station.id, StationPresence.connection_id == connection_id)
        .values(online=False, disconnected_at=utcnow())
    )
    changed = bool(result.rowcount)  # type: ignore[attr-defined]
    if changed:
        await _published_sites_changed(session, [station.id])
        await emit(session, "station.offline", {"id": station.id}, station.tenant_id)
    return changed


async def touch(session: AsyncSession, last_seen: dict[uuid.UUID, datetime]) -> None:
    """Store when each station was last heard from (batched by the node)."""
    if not last_seen:
        return
    table = StationPresence.__table__
    statement = update(table).where(table.c.station_id == bindparam("b_station")).values(last_seen=bindparam("b_seen"))  # type: ignore[arg-type]
    await session.execute(statement, [{"b_station": k, "b_seen": v} for k, v in last_seen.items()])


async def record_boot(
    session: AsyncSession, station: Station, vendor: str, model: str, serial: str | None, firmware: str | None
) -> str:
    """BootNotification: keep what the station says it is; answer with its registration status."""
    station.vendor, station.model = vendor[:50], model[:50]
    station.serial_number = serial[:50] if serial else station.serial_number
    station.firmware_version = firmware[:50] if firmware else station.firmware_version
    await session.execute(
        update(StationPresence).where(StationPresence.station_id == station.id).values(boot_at=utcnow())
    )
    return station.registration_status


async def record_status(
    session: AsyncSession,
    station: Station,
    evse: int,
    connector: int,
    status: str,
    at: datetime,
    error_code: str | None = None,
    info: str | None = None,
) -> None:
    """A status report: always into the history; into the current state unless an older report (offline queue)."""
    session.add(
        StatusEvent(
            tenant_id=station.tenant_id, station_id=station.id, ocpp_evse_id=evse, ocpp_connector_id=connector,
            status=status, error_code=error_code, info=info, status_at=at,
        )
    )  # fmt: skip
    values = {"status": status, "error_code": error_code, "info": info, "status_at": at, "received_at": utcnow()}
    statement = insert(ConnectorState).values(
        tenant_id=station.tenant_id, station_id=station.id, ocpp_evse_id=evse, ocpp_connector_id=connector, **values
    )
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=["station_id", "ocpp_evse_id", "ocpp_connector_id"],
            set_=values,
            where=ConnectorState.status_at <= statement.excluded.status_at,
        )
    )
    if status == "Faulted":
        await emit(
            session, "station.faulted", {"id": station.id, "evse": evse, "connector": connector, "error": error_code},
            station.tenant_id,
        )  # fmt: skip
    # A published EVSE's status is news for roaming partners (pushed by the OCPI module, coalesced there).
    public = (await session.execute(
        select(Evse.id, Site.id).join(Station, Station.id == Evse.station_id).join(Site, Site.id == Station.site_id)
        .where(Evse.station_id == station.id, Evse.ocpp_evse_id == evse, Evse.public,
               Site.publish, Site.home_person_id.is_(None))
    )).first()  # fmt: skip
    if public is not None:
        # the location changed with it: a partner resyncing with date_from sees it again
        await session.execute(update(Site).where(Site.id == public[1]).values(changed_at=utcnow()))
        await emit(session, "evse.status", {"id": public[0], "status": status}, station.tenant_id)


async def record_event(session: AsyncSession, station: Station, kind: str, payload: dict[str, Any]) -> None:
    session.add(StationEvent(tenant_id=station.tenant_id, station_id=station.id, kind=kind, payload=payload))


async def node_alive(session: AsyncSession, node_id: str, hostname: str) -> None:
    values = {"last_seen": utcnow(), "hostname": hostname}
    await session.execute(
        insert(Node).values(id=node_id, **values).on_conflict_do_update(index_elements=["id"], set_=values)
    )


async def sweep_dead_nodes(session: AsyncSession, silent_for: timedelta) -> int:
    """Stations held by nodes that stopped answering are offline; returns how many were marked."""
    dead = select(Node.id).where(Node.last_seen < utcnow() - silent_for).scalar_subquery()
    result = await session.execute(
        update(StationPresence)
        .where(StationPresence.online.is_(True), StationPresence.node_id.in_(dead))
        .values(online=False, disconnected_at=utcnow())
        .returning(StationPresence.station_id, StationPresence.tenant_id)
    )
    rows = result.all()
    await _published_sites_changed(session, [station_id for station_id, _ in rows])
    for station_id, tenant_id in rows:
        await emit(session, "station.offline", {"id": station_id, "reason": "node lost"}, tenant_id)
    return len(rows)


async def forget_node(session: AsyncSession, node_id: str) -> None:
    """A node shutting down: its stations are offline now, not after the timeout."""
    result = await session.execute(
        update(StationPresence)
        .where(StationPresence.node_id == node_id, StationPresence.online.is_(True))
        .values(online=False, disconnected_at=utcnow())
        .returning(StationPresence.station_id, StationPresence.tenant_id)
    )
    rows = result.all()
    await _published_sites_changed(session, [station_id for station_id, _ in rows])
    for station_id, tenant_id in rows:
        await emit(session, "station.offline", {"id": station_id, "reason": "node stopped"}, tenant_id)
    await session.execute(update(Node).where(Node.id == node_id).values(last_seen=utcnow() - timedelta(days=1)))
