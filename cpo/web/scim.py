"""SCIM 2.0 at /scim/v2 (RFC 7644): HR systems and identity providers provision people and groups.

Authenticated with an API token (role ``scim``, or a tenant administrator's); errors in SCIM's own format.
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request, Response, Router, delete, get, patch, post, put
from litestar.datastructures import State
from litestar.di import Provide
from litestar.exceptions import HTTPException, NotFoundException, ValidationException
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from cpo.accounts.roles import Principal
from cpo.errors import Conflict, DomainError, Forbidden, InvalidInput, NotFound, Unauthenticated
from cpo.people import provisioning
from cpo.people.models import Group
from cpo.people.scim import (
    ENTERPRISE,
    GROUP,
    USER,
    ScimError,
    apply_user_patch,
    group_fields,
    group_patch,
    group_resource,
    list_response,
    parse_filter,
    user_fields,
    user_resource,
)
from cpo.web.deps import provide_principal, provide_scoped_db, runtime_of
from cpo.web.json_body import TooDeeplyNested
from cpo.web.problems import internal_error_response, is_bad_data

SCIM_JSON = "application/scim+json"
MAX_COUNT = 200
MAX_START = 2**62


def scim(body: Any, status: int = 200, location: str | None = None) -> Response[Any]:
    headers = {"Location": location} if location else None
    return Response(body, status_code=status, media_type=SCIM_JSON, headers=headers)


def _base(state: State) -> str:
    return runtime_of(state).settings.base_url + "/scim/v2"


async def _json(request: Request[Any, Any, Any]) -> Any:
    try:
        return msgspec.json.decode(await request.body())
    except msgspec.DecodeError as error:
        raise ScimError(400, f"the body is not JSON: {error}", "invalidSyntax") from None


def _paging(start_index: int | None, count: int | None) -> tuple[int, int]:
    # Past the last result is an empty page (RFC 7644 §3.4.2.4), however far past: the offset must still
    # fit PostgreSQL's bigint.
    return min(max(1, start_index or 1), MAX_START), max(0, min(MAX_COUNT, MAX_COUNT if count is None else count))


async def provide_scim_principal(request: Request[Any, Any, Any], state: State) -> Principal:
    principal = await provide_principal(request, state)
    principal.require("scim.read" if request.method == "GET" else "scim.write")
    return principal


def _group_out(group: Group, members: list[Any], base: str) -> dict[str, Any]:
    return group_resource(group.id, group.name, group.external_id, members, group.created_at, group.updated_at, base)


# --- users -----------------------------------------------------------------------------------------------------


@get("/Users")
async def list_users(
    db: AsyncSession, principal: Principal, state: State, filter: str | None = None,
    startIndex: int | None = None, count: int | None = None,
) -> Response[Any]:  # fmt: skip
    start, size = _paging(startIndex, count)
    where = parse_filter(filter, provisioning.USER_FILTERS)
    async with db.begin():
        total, users = await provisioning.list_users(db, principal.tenant_id, where, start, size)
    return scim(list_response([user_resource(u, _base(state)) for u in users], total, start))


@post("/Users")
async def create_user(
    request: Request[Any, Any, Any], db: AsyncSession, principal: Principal, state: State
) -> Response[Any]:
    fields = user_fields(await _json(request))
    async with db.begin():
        user = await provisioning.create_user(db, principal.tenant_id, fields)
    resource = user_resource(user, _base(state))
    return scim(resource, 201, resource["meta"]["location"])


@get("/Users/{person_id:str}")
async def get_user(db: AsyncSession, principal: Principal, state: State, person_id: str) -> Response[Any]:
    async with db.begin():
        return scim(user_resource(await provisioning.get_user(db, principal.tenant_id, person_id), _base(state)))


@put("/Users/{person_id:str}")
async def replace_user(
    request: Request[Any, Any, Any], db: AsyncSession, principal: Principal, state: State, person_id: str
) -> Response[Any]:
    fields = user_fields(await _json(request))
    async with db.begin():
        user = await provisioning.replace_user(db, principal.tenant_id, person_id, fields)
    return scim(user_resource(user, _base(state)))


@patch("/Users/{person_id:str}")
async def patch_user(
    request: Request[Any, Any, Any], db: AsyncSession, principal: Principal, state: State, person_id: str
) -> Response[Any]:
    body = await _json(request)
    async with db.begin():
        current = await provisioning.get_user(db, principal.tenant_id, person_id)
        fields = apply_user_patch(provisioning.fields_of(current), body)
        user = await provisioning.replace_user(db, principal.tenant_id, person_id, fields)
    return scim(user_resource(user, _base(state)))


@delete("/Users/{person_id:str}", status_code=204)
async def delete_user(db: AsyncSession, principal: Principal, person_id: str) -> None:
    async with db.begin():
        await provisioning.deprovision_user(db, principal.tenant_id, person_id)


# --- groups ----------------------------------------------------------------------------------------------------


@get("/Groups")
async def list_groups(
    db: AsyncSession, principal: Principal, state: State, filter: str | None = None,
    startIndex: int | None = None, count: int | None = None,
) -> Response[Any]:  # fmt: skip
    start, size = _paging(startIndex, count)
    where = parse_filter(filter, provisioning.GROUP_FILTERS)
    async with db.begin():
        total, groups = await provisioning.list_groups(db, principal.tenant_id, where, start, size)
    return scim(list_response([_group_out(g, m, _base(state)) for g, m in groups], total, start))


@post("/Groups")
async def create_group(
    request: Request[Any, Any, Any], db: AsyncSession, principal: Principal, state: State
) -> Response[Any]:
    fields = group_fields(await _json(request))
    async with db.begin():
        group = await provisioning.create_group(db, principal.tenant_id, fields)
        resource = _group_out(group, await provisioning.group_members(db, group.id), _base(state))
    return scim(resource, 201, resource["meta"]["location"])


@get("/Groups/{group_id:str}")
async def get_group(db: AsyncSession, principal: Principal, state: State, group_id: str) -> Response[Any]:
    async with db.begin():
        group, members = await provisioning.get_group(db, principal.tenant_id, group_id)
        return scim(_group_out(group, members, _base(state)))


@put("/Groups/{group_id:str}")
async def replace_group(
    request: Request[Any, Any, Any], db: AsyncSession, principal: Principal, state: State, group_id: str
) -> Response[Any]:
    fields = group_fields(await _json(request))
    async with db.begin():
        group = await provisioning.replace_group(db, principal.tenant_id, group_id, fields)
        return scim(_group_out(group, await provisioning.group_members(db, group.id), _base(state)))


@patch("/Groups/{group_id:str}")
async def patch_group(
    request: Request[Any, Any, Any], db: AsyncSession, principal: Principal, state: State, group_id: str
) -> Response[Any]:
    change = group_patch(await _json(request))
    async with db.begin():
        group = await provisioning.patch_group(db, principal.tenant_id, group_id, change)
        return scim(_group_out(group, await provisioning.group_members(db, group.id), _base(state)))


@delete("/Groups/{group_id:str}", status_code=204)
async def delete_group(db: AsyncSession, principal: Principal, group_id: str) -> None:
    async with db.begin():
        await provisioning.delete_group(db, principal.tenant_id, group_id)


# --- discovery (RFC 7644 §4) -------------------------------------------------------------------------------------

SERVICE_PROVIDER = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"
RESOURCE_TYPE = "urn:ietf:params:scim:schemas:core:2.0:ResourceType"
SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Schema"


def _attribute(name: str, kind: str = "string", required: bool = False, multi: bool = False,
               mutability: str = "readWrite", sub: list[dict[str, Any]] | None = None) -> dict[str, Any]:  # fmt: skip
    attribute: dict[str, Any] = {
        "name": name, "type": kind, "multiValued": multi, "required": required, "caseExact": False,
        "mutability": mutability, "returned": "default", "uniqueness": "server" if name == "userName" else "none",
    }  # fmt: skip
    if sub:
        attribute["subAttributes"] = sub
    return attribute


SCHEMAS: dict[str, dict[str, Any]] = {
    USER: {"id": USER, "name": "User", "description": "A person who charges", "attributes": [
        _attribute("userName", required=True), _attribute("externalId"), _attribute("displayName"),
        _attribute("name", "complex", sub=[_attribute("formatted"), _attribute("givenName"), _attribute("familyName")]),
        _attribute("emails", "complex", multi=True, sub=[_attribute("value"), _attribute("type"),
                                                          _attribute("primary", "boolean")]),
        _attribute("active", "boolean"), _attribute("userType"), _attribute("preferredLanguage"),
        _attribute("groups", "complex", multi=True, mutability="readOnly", sub=[_attribute("value"),
                                                                                _attribute("display")]),
    ]},
    GROUP: {"id": GROUP, "name": "Group", "description": "A department or team", "attributes": [
        _attribute("displayName", required=True), _attribute("externalId"),
        _attribute("members", "complex", multi=True, sub=[_attribute("value"), _attribute("display")]),
    ]},
    ENTERPRISE: {"id": ENTERPRISE, "name": "EnterpriseUser", "description": "Department and cost centre",
                 "attributes": [_attribute("department"), _attribute("costCenter")]},
}  # fmt: skip


@get("/ServiceProviderConfig")
async def service_provider_config() -> Response[Any]:
    return scim({
        "schemas": [SERVICE_PROVIDER],
        "patch": {"supported": True}, "bulk": {"supported": False, "maxOperations": 0, "maxPayloadSize": 0},
        "filter": {"supported": True, "maxResults": MAX_COUNT}, "changePassword": {"supported": False},
        "sort": {"supported": False}, "etag": {"supported": False},
        "authenticationSchemes": [{"type": "oauthbearertoken", "name": "API token", "primary": True,
                                   "description": "Authorization: Bearer <an API token with the role scim>"}],
    })  # fmt: skip


def _resource_types(base: str) -> list[dict[str, Any]]:
    return [
        {"schemas": [RESOURCE_TYPE], "id": "User", "name": "User", "endpoint": "/Users", "schema": USER,
         "schemaExtensions": [{"schema": ENTERPRISE, "required": False}],
         "meta": {"resourceType": "ResourceType", "location": f"{base}/ResourceTypes/User"}},
        {"schemas": [RESOURCE_TYPE], "id": "Group", "name": "Group", "endpoint": "/Groups", "schema": GROUP,
         "meta": {"resourceType": "ResourceType", "location": f"{base}/ResourceTypes/Group"}},
    ]  # fmt: skip


@get("/ResourceTypes")
async def resource_types(state: State) -> Response[Any]:
    types = _resource_types(_base(state))
    return scim(list_response(types, len(types), 1))


@get("/ResourceTypes/{name:str}")
async def resource_type(state: State, name: str) -> Response[Any]:
    for item in _resource_types(_base(state)):
        if item["id"] == name:
            return scim(item)
    raise ScimError(404, f"no resource type {name}")


@get("/Schemas")
async def schemas(state: State) -> Response[Any]:
    items = [_schema(s, _base(state)) for s in SCHEMAS.values()]
    return scim(list_response(items, len(items), 1))


@get("/Schemas/{schema_id:str}")
async def schema(state: State, schema_id: str) -> Response[Any]:
    if schema_id not in SCHEMAS:
        raise ScimError(404, f"no schema {schema_id}")
    return scim(_schema(SCHEMAS[schema_id], _base(state)))


def _schema(body: dict[str, Any], base: str) -> dict[str, Any]:
    return {"schemas": [SCHEMA], **body, "meta": {"resourceType": "Schema", "location": f"{base}/Schemas/{body['id']}"}}


# --- errors ----------------------------------------------------------------------------------------------------


def _error(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    if isinstance(exc, ScimError):
        error = exc
    elif isinstance(exc, TooDeeplyNested):
        error = ScimError(400, exc.detail, "invalidSyntax")
    elif is_bad_data(exc):
        error = ScimError(400, "a value cannot be stored (for example a NUL character in a text)", "invalidValue")
    elif isinstance(exc, DBAPIError):
        return internal_error_response(request, exc)
    elif isinstance(exc, Unauthenticated):
        error = ScimError(401, str(exc))
    elif isinstance(exc, Forbidden):
        error = ScimError(403, str(exc))
    elif isinstance(exc, NotFound | NotFoundException):
        error = ScimError(404, str(exc) if isinstance(exc, NotFound) else "no such resource")
    elif isinstance(exc, Conflict):
        error = ScimError(409, str(exc), "uniqueness")
    elif isinstance(exc, InvalidInput | ValidationException):
        error = ScimError(400, str(exc), "invalidValue")
    elif isinstance(exc, HTTPException):
        error = ScimError(exc.status_code, exc.detail)
    else:
        error = ScimError(400, str(exc))
    headers = {"WWW-Authenticate": "Bearer"} if error.status == 401 else None
    return Response(error.body(), status_code=error.status, media_type=SCIM_JSON, headers=headers)


def scim_router() -> Router:
    return Router(
        path="/scim/v2",
        route_handlers=[
            list_users, create_user, get_user, replace_user, patch_user, delete_user, list_groups, create_group,
            get_group, replace_group, patch_group, delete_group, service_provider_config, resource_types,
            resource_type, schemas, schema,
        ],
        dependencies={"principal": Provide(provide_scim_principal), "db": Provide(provide_scoped_db)},
        exception_handlers={ScimError: _error, DomainError: _error, HTTPException: _error, DBAPIError: _error},
        include_in_schema=False,
    )  # fmt: skip
