"""The demo a newcomer sees: one site, simulated stations, a few badges (refreshed on every start)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from cpo.access.models import Badge
from cpo.access.tokens import uid_key
from cpo.secrets import hash_station_password_async, new_station_password
from cpo.sites import service
from cpo.sites.models import Site, Station
from cpo.sites.schemas import ConnectorIn, EvseIn, OpeningTimes, RegularHours, SiteIn, StationIn

DEMO_SITE = "Demo site Gent"
DEMO_BADGES = ("DEMO0001", "DEMO0002", "DEMO0003", "DEMO0004")
BLOCKED_BADGE = "DEMO0BAD"


@dataclass(frozen=True)
class DemoStation:
    identity: str
    password: str
    version: str


async def prepare_demo(session: AsyncSession, tenant_id: uuid.UUID, count: int = 10) -> list[DemoStation]:
    """Create what is missing and give every demo station a fresh password; returns how to connect them."""
    site = (
        await session.execute(select(Site).where(Site.tenant_id == tenant_id, Site.name == DEMO_SITE))
    ).scalar_one_or_none()
    if site is None:
        office_hours = [RegularHours(weekday=d, period_begin="07:00", period_end="19:00") for d in range(1, 6)]
        site = await service.create_site(
            session,
            tenant_id,
            SiteIn(
                name=DEMO_SITE, address="Kortrijksesteenweg 1", city="Gent", postal_code="9000", country="BEL",
                latitude=51.0389, longitude=3.7166, time_zone="Europe/Brussels", publish=True,
                opening_times=OpeningTimes(twentyfourseven=False, regular_hours=office_hours),
            ),
        )  # fmt: skip
    stations = []
    for number in range(1, count + 1):
        identity = f"DEMO-{number:02d}"
        version = "1.6" if number % 2 else "2.0.1"
        station = (await session.execute(select(Station).where(Station.identity == identity))).scalar_one_or_none()
        password = new_station_password()
        if station is None:
            station, _ = await service.create_station(
                session, tenant_id, StationIn(site_id=site.id, identity=identity, password=password)
            )
            evse = await service.create_evse(
                session,
                tenant_id,
                station.id,
                EvseIn(ocpp_evse_id=1, evse_id=f"BE*DEM*E{number:04d}", public=number > 6),
            )
            await service.create_connector(
                session, tenant_id, evse.id,
                ConnectorIn(standard="IEC_62196_T2", format="SOCKET", power_type="AC_3_PHASE", max_voltage=400,
                            max_amperage=32, max_electric_power=22000),
            )  # fmt: skip
        elif station.tenant_id == tenant_id:
            station.password_hash = await hash_station_password_async(password)
        else:
            continue  # the identity belongs to another tenant: leave it alone
        stations.append(DemoStation(identity, password, version))
    await _demo_tariffs(session, tenant_id)
    for uid, status in [(uid, "active") for uid in DEMO_BADGES] + [(BLOCKED_BADGE, "blocked")]:
        await session.execute(
            insert(Badge)
            .values(id=uuid.uuid4(), tenant_id=tenant_id, uid=uid, uid_key=uid_key(uid), status=status)
            .on_conflict_do_nothing(index_elements=["tenant_id", "uid_key"])
        )
    return stations


DEMO_TARIFFS = {
    # employees at work: EUR 0.24/kWh, 21% VAT
    ("DEMO-INTERNAL", "internal"): {"elements": [{"price_components": [
        {"type": "ENERGY", "price": "0.24", "vat": "21", "step_size": 1}]}]},
    # everyone else: a start fee, a day and a night price, parking after charging
    ("DEMO-PUBLIC", "public"): {"elements": [
        {"price_components": [{"type": "FLAT", "price": "0.50", "vat": "21", "step_size": 1}]},
        {"price_components": [{"type": "ENERGY", "price": "0.29", "vat": "21", "step_size": 1}],
         "restrictions": {"start_time": "22:00", "end_time": "07:00"}},
        {"price_components": [{"type": "ENERGY", "price": "0.45", "vat": "21", "step_size": 1}]},
        {"price_components": [{"type": "PARKING_TIME", "price": "3.00", "vat": "21", "step_size": 900}]},
    ]},
}  # fmt: skip


async def _demo_tariffs(session: AsyncSession, tenant_id: uuid.UUID) -> None:
    """The demo's tariffs, so its sessions show a cost and end in CDRs (created once)."""
    from datetime import UTC, datetime

    import msgspec

    from cpo.tariffs import service as tariffs
    from cpo.tariffs.models import Tariff
    from cpo.tariffs.schemas import AssignmentIn, TariffBody, TariffIn

    for (code, audience), body in DEMO_TARIFFS.items():
        found = await session.execute(select(Tariff).where(Tariff.tenant_id == tenant_id, Tariff.code == code))
        if found.scalar_one_or_none() is not None:
            continue
        tariff = await tariffs.create_tariff(session, tenant_id, TariffIn(
            code=code, name=code.replace("-", " ").title(), currency="EUR",
            body=msgspec.convert(body, TariffBody, strict=False), valid_from=datetime(2020, 1, 1, tzinfo=UTC)))  # fmt: skip
        await tariffs.assign(session, tenant_id, AssignmentIn(tariff_id=tariff.id, audience=audience))  # type: ignore[arg-type]
