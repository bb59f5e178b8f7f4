"""OCPI versions, credentials and the sender modules, against an eMSP harness served over real HTTP.

Every payload we answer with is checked against the OCPI organisation's OpenAPI schemas (2.2.1).
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cpo.roaming import service as roaming
from cpo.roaming.sealing import sealer_for
from cpo.settings import Settings
from ocpi.outbound import UNREACHABLE
from tests.conftest import SITE, Tenancy
from tests.emsp_harness import THEIR_TOKEN, Emsp, serve_emsp
from tests.ocpi_schemas import errors
from tests.platform import free_port

Client = AsyncTestClient[Litestar]


def token(value: str) -> dict[str, str]:
    return {"Authorization": "Token " + base64.b64encode(value.encode()).decode()}


@pytest.fixture
def emsp() -> Iterator[Emsp]:
    with serve_emsp(call_back=False) as harness:  # the platform runs in-process here: no URL to call back
        yield harness


async def invite(sessions: async_sessionmaker[AsyncSession], settings: Settings, tenant: Tenancy) -> str:
    async with sessions() as session, session.begin():
        _, token_a = await roaming.invite(session, tenant.id, "Harness", sealer_for(settings))
    return token_a


def their_credentials(emsp: Emsp) -> dict[str, Any]:
    return emsp.credentials()


def data_of(response: Any, version_check: tuple[str, str] | None = None) -> Any:
    body = response.json()
    assert body["status_code"] == 1000 and body["timestamp"].endswith("Z"), body
    assert response.headers.get("x-request-id") and response.headers.get("x-correlation-id")
    if version_check is not None:
        assert errors(body["data"], "2.2.1", *version_check) == []
    return body["data"]


async def test_an_invited_emsp_registers_updates_and_unregisters(
    client: Client, tenant_a: Tenancy, sessions: async_sessionmaker[AsyncSession], settings: Settings, emsp: Emsp
) -> None:
    token_a = await invite(sessions, settings, tenant_a)
    versions = await client.get("/ocpi/versions", headers=token(token_a) | {"X-Correlation-ID": "c-1"})
    assert versions.headers["x-correlation-id"] == "c-1"
    listed = data_of(versions)
    assert errors(listed[0], "2.2.1", "versions", "Version") == []
    details = data_of(await client.get("/ocpi/2.2.1", headers=token(token_a)), ("versions", "VersionDetails"))
    assert {e["identifier"] for e in details["endpoints"]} >= {"credentials", "locations", "tariffs"}

    # Token A opens only versions and credentials
    refused = await client.get("/ocpi/2.2.1/locations", headers=token(token_a))
    assert refused.status_code == 401 and refused.json()["status_code"] == 2000
    assert (await client.get("/ocpi/versions", headers=token("nobody"))).status_code == 401
    assert (await client.get("/ocpi/versions")).status_code == 401

    registered = await client.post("/ocpi/2.2.1/credentials", json=their_credentials(emsp), headers=token(token_a))
    assert registered.status_code == 200, registered.text
    ours = data_of(registered, ("credentials", "Credentials"))
    assert ours["token"] != token_a and ours["roles"][0]["role"] == "CPO"
    assert emsp.seen_tokens == [THEIR_TOKEN, THEIR_TOKEN], "we read their versions with the token they gave us"
    assert "ocpi-to-party-id" not in registered.headers, "configuration modules are not routed"
    token_c = ours["token"]
    assert (await client.get("/ocpi/versions", headers=token(token_a))).status_code == 401, "Token A is spent"
    again = await client.post("/ocpi/2.2.1/credentials", json=their_credentials(emsp), headers=token(token_c))
    assert again.status_code == 405 and again.json()["status_code"] == 2000

    # a plain (not base64) token is refused unless the partner is switched to plain tokens
    plain = await client.get("/ocpi/2.2.1/credentials", headers={"Authorization": f"Token {token_c}"})
    assert plain.status_code == 401
    assert data_of(await client.get("/ocpi/2.2.1/credentials", headers=token(token_c)))["token"] == token_c

    updated = await client.put("/ocpi/2.2.1/credentials", json=their_credentials(emsp), headers=token(token_c))
    assert updated.status_code == 200
    token_d = data_of(updated, ("credentials", "Credentials"))["token"]
    assert token_d != token_c and (await client.get("/ocpi/versions", headers=token(token_c))).status_code == 401

    gone = await client.delete("/ocpi/2.2.1/credentials", headers=token(token_d))
    assert gone.status_code == 200 and gone.json()["status_code"] == 1000
    assert (await client.get("/ocpi/versions", headers=token(token_d))).status_code == 401


async def test_a_handshake_with_an_unreachable_emsp_fails_with_3001_and_changes_nothing(
    client: Client, tenant_a: Tenancy, sessions: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    token_a = await invite(sessions, settings, tenant_a)
    body = {"token": "x", "url": f"http://127.0.0.1:{free_port()}/versions",
            "roles": [{"role": "EMSP", "party_id": "TNM", "country_code": "NL"}]}  # fmt: skip
    failed = await client.post("/ocpi/2.2.1/credentials", json=body, headers=token(token_a))
    assert failed.json()["status_code"] == 3001 and failed.status_code == 400
    broken = await client.post("/ocpi/2.2.1/credentials", json={"token": 5}, headers=token(token_a))
    assert broken.json()["status_code"] == 2001
    # a partner on another version only (3002), or listing no credentials endpoint (3003)
    for offers, expected in ({"version": "2.1.1"}, 3002), ({"credentials_endpoint": False}, 3003):
        with serve_emsp(call_back=False, **offers) as other:  # type: ignore[arg-type]
            refused = await client.post("/ocpi/2.2.1/credentials", json=other.credentials(), headers=token(token_a))
        assert refused.json()["status_code"] == expected, (offers, refused.text)
    assert (await client.get("/ocpi/versions", headers=token(token_a))).status_code == 200, "still invited"


async def test_published_locations_and_tariffs_page_without_gaps_and_pass_the_schemas(
    client: Client, tenant_a: Tenancy, sessions: async_sessionmaker[AsyncSession], settings: Settings, emsp: Emsp
) -> None:
    admin = tenant_a.admin
    for number in range(7):
        site = (await client.post("/api/v1/sites", json=SITE | {"name": f"Public {number}", "publish": True},
                                  headers=admin)).json()  # fmt: skip
        station = (await client.post("/api/v1/stations", json={"site_id": site["id"], "identity": f"P-{number}"},
                                     headers=admin)).json()  # fmt: skip
        for evse_number, public in ((1, True), (2, False)):
            evse = (await client.post(f"/api/v1/stations/{station['id']}/evses", headers=admin, json={
                "ocpp_evse_id": evse_number, "public": public, "evse_id": f"NL*CPO*E{number}{evse_number}"})).json()  # fmt: skip
            await client.post(f"/api/v1/evses/{evse['id']}/connectors", headers=admin, json={
                "standard": "IEC_62196_T2", "format": "SOCKET", "power_type": "AC_3_PHASE", "max_voltage": 400,
                "max_amperage": 32})  # fmt: skip
    await client.post("/api/v1/sites", json=SITE | {"name": "Staff only"}, headers=admin)
    tariff = (await client.post("/api/v1/tariffs", headers=admin, json={
        "code": "PUBLIC-AC", "name": "Public", "currency": "EUR", "valid_from": "2026-01-01T00:00:00Z",
        "body": {"elements": [{"price_components": [{"type": "ENERGY", "price": "0.45", "vat": "21", "step_size": 1}]}]},
    })).json()  # fmt: skip
    await client.post(
        "/api/v1/tariff-assignments", json={"tariff_id": tariff["id"], "audience": "public"}, headers=admin
    )
    token_a = await invite(sessions, settings, tenant_a)
    ours = data_of(await client.post("/ocpi/2.2.1/credentials", json=their_credentials(emsp), headers=token(token_a)))
    auth = token(ours["token"])

    seen: list[str] = []
    url: str | None = "/ocpi/2.2.1/locations?limit=3"
    pages = 0
    while url:
        page = await client.get(url, headers=auth)
        assert page.headers["x-total-count"] == "7" and page.headers["x-limit"] == "3"
        routed = {k: page.headers.get(f"ocpi-{k}") for k in ("from-country-code", "from-party-id", "to-country-code",
                                                              "to-party-id")}  # fmt: skip
        assert routed == {"from-country-code": "NL", "from-party-id": "CPO", "to-country-code": "NL",
                          "to-party-id": "TNM"}, "a functional module routes from us to them"  # fmt: skip
        for location in data_of(page):
            assert errors(location, "2.2.1", "locations", "Location") == [], location
            assert [e["evse_id"] for e in location["evses"]] == [f"NL*CPO*E{location['name'][-1]}1"], (
                "public EVSEs only"
            )
            assert location["evses"][0]["connectors"][0]["tariff_ids"] == ["PUBLIC-AC"]
            seen.append(location["id"])
        link = page.headers.get("link")
        url = link[link.index("<") + 1 : link.index(">")].split("://", 1)[-1].split("/", 1)[-1] if link else None
        url = f"/{url}" if url else None
        pages += 1
    assert pages == 3 and len(seen) == len(set(seen)) == 7, "every published location once, no gaps, no overlaps"
    one = await client.get(f"/ocpi/2.2.1/locations/{seen[0]}", headers=auth)
    assert errors(data_of(one), "2.2.1", "locations", "Location") == []
    unknown = await client.get("/ocpi/2.2.1/locations/00000000-0000-0000-0000-000000000000", headers=auth)
    assert unknown.status_code == 404 and unknown.json()["status_code"] == 2003
    bad_date = await client.get("/ocpi/2.2.1/locations?date_from=yesterday", headers=auth)
    assert bad_date.json()["status_code"] == 2001
    future = await client.get("/ocpi/2.2.1/locations?date_from=2099-01-01T00:00:00Z", headers=auth)
    assert data_of(future) == [] and future.headers["x-total-count"] == "0"

    tariffs = data_of(await client.get("/ocpi/2.2.1/tariffs", headers=auth))
    assert [t["id"] for t in tariffs] == ["PUBLIC-AC"]
    assert errors(tariffs[0], "2.2.1", "tariffs", "Tariff") == []


async def test_we_register_with_an_emsp_that_gave_us_a_token_a_and_unregister_again(
    client: Client, tenant_a: Tenancy, emsp: Emsp
) -> None:
    admin = tenant_a.admin
    nowhere = free_port()
    refused = await client.post("/api/v1/roaming-partners", headers=admin, json={
        "name": "Nowhere", "versions_url": f"http://127.0.0.1:{nowhere}/versions", "token": "their-a"})  # fmt: skip
    assert refused.status_code == 400 and UNREACHABLE in refused.text and str(nowhere) not in refused.text
    made = await client.post("/api/v1/roaming-partners", headers=admin, json={
        "name": "Harness", "versions_url": f"{emsp.url}/versions", "token": "their-token-a"})  # fmt: skip
    assert made.status_code == 201, made.text
    partner = made.json()
    assert (partner["status"], partner["country_code"], partner["party_id"]) == ("registered", "NL", "TNM")
    assert "credentials:SENDER" in partner["modules"]
    assert emsp.seen_tokens == ["their-token-a"] * 3, "versions, details and credentials with their Token A"
    ours = emsp.sent_credentials["token"]
    assert (await client.get("/ocpi/2.2.1", headers=token(ours))).status_code == 200, "they call us with it"
    listed = (await client.get("/api/v1/roaming-partners", headers=admin)).json()
    assert [p["name"] for p in listed if p["status"] == "registered"] == ["Harness"]
    invited = await client.post("/api/v1/roaming-partners/invite", json={"name": "Later"}, headers=admin)
    assert invited.status_code == 201 and invited.json()["versions_url"].endswith("/ocpi/versions")
    assert (await client.get("/ocpi/versions", headers=token(invited.json()["token_a"]))).status_code == 200
    switched = await client.patch(
        f"/api/v1/roaming-partners/{partner['id']}", json={"plain_tokens": True}, headers=admin
    )
    assert switched.json()["plain_tokens"] is True
    gone = await client.delete(f"/api/v1/roaming-partners/{partner['id']}", headers=admin)
    assert gone.status_code == 204
    after = (await client.get("/api/v1/roaming-partners", headers=admin)).json()
    assert {p["name"]: p["status"] for p in after}["Harness"] == "closed"


async def test_the_roaming_page_invites_registers_and_retries_failed_pushes(
    client: Client, ui_admin: str, sessions: async_sessionmaker[AsyncSession], emsp: Emsp
) -> None:
    from sqlalchemy import select

    from cpo.outbox.models import OutboxEvent
    from cpo.tenants.models import Tenant
    from tests.integration.test_ui import sign_in

    csrf = await sign_in(client, ui_admin)
    page = await client.get("/ui/roaming")
    assert page.status_code == 200 and "No roaming partners yet" in page.text
    invited = await client.post("/ui/roaming/invite", data={"csrf": csrf, "name": "Later eMSP"})
    assert invited.status_code == 201 and 'id="token-a"' in invited.text and "/ocpi/versions" in invited.text
    refused = await client.post("/ui/roaming/register", data={"csrf": csrf, "name": "X", "versions_url": "ftp://x",
                                                              "token": "t"})  # fmt: skip
    assert refused.status_code == 400 and "versions URL" in refused.text
    made = await client.post("/ui/roaming/register", data={"csrf": csrf, "name": "Harness",
                                                           "versions_url": f"{emsp.url}/versions", "token": "their-a"})  # fmt: skip
    assert made.status_code == 200 and "Connected" in made.text and "NL*TNM" in made.text
    async with sessions() as session, session.begin():
        tenant = (await session.execute(select(Tenant))).scalars().first()
        assert tenant is not None
        event = OutboxEvent(tenant_id=tenant.id, topic="cdr.issued", payload={"id": "x"}, attempts=25,
                            last_error="PushFailed: HTTP 503", dead_at=func_now())  # fmt: skip
        session.add(event)
        await session.flush()
        event_id = event.id
    failed = (await client.get("/ui/roaming")).text
    assert "HTTP 503" in failed and "Given up" in failed
    await client.post(f"/ui/roaming/retry/{event_id}", data={"csrf": csrf})
    async with sessions() as session:
        again = await session.get(OutboxEvent, event_id)
        assert again is not None and again.dead_at is None and again.attempts == 0


def func_now() -> Any:
    from datetime import UTC, datetime

    return datetime.now(UTC)
