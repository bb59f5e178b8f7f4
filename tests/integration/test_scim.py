"""SCIM 2.0 flows as identity providers send them (Okta- and Entra-style requests), and SCIM's own errors."""

from __future__ import annotations

from typing import Any

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cpo.accounts.service import create_api_token
from cpo.people.scim import ENTERPRISE, ERROR, PATCH_OP, USER
from tests.conftest import Tenancy

Client = AsyncTestClient[Litestar]
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"


async def scim_headers(sessions: async_sessionmaker[AsyncSession], tenancy: Tenancy) -> dict[str, str]:
    async with sessions() as session, session.begin():
        token, _ = await create_api_token(session, tenancy.id, "scim", "identity provider")
    return {"Authorization": f"Bearer {token}", "Content-Type": "application/scim+json"}


def okta_user(user_name: str, **extra: Any) -> dict[str, Any]:
    return {
        "schemas": [USER, ENTERPRISE], "userName": user_name, "externalId": "00u1abcd",
        "name": {"givenName": "Jan", "familyName": "Janssens"}, "displayName": "Jan Janssens",
        "emails": [{"primary": True, "value": user_name, "type": "work"}], "active": True, "locale": "nl-BE",
        "preferredLanguage": "nl", ENTERPRISE: {"department": "Sales", "costCenter": "CC-4100"}, **extra,
    }  # fmt: skip


async def test_an_identity_provider_creates_changes_deactivates_and_deletes_a_user(
    client: Client, tenant_a: Tenancy, sessions: async_sessionmaker[AsyncSession]
) -> None:
    h = await scim_headers(sessions, tenant_a)
    config = await client.get("/scim/v2/ServiceProviderConfig", headers=h)
    assert config.status_code == 200 and config.json()["patch"]["supported"] is True
    assert config.headers["content-type"].startswith("application/scim+json")
    types = (await client.get("/scim/v2/ResourceTypes", headers=h)).json()
    assert {t["id"] for t in types["Resources"]} == {"User", "Group"}
    assert (await client.get(f"/scim/v2/Schemas/{USER}", headers=h)).json()["name"] == "User"

    lookup = {"filter": 'userName eq "jan@acme.example"', "startIndex": "1", "count": "100"}
    assert (await client.get("/scim/v2/Users", params=lookup, headers=h)).json()["totalResults"] == 0
    created = await client.post("/scim/v2/Users", json=okta_user("jan@acme.example"), headers=h)
    assert created.status_code == 201, created.text
    user = created.json()
    assert created.headers["location"].endswith(f"/scim/v2/Users/{user['id']}")
    assert user["active"] is True and user[ENTERPRISE] == {"department": "Sales", "costCenter": "CC-4100"}
    found = (
        await client.get("/scim/v2/Users", params=lookup | {"filter": 'userName eq "JAN@acme.example"'}, headers=h)
    ).json()
    assert found["totalResults"] == 1 and found["Resources"][0]["id"] == user["id"]

    # the person exists for the admin API too, in the department and cost centre the HR system named
    person = (await client.get(f"/api/v1/people/{user['id']}", headers=tenant_a.admin)).json()
    groups = {g["id"]: g for g in (await client.get("/api/v1/groups", headers=tenant_a.admin)).json()}
    assert person["name"] == "Jan Janssens" and groups[person["department_id"]]["name"] == "Sales"

    # Entra-style PATCH: capitalised op, booleans as strings, a filtered e-mail path
    patch = {"schemas": [PATCH_OP], "Operations": [
        {"op": "Replace", "path": "active", "value": "False"},
        {"op": "Add", "path": 'emails[type eq "work"].value', "value": "jan.janssens@acme.example"},
        {"op": "Replace", "path": "name.familyName", "value": "Peeters"},
    ]}  # fmt: skip
    patched = await client.patch(f"/scim/v2/Users/{user['id']}", json=patch, headers=h)
    assert patched.status_code == 200, patched.text
    assert patched.json()["active"] is False and patched.json()["emails"][0]["value"] == "jan.janssens@acme.example"
    person = (await client.get(f"/api/v1/people/{user['id']}", headers=tenant_a.admin)).json()
    assert person["status"] == "inactive" and person["name"] == "Jan Peeters"

    # Okta-style PUT replaces the user (and reactivates)
    replaced = await client.put(
        f"/scim/v2/Users/{user['id']}", json=okta_user("jan@acme.example", displayName="Jan J."), headers=h
    )
    assert replaced.status_code == 200 and replaced.json()["active"] is True

    assert (await client.delete(f"/scim/v2/Users/{user['id']}", headers=h)).status_code == 204
    gone = await client.get(f"/scim/v2/Users/{user['id']}", headers=h)
    assert gone.status_code == 404 and gone.json()["schemas"] == [ERROR] and gone.json()["status"] == "404"
    # ... but the person stays, inactive, for the records that refer to them
    person = (await client.get(f"/api/v1/people/{user['id']}", headers=tenant_a.admin)).json()
    assert person["status"] == "inactive"


async def test_groups_and_their_members(
    client: Client, tenant_a: Tenancy, tenant_b: Tenancy, sessions: async_sessionmaker[AsyncSession]
) -> None:
    h = await scim_headers(sessions, tenant_a)
    other = await scim_headers(sessions, tenant_b)
    ann = (await client.post("/scim/v2/Users", json=okta_user("ann@acme.example"), headers=h)).json()
    bob = (await client.post("/scim/v2/Users", json=okta_user("bob@acme.example", externalId="00u2"), headers=h)).json()
    group = await client.post(
        "/scim/v2/Groups",
        json={"schemas": [GROUP], "displayName": "Fleet drivers", "members": [{"value": ann["id"]}]},
        headers=h,
    )
    assert group.status_code == 201, group.text
    gid = group.json()["id"]
    add = {"schemas": [PATCH_OP], "Operations": [{"op": "add", "path": "members", "value": [{"value": bob["id"]}]}]}
    assert (await client.patch(f"/scim/v2/Groups/{gid}", json=add, headers=h)).status_code == 200
    remove = {"schemas": [PATCH_OP], "Operations": [{"op": "remove", "path": f'members[value eq "{ann["id"]}"]'}]}
    after = (await client.patch(f"/scim/v2/Groups/{gid}", json=remove, headers=h)).json()
    assert [m["value"] for m in after["members"]] == [bob["id"]]
    assert (await client.get(f"/scim/v2/Users/{bob['id']}", headers=h)).json()["groups"][0][
        "display"
    ] == "Fleet drivers"
    bob_person = (await client.get(f"/api/v1/people/{bob['id']}", headers=tenant_a.admin)).json()
    assert gid in bob_person["group_ids"]
    by_name = (
        await client.get("/scim/v2/Groups", params={"filter": 'displayName eq "Fleet drivers"'}, headers=h)
    ).json()
    assert by_name["totalResults"] == 1
    # another tenant's identity provider sees none of it
    assert (await client.get(f"/scim/v2/Users/{bob['id']}", headers=other)).status_code == 404
    assert (await client.get(f"/scim/v2/Groups/{gid}", headers=other)).status_code == 404
    assert (await client.delete(f"/scim/v2/Users/{bob['id']}", headers=other)).status_code == 404
    assert (await client.get("/scim/v2/Users", headers=other)).json()["totalResults"] == 0
    assert (await client.delete(f"/scim/v2/Groups/{gid}", headers=h)).status_code == 204


async def test_requests_that_break_the_schema_get_scim_errors_and_change_nothing(
    client: Client, tenant_a: Tenancy, sessions: async_sessionmaker[AsyncSession]
) -> None:
    h = await scim_headers(sessions, tenant_a)
    assert (await client.post("/scim/v2/Users", json=okta_user("dup@acme.example"), headers=h)).status_code == 201
    before = len((await client.get("/api/v1/people", headers=tenant_a.admin)).json())
    cases = [
        ("POST", "/scim/v2/Users", {"schemas": [USER], "name": {"givenName": "No"}}, 400, "invalidValue"),
        ("POST", "/scim/v2/Users", {"userName": "x@acme.example"}, 400, "invalidSyntax"),
        ("POST", "/scim/v2/Users", okta_user("DUP@acme.example"), 409, "uniqueness"),
        ("POST", "/scim/v2/Users", okta_user("bad@acme.example", active="maybe"), 400, "invalidValue"),
        ("POST", "/scim/v2/Users", okta_user("bad@acme.example", emails=[{"value": "not-an-address"}]), 400, "invalidValue"),
        ("GET", "/scim/v2/Users?filter=userName%20co%20%22a%22", None, 400, "invalidFilter"),
        ("GET", "/scim/v2/Users?filter=password%20eq%20%22a%22", None, 400, "invalidFilter"),
        ("PATCH", "/scim/v2/Users/00000000-0000-0000-0000-000000000000",
         {"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "active", "value": False}]}, 404, None),
        ("POST", "/scim/v2/Groups", {"schemas": [GROUP], "displayName": "G", "members": [{"value": "nope"}]}, 400, "invalidValue"),
    ]  # fmt: skip
    for method, path, body, status, scim_type in cases:
        response = await client.request(method, path, json=body, headers=h)
        assert response.status_code == status, f"{method} {path}: {response.text}"
        answer = response.json()
        assert answer["schemas"] == [ERROR] and answer["status"] == str(status) and answer["detail"]
        assert answer.get("scimType") == scim_type, answer
    raw = await client.post("/scim/v2/Users", content=b"{not json", headers=h)
    assert raw.status_code == 400 and raw.json()["scimType"] == "invalidSyntax"
    assert len((await client.get("/api/v1/people", headers=tenant_a.admin)).json()) == before
    assert not [g for g in (await client.get("/api/v1/groups", headers=tenant_a.admin)).json() if g["name"] == "G"]

    anonymous = await client.get("/scim/v2/Users")
    assert anonymous.status_code == 401 and anonymous.json()["schemas"] == [ERROR]
    reader = await client.get("/scim/v2/Users", headers=tenant_a.read_only)
    assert reader.status_code == 403 and reader.json()["schemas"] == [ERROR]
