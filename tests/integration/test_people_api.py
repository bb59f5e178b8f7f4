"""People over the admin API: the CSV import's dry run, and bad input that changes nothing."""

from __future__ import annotations

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cpo.accounts.service import create_api_token
from tests.conftest import Tenancy

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
