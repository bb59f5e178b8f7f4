"""Bearer tokens, roles, revocation."""

from __future__ import annotations

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cpo.accounts.models import ApiToken
from tests.conftest import SITE, Tenancy

Client = AsyncTestClient[Litestar]


async def test_requests_without_a_valid_token_are_401(client: Client, tenant_a: Tenancy) -> None:
    for headers in (
        {},
        {"Authorization": "Bearer nope"},
        {"Authorization": "Basic YTpi"},
        {"Authorization": "Bearer "},
    ):
        response = await client.get("/api/v1/sites", headers=headers)
        assert response.status_code == 401, headers
        assert response.headers["www-authenticate"] == "Bearer"
        assert response.json()["detail"]


async def test_read_only_tokens_read_but_never_write(client: Client, tenant_a: Tenancy) -> None:
    assert (await client.get("/api/v1/sites", headers=tenant_a.read_only)).status_code == 200
    response = await client.post("/api/v1/sites", json=SITE, headers=tenant_a.read_only)
    assert response.status_code == 403
    assert (await client.get("/api/v1/sites", headers=tenant_a.admin)).json() == []
    assert (await client.get("/api/v1/tokens", headers=tenant_a.read_only)).status_code == 403


async def test_tokens_are_created_once_stored_hashed_and_revocable(
    client: Client, tenant_a: Tenancy, sessions: async_sessionmaker[AsyncSession]
) -> None:
    created = await client.post("/api/v1/tokens", json={"role": "read_only", "name": "grafana"}, headers=tenant_a.admin)
    assert created.status_code == 201
    body = created.json()
    token = body["token"]
    assert token.startswith("cpo_") and body["prefix"] == token[:10]
    async with sessions() as session:
        hashes = set((await session.execute(select(ApiToken.token_hash))).scalars())
    assert token not in hashes and all(len(h) == 64 for h in hashes)
    headers = {"Authorization": f"Bearer {token}"}
    assert (await client.get("/api/v1/sites", headers=headers)).status_code == 200
    listed = (await client.get("/api/v1/tokens", headers=tenant_a.admin)).json()
    assert all("token" not in t for t in listed) and "grafana" in {t["name"] for t in listed}
    assert (await client.delete(f"/api/v1/tokens/{body['id']}", headers=tenant_a.admin)).status_code == 204
    assert (await client.get("/api/v1/sites", headers=headers)).status_code == 401


async def test_tenant_admins_cannot_mint_platform_admin_tokens(client: Client, tenant_a: Tenancy) -> None:
    response = await client.post("/api/v1/tokens", json={"role": "platform_admin"}, headers=tenant_a.admin)
    assert response.status_code == 403
    past = await client.post(
        "/api/v1/tokens", json={"role": "read_only", "expires_at": "2020-01-01T00:00:00Z"}, headers=tenant_a.admin
    )
    assert past.status_code == 400 and past.json()["errors"][0]["field"] == "expires_at"
    naive = await client.post(
        "/api/v1/tokens", json={"role": "read_only", "expires_at": "2099-01-01T00:00:00"}, headers=tenant_a.admin
    )
    assert naive.status_code == 400
    response = await client.post("/api/v1/tokens", json={"role": "root"}, headers=tenant_a.admin)
    assert response.status_code == 400 and response.json()["errors"][0]["field"] == "role"


async def test_platform_admin_creates_tenants_and_slugs_are_unique(client: Client, tenant_a: Tenancy) -> None:
    body = {"slug": "acme-fleet", "name": "ACME Fleet", "country_code": "NL", "party_id": "ACM"}
    created = await client.post("/api/v1/tenants", json=body, headers=tenant_a.platform)
    assert created.status_code == 201 and created.json()["slug"] == "acme-fleet"
    again = await client.post("/api/v1/tenants", json=body, headers=tenant_a.platform)
    assert again.status_code == 409
    slugs = {t["slug"] for t in (await client.get("/api/v1/tenants", headers=tenant_a.platform)).json()}
    assert {"alpha", "acme-fleet"} <= slugs
    bad = await client.post("/api/v1/tenants", json=body | {"slug": "Bad Slug"}, headers=tenant_a.platform)
    assert bad.status_code == 400 and bad.json()["errors"][0]["field"] == "slug"
