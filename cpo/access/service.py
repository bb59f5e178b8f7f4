"""The authorization every Authorize and every start goes through: gather the facts, let the rules decide."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from cpo.access.models import AccessRule, Badge
from cpo.access.rules import Place, Reason, Rule, Token, Usage, Window, decide, month_start, ocpp_status
from cpo.access.tokens import uid_key
from cpo.charging.models import ChargingSession
from cpo.people.models import GroupMember, Person
from cpo.sites.models import Evse, Site, Station
from cpo.tenants.models import Tenant


@dataclass(frozen=True, slots=True)
class Authorization:
    """The decision, and what the session and the station's answer need to know about the token."""

    reason: Reason
    badge_id: uuid.UUID | None = None
    person_id: uuid.UUID | None = None
    department_id: uuid.UUID | None = None
    cost_centre_id: uuid.UUID | None = None
    group_uid: str | None = None
    valid_to: datetime | None = None
    partner: str | None = None
    """A roaming partner's token: the partner (country code and party id) whose driver it is."""
    partner_id: uuid.UUID | None = None
    """That partner itself: what its sessions and CDRs are shown by (a party code could change hands)."""
    authorization_reference: str | None = None
    payment_id: uuid.UUID | None = None
    """A paid ad-hoc start: the card payment whose token the station was started with."""

    @property
    def accepted(self) -> bool:
        return self.reason == "allowed"

    def status(self, version: str) -> str:
        """The OCPP AuthorizationStatus for a station of this version."""
        return ocpp_status(self.reason, version)


ALLOWED_WITHOUT_TOKEN = Authorization("allowed")


def rule_of(row: AccessRule) -> Rule:
    return Rule(
        id=row.id,
        site_ids=frozenset(row.site_ids) if row.site_ids is not None else None,
        evse_ids=frozenset(row.evse_ids) if row.evse_ids is not None else None,
        windows=tuple(Window.parse(text) for text in row.windows),
        valid_from=row.valid_from,
        valid_until=row.valid_until,
        monthly_kwh_quota=row.monthly_kwh_quota,
    )


async def find_badge(session: AsyncSession, tenant_id: uuid.UUID, reported_uid: str) -> Badge | None:
    """The badge a reader's report stands for, whatever its case, byte order or padding."""
    query = select(Badge).where(Badge.tenant_id == tenant_id, Badge.uid_key == uid_key(reported_uid))
    return (await session.execute(query)).scalar_one_or_none()


async def rules_for(session: AsyncSession, person: Person) -> list[AccessRule]:
    """The person's own rules and those of every group they belong to (department and cost centre included)."""
    groups = select(GroupMember.group_id).where(GroupMember.person_id == person.id).scalar_subquery()
    implicit = [g for g in (person.department_id, person.cost_centre_id) if g is not None]
    query = select(AccessRule).where(
        AccessRule.tenant_id == person.tenant_id,
        or_(AccessRule.person_id == person.id, AccessRule.group_id.in_(groups), AccessRule.group_id.in_(implicit)),
    )
    return list((await session.execute(query)).scalars())


async def authorize(
    session: AsyncSession,
    station: Station,
    reported_uid: str | None,
    now: datetime,
    evse_number: int | None = None,
    ignore_session: uuid.UUID | None = None,
) -> Authorization:
    """May this token charge at this station (and EVSE, when known) now?"""
    if not reported_uid:
        return Authorization("unknown")
    badge = await find_badge(session, station.tenant_id, reported_uid)
    if badge is None:
        from cpo.adhoc import service as adhoc

        paid = await adhoc.authorization_for(session, station, reported_uid, evse_number, ignore_session)
        if paid is not None:
            return Authorization("allowed", payment_id=paid.id)
        return await _roaming(session, station, reported_uid, now, evse_number)
    person = await session.get(Person, badge.person_id) if badge.person_id is not None else None
    site = (
        await session.execute(select(Site).join(Station, Station.site_id == Site.id).where(Station.id == station.id))
    ).scalar_one()
    evse_id = None
    if evse_number is not None:
        evse_id = await session.scalar(
            select(Evse.id).where(Evse.station_id == station.id, Evse.ocpp_evse_id == evse_number)
        )
    rows = await rules_for(session, person) if person is not None else []
    tenant = await session.get(Tenant, station.tenant_id)
    one_at_a_time = tenant is not None and tenant.one_session_per_badge
    usage = Usage(
        kwh_this_month=await _kwh_this_month(session, person, now, site.time_zone)
        if person is not None and any(row.monthly_kwh_quota is not None for row in rows)
        else Decimal(0),
        running_sessions=await _running(session, badge, ignore_session) if one_at_a_time else 0,
    )
    decision = decide(
        Token(badge.status, badge.valid_from, badge.valid_to),  # type: ignore[arg-type]
        person.status if person is not None else None,  # type: ignore[arg-type]
        [rule_of(row) for row in rows],
        Place(site.id, evse_id, site.time_zone),
        now,
        usage,
        one_at_a_time,
    )
    return Authorization(
        decision.reason,
        badge.id,
        person.id if person is not None else None,
        person.department_id if person is not None else None,
        person.cost_centre_id if person is not None else None,
        badge.group_uid,
        badge.valid_to,
    )


async def _roaming(
    session: AsyncSession, station: Station, uid: str, now: datetime, evse_number: int | None
) -> Authorization:
    """Not our badge: a roaming partner's driver, if the partner pushed the token."""
    from cpo.roaming import tokens as roaming_tokens

    evse_uid = None
    if evse_number is not None:
        evse_uid = await session.scalar(
            select(Evse.uid).where(Evse.station_id == station.id, Evse.ocpp_evse_id == evse_number)
        )
    location = {"location_id": str(station.site_id)} | ({"evse_uids": [evse_uid]} if evse_uid else {})
    decided = await roaming_tokens.decide(session, station.tenant_id, uid, location, now)
    if decided is None:
        return Authorization("unknown")
    return Authorization(decided.reason, partner=decided.partner_code, partner_id=decided.partner_id,  # type: ignore[arg-type]
                         authorization_reference=decided.authorization_reference)  # fmt: skip


async def _kwh_this_month(session: AsyncSession, person: Person, now: datetime, time_zone: str) -> Decimal:
    energy = await session.scalar(
        select(func.coalesce(func.sum(ChargingSession.energy_wh), 0)).where(
            ChargingSession.person_id == person.id,
            ChargingSession.started_at >= month_start(now, time_zone),
            ChargingSession.status != "refused",
        )
    )
    return Decimal(energy or 0) / 1000


async def _running(session: AsyncSession, badge: Badge, ignore_session: uuid.UUID | None) -> int:
    """Active sessions of this badge, or of any badge sharing its group token."""
    badges = select(Badge.id).where(Badge.tenant_id == badge.tenant_id)
    badges = badges.where(Badge.group_uid == badge.group_uid) if badge.group_uid else badges.where(Badge.id == badge.id)
    query = select(func.count()).where(ChargingSession.status == "active", ChargingSession.badge_id.in_(badges))
    if ignore_session is not None:
        query = query.where(ChargingSession.id != ignore_session)
    return int(await session.scalar(query) or 0)
