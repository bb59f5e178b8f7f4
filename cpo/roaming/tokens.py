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
    token: RoamingToken
    partner: RoamingPartner
    authorization_reference: str | None = None

    @property
    def partner_code(self) -> str:
        return f"{self.partner.country_code}{self.partner.party_id}"


async def find(session: AsyncSession, tenant_id: uuid.UUID, uid: str) -> RoamingToken | None:
    """A pushed token with this uid (as a reader reports it: case does not matter)."""
    query = select(RoamingToken).where(RoamingToken.tenant_id == tenant_id,
                                       func.upper(RoamingToken.uid) == uid.strip().upper())  # fmt: skip
    return (await session.execute(query.order_by(RoamingToken.last_updated.desc()).limit(1))).scalar_one_or_none()


async def decide(
    session: AsyncSession, tenant_id: uuid.UUID, uid: str, location: dict[str, Any], now: datetime
) -> RoamingDecision | None:
    """The roaming decision for a token we do not know as a badge; None when no partner pushed it."""
    token = await find(session, tenant_id, uid)
    if token is None:
        return None
    partner = await session.get(RoamingPartner, token.partner_id)
    if partner is None or partner.status != "registered":
        return None
    if not token.valid:
        return RoamingDecision("token_blocked", token, partner)
    if token.whitelist in ("ALWAYS", "ALLOWED"):
        return RoamingDecision("allowed", token, partner)
    asked = None
    if _asker is not None:
        try:
            asked = await asyncio.wait_for(_asker(partner, token, location), REALTIME_TIMEOUT)
        except (TimeoutError, OSError):
            asked = None
    if asked is None:
        # unreachable: ALLOWED_OFFLINE may charge on our word, NEVER may not
        return RoamingDecision("allowed" if token.whitelist == "ALLOWED_OFFLINE" else "partner_refused", token, partner)
    reason = {"ALLOWED": "allowed", "BLOCKED": "token_blocked", "EXPIRED": "token_expired",
              "NO_CREDIT": "quota_exhausted"}.get(asked.allowed, "partner_refused")  # fmt: skip
    return RoamingDecision(reason, token, partner, asked.authorization_reference)
