"""Input meant to break the server is refused with a 400 (OCPI: 2001 in its envelope), never answered with a 500."""

from __future__ import annotations

import base64
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar
from litestar.routes import HTTPRoute
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cpo.roaming import service as roaming
from cpo.roaming.sealing import sealer_for
from cpo.settings import Settings
from cpo.web.json_body import refuse_deep_json
from tests.conftest import Tenancy
from tests.conftest import test_settings as settings_for
from tests.stripe_support import signed

Client = AsyncTestClient[Litestar]
NESTED = b"[" * 5000
NESTED_OBJECT = b'{"a":' * 5000 + b"1" + b"}" * 5000
IN_A_FIELD = b'{"roles": ' + b"[" * 5000 + b"]" * 5000 + b"}"
BODIES = (NESTED, NESTED_OBJECT, IN_A_FIELD)
SCIM_USER = "urn:ietf:params:scim:schemas:core:2.0:User"
WEBHOOK_SECRET = "whsec_hostile_input_test"


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    """The platform's Stripe webhooks are set up (no processor is ever called by these tests)."""
    base = settings_for(db_url, tmp_path)
    return replace(base, payments=replace(base.payments, stripe_webhook_secret=WEBHOOK_SECRET))


def json_body(content: bytes) -> dict[str, Any]:
    return {"content": content, "headers": {"Content-Type": "application/json"}}


async def test_deeply_nested_json_is_a_400_on_the_api_scim_and_the_pay_start(client: Client, tenant_a: Tenancy) -> None:
    for body in BODIES:
        api = await client.post(
            "/api/v1/sites", content=body, headers=tenant_a.admin | {"Content-Type": "application/json"}
        )
        assert api.status_code == 400, api.text
        assert api.headers["content-type"].startswith("application/problem+json") and "nest" in api.json()["detail"]
        scim = await client.post("/scim/v2/Users", content=body,
                                 headers=tenant_a.admin | {"Content-Type": "application/scim+json"})  # fmt: skip
        assert scim.status_code == 400, scim.text
        assert scim.json()["status"] == "400" and scim.json()["scimType"] == "invalidSyntax"
        pay = await client.post("/pay/BE*ABC*E1/start", **json_body(body))
        assert pay.status_code == 400, pay.text
    # a body nested as deep as any real message still goes through to the usual validation
    shallow = await client.post("/api/v1/sites", json={"name": [[[["x"]]]]}, headers=tenant_a.admin)
    assert shallow.status_code == 400 and "nest" not in shallow.json()["detail"]


def test_every_http_route_refuses_deep_json_before_its_handler(app: Litestar) -> None:
    """A router, controller or handler with a before_request hook of its own would replace the guard."""
    handlers = [h for route in app.routes if isinstance(route, HTTPRoute) for h in route.route_handlers]
    unguarded = [h for h in handlers if getattr(h.resolve_before_request(), "func", None) is not refuse_deep_json
                 and h.resolve_before_request() is not refuse_deep_json]  # fmt: skip
    assert len(handlers) > 100 and unguarded == []


async def test_deeply_nested_json_is_ocpi_2001_in_the_envelope(
    client: Client, tenant_a: Tenancy, sessions: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    async with sessions() as session, session.begin():
        _, token_a = await roaming.invite(session, tenant_a.id, "Nested", sealer_for(settings))
    auth = {"Authorization": "Token " + base64.b64encode(token_a.encode()).decode()}
    for body in BODIES:
        answer = await client.post("/ocpi/2.2.1/credentials", content=body, headers=auth)
        assert answer.status_code == 400, answer.text
        assert answer.json()["status_code"] == 2001 and "nest" in answer.json()["status_message"]


async def test_badge_validity_mixing_naive_and_aware_times_is_a_400(client: Client, tenant_a: Tenancy) -> None:
    for valid_from, valid_to in (("2027-01-01T00:00:00", "2027-02-01T00:00:00Z"),
                                 ("2027-01-01T00:00:00Z", "2027-02-01T00:00:00")):  # fmt: skip
        badge = {"uid": "0A0B0C0D", "valid_from": valid_from, "valid_to": valid_to}
        answer = await client.post("/api/v1/badges", json=badge, headers=tenant_a.admin)
        assert answer.status_code == 400, answer.text
        assert "time zone" in answer.json()["detail"]


async def test_a_quota_that_is_not_a_finite_number_is_a_400(client: Client, tenant_a: Tenancy) -> None:
    group = await client.post("/api/v1/groups", json={"kind": "department", "name": "Ops"}, headers=tenant_a.admin)
    rule = {"name": "q", "group_id": group.json()["id"]}
    for quota in ("NaN", "-NaN", "sNaN", "Infinity", "-Infinity"):
        answer = await client.post("/api/v1/access-rules", json=rule | {"monthly_kwh_quota": quota},
                                   headers=tenant_a.admin)  # fmt: skip
        assert answer.status_code == 400, (quota, answer.text)
        assert answer.json()["errors"][0]["field"] == "monthly_kwh_quota"
    fine = await client.post("/api/v1/access-rules", json=rule | {"monthly_kwh_quota": "150.5"}, headers=tenant_a.admin)
    assert fine.status_code == 201, fine.text


async def test_cost_allocation_of_a_month_at_the_end_of_the_calendar_is_a_400(
    client: Client, tenant_a: Tenancy
) -> None:
    for month in ("9999-12", "0000-01", "0001-01"):
        for path in ("/api/v1/billing/cost-allocation", "/api/v1/billing/cost-allocation.csv"):
            answer = await client.get(path, params={"month": month}, headers=tenant_a.admin)
            assert answer.status_code == 400, (month, path, answer.text)
    assert (await client.get("/api/v1/billing/cost-allocation", params={"month": "2026-12"},
                             headers=tenant_a.admin)).status_code == 200  # fmt: skip


def scim_user(**fields: Any) -> dict[str, Any]:
    return {"schemas": [SCIM_USER], "userName": "jan@acme.example", **fields}


async def test_scim_values_too_long_for_their_column_or_with_nul_are_a_400(client: Client, tenant_a: Tenancy) -> None:
    headers = tenant_a.admin | {"Content-Type": "application/scim+json"}
    bad_users = [
        scim_user(userName="a" * 255),
        scim_user(userName="jan\x00@acme.example"),
        scim_user(displayName="x" * 201),
        scim_user(name={"givenName": "g" * 150, "familyName": "f" * 150}),
        scim_user(externalId="e" * 256),
        scim_user(externalId="e\x00"),
        scim_user(emails=[{"value": "a" * 250 + "@acme.example", "primary": True}]),
        scim_user(**{"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "d" * 201}}),
        scim_user(**{"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"costCenter": "c\x00"}}),
    ]
    for user in bad_users:
        answer = await client.post("/scim/v2/Users", json=user, headers=headers)
        assert answer.status_code == 400, (user, answer.text)
        assert answer.json()["scimType"] == "invalidValue"
    for group in ({"displayName": "g" * 201}, {"displayName": "g\x00"}, {"displayName": "g", "externalId": "e" * 256}):
        body = {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], **group}
        answer = await client.post("/scim/v2/Groups", json=body, headers=headers)
        assert answer.status_code == 400, (group, answer.text)
    created = await client.post("/scim/v2/Users", json=scim_user(), headers=headers)
    assert created.status_code == 201, created.text
    patch = {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
             "Operations": [{"op": "replace", "path": "name.familyName", "value": "f" * 250}]}  # fmt: skip
    patched = await client.patch(f"/scim/v2/Users/{created.json()['id']}", json=patch, headers=headers)
    assert patched.status_code == 400, patched.text
    for lookup in ('userName eq "jan\x00"', 'userName eq "' + "a" * 2000 + '"'):
        answer = await client.get("/scim/v2/Users", params={"filter": lookup}, headers=headers)
        assert answer.status_code == 400 and answer.json()["scimType"] == "invalidFilter", answer.text


async def test_scim_paging_past_any_number_answers_an_empty_page(client: Client, tenant_a: Tenancy) -> None:
    headers = tenant_a.admin | {"Content-Type": "application/scim+json"}
    assert (await client.post("/scim/v2/Users", json=scim_user(), headers=headers)).status_code == 201
    for start in (str(2**63), str(10**30), str(2**63 - 1)):
        for path in ("/scim/v2/Users", "/scim/v2/Groups"):
            answer = await client.get(path, params={"startIndex": start, "count": "10"}, headers=headers)
            assert answer.status_code == 200, (start, answer.text)
            assert answer.json()["Resources"] == [] and answer.json()["itemsPerPage"] == 0
    first = await client.get("/scim/v2/Users", params={"startIndex": "1"}, headers=headers)
    assert first.json()["totalResults"] == 1 and len(first.json()["Resources"]) == 1


async def test_a_signed_webhook_whose_body_is_not_an_event_object_is_a_400(client: Client) -> None:
    bodies = [b"[]", b'"evt"', b"1", b"null", b"\xff\xfe", b"{}", b'{"id": 1, "type": "x", "data": {"object": {}}}',
              b'{"id": "evt_1", "type": "payment_intent.succeeded", "data": "x"}',
              b'{"id": "evt_1", "type": "payment_intent.succeeded", "data": {"object": "pi_1"}}',
              b'{"id": "evt_1", "type": ["charge.refunded"], "data": {"object": {}}}']  # fmt: skip
    for body in bodies:
        answer = await client.post("/payments/stripe/webhook", content=body, headers=signed(body, WEBHOOK_SECRET))
        assert answer.status_code == 400, (body, answer.text)
        assert "not an event" in answer.json()["detail"]
    # an event of a kind the intake does not act on, well formed, is taken (and a forged one still refused)
    event = b'{"id": "evt_2", "type": "customer.created", "data": {"object": {"id": "cus_1"}}}'
    assert (await client.post("/payments/stripe/webhook", content=event,
                              headers=signed(event, WEBHOOK_SECRET))).status_code == 200  # fmt: skip
    assert (await client.post("/payments/stripe/webhook", content=event,
                              headers=signed(event, "whsec_forger"))).status_code == 400  # fmt: skip
