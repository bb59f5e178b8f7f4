"""People over the admin API: the CSV import's dry run, and bad input that changes nothing."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cpo.accounts.service import create_api_token
from cpo.charging.models import ChargingSession
from cpo.charging.sessions import start_transaction_16
from cpo.sites.models import Station
from tests.conftest import SITE, Tenancy

Client = AsyncTestClient[Litestar]
CSV = "email,name,department\nan@acme.example,An Smets,Logistics\nbad-line,,\n"


async def test_the_people_import_is_a_dry_run_unless_asked_otherwise(
    client: Client, tenant_a: Tenancy, sessions: async_sessionmaker[AsyncSession]
) -> None:
    async with sessions() as session, session.begin():
        hr, _ = await create_api_token(session, tenant_a.id, "hr_manager", "hr")
        finance, _ = await create_api_token(session, tenant_a.id, "finance", "books")
    headers = {"Authorization": f"Bearer {hr}", "Content-Type": "text/csv"}
    dry = await client.post("/api/v1/people-import", content=CSV.encode(), headers=headers)
    assert dry.status_code == 200, dry.text
    report = dry.json()
    assert report["dry_run"] is True and report["created"] == ["an@acme.example"]
    assert report["groups_created"] == ["department: Logistics"] and report["refused"][0]["line"] == 3
    assert (await client.get("/api/v1/people", headers=headers)).json() == []
    done = await client.post(
        "/api/v1/people-import", params={"dry_run": "false"}, content=CSV.encode(), headers=headers
    )
    assert done.json()["created"] == ["an@acme.example"]
    assert [p["name"] for p in (await client.get("/api/v1/people", headers=headers)).json()] == ["An Smets"]
    again = await client.post("/api/v1/people-import", content=CSV.encode(), headers=headers)
    assert again.json()["unchanged"] == ["an@acme.example"]
    no_header = await client.post("/api/v1/people-import", content=b"who,what\n", headers=headers)
    assert no_header.status_code == 400 and no_header.json()["errors"][0]["field"] == "file"
    forbidden = await client.post(
        "/api/v1/people-import", content=CSV.encode(), headers={"Authorization": f"Bearer {finance}"}
    )
    assert forbidden.status_code == 403


async def test_a_session_is_booked_to_a_customer_project(
    client: Client, tenant_a: Tenancy, sessions: async_sessionmaker[AsyncSession]
) -> None:
    admin = tenant_a.admin
    site = (await client.post("/api/v1/sites", json=SITE, headers=admin)).json()
    station = (
        await client.post("/api/v1/stations", json={"site_id": site["id"], "identity": "P-1"}, headers=admin)
    ).json()
    department = (await client.post("/api/v1/groups", json={"kind": "department", "name": "Ops"}, headers=admin)).json()
    project = (
        await client.post("/api/v1/groups", json={"kind": "customer_project", "name": "Client X"}, headers=admin)
    ).json()
    person = (await client.post("/api/v1/people", json={"name": "Jo", "email": "jo@example.com",
                                                        "department_id": department["id"]}, headers=admin)).json()  # fmt: skip
    await client.post("/api/v1/badges", json={"uid": "0102AABB", "person_id": person["id"]}, headers=admin)
    async with sessions() as session, session.begin():
        row = await session.get(Station, uuid.UUID(station["id"]))
        assert row is not None
        started = await start_transaction_16(session, row, 1, "0102AABB", 0, datetime(2026, 11, 20, 9, tzinfo=UTC))
        session_id = (await session.execute(
            select(ChargingSession.id).where(ChargingSession.ocpp16_id == started.transaction_id))).scalar_one()  # fmt: skip
    before = (await client.get(f"/api/v1/sessions/{session_id}", headers=admin)).json()
    assert before["person_id"] == person["id"] and before["department_id"] == department["id"]
    wrong = await client.put(
        f"/api/v1/sessions/{session_id}/allocation", json={"project_id": department["id"]}, headers=admin
    )
    assert wrong.status_code == 400 and wrong.json()["errors"][0]["field"] == "project_id"
    booked = await client.put(
        f"/api/v1/sessions/{session_id}/allocation", json={"project_id": project["id"]}, headers=admin
    )
    assert booked.status_code == 200 and booked.json()["project_id"] == project["id"]
    assert booked.json()["department_id"] == department["id"]
    reader = await client.put(
        f"/api/v1/sessions/{session_id}/allocation", json={"project_id": None}, headers=tenant_a.read_only
    )
    assert reader.status_code == 403
