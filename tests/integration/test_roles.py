"""Every role against a sample of endpoints: what it may see, what it may change, and a site manager's sites."""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cpo.accounts.service import create_api_token
from tests.conftest import SITE, Tenancy

Client = AsyncTestClient[Litestar]
ROLES = ("tenant_admin", "site_manager", "hr_manager", "finance", "read_only", "scim")


async def test_each_role_may_do_what_it_is_for_and_nothing_more(
    client: Client, tenant_a: Tenancy, sessions: async_sessionmaker[AsyncSession]
) -> None:
    admin = tenant_a.admin
    one = (await client.post("/api/v1/sites", json=SITE, headers=admin)).json()
    two = (await client.post("/api/v1/sites", json=SITE | {"name": "Depot"}, headers=admin)).json()
    station_one = (
        await client.post("/api/v1/stations", json={"site_id": one["id"], "identity": "R-1"}, headers=admin)
    ).json()
    station_two = (
        await client.post("/api/v1/stations", json={"site_id": two["id"], "identity": "R-2"}, headers=admin)
    ).json()
    badge = (await client.post("/api/v1/badges", json={"uid": "0123ABCD"}, headers=admin)).json()
    headers: dict[str, dict[str, str]] = {"tenant_admin": admin}
    async with sessions() as session, session.begin():
        for role in ROLES[1:]:
            sites = [uuid.UUID(one["id"])] if role == "site_manager" else None
            token, _ = await create_api_token(session, tenant_a.id, role, role, site_ids=sites)  # type: ignore[arg-type]
            headers[role] = {"Authorization": f"Bearer {token}"}

    station_update = {"site_id": one["id"], "security_profile": 1, "registration_status": "Accepted"}
    person = {"name": "New Hire", "email": "new.hire@example.com"}
    tariff = {
        "code": "R",
        "name": "R",
        "currency": "EUR",
        "body": {"elements": [{"price_components": [{"type": "FLAT", "price": "1", "step_size": 1}]}]},
    }
    # (method, path, body) -> expected status per role, in the order of ROLES
    matrix: list[tuple[str, str, Any, tuple[int, ...]]] = [
        ("GET", "/api/v1/sites", None, (200, 200, 200, 200, 200, 403)),
        ("POST", "/api/v1/sites", SITE | {"name": "New"}, (201, 403, 403, 403, 403, 403)),
        ("GET", f"/api/v1/stations/{station_two['id']}", None, (200, 404, 200, 200, 200, 403)),
        ("GET", f"/api/v1/stations/{station_one['id']}", None, (200, 200, 200, 200, 200, 403)),
        ("PUT", f"/api/v1/stations/{station_one['id']}", station_update, (200, 200, 403, 403, 403, 403)),
        ("PUT", f"/api/v1/stations/{station_two['id']}", station_update | {"site_id": two["id"]}, (200, 404, 403, 403, 403, 403)),
        ("POST", f"/api/v1/stations/{station_one['id']}/commands", {"name": "reset"}, (201, 201, 403, 403, 403, 403)),
        ("POST", f"/api/v1/stations/{station_two['id']}/commands", {"name": "reset"}, (201, 404, 403, 403, 403, 403)),
        ("GET", "/api/v1/people", None, (200, 403, 200, 200, 200, 403)),
        ("POST", "/api/v1/people", person, (201, 403, 201, 403, 403, 403)),
        ("POST", f"/api/v1/badges/{badge['id']}/block", None, (200, 403, 200, 403, 403, 403)),
        ("GET", "/api/v1/sessions", None, (200, 200, 200, 200, 200, 403)),
        ("GET", "/api/v1/tokens", None, (200, 403, 403, 403, 403, 403)),
        ("GET", "/api/v1/tariffs", None, (200, 200, 403, 200, 200, 403)),
        ("POST", "/api/v1/tariffs", tariff, (201, 403, 403, 403, 403, 403)),
        ("GET", "/api/v1/cdrs", None, (200, 403, 403, 200, 200, 403)),
        ("GET", "/api/v1/billing/cost-allocation?month=2026-11", None, (200, 403, 403, 200, 200, 403)),
    ]  # fmt: skip
    for method, path, body, expected in matrix:
        for role, status in zip(ROLES, expected, strict=True):
            if method == "POST" and path == "/api/v1/people":
                body = person | {"email": f"{role}@example.com"}
            if method == "POST" and path == "/api/v1/tariffs":
                body = tariff | {"code": f"R-{role}"}
            response = await client.request(method, path, json=body, headers=headers[role])
            assert response.status_code == status, f"{role} {method} {path}: {response.status_code} {response.text}"
            if status == 403:
                assert role in response.json()["detail"] or "site manager" in response.json()["detail"]

    # a site manager's lists hold only their sites and stations
    seen = (await client.get("/api/v1/sites", headers=headers["site_manager"])).json()
    assert [s["id"] for s in seen] == [one["id"]]
    stations = (await client.get("/api/v1/stations", headers=headers["site_manager"])).json()
    assert [s["id"] for s in stations] == [station_one["id"]]


async def test_a_site_manager_token_needs_sites_of_the_tenant_and_employees_get_no_token(
    client: Client, tenant_a: Tenancy, tenant_b: Tenancy
) -> None:
    other = (await client.post("/api/v1/sites", json=SITE, headers=tenant_b.admin)).json()
    for body, field in (
        ({"role": "site_manager"}, "site_ids"),
        ({"role": "site_manager", "site_ids": [other["id"]]}, "site_ids"),
        ({"role": "employee"}, "role"),
        ({"role": "finance", "site_ids": [other["id"]]}, "site_ids"),
    ):
        response = await client.post("/api/v1/tokens", json=body, headers=tenant_a.admin)
        assert response.status_code == 400 and response.json()["errors"][0]["field"] == field, response.text
