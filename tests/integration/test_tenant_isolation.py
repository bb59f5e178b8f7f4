"""A token of tenant B never sees or changes tenant A's data, on every endpoint of the API."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cpo.accounts.models import ApiToken
from cpo.charging.models import ChargingSession
from cpo.charging.sessions import start_transaction_16, stop_transaction_16
from cpo.sites.models import Station
from cpo.tariffs.service import issue_cdr
from tests.conftest import SITE, Tenancy

Client = AsyncTestClient[Litestar]
CONNECTOR = {
    "standard": "IEC_62196_T2",
    "format": "SOCKET",
    "power_type": "AC_3_PHASE",
    "max_voltage": 400,
    "max_amperage": 32,
}


async def build_tenant_a(client: Client, a: Tenancy, sessions: async_sessionmaker[AsyncSession]) -> dict[str, Any]:
    site = (await client.post("/api/v1/sites", json=SITE, headers=a.admin)).json()
    station = (
        await client.post("/api/v1/stations", json={"site_id": site["id"], "identity": "A-1"}, headers=a.admin)
    ).json()
    evse = (
        await client.post(f"/api/v1/stations/{station['id']}/evses", json={"ocpp_evse_id": 1}, headers=a.admin)
    ).json()
    connector = (await client.post(f"/api/v1/evses/{evse['id']}/connectors", json=CONNECTOR, headers=a.admin)).json()
    group = (await client.post("/api/v1/groups", json={"kind": "department", "name": "A dept"}, headers=a.admin)).json()
    person = (
        await client.post(
            "/api/v1/people", json={"name": "A person", "email": "a@a.example", "department_id": group["id"]},
            headers=a.admin,
        )
    ).json()  # fmt: skip
    badge = (
        await client.post("/api/v1/badges", json={"uid": "A1B2C3", "person_id": person["id"]}, headers=a.admin)
    ).json()
    rule = (
        await client.post(
            "/api/v1/access-rules", json={"name": "A hours", "person_id": person["id"], "windows": ["mon-fri 07:00-19:00"]},
            headers=a.admin,
        )
    ).json()  # fmt: skip
    tariff = (await client.post("/api/v1/tariffs", headers=a.admin, json={
        "code": "A-STD", "name": "A standard", "currency": "EUR", "valid_from": "2026-01-01T00:00:00Z",
        "body": {"elements": [{"price_components": [{"type": "ENERGY", "price": "0.30", "step_size": 1}]}]},
    })).json()  # fmt: skip
    assignment = (await client.post("/api/v1/tariff-assignments", headers=a.admin,
                                    json={"tariff_id": tariff["id"], "audience": "internal"})).json()  # fmt: skip
    async with sessions() as session, session.begin():
        token_id = (await session.execute(select(ApiToken.id).where(ApiToken.tenant_id == a.id))).scalars().first()
        row = await session.get(Station, uuid.UUID(station["id"]))
        assert row is not None
        done = await start_transaction_16(session, row, 1, "A1B2C3", 0, datetime(2026, 11, 26, 9, tzinfo=UTC))
        await stop_transaction_16(session, row, done.transaction_id, 5000, datetime(2026, 11, 26, 10, tzinfo=UTC),
                                  None, None, [], {})  # fmt: skip
        finished = (await session.execute(
            select(ChargingSession.id).where(ChargingSession.ocpp16_id == done.transaction_id))).scalar_one()  # fmt: skip
        cdr = await issue_cdr(session, finished)
        assert cdr is not None
        started = await start_transaction_16(session, row, 1, "A1B2C3", 0, datetime(2026, 11, 27, tzinfo=UTC))
        charging_id = (
            await session.execute(select(ChargingSession.id).where(ChargingSession.ocpp16_id == started.transaction_id))
        ).scalar_one()
    return {
        "site": site, "station": station, "evse": evse, "connector": connector, "token_id": str(token_id),
        "badge": badge, "session_id": str(charging_id), "person": person, "group": group, "rule": rule,
        "tariff": tariff, "assignment": assignment, "cdr_id": str(cdr.id),
        "partner_id": (await client.post("/api/v1/roaming-partners/invite", json={"name": "A's"},
                                         headers=a.admin)).json()["partner"]["id"],
    }  # fmt: skip


def api_routes(app: Litestar) -> set[tuple[str, str]]:
    routes = set()
    for route in app.routes:
        if route.path.startswith("/api/v1"):
            for method in route.methods - {"OPTIONS", "HEAD"}:
                routes.add((method, route.path))
    return routes


async def test_every_endpoint_keeps_tenant_b_out_of_tenant_a(
    app: Litestar, client: Client, tenant_a: Tenancy, tenant_b: Tenancy, sessions: async_sessionmaker[AsyncSession]
) -> None:
    a = await build_tenant_a(client, tenant_a, sessions)
    site, station, evse, connector = a["site"], a["station"], a["evse"], a["connector"]
    person, group, rule = a["person"], a["group"], a["rule"]
    a_ids = {site["id"], station["id"], evse["id"], connector["id"], a["token_id"], a["badge"]["id"], a["session_id"],
             person["id"], group["id"], rule["id"], a["tariff"]["id"], a["assignment"]["id"], a["cdr_id"],
             a["partner_id"]}  # fmt: skip
    tariff = a["tariff"]
    energy_only = {"elements": [{"price_components": [{"type": "ENERGY", "price": "0.30", "step_size": 1}]}]}
    b = tenant_b.admin
    site_b = SITE | {"name": "B's"}

    # (method, path template) -> (concrete path, body or None, expected status or "list")
    cases: dict[tuple[str, str], tuple[str, Any, int | str]] = {
        ("GET", "/api/v1/sites"): ("/api/v1/sites", None, "list"),
        ("POST", "/api/v1/sites"): ("/api/v1/sites", site_b, 201),
        ("GET", "/api/v1/sites/{site_id:uuid}"): (f"/api/v1/sites/{site['id']}", None, 404),
        ("PUT", "/api/v1/sites/{site_id:uuid}"): (f"/api/v1/sites/{site['id']}", site_b, 404),
        ("DELETE", "/api/v1/sites/{site_id:uuid}"): (f"/api/v1/sites/{site['id']}", None, 404),
        ("GET", "/api/v1/stations"): ("/api/v1/stations", None, "list"),
        ("POST", "/api/v1/stations"): ("/api/v1/stations", {"site_id": site["id"], "identity": "B-on-A"}, 404),
        ("GET", "/api/v1/stations/{station_id:uuid}"): (f"/api/v1/stations/{station['id']}", None, 404),
        ("PUT", "/api/v1/stations/{station_id:uuid}"): (f"/api/v1/stations/{station['id']}", {"site_id": site["id"], "security_profile": 1, "registration_status": "Accepted"}, 404),
        ("DELETE", "/api/v1/stations/{station_id:uuid}"): (f"/api/v1/stations/{station['id']}", None, 404),
        ("POST", "/api/v1/stations/{station_id:uuid}/password"): (f"/api/v1/stations/{station['id']}/password", None, 404),
        ("GET", "/api/v1/stations/{station_id:uuid}/evses"): (f"/api/v1/stations/{station['id']}/evses", None, 404),
        ("POST", "/api/v1/stations/{station_id:uuid}/evses"): (
            f"/api/v1/stations/{station['id']}/evses", {"ocpp_evse_id": 2}, 404),
        ("GET", "/api/v1/evses/{evse_id:uuid}"): (f"/api/v1/evses/{evse['id']}", None, 404),
        ("PUT", "/api/v1/evses/{evse_id:uuid}"): (f"/api/v1/evses/{evse['id']}", {"ocpp_evse_id": 7}, 404),
        ("DELETE", "/api/v1/evses/{evse_id:uuid}"): (f"/api/v1/evses/{evse['id']}", None, 404),
        ("GET", "/api/v1/evses/{evse_id:uuid}/connectors"): (f"/api/v1/evses/{evse['id']}/connectors", None, 404),
        ("POST", "/api/v1/evses/{evse_id:uuid}/connectors"): (f"/api/v1/evses/{evse['id']}/connectors", CONNECTOR, 404),
        ("GET", "/api/v1/connectors/{connector_id:uuid}"): (f"/api/v1/connectors/{connector['id']}", None, 404),
        ("PUT", "/api/v1/connectors/{connector_id:uuid}"): (f"/api/v1/connectors/{connector['id']}", CONNECTOR, 404),
        ("DELETE", "/api/v1/connectors/{connector_id:uuid}"): (f"/api/v1/connectors/{connector['id']}", None, 404),
        ("GET", "/api/v1/tokens"): ("/api/v1/tokens", None, "list"),
        ("POST", "/api/v1/tokens"): ("/api/v1/tokens", {"role": "read_only"}, 201),
        ("DELETE", "/api/v1/tokens/{token_id:uuid}"): (f"/api/v1/tokens/{a['token_id']}", None, 404),
        ("GET", "/api/v1/tenants"): ("/api/v1/tenants", None, "list"),
        ("POST", "/api/v1/tenants"): ("/api/v1/tenants", {"slug": "charlie", "name": "C"}, 403),
        ("GET", "/api/v1/tenants/current"): ("/api/v1/tenants/current", None, 200),
        ("GET", "/api/v1/stations/{station_id:uuid}/status"): (f"/api/v1/stations/{station['id']}/status", None, 404),
        ("POST", "/api/v1/stations/{station_id:uuid}/commands"): (
            f"/api/v1/stations/{station['id']}/commands", {"name": "reset"}, 404),
        ("GET", "/api/v1/sessions"): ("/api/v1/sessions", None, "list"),
        ("GET", "/api/v1/sessions/{session_id:uuid}"): (f"/api/v1/sessions/{a['session_id']}", None, 404),
        ("GET", "/api/v1/badges"): ("/api/v1/badges", None, "list"),
        ("POST", "/api/v1/badges"): ("/api/v1/badges", {"uid": "A1B2C3"}, 201),
        ("PUT", "/api/v1/badges/{badge_id:uuid}"): (f"/api/v1/badges/{a['badge']['id']}", {"uid": "FF"}, 404),
        ("DELETE", "/api/v1/badges/{badge_id:uuid}"): (f"/api/v1/badges/{a['badge']['id']}", None, 404),
        ("GET", "/api/v1/badges/{badge_id:uuid}"): (f"/api/v1/badges/{a['badge']['id']}", None, 404),
        ("POST", "/api/v1/badges/{badge_id:uuid}/{action:str}"): (f"/api/v1/badges/{a['badge']['id']}/block", None, 404),
        ("GET", "/api/v1/people"): ("/api/v1/people", None, "list"),
        ("POST", "/api/v1/people"): ("/api/v1/people", {"name": "B's", "department_id": group["id"]}, 400),
        ("GET", "/api/v1/people/{person_id:uuid}"): (f"/api/v1/people/{person['id']}", None, 404),
        ("PUT", "/api/v1/people/{person_id:uuid}"): (f"/api/v1/people/{person['id']}", {"name": "x", "email": "x@b.example"}, 404),
        ("POST", "/api/v1/people/{person_id:uuid}/{action:str}"): (f"/api/v1/people/{person['id']}/block", None, 404),
        ("GET", "/api/v1/groups"): ("/api/v1/groups", None, "list"),
        ("POST", "/api/v1/groups"): ("/api/v1/groups", {"kind": "department", "name": "A dept"}, 201),
        ("PUT", "/api/v1/groups/{group_id:uuid}"): (f"/api/v1/groups/{group['id']}", {"kind": "department", "name": "x"}, 404),
        ("GET", "/api/v1/access-rules"): ("/api/v1/access-rules", None, "list"),
        ("POST", "/api/v1/access-rules"): ("/api/v1/access-rules", {"name": "x", "person_id": person["id"]}, 404),
        ("GET", "/api/v1/access-rules/{rule_id:uuid}"): (f"/api/v1/access-rules/{rule['id']}", None, 404),
        ("PUT", "/api/v1/access-rules/{rule_id:uuid}"): (f"/api/v1/access-rules/{rule['id']}", {"name": "x", "group_id": group["id"]}, 404),
        ("DELETE", "/api/v1/access-rules/{rule_id:uuid}"): (f"/api/v1/access-rules/{rule['id']}", None, 404),
        ("GET", "/api/v1/audit"): ("/api/v1/audit", None, "list"),
        ("PUT", "/api/v1/sessions/{session_id:uuid}/allocation"): (f"/api/v1/sessions/{a['session_id']}/allocation", {"project_id": None}, 404),
        ("POST", "/api/v1/people-import"): ("/api/v1/people-import?dry_run=false", None, 400),
        ("GET", "/api/v1/people/{person_id:uuid}/personal-data"): (f"/api/v1/people/{person['id']}/personal-data", None, 404),
        ("DELETE", "/api/v1/people/{person_id:uuid}/personal-data"): (f"/api/v1/people/{person['id']}/personal-data", None, 404),
        ("PATCH", "/api/v1/tenants/current"): ("/api/v1/tenants/current", {"one_session_per_badge": True}, 200),
        ("POST", "/api/v1/tenants/current/enrolment-secret"): ("/api/v1/tenants/current/enrolment-secret", None, 201),
        ("DELETE", "/api/v1/tenants/current/enrolment-secret"): ("/api/v1/tenants/current/enrolment-secret", None, 204),
        ("PUT", "/api/v1/tenants/{tenant_id:uuid}/station-identity-prefix"): (
            f"/api/v1/tenants/{tenant_a.id}/station-identity-prefix", {"prefix": "B-"}, 403),
        ("GET", "/api/v1/audit/export.csv"): ("/api/v1/audit/export.csv", None, 200),
        ("GET", "/api/v1/tariffs"): ("/api/v1/tariffs", None, "list"),
        ("POST", "/api/v1/tariffs"): ("/api/v1/tariffs", {"code": "A-STD", "name": "B", "currency": "EUR", "body": energy_only}, 201),
        ("GET", "/api/v1/tariffs/{tariff_id:uuid}"): (f"/api/v1/tariffs/{tariff['id']}", None, 404),
        ("POST", "/api/v1/tariffs/{tariff_id:uuid}/versions"): (f"/api/v1/tariffs/{tariff['id']}/versions", {"body": energy_only, "valid_from": "2030-01-01T00:00:00Z"}, 404),
        ("POST", "/api/v1/tariffs/{tariff_id:uuid}/archive"): (f"/api/v1/tariffs/{tariff['id']}/archive", None, 404),
        ("GET", "/api/v1/tariffs/{tariff_id:uuid}/ocpi"): (f"/api/v1/tariffs/{tariff['id']}/ocpi", None, 404),
        ("POST", "/api/v1/tariffs/preview"): ("/api/v1/tariffs/preview", {"currency": "EUR", "body": energy_only, "start": "2026-12-01T10:00:00", "charging_minutes": 60, "energy_kwh": "10"}, 200),
        ("GET", "/api/v1/tariff-assignments"): ("/api/v1/tariff-assignments", None, "list"),
        ("POST", "/api/v1/tariff-assignments"): ("/api/v1/tariff-assignments", {"tariff_id": tariff["id"], "audience": "public"}, 404),
        ("DELETE", "/api/v1/tariff-assignments/{assignment_id:uuid}"): (f"/api/v1/tariff-assignments/{a['assignment']['id']}", None, 404),
        ("GET", "/api/v1/cdrs"): ("/api/v1/cdrs", None, "list"),
        ("GET", "/api/v1/cdrs/{cdr_id:uuid}"): (f"/api/v1/cdrs/{a['cdr_id']}", None, 404),
        ("GET", "/api/v1/cdrs/{cdr_id:uuid}/ocpi"): (f"/api/v1/cdrs/{a['cdr_id']}/ocpi", None, 404),
        ("POST", "/api/v1/cdrs/{cdr_id:uuid}/credit"): (f"/api/v1/cdrs/{a['cdr_id']}/credit", {"reason": "x"}, 404),
        ("GET", "/api/v1/billing/cost-allocation"): ("/api/v1/billing/cost-allocation?month=2026-11", None, "list"),
        ("GET", "/api/v1/billing/cost-allocation.csv"): ("/api/v1/billing/cost-allocation.csv?month=2026-11", None, 200),
        ("GET", "/api/v1/sessions/{session_id:uuid}/cost"): (f"/api/v1/sessions/{a['session_id']}/cost", None, 404),
        ("POST", "/api/v1/sessions/{session_id:uuid}/price-again"): (f"/api/v1/sessions/{a['session_id']}/price-again", None, 404),
        ("GET", "/api/v1/evses/{evse_id:uuid}/prices"): (f"/api/v1/evses/{evse['id']}/prices", None, 404),
        ("GET", "/api/v1/roaming-partners"): ("/api/v1/roaming-partners", None, "list"),
        ("POST", "/api/v1/roaming-partners/invite"): ("/api/v1/roaming-partners/invite", {"name": "B's"}, 201),
        ("POST", "/api/v1/roaming-partners"): ("/api/v1/roaming-partners", {"name": "x", "versions_url": "http://127.0.0.1:9/versions", "token": "t"}, 400),
        ("PATCH", "/api/v1/roaming-partners/{partner_id:uuid}"): (f"/api/v1/roaming-partners/{a['partner_id']}", {"plain_tokens": True}, 404),
        ("DELETE", "/api/v1/roaming-partners/{partner_id:uuid}"): (f"/api/v1/roaming-partners/{a['partner_id']}", None, 404),
        ("POST", "/api/v1/roaming-partners/{partner_id:uuid}/invite"): (f"/api/v1/roaming-partners/{a['partner_id']}/invite", None, 404),
        # a tenant's own card payment account: only ever the caller's own tenant
        ("GET", "/api/v1/payment-account"): ("/api/v1/payment-account", None, 200),
        ("PUT", "/api/v1/payment-account"): ("/api/v1/payment-account", {"secret_key": "sk_test_b", "publishable_key": "pk_test_b", "webhook_secret": "whsec_b"}, 200),
        ("DELETE", "/api/v1/payment-account"): ("/api/v1/payment-account", None, 204),
    }  # fmt: skip
    # A new endpoint must be added here before this test passes again.
    assert set(cases) == api_routes(app)

    pages = (
        ("site", f"/api/v1/sites/{site['id']}"), ("station", f"/api/v1/stations/{station['id']}"),
        ("evse", f"/api/v1/evses/{evse['id']}"), ("connector", f"/api/v1/connectors/{connector['id']}"),
        ("badge", "/api/v1/badges"), ("session", f"/api/v1/sessions/{a['session_id']}"),
        ("person", f"/api/v1/people/{person['id']}"), ("group", "/api/v1/groups"),
        ("rule", f"/api/v1/access-rules/{rule['id']}"), ("tariff", f"/api/v1/tariffs/{tariff['id']}"),
        ("assignments", "/api/v1/tariff-assignments"), ("cdr", f"/api/v1/cdrs/{a['cdr_id']}"))  # fmt: skip
    before = {k: (await client.get(p, headers=tenant_a.admin)).json() for k, p in pages}

    for (method, _), (path, body, expected) in cases.items():
        response = await client.request(method, path, json=body, headers=b)
        text = response.text
        asked = path + str(body)  # an error may echo the id it was asked for; nothing more
        assert not any(i in text and i not in asked for i in a_ids), f"{method} {path} leaked tenant A: {text}"
        assert tenant_a.slug not in text, f"{method} {path} named tenant A"
        if expected == "list":
            assert response.status_code == 200, (method, path, text)
        else:
            assert response.status_code == expected, (method, path, text)

    after = {k: (await client.get(p, headers=tenant_a.admin)).json() for k, p in pages}
    assert after == before
    token_still_works = await client.get("/api/v1/sites", headers=tenant_a.admin)
    assert token_still_works.status_code == 200


async def test_only_platform_admins_may_act_for_another_tenant(
    client: Client, tenant_a: Tenancy, tenant_b: Tenancy, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await build_tenant_a(client, tenant_a, sessions)
    as_admin_of_b = await client.get("/api/v1/sites", headers=tenant_b.admin | {"CPO-Tenant": "alpha"})
    assert as_admin_of_b.status_code == 403
    guessing = await client.get("/api/v1/sites", headers=tenant_b.admin | {"CPO-Tenant": "nobody"})
    assert guessing.status_code == 403, "the same answer whether the tenant exists or not"
    own = await client.get("/api/v1/sites", headers=tenant_b.admin | {"CPO-Tenant": "bravo"})
    assert own.status_code == 200
    as_platform_admin = await client.get("/api/v1/sites", headers=tenant_b.platform | {"CPO-Tenant": "alpha"})
    assert as_platform_admin.status_code == 200 and len(as_platform_admin.json()) == 1
    unknown = await client.get("/api/v1/sites", headers=tenant_b.platform | {"CPO-Tenant": "nobody"})
    assert unknown.status_code == 404
