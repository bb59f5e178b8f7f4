"""Site, station, EVSE and connector use cases. Every function is scoped to one tenant."""

from __future__ import annotations

import hashlib
import uuid
from decimal import Decimal

import msgspec
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from cpo.db.base import utcnow
from cpo.db.queries import Lock, flush_or_conflict, get_scoped
from cpo.errors import Conflict, InvalidInput
from cpo.outbox.service import emit
from cpo.secrets import hash_station_password_async, new_station_password
from cpo.sites.models import Connector, Evse, Site, Station
from cpo.sites.schemas import ConnectorIn, EvseIn, SiteIn, StationIn, StationUpdate
from cpo.tenants.models import Tenant
from cpo.tenants.service import identity_reserved_elsewhere

STATION_CONFLICTS = {"uq_stations_identity": ("identity", "a station with this identity exists already")}
EVSE_CONFLICTS = {
    "uq_evses_station_id_ocpp_evse_id": ("ocpp_evse_id", "this station has an EVSE with this number already"),
    "uq_evses_tenant_id_uid": ("uid", "an EVSE with this uid exists already"),
    "uq_evses_evse_id": ("evse_id", "an EVSE with this EVSE ID exists already"),
}
CONNECTOR_CONFLICTS = {
    "uq_connectors_evse_id_ocpp_connector_id": (
        "ocpp_connector_id",
        "this EVSE has a connector with this number already",
    )
}


def _coordinate(value: float) -> Decimal:
    # OCPI GeoLocation carries up to 7 decimals; keep exactly that, never a float.
    return Decimal(repr(value)).quantize(Decimal("0.0000001"))


# --- sites ---------------------------------------------------------------------------------------------------


async def list_sites(session: AsyncSession, tenant_id: uuid.UUID) -> list[Site]:
    query = select(Site).where(Site.tenant_id == tenant_id).order_by(Site.name, Site.id)
    return list((await session.execute(query)).scalars())


async def get_site(session: AsyncSession, tenant_id: uuid.UUID, site_id: uuid.UUID, lock: Lock | None = None) -> Site:
    return await get_scoped(session, Site, tenant_id, site_id, "site", lock)


def _apply_site(site: Site, data: SiteIn) -> None:
    site.name = data.name
    site.address = data.address
    site.city = data.city
    site.postal_code = data.postal_code
    site.state = data.state
    site.country = data.country
    site.latitude = _coordinate(data.latitude)
    site.longitude = _coordinate(data.longitude)
    site.time_zone = data.time_zone
    site.opening_times = msgspec.to_builtins(data.opening_times)
    site.publish = data.publish
    site.currency = data.currency
    site.home_person_id = data.home_person_id
    site.facilities = sorted(set(data.facilities))
    site.parking_type = data.parking_type
    site.energy_mix = msgspec.to_builtins(data.energy_mix) if data.energy_mix else None


async def _check_home(session: AsyncSession, tenant_id: uuid.UUID, data: SiteIn) -> None:
    if data.home_person_id is None:
        return
    from cpo.people.models import Person

    person = await session.get(Person, data.home_person_id)
    if person is None or person.tenant_id != tenant_id:
        raise InvalidInput("home_person_id", "not a person of this tenant")


HOME_IS_PRIVATE = "an employee's home charger is never public: it has no pay page and is not published"


async def _refuse_public_at_home(session: AsyncSession, site_id: uuid.UUID, field: str = "public") -> None:
    """A public EVSE gets a pay page showing its site's address; at a home that is the employee's address.
    The site row is share-locked so that a site turning into a home waits for this EVSE, then sees it."""
    home = await session.scalar(select(Site.home_person_id).where(Site.id == site_id).with_for_update(read=True))
    if home is not None:
        raise InvalidInput(field, HOME_IS_PRIVATE)


async def _public_evses_at(session: AsyncSession, site_id: uuid.UUID) -> int:
    """How many public EVSEs the site has; the site row stays locked (FOR NO KEY UPDATE) so that no EVSE
    becomes public there until this transaction ends."""
    await session.execute(select(Site.id).where(Site.id == site_id).with_for_update(key_share=True))
    found = await session.scalar(select(func.count()).select_from(Evse).join(Station, Station.id == Evse.station_id)
                                 .where(Station.site_id == site_id, Evse.public))  # fmt: skip
    return int(found or 0)


async def create_site(session: AsyncSession, tenant_id: uuid.UUID, data: SiteIn) -> Site:
    await _check_home(session, tenant_id, data)
    site = Site(id=uuid.uuid4(), tenant_id=tenant_id)
    _apply_site(site, data)
    session.add(site)
    await session.flush()
    await emit(session, "site.created", {"id": site.id}, tenant_id)
    return site


async def update_site(session: AsyncSession, tenant_id: uuid.UUID, site_id: uuid.UUID, data: SiteIn) -> Site:
    site = await get_site(session, tenant_id, site_id)
    await _check_home(session, tenant_id, data)
    if data.home_person_id is not None and (public := await _public_evses_at(session, site.id)):
        raise InvalidInput("home_person_id", f"the site has {public} public EVSE(s); make them internal first "
                           f"({HOME_IS_PRIVATE})")  # fmt: skip
    _apply_site(site, data)
    site.changed_at = utcnow()
    await session.flush()
    await emit(session, "site.updated", {"id": site.id}, tenant_id)
    return site


async def delete_site(session: AsyncSession, tenant_id: uuid.UUID, site_id: uuid.UUID) -> None:
    site = await get_site(session, tenant_id, site_id, lock="delete")
    stations = await session.scalar(
        select(func.count()).select_from(Station).where(Station.tenant_id == tenant_id, Station.site_id == site_id)
    )
    if stations:
        raise Conflict(f"the site still has {stations} station(s); move or delete them first")
    await session.delete(site)
    await emit(session, "site.deleted", {"id": site_id}, tenant_id)


async def mark_site_changed(
    session: AsyncSession,
    *,
    site_id: uuid.UUID | None = None,
    station_id: uuid.UUID | None = None,
    evse_id: uuid.UUID | None = None,
) -> None:
    """Record that what a site shows (itself, a station, EVSE, connector or public status) changed just now."""
    if site_id is None and station_id is None and evse_id is not None:
        station_id = select(Evse.station_id).where(Evse.id == evse_id).scalar_subquery()  # type: ignore[assignment]
    target = Site.id == site_id if site_id is not None else \
        Site.id == select(Station.site_id).where(Station.id == station_id).scalar_subquery()  # fmt: skip
    await session.execute(update(Site).where(target).values(changed_at=utcnow()))


# --- stations ------------------------------------------------------------------------------------------------


async def list_stations(session: AsyncSession, tenant_id: uuid.UUID, site_id: uuid.UUID | None = None) -> list[Station]:
    query = select(Station).where(Station.tenant_id == tenant_id)
    if site_id is not None:
        query = query.where(Station.site_id == site_id)
    return list((await session.execute(query.order_by(Station.identity))).scalars())


async def get_station(
    session: AsyncSession, tenant_id: uuid.UUID, station_id: uuid.UUID, lock: Lock | None = None
) -> Station:
    return await get_scoped(session, Station, tenant_id, station_id, "station", lock)


async def create_station(session: AsyncSession, tenant_id: uuid.UUID, data: StationIn) -> tuple[Station, str]:
    """Create a station; returns it with its password in clear, the only time it is ever available."""
    await get_site(session, tenant_id, data.site_id, lock="parent")
    if await identity_reserved_elsewhere(session, tenant_id, data.identity):
        # Which operator holds the prefix is theirs to tell: the answer names none.
        raise InvalidInput("identity", "falls under a station identity prefix reserved for another operator")
    password = data.password or new_station_password()
    station = Station(
        id=uuid.uuid4(),
        tenant_id=tenant_id,
        site_id=data.site_id,
        identity=data.identity,
        vendor=data.vendor,
        model=data.model,
        serial_number=data.serial_number,
        firmware_version=data.firmware_version,
        security_profile=data.security_profile,
        registration_status=data.registration_status,
        password_hash=await hash_station_password_async(password),
    )
    session.add(station)
    await flush_or_conflict(session, STATION_CONFLICTS)
    await emit(session, "station.created", {"id": station.id, "identity": station.identity}, tenant_id)
    return station, password


async def update_station(
    session: AsyncSession, tenant_id: uuid.UUID, station_id: uuid.UUID, data: StationUpdate
) -> Station:
    station = await get_station(session, tenant_id, station_id)
    moved_from = station.site_id if data.site_id != station.site_id else None
    if moved_from is not None:
        await get_site(session, tenant_id, data.site_id, lock="parent")
        if await session.scalar(select(func.count()).select_from(Evse).where(Evse.station_id == station.id,
                                                                               Evse.public)):  # fmt: skip
            await _refuse_public_at_home(session, data.site_id, "site_id")
    station.site_id = data.site_id
    station.vendor = data.vendor
    station.model = data.model
    station.serial_number = data.serial_number
    station.firmware_version = data.firmware_version
    station.security_profile = data.security_profile
    station.registration_status = data.registration_status
    await session.flush()
    await mark_site_changed(session, station_id=station.id)
    if moved_from is not None:
        await mark_site_changed(session, site_id=moved_from)
    await emit(session, "station.updated", {"id": station.id, "identity": station.identity}, tenant_id)
    return station


async def rotate_station_password(session: AsyncSession, tenant_id: uuid.UUID, station_id: uuid.UUID) -> str:
    station = await get_station(session, tenant_id, station_id)
    password = new_station_password()
    station.password_hash = await hash_station_password_async(password)
    await session.flush()
    await emit(session, "station.password_rotated", {"id": station.id}, tenant_id)
    return password


async def delete_station(session: AsyncSession, tenant_id: uuid.UUID, station_id: uuid.UUID) -> None:
    station = await get_station(session, tenant_id, station_id)
    await session.delete(station)
    await emit(session, "station.deleted", {"id": station_id, "identity": station.identity}, tenant_id)


# --- EVSEs ---------------------------------------------------------------------------------------------------


async def list_evses(session: AsyncSession, tenant_id: uuid.UUID, station_id: uuid.UUID) -> list[Evse]:
    await get_station(session, tenant_id, station_id)
    query = select(Evse).where(Evse.tenant_id == tenant_id, Evse.station_id == station_id)
    return list((await session.execute(query.order_by(Evse.ocpp_evse_id))).scalars())


async def get_evse(session: AsyncSession, tenant_id: uuid.UUID, evse_id: uuid.UUID, lock: Lock | None = None) -> Evse:
    return await get_scoped(session, Evse, tenant_id, evse_id, "EVSE", lock)


def default_evse_uid(identity: str, number: int) -> str:
    """``<identity>-<number>``; identities too long for OCPI's 36 characters are shortened by a hash."""
    suffix = f"-{number}"
    if len(identity) + len(suffix) <= 36:
        return identity + suffix
    digest = hashlib.sha256(identity.encode()).hexdigest()[:10]
    return f"{identity[: 36 - len(suffix) - 11]}~{digest}{suffix}"


async def _check_evse_id_owner(session: AsyncSession, tenant_id: uuid.UUID, evse_id: str | None) -> None:
    """An eMI3 EVSE ID starts with its operator's country and party id: only ours, once we have one."""
    tenant = await session.get(Tenant, tenant_id)
    if evse_id is None or tenant is None or not (tenant.country_code and tenant.party_id):
        return
    prefix = evse_id.replace("*", "")[:5]
    if prefix != f"{tenant.country_code}{tenant.party_id}":
        raise InvalidInput("evse_id", f"must start with this operator's id {tenant.country_code}*{tenant.party_id}")


def _apply_evse(evse: Evse, data: EvseIn) -> None:
    evse.ocpp_evse_id = data.ocpp_evse_id
    evse.evse_id = data.evse_id
    evse.capabilities = list(data.capabilities)
    evse.public = data.public
    evse.floor_level = data.floor_level
    evse.physical_reference = data.physical_reference


async def create_evse(session: AsyncSession, tenant_id: uuid.UUID, station_id: uuid.UUID, data: EvseIn) -> Evse:
    station = await get_station(session, tenant_id, station_id, lock="parent")
    evse = Evse(
        id=uuid.uuid4(),
        tenant_id=tenant_id,
        station_id=station.id,
        uid=data.uid or default_evse_uid(station.identity, data.ocpp_evse_id),
    )
    await _check_evse_id_owner(session, tenant_id, data.evse_id)
    if data.public:
        await _refuse_public_at_home(session, station.site_id)
    _apply_evse(evse, data)
    session.add(evse)
    await flush_or_conflict(session, EVSE_CONFLICTS)
    await mark_site_changed(session, station_id=station.id)
    await emit(session, "evse.created", {"id": evse.id, "station_id": station.id}, tenant_id)
    return evse


async def update_evse(session: AsyncSession, tenant_id: uuid.UUID, evse_id: uuid.UUID, data: EvseIn) -> Evse:
    evse = await get_evse(session, tenant_id, evse_id)
    if data.uid is not None and data.uid != evse.uid:
        # OCPI: an EVSE's uid never changes once published; a new uid is a new EVSE.
        raise Conflict("the uid of an EVSE cannot change", "uid")
    await _check_evse_id_owner(session, tenant_id, data.evse_id)
    if data.public:
        station = await get_station(session, tenant_id, evse.station_id)
        await _refuse_public_at_home(session, station.site_id)
    _apply_evse(evse, data)
    await flush_or_conflict(session, EVSE_CONFLICTS)
    await mark_site_changed(session, station_id=evse.station_id)
    await emit(session, "evse.updated", {"id": evse.id, "station_id": evse.station_id}, tenant_id)
    return evse


async def delete_evse(session: AsyncSession, tenant_id: uuid.UUID, evse_id: uuid.UUID) -> None:
    evse = await get_evse(session, tenant_id, evse_id)
    await session.delete(evse)
    await mark_site_changed(session, station_id=evse.station_id)
    await emit(session, "evse.deleted", {"id": evse_id, "station_id": evse.station_id}, tenant_id)


# --- connectors ----------------------------------------------------------------------------------------------


async def list_connectors(session: AsyncSession, tenant_id: uuid.UUID, evse_id: uuid.UUID) -> list[Connector]:
    await get_evse(session, tenant_id, evse_id)
    query = select(Connector).where(Connector.tenant_id == tenant_id, Connector.evse_id == evse_id)
    return list((await session.execute(query.order_by(Connector.ocpp_connector_id))).scalars())


async def connectors_of_station(
    session: AsyncSession, tenant_id: uuid.UUID, station_id: uuid.UUID
) -> dict[uuid.UUID, list[Connector]]:
    """Connectors of every EVSE of a station, by EVSE id, in one query."""
    query = (
        select(Connector)
        .join(Evse, (Evse.id == Connector.evse_id) & (Evse.tenant_id == Connector.tenant_id))
        .where(Connector.tenant_id == tenant_id, Evse.station_id == station_id)
        .order_by(Connector.ocpp_connector_id)
    )
    result: dict[uuid.UUID, list[Connector]] = {}
    for connector in (await session.execute(query)).scalars():
        result.setdefault(connector.evse_id, []).append(connector)
    return result


async def get_connector(session: AsyncSession, tenant_id: uuid.UUID, connector_id: uuid.UUID) -> Connector:
    return await get_scoped(session, Connector, tenant_id, connector_id, "connector")


def _apply_connector(connector: Connector, data: ConnectorIn) -> None:
    connector.ocpp_connector_id = data.ocpp_connector_id
    connector.standard = data.standard
    connector.format = data.format
    connector.power_type = data.power_type
    connector.max_voltage = data.max_voltage
    connector.max_amperage = data.max_amperage
    connector.max_electric_power = data.max_electric_power
    connector.terms_and_conditions = data.terms_and_conditions


async def create_connector(
    session: AsyncSession, tenant_id: uuid.UUID, evse_id: uuid.UUID, data: ConnectorIn
) -> Connector:
    evse = await get_evse(session, tenant_id, evse_id, lock="parent")
    connector = Connector(id=uuid.uuid4(), tenant_id=tenant_id, evse_id=evse.id)
    _apply_connector(connector, data)
    session.add(connector)
    await flush_or_conflict(session, CONNECTOR_CONFLICTS)
    await mark_site_changed(session, station_id=evse.station_id)
    await emit(session, "connector.created", {"id": connector.id, "evse_id": evse.id}, tenant_id)
    return connector


async def update_connector(
    session: AsyncSession, tenant_id: uuid.UUID, connector_id: uuid.UUID, data: ConnectorIn
) -> Connector:
    connector = await get_connector(session, tenant_id, connector_id)
    _apply_connector(connector, data)
    await flush_or_conflict(session, CONNECTOR_CONFLICTS)
    await mark_site_changed(session, evse_id=connector.evse_id)
    await emit(session, "connector.updated", {"id": connector.id, "evse_id": connector.evse_id}, tenant_id)
    return connector


async def delete_connector(session: AsyncSession, tenant_id: uuid.UUID, connector_id: uuid.UUID) -> None:
    connector = await get_connector(session, tenant_id, connector_id)
    await session.delete(connector)
    await mark_site_changed(session, evse_id=connector.evse_id)
    await emit(session, "connector.deleted", {"id": connector_id, "evse_id": connector.evse_id}, tenant_id)
