"""The OCPI 2.2.1 interfaces of the CPO role under /ocpi: versions, credentials, and the sender modules."""

from __future__ import annotations

import logging
from typing import Annotated, Any

import msgspec
from litestar import Request, Response, Router, delete, get, post, put
from litestar.datastructures import State
from litestar.di import Provide
from litestar.exceptions import HTTPException, MethodNotAllowedException, NotFoundException, ValidationException
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR
from sqlalchemy.exc import DataError, DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from cpo.errors import Conflict, DomainError, InvalidInput
from cpo.roaming import service as roaming
from cpo.roaming.models import RoamingPartner
from cpo.roaming.sealing import Sealer
from cpo.tariffs.service import party_of
from cpo.tenants.models import Tenant
from cpo.web.deps import runtime_of
from cpo.web.problems import is_bad_data
from ocpi import client
from ocpi.auth import Caller, provide_any_caller
from ocpi.envelope import (
    CLIENT_ERROR,
    INVALID_PARAMETERS,
    SERVER_ERROR,
    OcpiError,
    answer,
)
from ocpi.outbound import partner_http_of

log = logging.getLogger("cpo.ocpi")
VERSION = client.VERSION
MODULES: tuple[tuple[str, str], ...] = (
    ("credentials", "SENDER"),
    ("locations", "SENDER"),
    ("tariffs", "SENDER"),
    ("tokens", "RECEIVER"),
    ("sessions", "SENDER"),
    ("cdrs", "SENDER"),
    ("commands", "RECEIVER"),
    ("chargingprofiles", "RECEIVER"),
    ("hubclientinfo", "RECEIVER"),
)


class CredentialsRole(msgspec.Struct):
    role: Annotated[str, msgspec.Meta(max_length=20)]
    party_id: Annotated[str, msgspec.Meta(min_length=3, max_length=3)]
    country_code: Annotated[str, msgspec.Meta(min_length=2, max_length=2)]
    business_details: dict[str, Any] | None = None


class Credentials(msgspec.Struct):
    token: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    url: Annotated[str, msgspec.Meta(min_length=1, max_length=255)]
    roles: list[CredentialsRole]


def base_of(state: State) -> str:
    return runtime_of(state).settings.base_url + "/ocpi"


def sealer_of(state: State) -> Sealer:
    sealer: Sealer = state.sealer
    return sealer


def our_credentials(state: State, token: str, tenant: Tenant) -> dict[str, Any]:
    country, party = party_of(tenant)
    return {"token": token, "url": f"{base_of(state)}/versions",
            "roles": [{"role": "CPO", "party_id": party, "country_code": country,
                       "business_details": {"name": tenant.name}}]}  # fmt: skip


def _parse_credentials(body: bytes) -> Credentials:
    try:
        data = msgspec.json.decode(body, type=Credentials)
    except (msgspec.ValidationError, msgspec.DecodeError) as error:
        raise OcpiError(INVALID_PARAMETERS, f"credentials: {error}") from None
    if not data.roles:
        raise OcpiError(INVALID_PARAMETERS, "credentials: at least one role")
    return data


@get("/versions")
async def versions(request: Request[Any, Any, Any], state: State, caller: Caller) -> Response[bytes]:
    return answer(request, [{"version": VERSION, "url": f"{base_of(state)}/{VERSION}"}])


@get(f"/{VERSION}")
async def version_details(request: Request[Any, Any, Any], state: State, caller: Caller) -> Response[bytes]:
    base = f"{base_of(state)}/{VERSION}"
    endpoints = [{"identifier": module, "role": role, "url": f"{base}/{module}"} for module, role in MODULES]
    return answer(request, {"version": VERSION, "endpoints": endpoints})


@get(f"/{VERSION}/credentials")
async def get_credentials(
    request: Request[Any, Any, Any], state: State, db: AsyncSession, caller: Caller
) -> Response[bytes]:
    async with db.begin():
        tenant = await db.get(Tenant, caller.partner.tenant_id)
    assert tenant is not None
    return answer(request, our_credentials(state, caller.token, tenant))


async def _handshake(
    request: Request[Any, Any, Any], state: State, db: AsyncSession, caller: Caller, method: str
) -> Response[bytes]:
    """They send their credentials: we read their versions and endpoints with their token, keep them, and
    answer with a new token of ours."""
    data = _parse_credentials(await request.body())
    roles = [msgspec.to_builtins(r) for r in data.roles]

    async def checked() -> RoamingPartner:
        """The partner, its method and every role checked (again at the end: it may have changed meanwhile)."""
        partner = await roaming.get_partner(db, caller.partner.tenant_id, caller.partner.id)
        if (method == "POST") != (partner.status == "invited"):
            raise MethodNotAllowedException("register once with POST; update with PUT; unregister with DELETE")
        try:
            await roaming.check_roles(db, partner, roles)
        except (Conflict, InvalidInput) as refused:
            raise OcpiError(INVALID_PARAMETERS, f"credentials: {refused}") from None
        return partner

    async with db.begin():
        await checked()  # before we call them: a refused role costs their side no request
    found = await client.discover(partner_http_of(state), data.url, data.token, caller.partner.plain_tokens)
    async with db.begin():
        partner = await checked()
        try:
            token = await roaming.registered(
                db, partner, their_token=data.token, versions_url=data.url, version=found.version,
                endpoints=found.endpoints, roles=roles, sealer=sealer_of(state),
            )  # fmt: skip
        except (Conflict, InvalidInput) as refused:
            raise OcpiError(INVALID_PARAMETERS, f"credentials: {refused}") from None
        tenant = await db.get(Tenant, partner.tenant_id)
    assert tenant is not None
    return answer(request, our_credentials(state, token, tenant))


@post(f"/{VERSION}/credentials", status_code=200)
async def post_credentials(
    request: Request[Any, Any, Any], state: State, db: AsyncSession, caller: Caller
) -> Response[bytes]:
    return await _handshake(request, state, db, caller, "POST")


@put(f"/{VERSION}/credentials")
async def put_credentials(
    request: Request[Any, Any, Any], state: State, db: AsyncSession, caller: Caller
) -> Response[bytes]:
    return await _handshake(request, state, db, caller, "PUT")


@delete(f"/{VERSION}/credentials", status_code=200)
async def delete_credentials(request: Request[Any, Any, Any], db: AsyncSession, caller: Caller) -> Response[bytes]:
    async with db.begin():
        partner = await roaming.get_partner(db, caller.partner.tenant_id, caller.partner.id)
        if partner.status != "registered":
            raise MethodNotAllowedException("not registered")
        await roaming.close(db, partner)
    return answer(request)


def _ocpi_error(request: Request[Any, Any, Any], error: OcpiError) -> Response[bytes]:
    return answer(request, None, error.status_code, error.message, error.http_status)


def http_error_response(request: Request[Any, Any, Any], error: HTTPException) -> Response[bytes]:
    """An HTTP error as an OCPI envelope; the app uses it too for /ocpi paths no route matched (an unknown path,
    a method a path does not take), so a partner parses every answer the same way."""
    status = error.status_code
    code = CLIENT_ERROR if status < 500 else SERVER_ERROR
    if isinstance(error, NotFoundException):
        return answer(request, None, code, "no such OCPI resource", 404)
    return answer(request, None, code, str(error.detail), status)


def _domain_error(request: Request[Any, Any, Any], error: DomainError) -> Response[bytes]:
    code = INVALID_PARAMETERS if isinstance(error, InvalidInput | Conflict) else CLIENT_ERROR
    return answer(request, None, code, str(error), 400)


def _invalid(request: Request[Any, Any, Any], error: ValidationException) -> Response[bytes]:
    """Path or query parameters of the wrong shape (a request that reached the OCPI layer)."""
    return answer(request, None, INVALID_PARAMETERS, str(error.detail), 400)


def _not_found(request: Request[Any, Any, Any], error: NotFoundException) -> Response[bytes]:
    return answer(request, None, CLIENT_ERROR, "no such OCPI resource", 404)


def _route(request: Request[Any, Any, Any]) -> str:
    # The template, never the path: a path names a driver's token UID, a session or a CDR.
    return str(request.scope.get("path_template") or "unmatched")


def _database_error(request: Request[Any, Any, Any], error: DBAPIError) -> Response[bytes]:
    """A value the database would not take (a NUL character, too long, out of range) that no check caught
    first is the partner's fault (2001); any other database failure is ours (3000)."""
    if isinstance(error, DataError) or is_bad_data(error):
        log.warning("OCPI input refused by the database", extra={"route": _route(request)})
        return answer(request, None, INVALID_PARAMETERS, "a value cannot be stored (too long, or a NUL character)", 400)
    return _server_error(request, error)


def _server_error(request: Request[Any, Any, Any], error: Exception) -> Response[bytes]:
    """Still an OCPI answer (3000), never problem details: partners parse the envelope."""
    log.exception("OCPI request failed", extra={"route": _route(request)})
    return answer(request, None, SERVER_ERROR, "internal error", 500)


def ocpi_router() -> Router:
    from ocpi.modules import commands, locations, profiles, sessions, tariffs, tokens

    return Router(
        path="/ocpi",
        route_handlers=[
            versions,
            version_details,
            get_credentials,
            post_credentials,
            put_credentials,
            delete_credentials,
            *locations.HANDLERS,
            *tariffs.HANDLERS,
            *tokens.HANDLERS,
            *sessions.HANDLERS,
            *commands.HANDLERS,
            *profiles.HANDLERS,
        ],
        dependencies={"caller": Provide(provide_any_caller)},
        exception_handlers={
            OcpiError: _ocpi_error,
            HTTPException: http_error_response,
            ValidationException: _invalid,
            NotFoundException: _not_found,
            DomainError: _domain_error,
            DBAPIError: _database_error,
            HTTP_500_INTERNAL_SERVER_ERROR: _server_error,
        },
        include_in_schema=False,
    )
