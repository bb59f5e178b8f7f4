"""Locations, sender interface: published sites with their public EVSEs, connectors, status and tariffs.

Only what is published: a site with ``publish`` on, and of it only EVSEs marked public. Internal chargers
and employees' homes never appear.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from litestar import Request, Response, get
from litestar.di import Provide
from sqlalchemy import func, select
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


def _published(tenant_id: uuid.UUID) -> Any:
    return select(Site).where(Site.tenant_id == tenant_id, Site.publish.is_(True), Site.home_person_id.is_(None))


async def _tariff_ids(db: AsyncSession, caller: Caller) -> dict[tuple[str, uuid.UUID | None], str]:
    """Where each tariff that partner drivers pay applies: (place kind, place id) -> tariff code."""
    code = f"{caller.partner.country_code}{caller.partner.party_id}"
    rows = (await db.execute(select(TariffAssignment, Tariff.code).join(
        Tariff, Tariff.id == TariffAssignment.tariff_id).where(
        TariffAssignment.tenant_id == caller.partner.tenant_id, Tariff.archived.is_(False),
        TariffAssignment.audience.in_(("public", "roaming")), TariffAssignment.group_id.is_(None),
        (TariffAssignment.partner.is_(None)) | (TariffAssignment.partner == code),
    ))).all()  # fmt: skip
    found: dict[tuple[str, uuid.UUID | None], tuple[tuple[bool, bool], str]] = {}
    for assignment, tariff_code in rows:
        kind, place = ("connector", assignment.connector_id) if assignment.connector_id else \
            ("evse", assignment.evse_id) if assignment.evse_id else ("site", assignment.site_id) if \
            assignment.site_id else ("tenant", None)  # fmt: skip
        rank = (assignment.audience == "roaming", assignment.partner is not None)
        if (kind, place) not in found or rank > found[(kind, place)][0]:
            found[(kind, place)] = (rank, tariff_code)
    return {key: value[1] for key, value in found.items()}


async def render_locations(db: AsyncSession, caller: Caller, sites: Sequence[Any]) -> list[dict[str, Any]]:
    """OCPI Locations of the given sites (``Site`` objects or rows with the same columns), in their order.

    Plain column queries, four round trips whatever the number of sites: a page of 100 is a hot path."""
    if not sites:
        return []
    tenant_id = caller.partner.tenant_id
    tenant = await db.get(Tenant, tenant_id)
    country, party = tariffs.party_of(tenant)
    site_ids = [s.id for s in sites]
    evses = (await db.execute(
        select(Evse.id, Evse.station_id, Evse.ocpp_evse_id, Evse.uid, Evse.evse_id, Evse.capabilities,
               Evse.floor_level, Evse.physical_reference, Evse.updated_at, Station.site_id, StationPresence.online)
        .join(Station, Station.id == Evse.station_id)
        .outerjoin(StationPresence, StationPresence.station_id == Station.id)
        .where(Station.tenant_id == tenant_id, Station.site_id.in_(site_ids), Evse.public.is_(True))
        .order_by(Evse.ocpp_evse_id)
    )).all()  # fmt: skip
    if evses:
        stations = list({e.station_id for e in evses})
        connectors = (await db.execute(
            select(Connector.id, Connector.evse_id, Connector.ocpp_connector_id, Connector.standard,
                   Connector.format, Connector.power_type, Connector.max_voltage, Connector.max_amperage,
                   Connector.max_electric_power, Connector.terms_and_conditions, Connector.updated_at)
            .where(Connector.tenant_id == tenant_id, Connector.evse_id.in_([e.id for e in evses]))
            .order_by(Connector.ocpp_connector_id)
        )).all()  # fmt: skip
        states = (await db.execute(
            select(ConnectorState.station_id, ConnectorState.ocpp_evse_id, ConnectorState.ocpp_connector_id,
                   ConnectorState.status, ConnectorState.status_at)
            .where(ConnectorState.station_id.in_(stations))
        )).all()  # fmt: skip
    else:
        connectors, states = [], []
    status_of: dict[tuple[uuid.UUID, int], Any] = {}
    for state in states:
        key = (state.station_id, state.ocpp_evse_id)
        if key not in status_of or state.ocpp_connector_id == 0 or state.status_at > status_of[key].status_at:
            status_of[key] = state
    tariff_at = await _tariff_ids(db, caller)
    evses_of: dict[uuid.UUID, list[Any]] = {}
    for evse in evses:
        evses_of.setdefault(evse.site_id, []).append(evse)
    connectors_of: dict[uuid.UUID, list[Any]] = {}
    for connector in connectors:
        connectors_of.setdefault(connector.evse_id, []).append(connector)
    out = []
    for site in sites:
        updated = [site.updated_at, site.changed_at]
        rendered_evses = []
        for evse in evses_of.get(site.id, []):
            known = status_of.get((evse.station_id, evse.ocpp_evse_id))
            status = "UNKNOWN" if not evse.online else STATUS.get(known.status, "UNKNOWN") if known \
                else "UNKNOWN"  # fmt: skip
            evse_updated = max([evse.updated_at, *([known.status_at] if known else [])])
            rendered_connectors = []
            for connector in connectors_of.get(evse.id, []):
                tariff = (tariff_at.get(("connector", connector.id)) or tariff_at.get(("evse", evse.id))
                          or tariff_at.get(("site", site.id)) or tariff_at.get(("tenant", None)))  # fmt: skip
                item: dict[str, Any] = {
                    "id": str(connector.ocpp_connector_id), "standard": connector.standard, "format": connector.format,
                    "power_type": connector.power_type, "max_voltage": connector.max_voltage,
                    "max_amperage": connector.max_amperage, "last_updated": connector.updated_at,
                }  # fmt: skip
                if connector.max_electric_power:
                    item["max_electric_power"] = connector.max_electric_power
                if tariff:
                    item["tariff_ids"] = [tariff]
                if connector.terms_and_conditions:
                    item["terms_and_conditions"] = connector.terms_and_conditions
                rendered_connectors.append(item)
                evse_updated = max(evse_updated, connector.updated_at)
            if not rendered_connectors:
                continue  # OCPI wants at least one connector per EVSE
            rendered: dict[str, Any] = {"uid": evse.uid, "status": status, "connectors": rendered_connectors,
                                        "last_updated": evse_updated}  # fmt: skip
            if evse.evse_id:
                rendered["evse_id"] = evse.evse_id
            capabilities = [c for c in evse.capabilities or [] if c in CAPABILITIES]
            if capabilities:
                rendered["capabilities"] = capabilities
            if evse.floor_level:
                rendered["floor_level"] = evse.floor_level
            if evse.physical_reference:
                rendered["physical_reference"] = evse.physical_reference
            rendered_evses.append(rendered)
            updated.append(evse_updated)
        location: dict[str, Any] = {
            "country_code": country, "party_id": party, "id": str(site.id), "publish": True, "name": site.name,
            "address": site.address, "city": site.city, "country": site.country,
            "coordinates": {"latitude": f"{site.latitude:.6f}", "longitude": f"{site.longitude:.6f}"},
            "time_zone": site.time_zone, "evses": rendered_evses, "last_updated": max(updated),
            "opening_times": site.opening_times or {"twentyfourseven": True},
        }  # fmt: skip
        if site.postal_code:
            location["postal_code"] = site.postal_code
        if site.state:
            location["state"] = site.state
        out.append(location)
    return out


@get("/2.2.1/locations", dependencies={"caller": Provide(provide_registered_caller)})
async def list_locations(request: Request[Any, Any, Any], db: AsyncSession, caller: Caller) -> Response[bytes]:
    """Published locations, oldest change first (a change of the site or of anything it shows), paginated."""
    page = page_of(request)
    tenant_id = caller.partner.tenant_id
    where = [Site.tenant_id == tenant_id, Site.publish.is_(True), Site.home_person_id.is_(None)]
    if page.date_from is not None:
        where.append(Site.changed_at >= page.date_from)
    if page.date_to is not None:
        where.append(Site.changed_at < page.date_to)
    async with db.begin():
        total = int(await db.scalar(select(func.count()).select_from(Site).where(*where)) or 0)
        sites = (await db.execute(select(*Site.__table__.c).where(*where).order_by(Site.changed_at, Site.id)
                                  .offset(page.offset).limit(page.limit))).all()  # fmt: skip
        found = await render_locations(db, caller, sites)
    return answer(request, found, headers=page.headers(request, total))


@get("/2.2.1/locations/{location_id:str}", dependencies={"caller": Provide(provide_registered_caller)})
async def get_location(
    request: Request[Any, Any, Any], db: AsyncSession, caller: Caller, location_id: str
) -> Response[bytes]:
    try:
        site_id = uuid.UUID(location_id)
    except ValueError:
        raise OcpiError(UNKNOWN_LOCATION, f"unknown location {location_id}", 404) from None
    async with db.begin():
        site = (await db.execute(_published(caller.partner.tenant_id).where(Site.id == site_id))).scalar_one_or_none()
        if site is None:
            raise OcpiError(UNKNOWN_LOCATION, f"unknown location {location_id}", 404)
        found = await render_locations(db, caller, [site])
    return answer(request, found[0])


HANDLERS = [list_locations, get_location]
