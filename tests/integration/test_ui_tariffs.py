"""Tariffs and billing in the UI: the editor and its preview, where a tariff applies, CDRs, allocation."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cpo.accounts.models import Account
from cpo.charging.models import ChargingSession
from cpo.charging.sessions import start_transaction_16, stop_transaction_16
from cpo.sites.models import Station
from cpo.tariffs.service import issue_cdr
from tests.integration.test_ui import SITE_FORM, sign_in

Client = AsyncTestClient[Litestar]
Sessions = async_sessionmaker[AsyncSession]
SIMPLE = {"name": "Public AC", "code": "PUB-AC", "currency": "EUR", "mode": "simple", "vat": "21",
          "start_fee": "0.50", "energy_price": "0,39", "night_energy_price": "0.25", "night_from": "22:00",
          "night_to": "07:00", "parking_price": "6", "parking_step_minutes": "15", "zone": "Europe/Brussels",
          "valid_from": "2026-01-01T00:00"}  # fmt: skip


async def test_a_tariff_is_made_with_the_simple_form_previewed_and_applied_to_a_site(
    client: Client, ui_admin: str
) -> None:
    csrf = await sign_in(client, ui_admin)
    assert (await client.get("/ui/tariffs/new")).status_code == 200
    bad = await client.post("/ui/tariffs/new", data=SIMPLE | {"csrf": csrf, "energy_price": "cheap"})
    assert bad.status_code == 400 and "energy_price" in bad.text and "a number" in bad.text
    no_hours = await client.post("/ui/tariffs/new", data=SIMPLE | {"csrf": csrf, "night_from": ""})
    assert no_hours.status_code == 400 and "night_from" in no_hours.text
    made = await client.post("/ui/tariffs/new", data=SIMPLE | {"csrf": csrf})
    assert made.status_code == 200 and "PUB-AC" in made.text, made.text
    page = made.text
    # the editor comes back filled in from the stored version
    assert 'name="energy_price" value="0.39"' in page and 'name="parking_step_minutes" value="15"' in page

    # the live preview: 60 min, 20 kWh from 18:00, parked 20 min: 0.50 + 20 x 0.39 + 30 min x 6/h = 11.30 excl.
    preview = await client.post("/ui/tariffs/preview", data=SIMPLE | {
        "csrf": csrf, "preview_start": "2026-12-01T18:00", "preview_minutes": "60", "preview_kwh": "20",
        "preview_parking": "20"}, headers={"X-Live": "1"})  # fmt: skip
    assert preview.status_code == 200 and "EUR 13.67 incl. VAT (11.30 excl.)" in preview.text, preview.text
    broken = await client.post("/ui/tariffs/preview", data=SIMPLE | {"csrf": csrf, "vat": "200"})
    assert broken.status_code == 200 and "vat" in broken.text and 'role="alert"' in broken.text

    await client.post("/ui/sites/new", data=SITE_FORM | {"csrf": csrf})
    path = str(made.url)[str(made.url).index("/ui/tariffs/") :]
    page = (await client.get(path)).text
    site = re.search(r'<option value="(site:[0-9a-f-]{36})">Depot Zwijnaarde', page)
    assert site is not None
    applied = await client.post(f"{path}/assignments", data={"csrf": csrf, "audience": "public", "place": site[1]})
    assert applied.status_code == 200 and "Depot Zwijnaarde" in applied.text
    twice = await client.post(f"{path}/assignments", data={"csrf": csrf, "audience": "public", "place": site[1]})
    assert twice.status_code == 400 and "already has a tariff" in twice.text
    listing = (await client.get("/ui/tariffs")).text
    assert "PUB-AC" in listing and "Public" in listing

    later = (datetime.now(UTC) + timedelta(days=10)).strftime("%Y-%m-%dT%H:%M")
    version = await client.post(f"{path}/versions", data=SIMPLE | {"csrf": csrf, "energy_price": "0.42",
                                                                   "valid_from": later})  # fmt: skip
    assert version.status_code == 200 and "Planned" in version.text


async def test_cdrs_are_listed_shown_credited_and_allocated_in_the_ui(
    client: Client, ui_admin: str, sessions: Sessions
) -> None:
    csrf = await sign_in(client, ui_admin)
    await client.post("/ui/sites/new", data=SITE_FORM | {"csrf": csrf})
    made = await client.post("/ui/tariffs/new", data=SIMPLE | {"csrf": csrf, "night_energy_price": "",
                                                               "parking_price": ""})  # fmt: skip
    path = str(made.url)[str(made.url).index("/ui/tariffs/") :]
    await client.post(f"{path}/assignments", data={"csrf": csrf, "audience": "internal", "place": ""})
    async with sessions() as session, session.begin():
        admin = (await session.execute(select(Account))).scalars().first()
        assert admin is not None
        site_id = (await session.execute(text_site())).scalar_one()
        station = Station(id=uuid.uuid4(), tenant_id=admin.tenant_id, site_id=site_id, identity="UI-B-1")
        session.add(station)
        await session.flush()
        start = datetime(2026, 11, 4, 8, tzinfo=UTC)
        started = await start_transaction_16(session, station, 1, "ANYBADGE", 0, start)
        await stop_transaction_16(session, station, started.transaction_id, 10_000, start + timedelta(hours=1),
                                  None, None, [], {})  # fmt: skip
        charging = (await session.execute(select(ChargingSession))).scalars().one()
    # an unknown badge was refused, so nothing is billed; a known company badge is
    assert charging.status == "refused"
    async with sessions() as session, session.begin():
        from cpo.access.badges import create_badge
        from cpo.access.schemas import BadgeIn

        await create_badge(session, admin.tenant_id, BadgeIn(uid="C0FFEE01"))
        station = (await session.execute(select(Station))).scalars().one()
        started = await start_transaction_16(session, station, 1, "C0FFEE01", 0, start)
        await stop_transaction_16(session, station, started.transaction_id, 10_000, start + timedelta(hours=1),
                                  None, None, [], {})  # fmt: skip
        done = (await session.execute(select(ChargingSession).where(
            ChargingSession.ocpp16_id == started.transaction_id))).scalar_one()  # fmt: skip
        cdr = await issue_cdr(session, done.id)
        assert cdr is not None, (done.status, done.pricing, done.pricing_note, done.session_class)
    listing = await client.get("/ui/cdrs")
    assert listing.status_code == 200 and cdr.ocpi_id in listing.text and "Internal" in listing.text
    detail = await client.get(f"/ui/cdrs/{cdr.id}")
    assert 'id="cdr-total-excl">4.4000' in detail.text  # 0.50 + 10 kWh x 0.39
    credited = await client.post(f"/ui/cdrs/{cdr.id}/credit", data={"csrf": csrf, "reason": "test", "reissue": "on"})
    assert credited.status_code == 200 and 'id="cdr-total-excl">4.4000' in credited.text
    original = await client.get(f"/ui/cdrs/{cdr.id}")
    assert "Credited by" in original.text and "Correct this CDR" not in original.text
    allocation = await client.get("/ui/billing/allocation", params={"month": "2026-11"})
    assert allocation.status_code == 200 and "Not allocated" in allocation.text and "4.40" in allocation.text
    exported = await client.get("/ui/billing/allocation.csv", params={"month": "2026-11"})
    assert exported.status_code == 200 and "unallocated" in exported.text
    assert (await client.get("/ui/billing/allocation", params={"month": "2026-99"})).status_code == 400


def text_site():  # type: ignore[no-untyped-def]
    from cpo.sites.models import Site

    return select(Site.id).limit(1)
