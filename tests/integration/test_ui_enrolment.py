"""The settings page: auto-registration only with an enrolment secret, made and shown once, removable."""

from __future__ import annotations

import re

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cpo.secrets import hash_token
from cpo.tenants.models import Tenant
from tests.integration.test_ui import sign_in

Client = AsyncTestClient[Litestar]


async def tenant_now(sessions: async_sessionmaker[AsyncSession]) -> Tenant:
    async with sessions() as session:
        return (await session.execute(select(Tenant))).scalar_one()


async def test_the_settings_page_turns_auto_registration_on_only_with_an_enrolment_secret(
    client: Client, ui_admin: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    csrf = await sign_in(client, ui_admin)
    ticked = await client.post("/ui/settings/tenant", data={"csrf": csrf, "auto_register_stations": "on"})
    assert ticked.status_code == 400 and "enrolment secret" in ticked.text
    assert not (await tenant_now(sessions)).auto_register_stations

    made = await client.post("/ui/settings/enrolment-secret", data={"csrf": csrf})
    assert made.status_code == 201
    shown = re.search(r'id="new-enrolment-secret">.*?<code>([^<]+)</code>', made.text, re.S)
    assert shown
    tenant = await tenant_now(sessions)
    assert tenant.auto_register_stations and tenant.enrolment_secret_hash == hash_token(shown.group(1))
    assert shown.group(1) not in (await client.get("/ui/settings")).text, "shown once"

    removed = await client.post("/ui/settings/enrolment-secret/remove", data={"csrf": csrf})
    assert removed.status_code == 200
    tenant = await tenant_now(sessions)
    assert tenant.enrolment_secret_hash is None and not tenant.auto_register_stations
