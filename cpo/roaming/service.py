"""Roaming partners: invitations, the credentials handshake's bookkeeping, and who a token belongs to."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cpo.db.base import utcnow
from cpo.db.queries import get_scoped
from cpo.errors import Conflict, InvalidInput
from cpo.roaming.models import RoamingPartner
from cpo.roaming.sealing import Sealer
from cpo.secrets import hash_token, new_secret


async def invite(session: AsyncSession, tenant_id: uuid.UUID, name: str, sealer: Sealer) -> tuple[RoamingPartner, str]:
    """A partner to be: returns the Token A they register with (shown once; only its hash and a sealed copy
    are kept)."""
    name = name.strip()
    if not name or len(name) > 100:
        raise InvalidInput("name", "a name of 1 to 100 characters")
    token = new_secret()
    partner = RoamingPartner(id=uuid.uuid4(), tenant_id=tenant_id, name=name, status="invited",
                             our_token_hash=hash_token(token), our_token_sealed=sealer.seal(token), roles=[],
                             endpoints={})  # fmt: skip
    session.add(partner)
    await session.flush()
    return partner, token


async def partner_by_token(session: AsyncSession, token: str) -> RoamingPartner | None:
    """The partner this token of ours belongs to (closed partners have none)."""
    query = select(RoamingPartner).where(RoamingPartner.our_token_hash == hash_token(token),
                                         RoamingPartner.status != "closed")  # fmt: skip
    return (await session.execute(query)).scalar_one_or_none()


async def list_partners(session: AsyncSession, tenant_id: uuid.UUID) -> list[RoamingPartner]:
    query = select(RoamingPartner).where(RoamingPartner.tenant_id == tenant_id).order_by(RoamingPartner.name)
    return list((await session.execute(query)).scalars())


async def get_partner(session: AsyncSession, tenant_id: uuid.UUID, partner_id: uuid.UUID) -> RoamingPartner:
    return await get_scoped(session, RoamingPartner, tenant_id, partner_id, "roaming partner")


def _party(roles: list[dict[str, Any]]) -> tuple[str, str]:
    if not roles:
        raise InvalidInput("roles", "at least one role")
    first = roles[0]
    return str(first["country_code"]).upper(), str(first["party_id"]).upper()


async def registered(
    session: AsyncSession, partner: RoamingPartner, *, their_token: str, versions_url: str, version: str,
    endpoints: dict[str, str], roles: list[dict[str, Any]], sealer: Sealer, our_token: str | None = None,
) -> str:  # fmt: skip
    """The handshake succeeded: keep their token, URL, version and endpoints, and give them a fresh token of
    ours (or ``our_token``, when we made it for them already). Returns the token they call us with now."""
    country, party = _party(roles)
    clash = (await session.execute(select(RoamingPartner.id).where(
        RoamingPartner.tenant_id == partner.tenant_id, RoamingPartner.status == "registered",
        RoamingPartner.country_code == country, RoamingPartner.party_id == party, RoamingPartner.id != partner.id,
    ))).first()  # fmt: skip
    if clash is not None:
        raise Conflict(f"a partner {country}*{party} is registered already", "roles")
    token = our_token or new_secret()
    partner.country_code, partner.party_id, partner.roles = country, party, roles
    partner.versions_url, partner.version, partner.endpoints = versions_url, version, endpoints
    partner.their_token_sealed = sealer.seal(their_token)
    partner.our_token_hash, partner.our_token_sealed = hash_token(token), sealer.seal(token)
    partner.status, partner.last_contact_at, partner.last_error = "registered", utcnow(), None
    await session.flush()
    return token


async def close(session: AsyncSession, partner: RoamingPartner) -> None:
    """Unregistered: neither side's token works any more; the record stays (CDRs and sessions name it)."""
    partner.status = "closed"
    partner.our_token_hash = hash_token(new_secret())  # nothing anyone holds
    partner.their_token_sealed = None
    await session.flush()


def their_token(partner: RoamingPartner, sealer: Sealer) -> str | None:
    return sealer.open(partner.their_token_sealed) if partner.their_token_sealed else None
