"""The database itself refuses links across tenants, whatever the code above it does."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cpo.sites.models import Site, Station
from cpo.tenants.service import create_tenant


async def test_a_station_cannot_point_at_another_tenants_site(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions() as session, session.begin():
        a = await create_tenant(session, "a-corp", "A")
        b = await create_tenant(session, "b-corp", "B")
        site = Site(
            id=uuid.uuid4(), tenant_id=a.id, name="A site", address="x", city="y", country="BEL",
            latitude=0, longitude=0, time_zone="UTC", opening_times={"twentyfourseven": True},
        )  # fmt: skip
        session.add(site)
    with pytest.raises(IntegrityError, match="fk_stations_tenant_id_site_id_sites"):
        async with sessions() as session, session.begin():
            session.add(Station(id=uuid.uuid4(), tenant_id=b.id, site_id=site.id, identity="B-sneaky"))
