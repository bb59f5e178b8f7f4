"""GDPR: export everything about a person; erase them while the sessions' figures stay; purge by retention."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cpo.charging.models import ChargingSession, MeterSample
from cpo.charging.sessions import start_transaction_16, stop_transaction_16
from cpo.people.gdpr import purge_expired
from cpo.sites.models import Station
from cpo.tariffs.models import Cdr
from cpo.tariffs.service import issue_cdr
from tests.conftest import SITE, Tenancy

Client = AsyncTestClient[Litestar]
NAME, EMAIL, UID = "Marie Curie", "marie.curie@example.com", "CAFE0001"


async def charge(sessions: async_sessionmaker[AsyncSession], station_id: str, start: datetime, wh: int) -> uuid.UUID:
    async with sessions() as session, session.begin():
        station = await session.get(Station, uuid.UUID(station_id))
        assert station is not None
        started = await start_transaction_16(session, station, 1, UID, 1000, start)
        await stop_transaction_16(session, station, started.transaction_id, 1000 + wh, start + timedelta(hours=1),
                                  "Local", UID, [], {})  # fmt: skip
        return (
            await session.execute(select(ChargingSession.id).where(ChargingSession.ocpp16_id == started.transaction_id))
        ).scalar_one()


async def test_export_then_erasure_keeps_the_sessions_and_their_totals(
    client: Client, tenant_a: Tenancy, sessions: async_sessionmaker[AsyncSession]
) -> None:
    admin = tenant_a.admin
    site = (await client.post("/api/v1/sites", json=SITE, headers=admin)).json()
    station = (
        await client.post("/api/v1/stations", json={"site_id": site["id"], "identity": "G-1"}, headers=admin)
    ).json()
    person = (await client.post("/api/v1/people", json={"name": NAME, "email": EMAIL}, headers=admin)).json()
    await client.post(
        "/api/v1/badges", json={"uid": UID, "person_id": person["id"], "label": "Marie's card"}, headers=admin
    )
    await client.post("/api/v1/access-rules", json={"name": "Any time", "person_id": person["id"]}, headers=admin)
    tariff = (await client.post("/api/v1/tariffs", headers=admin, json={
        "code": "G", "name": "G", "currency": "EUR", "valid_from": "2026-01-01T00:00:00Z",
        "body": {"elements": [{"price_components": [{"type": "ENERGY", "price": "0.30", "vat": "21", "step_size": 1}]}]},
    })).json()  # fmt: skip
    await client.post("/api/v1/tariff-assignments", json={"tariff_id": tariff["id"], "audience": "internal"},
                      headers=admin)  # fmt: skip
    first = await charge(sessions, station["id"], datetime(2026, 11, 2, 8, tzinfo=UTC), 12_500)
    second = await charge(sessions, station["id"], datetime(2026, 11, 3, 8, tzinfo=UTC), 7_250)
    async with sessions() as session, session.begin():
        for done in (first, second):
            assert await issue_cdr(session, done) is not None

    exported = await client.get(f"/api/v1/people/{person['id']}/personal-data", headers=admin)
    assert exported.status_code == 200
    data = exported.json()
    assert data["person"]["name"] == NAME and data["badges"][0]["uid"] == UID and len(data["sessions"]) == 2
    assert {s["energy_wh"] for s in data["sessions"]} == {"12500.000", "7250.000"}
    assert data["access_rules"][0]["name"] == "Any time" and data["audit"]
    assert "uid_key" not in data["badges"][0]
    assert sorted(Decimal(c["total_excl"]) for c in data["cdrs"]) == [Decimal("2.175"), Decimal("3.75")]

    async def totals() -> tuple[int, Decimal, Decimal, Decimal]:
        async with sessions() as session:
            row = (await session.execute(select(func.count(), func.sum(ChargingSession.energy_wh)).where(
                ChargingSession.tenant_id == tenant_a.id, ChargingSession.status == "completed"))).one()  # fmt: skip
            money = (await session.execute(select(func.sum(Cdr.total_excl), func.sum(Cdr.total_incl)).where(
                Cdr.tenant_id == tenant_a.id))).one()  # fmt: skip
            return int(row[0]), Decimal(row[1]), money[0], money[1]

    before = await totals()
    erased = await client.delete(f"/api/v1/people/{person['id']}/personal-data", headers=admin)
    assert erased.status_code == 200, erased.text
    assert erased.json() == {"sessions_kept": 2, "badges_removed": 1, "accounts_removed": 0, "home_addresses_erased": 0}
    assert await totals() == before == (2, Decimal("19750"), Decimal("5.925"), Decimal("7.1693"))

    after = (await client.get(f"/api/v1/people/{person['id']}", headers=admin)).json()
    assert after["erased"] is True and after["name"].startswith("anon-") and after["email"] is None
    async with sessions() as session:
        kept = await session.get(ChargingSession, first)
        assert kept is not None and kept.person_id is None and kept.badge_id is None
        assert kept.id_tag is not None and kept.id_tag.startswith("anon-") and kept.energy_wh == Decimal(12_500)
        for needle in (NAME, EMAIL, UID, "Marie's card"):
            found = await session.scalar(
                text(
                    "SELECT (SELECT count(*) FROM audit_log WHERE before::text ILIKE :n OR after::text ILIKE :n)"
                    " + (SELECT count(*) FROM people WHERE name ILIKE :n OR email ILIKE :n OR user_name ILIKE :n)"
                    " + (SELECT count(*) FROM badges WHERE uid ILIKE :n OR label ILIKE :n)"
                    " + (SELECT count(*) FROM charging_sessions WHERE id_tag ILIKE :n)"
                    " + (SELECT count(*) FROM cdrs WHERE cdr_token::text ILIKE :n)"
                ),
                {"n": f"%{needle}%"},
            )
            assert found == 0, f"{needle!r} is still stored"
    assert (await client.get("/api/v1/badges", params={"person_id": person["id"]}, headers=admin)).json() == []
    erasure = (
        await client.get("/api/v1/audit", params={"entity": "people", "entity_id": person["id"]}, headers=admin)
    ).json()
    assert erasure[-1]["action"] == "erase" and erasure[-1]["after"]["sessions_kept"] == 2


async def test_raw_meter_samples_past_retention_are_purged_and_sessions_stay(
    client: Client, tenant_a: Tenancy, sessions: async_sessionmaker[AsyncSession]
) -> None:
    admin = tenant_a.admin
    site = (await client.post("/api/v1/sites", json=SITE, headers=admin)).json()
    station = (
        await client.post("/api/v1/stations", json={"site_id": site["id"], "identity": "G-2"}, headers=admin)
    ).json()
    await client.post("/api/v1/badges", json={"uid": UID}, headers=admin)
    now = datetime.now(UTC)
    old = await charge(sessions, station["id"], now - timedelta(days=400), 1_000)
    recent = await charge(sessions, station["id"], now - timedelta(days=10), 2_000)
    async with sessions() as session, session.begin():
        for session_id, at in ((old, now - timedelta(days=400)), (recent, now - timedelta(days=10))):
            session.add(MeterSample(tenant_id=tenant_a.id, station_id=uuid.UUID(station["id"]), session_id=session_id,
                                    sampled_at=at, measurand="Energy.Active.Import.Register", raw_value="1", value=1))  # fmt: skip
    changed = await client.patch("/api/v1/tenants/current", json={"meter_sample_retention_days": 365}, headers=admin)
    assert changed.status_code == 200 and changed.json()["meter_sample_retention_days"] == 365
    async with sessions() as session, session.begin():
        purged = await purge_expired(session, now)
    assert purged["meter_samples"] == 1
    async with sessions() as session:
        left = (await session.execute(select(MeterSample.session_id))).scalars().all()
        assert left == [recent]
        assert await session.get(ChargingSession, old) is not None
    refused = await client.patch("/api/v1/tenants/current", json={"meter_sample_retention_days": 0}, headers=admin)
    assert refused.status_code == 400
    assert (await client.patch("/api/v1/tenants/current", json={}, headers=tenant_a.read_only)).status_code == 403
