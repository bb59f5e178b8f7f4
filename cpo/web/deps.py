"""Dependencies shared by the API and the UI: the runtime, a database session, the caller."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

from litestar import Request
from litestar.datastructures import State
from litestar.di import Provide
from sqlalchemy.ext.asyncio import AsyncSession

from cpo.accounts.roles import Principal
from cpo.accounts.service import resolve_api_token
from cpo.audit.capture import act_as
from cpo.errors import Forbidden, Unauthenticated
from cpo.runtime import Runtime
from cpo.sites.scope import limit_to_sites
from cpo.tenants.service import find_tenant, get_tenant

TENANT_HEADER = "CPO-Tenant"


def runtime_of(state: State) -> Runtime:
    runtime: Runtime = state.runtime
    return runtime


async def provide_db(state: State) -> AsyncGenerator[AsyncSession, None]:
    """A session per request; handlers own the transaction (``async with db.begin()``)."""
    async with runtime_of(state).sessions() as session:
        yield session


async def provide_scoped_db(state: State, principal: Principal) -> AsyncGenerator[AsyncSession, None]:
    """The API's session: a site manager's sees only their sites (``cpo.sites.scope``)."""
    async with runtime_of(state).sessions() as session:
        limit_to_sites(session, principal.site_ids)
        act_as(session, principal.actor)
        yield session


def guarded(area: str) -> Provide:
    """The caller, who must hold ``area.read`` (GET) or ``area.write`` (anything else) to go on."""

    async def provide(request: Request[Any, Any, Any], state: State) -> Principal:
        principal = await provide_principal(request, state)
        principal.require(f"{area}.read" if request.method in ("GET", "HEAD") else f"{area}.write")
        return principal

    return Provide(provide)


async def provide_principal(request: Request[Any, Any, Any], state: State) -> Principal:
    """The API caller from ``Authorization: Bearer <token>``; platform admins may pick a tenant by header."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("send an API token as 'Authorization: Bearer <token>'")
    async with runtime_of(state).sessions() as session, session.begin():
        principal = await resolve_api_token(session, token.strip())
        slug = request.headers.get(TENANT_HEADER)
        if slug:
            if not principal.is_platform_admin:
                # Checked before any lookup, so the answer never tells which tenants exist.
                own = await get_tenant(session, principal.tenant_id)
                if slug != own.slug:
                    raise Forbidden("only a platform administrator may act for another tenant")
            tenant = await find_tenant(session, slug)
            principal = principal.acting_for(tenant.id)
    return principal
