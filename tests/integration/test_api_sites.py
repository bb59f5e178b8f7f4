"""The admin API for sites, stations, EVSEs and connectors, over a real PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cpo.outbox.models import OutboxEvent
from cpo.sites.models import Evse, Station
from tests.conftest import SITE, Tenancy

Client = AsyncTestClient[Litestar]


async def create_site(client: Client, headers: dict[str, str], **changes: Any) -> dict[str, Any]:
    response = await client.post("/api/v1/sites", json={**SITE, **changes}, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


async def create_station(client: Client, headers: dict[str, str], site_id: str, identity: str) -> dict[str, Any]:
    body = {"site_id": site_id, "identity": identity, "vendor": "Alfen", "model": "Eve Double"}
    response = await client.post("/api/v1/stations", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


async def test_site_round_trip_keeps_every_field_and_exact_coordinates(client: Client, tenant_a: Tenancy) -> None:
    hours = {
        "twentyfourseven": False,
        "regular_hours": [{"weekday": d, "period_begin": "07:00", "period_end": "19:00"} for d in range(1, 6)],
    }
    site = await create_site(client, tenant_a.admin, opening_times=hours, publish=True)
    fetched = (await client.get(f"/api/v1/sites/{site['id']}", headers=tenant_a.admin)).json()
    assert fetched["latitude"] == "51.0543000" and fetched["longitude"] == "3.7174000"
    assert fetched["opening_times"]["regular_hours"][4] == {
        "weekday": 5,
        "period_begin": "07:00",
        "period_end": "19:00",
    }
    assert fetched["publish"] is True and fetched["time_zone"] == "Europe/Brussels"

    changed = {**SITE, "name": "Head office (new wing)", "publish": False}
    response = await client.put(f"/api/v1/sites/{site['id']}", json=changed, headers=tenant_a.admin)
    assert response.status_code == 200
    assert response.json()["name"] == "Head office (new wing)" and response.json()["publish"] is False
    listed = (await client.get("/api/v1/sites", headers=tenant_a.admin)).json()
    assert [s["name"] for s in listed] == ["Head office (new wing)"]


async def test_invalid_site_is_400_naming_the_field_and_the_reason(client: Client, tenant_a: Tenancy) -> None:
    cases = {
        "country": {**SITE, "country": "BE"},
        "latitude": {**SITE, "latitude": 91},
        "time_zone": {**SITE, "time_zone": "Europe/Gent"},
        "name": {k: v for k, v in SITE.items() if k != "name"},
        "opening_times": {**SITE, "opening_times": {"twentyfourseven": True, "regular_hours": [
            {"weekday": 1, "period_begin": "07:00", "period_end": "19:00"}]}},
        "opening_times.regular_hours[0].period_begin": {**SITE, "opening_times": {"twentyfourseven": False,
            "regular_hours": [{"weekday": 1, "period_begin": "7h", "period_end": "19:00"}]}},
        "colour": {**SITE, "colour": "green"},
    }  # fmt: skip
    for field, body in cases.items():
        response = await client.post("/api/v1/sites", json=body, headers=tenant_a.admin)
        assert response.status_code == 400, (field, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
        problem = response.json()
        assert problem["errors"][0]["field"] == field, problem
        assert problem["errors"][0]["reason"], problem
    response = await client.post(
        "/api/v1/sites", content=b"{not json", headers={**tenant_a.admin, "content-type": "application/json"}
    )
    assert response.status_code == 400
    assert (await client.get("/api/v1/sites", headers=tenant_a.admin)).json() == []


async def test_station_creation_returns_password_once_and_stores_only_its_hash(
    client: Client, tenant_a: Tenancy, sessions: async_sessionmaker[AsyncSession]
) -> None:
    site = await create_site(client, tenant_a.admin)
    created = await create_station(client, tenant_a.admin, site["id"], "CP-GENT-001")
    assert 16 <= len(created["password"]) <= 40
    assert created["ocpp_url"].endswith("/ocpp/CP-GENT-001") and created["ocpp_url"].startswith("ws")
    assert created["registration_status"] == "Accepted" and created["security_profile"] == 1
    fetched = (await client.get(f"/api/v1/stations/{created['id']}", headers=tenant_a.admin)).json()
    assert "password" not in fetched
    async with sessions() as session:
        stored = (await session.execute(select(Station.password_hash))).scalar_one()
    assert created["password"] not in stored and stored.startswith("scrypt$")

    rotated = await client.post(f"/api/v1/stations/{created['id']}/password", headers=tenant_a.admin)
    assert rotated.status_code == 201 and rotated.json()["password"] != created["password"]


async def test_duplicate_station_identity_is_409_and_writes_nothing(
    client: Client, tenant_a: Tenancy, tenant_b: Tenancy, sessions: async_sessionmaker[AsyncSession]
) -> None:
    site = await create_site(client, tenant_a.admin)
    await create_station(client, tenant_a.admin, site["id"], "CP-1")
    async with sessions() as session:
        events_before = await session.scalar(select(func.count()).select_from(OutboxEvent))
    again = await client.post(
        "/api/v1/stations", json={"site_id": site["id"], "identity": "CP-1"}, headers=tenant_a.admin
    )
    assert again.status_code == 409
    assert again.json()["errors"] == [{"field": "identity", "reason": "a station with this identity exists already"}]
    # Identities are global (they are the OCPP URL): another tenant cannot take it either.
    site_b = await create_site(client, tenant_b.admin)
    other = await client.post(
        "/api/v1/stations", json={"site_id": site_b["id"], "identity": "CP-1"}, headers=tenant_b.admin
    )
    assert other.status_code == 409
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Station)) == 1
        # the failed creations left no event behind either
        assert await session.scalar(select(func.count()).select_from(OutboxEvent)) == events_before + 1


async def test_unknown_ids_are_404(client: Client, tenant_a: Tenancy) -> None:
    missing = "00000000-0000-4000-8000-000000000000"
    for path in (f"/api/v1/sites/{missing}", f"/api/v1/stations/{missing}", f"/api/v1/evses/{missing}",
                 f"/api/v1/connectors/{missing}", f"/api/v1/stations/{missing}/evses",
                 f"/api/v1/evses/{missing}/connectors", "/api/v1/nothing-here"):  # fmt: skip
        response = await client.get(path, headers=tenant_a.admin)
        assert response.status_code == 404, path
        assert response.json()["status"] == 404
    # a station on a site that does not exist: 404, and no station row
    response = await client.post("/api/v1/stations", json={"site_id": missing, "identity": "X"}, headers=tenant_a.admin)
    assert response.status_code == 404
    assert (await client.get("/api/v1/stations", headers=tenant_a.admin)).json() == []


async def test_evses_and_connectors_build_up_a_station(client: Client, tenant_a: Tenancy) -> None:
    site = await create_site(client, tenant_a.admin)
    station = await create_station(client, tenant_a.admin, site["id"], "CP-2")
    evse = await client.post(
        f"/api/v1/stations/{station['id']}/evses",
        json={"ocpp_evse_id": 1, "evse_id": "BE*ABC*E0001", "capabilities": ["RFID_READER"], "public": True},
        headers=tenant_a.admin,
    )
    assert evse.status_code == 201, evse.text
    evse_body = evse.json()
    assert evse_body["uid"] == "CP-2-1" and evse_body["public"] is True
    connector = await client.post(
        f"/api/v1/evses/{evse_body['id']}/connectors",
        json={"standard": "IEC_62196_T2", "format": "SOCKET", "power_type": "AC_3_PHASE",
              "max_voltage": 400, "max_amperage": 32, "max_electric_power": 22000},
        headers=tenant_a.admin,
    )  # fmt: skip
    assert connector.status_code == 201, connector.text
    listed = (await client.get(f"/api/v1/evses/{evse_body['id']}/connectors", headers=tenant_a.admin)).json()
    assert [(c["ocpp_connector_id"], c["standard"]) for c in listed] == [(1, "IEC_62196_T2")]

    bad = [
        ({"ocpp_evse_id": 2, "evse_id": "BE-ABC-0001"}, "evse_id"),
        ({"ocpp_evse_id": 0}, "ocpp_evse_id"),
        ({"ocpp_evse_id": 2, "capabilities": ["TELEPORT"]}, "capabilities[0]"),
    ]
    for body, field in bad:
        response = await client.post(f"/api/v1/stations/{station['id']}/evses", json=body, headers=tenant_a.admin)
        assert response.status_code == 400 and response.json()["errors"][0]["field"] == field, response.text
    duplicate = await client.post(
        f"/api/v1/stations/{station['id']}/evses", json={"ocpp_evse_id": 1}, headers=tenant_a.admin
    )
    assert duplicate.status_code == 409 and duplicate.json()["errors"][0]["field"] == "ocpp_evse_id"
    bad_connector = await client.post(
        f"/api/v1/evses/{evse_body['id']}/connectors",
        json={
            "standard": "USB_C",
            "format": "SOCKET",
            "power_type": "AC_3_PHASE",
            "max_voltage": 400,
            "max_amperage": 32,
        },
        headers=tenant_a.admin,
    )
    assert bad_connector.status_code == 400 and bad_connector.json()["errors"][0]["field"] == "standard"

    uid_change = await client.put(
        f"/api/v1/evses/{evse_body['id']}", json={"ocpp_evse_id": 1, "uid": "other"}, headers=tenant_a.admin
    )
    assert uid_change.status_code == 409


async def test_deleting_refuses_a_site_with_stations_and_cascades_a_station(
    client: Client, tenant_a: Tenancy, sessions: async_sessionmaker[AsyncSession]
) -> None:
    site = await create_site(client, tenant_a.admin)
    station = await create_station(client, tenant_a.admin, site["id"], "CP-3")
    await client.post(f"/api/v1/stations/{station['id']}/evses", json={"ocpp_evse_id": 1}, headers=tenant_a.admin)
    refused = await client.delete(f"/api/v1/sites/{site['id']}", headers=tenant_a.admin)
    assert refused.status_code == 409
    assert (await client.delete(f"/api/v1/stations/{station['id']}", headers=tenant_a.admin)).status_code == 204
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Evse)) == 0
    assert (await client.delete(f"/api/v1/sites/{site['id']}", headers=tenant_a.admin)).status_code == 204


async def test_malformed_ids_and_query_parameters_are_4xx_not_500(client: Client, tenant_a: Tenancy) -> None:
    assert (await client.get("/api/v1/sites/not-a-uuid", headers=tenant_a.admin)).status_code in (400, 404)
    bad_query = await client.get("/api/v1/stations?site_id=nope", headers=tenant_a.admin)
    assert bad_query.status_code == 400 and bad_query.json()["errors"][0]["field"] == "query.site_id"
    bad_body = await client.post("/api/v1/stations", json={"site_id": "nope", "identity": "X"}, headers=tenant_a.admin)
    assert bad_body.status_code == 400 and bad_body.json()["errors"][0]["field"] == "site_id"
    not_an_object = await client.post("/api/v1/sites", json=[1, 2], headers=tenant_a.admin)
    assert not_an_object.status_code == 400


async def test_nul_characters_are_400_and_nothing_leaks_into_logs(
    client: Client, tenant_a: Tenancy, caplog: pytest.LogCaptureFixture
) -> None:
    site = await create_site(client, tenant_a.admin)
    response = await client.post(
        "/api/v1/stations",
        json={"site_id": site["id"], "identity": "NUL-1", "vendor": "A\u0000B"},
        headers=tenant_a.admin,
    )
    assert response.status_code == 400
    assert "scrypt$" not in caplog.text
    assert (await client.get("/api/v1/stations", headers=tenant_a.admin)).json() == []


async def test_station_update_must_restate_security_profile_and_registration(client: Client, tenant_a: Tenancy) -> None:
    site = await create_site(client, tenant_a.admin)
    body = {"site_id": site["id"], "identity": "SEC-3", "security_profile": 3, "registration_status": "Rejected"}
    station = (await client.post("/api/v1/stations", json=body, headers=tenant_a.admin)).json()
    lazy = await client.put(f"/api/v1/stations/{station['id']}", json={"site_id": site["id"]}, headers=tenant_a.admin)
    assert lazy.status_code == 400 and lazy.json()["errors"][0]["field"] == "security_profile"
    unchanged = (await client.get(f"/api/v1/stations/{station['id']}", headers=tenant_a.admin)).json()
    assert unchanged["security_profile"] == 3 and unchanged["registration_status"] == "Rejected"


async def test_evse_ids_must_carry_the_operators_party_once_it_has_one(
    client: Client, tenant_a: Tenancy, sessions: async_sessionmaker[AsyncSession]
) -> None:
    from cpo.tenants.models import Tenant

    async with sessions() as session, session.begin():
        tenant = await session.get(Tenant, tenant_a.id)
        assert tenant is not None
        tenant.country_code, tenant.party_id = "BE", "ABC"
    site = await create_site(client, tenant_a.admin)
    station = await create_station(client, tenant_a.admin, site["id"], "P-" + "X" * 40)
    path = f"/api/v1/stations/{station['id']}/evses"
    foreign = await client.post(path, json={"ocpp_evse_id": 1, "evse_id": "NL*TNM*E1"}, headers=tenant_a.admin)
    assert foreign.status_code == 400 and foreign.json()["errors"][0]["field"] == "evse_id"
    ours = [
        await client.post(path, json={"ocpp_evse_id": n, "evse_id": f"BE*ABC*E{n}"}, headers=tenant_a.admin)
        for n in (1, 2)
    ]
    assert [r.status_code for r in ours] == [201, 201]
    uids = [r.json()["uid"] for r in ours]
    assert len(set(uids)) == 2 and all(len(u) <= 36 for u in uids), "long identities still give distinct uids"
