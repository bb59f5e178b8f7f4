"""Roaming partners: invitations, the credentials handshake's bookkeeping, and who a token belongs to."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from typing import Any

from sqlalchemy import select, tuple_
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from cpo.db.base import utcnow
from cpo.db.queries import get_scoped
from cpo.errors import Conflict, InvalidInput
from cpo.roaming.models import RoamingPartner, RoamingParty
from cpo.roaming.sealing import Sealer
from cpo.secrets import hash_token, new_secret

Party = tuple[str, str]
"""A country code and party id (OCPI CiStrings, kept upper case)."""
_COUNTRY = re.compile(r"[A-Z]{2}")
_PARTY = re.compile(r"[A-Z0-9]{3}")


def party(country_code: object, party_id: object, field: str = "parties") -> Party:
    """A party as OCPI spells it (2 letters, 3 letters or digits), upper case; anything else is refused."""
    country, ident = str(country_code).strip().upper(), str(party_id).strip().upper()
    if not _COUNTRY.fullmatch(country) or not _PARTY.fullmatch(ident):
        raise InvalidInput(field, f"{country_code}*{party_id}: a 2-letter country code and a 3-character party id")
    return country, ident


def parties_from_text(text: str) -> list[Party]:
    """Parties as an admin types them: ``NL*TNM, DE*ABC`` (``*``, ``/`` or nothing between the two codes)."""
    found = []
    for item in re.split(r"[\s,;]+", text.strip()):
        if not item:
            continue
        parts = re.split(r"[*/-]", item, maxsplit=1)
        if len(parts) == 2:
            found.append(party(parts[0], parts[1]))
        elif len(item) == 5:
            found.append(party(item[:2], item[2:]))
        else:
            found.append(party(item, ""))  # refused, naming what was typed
    return found


async def all_parties(session: AsyncSession, tenant_id: uuid.UUID) -> dict[uuid.UUID, list[str]]:
    """Every partner's parties (as ``NL*TNM``), for a list of partners."""
    query = select(RoamingParty.partner_id, RoamingParty.country_code, RoamingParty.party_id).where(
        RoamingParty.tenant_id == tenant_id).order_by(RoamingParty.country_code, RoamingParty.party_id)  # fmt: skip
    found: dict[uuid.UUID, list[str]] = {}
    for partner_id, country, ident in (await session.execute(query)).all():
        found.setdefault(partner_id, []).append(f"{country}*{ident}")
    return found


async def parties_of(session: AsyncSession, partner: RoamingPartner) -> frozenset[Party]:
    """The parties this partner may act for (none yet: its first registration fixes them)."""
    query = select(RoamingParty.country_code, RoamingParty.party_id).where(
        RoamingParty.tenant_id == partner.tenant_id, RoamingParty.partner_id == partner.id)  # fmt: skip
    return frozenset((c, p) for c, p in (await session.execute(query)).all())


async def _taken(session: AsyncSession, partner: RoamingPartner, wanted: list[Party]) -> list[Party]:
    """Those of ``wanted`` that another partner of the tenant holds (registered, invited or closed)."""
    query = select(RoamingParty.country_code, RoamingParty.party_id).where(
        RoamingParty.tenant_id == partner.tenant_id, RoamingParty.partner_id != partner.id,
        tuple_(RoamingParty.country_code, RoamingParty.party_id).in_(wanted))  # fmt: skip
    return [(c, p) for c, p in (await session.execute(query)).all()]


async def _claim(session: AsyncSession, partner: RoamingPartner, parties: Iterable[Party]) -> None:
    """Fix ``parties`` as the partner's. A party another partner holds, or held before it closed, is refused:
    a newcomer never takes over the sessions, CDRs and tokens of a party that was someone else's."""
    wanted = sorted(set(parties))
    if not wanted:
        return
    taken = await _taken(session, partner, wanted)
    if taken:
        raise Conflict(f"{', '.join(f'{c}*{p}' for c, p in taken)} belongs to another partner", "parties")
    rows = [{"tenant_id": partner.tenant_id, "country_code": c, "party_id": p, "partner_id": partner.id}
            for c, p in wanted]  # fmt: skip
    await session.execute(insert(RoamingParty).values(rows).on_conflict_do_nothing())
    # a partner claiming the same party at the same moment: only one of the two rows went in
    if not set(wanted) <= await parties_of(session, partner):
        raise Conflict("a party was just taken by another partner", "parties")


async def invite(
    session: AsyncSession, tenant_id: uuid.UUID, name: str, sealer: Sealer, parties: Iterable[Party] = ()
) -> tuple[RoamingPartner, str]:
    """A partner to be: returns the Token A they register with (shown once; only its hash and a sealed copy
    are kept). ``parties``: those it may register and act for (a hub may have several); none given, its
    first registration fixes them."""
    name = name.strip()
    if not name or len(name) > 100:
        raise InvalidInput("name", "a name of 1 to 100 characters")
    wanted = [party(c, p) for c, p in parties]
    token = new_secret()
    partner = RoamingPartner(id=uuid.uuid4(), tenant_id=tenant_id, name=name, status="invited",
                             our_token_hash=hash_token(token), our_token_sealed=sealer.seal(token), roles=[],
                             endpoints={})  # fmt: skip
    session.add(partner)
    await session.flush()
    await _claim(session, partner, wanted)
    return partner, token


async def add_parties(session: AsyncSession, partner: RoamingPartner, parties: Iterable[Party]) -> None:
    """An admin lets the partner act for more parties (a hub that serves more now); each refused when another
    partner holds it or held it."""
    await _claim(session, partner, [party(c, p) for c, p in parties])


async def reinvite(session: AsyncSession, partner: RoamingPartner, sealer: Sealer) -> str:
    """A partner that left (or never came) is invited again on its own record, with its parties and history:
    returns a new Token A. A registered partner must unregister first."""
    if partner.status == "registered":
        raise Conflict("the partner is registered: unregister it first", "status")
    token = new_secret()
    partner.status, partner.their_token_sealed, partner.endpoints = "invited", None, {}
    partner.our_token_hash, partner.our_token_sealed = hash_token(token), sealer.seal(token)
    await session.flush()
    return token


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


async def check_roles(session: AsyncSession, partner: RoamingPartner, roles: list[dict[str, Any]]) -> list[Party]:
    """The parties of a credentials exchange, each checked: every role within the partner's parties (once
    fixed), none another partner's. Only a first registration (a partner still invited: the POST with Token A,
    OCPI 2.2.1 credentials 7.2.2) may fix parties; an update (PUT, 7.2.3) by a partner without any is refused,
    an admin adds them. Raises InvalidInput or Conflict; nothing is stored."""
    if not roles:
        raise InvalidInput("roles", "at least one role")
    wanted = [party(r.get("country_code"), r.get("party_id"), "roles") for r in roles]
    allowed = await parties_of(session, partner)
    # A registered partner left without parties (by migration 0014) must not claim unheld ones by a PUT.
    if allowed or partner.status != "invited":
        outside = [f"{c}*{p}" for c, p in wanted if (c, p) not in allowed]
        if outside:
            none_yet = "" if allowed else " (it has none yet: an administrator adds them)"
            raise InvalidInput("roles", f"{', '.join(outside)} is not a party of this partner{none_yet}")
        return wanted
    taken = await _taken(session, partner, wanted)
    if taken:
        raise Conflict(f"{', '.join(f'{c}*{p}' for c, p in taken)} belongs to another partner", "roles")
    return wanted


async def registered(
    session: AsyncSession, partner: RoamingPartner, *, their_token: str, versions_url: str, version: str,
    endpoints: dict[str, str], roles: list[dict[str, Any]], sealer: Sealer, our_token: str | None = None,
) -> str:  # fmt: skip
    """The handshake succeeded: keep their token, URL, version and endpoints, and give them a fresh token of
    ours (or ``our_token``, when we made it for them already). Returns the token they call us with now.
    Every role is checked against the partner's parties; a first registration (an invited partner) without
    parties fixes them."""
    wanted = await check_roles(session, partner, roles)
    await _claim(session, partner, wanted)
    token = our_token or new_secret()
    (partner.country_code, partner.party_id), partner.roles = wanted[0], roles
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
