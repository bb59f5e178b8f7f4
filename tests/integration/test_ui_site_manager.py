"""A site manager in the UI may do exactly what the API lets them: edit their sites, create none, and neither
see people's names nor choose whose home a site is (that takes ``people.read``)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cpo.accounts.service import create_account, create_api_token
from cpo.people.models import Person
from cpo.sites.models import Site
from cpo.tenants.service import ensure_tenant
from tests.conftest import ADMIN_PASSWORD, SITE
from tests.integration.test_ui import SITE_FORM, sign_in

Client = AsyncTestClient[Litestar]
Sessions = async_sessionmaker[AsyncSession]
MANAGER = "manager@example.com"
EMPLOYEE = "Evelien Verhaegen"


@pytest.fixture
async def depot(client: Client, sessions: Sessions) -> dict[str, Any]:
    """A site with a site manager (a UI account and an API token) and a person of the tenant."""
    async with sessions() as session, session.begin():
        tenant = await ensure_tenant(session, "default")
        site = Site(
            id=uuid.uuid4(), tenant_id=tenant.id, name="Depot Zwijnaarde", address="Technologiepark 1", city="Gent",
            country="BEL", latitude=51.0104, longitude=3.708, time_zone="Europe/Brussels",
            opening_times={"twentyfourseven": True},
        )  # fmt: skip
        person = Person(
            id=uuid.uuid4(), tenant_id=tenant.id, name=EMPLOYEE, email="evelien@example.com", user_name="evelien"
        )
        session.add_all([site, person])
        await session.flush()
        await create_account(session, tenant.id, MANAGER, "Manager", ADMIN_PASSWORD, "site_manager", site_ids=[site.id])
        token, _ = await create_api_token(session, tenant.id, "site_manager", "manager", site_ids=[site.id])
    return {"site": site.id, "person": person.id, "bearer": {"Authorization": f"Bearer {token}"}}


async def test_a_site_manager_creates_no_sites_in_the_ui_as_in_the_api(
    client: Client, depot: dict[str, Any], sessions: Sessions
) -> None:
    api = await client.post("/api/v1/sites", json=SITE, headers=depot["bearer"])
    assert api.status_code == 403
    csrf = await sign_in(client, MANAGER)
    assert (await client.get("/ui/sites/new")).status_code == 403
    created = await client.post("/ui/sites/new", data=SITE_FORM | {"csrf": csrf})
    assert created.status_code == 403
    assert "/ui/sites/new" not in (await client.get("/ui/sites")).text
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Site)) == 1


async def test_a_site_manager_sees_no_names_of_people_in_the_site_form(
    client: Client, depot: dict[str, Any], ui_admin: str
) -> None:
    await sign_in(client, ui_admin)
    assert EMPLOYEE in (await client.get(f"/ui/sites/{depot['site']}")).text  # an admin may choose a person
    await client.post("/ui/logout", data={"csrf": await sign_in(client, ui_admin)})
    client.cookies.clear()
    await sign_in(client, MANAGER)
    page = await client.get(f"/ui/sites/{depot['site']}")
    assert page.status_code == 200 and EMPLOYEE not in page.text and 'name="home_person_id"' not in page.text


async def test_a_site_manager_cannot_choose_whose_home_a_site_is(
    client: Client, depot: dict[str, Any], sessions: Sessions
) -> None:
    site_path = f"/ui/sites/{depot['site']}"
    api = await client.put(f"/api/v1/sites/{depot['site']}", json=SITE | {"home_person_id": str(depot["person"])},
                           headers=depot["bearer"])  # fmt: skip
    assert api.status_code == 403
    csrf = await sign_in(client, MANAGER)
    forged = await client.post(site_path, data=SITE_FORM | {"csrf": csrf, "home_person_id": str(depot["person"])})
    assert forged.status_code == 403
    async with sessions() as session:
        assert (await session.get(Site, depot["site"])).home_person_id is None  # type: ignore[union-attr]
    # what they may change, they change; the home (set by someone who may) stays as it was
    async with sessions() as session, session.begin():
        site = await session.get(Site, depot["site"])
        assert site is not None
        site.home_person_id = depot["person"]
    saved = await client.post(site_path, data=SITE_FORM | {"csrf": csrf, "name": "Depot Zwijnaarde 2"})
    assert saved.status_code == 200, saved.text
    async with sessions() as session:
        site = await session.get(Site, depot["site"])
        assert site is not None and site.name == "Depot Zwijnaarde 2" and site.home_person_id == depot["person"]
