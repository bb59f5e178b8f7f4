"""Roaming partners over the admin API: invite one, register with one, see their state, unregister."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Annotated

from litestar import Controller, Router, delete, get, patch, post
from litestar.datastructures import State
from litestar.di import Provide
from litestar.status_codes import HTTP_201_CREATED, HTTP_204_NO_CONTENT
from msgspec import Meta, Struct
from sqlalchemy.ext.asyncio import AsyncSession

from cpo.accounts.roles import Principal
from cpo.errors import DomainError, InvalidInput
from cpo.roaming import service as roaming
from cpo.roaming.models import RoamingPartner
from cpo.tenants.models import Tenant
from cpo.web.deps import guarded, provide_principal, provide_scoped_db
from cpo.web.problems import API_EXCEPTION_HANDLERS
from ocpi import client
from ocpi.envelope import OcpiError
from ocpi.outbound import FAILURES, RefusedUrl, failed, partner_http_of
from ocpi.routes import base_of, our_credentials, sealer_of


class PartnerOut(Struct):
    id: uuid.UUID
    name: str
    status: str
    country_code: str | None
    party_id: str | None
    version: str | None
    versions_url: str | None
    modules: list[str]
    plain_tokens: bool
    last_contact_at: datetime | None
    last_error: str | None
    parties: list[str]
    """The parties it may act for, as ``NL*TNM``: fixed at its invitation or first registration."""


class PartyIn(Struct, forbid_unknown_fields=True):
    country_code: Annotated[str, Meta(min_length=2, max_length=2)]
    party_id: Annotated[str, Meta(min_length=3, max_length=3)]


class InviteIn(Struct, forbid_unknown_fields=True):
    name: Annotated[str, Meta(min_length=1, max_length=100)]
    parties: list[PartyIn] = []
    """The parties it may register and act for (a hub: several). None given: its first registration fixes
    them (each still refused when another partner holds it)."""


class Invited(Struct):
    partner: PartnerOut
    versions_url: str
    token_a: str
    """Shown once: the partner registers with it at our versions URL."""


class RegisterIn(Struct, forbid_unknown_fields=True):
    name: Annotated[str, Meta(min_length=1, max_length=100)]
    versions_url: Annotated[str, Meta(pattern=r"^https?://", max_length=255)]
    token: Annotated[str, Meta(min_length=1, max_length=255)]
    """The Token A the partner gave us."""
    plain_tokens: bool = False
    parties: list[PartyIn] = []
    """As for an invitation: the roles they answer with must be among these."""


class PartnerUpdate(Struct, forbid_unknown_fields=True):
    plain_tokens: bool | None = None
    add_parties: list[PartyIn] = []
    """More parties it may act for (a hub that serves more parties now); a party is never taken away."""


def partner_out(p: RoamingPartner, parties: Iterable[str] = ()) -> PartnerOut:
    return PartnerOut(p.id, p.name, p.status, p.country_code, p.party_id, p.version, p.versions_url,
                      sorted(p.endpoints or {}), p.plain_tokens, p.last_contact_at, p.last_error,
                      sorted(parties))  # fmt: skip


async def partner_with_parties(db: AsyncSession, partner: RoamingPartner) -> PartnerOut:
    return partner_out(partner, (f"{c}*{i}" for c, i in await roaming.parties_of(db, partner)))


def _parties(given: list[PartyIn]) -> list[tuple[str, str]]:
    return [(p.country_code, p.party_id) for p in given]


class PartnerController(Controller):
    path = "/roaming-partners"
    tags = ["roaming"]
    dependencies = {"principal": guarded("roaming")}

    @get("/")
    async def list_partners(self, db: AsyncSession, principal: Principal) -> list[PartnerOut]:
        async with db.begin():
            parties = await roaming.all_parties(db, principal.tenant_id)
            return [partner_out(p, parties.get(p.id, [])) for p in await roaming.list_partners(db, principal.tenant_id)]

    @post("/invite", status_code=HTTP_201_CREATED)
    async def invite(self, db: AsyncSession, principal: Principal, state: State, data: InviteIn) -> Invited:
        """A Token A for a partner that registers with us (shown once) and our versions URL."""
        async with db.begin():
            partner, token = await roaming.invite(
                db, principal.tenant_id, data.name, sealer_of(state), _parties(data.parties)
            )
            return Invited(await partner_with_parties(db, partner), f"{base_of(state)}/versions", token)

    @post("/{partner_id:uuid}/invite", status_code=HTTP_201_CREATED)
    async def invite_again(
        self, db: AsyncSession, principal: Principal, state: State, partner_id: uuid.UUID
    ) -> Invited:
        """A new Token A for a partner that left (or lost its first one): it comes back on its own record, with
        its parties, sessions and CDRs. The old token stops working."""
        async with db.begin():
            partner = await roaming.get_partner(db, principal.tenant_id, partner_id)
            token = await roaming.reinvite(db, partner, sealer_of(state))
            return Invited(await partner_with_parties(db, partner), f"{base_of(state)}/versions", token)

    @post("/", status_code=HTTP_201_CREATED)
    async def register(self, db: AsyncSession, principal: Principal, state: State, data: RegisterIn) -> PartnerOut:
        """Register with a partner: read their versions with their Token A, send our credentials (a new token of
        ours) to their credentials endpoint, keep the token they answer with."""
        partner = await register_with(db, principal, state, data)
        async with db.begin():
            return await partner_with_parties(db, partner)

    @patch("/{partner_id:uuid}")
    async def update(
        self, db: AsyncSession, principal: Principal, partner_id: uuid.UUID, data: PartnerUpdate
    ) -> PartnerOut:
        """Switch plain tokens (for peers that neither send nor expect base64), or give it more parties."""
        async with db.begin():
            partner = await roaming.get_partner(db, principal.tenant_id, partner_id)
            if data.plain_tokens is not None:
                partner.plain_tokens = data.plain_tokens
            await roaming.add_parties(db, partner, _parties(data.add_parties))
            return await partner_with_parties(db, partner)

    @delete("/{partner_id:uuid}", status_code=HTTP_204_NO_CONTENT)
    async def unregister(self, db: AsyncSession, principal: Principal, state: State, partner_id: uuid.UUID) -> None:
        """Unregister: tell them (DELETE on their credentials, best effort), then neither token works."""
        async with db.begin():
            partner = await roaming.get_partner(db, principal.tenant_id, partner_id)
            token = roaming.their_token(partner, sealer_of(state))
            url = next((u for k, u in (partner.endpoints or {}).items() if k.startswith("credentials:")), None)
            plain = partner.plain_tokens
        if token and url:
            try:
                async with partner_http_of(state).client() as http:
                    await http.delete(url, headers=client.headers(token, plain))
            except FAILURES as error:
                failed("DELETE", url, error)  # they may be gone for good; we close our side regardless
        async with db.begin():
            await roaming.close(db, await roaming.get_partner(db, principal.tenant_id, partner_id))


async def register_with(db: AsyncSession, principal: Principal, state: State, data: RegisterIn) -> RoamingPartner:
    """We register with a partner (they gave us a versions URL and a Token A)."""
    sealer = sealer_of(state)
    http = partner_http_of(state)
    try:
        http.check(data.versions_url, "versions_url")
    except RefusedUrl as refused:
        raise InvalidInput("versions_url", refused.reason) from None
    try:
        found = await client.discover(http, data.versions_url, data.token, data.plain_tokens)
    except OcpiError as error:
        raise InvalidInput("versions_url", error.message) from None
    credentials_url = found.endpoints.get("credentials:SENDER") or next(
        url for key, url in found.endpoints.items() if key.startswith("credentials:"))  # fmt: skip
    async with db.begin():
        # The token we send is valid from now on (versions and credentials only, until registered): the
        # partner reads our versions with it before it answers.
        partner, ours = await roaming.invite(db, principal.tenant_id, data.name, sealer, _parties(data.parties))
        partner.plain_tokens = data.plain_tokens
        tenant = await db.get(Tenant, principal.tenant_id)
        assert tenant is not None
        body = our_credentials(state, ours, tenant)
    try:
        theirs = await client.post_credentials(http, credentials_url, data.token, body, data.plain_tokens)
    except OcpiError as error:
        async with db.begin():
            await roaming.close(db, await roaming.get_partner(db, principal.tenant_id, partner.id))
        raise InvalidInput("token", error.message) from None
    try:
        async with db.begin():
            partner = await roaming.get_partner(db, principal.tenant_id, partner.id)
            await roaming.registered(
                db, partner, their_token=str(theirs["token"]), versions_url=str(theirs.get("url") or data.versions_url),
                version=found.version, endpoints=found.endpoints, roles=list(theirs.get("roles") or []),
                sealer=sealer, our_token=ours,
            )  # fmt: skip
    except DomainError:
        # they answered as a party they may not be: our token for them goes dead, nothing of theirs is kept
        async with db.begin():
            await roaming.close(db, await roaming.get_partner(db, principal.tenant_id, partner.id))
        raise
    return partner


def admin_router() -> Router:
    return Router(
        path="/api/v1",
        route_handlers=[PartnerController],
        dependencies={"principal": Provide(provide_principal), "db": Provide(provide_scoped_db)},
        exception_handlers=API_EXCEPTION_HANDLERS,
        security=[{"BearerToken": []}],
    )
