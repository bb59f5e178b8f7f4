"""Locations, sender interface: published sites with their public EVSEs, connectors, status and tariffs.

Only what is published: a site with ``publish`` on, and of it only EVSEs marked public. Internal chargers
and employees' homes never appear.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import msgspec
from litestar import Request, Response, get
from litestar.di import Provide
from sqlalchemy import Text, Uuid, any_, bindparam, cast, func, select, true
from sqlalchemy.dialects.postgresql import ARRAY, aggregate_order_by
from sqlalchemy.ext.asyncio import AsyncSession

from cpo.charging.models import ConnectorState, StationPresence
from cpo.sites.models import Connector, Evse, Site, Station
from cpo.tariffs import service as tariffs
from cpo.tariffs.models import Tariff, TariffAssignment
from cpo.tenants.models import Tenant
from ocpi.auth import Caller, provide_registered_caller
from ocpi.envelope import UNKNOWN_LOCATION, OcpiError, answer
from ocpi.pagination import page_of

STATUS = {
    "Available": "AVAILABLE", "Preparing": "CHARGING", "Charging": "CHARGING", "SuspendedEV": "CHARGING",
    "SuspendedEVSE": "CHARGING", "Finishing": "CHARGING", "Occupied": "CHARGING", "Reserved": "RESERVED",
    "Unavailable": "INOPERATIVE", "Faulted": "OUTOFORDER",
}  # fmt: skip
CAPABILITIES = {"RFID_READER", "REMOTE_START_STOP_CAPABLE", "RESERVABLE", "UNLOCK_CAPABLE", "CHARGING_PROFILE_CAPABLE",
                "CREDIT_CARD_PAYABLE", "DEBIT_CARD_PAYABLE", "CHIP_CARD_SUPPORT", "CONTACTLESS_CARD_SUPPORT",
                "CHARGING_PREFERENCES_CAPABLE", "PED_TERMINAL", "TOKEN_GROUP_CAPABLE"}  # fmt: skip


def array_of(ids: list[uuid.UUID]) -> Any:
    """One array parameter (``= ANY(...)``) rather than one parameter per id (``IN``): cheaper to send."""
    return bindparam(None, value=ids, type_=ARRAY(Uuid()))


def _published(tenant_id: uuid.UUID) -> Any:
    return select(Site).where(Site.tenant_id == tenant_id, Site.publish, Site.home_person_id.is_(None))


async def _tariff_ids(db: AsyncSession, caller: Caller) -> dict[tuple[str, uuid.UUID | None], str]:
    """Where each tariff that partner drivers pay applies: (place kind, place id) -> tariff code."""
    code = f"{caller.partner.country_code}{caller.partner.party_id}"
    rows = (await db.execute(select(
        TariffAssignment.connector_id, TariffAssignment.evse_id, TariffAssignment.site_id, TariffAssignment.audience,
        TariffAssignment.partner, Tariff.code).join(
        Tariff, Tariff.id == TariffAssignment.tariff_id).where(
        TariffAssignment.tenant_id == caller.partner.tenant_id, Tariff.archived.is_(False),
        TariffAssignment.audience.in_(("public", "roaming")), TariffAssignment.group_id.is_(None),
        (TariffAssignment.partner.is_(None)) | (TariffAssignment.partner == code),
    ))).all()  # fmt: skip
    found: dict[tuple[str, uuid.UUID | None], tuple[tuple[bool, bool], str]] = {}
    for assignment in rows:
        tariff_code = assignment.code
        kind, place = ("connector", assignment.connector_id) if assignment.connector_id else \
            ("evse", assignment.evse_id) if assignment.evse_id else ("site", assignment.site_id) if \
            assignment.site_id else ("tenant", None)  # fmt: skip
        rank = (assignment.audience == "roaming", assignment.partner is not None)
        if (kind, place) not in found or rank > found[(kind, place)][0]:
            found[(kind, place)] = (rank, tariff_code)
    return {key: value[1] for key, value in found.items()}


def _utc_text(column: Any) -> Any:
    """A timestamp as OCPI writes it (UTC, ending in Z), formatted by PostgreSQL; such strings sort by time."""
    return func.to_char(func.timezone("UTC", column), 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')


def _locations_query(tenant_id: uuid.UUID, ids: Any) -> Any:
    """Published sites whose id is ``= ANY(ids)``, each with its public EVSEs (and their connectors, latest
    status and station presence) as one JSON array built by PostgreSQL: one round trip for a page of 100."""
    latest = (select(ConnectorState.status, ConnectorState.status_at)
              .where(ConnectorState.station_id == Evse.station_id, ConnectorState.ocpp_evse_id == Evse.ocpp_evse_id)
              .order_by(ConnectorState.status_at.desc()).limit(1).lateral("latest"))  # fmt: skip
    connectors = (select(func.json_agg(aggregate_order_by(func.json_build_object(
        "id", Connector.id, "number", Connector.ocpp_connector_id, "standard", Connector.standard,
        "format", Connector.format, "power_type", Connector.power_type, "max_voltage", Connector.max_voltage,
        "max_amperage", Connector.max_amperage, "max_electric_power", Connector.max_electric_power,
        "terms_and_conditions", Connector.terms_and_conditions, "last_updated", _utc_text(Connector.updated_at),
    ), Connector.ocpp_connector_id))).where(Connector.evse_id == Evse.id).scalar_subquery())  # fmt: skip
    evses = (select(func.json_agg(aggregate_order_by(func.json_build_object(
        "id", Evse.id, "uid", Evse.uid, "evse_id", Evse.evse_id, "capabilities", Evse.capabilities,
        "floor_level", Evse.floor_level, "physical_reference", Evse.physical_reference,
        "last_updated", _utc_text(Evse.updated_at), "online", StationPresence.online, "status", latest.c.status,
        "status_at", _utc_text(latest.c.status_at), "connectors", connectors,
    ), Evse.ocpp_evse_id, Evse.uid)))
        .select_from(Evse).join(Station, Station.id == Evse.station_id)
        .outerjoin(StationPresence, StationPresence.station_id == Station.id).outerjoin(latest, true())
        .where(Station.site_id == Site.id, Station.tenant_id == Site.tenant_id, Evse.public)
        .scalar_subquery())  # fmt: skip
    return select(Site.id, Site.name, Site.address, Site.city, Site.postal_code, Site.state, Site.country,
                  Site.latitude, Site.longitude, Site.time_zone, Site.opening_times, Site.facilities,
                  Site.parking_type, Site.energy_mix,
                  _utc_text(func.greatest(Site.updated_at, Site.changed_at)).label("last_updated"),
                  cast(evses, Text).label("evses")).where(
        Site.tenant_id == tenant_id, Site.publish, Site.home_person_id.is_(None), Site.id == any_(ids))  # fmt: skip


async def _party(db: AsyncSession, caller: Caller) -> tuple[str, str]:
    if caller.party is not None:
        return caller.party
    return tariffs.party_of(await db.get(Tenant, caller.partner.tenant_id))


def _render(row: Any, party: tuple[str, str], tariff_at: dict[tuple[str, uuid.UUID | None], str]) -> dict[str, Any]:
    site_tariff = tariff_at.get(("site", row.id)) or tariff_at.get(("tenant", None))
    updated = row.last_updated
    rendered_evses = []
    for evse in msgspec.json.decode(row.evses) if row.evses else []:
        if not evse["connectors"]:
            continue  # OCPI wants at least one connector per EVSE
        evse_updated = max(evse["last_updated"], evse["status_at"] or "")
        evse_tariff = tariff_at.get(("evse", uuid.UUID(evse["id"]))) if tariff_at else None
        rendered_connectors = []
        for connector in evse["connectors"]:
            item = {"id": str(connector["number"]), "standard": connector["standard"], "format": connector["format"],
                    "power_type": connector["power_type"], "max_voltage": connector["max_voltage"],
                    "max_amperage": connector["max_amperage"], "last_updated": connector["last_updated"]}  # fmt: skip
            if connector["max_electric_power"]:
                item["max_electric_power"] = connector["max_electric_power"]
            tariff = (tariff_at.get(("connector", uuid.UUID(connector["id"]))) if tariff_at else None) or \
                evse_tariff or site_tariff  # fmt: skip
            if tariff:
                item["tariff_ids"] = [tariff]
            if connector["terms_and_conditions"]:
                item["terms_and_conditions"] = connector["terms_and_conditions"]
            rendered_connectors.append(item)
            evse_updated = max(evse_updated, connector["last_updated"])
        status = STATUS.get(evse["status"], "UNKNOWN") if evse["online"] and evse["status"] else "UNKNOWN"
        rendered: dict[str, Any] = {"uid": evse["uid"], "status": status, "connectors": rendered_connectors,
                                    "last_updated": evse_updated}  # fmt: skip
        if evse["evse_id"]:
            rendered["evse_id"] = evse["evse_id"]
        capabilities = [c for c in evse["capabilities"] or [] if c in CAPABILITIES]
        if capabilities:
            rendered["capabilities"] = capabilities
        if evse["floor_level"]:
            rendered["floor_level"] = evse["floor_level"]
        if evse["physical_reference"]:
            rendered["physical_reference"] = evse["physical_reference"]
        rendered_evses.append(rendered)
        updated = max(updated, evse_updated)
    location: dict[str, Any] = {
        "country_code": party[0], "party_id": party[1], "id": str(row.id), "publish": True, "name": row.name,
        "address": row.address, "city": row.city, "country": row.country,
        "coordinates": {"latitude": f"{row.latitude:.6f}", "longitude": f"{row.longitude:.6f}"},
        "time_zone": row.time_zone, "evses": rendered_evses, "last_updated": updated,
        "opening_times": row.opening_times or {"twentyfourseven": True},
    }  # fmt: skip
    if row.postal_code:
        location["postal_code"] = row.postal_code
    if row.state:
        location["state"] = row.state
    if row.parking_type:
        location["parking_type"] = row.parking_type
    if row.facilities:
        location["facilities"] = list(row.facilities)
    if row.energy_mix:
        location["energy_mix"] = row.energy_mix
    return location


async def render_locations(db: AsyncSession, caller: Caller, site_ids: Sequence[uuid.UUID]) -> list[dict[str, Any]]:
    """OCPI Locations of these sites, those that are published, in the order given."""
    if not site_ids:
        return []
    rows = {row.id: row for row in (await db.execute(
        _locations_query(caller.partner.tenant_id, array_of(list(site_ids))))).all()}  # fmt: skip
    party, tariff_at = await _party(db, caller), await _tariff_ids(db, caller)
    return [_render(rows[i], party, tariff_at) for i in site_ids if i in rows]


@get("/2.2.1/locations", dependencies={"caller": Provide(provide_registered_caller)})
async def list_locations(request: Request[Any, Any, Any], db: AsyncSession, caller: Caller) -> Response[bytes]:
    """Published locations, oldest change first (a change of the site or of anything it shows), paginated."""
    page = page_of(request)
    tenant_id = caller.partner.tenant_id
    # `publish`, not `publish IS true`: only the former matches the partial index ix_sites_published
    where = [Site.tenant_id == tenant_id, Site.publish, Site.home_person_id.is_(None)]
    if page.date_from is not None:
        where.append(Site.changed_at >= page.date_from)
    if page.date_to is not None:
        where.append(Site.changed_at < page.date_to)
    # one query: the page's ids from the index alone, those sites rendered, and how many there are in all
    page_ids = (select(Site.id).where(*where).order_by(Site.changed_at, Site.id).offset(page.offset)
                .limit(page.limit))  # fmt: skip
    total = select(func.count()).select_from(Site).where(*where).scalar_subquery()
    query = _locations_query(tenant_id, func.array(page_ids.scalar_subquery())).add_columns(
        total.label("total"), Site.changed_at)  # fmt: skip
    async with db.begin():
        rows = sorted((await db.execute(query)).all(), key=lambda row: (row.changed_at, row.id))
        if rows:
            count = int(rows[0].total)
        else:  # past the end: count apart
            count = int(await db.scalar(select(func.count()).select_from(Site).where(*where)) or 0)
        party, tariff_at = await _party(db, caller), await _tariff_ids(db, caller)
    return answer(request, [_render(row, party, tariff_at) for row in rows], headers=page.headers(request, count))


@get("/2.2.1/locations/{location_id:str}", dependencies={"caller": Provide(provide_registered_caller)})
async def get_location(
    request: Request[Any, Any, Any], db: AsyncSession, caller: Caller, location_id: str
) -> Response[bytes]:
    try:
        site_id = uuid.UUID(location_id)
    except ValueError:
        raise OcpiError(UNKNOWN_LOCATION, f"unknown location {location_id}", 404) from None
    async with db.begin():
        found = await render_locations(db, caller, [site_id])
    if not found:
        raise OcpiError(UNKNOWN_LOCATION, f"unknown location {location_id}", 404)
    return answer(request, found[0])


HANDLERS = [list_locations, get_location]
