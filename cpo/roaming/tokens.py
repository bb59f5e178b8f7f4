"""Drivers' tokens roaming partners pushed to us, and how each is authorised at our stations.

Whitelist (OCPI ``WhitelistType``): ALWAYS and ALLOWED are decided here from the pushed token; ALLOWED_OFFLINE
asks the partner in real time and decides here only when the partner cannot be reached; NEVER always asks
the partner (unreachable: refused). Asking is a port (``RealtimeAuthorizer``) the OCPI transport fills in.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from cpo.roaming.models import RoamingPartner, RoamingToken

REALTIME_TIMEOUT = 5.0


@dataclass(frozen=True, slots=True)
class Asked:
    """What the partner answered to a real-time authorization (OCPI AuthorizationInfo.allowed)."""

    allowed: str
    """ALLOWED, BLOCKED, EXPIRED, NO_CREDIT or NOT_ALLOWED."""
    authorization_reference: str | None = None


RealtimeAuthorizer = Callable[[RoamingPartner, RoamingToken, dict[str, Any]], Awaitable[Asked | None]]
"""Ask the token's partner (None: the partner could not be reached)."""
_asker: RealtimeAuthorizer | None = None


def set_realtime_authorizer(asker: RealtimeAuthorizer | None) -> None:
    global _asker
    _asker = asker


@dataclass(frozen=True, slots=True)
class RoamingDecision:
    reason: str
    """allowed, token_blocked, token_expired, quota_exhausted (no credit), or partner_refused."""
    token: RoamingToken | None
    partner: RoamingPartner | None
    """Whose driver it is; None when several partners pushed the uid and none alone vouched for it."""
    authorization_reference: str | None = None

    @property
    def partner_code(self) -> str | None:
        return f"{self.partner.country_code}{self.partner.party_id}" if self.partner is not None else None

    @property
    def partner_id(self) -> uuid.UUID | None:
        return self.partner.id if self.partner is not None else None


async def candidates(
    session: AsyncSession, tenant_id: uuid.UUID, uid: str
) -> list[tuple[RoamingToken, RoamingPartner]]:
    """The pushed tokens with this uid (as a reader reports it: case does not matter), the newest of each
    registered partner."""
    query = (
        select(RoamingToken, RoamingPartner)
        .join(RoamingPartner, RoamingPartner.id == RoamingToken.partner_id)
        .where(RoamingToken.tenant_id == tenant_id, func.upper(RoamingToken.uid) == uid.strip().upper(),
               RoamingPartner.status == "registered")
        .order_by(RoamingToken.partner_id, RoamingToken.last_updated.desc(), RoamingToken.id.desc())
    )  # fmt: skip
    newest: dict[uuid.UUID, tuple[RoamingToken, RoamingPartner]] = {}
    for token, partner in (await session.execute(query)).tuples():
        newest.setdefault(partner.id, (token, partner))
    return list(newest.values())


async def _ask(partner: RoamingPartner, token: RoamingToken, location: dict[str, Any]) -> Asked | None:
    if _asker is None:
        return None
    try:
        return await asyncio.wait_for(_asker(partner, token, location), REALTIME_TIMEOUT)
    except (TimeoutError, OSError):
        return None


async def decide(
    session: AsyncSession, tenant_id: uuid.UUID, uid: str, location: dict[str, Any], now: datetime
) -> RoamingDecision | None:
    """The roaming decision for a token we do not know as a badge; None when no partner pushed it."""
    found = await candidates(session, tenant_id, uid)
    if not found:
        return None
    if len(found) > 1:
        return await _settle(found, location)
    token, partner = found[0]
    if not token.valid:
        return RoamingDecision("token_blocked", token, partner)
    if token.whitelist in ("ALWAYS", "ALLOWED"):
        return RoamingDecision("allowed", token, partner)
    asked = await _ask(partner, token, location)
    if asked is None:
        # unreachable: ALLOWED_OFFLINE may charge on our word, NEVER may not
        return RoamingDecision("allowed" if token.whitelist == "ALLOWED_OFFLINE" else "partner_refused", token, partner)
    reason = {"ALLOWED": "allowed", "BLOCKED": "token_blocked", "EXPIRED": "token_expired",
              "NO_CREDIT": "quota_exhausted"}.get(asked.allowed, "partner_refused")  # fmt: skip
    return RoamingDecision(reason, token, partner, asked.authorization_reference)


async def _settle(found: list[tuple[RoamingToken, RoamingPartner]], location: dict[str, Any]) -> RoamingDecision:
    """Several partners pushed this uid: a partner's own say-so (its whitelist) cannot tell whose driver it is,
    so each is asked in real time, and only a yes from exactly one of them lets the driver charge, as theirs."""
    live = [(token, partner) for token, partner in found if token.valid]
    answers = await asyncio.gather(*(_ask(partner, token, location) for token, partner in live))
    yes = [(pair, asked) for pair, asked in zip(live, answers, strict=True)
           if asked is not None and asked.allowed == "ALLOWED"]  # fmt: skip
    if len(yes) != 1:
        return RoamingDecision("partner_refused", None, None)
    (token, partner), asked = yes[0]
    return RoamingDecision("allowed", token, partner, asked.authorization_reference)
