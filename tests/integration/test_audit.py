"""The audit log: who changed what, before and after, no secrets, append-only, readable and exportable."""

from __future__ import annotations

import csv
import io

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cpo.accounts.service import create_api_token
from tests.conftest import SITE, Tenancy

Client = AsyncTestClient[Litestar]


async def test_changes_are_recorded_with_their_author_and_without_secrets(
    client: Client, tenant_a: Tenancy, sessions: async_sessionmaker[AsyncSession]
) -> None:
    admin = tenant_a.admin
    site = (await client.post("/api/v1/sites", json=SITE, headers=admin)).json()
    await client.put(f"/api/v1/sites/{site['id']}", json=SITE | {"name": "Renamed"}, headers=admin)
    station = (
        await client.post("/api/v1/stations", json={"site_id": site["id"], "identity": "AU-1"}, headers=admin)
    ).json()
    person = (
        await client.post("/api/v1/people", json={"name": "Piet", "email": "piet@example.com"}, headers=admin)
    ).json()
    badge = (
        await client.post("/api/v1/badges", json={"uid": "AA11BB22", "person_id": person["id"]}, headers=admin)
    ).json()
    await client.post(f"/api/v1/badges/{badge['id']}/block", headers=admin)

    log = (await client.get("/api/v1/audit", headers=admin)).json()
    actors = {entry["actor"] for entry in log}
    assert len(actors) == 1 and actors.pop().startswith("token:")
    renamed = [e for e in log if e["entity"] == "sites" and e["action"] == "update"]
    assert renamed and renamed[0]["before"]["name"] == "Head office" and renamed[0]["after"]["name"] == "Renamed"
    created = next(e for e in log if e["entity"] == "stations" and e["action"] == "create")
    assert created["entity_id"] == station["id"] and "password_hash" not in created["after"]
    blocked = [e for e in log if e["entity"] == "badges" and e["action"] == "update"]
    assert blocked[-1]["before"] == {"status": "active"} and blocked[-1]["after"] == {"status": "blocked"}
    assert "uid_key" not in next(e for e in log if e["entity"] == "badges")["after"]

    only_badges = (await client.get("/api/v1/audit", params={"entity": "badges"}, headers=admin)).json()
    assert {e["entity"] for e in only_badges} == {"badges"}
    page = (await client.get("/api/v1/audit", params={"limit": 2, "after_id": log[0]["id"]}, headers=admin)).json()
    assert [e["id"] for e in page] == [e["id"] for e in log[1:3]]

    exported = await client.get("/api/v1/audit/export.csv", headers=admin)
    assert exported.status_code == 200 and exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert len(rows) == len(log) and rows[0]["entity"] == log[0]["entity"]

    async with sessions() as session, session.begin():
        finance, _ = await create_api_token(session, tenant_a.id, "finance", "books")
    assert (await client.get("/api/v1/audit", headers={"Authorization": f"Bearer {finance}"})).status_code == 200
    assert (await client.get("/api/v1/audit", headers=tenant_a.read_only)).status_code == 403


async def test_the_log_refuses_updates_and_deletes(
    client: Client, tenant_a: Tenancy, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await client.post("/api/v1/sites", json=SITE, headers=tenant_a.admin)
    for statement in ("UPDATE audit_log SET actor = 'someone else'", "DELETE FROM audit_log"):
        with pytest.raises(DBAPIError, match="append-only"):
            async with sessions() as session, session.begin():
                await session.execute(text(statement))
    async with sessions() as session:
        assert await session.scalar(text("SELECT count(*) FROM audit_log WHERE actor LIKE 'token:%'")) >= 1
