"""API tokens of the caller's tenant, and tenants (platform administrators only)."""

from __future__ import annotations

import uuid

from litestar import Controller, delete, get, patch, post, put
from litestar.status_codes import HTTP_201_CREATED, HTTP_204_NO_CONTENT
from sqlalchemy.ext.asyncio import AsyncSession

from cpo.accounts import service
from cpo.accounts.roles import Principal
from cpo.accounts.schemas import (
    EnrolmentSecretOut,
    IdentityPrefixIn,
    TenantIn,
    TenantOut,
    TenantSettingsIn,
    TokenCreated,
    TokenIn,
    TokenOut,
    tenant_out,
    token_out,
)
from cpo.errors import Forbidden
from cpo.tenants import service as tenants
from cpo.web.deps import guarded


class TokenController(Controller):
    path = "/tokens"
    tags = ["access"]
    dependencies = {"principal": guarded("tokens")}

    @get("/")
    async def list_tokens(self, db: AsyncSession, principal: Principal) -> list[TokenOut]:
        async with db.begin():
            return [token_out(t) for t in await service.list_api_tokens(db, principal.tenant_id)]

    @post("/", status_code=HTTP_201_CREATED)
    async def create_token(self, db: AsyncSession, principal: Principal, data: TokenIn) -> TokenCreated:
        """Create an API token (shown once). Nobody can mint a role above their own."""
        if data.role == "platform_admin":
            principal.require_platform_admin()
        async with db.begin():
            token, record = await service.create_api_token(
                db, principal.tenant_id, data.role, data.name, data.expires_at, data.site_ids
            )
        out = token_out(record)
        return TokenCreated(**{f: getattr(out, f) for f in out.__struct_fields__}, token=token)

    @delete("/{token_id:uuid}", status_code=HTTP_204_NO_CONTENT)
    async def revoke_token(self, db: AsyncSession, principal: Principal, token_id: uuid.UUID) -> None:
        async with db.begin():
            await service.revoke_api_token(db, principal.tenant_id, token_id)


class TenantController(Controller):
    path = "/tenants"
    tags = ["access"]

    @get("/current")
    async def current_tenant(self, db: AsyncSession, principal: Principal) -> TenantOut:
        async with db.begin():
            return tenant_out(await tenants.get_tenant(db, principal.tenant_id))

    @patch("/current")
    async def update_current_tenant(self, db: AsyncSession, principal: Principal, data: TenantSettingsIn) -> TenantOut:
        """The tenant's settings: one session per badge, retention of raw data, station auto-registration."""
        principal.require("tenant.write")
        async with db.begin():
            tenant = await tenants.get_tenant(db, principal.tenant_id)
            for name in data.__struct_fields__:
                if (value := getattr(data, name)) is not None:
                    setattr(tenant, name, value)
            tenants.check_auto_registration(tenant)
            await db.flush()
            return tenant_out(tenant)

    @post("/current/enrolment-secret", status_code=HTTP_201_CREATED)
    async def new_enrolment_secret(self, db: AsyncSession, principal: Principal) -> EnrolmentSecretOut:
        """A new enrolment secret (shown once; the old one stops working) and auto-registration on."""
        principal.require("tenant.write")
        async with db.begin():
            secret = await tenants.new_enrolment_secret(db, principal.tenant_id)
        return EnrolmentSecretOut(enrolment_secret=secret, auto_register_stations=True)

    @delete("/current/enrolment-secret", status_code=HTTP_204_NO_CONTENT)
    async def drop_enrolment_secret(self, db: AsyncSession, principal: Principal) -> None:
        """No more stations register themselves."""
        principal.require("tenant.write")
        async with db.begin():
            await tenants.drop_enrolment_secret(db, principal.tenant_id)

    @put("/{tenant_id:uuid}/station-identity-prefix")
    async def grant_identity_prefix(
        self, db: AsyncSession, principal: Principal, tenant_id: uuid.UUID, data: IdentityPrefixIn
    ) -> TenantOut:
        """Platform administrators only: station identities starting with the prefix are this tenant's alone."""
        principal.require_platform_admin()
        async with db.begin():
            return tenant_out(await tenants.grant_identity_prefix(db, tenant_id, data.prefix))

    @get("/")
    async def list_tenants(self, db: AsyncSession, principal: Principal) -> list[TenantOut]:
        async with db.begin():
            if principal.is_platform_admin:
                return [tenant_out(t) for t in await tenants.list_tenants(db)]
            return [tenant_out(await tenants.get_tenant(db, principal.tenant_id))]

    @post("/", status_code=HTTP_201_CREATED)
    async def create_tenant(self, db: AsyncSession, principal: Principal, data: TenantIn) -> TenantOut:
        if not principal.is_platform_admin:
            raise Forbidden("only a platform administrator may create tenants")
        async with db.begin():
            tenant = await tenants.create_tenant(db, data.slug, data.name, data.country_code, data.party_id)
            return tenant_out(tenant)
