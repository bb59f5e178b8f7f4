"""Who is calling: the credentials token in ``Authorization: Token <base64>`` names the partner (and tenant)."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any

from litestar import Request
from litestar.datastructures import State
from sqlalchemy.ext.asyncio import AsyncSession

from cpo.roaming import service as roaming
from cpo.roaming.models import RoamingPartner
from cpo.tariffs.service import party_of
from cpo.tenants.models import Tenant
from cpo.web.deps import runtime_of
from ocpi.envelope import CLIENT_ERROR, OcpiError


@dataclass(frozen=True, slots=True)
class Caller:
    partner: RoamingPartner
    token: str
    """The credentials token as sent (decoded)."""
    party: tuple[str, str] | None = None
    """Our own country code and party id (as the routing headers say), when already known."""
    parties: frozenset[tuple[str, str]] = frozenset()
    """The parties the partner may act for (fixed at its invitation or first registration): what its token
    pushes and commands are checked against, never the roles it declares."""

    def acts_for(self, country_code: str, party_id: str) -> bool:
        return (country_code.upper(), party_id.upper()) in self.parties


def _candidates(header: str) -> list[tuple[str, bool]]:
    scheme, _, value = header.partition(" ")
    value = value.strip()
    if scheme.lower() != "token" or not value:
        return []
    found = []
    try:
        decoded = base64.b64decode(value, validate=True).decode()
        found.append((decoded, False))
    except (binascii.Error, UnicodeDecodeError):
        pass
    found.append((value, True))  # as sent: only for a partner switched to plain tokens
    return found


async def identify(session: AsyncSession, header: str) -> Caller | None:
    for token, plain in _candidates(header):
        partner = await roaming.partner_by_token(session, token)
        if partner is not None and (not plain or partner.plain_tokens):
            return Caller(partner, token)
    return None


async def caller(request: Request[Any, Any, Any], state: State, registration: bool) -> Caller:
    """The calling partner. A Token A (an invited partner not yet registered) opens only versions and
    credentials: anywhere else it is a 401, as the spec says."""
    async with runtime_of(state).sessions() as session, session.begin():
        found = await identify(session, request.headers.get("authorization", ""))
    if found is None:
        raise OcpiError(CLIENT_ERROR, "unknown or missing credentials token (Authorization: Token <base64>)", 401)
    if not registration and found.partner.status != "registered":
        raise OcpiError(CLIENT_ERROR, "register first: this token opens only versions and credentials", 401)
    return found


async def provide_any_caller(request: Request[Any, Any, Any], state: State) -> Caller:
    return await caller(request, state, registration=True)


async def _registered(request: Request[Any, Any, Any], state: State, routed: bool) -> Caller:
    found = await caller(request, state, registration=False)
    async with runtime_of(state).sessions() as session:
        tenant = await session.get(Tenant, found.partner.tenant_id)
        parties = await roaming.parties_of(session, found.partner)
    ours = party_of(tenant)
    if routed:
        request.state.routing = routing(ours, (found.partner.country_code or "", found.partner.party_id or ""))
    return Caller(found.partner, found.token, ours, parties)


async def provide_registered_caller(request: Request[Any, Any, Any], state: State) -> Caller:
    """A registered partner, on a functional module: its answers carry the routing headers (us to them)."""
    return await _registered(request, state, routed=True)


async def provide_configured_caller(request: Request[Any, Any, Any], state: State) -> Caller:
    """A registered partner (Token C), on a configuration module such as hubclientinfo: no routing headers."""
    return await _registered(request, state, routed=False)


def routing(sender: tuple[str, str], receiver: tuple[str, str]) -> dict[str, str]:
    """OCPI-from/to headers: a functional module's request or answer goes from ``sender`` to ``receiver``."""
    return {"OCPI-from-country-code": sender[0], "OCPI-from-party-id": sender[1],
            "OCPI-to-country-code": receiver[0], "OCPI-to-party-id": receiver[1]}  # fmt: skip
