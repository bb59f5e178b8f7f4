"""Stations in bulk from a CSV: what was created, and what was refused and why, line by line."""

from __future__ import annotations

import csv
import io
import math
import uuid
from dataclasses import dataclass, field

import msgspec
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cpo.errors import DomainError, InvalidInput
from cpo.sites import service
from cpo.sites.models import Site
from cpo.sites.schemas import ConnectorIn, EvseIn, SiteIn, StationIn
from cpo.sites.vocabulary import CONNECTOR_STANDARDS

DC_STANDARDS = {"CHADEMO", "CHAOJI", "GBT_DC", "IEC_62196_T1_COMBO", "IEC_62196_T2_COMBO", "TESLA_S"}
SOCKET_STANDARDS = {"IEC_62196_T2", "IEC_62196_T3A", "IEC_62196_T3C"}


@dataclass
class StationImportReport:
    created: list[str] = field(default_factory=list)
    sites_created: list[str] = field(default_factory=list)
    refused: list[tuple[int, str]] = field(default_factory=list)


def _connector(standard: str, max_power_kw: float | None) -> ConnectorIn:
    watts = int(max_power_kw * 1000) if max_power_kw else None
    if standard in DC_STANDARDS:
        volts, power_type = 920, "DC"
        amps = math.ceil(watts / volts) if watts else 200
    else:
        volts, power_type = 400, "AC_3_PHASE"
        amps = math.ceil(watts / (volts * math.sqrt(3))) if watts else 32
    return msgspec.convert(
        {"standard": standard, "format": "SOCKET" if standard in SOCKET_STANDARDS else "CABLE",
         "power_type": power_type, "max_voltage": volts, "max_amperage": amps, "max_electric_power": watts},
        ConnectorIn,
    )  # fmt: skip


async def _site_named(session: AsyncSession, tenant_id: uuid.UUID, name: str) -> tuple[Site, bool]:
    site = (
        await session.execute(select(Site).where(Site.tenant_id == tenant_id, Site.name == name).limit(1))
    ).scalar_one_or_none()
    if site is not None:
        return site, False
    # A site made from a name alone: internal, with placeholders for the admin to complete.
    placeholder = SiteIn(
        name=name, address="-", city="-", country="BEL", latitude=0.0, longitude=0.0, time_zone="Europe/Brussels"
    )
    return await service.create_site(session, tenant_id, placeholder), True


async def import_stations(session: AsyncSession, tenant_id: uuid.UUID, text: str) -> StationImportReport:
    """Columns ``id``, ``password``, ``site``; optional ``evses``, ``connector_type``, ``max_power_kw``."""
    reader = csv.DictReader(io.StringIO(text))
    missing = {"id", "password", "site"} - set(reader.fieldnames or [])
    if missing:
        raise InvalidInput("file", f"the header lacks {', '.join(sorted(missing))}")
    report = StationImportReport()
    for line, row in enumerate(reader, start=2):
        identity, site_name = (row.get("id") or "").strip(), (row.get("site") or "").strip()
        try:
            if not site_name:
                raise InvalidInput("site", "empty")
            evses = int(row.get("evses") or 1)
            if not 1 <= evses <= 20:
                raise InvalidInput("evses", "between 1 and 20")
            standard = (row.get("connector_type") or "IEC_62196_T2").strip()
            if standard not in CONNECTOR_STANDARDS:
                raise InvalidInput("connector_type", f"not an OCPI connector standard: {standard}")
            power = float(row["max_power_kw"]) if (row.get("max_power_kw") or "").strip() else None
            if power is not None and not 0 < power <= 2000:
                raise InvalidInput("max_power_kw", "between 0 and 2000")
            connector = _connector(standard, power)
            async with session.begin_nested():
                site, new_site = await _site_named(session, tenant_id, site_name)
                data = msgspec.convert(
                    {"site_id": str(site.id), "identity": identity, "password": (row.get("password") or "").strip()},
                    StationIn,
                )
                station, _ = await service.create_station(session, tenant_id, data)
                for number in range(1, evses + 1):
                    evse = await service.create_evse(session, tenant_id, station.id, EvseIn(ocpp_evse_id=number))
                    await service.create_connector(session, tenant_id, evse.id, connector)
            report.created.append(identity)
            if new_site:
                report.sites_created.append(site_name)
        except (DomainError, ValueError, msgspec.ValidationError) as error:
            report.refused.append((line, f"{identity or '(no id)'}: {error}"))
    return report
